#!/usr/bin/env bash
# gpu-check.sh — the one script for a machine with an NVIDIA GPU: builds the engine, the CPU
# and CUDA backends, the parity test and a step benchmark directly with nvcc + gcc (no
# pkg-config libraries: such machines have CUDA, a driver, PyTorch and python3, but no
# libzmq/libvpx/cmocka/OpenBLAS packages), then
#   1. runs tests/unit/test_backend_parity (every backend op, CUDA vs the CPU reference,
#      and a whole dream step) — needs a BLAS for the CPU backend, see below;
#   2. checks dream's fp32 loss and input gradient against PyTorch float64 on the very same
#      VGG-16 weights, prior and image (224x224 and 840x472) — needs no BLAS;
#   3. benchmarks one dream step at 224x224, 840x472, 1280x720, 1920x1080 for fp32, tf32
#      (and the tile-resident warp: the worker's device seam vs the host warp, 1080p and 4K canvases)
#      and bf16 against bench/torch_step.py (PyTorch + cuDNN, channels_last,
#      cudnn.benchmark, autocast bf16) in the same run: ms/step, TFLOP/s, ratio, peak memory;
#   4. prints a short table last and writes bench/results/<date>-<card>.md.
#
# CPU reference BLAS: the CPU backend (worker/backend_cpu.c) calls cblas_sgemm. The script
# uses, in order: pkg-config openblas; a system libopenblas + cblas.h; the OpenBLAS bundled in
# a numpy/scipy wheel (libscipy_openblas*.so, whose symbols carry a prefix/suffix: a generated
# cblas.h maps the names, ILP64 through inline wrappers). With none, the CPU backend is left
# out (a stub reports it), the parity test skips, and step 2 (vs PyTorch) is the check.
# cmocka: the system one if present, else a minimal compatible runner generated here.
#
# PyTorch is optional: without it (or with GPU_CHECK_NO_TORCH=1) steps 1, 3 (dream side) and the
# phase table still run and the torch rows say "skipped". cuBLAS: the toolkit's, else the one in
# PyTorch's nvidia-cublas wheel (nvidia/cublas/lib). Every step runs under its own `timeout`,
# inside an overall time budget (--budget), so the script ends in time with what it has.
#
# usage: tools/gpu-check.sh [--dry-run [--build]] [--quick] [--sizes "WxH ..."] [--precs "fp32 ..."]
#                           [--steps N] [--device N] [--out DIR] [--budget SECONDS] [--sanitize]
#   --dry-run  print the plan and check the script, sources and python syntax; no GPU needed.
#              With --build it also builds everything and runs the parity test (which skips
#              without a GPU).
#   --quick    sizes 224x224 and 1280x720, 3 steps, the quick parity test: within 4 minutes
#              (budget 230 s, build included)
#   --out DIR  the console log (DIR/gpu-check.log) and every step's output (DIR/details.log) are
#              written there as they are produced, so a timeout loses nothing; the results file
#              and a tarball of all logs follow at the end (also on an early exit)
#   --budget S overall time limit in seconds (default 560, --quick 230)
#   --sanitize also runs the parity test's kernel tests under compute-sanitizer memcheck and
#              racecheck (quick sizes, ~1-3 minutes more)
# Exit: 0 all checks passed, 1 a check failed, 77 no GPU (SKIP).
# Testing the fallbacks here: GPU_CHECK_BLAS=none, GPU_CHECK_NO_SYSTEM_BLAS=1 with
# GPU_CHECK_BLAS_DIRS="dir" (wheel-style libs), GPU_CHECK_CMOCKA=shim, GPU_CHECK_NO_EXTRA_LIBS=1,
# GPU_CHECK_NO_TORCH=1, GPU_CHECK_NO_TOOLKIT_CUBLAS=1 with GPU_CHECK_CUBLAS_DIRS="dir" (wheel-style
# nvidia/cublas dirs searched instead of python's site dirs),
# GPU_CHECK_TIMEOUT_SCALE=N (every step timeout times N, still inside --budget);
# GPU_CHECK_SIMULATE_CPU=1 runs steps 2-4 with dream's CPU backend and PyTorch on the CPU (to test
# this script's flow without a GPU; use --sizes 224x224 --precs fp32 --steps 1).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DRY=0; DOBUILD=0; QUICK=0; SANITIZE=0; STEPS=5; DEVICE=0; OUTDIR=""; BUDGET=""; T0=$(date +%s)
SIZES="224x224 840x472 1280x720 1920x1080"
PRECS="fp32 tf32 bf16"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --build) DOBUILD=1 ;;
    --quick) QUICK=1; SIZES="224x224 1280x720"; STEPS=3 ;;
    --sanitize) SANITIZE=1 ;;
    --sizes) SIZES=$2; shift ;;
    --precs) PRECS=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --device) DEVICE=$2; shift ;;
    --out) OUTDIR=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    -h|--help) sed -n '2,48p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $STEPS =~ ^[0-9]+$ ]] && [ "$STEPS" -ge 1 ] || { echo "gpu-check: --steps must be >= 1" >&2; exit 2; }
[ -n "$BUDGET" ] || { [ $QUICK = 1 ] && BUDGET=230 || BUDGET=560; }
[[ $BUDGET =~ ^[0-9]+$ ]] && [ "$BUDGET" -ge 30 ] || { echo "gpu-check: --budget must be >= 30 seconds" >&2; exit 2; }
DEADLINE=$((T0 + BUDGET))

B=$ROOT/build/gpu-check
LOG=$B/logs
rm -rf "$LOG"
mkdir -p "$B/obj" "$B/inc" "$LOG"
say() { printf '%s\n' "$*"; }
hdr() { printf '\n== %s  [%ss]\n' "$*" "$(( $(date +%s) - T0 ))"; }
FAILS=()
# everything printed from here on, and every step's output, also goes to --out as it is produced
DETAILS=$LOG/details.log
if [ -n "$OUTDIR" ]; then
  mkdir -p "$OUTDIR" || { echo "gpu-check: cannot create $OUTDIR" >&2; exit 2; }
  OUTDIR=$(cd "$OUTDIR" && pwd)
  DETAILS=$OUTDIR/details.log
  : >"$OUTDIR/gpu-check.log"
  exec > >(tee -a "$OUTDIR/gpu-check.log") 2>&1
  on_exit() {
    local rc=$?
    tar czf "$OUTDIR/gpu-check-logs.tgz" -C "$B" logs $( [ -f "$B/results.jsonl" ] && echo results.jsonl ) 2>/dev/null
    [ -n "${MD:-}" ] && [ -f "$MD" ] && cp "$MD" "$OUTDIR/" 2>/dev/null
    return $rc
  }
  trap on_exit EXIT
