#!/usr/bin/env bash
# Experiment files through the CLI: what cannot be read is an error naming the path
# (exit 3), and so is a directory; the reader's errors name file and line (exit 2),
# also after lines longer than inih's 200 bytes; an experiment name that would put
# the output elsewhere than out/NAME/ is refused (exit 2) and nothing is written;
# and a SAN=1 build never replaces ./prefsim (make -n: nothing is built).
# Fast: no experiment is run.
set -u
cd "$(dirname "$0")/.."
P=$(realpath "${PREFSIM:-./prefsim}")
T=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-config-XXXXXX")
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# run prefsim in a working directory five levels down (so that a name escaping
# out/ would still land inside $T); sets rc, err
W="$T/a/b/c/d/e"
mkdir -p "$W"
run() { (cd "$W" && "$P" run "$@" >"$T/out" 2>"$T/err"); rc=$?; err=$(cat "$T/err"); }
has() { grep -qF -- "$1" "$T/err" || { echo "    stderr: $err"; return 1; }; }

touch "$T/marker"
# 1. what cannot be read
mkdir "$T/exps"
cp experiments/bt_rate.ini "$T/exps/"
run "$T/exps/"
check "a directory as the experiment file: exit 3" test "$rc" -eq 3
check "  and the message names it" has "$T/exps/: is a directory, not an experiment file"
run "$T/exps"
check "  also without the trailing slash" has "$T/exps: is a directory"
run "$T/nothere.ini"
check "a missing file: exit 3" test "$rc" -eq 3
check "  and the message names it and why" has "$T/nothere.ini: cannot open experiment file: No such file or directory"
printf '[estimator.bt]\n' >"$T/locked.ini"
chmod 000 "$T/locked.ini"
if [ -r "$T/locked.ini" ]; then
  echo "skip an unreadable file (running as root: mode 000 does not stop reading)"
else
  run "$T/locked.ini"
  check "an unreadable file: exit 3" test "$rc" -eq 3
  check "  and the message names it and why" has "$T/locked.ini: cannot open experiment file: Permission denied"
fi

# 2. the reader's errors name the line, after long lines too
long=$(printf 'x%.0s' $(seq 500))
printf '[world]\n; %s contexts = 7\n[sweep]\nn = 1%s\nbroken line\n' "$long" "$(printf ', %s' $(seq 2 300))" >"$T/long.ini"
run "$T/long.ini"
check "a syntax error after long lines: exit 2" test "$rc" -eq 2
check "  named by its own line" has "long.ini:5: syntax error: no '=' in 'broken line'"
printf '[world]\ndim = 4\nkind = it\000ems\n[estimator.bt]\n' >"$T/nul.ini"
run "$T/nul.ini"
check "a NUL byte: exit 2 and its line" sh -c "test $rc -eq 2 && grep -qF 'nul.ini:3: NUL byte' '$T/err'"
{ printf '[experiment]\ndescription = '; head -c 1048577 /dev/zero | tr '\0' 'y'; printf '\n[estimator.bt]\n'; } >"$T/huge.ini"
run "$T/huge.ini"
check "a line over 1 MiB: exit 2 and its line" sh -c "test $rc -eq 2 && grep -qF 'huge.ini:2: line longer than 1048576 bytes' '$T/err'"

# 3. experiment names
printf '[experiment]\nseed = 3\nname = ../../../escape\n[estimator.bt]\n' >"$T/esc.ini"
run "$T/esc.ini"
check "name = ../../../escape: exit 2" test "$rc" -eq 2
check "  with file, line, key and what is allowed" \
  has "esc.ini:3: [experiment] name: '../../../escape' is not allowed: it contains '/'; the name makes the output path out/NAME/NAME.h5, so it may use letters, digits, '.', '_' and '-' only, not start with '.', and have at most 100 characters"
run "$T/esc.ini" experiment.name=.hidden
check "experiment.name=.hidden on the command line: exit 2" test "$rc" -eq 2
check "  named as the command line's" has "command line: [experiment] name: '.hidden' is not allowed: it starts with '.'"
printf '[estimator.bt]\n' >"$T/my exp.ini"
run "$T/my exp.ini"
check "a file name that is no experiment name: exit 2" test "$rc" -eq 2
check "  and how to set one" has "no [experiment] name, and the file name 'my exp' is not allowed as one: it contains a space; set [experiment] name = NAME"
check "nothing was written by the refused runs" test -z "$(find "$T" -newer "$T/marker" ! -type d ! -name err ! -name out ! -name '*.ini' -print)"
check "  not even a directory" test -z "$(find "$T" -mindepth 1 -type d -name out -o -type d -name escape -o -type d -name '.hidden')"

# 4. make SAN=1 leaves ./prefsim alone and tests the sanitizer binary (dry runs;
# the outer make's flags and variables are not passed on)
if command -v make >/dev/null && [ -f Makefile ]; then
  m() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SAN -u BUILD -u MPI -u BENCH make -n "$@" 2>/dev/null; }
  san=$(m SAN=1 prefsim); plain=$(m prefsim)
  check "make SAN=1 builds build-san/prefsim" grep -q -- '-o build-san/prefsim' <<<"$san"
  check "  and copies nothing over ./prefsim" test -z "$(grep -E '^cp ' <<<"$san")"
  check "make copies build/prefsim to ./prefsim" grep -qx 'cp build/prefsim prefsim' <<<"$plain"
  check "make SAN=1 test tests build-san/prefsim" grep -q "PREFSIM=$PWD/build-san/prefsim " <<<"$(m SAN=1 test)"
  check "make test tests build/prefsim" grep -q "PREFSIM=$PWD/build/prefsim " <<<"$(m test)"
else
  echo "skip the Makefile checks (no make or no Makefile here)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
