#!/usr/bin/env bash
# dream_cli.sh — the `dream` command end to end: help, class lookup, bad input rejected
# with clear messages (flags, sizes, files, class names), grad output shape, steps output and
# defaults (seed optimiser, seed layout), render keyframes.
set -u
cd "$(dirname "$0")/../.."
D=build/bin/dream
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok: $1"; }
bad()  { echo "FAIL: $1"; fails=$((fails+1)); }
# expect_fail "desc" "regex in stderr" cmd...
expect_fail() {
  local desc=$1 re=$2; shift 2
  if "$@" >"$T/out" 2>"$T/err"; then bad "$desc: exited 0"; return; fi
  grep -qiE "$re" "$T/err" && ok "$desc" || { bad "$desc: stderr lacks /$re/:"; cat "$T/err"; }
}
export DREAM_LOG=error

$D --help | grep -q "render" && ok "dream --help" || bad "dream --help"
for c in grad steps render classes bench inspect backends; do
  $D $c --help >/dev/null 2>&1 && ok "dream $c --help" || bad "dream $c --help"
done
[ "$($D classes 'Tree-Frog' | cut -f1)" = 31 ] && ok "classes Tree-Frog = 31" || bad "classes Tree-Frog"
[ "$($D classes 'volcano + broccoli' | cut -f1 | tr '\n' ,)" = "980,937," ] && ok "classes volcano + broccoli" || bad "classes volcano + broccoli"
[ "$($D classes | wc -l)" = 1000 ] && ok "classes lists 1000" || bad "classes count"
expect_fail "unknown class suggests" "closest: tree frog" $D classes treefrgo
expect_fail "unknown command" "unknown command" $D frobnicate
expect_fail "unknown option" "unknown option '--frob'" $D bench --frob 1 --weights random --backend cpu
expect_fail "missing option value" "needs a value" $D grad --image
# the options are one config table per command (common/config.h): repeated --class is a bounded
# list, a config file works as for dreamd, help comes from the table
expect_fail "class list bound" "option 'class': more than 4 values" $D grad --image x.png --class 1 --class 2 --class 3 --class 4 --class 5 --weights random
expect_fail "bad prior-kind" "option 'prior-kind': 'cauchy' is not student or gauss" $D grad --image x.png --class 1 --prior-kind cauchy --weights random
expect_fail "stray argument" "unexpected argument 'extra'" $D bench extra --weights random
$D render --help | grep -q -- "--zoom-per-sec X .*(default: 1.05)" && ok "render --help from the table" || bad "render --help"
$D bench --help | grep -q -- "--steps N .*(default: 3)" && ok "bench --help: steps default 3" || bad "bench --help steps"
printf 'steps = 5000000\n' > "$T/bad.conf"
expect_fail "config file checked by the table" "bad.conf:1: option 'steps'" $D bench --config "$T/bad.conf" --weights random
expect_fail "bad size" "option 'size': '12by12' is not WxH" $D bench --size 12by12 --weights random
expect_fail "bad steps" "option 'steps': -3 is outside" $D bench --steps -3 --weights random
expect_fail "bad layout" "option 'layout': 'diagonal' is not single, seed" $D grad --image x.png --class 1 --layout diagonal --weights random
expect_fail "bad optimizer" "option 'optimizer': 'sgd' is not seed or adam" $D grad --image x.png --class 1 --optimizer sgd --weights random
expect_fail "steps without --out" "image and --out are required" $D steps --image x.png --class 1 --weights random
expect_fail "bad backend" "unknown backend" $D bench --backend tpu --weights random --size 224x224
expect_fail "missing weights file" "No such file|cannot open" $D bench --weights "$T/none.safetensors"
head -c 1000 /dev/urandom > "$T/junk.safetensors"
expect_fail "garbage weights file" "safetensors|header" $D inspect "$T/junk.safetensors"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR' > "$T/trunc.png"
expect_fail "truncated png" "png" $D grad --image "$T/trunc.png" --class 1 --weights random --backend cpu
/usr/bin/python3 - "$T" <<'PY'
import sys, numpy as np
np.save(sys.argv[1] + "/small.npy", np.zeros((100, 300, 3), np.float32))
np.save(sys.argv[1] + "/img.npy", np.random.default_rng(1).uniform(0, 255, (230, 250, 3)).astype(np.float32))
PY
expect_fail "image below 224" "minimum of 224x224" $D grad --image "$T/small.npy" --class 1 --weights random --backend cpu
expect_fail "too many subjects" "at most 4|too many" $D grad --image "$T/img.npy" --class "1+2+3+4+5" --weights random --backend cpu

