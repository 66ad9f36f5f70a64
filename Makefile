# prefsim — one non-recursive Makefile.
#   make            build ./prefsim
#   make demo       install missing packages, build, run the main experiment, verify, plot
#   make test       install missing packages, build, run every test
#   make bench      benchmarks against peers (built with -O2 -march=native)
#   make figures    run every shipped experiment, verify, draw, refresh docs/figures
#   switches: SAN=1 (ASan+UBSan)  DEBUG=1  OPENMP=0  MPI=1 (mpicc; build-mpi/prefsim for mpirun)
#   ./prefsim is the plain build's binary: SAN=1, BENCH=1 and MPI=1 builds stay in
#   their own directories (build-san/prefsim, ...), and their `make test` tests those
SHELL := /bin/bash
CC ?= cc
OPENMP ?= 1
BUILD ?= build

PKGS := gsl hdf5
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# GSL's CBLAS calls go to OpenBLAS (its blocked Cholesky is what the standard
# errors of `prefsim fit` cost); sweeps pin OpenBLAS to one thread (run.c)
PKG_LIBS := $(filter-out -lgslcblas,$(shell pkg-config --libs $(PKGS) 2>/dev/null)) -lopenblas
HDF5_LIBDIR := $(shell pkg-config --variable=libdir hdf5 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wpedantic -Wno-unused-parameter -Werror=implicit-function-declaration
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(WARN) $(PKG_CFLAGS) -I.
OPT := -O2 -g
ifeq ($(DEBUG),1)
  OPT := -O0 -g3
endif
# TOP: whether `make prefsim` copies $(BUILD)/prefsim to ./prefsim (the plain build only)
TOP := 1
ifeq ($(SAN),1)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  BUILD := build-san
  TOP := 0
endif
ifeq ($(BENCH),1)
  OPT := -O2 -march=native -g
  BUILD := build-bench
  TOP := 0
endif
ifeq ($(OPENMP),1)
  OPT += -fopenmp
endif
ifeq ($(MPI),1)
  CC := mpicc
  OPT += -DPS_MPI
  BUILD := $(BUILD)-mpi
  TOP := 0
endif

GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CFLAGS := $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS)
LDLIBS := $(PKG_LIBS) -lhdf5_hl -lglpk -llbfgs -lz -lm
LDFLAGS := $(filter -fsanitize% -fopenmp,$(OPT))

LIB_SRC := $(wildcard core/*.c sim/*.c estimators/*.c experiments/*.c results/*.c plots/*.c cli/*.c)
LIB_SRC := $(filter-out cli/main.c,$(LIB_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/plots_embed.o
TEST_SRC := $(wildcard tests/test_*.c)
HDRS := $(wildcard core/*.h sim/*.h estimators/*.h experiments/*.h results/*.h plots/*.h cli/*.h tests/*.h)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps demo test unit-tests bench figures clean FORCE
all: prefsim

deps:
	@bash scripts/install-deps.sh

$(BUILD)/%.o: %.c $(HDRS) | $(BUILD)/dirs
	$(CC) $(CFLAGS) -c $< -o $@

# version, git revision and compile flags: rewritten only when they change, so run.o follows HEAD
$(BUILD)/version.h: FORCE | $(BUILD)/dirs
	@printf '#define PS_VERSION "%s"\n#define PS_GIT_REV "%s"\n#define PS_CFLAGS "%s"\n' '$(VERSION)' '$(GIT_REV)' '$(CC) $(CFLAGS)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/experiments/run.o: experiments/run.c $(BUILD)/version.h $(HDRS) | $(BUILD)/dirs
	$(CC) $(CFLAGS) -include $(BUILD)/version.h -c $< -o $@

FORCE:

$(BUILD)/dirs: Makefile
	@mkdir -p $(BUILD)/core $(BUILD)/sim $(BUILD)/estimators $(BUILD)/results $(BUILD)/experiments $(BUILD)/plots $(BUILD)/cli $(BUILD)/tests $(BUILD)/bench
	@touch $@

# the gnuplot sources are compiled into the binary (plot.c writes them beside figures)
$(BUILD)/plots_embed.c: plots/style.gp | $(BUILD)/dirs
	@for f in $^; do n=$$(basename $$f .gp | tr -c 'a-z0-9_\n' '_'); \
	  printf 'const char plot_%s_gp[] =\n' "$$n"; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/  "/' -e 's/$$/\\n"/' $$f; echo '  ;'; done > $@

$(BUILD)/plots_embed.o: $(BUILD)/plots_embed.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libprefsim.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/prefsim: $(BUILD)/cli/main.o $(BUILD)/libprefsim.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

ifeq ($(TOP),1)
prefsim: $(BUILD)/prefsim
	@cp $< $@
else
.PHONY: prefsim
prefsim: $(BUILD)/prefsim
	@echo "$(BUILD)/prefsim is built (./prefsim, the plain build's, is left as it is)"
endif

# every test links the shared fixtures (tests/fixtures.c); discovery stays tests/test_*.c
$(BUILD)/tests/%: tests/%.c $(BUILD)/tests/fixtures.o $(BUILD)/libprefsim.a tests/test_util.h tests/fixtures.h
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/tests/fixtures.o $(BUILD)/libprefsim.a -o $@ $(LDLIBS) -lcmocka -llinear

demo: deps
	$(MAKE) prefsim
	bash scripts/demo.sh

test: deps
	$(MAKE) prefsim unit-tests
	$(MAKE) MPI=1 $(BUILD)-mpi/prefsim
	PREFSIM=$(CURDIR)/$(BUILD)/prefsim PREFSIM_MPI=$(CURDIR)/$(BUILD)-mpi/prefsim BUILD=$(BUILD) bash tests/run_all.sh

unit-tests: $(TEST_BIN)

figures: deps
	$(MAKE) prefsim
	bash scripts/figures.sh

bench: deps
	$(MAKE) BENCH=1 bench-bins
	$(MAKE) BENCH=1 MPI=1 build-bench-mpi/prefsim
	bash bench/run.sh
	bash bench/sweep.sh
	bash bench/pl_rank.sh
	BUILD=build-bench bash bench/nash_fit.sh
	BUILD=build-bench bash bench/ties_fit.sh

clean:
	rm -rf build build-san build-bench build-mpi build-san-mpi build-bench-mpi prefsim

# ---- bench-bins: the benchmark programs of bench/ (make bench builds them with BENCH=1).
# Linked against the archive, so only the objects they use are pulled in.
# $(BUILD)/prefsim is listed so the CSV case has its binary without touching ./prefsim.
.PHONY: bench-bins
bench-bins: $(BUILD)/bench/bench_bt $(BUILD)/prefsim

$(BUILD)/bench/bench_bt: bench/bench_bt.c $(BUILD)/libprefsim.a | $(BUILD)/dirs
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/libprefsim.a -o $@ $(LDLIBS) -llinear
