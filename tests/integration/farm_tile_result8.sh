#!/usr/bin/env bash
# farm_tile_result8.sh — tile-resident workers with 8-bit results (dreamd --tile-result 8,
# docs/farm.md): the worker rounds its result to 8 bits, sends it as an ordinary 8-bit frame and
# keeps it so; the coordinator blends it as value * 256. The windows the workers rebuild must
# still equal the coordinator's canvas bit for bit (tile_resident_mismatch stays 0), and the
# bytes that come in per keyframe are those of 8-bit tiles (about half of 8.8 results): at most
# 1.25 x (the keyframe's tile pixels x 3) counted over a window of keyframes.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 640x480 --fps 10 --steps 4 --motion wallclock --tile-warp resident --tile-result 8 \
  --zoom-per-sec 1.3 --rotate-deg-per-sec 5
for w in w1 w2 w3; do
  dw=false; [ $w = w2 ] && dw=true
  start_worker $w --backend sim --sim-ms-per-mpix-step 150 --max-tile-pixels 150000 --sim-device-warp $dw
done
wait_for 15 '[ "$(field connected)" = 3 ]' "3 workers connected"
wait_for 40 '[ "${TJ:=0}" -ge 12 ] || { TJ=$(field tile_resident_jobs); false; }' "12 tile-resident jobs"
ctl config | grep -qx "tile-result:8" || die "config does not show tile-result:8"
b0=$(field bytes_in); m0=$(field tile_mpx); k0=$(field keyframes); r0=$(field requeued)
wait_for 60 '[ "$(field keyframes)" -ge $((k0 + 16)) ]' "16 more keyframes"
b1=$(field bytes_in); m1=$(field tile_mpx); k1=$(field keyframes); r1=$(field requeued)
[ "$(field tile_resident_mismatch)" = 0 ] || die "a worker's window differs from the coordinator's canvas: $(field tile_resident_mismatch) mismatches"
[ "$(field tiles_missed)" = 0 ] || die "tiles missed: $(field tiles_missed)"
[ "$r1" = "$r0" ] || die "tiles requeued during the measurement ($r0 -> $r1)"
held=$(field tile_resident_held_pct)
awk -v h="$held" 'BEGIN{exit !(h >= 15)}' || die "workers hold only ${held} % of their windows"
echo "keyframes $k0 -> $k1, bytes in $((b1 - b0)), tile MPx $(awk -v a="$m0" -v b="$m1" 'BEGIN{print b - a}'), held $held %"
awk -v db=$((b1 - b0)) -v m0="$m0" -v m1="$m1" 'BEGIN{ px = (m1 - m0) * 1e6 * 3; r = db / px;
  printf "bytes in / 8-bit tile bytes = %.3f (8.8 results would be ~2)\n", r; exit !(r > 0.7 && r <= 1.25) }' \
  || die "results are not 8-bit frames"
# the workers' jobs said so, and they answered in kind (an 8.8 answer would be a failure)
[ "$(field quarantined)" = 0 ] || die "a worker was quarantined"
echo "PASS"
