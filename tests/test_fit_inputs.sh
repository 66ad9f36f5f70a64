#!/usr/bin/env bash
# test_fit_inputs.sh — `prefsim fit` never hurts the user's files and refuses what it
# cannot answer well (issue #12), each refusal with its exit status and its message:
#
#   outputs     --annotators FILE that is DATA (same path, symbolic link, hard link, DATA
#               "-" read from FILE), standard output appended to DATA, --annotators FILE
#               that is standard output's file: exit 2, DATA byte-identical afterwards;
#               --annotators replaces an existing FILE atomically: its mode kept, a
#               symbolic link kept and its target replaced, no temporary left; a failure
#               after the table is written (stdout on /dev/full), while it is written
#               (a 1 KiB file-size limit: exit 5) or a signal meanwhile (SIGTERM, SIGKILL)
#               leaves FILE as it was;
#   CSV limits  a line over 1 MiB (file, and an endless line on a pipe: refused at once),
#               DATA over --max-input-size (from the size of a file before reading it,
#               and while a pipe streams), a sparse 5 GiB file against the default 4 GiB,
#               a bad --max-input-size (exit 2); CR-only line ends named as such, CRLF
#               still read;
#   counts      hex, inf, nan, zero, negative, subnormal, below 1e-6, above 1e12, 1e26,
#               1e308: exit 3 naming the file, line, column and the allowed range; the
#               bounds 1e-6 and 1e12 themselves are accepted;
#   ceilings    2001 items for gpm and minimax, 5001 for mixture, idealpoint and lowrank:
#               exit 3 before any work, naming the count, the ceiling and --allow-large;
#               --allow-large lifts it; mixture --k auto --k-max 64 on 400 rows lowers K
#               with a note and gives the same bytes as the K it keeps;
#   post-fit    answers that are not stationary print `# status not-converged` with the
#               table and exit 6 (idealpoint and lowrank with a tiny budget, gpm on a
#               perfect cycle, minimax hedge-last, bt with max_iter=1), and converged ones
#               still print `# status ok` and exit 0.
# Every case runs in well under a second.
#
# Usage: PREFSIM=path/to/prefsim bash tests/test_fit_inputs.sh   (default ./prefsim)
set -u
PREFSIM=${PREFSIM:-./prefsim}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prefsim-fit-inputs-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export LC_ALL=C.UTF-8
pass=0
fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
ko() { echo "FAIL $*"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}
if [ ! -x "$PREFSIM" ]; then
  ko "prefsim binary '$PREFSIM' is not executable (set PREFSIM)"
  finish
fi
meta() { awk -F'\t' -v k="# $2" '$1 == k { print $2; exit }' "$1"; }
# run prefsim fit ARGS: stdout in $TMP/out, stderr in $TMP/err; prints the exit status
code() { "$PREFSIM" fit "$@" >"$TMP/out" 2>"$TMP/err"; echo $?; }
# expect NAME STATUS REGEX ARGS...: exit STATUS and stderr matching the extended REGEX
expect() {
  local name=$1 want=$2 re=$3; shift 3
  local got; got=$(code "$@")
  if [ "$got" = "$want" ] && grep -Eq -- "$re" "$TMP/err"; then ok "$name"
  else ko "$name: exit $got (want $want), stderr: $(head -c 400 "$TMP/err")"; fi
}
no_temporaries() { [ -z "$(find "$1" -name '.*.prefsim-*' -print -quit)" ]; }

cd "$TMP" || exit 1
# ann.csv: 6 rows, 3 items, 2 annotators; crowd.csv: 100 annotators (a 4 KiB table)
printf 'winner,loser,annotator\na,b,u\nb,a,v\nb,c,u\nc,b,v\nc,a,u\na,c,v\n' >ann.csv
awk 'BEGIN { print "winner,loser,annotator"; for (h = 0; h < 100; h++) { print "a,b,h" h; print "b,c,h" h; print "c,a,h" h; print "b,a,h" h } }' >crowd.csv
cp ann.csv ann.orig

# ------------------------------------------------------------------ outputs
expect "--annotators DATA (same path): exit 2" 2 "--annotators ann.csv is the data file itself" \
  --model noisybt ann.csv --annotators ann.csv
check "  DATA byte-identical" cmp -s ann.csv ann.orig
ln -s ann.csv link.csv
expect "--annotators a symbolic link to DATA: exit 2" 2 \
  "--annotators link.csv is the data file ann.csv \(the same file: same device and inode" \
  --model noisybt ann.csv --annotators link.csv