out=$($D grad --image "$T/img.npy" --class "tree frog" --class volcano --layout seed --weights random --backend cpu --out-grad "$T/g.npy" 2>"$T/err")
echo "$out"
/usr/bin/python3 - "$T/g.npy" "$out" <<'PY' && ok "grad json + npy (230, 250, 3)" || bad "grad output"
import sys, json, numpy as np
g = np.load(sys.argv[1]); r = json.loads(sys.argv[2])
assert g.shape == (230, 250, 3) and g.dtype == np.float32, g.shape
assert np.isfinite(g).all() and np.abs(g).max() > 0
assert r["grid"] == [1, 1] and abs(r["loss"] - (r["net"] + r["prior"])) < 1e-3 * (1 + abs(r["loss"]))
assert r["trained"] is False
PY
grep -q "UNTRAINED" "$T/err" || DREAM_LOG=warn $D grad --image "$T/img.npy" --class 1 --weights random --backend cpu 2>&1 | grep -q UNTRAINED && ok "untrained weights are announced" || bad "no UNTRAINED warning"

# the same run with its options from a config file (two class lines = a list of two)
printf 'class = tree frog\nclass = volcano\nlayout = seed\nweights = random\nbackend = cpu\n' > "$T/grad.conf"
out2=$($D grad --config "$T/grad.conf" --image "$T/img.npy" 2>"$T/err")
[ -n "$out2" ] && [ "$(echo "$out" | tail -n1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')" = \
  "$(echo "$out2" | tail -n1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')" ] \
  && ok "grad --config FILE = the same flags" || { bad "grad --config"; cat "$T/err"; }

# one keyframe of optimiser steps: the defaults are the 2015 stream's (seed optimiser, [A, A])
out=$($D steps --image "$T/img.npy" --class volcano --steps 2 --weights random --backend cpu --out "$T/s.npy" 2>"$T/err")
/usr/bin/python3 - "$T/img.npy" "$T/s.npy" "$out" <<'PY' && ok "steps: defaults seed/seed, image moved, in [0, 255]" || { bad "steps"; cat "$T/err"; }
import sys, json, numpy as np
x0, x = np.load(sys.argv[1]), np.load(sys.argv[2]); r = json.loads(sys.argv[3])
assert x.shape == x0.shape and x.dtype == np.float32
assert r["optimizer"] == "seed" and r["layout"] == "seed" and r["steps"] == 2, r
assert x.min() >= 0 and x.max() <= 255 and (np.abs(x - x0) > 1).mean() > 0.5
PY
$D render --class "tree frog" --size 224x224 --steps 1 --keyframes 2 --zoom 1.1 --rotate 2 --weights random --backend cpu --out "$T/render" >/dev/null 2>"$T/err" \
  && [ -s "$T/render/keyframe_00000.png" ] && [ -s "$T/render/keyframe_00001.png" ] && ok "render writes keyframes" || { bad "render"; cat "$T/err"; }
# the start image is resized to --size; the motion is dreamd's per-second constants
$D render --class 1 --size 256x224 --steps 0 --keyframes 1 --start-image "$T/render/keyframe_00000.png" --fps 25 \
  --frames-per-keyframe 50 --weights random --backend cpu --out "$T/render2" >"$T/r2.json" 2>"$T/err" \
  && python3 - "$T/r2.json" "$T/render2/keyframe_00000.png" <<'PY' && ok "render --start-image resizes, zoom 1.05^(N/fps)" || { bad "render --start-image"; cat "$T/err"; }
import json, struct, sys
r = json.load(open(sys.argv[1]))
assert r["size"] == [256, 224], r
assert abs(r["zoom_per_keyframe"] - 1.05 ** 2) < 1e-6 and abs(r["rotate_per_keyframe"] + 0.5) < 1e-9, r
png = open(sys.argv[2], "rb").read(24)
assert struct.unpack(">II", png[16:24]) == (256, 224)
PY

echo "$fails failure(s)"
[ $fails -eq 0 ]
