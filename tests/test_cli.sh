#!/usr/bin/env bash
# The command line people already know (cli/opts.c, cli/main.c, cli/cmd_list.c,
# cli/cmd_new.c) and a results file's canonical identity (experiments/config.c, run.c):
#   1. option forms: --opt=value, --opt value, -oFILE, -o FILE, --output, clustered short
#      options, unique prefixes, `--`; the errors: an unknown option named with the
#      closest one (exit 2), a missing value, a value given to a flag, an ambiguous
#      prefix, an unknown command or help topic with the closest command;
#   2. prefsim new: a template that runs as it is and whose claim passes verify; never
#      over an existing file; a bad name refused;
#   3. run --dry-run: the resolved config (canonical, itself a valid experiment file),
#      the cells, the output's fate, an estimate; nothing written;
#   4. list: a short overview, entries in detail, did-you-mean for an unknown name;
#   5. identity: reordered keys, comments and respelled values resume without
#      recomputing; a changed key is named (old -> new); the sweep's key order counts;
#   6. help for every command; README, LICENSE and CITATION.cff agree with the code.
# About 45 s on a shared 2-core machine (the template's 400 cells run five times, ~100
# invocations); about 11 s of CPU.
set -u
cd "$(dirname "$0")/.."
P=$(realpath "${PREFSIM:-./prefsim}")
ROOT=$PWD
T=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
# p ARGS...: run prefsim in $T; sets rc, out (stdout), err (stderr)
p() { (cd "$T" && "$P" "$@" >"$T/.out" 2>"$T/.err"); rc=$?; out=$(cat "$T/.out"); err=$(cat "$T/.err"); }
has() { grep -qF -- "$1" "$T/.err" || { echo "    stderr: $err"; return 1; }; }
says() { grep -qF -- "$1" "$T/.out" || { echo "    stdout: $(head -c 2000 "$T/.out")"; return 1; }; }
lacks() { ! grep -qF -- "$1" "$T/.out" || { echo "    stdout has '$1'"; return 1; }; }
count_files() { find "$T" -path "$T/.out" -prune -o -path "$T/.err" -prune -o -print | wc -l; }

# ---------------------------------------------------------------- 1. option errors
p run --dryrun demo.ini
check "run --dryrun: exit 2" test "$rc" -eq 2
check "  named, with the closest option" has "unknown option '--dryrun'; did you mean --dry-run?"
p run demo.ini --outptu=x.h5
check "run --outptu=x.h5: exit 2 and --output suggested" sh -c "test $rc -eq 2 && grep -qF 'did you mean --output?' '$T/.err'"
p run -x demo.ini
check "run -x: exit 2, named" sh -c "test $rc -eq 2 && grep -qF \"unknown option '-x'\" '$T/.err'"
p run -force demo.ini
check "run -force (one dash): exit 2 and --force suggested" sh -c "test $rc -eq 2 && grep -qF \"unknown option '-force'; did you mean --force?\" '$T/.err'"
p run demo.ini -o
check "run -o without a value: exit 2" test "$rc" -eq 2
check "  says it needs one and how to give it" has "option '-o' needs a value (OUT.h5): -o OUT.h5, -oOUT.h5 or --output=OUT.h5"
p run demo.ini --jobs
check "run --jobs without a value: exit 2, named" sh -c "test $rc -eq 2 && grep -qF \"option '--jobs' needs a value\" '$T/.err'"
p run demo.ini --force=yes
check "run --force=yes: exit 2, the flag takes no value" sh -c "test $rc -eq 2 && grep -qF \"option '--force' takes no value (given 'yes')\" '$T/.err'"
p run demo.ini --s 1/2
check "run --s (ambiguous prefix): exit 2, the possibilities listed" sh -c "test $rc -eq 2 && grep -qF \"option '--s' is ambiguous; possibilities: --shard --stop-after\" '$T/.err'"
p run demo.ini -j 0
check "run -j 0: exit 2" sh -c "test $rc -eq 2 && grep -qF 'thread count from 1 to 1024' '$T/.err'"
p run
check "run without a file: exit 2" sh -c "test $rc -eq 2 && grep -qF 'no experiment file given' '$T/.err'"
p ru demo.ini
check "an unknown command: exit 2 with the closest" sh -c "test $rc -eq 2 && grep -qF \"unknown command 'ru'; did you mean 'run'?\" '$T/.err'"
p help verfy
check "help of an unknown command: exit 2 with the closest" sh -c "test $rc -eq 2 && grep -qF \"no command 'verfy'; did you mean 'verify'?\" '$T/.err'"
p verify --jsn x.h5
check "verify --jsn: exit 2, --json suggested" sh -c "test $rc -eq 2 && grep -qF 'did you mean --json?' '$T/.err'"
p verify --json --tsv x.h5
check "verify --json --tsv: exit 2" sh -c "test $rc -eq 2 && grep -qF 'exclude each other' '$T/.err'"
p verify a.h5 b.h5
check "verify with two files: exit 2" test "$rc" -eq 2
p info --hlep
check "info --hlep: exit 2, --help suggested" sh -c "test $rc -eq 2 && grep -qF 'did you mean --help?' '$T/.err'"
p merge
check "merge without files: exit 2" sh -c "test $rc -eq 2 && grep -qF 'no output file given' '$T/.err'"
p merge --frce a.h5 b.h5
check "merge --frce: exit 2, --force suggested" sh -c "test $rc -eq 2 && grep -qF 'did you mean --force?' '$T/.err'"
p list --al
check "list --al: a unique prefix of --all is --all" sh -c "test $rc -eq 0"