check "  DATA byte-identical, the link still a link" bash -c 'cmp -s ann.csv ann.orig && test -L link.csv'
ln ann.csv hard.csv
expect "--annotators a hard link to DATA: exit 2" 2 "--annotators hard.csv is the data file ann.csv" \
  --model noisybt ann.csv --annotators hard.csv
expect "DATA through a link, --annotators the file itself: exit 2" 2 "--annotators ann.csv is the data file link.csv" \
  --model noisybt link.csv --annotators ann.csv
check "  DATA byte-identical" cmp -s ann.csv ann.orig
got=$("$PREFSIM" fit --model noisybt - --annotators ann.csv <ann.csv 2>"$TMP/err" >/dev/null; echo $?)
check "DATA - read from FILE, --annotators FILE: exit 2" \
  bash -c "test $got = 2 && grep -q 'is the data file read from standard input' '$TMP/err'"
check "  DATA byte-identical" cmp -s ann.csv ann.orig
got=$("$PREFSIM" fit --model noisybt ann.csv >>ann.csv 2>"$TMP/err"; echo $?)
check "stdout appended to DATA (>> DATA): exit 2" \
  bash -c "test $got = 2 && grep -q 'standard output is the data file ann.csv itself' '$TMP/err'"
check "  DATA byte-identical" cmp -s ann.csv ann.orig
cp ann.csv victim.csv
got=$("$PREFSIM" fit --model noisybt victim.csv >victim.csv 2>"$TMP/err"; echo $?)
check "stdout truncating DATA (> DATA): exit 2, says the shell emptied it" \
  bash -c "test $got = 2 && grep -q 'it is empty now' '$TMP/err'"
got=$("$PREFSIM" fit --model noisybt ann.csv --annotators same.tsv >same.tsv 2>"$TMP/err"; echo $?)
check "--annotators FILE that stdout goes to: exit 2" \
  bash -c "test $got = 2 && grep -q 'is the file standard output goes to' '$TMP/err'"
mkdir adir
expect "--annotators a directory: exit 2" 2 "--annotators adir is a directory" --model noisybt ann.csv --annotators adir

# atomic replacement
printf 'old table\n' >tab.tsv
chmod 640 tab.tsv
"$PREFSIM" fit --model noisybt ann.csv --annotators tab.tsv >plain.out 2>"$TMP/err"
check "--annotators over an existing file: exit 0, the new table" \
  bash -c "test $? = 0 && head -1 tab.tsv | grep -q '^annotator	competence' && test \$(wc -l <tab.tsv) = 3"
check "  its mode kept (640)" test "$(stat -c %a tab.tsv)" = 640
check "  no temporary left" no_temporaries .
mkdir real && printf 'old\n' >real/t.tsv && ln -s real/t.tsv tlink.tsv
"$PREFSIM" fit --model noisybt ann.csv --annotators tlink.tsv >/dev/null 2>"$TMP/err"
check "--annotators a symbolic link: the link kept, its target replaced" \
  bash -c 'test -L tlink.tsv && cmp -s tlink.tsv tab.tsv && head -1 real/t.tsv | grep -q ^annotator'
cp tab.tsv tab.before
got=$("$PREFSIM" fit --model noisybt crowd.csv --annotators tab.tsv >/dev/full 2>"$TMP/err"; echo $?)
check "stdout on /dev/full: exit 5, --annotators FILE left as it was, no temporary" \
  bash -c "test $got = 5 && cmp -s tab.tsv tab.before && grep -q 'error writing' '$TMP/err'" 
check "  no temporary left" no_temporaries .
# a file-size limit of 1 KiB (SIGXFSZ ignored: the write fails with EFBIG) while the
# 4 KiB annotator table is written
got=$( (trap '' XFSZ; ulimit -f 1; "$PREFSIM" fit --model noisybt crowd.csv --annotators tab.tsv >/dev/null 2>"$TMP/err"; echo $?) )
check "a write that fails half-way: exit 5, FILE left as it was, no temporary" \
  bash -c "test $got = 5 && cmp -s tab.tsv tab.before && grep -q 'cannot write tab.tsv' '$TMP/err'"
