#!/usr/bin/env bash
# run-tests.sh — runs every test of dreamfarm and ends with one line "N passed, N failed, N skipped".
#   unit tests (cmocka)        build/tests/test_*          (and build-asan/tests/test_* : ASan+UBSan)
#   python tests               tests/python/test_*.py      (Debian's /usr/bin/python3, torch, numpy)
#   integration tests          tests/integration/*.sh
#   soak (only with --soak)    tests/soak/*.sh
# Script tests: exit 0 = pass, 77 = skipped (print why), anything else = fail.
# Filter: TESTS_ONLY=regex runs only tests whose name matches.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-}
pass=0; fail=0; skip=0; failed=()
LOGDIR=$ROOT/build/test-logs; mkdir -p "$LOGDIR"
export DREAM_ROOT=$ROOT
only=${TESTS_ONLY:-.}

run_cmocka() { # $1 binary, $2 label
  local bin=$1 label=$2 log="$LOGDIR/$2.log"
  echo "== $label"
  CMOCKA_MESSAGE_OUTPUT=stdout "$bin" >"$log" 2>&1
  local rc=$?
  local p f s
  p=$(awk '/^\[  PASSED  \] [0-9]+ test/{n+=$4} END{print n+0}' "$log")
  f=$(awk '/^\[  FAILED  \] [0-9]+ test/{n+=$4} END{print n+0}' "$log")
  s=$(awk '/^\[  SKIPPED \] [0-9]+ test/{n+=$4} END{print n+0}' "$log")
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed before reporting
  pass=$((pass+p)); fail=$((fail+f)); skip=$((skip+s))
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|^\[  ERROR   \]|SKIP:|^# ' "$log" | grep -v '^\[  FAILED  \] [0-9]' | sed 's/^/   /'
  if [ "$f" -ne 0 ]; then failed+=("$label"); echo "   (log: $log)"; tail -n 30 "$log" | sed 's/^/   | /'; fi
}

run_script() { # $1 cmd..., label from $LABEL
  local label=$LABEL log="$LOGDIR/$LABEL.log"
  echo "== $label"
  "$@" >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then pass=$((pass+1)); echo "   PASS";
  elif [ $rc -eq 77 ]; then skip=$((skip+1)); echo "   SKIP: $(grep -m1 -i 'skip' "$log" || tail -n1 "$log")";
  else fail=$((fail+1)); failed+=("$label"); echo "   FAIL (rc=$rc, log: $log)"; tail -n 30 "$log" | sed 's/^/   | /'; fi
}

if [ "$MODE" != "--soak" ]; then
  for t in build/tests/test_*; do
    [ -x "$t" ] || continue; [[ $(basename "$t") =~ $only ]] || continue
    run_cmocka "$t" "$(basename "$t")"
  done
  if [ -z "${NO_ASAN:-}" ]; then
    for t in build-asan/tests/test_*; do
      [ -x "$t" ] || continue; [[ asan-$(basename "$t") =~ $only ]] || continue
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
        DREAM_TEST_QUICK=1 run_cmocka "$t" "asan-$(basename "$t")"
    done
  fi
  for t in tests/python/test_*.py; do
    [ -f "$t" ] || continue; [[ $(basename "$t" .py) =~ $only ]] || continue
    LABEL=$(basename "$t" .py) run_script /usr/bin/python3 "$t"
  done
  for t in tests/integration/*.sh; do
    [ -f "$t" ] || continue; [[ $(basename "$t" .sh) =~ $only ]] || continue
    LABEL=$(basename "$t" .sh) run_script bash "$t"
  done
else
  for t in tests/soak/*.sh; do
    [ -f "$t" ] || continue
    LABEL=soak-$(basename "$t" .sh) run_script bash "$t"
  done
fi

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