fi
: >"$DETAILS"

# left SECONDS_WANTED: the seconds a step may take, within what is left of the budget (10 s are
# kept for the table); 0 when the budget is spent
TSCALE=${GPU_CHECK_TIMEOUT_SCALE:-1}   # slow machines (or a CPU simulation): longer step timeouts
[[ $TSCALE =~ ^[1-9][0-9]*$ ]] || { echo "gpu-check: GPU_CHECK_TIMEOUT_SCALE must be a positive integer" >&2; exit 2; }
left() {
  local want=$(( $1 * TSCALE )) rest=$(( DEADLINE - $(date +%s) - 10 ))
  [ $rest -lt 0 ] && rest=0
  [ "$want" -lt $rest ] && echo "$want" || echo $rest
}
# run_step NAME SECONDS OUT ERR CMD...: CMD under timeout; its stdout goes to OUT, its stderr to
# ERR (ERR "-": both to OUT), both also appended to $DETAILS as they come. Returns CMD's status
# (124 = timed out, then said on the console; 125 = not run, budget spent).
run_step() {
  local name=$1 secs=$2 out=$3 err=$4 rc
  shift 4
  secs=$(left "$secs")
  if [ "$secs" -lt 5 ]; then
    say "$name: NOT RUN (time budget of ${BUDGET}s spent)"; : >"$out"; [ "$err" = - ] || : >"$err"
    printf '\n==== %s: not run (budget spent)\n' "$name" >>"$DETAILS"
    return 125
  fi
  printf '\n==== %s [timeout %ss]: %s\n' "$name" "$secs" "$*" >>"$DETAILS"
  local tpid
  if [ "$err" = - ]; then
    timeout -k 5 "$secs" "$@" > >(tee "$out" >>"$DETAILS") 2>&1
    rc=$?; tpid=$!
  else
    timeout -k 5 "$secs" "$@" >"$out" 2> >(tee "$err" >>"$DETAILS")
    rc=$?; tpid=$!
  fi
  wait "$tpid" 2>/dev/null     # that step's tee has written everything
  [ "$err" = - ] || cat "$out" >>"$DETAILS"
  printf '==== %s: exit %s\n' "$name" "$rc" >>"$DETAILS"
  if [ $rc = 124 ] || [ $rc = 137 ]; then say "$name: TIMED OUT after ${secs}s"; fi
  return $rc
}

# ---------------------------------------------------------------- tools
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
CUDA_HOME=${CUDA_HOME:-$( [ -n "$NVCC" ] && cd "$(dirname "$NVCC")/.." && pwd )}
CC=${CC:-gcc}
PY=""      # python3 with torch + numpy (optional: the torch rows)
PY3=""     # any python3 (the table)
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
  command -v "$cand" >/dev/null 2>&1 || continue
  [ -z "$PY3" ] && "$cand" -c 'import json' >/dev/null 2>&1 && PY3=$cand
  if [ -z "${GPU_CHECK_NO_TORCH:-}" ] && "$cand" -c 'import torch, numpy' >/dev/null 2>&1; then PY=$cand; break; fi
done
[ -n "$PY" ] && PY3=$PY
TORCH_SKIP="skipped (no python3 with torch + numpy here)"
[ -n "${GPU_CHECK_NO_TORCH:-}" ] && TORCH_SKIP="skipped (GPU_CHECK_NO_TORCH)"
CUDA_LIBDIR=$CUDA_HOME/lib64
[ -d "$CUDA_LIBDIR" ] || CUDA_LIBDIR=$CUDA_HOME/lib

# cuBLAS: the toolkit's, else the nvidia-cublas wheel PyTorch installs (nvidia/cublas/{lib,include};
# its library has only a versioned name, so it is linked by path, with an rpath)
CUBLAS_KIND=""; CUBLAS_LINK="-lcublas"; CUBLAS_INC=""
if [ -z "${GPU_CHECK_NO_TOOLKIT_CUBLAS:-}" ] && ls "$CUDA_LIBDIR"/libcublas.so* >/dev/null 2>&1 \
   && [ -f "$CUDA_HOME/include/cublas_v2.h" ]; then
  CUBLAS_KIND="toolkit $CUDA_LIBDIR"
else
  cdirs=${GPU_CHECK_CUBLAS_DIRS:-}     # set: only these (tests), else the python site dirs
  [ -n "$cdirs" ] || for pyc in $PY3 $PY; do
    cdirs="$cdirs "$("$pyc" -c 'import site, sys, os
ps = set(site.getsitepackages() + [site.getusersitepackages()] + sys.path)
for p in sorted(ps):
    d = os.path.join(p, "nvidia", "cublas")
    if os.path.isdir(d): print(d)
for p in sorted(ps):
    d = os.path.join(p, "nvidia", "cu13")
    if os.path.isdir(d): print(d)' 2>/dev/null)
  done
  for d in $cdirs; do
    lib=$(ls "$d"/lib/libcublas.so* 2>/dev/null | grep -v Lt | sort -V | tail -n1)
    [ -n "$lib" ] && [ -f "$d/include/cublas_v2.h" ] || continue
    CUBLAS_KIND="wheel $lib"; CUBLAS_LINK="$lib -Wl,-rpath,$d/lib"; CUBLAS_INC="-I$d/include"
    break
  done
fi

GPU_NAME=""; GPU_CC=""
if command -v nvidia-smi >/dev/null 2>&1; then
  GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader -i "$DEVICE" 2>/dev/null | head -n1)
  GPU_CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader -i "$DEVICE" 2>/dev/null | head -n1 | tr -d ' .')