check "  no temporary left" no_temporaries .
# a signal while the output is written: stdout is a FIFO nobody reads, so prefsim blocks
# in the 230 KB item table with the annotator temporary open; SIGTERM removes it and
# leaves FILE as it was; SIGKILL (which cannot be caught) leaves FILE as it was too
awk 'BEGIN { print "winner,loser,annotator"; for (i = 0; i < 20000; i++) { print "item" i ",item" (i + 1) % 20000 ",h" i % 7; print "item" (i + 1) % 20000 ",item" i ",h" i % 5 } }' >chain.csv
mkfifo stalled
exec 3<>stalled # a reader that never reads (opening read-write does not block on Linux)
for sig in TERM KILL; do
  "$PREFSIM" fit --model noisybt chain.csv --annotators tab.tsv >stalled 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do [ -n "$(find . -name '.tab.tsv.prefsim-*' -print -quit)" ] && break; sleep 0.05; done
  kill -"$sig" "$pid"
  { wait "$pid"; } 2>/dev/null
  got=$?
  if [ "$sig" = TERM ]; then
    check "SIGTERM while writing: killed by it (143), FILE as it was, no temporary" \
      bash -c "test $got = 143 && cmp -s tab.tsv tab.before && test -z \"\$(find . -name '.tab.tsv.prefsim-*')\""
  else
    check "SIGKILL while writing: FILE as it was" bash -c "test $got = 137 && cmp -s tab.tsv tab.before"
  fi
done
exec 3>&-
find . -name '.tab.tsv.prefsim-*' -delete
"$PREFSIM" fit --model noisybt crowd.csv --annotators new.tsv >/dev/null 2>&1
check "--annotators a new file: created with the umask's mode" \
  bash -c "test \$(wc -l <new.tsv) = 101 && test \$(stat -c %a new.tsv) = \$(printf '%o' \$((0666 & ~0$(umask))))"
expect "--annotators in a directory that does not exist: exit 5 before the fit" 5 \
  "cannot write --annotators nodir/t.tsv: its directory nodir/: No such file or directory" \
  --model noisybt ann.csv --annotators nodir/t.tsv
# a read-only FILE is not replaced (as a plain open would refuse it): as an unprivileged
# user, since root may write anything
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
  setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$PREFSIM" 2>/dev/null; then
  chmod 711 "$TMP"
  mkdir ro && chmod 777 ro && cp ann.csv ro/ && printf 'keep\n' >ro/ro.tsv && chmod 444 ro/ro.tsv
  chown 65534:65534 ro/ro.tsv
  got=$(cd ro && setpriv --reuid=65534 --regid=65534 --clear-groups "$PREFSIM" fit --model noisybt ann.csv \
    --annotators ro.tsv 2>"$TMP/err" >/dev/null; echo $?)
  check "--annotators a read-only file (as nobody): exit 5, Permission denied, the file kept" \
    bash -c "test $got = 5 && grep -q 'cannot write --annotators ro.tsv: Permission denied' '$TMP/err' && test \"\$(cat ro/ro.tsv)\" = keep"
else
  echo "SKIP read-only --annotators FILE: needs root, setpriv, and PREFSIM executable by uid 65534"
fi
"$PREFSIM" fit --model noisybt ann.csv --annotators /dev/null >/dev/null 2>&1
check "--annotators /dev/null (not a regular file): written directly, exit 0" test $? = 0 -a -c /dev/null

# --------------------------------------------------------------- CSV limits
{ printf 'winner,loser\nb,a\n'; head -c 1048577 /dev/zero | tr '\0' x; printf ',b\n'; } >longline.csv
expect "a line over 1 MiB: exit 3, the limit and the line" 3 \
  "longline.csv:3: the line is longer than the limit of 1048576 bytes \(1 MiB\) per line" --model bt longline.csv
got=$(tr '\0' a </dev/zero | timeout 20 "$PREFSIM" fit --model bt - 2>"$TMP/err" >/dev/null; echo $?)
check "an endless line on a pipe: refused at 1 MiB (exit 3), not read whole" \
  bash -c "test $got = 3 && grep -q '<stdin>:1: the line is longer than the limit' '$TMP/err'"
cp ann.csv sized.csv
size=$(stat -c %s sized.csv)
expect "DATA over --max-input-size (a file, from its size): exit 3" 3 \
  "sized.csv: the file is $size bytes, above the limit of $((size - 1)) bytes for an input file; --max-input-size SIZE raises it" \
  --model bt sized.csv --max-input-size $((size - 1))
check "  DATA of exactly --max-input-size is read" test "$(code --model bt sized.csv --max-input-size "$size")" = 0
got=$(yes a,b | timeout 20 "$PREFSIM" fit --model bt - --max-input-size 1M 2>"$TMP/err" >/dev/null; echo $?)
check "an endless pipe over --max-input-size 1M: exit 3 at the limit, naming the line" \
  bash -c "test $got = 3 && grep -Eq '<stdin>:[0-9]+: the input passes the limit of 1048576 bytes \(1 MiB\)' '$TMP/err'"