# ---------------------------------------------------------------- 2. prefsim new
p new demo
check "new demo: exit 0, writes demo.ini" sh -c "test $rc -eq 0 && test -f '$T/demo.ini'"
check "  the template names the experiment" grep -qx "name = demo" "$T/demo.ini"
check "  its claim names alternative, tol and bias (theory.md 5.1)" sh -c "grep -q '^alternative = ' '$T/demo.ini' && grep -q '^tol = ' '$T/demo.ini' && grep -q '^bias = ' '$T/demo.ini'"
unexplained=""
for s in experiment world population noise design data sweep estimator.bt claim.rate figure.rate; do
  # every section has a comment just above its header explaining it
  awk -v h="[$s]" '$0 == h { found = 1; exit !(prev ~ /^;/) } { prev = $0 } END { if (!found) exit 1 }' \
    "$T/demo.ini" || unexplained="$unexplained [$s]"
done
check "  every section is there, explained in a comment above it${unexplained:+ (not:$unexplained)}" test -z "$unexplained"
sum=$(md5sum "$T/demo.ini")
p new demo
check "new over an existing file: exit 2" test "$rc" -eq 2
check "  says so" has "demo.ini exists; it is left as it is"
check "  and leaves it as it was" test "$(md5sum "$T/demo.ini")" = "$sum"
p new other -o demo.ini
check "new -o over an existing file: exit 2" test "$rc" -eq 2
p new "bad name"
check "new with a space in the name: exit 2, nothing written" sh -c "test $rc -eq 2 && ! test -e '$T/bad name.ini'"
p new tmpl2 -o -
check "new -o -: the template on stdout" sh -c "test $rc -eq 0 && grep -qx 'name = tmpl2' '$T/.out'"
mkdir "$T/sub"
p new sub/x.ini
check "new DIR/NAME.ini: written there, the name is the stem" sh -c "test $rc -eq 0 && grep -qx 'name = x' '$T/sub/x.ini'"