fi
if [ -z "$GPU_NAME" ] && [ -n "$PY" ]; then      # no nvidia-smi: ask PyTorch
  read -r GPU_CC GPU_NAME < <("$PY" -c "import torch,sys
if torch.cuda.is_available() and torch.cuda.device_count() > $DEVICE:
    p = torch.cuda.get_device_properties($DEVICE); print('%d%d %s' % (p.major, p.minor, p.name))" 2>/dev/null) || true
fi
ARCH="-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"
if [[ $GPU_CC =~ ^[0-9]+$ ]] && [ "$GPU_CC" != 90 ] && [ "$GPU_CC" -ge 90 ]; then
  ARCH="$ARCH -gencode arch=compute_$GPU_CC,code=sm_$GPU_CC"
fi
ARCH=${CUDA_ARCH:-$ARCH}
NVCCFLAGS="-O3 -std=c++17 $ARCH -Icommon -Iworker $CUBLAS_INC -Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter,-fPIC -Werror all-warnings"
CFLAGS="-std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -pthread -fopenmp -Icommon -Iworker -I$B/inc"

# ---------------------------------------------------------------- BLAS for the CPU reference
BLAS_KIND=none; BLAS_CFLAGS=""; BLAS_LIBS=""
find_blas() {
  [ "${GPU_CHECK_BLAS:-auto}" = none ] && return
  if [ -z "${GPU_CHECK_NO_SYSTEM_BLAS:-}" ] && pkg-config --exists openblas 2>/dev/null; then
    BLAS_KIND="pkg-config openblas"; BLAS_CFLAGS=$(pkg-config --cflags openblas); BLAS_LIBS=$(pkg-config --libs openblas); return
  fi
  local h="" l=""
  for d in /usr/include /usr/include/openblas /usr/include/x86_64-linux-gnu /usr/include/x86_64-linux-gnu/openblas-pthread /usr/local/include /opt/OpenBLAS/include; do
    [ -f "$d/cblas.h" ] && { h=$d; break; }
  done
  l=$(ldconfig -p 2>/dev/null | awk '/libopenblas\.so/{print $NF; exit}')
  if [ -z "${GPU_CHECK_NO_SYSTEM_BLAS:-}" ] && [ -n "$h" ] && [ -n "$l" ]; then
    BLAS_KIND="system $l"; BLAS_CFLAGS="-I$h"; BLAS_LIBS="$l -Wl,-rpath,$(dirname "$l")"; return
  fi
  # OpenBLAS bundled in numpy / scipy wheels
  local dirs lib sym pre suf
  dirs=${GPU_CHECK_BLAS_DIRS:-}
  [ -n "$PY3" ] && dirs="$dirs "$("$PY3" - <<'EOF' 2>/dev/null
import site, sys, os
ps = set(site.getsitepackages() + [site.getusersitepackages()])
for p in list(sys.path): ps.add(p)
for p in sorted(ps):
    for sub in ("numpy.libs", "scipy.libs", "scipy_openblas32/lib", "scipy_openblas64/lib", "numpy/.libs"):
        d = os.path.join(p, sub)
        if os.path.isdir(d): print(d)
EOF
)
  command -v nm >/dev/null 2>&1 || return
  for d in $dirs; do
    for lib in "$d"/libscipy_openblas*.so* "$d"/libopenblas*.so*; do
      [ -f "$lib" ] || continue
      sym=$(nm -D --defined-only "$lib" 2>/dev/null | awk '{print $NF}' | grep -E '^[a-z_]*cblas_sgemm[0-9_]*$' | head -n1)
      [ -n "$sym" ] || continue
      pre=${sym%%cblas_sgemm*}; suf=${sym#*cblas_sgemm}
      local ilp=0; [[ $suf == *64* ]] && ilp=1
      local thr="${pre}openblas_set_num_threads${suf}"
      nm -D --defined-only "$lib" 2>/dev/null | awk '{print $NF}' | grep -qx "$thr" || thr=""
      local itype=int; [ $ilp = 1 ] && itype="long long"
      {
        echo "/* generated by tools/gpu-check.sh: cblas.h over $(basename "$lib") (symbols ${pre}...${suf}) */"
        echo "#ifndef GPU_CHECK_CBLAS_H"
        echo "#define GPU_CHECK_CBLAS_H"
        echo "enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };"
        echo "enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };"
        echo "void $sym(int, int, int, $itype, $itype, $itype, float, const float *, $itype, const float *, $itype, float, float *, $itype);"
        echo "static inline void gc_cblas_sgemm(enum CBLAS_ORDER o, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,"
        echo "    float al, const float *a, int lda, const float *b, int ldb, float be, float *c, int ldc) {"
        echo "  $sym(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc); }"
        echo "#define cblas_sgemm gc_cblas_sgemm"
        if [ -n "$thr" ]; then
          echo "void $thr($itype);"
          echo "static inline void gc_set_threads(int n) { $thr(n); }"
        else
          echo "static inline void gc_set_threads(int n) { (void)n; }"
        fi
        echo "#define openblas_set_num_threads(n) gc_set_threads(n)"
        echo "#endif"
      } > "$B/inc/cblas.h"
      BLAS_KIND="wheel $lib ($sym)"; BLAS_CFLAGS=""; BLAS_LIBS="$lib -Wl,-rpath,$(dirname "$lib")"; return
    done
  done
}
rm -f "$B/inc/cblas.h"
find_blas

# ---------------------------------------------------------------- cmocka
CMOCKA_KIND=system; CMOCKA_LIBS="-lcmocka"
if [ "${GPU_CHECK_CMOCKA:-auto}" = shim ] || ! printf '#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <setjmp.h>\n#include <cmocka.h>\nint main(void){return 0;}\n' \
     | $CC -x c - -o "$B/cmocka_probe" -lcmocka >/dev/null 2>&1; then
  CMOCKA_KIND="generated runner ($B/inc/cmocka.h)"; CMOCKA_LIBS=""
  cat > "$B/inc/cmocka.h" <<'EOF'
/* generated by tools/gpu-check.sh: the subset of cmocka the unit tests use, for machines
 * without libcmocka. Same output lines as cmocka ([ RUN ], [ OK ], [ SKIPPED ], ...). */
#ifndef GPU_CHECK_CMOCKA_H
#define GPU_CHECK_CMOCKA_H
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
struct CMUnitTest { const char *name; void (*test_func)(void **state); };
#define cmocka_unit_test(f) { #f, f }
static jmp_buf gc_jb;
#define print_message(...) (printf(__VA_ARGS__), fflush(stdout))
#define skip() longjmp(gc_jb, 2)
#define fail_msg(...) do { printf("[  ERROR   ] "); printf(__VA_ARGS__); printf("\n"); longjmp(gc_jb, 1); } while (0)
#define fail() fail_msg("%s:%d: fail()", __FILE__, __LINE__)
#define assert_true(c) do { if (!(c)) fail_msg("%s:%d: assert_true(%s)", __FILE__, __LINE__, #c); } while (0)
#define assert_false(c) assert_true(!(c))
#define assert_int_equal(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) fail_msg("%s:%d: %lld != %lld", __FILE__, __LINE__, a_, b_); } while (0)
#define assert_int_not_equal(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ == b_) fail_msg("%s:%d: %lld == %lld", __FILE__, __LINE__, a_, b_); } while (0)
#define assert_non_null(p) assert_true((p) != NULL)
#define assert_null(p) assert_true((p) == NULL)
#define assert_memory_equal(a, b, n) assert_true(memcmp((a), (b), (n)) == 0)
static int gc_run(const struct CMUnitTest *t, int n, int (*setup)(void **), int (*teardown)(void **)) {
    void *state = NULL;
    volatile int pass = 0, failn = 0, skipn = 0;
    printf("[==========] Running %d test(s).\n", n);
    if (setup && setup(&state) != 0) { printf("[  ERROR   ] group setup failed\n"); return n; }
    for (volatile int i = 0; i < n; i++) {
        printf("[ RUN      ] %s\n", t[i].name);
        fflush(stdout);
        int r = setjmp(gc_jb);
        if (r == 0) { t[i].test_func(&state); printf("[       OK ] %s\n", t[i].name); pass++; }
        else if (r == 2) { printf("[  SKIPPED ] %s\n", t[i].name); skipn++; }
        else { printf("[  FAILED  ] %s\n", t[i].name); failn++; }
        fflush(stdout);
    }
    if (teardown) teardown(&state);
    printf("[==========] %d test(s) run.\n[  PASSED  ] %d test(s).\n", n, pass);
    if (skipn) printf("[  SKIPPED ] %d test(s).\n", skipn);
    if (failn) printf("[  FAILED  ] %d test(s).\n", failn);
    return failn;
}
#define cmocka_run_group_tests(t, s, td) gc_run((t), (int)(sizeof(t) / sizeof((t)[0])), (s), (td))
#define _cmocka_run_group_tests(name, t, n, s, td) gc_run((t), (int)(n), (s), (td))
#endif
EOF
else
  rm -f "$B/inc/cmocka.h"
fi

# ---------------------------------------------------------------- plan
CU_SRC=$(ls worker/cuda/*.cu 2>/dev/null)
C_SRC=$(ls common/*.c worker/*.c 2>/dev/null | grep -v '/main_')
hdr "gpu-check plan"
say "root        $ROOT"
say "gpu         ${GPU_NAME:-none found} (compute capability ${GPU_CC:-?}, device $DEVICE)"
say "nvcc        ${NVCC:-MISSING}  arch: $ARCH"
say "cc          $CC -fopenmp"
say "python      ${PY3:-MISSING (the table needs python3)}; torch: $( [ -n "$PY" ] && echo "$PY" || echo "$TORCH_SKIP")"
say "cuBLAS      ${CUBLAS_KIND:-MISSING (no toolkit libcublas, no nvidia-cublas wheel)}"
say "budget      ${BUDGET}s (each step under its own timeout)${OUTDIR:+; logs streamed to $OUTDIR}"
say "cpu BLAS    $BLAS_KIND"
say "cmocka      $CMOCKA_KIND"
say "build dir   $B"
say "steps       1. parity test (CPU vs CUDA, every op + whole step)"
say "            2. dream fp32 vs PyTorch float64 loss/gradient, $([ $QUICK = 1 ] && echo 224x224 || echo 224x224 and 840x472)$([ -z "$PY" ] && echo " ($TORCH_SKIP)")"
say "            3. bench: sizes [$SIZES] x precs [$PRECS], $STEPS timed steps each, dream${PY:+ and torch}"
say "               + the tile-resident warp (device seam vs host) at 1920x1080$([ $QUICK = 1 ] || echo " and 3840x2160")"
say "            4. table + bench/results/<date>-<card>.md${OUTDIR:+, copied to $OUTDIR}"

# ---------------------------------------------------------------- static checks
hdr "static checks"
bash -n "$0" || FAILS+=("script syntax")
for f in worker/backend.h worker/engine.h worker/model.h worker/cuda/cuda_api.h tests/unit/test_backend_parity.c \
         bench/dream_gpu_bench.c bench/torch_step.py; do
  [ -f "$f" ] || { say "missing $f"; FAILS+=("missing $f"); }
done
[ -n "$CU_SRC" ] || FAILS+=("no worker/cuda/*.cu")
if [ -n "$PY3" ]; then
  "$PY3" -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' bench/torch_step.py \
    && say "bench/torch_step.py: python syntax ok" || FAILS+=("torch_step.py syntax")
else
  FAILS+=("python3 not found (the results table needs it)")
fi
[ -n "$CUBLAS_KIND" ] || FAILS+=("cuBLAS not found")
for f in bench/dream_gpu_bench.c tests/unit/test_backend_parity.c; do
  if $CC $CFLAGS -DDREAM_BENCH_CUDA -fsyntax-only "$f" 2>"$LOG/syntax-$(basename "$f").log"; then say "$f: compiles"
  else say "$f: does NOT compile:"; sed 's/^/   | /' "$LOG/syntax-$(basename "$f").log" | head -20; FAILS+=("$f syntax"); fi
done
[ -n "$NVCC" ] || FAILS+=("nvcc not found")

if [ $DRY = 1 ] && [ $DOBUILD = 0 ]; then
  hdr "dry run done"
  [ ${#FAILS[@]} -eq 0 ] && { say "dry run OK"; exit 0; }
  say "dry run problems: ${FAILS[*]}"; exit 1
fi
SIM=${GPU_CHECK_SIMULATE_CPU:-}
DREAM_BE=cuda; TORCH_DEV=cuda
[ -n "$SIM" ] && { DREAM_BE=cpu; TORCH_DEV=cpu; GPU_NAME=${GPU_NAME:-cpu-simulation}; say "SIMULATION: dream cpu backend vs torch cpu"; }
if [ $DRY = 0 ] && [ -z "$GPU_NAME" ]; then
  say "SKIP: no NVIDIA GPU found (nvidia-smi)"; exit 77
fi
[ ${#FAILS[@]} -eq 0 ] || { say "gpu-check: cannot continue: ${FAILS[*]}"; exit 1; }

# ---------------------------------------------------------------- build
hdr "build"
t_build=$(date +%s)
BUILD_S=$(left $([ $QUICK = 1 ] && echo 150 || echo 240))
objs=(); bpids=()     # (never a bare `wait`: it would also wait for the --out tee)
for f in $CU_SRC; do
  o=$B/obj/$(basename "$f").o; objs+=("$o")
  rm -f "$o" "$o.rc"
  ( timeout -k 5 "$BUILD_S" "$NVCC" $NVCCFLAGS -c "$f" -o "$o" >"$LOG/nvcc-$(basename "$f").log" 2>&1; echo $? >"$o.rc" ) &
  bpids+=($!)
done
NJOBS=$(( $(nproc 2>/dev/null || echo 4) + 1 ))     # the nvcc jobs count too
# C sources, in parallel. A file may be left out only when a header of a library that is not
# installed here is missing (libzmq, protobuf-c, libvpx ... are not needed by the bench and the
# parity test); any other compile error is a failure.
for f in $C_SRC; do
  o=$B/obj/$(echo "$f" | tr / _).o
  rm -f "$o" "$o.skip"
  if [ "$f" = worker/backend_cpu.c ] && [ "$BLAS_KIND" = none ]; then echo "no BLAS" >"$o.skip"; continue; fi
  while [ "$(jobs -rp | wc -l)" -ge "$NJOBS" ]; do sleep 0.1; done
  ( timeout -k 5 "$BUILD_S" $CC $CFLAGS $BLAS_CFLAGS -c "$f" -o "$o" 2>"$LOG/cc-$(echo "$f" | tr / _).log" ) &
  bpids+=($!)
done
for p in "${bpids[@]}"; do wait "$p"; done
cobjs=(); skipped=()
for f in $C_SRC; do
  o=$B/obj/$(echo "$f" | tr / _).o; clog=$LOG/cc-$(echo "$f" | tr / _).log
  if [ -f "$o.skip" ]; then skipped+=("$f ($(cat "$o.skip"))"); continue; fi
  [ -f "$o" ] && { cobjs+=("$o"); continue; }
  miss=$(grep -m1 -oE "[a-zA-Z0-9_./-]+\.h: No such file" "$clog" | sed 's/: No such file//')
  if [ -n "$miss" ] && [[ $miss == *.pb-c.h || ( ! -e common/$miss && ! -e worker/$miss && ! -e server/$miss && ! -e $miss ) ]]; then
    skipped+=("$f (needs $miss, not installed here)")
  else
    say "COMPILE ERROR: $f"; sed 's/^/   | /' "$clog" | head -n 30
    FAILS+=("compile $f")
  fi
done
for o in "${objs[@]}"; do
  rc=$(cat "$o.rc" 2>/dev/null || echo missing)
  [ "$rc" = 0 ] && continue
  f=$(basename "${o%.o}")
  say "nvcc FAILED (exit $rc$( [ "$rc" = 124 ] && echo ", timed out" )): worker/cuda/$f"
  sed 's/^/   | /' "$LOG/nvcc-$f.log" | head -n 30
  FAILS+=("nvcc $f")
done
if [ "$BLAS_KIND" = none ]; then
  cat > "$B/cpu_stub.c" <<'EOF'
/* generated by tools/gpu-check.sh: no BLAS on this machine, so no CPU backend */
#include "backend.h"
int dream_backend_cpu_init(dream_backend_t *be, int threads, dream_err_t *err) {
    (void)be; (void)threads;
    return dream_err_set(err, "CPU backend not built by gpu-check.sh (no BLAS found)");
}
EOF
  if $CC $CFLAGS -c "$B/cpu_stub.c" -o "$B/obj/cpu_stub.o" 2>"$LOG/cc-cpu_stub.log"; then cobjs+=("$B/obj/cpu_stub.o")
  else say "COMPILE ERROR: generated cpu_stub.c"; sed 's/^/   | /' "$LOG/cc-cpu_stub.log" | head; FAILS+=("compile cpu_stub.c"); fi
fi
for s in "${skipped[@]}"; do say "left out: $s"; done
if [ ${#FAILS[@]} -gt 0 ]; then say "gpu-check: build FAILED: ${FAILS[*]}"; exit 1; fi
rm -f "$B/libdream.a"; ar rcs "$B/libdream.a" "${cobjs[@]}" "${objs[@]}"
# optional libraries the compiled objects may use (present here -> linked, else stubbed below)
EXTRA_LIBS=""
[ -z "${GPU_CHECK_NO_EXTRA_LIBS:-}" ] && for pk in libcjson libpng libjpeg; do pkg-config --exists $pk 2>/dev/null && EXTRA_LIBS="$EXTRA_LIBS $(pkg-config --libs $pk)"; done
LINK="-Wl,--start-group $B/libdream.a -Wl,--end-group $BLAS_LIBS $EXTRA_LIBS -L$CUDA_LIBDIR -Wl,-rpath,$CUDA_LIBDIR $CUBLAS_LINK -lcudart -lstdc++ -lm -pthread -fopenmp"
# link_prog OUT SRC [extra flags...]: links; functions that stay undefined because their library
# is missing on this machine (e.g. cJSON for safetensors loading, unused by the bench and the
# parity test) get generated stubs that abort with a message if ever called (listed below).
STUBBED=""
link_prog() {
  local out=$1 src=$2; shift 2
  local log=$LOG/link-$(basename "$out").log
  if $CC $CFLAGS $BLAS_CFLAGS -DDREAM_BENCH_CUDA "$src" -o "$out" $LINK "$@" 2>"$log"; then return 0; fi
  local syms
  syms=$(grep -oE "undefined reference to \`[A-Za-z_][A-Za-z0-9_]*'" "$log" | sed -E "s/.*\`(.*)'/\1/" | sort -u)
  [ -n "$syms" ] || { sed 's/^/   | /' "$log" | head -30; return 1; }
  local stub=$B/stubs-$(basename "$out").c
  { echo "/* generated by tools/gpu-check.sh: symbols whose library is missing on this machine */"
    echo "#include <stdio.h>"; echo "#include <stdlib.h>"
    for s in $syms; do
      echo "void $s(void);"
      echo "void $s(void) { fprintf(stderr, \"gpu-check build: $s is not available on this machine\\n\"); abort(); }"
    done; } >"$stub"
  STUBBED="$STUBBED $syms"
  if $CC $CFLAGS -DDREAM_BENCH_CUDA "$src" "$stub" -o "$out" $LINK "$@" 2>"$log"; then return 0; fi
  sed 's/^/   | /' "$log" | head -30
  return 1
}
link_prog "$B/dream_gpu_bench" bench/dream_gpu_bench.c || { say "bench link failed"; FAILS+=("link dream_gpu_bench"); }
link_prog "$B/test_backend_parity" tests/unit/test_backend_parity.c $CMOCKA_LIBS || { say "parity test link failed"; FAILS+=("link test_backend_parity"); }
[ -n "$STUBBED" ] && say "stubbed (their libraries are not installed here; they abort if called):$(echo $STUBBED | tr ' ' '\n' | sort -u | tr '\n' ' ')"
if [ ${#FAILS[@]} -gt 0 ]; then say "gpu-check: build FAILED: ${FAILS[*]}"; exit 1; fi
say "built in $(( $(date +%s) - t_build ))s: $B/dream_gpu_bench $B/test_backend_parity"

# ---------------------------------------------------------------- 1. parity test
hdr "1. parity test"
if [ "$BLAS_KIND" = none ]; then
  PARITY="skipped (no BLAS here for the CPU reference; step 2 compares with PyTorch instead)"
  say "SKIP: $PARITY"
else
  PQ=""; [ $QUICK = 1 ] && PQ=1
  run_step "parity test" $([ $QUICK = 1 ] && echo 60 || echo 150) "$LOG/parity.log" - \
    env DREAM_PARITY_DEVICE=$DEVICE ${PQ:+DREAM_TEST_QUICK=1} "$B/test_backend_parity"
  prc=$?
  grep -E '^\[ +(OK|FAILED|SKIPPED|ERROR|PASSED) +\]|^# |SKIP:' "$LOG/parity.log" | sed 's/^/   /'
  nskip=$(grep '^\[  SKIPPED \] test_' "$LOG/parity.log" | sort -u | wc -l)
  PARITY="pass"
  if [ $prc -ne 0 ]; then
    PARITY="FAIL"; [ $prc = 124 ] && PARITY="FAIL (timed out)"; [ $prc = 125 ] && PARITY="not run (time budget)"
    FAILS+=("parity test"); tail -n 20 "$LOG/parity.log" | sed 's/^/   | /'
  elif grep -q 'SKIP: no usable CUDA device' "$LOG/parity.log"; then
    PARITY="skipped ($(grep -m1 -o 'SKIP: .*' "$LOG/parity.log"))"
  elif [ "$nskip" -gt 0 ]; then
    PARITY="pass ($nskip skipped: $(grep -o 'SKIP: [^(]*' "$LOG/parity.log" | sort -u | sed 's/SKIP: //; s/ *$//' | tr '\n' ';'))"
  fi
fi

if [ $DRY = 1 ]; then
  hdr "dry run (with build) done"
  say "parity: $PARITY"
  [ ${#FAILS[@]} -eq 0 ] && { say "dry run OK"; exit 0; }
  say "dry run problems: ${FAILS[*]}"; exit 1
fi

# ---------------------------------------------------------------- 1b. compute-sanitizer
# --sanitize: the parity test's own-kernel tests (quick sizes; DREAM_PARITY_TESTS names them, with
# libcmocka or the generated runner) under compute-sanitizer memcheck (out-of-bounds and misaligned
# device accesses, errors of CUDA calls) and racecheck (shared memory races); the GEMM-heavy
# whole-step tests are left out (cuBLAS under memcheck is slow). Needs a runtime where the
# sanitizer works (Firecracker yes; gVisor answers "Device not supported": reported, not a failure).
SANITIZER="not run"
if [ $SANITIZE = 1 ]; then
  hdr "1b. compute-sanitizer (memcheck, racecheck) on the kernel tests"
  CS=$(command -v compute-sanitizer || ls "$(dirname "${NVCC:-/usr/local/cuda/bin/nvcc}")"/compute-sanitizer 2>/dev/null | head -n1)
  KT="test_im2col_col2im test_bias_act test_zero_border_relu_bwd test_conv3x3 test_maxpool test_meanpool test_input"
  KT="$KT test_objective test_prior_act test_warp_window test_adam test_roll test_gemm_taps"
  if [ -z "$CS" ]; then SANITIZER="skipped (compute-sanitizer not found)"; say "$SANITIZER"
  else
    SANITIZER=""
    for tool in memcheck racecheck; do
      run_step "sanitizer $tool" 100 "$LOG/sanitizer-$tool.log" - env DREAM_PARITY_TESTS="$KT" DREAM_TEST_QUICK=1 \
          DREAM_PARITY_DEVICE=$DEVICE "$CS" --tool $tool --error-exitcode 99 "$B/test_backend_parity"
      src=$?
      sum=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|Device not supported|^\[  (FAILED|PASSED) ' "$LOG/sanitizer-$tool.log" | tr '\n' ' ')
      say "$tool: exit $src: $sum"
      grep -E '^========= (Invalid|Error|Race|  at|    at)' "$LOG/sanitizer-$tool.log" | head -n 12 | sed 's/^/   | /'
      if [ $src = 0 ]; then SANITIZER="$SANITIZER$tool clean; "
      elif grep -q 'Device not supported' "$LOG/sanitizer-$tool.log"; then SANITIZER="$SANITIZER$tool unsupported on this runtime; "
      else SANITIZER="$SANITIZER$tool FAIL (exit $src); "; FAILS+=("compute-sanitizer $tool"); fi
    done
  fi
fi

# ---------------------------------------------------------------- 2. dream vs PyTorch
hdr "2. dream fp32 vs PyTorch float64 (same weights, prior and image)"
EXP=$B/export
rm -rf "$EXP"; mkdir -p "$EXP"
VS_TORCH=()
VS_SIZES="224x224,840x472"
[ $QUICK = 1 ] && VS_SIZES="224x224"
run_step "dream export" 90 "$LOG/export.json" "$LOG/export.log" \
    "$B/dream_gpu_bench" --backend $DREAM_BE --size "$VS_SIZES" --prec fp32 --steps 1 --device "$DEVICE" --export "$EXP" \
  || { say "dream export failed:"; tail -n 5 "$LOG/export.log" | sed 's/^/   | /'; FAILS+=("dream export"); }
if [ -z "$PY" ]; then
  VS_TORCH=("$TORCH_SKIP"); say "vs PyTorch: $TORCH_SKIP"
else
  run_step "torch compare" $([ $QUICK = 1 ] && echo 60 || echo 120) "$LOG/compare.json" "$LOG/compare.log" \
      env CUDA_VISIBLE_DEVICES=$DEVICE "$PY" bench/torch_step.py --device $TORCH_DEV --dtype float64 --size "$VS_SIZES" \
      --steps 1 --warmup 0 --weights "$EXP" --compare "$EXP" \
    || { say "torch comparison failed:"; tail -n 5 "$LOG/compare.log" | sed 's/^/   | /'; FAILS+=("torch compare"); }
  while IFS= read -r line; do
    VS_TORCH+=("$line"); say "$line"
    [[ $line == *PASS* ]] || FAILS+=("dream vs torch: $line")
  done < <("$PY3" - "$LOG/compare.json" "$VS_SIZES" <<'EOF'
import json, sys
seen = set()
for l in open(sys.argv[1]):
    if not l.strip().startswith("{"):
        continue
    d = json.loads(l)
    sz = "%dx%d" % tuple(d["size"])
    seen.add(sz)
    # fp32 input gradients of a 16-layer random ReLU net move ~1e-2 against float64 (PyTorch's own
    # fp32 does too: measured 8e-3 at 224x224, dream's CPU backend 7e-3); a wrong op gives O(1)
    ok = d["grad_rel_l2"] <= 5e-2 and d["loss_rel_diff"] <= 1e-4
    print("%s: %s grad rel L2 %.3g, loss dream %.6g torch %.6g (rel %.2g)" % (sz, "PASS" if ok else "FAIL",
          d["grad_rel_l2"], d["dream_loss"], d["loss"], d["loss_rel_diff"]))
for sz in sys.argv[2].split(","):
    if sz not in seen:
        print("%s: FAIL no comparison result" % sz)
EOF
)
fi

# ---------------------------------------------------------------- 3. benchmark
hdr "3. benchmark ($STEPS steps)"
RES=$B/results.jsonl; : >"$RES"
SIZES_CSV=$(echo $SIZES | tr ' ' ','); PRECS_CSV=$(echo $PRECS | tr ' ' ',')
run_step "dream bench" $([ $QUICK = 1 ] && echo 75 || echo 200) "$LOG/bench-dream.json" "$LOG/bench-dream.log" \
    "$B/dream_gpu_bench" --backend $DREAM_BE --size "$SIZES_CSV" --prec "$PRECS_CSV" --steps "$STEPS" --device "$DEVICE" --phases \
  || { say "dream bench failures:"; tail -n 8 "$LOG/bench-dream.log" | sed 's/^/   | /'; FAILS+=("bench dream"); }
grep '^{' "$LOG/bench-dream.json" | tee -a "$RES" | sed 's/^/dream: /'
# the 3x3 conv algorithm auto-tuning (worker/cuda/cuda_conv3x3.cu) logs one line per shape
if grep -q 'conv3x3' "$LOG/bench-dream.log"; then
  say "conv3x3 choices (bf16): $(grep 'conv3x3' "$LOG/bench-dream.log" | grep -o ': [a-z0-9/]*$' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
  grep 'conv3x3' "$LOG/bench-dream.log" | grep -E ' (1920x1080|1080x1920) ' | sed 's/^.*conv3x3/   conv3x3/' | head -n 26
fi
# the same bf16 step with the 9-gemm convs only, at the largest size: what the implicit gemm buys
BIG=${SIZES##* }
if [[ " $PRECS " == *" bf16 "* ]] && [ -z "$SIM" ]; then
  run_step "dream bench (gemm convs)" $([ $QUICK = 1 ] && echo 30 || echo 60) "$LOG/bench-dream-gemm.json" "$LOG/bench-dream-gemm.log" \
      env DREAM_CUDA_CONV=gemm "$B/dream_gpu_bench" --backend $DREAM_BE --size "$BIG" --prec bf16 --steps "$STEPS" --device "$DEVICE" \
    || { say "dream bench (gemm convs) failed:"; tail -n 5 "$LOG/bench-dream-gemm.log" | sed 's/^/   | /'; }
  grep '^{' "$LOG/bench-dream-gemm.json" | sed 's/"prec": *"bf16"/"prec": "bf16-gemm"/' | tee -a "$RES" | sed 's/^/dream: /'
fi
if [ -z "$PY" ]; then
  say "torch bench: $TORCH_SKIP"
else
  run_step "torch bench" $([ $QUICK = 1 ] && echo 60 || echo 150) "$LOG/bench-torch.json" "$LOG/bench-torch.log" \
      env CUDA_VISIBLE_DEVICES=$DEVICE "$PY" bench/torch_step.py --device $TORCH_DEV --prec "$PRECS_CSV" --size "$SIZES_CSV" \
      --steps "$STEPS" --warmup 2 --weights "$EXP" \
    || { say "torch bench failures:"; tail -n 8 "$LOG/bench-torch.log" | sed 's/^/   | /'; FAILS+=("bench torch"); }
  grep '^{' "$LOG/bench-torch.json" | tee -a "$RES" | sed 's/^/torch: /'
fi
# a tile-resident job's warp (docs/farm.md): the worker's device path vs the host's, per canvas
WARP_SIZES=1920x1080,3840x2160; [ $QUICK = 1 ] && WARP_SIZES=1920x1080
run_step "warp bench" 40 "$LOG/bench-warp.json" "$LOG/bench-warp.log" \
    "$B/dream_gpu_bench" --backend $DREAM_BE --size "$WARP_SIZES" --device "$DEVICE" --warp \
  || { say "warp bench failures:"; tail -n 5 "$LOG/bench-warp.log" | sed 's/^/   | /'; FAILS+=("bench warp"); }
grep '^{' "$LOG/bench-warp.json" | tee -a "$RES" | sed 's/^/warp: /'
# an implicit-gemm conv that disagrees with cuBLAS is switched off (correct, slower), but it is a
# kernel bug on this GPU: a failure of this check
IGBAD=$(cat "$LOG"/parity.log "$LOG"/bench-dream*.log "$LOG"/export.log 2>/dev/null | grep 'differs from cuBLAS')
if [ -n "$IGBAD" ]; then
  say "IMPLICIT GEMM DIFFERS FROM cuBLAS ($(echo "$IGBAD" | wc -l) line(s)):"; echo "$IGBAD" | head -n 5 | sed 's/^/   | /'
  FAILS+=("conv3x3 implicit gemm differs from cuBLAS")
fi

# ---------------------------------------------------------------- 4. table + results file
hdr "4. results"
CARD=$(echo "${GPU_NAME:-gpu}" | tr 'A-Z' 'a-z' | sed -E 's/nvidia//; s/[^a-z0-9]+/-/g; s/^-+|-+$//g')
DATE=$(date -u +%Y-%m-%d)
mkdir -p bench/results
MD=bench/results/$DATE-$CARD.md
TSKIP=""; [ -z "$PY" ] && TSKIP=$TORCH_SKIP
[ -n "$PY3" ] || { say "no python3: no table (raw results in $RES)"; cat "$RES"; }
[ -n "$PY3" ] && "$PY3" - "$RES" "$MD" "$GPU_NAME" "$PARITY" "$STEPS" "$(printf '%s\n' "${VS_TORCH[@]}")" "$TSKIP" <<'EOF'
import json, sys, datetime
res, md, gpu, parity, steps, vs, tskip = sys.argv[1:8]
rows = [json.loads(l) for l in open(res) if l.strip()]
def key(r): return (tuple(r["size"]), r["prec"])
dream = {key(r): r for r in rows if r.get("impl") == "dream"}
torch = {key(r): r for r in rows if r.get("impl") == "torch"}
lines = ["| size | prec | dream ms | torch ms | torch/dream | dream TFLOP/s | torch TFLOP/s | dream peak GiB | torch peak GiB |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
for k in sorted(set(dream) | set(torch), key=lambda k: (k[0][0] * k[0][1], ["fp32", "tf32", "bf16"].index(k[1]) if k[1] in ("fp32", "tf32", "bf16") else 3)):
    d, t = dream.get(k), torch.get(k)
    none = lambda r: "skipped" if tskip and r is t else "-"
    f = lambda r, n, fmt: (fmt % r[n]) if r and n in r else none(r)
    ratio = "%.2f" % (t["ms_per_step"] / d["ms_per_step"]) if d and t else ("skipped" if tskip else "-")
    ttf = "%.1f" % (d["flops_per_step"] / (t["ms_per_step"] * 1e-3) / 1e12) if d and t else f(t, "tflops", "%.1f")
    gib = lambda r: "%.2f" % (r["peak_bytes"] / 2**30) if r else none(r)
    lines.append("| %dx%d | %s | %s | %s | %s | %s | %s | %s | %s |" % (k[0][0], k[0][1], k[1], f(d, "ms_per_step", "%.2f"),
                 f(t, "ms_per_step", "%.2f"), ratio, f(d, "tflops", "%.1f"), ttf, gib(d), gib(t)))
ph = ["", "Where dream's step goes (whole-call timings, transfers included: fwd = image upload + forward; "
      "backward ~ grad_net - fwd (+ gradient download); prior = grad - grad_net):", "",
      "| size | prec | step ms | fwd ms | backward ms | prior ms |", "|---|---|---:|---:|---:|---:|"]
for k in sorted(dream, key=lambda k: (k[0][0] * k[0][1], k[1])):
    d = dream[k]
    if "phases" in d:
        q = d["phases"]
        ph.append("| %dx%d | %s | %.2f | %.2f | %.2f | %.2f |" % (k[0][0], k[0][1], k[1], d["ms_per_step"], q["fwd_ms"],
                  q["grad_net_ms"] - q["fwd_ms"], q["grad_ms"] - q["grad_net_ms"]))
wp = ["", "A tile-resident job's warp (bicubic, zoom 1.02, 0.5 deg; medians of 20): seam = 8.8 window up + "
      "warp_window + float tile down (the worker's device path), kernel = warp_window alone, host = px88_to_float + "
      "dream_warp_window on this machine's cores:", "",
      "| canvas | tile | tile MPx | seam ms | kernel ms | host ms | host/seam | max diff |", "|---|---|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    if r.get("impl") == "dream-warp":
        wp.append("| %dx%d | %s | %.2f | %.3f | %.3f | %.3f | %.1f | %.2g |" % (r["canvas"][0], r["canvas"][1], r["tile"], r["mpx"],
                  r["seam_ms"], r["kernel_ms"], r["host_ms"], r["host_ms"] / max(r["seam_ms"], 1e-9), r["max_diff"]))
table = "\n".join(lines + (ph if len(ph) > 5 else []) + (wp if len(wp) > 5 else []))
with open(md, "w") as o:
    o.write("# dream step benchmark — %s\n\n" % gpu)
    o.write("Generated by tools/gpu-check.sh on %s UTC. One step = forward + input gradient + prior + Adam "
            "on a random VGG-16 (same weights, prior and objective for dream and PyTorch), %s timed steps "
            "after warm-up. torch: cuDNN, channels_last, cudnn.benchmark, autocast for bf16. "
            "torch/dream > 1 means dream is faster. TFLOP/s use dream's flop count for both. Peak: dream counts "
            "its own device allocations (incl. cuBLAS workspace and bf16 copies); torch max_memory_allocated. "
            "bf16-gemm: dream's bf16 step with DREAM_CUDA_CONV=gemm (3x3 convs as 9 cuBLAS gemms, no implicit "
            "gemm), to show what the per-shape conv choice buys.\n\n"
            % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"), steps))
    o.write("Parity test (CPU vs CUDA): %s\n\n" % parity)
    if tskip:
        o.write("PyTorch: %s; the torch columns are empty.\n\n" % tskip)
    o.write("dream vs PyTorch (fp32 loss / input gradient):\n\n" + "".join("- %s\n" % l for l in vs.splitlines() if l) + "\n")
    o.write(table + "\n\n## raw\n\n```\n" + "".join(json.dumps(r) + "\n" for r in rows) + "```\n")
print(table)
EOF
say "wrote $MD"
if [ -n "$OUTDIR" ]; then
  [ -f "$MD" ] && cp "$MD" "$OUTDIR/"
  say "results in $OUTDIR (gpu-check.log, details.log, $(basename "$MD"), gpu-check-logs.tgz at exit)"
fi
hdr "summary"
say "parity test: $PARITY"
[ $SANITIZE = 1 ] && say "compute-sanitizer: $SANITIZER"
for l in "${VS_TORCH[@]}"; do say "vs torch $l"; done
if [ ${#FAILS[@]} -eq 0 ]; then say "gpu-check: ALL OK"; exit 0; fi
say "gpu-check: FAILED ($(printf '%s; ' "${FAILS[@]}"))"; exit 1