if truncate -s 5G sparse.csv 2>/dev/null; then
  t0=$(date +%s%N)
  expect "a 5 GiB file against the default 4 GiB: exit 3 before reading" 3 \
    "sparse.csv: the file is 5368709120 bytes \(5 GiB\), above the limit of 4294967296 bytes \(4 GiB\)" --model bt sparse.csv
  check "  refused in under a second" test $((($(date +%s%N) - t0) / 1000000)) -lt 1000
  rm -f sparse.csv
else
  echo "SKIP sparse 5 GiB file: truncate failed here"
fi
expect "--max-input-size 0: exit 2" 2 "--max-input-size must be a byte count >= 1" --model bt ann.csv --max-input-size 0
expect "--max-input-size 4Q: exit 2" 2 "--max-input-size must be a byte count" --model bt ann.csv --max-input-size 4Q
printf 'winner,loser\ra,b\rb,a\rb,c\rc,b\rc,a\ra,c\r' >mac.csv
expect "CR-only line ends: exit 3, named as such (not a missing column)" 3 \
  "mac.csv:1: a carriage return \(.r\) not followed by a line feed: the file has old Mac \(CR-only\) line ends" \
  --model bt mac.csv
check "  no 'loser column' message" bash -c "! grep -q 'loser' '$TMP/err'"
printf 'winner,loser,count\r\na,b,3\r\nb,a,1\r\nb,c,2\r\nc,b,2\r\nc,a,1\r\na,c,2\r\n' >crlf.csv
check "CRLF line ends: read (exit 0, 3 items, weight 11)" \
  bash -c "test \$('$PREFSIM' fit --model bt crlf.csv >'$TMP/crlf.out' 2>&1; echo \$?) = 0 && test \"\$(awk -F'\t' '\$1 == \"# weight\" { print \$2 }' '$TMP/crlf.out')\" = 11"

# ------------------------------------------------------------------- counts
RANGE='allowed: a plain decimal number \(digits, an optional .\.. and exponent: 3, 0\.5, 1\.5e3\) in \[1e-06, 1e\+12\]'
while read -r value what; do
  printf 'winner,loser,count\na,b,2\nb,a,%s\nb,c,1\nc,b,1\nc,a,1\na,c,1\n' "$value" >count.csv
  expect "count $value: exit 3 ($what)" 3 "count.csv:3: count '$value' \(column 3\) $what.*; $RANGE" --model bt count.csv
done <<'EOF'
0x10 is hexadecimal
inf is not finite
nan is not a number \(nan\)
0 is not positive
-2 is not positive
1e-310 is below the floor \(a subnormal number\)
1e-7 is below the floor
1.5e12 is above the ceiling
1e26 is above the ceiling
1e308 is above the ceiling
1e999 is above the ceiling \(it overflows a double\)
two is not a plain decimal number
EOF
printf 'loser,count,winner\nb,1e12,a\na,1e-6,b\nc,1,b\nb,1,c\na,1,c\nc,1,a\n' >bounds.csv
check "counts 1e-6 and 1e12 (the bounds) are accepted" test "$(code --model bt bounds.csv)" = 0
printf 'loser,count,winner\nb,0x1A,a\n' >count2.csv
expect "the column named is the count's own (column 2)" 3 "count2.csv:2: count '0x1A' \(column 2\) is hexadecimal" \
  --model bt count2.csv

# ------------------------------------------------------------ item ceilings
awk 'BEGIN { print "winner,loser"; for (i = 1; i <= 2001; i++) print "i" i ",i" (i % 2001) + 1 }' >m2001.csv
awk 'BEGIN { print "winner,loser,annotator"; for (i = 1; i <= 5001; i++) print "i" i ",i" (i % 5001) + 1 ",u" i % 3 }' >m5001.csv
for mo in gpm minimax; do
  expect "$mo on 2001 items: exit 3, the count, the ceiling, the flag" 3 \
    "m2001.csv: 2001 items exceed the ceiling of 2000 items for --model $mo \(.*\); rerun with --allow-large" --model $mo m2001.csv
done
for mo in mixture idealpoint lowrank; do
  expect "$mo on 5001 items: exit 3, the count, the ceiling, the flag" 3 \
    "m5001.csv: 5001 items exceed the ceiling of 5000 items for --model $mo \(.*\); rerun with --allow-large" --model $mo m5001.csv