# the template runs as it is, with the option forms people know
p run demo.ini --output=res/a.h5 -qj2
check "run --output=FILE -qj2 (clustered): the template runs (exit 0)" sh -c "test $rc -eq 0 && test -f '$T/res/a.h5'"
check "  quietly (no progress line)" sh -c "! grep -q 'cells  .*%' '$T/.err'"
p verify --json res/a.h5
check "verify --json FILE: the template's claim passes" sh -c "test $rc -eq 0 && grep -q '\"verdict\": \"PASS\"' '$T/.out'"
p verify res/a.h5 --tsv
check "verify FILE --tsv (option after the file)" sh -c "test $rc -eq 0 && grep -q 'PASS' '$T/.out'"
p run -ores/a.h5 --jobs 2 -- demo.ini
check "run -oFILE --jobs 2 -- FILE: the same config resumes, nothing to run" sh -c "test $rc -eq 0 && grep -qF '400 already done, 0 run' '$T/.err'"
p run demo.ini --shard=1/2 -o res/s1.h5 --quiet
p run demo.ini --shard 2/2 --output res/s2.h5 -q
p merge -o res/m.h5 res/s1.h5 res/s2.h5
check "run --shard=1/2, --shard 2/2 and merge -o OUT: exit 0" sh -c "test $rc -eq 0 && test -f '$T/res/m.h5'"
p merge --output=res/m.h5 res/s2.h5 res/s1.h5
check "  merge --output=OUT again: nothing left to copy" sh -c "test $rc -eq 0 && grep -qF '400 already there' '$T/.err'"
p info -h
check "info -h: usage on stdout, exit 0" sh -c "test $rc -eq 0 && grep -qF 'usage: prefsim info' '$T/.out'"

# population luce is Luce's rule: another link or temperature, or a features world, is refused
# before any cell runs, naming the keys
printf '[experiment]\nname = lu\n[world]\nkind = items\nitems = 5\n[population]\nkind = luce\nassignment = comparison\n[noise]\nlink = probit\n[estimator.bt]\n' >"$T/lu.ini"
p run lu.ini --dry-run
check "luce with link = probit: refused" sh -c "test $rc -ne 0 && grep -qF 'kind = luce is Luce' '$T/.err' && grep -qF 'link = probit' '$T/.err'"
sed -i 's/kind = items/kind = features/; s/link = probit/link = logistic/' "$T/lu.ini"
p run lu.ini --dry-run
check "luce in a features world: refused, naming the kinds" has "kind = luce needs [world] kind = items"

# a world's own checks run before any cell (not a sweep of silently failed cells)
printf '[experiment]\nname = wb\n[world]\nkind = behaviours\ncontexts = 3\nresponses = 3\ndim = 3\n[estimator.bt]\n' >"$T/wb.ini"
p run wb.ini --dry-run
check "behaviours world with 3 responses: refused before the run, naming file, line and rule" \
  sh -c "test $rc -ne 0 && grep -qF 'wb.ini:4: [world] kind = behaviours' '$T/.err' && grep -qF 'responses = 2' '$T/.err'"
printf '[experiment]\nname = ws\n[world]\nkind = spurious\nspurious_df = 1.5\n[estimator.bt]\n' >"$T/ws.ini"
p run ws.ini --dry-run
check "spurious world with df 1.5: refused, the allowed values named" has "0 (Gaussian) or > 2"

# ---------------------------------------------------------------- 3. run --dry-run
n0=$(count_files)
p run --dry-run demo.ini -o dry/x.h5
check "run --dry-run: exit 0" test "$rc" -eq 0
check "  the cell count" says "; cells       400 = 4 grid points x 100 replicates"
check "  the axes" says "; axes        n[4] = 1000 2000 4000 8000"
check "  the output's fate" says "; output      dry/x.h5: new"
check "  an estimated time" says "; estimate    about "
check "  the resolved config, defaults included" says "link = logistic"
check "  wrote nothing (no file, no directory)" test "$(count_files)" -eq "$n0"
grep -v '^;' "$T/.out" >"$T/resolved.ini"
p run -n resolved.ini -o dry/y.h5
grep -v '^;' "$T/.out" >"$T/resolved2.ini"
check "  the printed config is a valid experiment file, and canonical (printed again the same)" sh -c "test $rc -eq 0 && cmp -s '$T/resolved.ini' '$T/resolved2.ini'"
check "  its sections sorted" sh -c "grep '^\[' '$T/resolved.ini' | sort -c"
p run --dry-run demo.ini -o res/a.h5
check "run --dry-run on a COMPLETED file of the config: nothing to run" says "COMPLETED with this config: nothing to run"
p run --dry-run demo.ini -o res/a.h5 world.items=11
check "run --dry-run on a file of another config: the differing key named" says "holds another config ([world] items: '10' -> '11')"
n0=$(count_files)
(cd "$T" && PREFSIM_MAX_CELLS=100 "$P" run --dry-run demo.ini -o dry/z.h5 >"$T/.out" 2>"$T/.err")
check "run --dry-run above the cell ceiling: said so" says "the run would be refused without --allow-large"
check "  and still nothing written" test "$(count_files)" -eq "$n0"

