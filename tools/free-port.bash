# free-port.bash — sourced by scripts that start servers on loopback (tests/integration/farm_lib.bash,
# tests/integration/stream_bind.sh, bench/farm_bench.sh, tools/fresh-debian-check.sh):
# free_port prints a random TCP port below the kernel's ephemeral range (so no outgoing
# connection holds it) that nothing listens on right now.
FREE_PORT_EPH_LO=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$FREE_PORT_EPH_LO" -gt 12000 ] 2>/dev/null || FREE_PORT_EPH_LO=32768
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((10000 + RANDOM % (FREE_PORT_EPH_LO - 10000)))
    ss -tanH 2>/dev/null | awk '{print $4}' | grep -q ":$p\$" || { echo "$p"; return; }
  done
  echo $((10000 + RANDOM % (FREE_PORT_EPH_LO - 10000)))
}