done
check "  refused before any output" test ! -s "$TMP/out"
got=$("$PREFSIM" fit --model gpm m2001.csv --allow-large --param iterations=1 --param restarts=1 2>"$TMP/err" | head -1 | awk -F'\t' '{ print NF }')
check "--allow-large lifts the ceiling (gpm on 2001 items: the 2002-column matrix)" test "$got" = 2002
# 400 rows, 20 items, no annotator column: 400 users, and BIC can only choose K < 1 + 2 W ln 2 / (m ln W) = 5.63
awk 'BEGIN { srand(7); print "winner,loser"; for (r = 0; r < 400; r++) { a = int(rand() * 20); b = (a + 1 + int(rand() * 19)) % 20; print "x" a ",x" b } }' >rows400.csv
t0=$(date +%s)
"$PREFSIM" fit --model mixture --k auto --k-max 64 --param restarts=3 rows400.csv >k64.out 2>k64.err
check "mixture --k auto --k-max 64 on 400 rows: exit 0 in seconds" test $? = 0 -a $(($(date +%s) - t0)) -lt 30
check "  a note: K lowered to 5, with the reason" \
  grep -q 'BIC over K = 1..64: K lowered to 5, the most the data support (400 users' k64.err
check "  # k_max is the largest K tried, # k the K chosen (<= 5)" \
  test "$(meta k64.out k_max)" = 5 -a "$(meta k64.out k)" -ge 1 -a "$(meta k64.out k)" -le 5
"$PREFSIM" fit --model mixture --k auto --k-max 5 --param restarts=3 rows400.csv >k5.out 2>/dev/null
check "  the same bytes as --k-max 5" cmp -s k64.out k5.out

# ---------------------------------------------------------- post-fit checks
"$PREFSIM" fit --model idealpoint ann.csv --param iterations=5 --param polish=0 --annotators ip.tsv >ip.out 2>ip.err
check "idealpoint, 5 Adam steps: exit 6, # status not-converged, the table printed" \
  bash -c "test $? = 6 && test \"\$(awk -F'\t' '\$1 == \"# status\" { print \$2 }' ip.out)\" = not-converged && head -1 ip.out | grep -q '^item'"
check "  stderr says why and how to fix it" \
  bash -c "grep -q 'the answer is not stationary: the estimator.s convergence test failed' ip.err && grep -q 'Raise its budget (--param iterations, polish)' ip.err"
check "  the annotator table is written with it" test "$(wc -l <ip.tsv)" = 3
"$PREFSIM" fit --model lowrank ann.csv --param iterations=3 --param polish=0 >lr.out 2>/dev/null
check "lowrank, 3 Adam steps: exit 6, not-converged" bash -c "test $? = 6 && grep -qx '# status	not-converged' lr.out"
printf 'winner,loser\nrock,scissors\nscissors,paper\npaper,rock\n' >rps.csv
"$PREFSIM" fit --model gpm rps.csv --k 2 --iterations 300 >gpm.out 2>gpm.err
check "gpm on a perfect cycle (no finite optimum): exit 6, not-converged, the matrix printed" \
  bash -c "test $? = 6 && grep -qx '# status	not-converged' gpm.out && grep -q '^rock	' gpm.out && grep -q 'gradient test failed' gpm.err"
printf 'winner,loser,count\nx0,x1,8\nx1,x0,2\nx1,x2,9\nx2,x1,1\nx2,x0,7\nx0,x2,3\n' >o12.csv
"$PREFSIM" fit --model minimax --param method=hedge-last o12.csv >hl.out 2>hl.err
check "minimax hedge-last (the last iterate cycles): exit 6, not-converged, exploitability named" \
  bash -c "test $? = 6 && grep -qx '# status	not-converged' hl.out && grep -q 'exploitability 0.0471 of the lottery exceeds Hedge.s bound' hl.err"
check "minimax lp and hedge: # status ok, exit 0" \
  bash -c "'$PREFSIM' fit --model minimax o12.csv | grep -qx '# status	ok' && '$PREFSIM' fit --model minimax --param method=hedge o12.csv | grep -qx '# status	ok'"
"$PREFSIM" fit --model bt o12.csv --param max_iter=1 >bt1.out 2>/dev/null
check "bt with max_iter=1: exit 6, not-converged, the table printed" \
  bash -c "test $? = 6 && grep -qx '# status	not-converged' bt1.out && grep -q '^x0	' bt1.out"
check "a converged fit: # status ok, exit 0 (noisybt, mm, bt)" \
  bash -c "for m in noisybt mm bt; do '$PREFSIM' fit --model \$m o12.csv | grep -qx '# status	ok' || exit 1; done"

finish