# ---------------------------------------------------------------- 4. list
p list
check "list: exit 0" test "$rc" -eq 0
check "  a short overview (under 60 lines)" test "$(wc -l <"$T/.out")" -lt 60
check "  with categories and counts" sh -c "grep -q '^estimators ([0-9]*):' '$T/.out' && grep -q '^worlds (\[world\] kind) ([0-9]*):' '$T/.out' && grep -q '^metrics (/metrics/<estimator>/NAME) ([0-9]*):' '$T/.out'"
nest=$(sed -n 's/^estimators (\([0-9]*\)):$/\1/p' "$T/.out")
nnames=$(awk '/^estimators/ {on = 1; next} on && /^[^ ]/ {exit} on' "$T/.out" | tr ',' '\n' | grep -c '[a-z]')
check "  the estimator count is the number of estimators named ($nest)" test "$nest" = "$nnames"
p list bt
check "list bt: the estimator's hyperparameters with defaults" sh -c "test $rc -eq 0 && grep -q '^estimator bt' '$T/.out' && grep -qE '^ +l2 +default 0' '$T/.out' && grep -q 'firth' '$T/.out'"
check "  the data it fits" says "data:  item comparisons, feature comparisons"
p list items
check "list items: the world, its data and the estimators that fit it" sh -c "test $rc -eq 0 && grep -q '^world items' '$T/.out' && grep -q 'estimators that fit it: bt' '$T/.out'"
check "  and the [world] key of the same name" says "key [world] items"
p list param_err
check "list param_err: units, definition, worlds" sh -c "test $rc -eq 0 && grep -q '^metric param_err' '$T/.out' && grep -q 'units: 1' '$T/.out' && grep -q 'worlds: items' '$T/.out'"
p list truth/bayes_logloss
check "list truth/bayes_logloss" says "truth bayes_logloss"
p list dim
check "list dim: the [world] key and the hyperparameter of that name" sh -c "test $rc -eq 0 && grep -q 'key \[world\] dim' '$T/.out' && grep -q 'hyperparameter dim' '$T/.out'"
p list data
check "list data: the section's keys" sh -c "test $rc -eq 0 && grep -q '^section \[data\]' '$T/.out' && grep -qE '^ +heldout +default 2000' '$T/.out'"
p list claim
check "list claim: the claim keys (alternative among them)" sh -c "test $rc -eq 0 && grep -qE '^ +alternative ' '$T/.out'"
p list btt
check "list btt: exit 2 with the closest name" sh -c "test $rc -eq 2 && grep -qF \"did you mean 'bt'?\" '$T/.err'"
p list zzzzzzzz
check "list of a name close to nothing: exit 2, no suggestion" sh -c "test $rc -eq 2 && ! grep -q 'did you mean' '$T/.err'"
p list --all
check "list --all: everything, longer than the overview" sh -c "test $rc -eq 0 && test $(wc -l <"$T/.out") -gt 200"
(cd "$ROOT" && "$P" list bt_rate >"$T/.out" 2>"$T/.err")
check "list bt_rate (from the repository): the shipped experiment" says "experiments/bt_rate.ini"

