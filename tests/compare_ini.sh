#!/usr/bin/env bash
# compare_ini.sh REV — the configuration reader of git revision REV and this tree's
# make the same of every shipped experiment file and of a corpus of tricky INI
# texts (inline and full-line comments, ':' separators, whitespace, BOM, CRLF,
# empty keys and values, syntax errors, duplicates, ...): the same entries with the
# same lines, the same section headers, the same errors, the same resolved
# configuration (tests/ini_dump.c, built against each revision's libprefsim.a).
# Written to prove that the project's own reader (which replaced inih) changed
# nothing but what it was meant to: lines longer than inih's 200 bytes, NUL bytes,
# lone-CR line ends, section names over 49 bytes and a section header on a first
# line that starts with a byte-order mark (inih's reader saw the header, the old
# header list did not) are left out of the corpus (tests/test_experiment.c checks
# them).
#   BUILD (default build-cmp-ini) is where this tree's archive is built.  Needs the
#   build dependencies (and libinih-dev when REV still uses inih).  Exit 0 when
#   everything agrees.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: tests/compare_ini.sh REV}
build=${BUILD:-build-cmp-ini}
work=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-compare-ini-XXXXXX")
trap 'git worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/old" "$rev" >/dev/null
make -C "$work/old" -s -j2 BUILD=build-old build-old/libprefsim.a >/dev/null
make -s -j2 BUILD="$build" "$build/libprefsim.a" >/dev/null
cflags="-std=c11 -D_GNU_SOURCE -O1 -g -fopenmp -I. $(pkg-config --cflags gsl hdf5)"
libs="$(pkg-config --libs gsl hdf5 | sed 's/-lgslcblas//') $(pkg-config --libs inih 2>/dev/null || true) -lopenblas -lhdf5_hl -lglpk -llbfgs -lm"
# shellcheck disable=SC2086
cc $cflags tests/ini_dump.c "$work/old/build-old/libprefsim.a" -o "$work/dump_old" $libs
# shellcheck disable=SC2086
cc $cflags tests/ini_dump.c "$build/libprefsim.a" -o "$work/dump_new" $libs

# the corpus: one file per case (printf formats, so \t \r \n \xNN are bytes)
mkdir "$work/cases"
n=0
case_() { n=$((n + 1)); printf "$1" >"$work/cases/$(printf '%02d' $n).ini"; }
E='[estimator.bt]\n'
case_ "[world]\ndim = 4 ; a comment\nkind = items;not a comment\n$E"
case_ "[world]\nkind = items\t; after a tab\n[experiment]\ndescription = a ;b ; c\n$E"
case_ "[experiment]\ndescription = ;x\n$E"
case_ "[experiment]\ndescription =;x\n$E"
case_ "[experiment]\ndescription = a # not a comment\n# a comment\n  # an indented one\n  ; and another\n$E"
case_ "; first\n# second\n\n   \n\t\n[world]\ndim: 4\n$E"
case_ "[experiment]\ndescription = a:b = c\n[world]\nkind : items\n$E"
case_ "[claim.c]\nmetric = bt/param_err\nexpect = below\nvalue = 1\nat = n=100\n[sweep]\nn = 100, 200\n$E"
case_ "  [world]  \n   dim   =   4   \n\tkind\t=\titems\t\n$E"
case_ "[ world ]\ndim = 4\n$E"
case_ "[world]junk after\ndim = 4\n$E"
case_ "[world] ; comment\ndim = 4\n$E"
case_ "[world ; comment]\ndim = 4\n$E"
case_ "[]\ndim = 4\n$E"
case_ "[world]\n= 4\n$E"
case_ "[world]\ndim =\n$E"
case_ "[world]\ndim = 4\v\f \n$E"
case_ "\xef\xbb\xbf; comment\n[world]\ndim = 4\n$E"
case_ "[world]\r\ndim = 4\r\nkind = items ; c\r\n[estimator.bt]\r\n"
case_ "[world\ndim = 4\n$E"
case_ "[world]\nno equals sign here\n$E"
case_ "[world]\ndim ; = 4\n$E"
case_ "[world]\ndim = 4\ndim = 5\n$E"
case_ "dim = 4\n[world]\n$E"
case_ "[world]\ndim = 4\n  kind = items\n   items = 12\n$E"
case_ "[experiment]\ndescription = [x] = y\n$E"
case_ "[world]\ndim = 4\n[data]\nn = 10\n[world]\nkind = items\n$E"
case_ "[world]\nDIM = 4\n$E"
case_ "[experiment]\ndescription = caf\xc3\xa9 \xc2\xa0x\n$E"
case_ "[world]\ndim = 4"
case_ ""
case_ "; only a comment\n"
case_ "[estimator.bt]\n[estimator.mm]\n[world]\nkind = items\n"
case_ "[claim.x]\n[world]\ndim = 4\n$E"
case_ "[world]\ndim = 4\n[sweep]\nn = 10, 20 ; twenty\nflip = 0,0.1;0.2\n$E"
case_ "[world]\nkind = items\n\n\n[estimator.x]\ntype = bt\nl2 = 1e-3\n"
case_ "[world]\nkind: items: more\n$E"
case_ "[world]\ndim=4\nkind=items\n$E"
case_ "[world]\n\x01dim = 4\n$E"
case_ "[wor]ld]\ndim = 4\n$E"
case_ "[world]\n[world]\ndim = 4\n$E"
case_ "[world]\ndim = 4 ;\n$E"
case_ "[world]\ndim = 4;\n$E"
case_ "[world]\n;dim = 4\n#kind = items\n$E"
case_ "[sweep]\nnoise.flip = 0, 0.1\nestimator.bt.l2 = 0, 1\n$E"

# syntax errors are compared by file and line (this tree says more about them)
"$work/dump_old" experiments/*.ini "$work"/cases/*.ini | sed 's/: syntax error.*/: syntax error/' >"$work/old.txt"
"$work/dump_new" experiments/*.ini "$work"/cases/*.ini | sed 's/: syntax error.*/: syntax error/' >"$work/new.txt"
shipped=$(ls experiments/*.ini | wc -l)
if diff -u "$work/old.txt" "$work/new.txt" >"$work/diff.txt"; then
  echo "agree: $shipped shipped experiment files and $n corpus cases ($(wc -l <"$work/new.txt") lines of dump)"
else
  echo "DIFFER ($rev against this tree):"
  cat "$work/diff.txt"
  exit 1
fi
