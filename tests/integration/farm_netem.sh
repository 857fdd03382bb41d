#!/usr/bin/env bash
# farm_netem.sh — the farm over a lossy, slow link: two sim workers in a network
# namespace behind a veth pair with tc netem (50 ms delay, 1 % loss each way).
# Keyframes must keep coming, no worker may be dropped for lost heartbeats and
# no tile may be missed. Skips (77) where namespaces, veth or netem are not permitted
# (FARM_NETEM_OPTIONAL=1 runs over the plain veth link when only netem is missing).
source "$(dirname "$0")/farm_lib.bash"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
command -v ip >/dev/null && command -v tc >/dev/null || { echo "SKIP: ip/tc (iproute2) not installed"; exit 77; }
NS=farmns$$
N=$((RANDOM % 200 + 20))
HOST_IF=fh$$; NS_IF=fn$$
HOST_IP=10.231.$N.1; NS_IP=10.231.$N.2
net_cleanup() {
  ip link del "$HOST_IF" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
}
trap 'farm_cleanup; net_cleanup' EXIT
ip netns add "$NS" 2>/dev/null || { echo "SKIP: cannot create network namespaces here"; exit 77; }
ip link add "$HOST_IF" type veth peer name "$NS_IF" 2>/dev/null || { echo "SKIP: cannot create veth pairs here"; exit 77; }
ip link set "$NS_IF" netns "$NS" || { echo "SKIP: cannot move a veth into a namespace"; exit 77; }
# `ip netns exec` needs to remount /sys in a private mount namespace (fails in some chroots)
ip netns exec "$NS" true 2>/dev/null || { echo "SKIP: ip netns exec is not permitted here"; exit 77; }
ip addr add "$HOST_IP/24" dev "$HOST_IF" && ip link set "$HOST_IF" up || die "host side of veth"
ip netns exec "$NS" ip addr add "$NS_IP/24" dev "$NS_IF" && ip netns exec "$NS" ip link set "$NS_IF" up &&
  ip netns exec "$NS" ip link set lo up || die "namespace side of veth"
if ! tc qdisc add dev "$HOST_IF" root netem delay 50ms loss 1% 2>/dev/null ||
   ! ip netns exec "$NS" tc qdisc add dev "$NS_IF" root netem delay 50ms loss 1% 2>/dev/null; then
  # FARM_NETEM_OPTIONAL=1: still run across the namespace, without the impairment
  [ "${FARM_NETEM_OPTIONAL:-0}" = 1 ] || { echo "SKIP: tc netem not available (sch_netem module missing?)"; exit 77; }
  echo "note: netem unavailable, running over a clean veth link"
fi
# reachability: a closed port answers "refused" (a RST came back over the link)
probe=$(timeout 5 bash -c "exec 3<>/dev/tcp/$NS_IP/9" 2>&1)
grep -qi refused <<<"$probe" || grep -qi refused <<<"$(timeout 5 bash -c "exec 3<>/dev/tcp/$NS_IP/9" 2>&1)" ||
  die "veth link does not pass traffic ($probe)"

"$BIN/dreamd" --worker-bind "tcp://$HOST_IP:$WPORT" --admin-bind "$AEP" --http-port 0 --state "$TMP/state.sqlite" \
  --allow-sim --size 480x352 --fps 10 --steps 2 >"$TMP/dreamd.log" 2>&1 &
DREAMD_PID=$!; PIDS+=("$DREAMD_PID")
for _ in $(seq 50); do ctl ping >/dev/null 2>&1 && break; sleep 0.1; done
for w in n1 n2; do
  ip netns exec "$NS" "$BIN/dream-worker" --connect "tcp://$HOST_IP:$WPORT" --name "$w" --backend sim \
    --sim-ms-per-mpix-step 100 --max-tile-pixels 90000 >"$TMP/worker-$w.log" 2>&1 &
  PIDS+=("$!")
done
wait_for 20 '[ "$(field connected)" = 2 ]' "2 workers connected through netem"
wait_for 40 '[ "$(field keyframes)" -ge 10 ]' "10 keyframes through netem"
echo "keyframes=$(field keyframes) interval_ms=$(field keyframe_interval_ms) bytes_per_keyframe=$(field bytes_per_keyframe)"
[ "$(field connected)" = 2 ] || die "a worker was dropped"
[ "$(field tiles_missed)" = 0 ] || die "tiles missed: $(field tiles_missed)"
grep -q "heartbeat lost" "$TMP/dreamd.log" && die "heartbeat lost over a 1 % lossy link"
echo "PASS"