# ---------------------------------------------------------------- 5. canonical identity
# the same config written otherwise: keys reordered, a comment, values respelled
python3 - "$T/demo.ini" "$T/demo2.ini" <<'EOF'
import sys
s = open(sys.argv[1]).read()
s = s.replace("[world]\nkind = items\nitems = 10\n", "[world]\n; reordered, with a comment\nitems = 1e1\nkind = items\n")
s = s.replace("n = 1000, 2000, 4000, 8000", "n = 1000,2000,  4e3, 8000.0")
s = s.replace("[noise]\nlink = logistic\nflip = 0\n", "[noise]\nflip = 0.0\nlink = logistic\n")
open(sys.argv[2], "w").write(s)
EOF
check "(the reordered copy differs from the template)" sh -c "! cmp -s '$T/demo.ini' '$T/demo2.ini'"
p run demo2.ini -o res/a.h5
check "reordered keys, a comment, 1e1 for 10: the COMPLETED file is the same config (exit 0)" test "$rc" -eq 0
check "  and nothing is recomputed" has "400 cells (400 already done, 0 run"
p run demo.ini -o res/b.h5 --stop-after=50 -q
check "(an interrupted run: exit 1)" test "$rc" -eq 1
p run demo2.ini -o res/b.h5 -q
check "the reordered file resumes the interrupted one: only the cells left run" sh -c "test $rc -eq 0 && grep -qF '(50 already done, 350 run' '$T/.err'"
p run demo.ini -o res/a.h5 world.items=11 data.heldout=1000
check "a changed key: refused (exit 2)" test "$rc" -eq 2
check "  naming each differing key, old -> new" has "([data] heldout: '2000' -> '1000'; [world] items: '10' -> '11')"
p run demo.ini -o res/a.h5 sweep.n=1000,2000
check "  an axis too" has "[sweep] n: '1000, 2000, 4000, 8000' -> '1000,2000'"
printf '[experiment]\nname = two\nreplicates = 2\n[world]\nkind = items\nitems = 5\n[sweep]\nn = 200, 400\nflip = 0, 0.1\n[estimator.bt]\n' >"$T/two.ini"
printf '[experiment]\nname = two\nreplicates = 2\n[world]\nkind = items\nitems = 5\n[sweep]\nflip = 0, 0.1\nn = 200, 400\n[estimator.bt]\n' >"$T/two_swapped.ini"
p run two.ini -o res/two.h5 -q
p run two_swapped.ini -o res/two.h5 -q
check "swapped [sweep] keys (the axes' order): refused, and said why" sh -c "test $rc -eq 2 && grep -qF \"the order of the keys of [sweep]: n, flip -> flip, n (it is the order of the results' dimensions)\" '$T/.err'"
p run two.ini -o res/two.h5 experiment.seed=7
check "a changed seed is named" has "[experiment] seed: '20261127' -> '7'"

# ---------------------------------------------------------------- 6. help, README, licence
for c in run merge verify plot fit info list new; do
  p help "$c"
  r1=$rc; o1=$out
  p "$c" --help
  if [ "$r1" -ne 0 ] || [ "$rc" -ne 0 ] || [ -z "$o1" ] || [ "$o1" != "$out" ]; then
    bad "help $c and $c --help: exit 0, the same text"
  else
    ok "help $c and $c --help: exit 0, the same text"
  fi
  p --help
  check "  prefsim --help lists $c" grep -qE "^  $c( |$)" "$T/.out"
  check "  README's command table has $c" grep -qF "| \`prefsim $c" "$ROOT/README.md"
done
for o in --dry-run; do
  p run --help
  check "run --help documents $o" says "$o"
done
for o in "--resume" "--quiet" "--no-gnuplot" "--dry-run" "prefsim list" "prefsim new"; do
  check "README documents $o" grep -qF -- "$o" "$ROOT/README.md"
done
check "LICENSE is the GPL, version 3" sh -c "grep -q 'GNU GENERAL PUBLIC LICENSE' '$ROOT/LICENSE' && grep -q 'Version 3, 29 June 2007' '$ROOT/LICENSE'"
check "CITATION.cff: CFF 1.2.0, the GPL-3.0-or-later, version = VERSION" python3 - "$ROOT" <<'EOF'
import sys
root = sys.argv[1]
text = open(root + "/CITATION.cff").read()
version = open(root + "/VERSION").read().strip()
try:
    import yaml
    d = yaml.safe_load(text)
except ImportError:  # the same fields, read by hand
    d = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith((" ", "#", "-")):
            k, v = line.split(":", 1)
            d[k.strip()] = v.strip().strip('"')
    d["authors"] = [{"name": "The prefsim developers"}] if "The prefsim developers" in text else []
assert str(d["cff-version"]) == "1.2.0", d["cff-version"]
assert str(d["version"]) == version, (d["version"], version)
assert d["license"] == "GPL-3.0-or-later", d["license"]
assert d["authors"] == [{"name": "The prefsim developers"}], d["authors"]
for k in ("message", "title", "type"):
    assert d.get(k), k
EOF

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
