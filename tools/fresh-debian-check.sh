#!/usr/bin/env bash
# fresh-debian-check.sh — release check: proves the dependency story of `make run` and
# `make test` on a FRESH Debian 12 (bookworm), not on a pre-provisioned development box.
#
# It debootstraps a minimal Debian 12 root (variant minbase, the host's apt mirror), keeps a
# pristine tarball of it, and from a clean `git clone` of this repository's HEAD runs, as root
# in chroots unpacked from that tarball:
#   docker  docker/Dockerfile.coordinator's build stage replayed (WORKDIR / COPY / RUN lines,
#           /bin/sh -c as Docker does), then its runtime stage in a second fresh root (the
#           copied binaries + libraries, ENV, ENTRYPOINT started on free ports, page fetched)
#   run     `make run` (installs BUILD_PKGS, builds, starts dreamd + a worker): waits for the
#           page and /api/status with curl inside the chroot, then Ctrl-C (SIGINT)
#   test    `make test` in the same root (installs TEST_PKGS, builds normal + ASan, runs all)
# The only thing installed by hand is `make` (a fresh Debian 12 has no make; README says so).
# Prints a summary (packages the project installed, build, the test summary line, skipped
# tests and why) and exits 0 when every phase passed, 1 otherwise.
#
# NOT part of `make test`: needs root, network (Debian mirror; npm for the browser test) and
# about 10 min (2 cores, a near mirror: debootstrap ~2, docker ~1, make run ~1, make test ~6;
# most of it package downloads). Run it before a release:
#   sudo tools/fresh-debian-check.sh                 all phases, fresh roots
#   sudo tools/fresh-debian-check.sh --phases run,test --keep
#   sudo tools/fresh-debian-check.sh --reuse DIR --phases test   rerun in an existing root
# Options:
#   --work DIR     work directory (default /var/tmp/dreamfarm-fresh; never inside a git tree):
#                  minbase-bookworm.tar (pristine root, made once), roots/, logs/
#   --reuse DIR    run the run/test phases in the existing root DIR as it is (NOT fresh:
#                  packages already installed stay; for iterating on a failure)
#   --phases LIST  comma list of docker,run,test (default all three)
#   --mirror URL   Debian mirror (default: the host's first Debian URI, else deb.debian.org)
#   --rev REV      commit to check (default HEAD; uncommitted changes are NOT included)
#   --refresh      debootstrap anew (drop the cached minbase tarball: new point release)
#   --keep         keep the roots afterwards (default: removed when everything passed)
#   --test-timeout S  limit for `make test` (default 3600)
# Chroot limits (documented in docs/farm.md "Fresh Debian 12 check"): the chroot shares the
# host's kernel, network namespace and loaded modules, so tests needing network namespaces
# or sch_netem behave as on the host; they must SKIP (exit 77), never fail, when absent.
set -uo pipefail
{ # the whole script is one block: bash parses it before running, so editing this file while
  # a check runs (it takes minutes) cannot change what the running check executes

say() { echo "fresh-debian: $*"; }
die() { echo "fresh-debian: $*" >&2; exit 1; }

SRC=$(cd "$(dirname "$0")/.." && pwd)
WORK=/var/tmp/dreamfarm-fresh
REUSE=""
PHASES="docker,run,test"
MIRROR=""
REV=HEAD
KEEP=0
REFRESH=0
TEST_TIMEOUT=3600
while [ $# -gt 0 ]; do
  case $1 in
    --work) WORK=$2; shift 2;;
    --reuse) REUSE=$2; shift 2;;
    --phases) PHASES=$2; shift 2;;
    --mirror) MIRROR=$2; shift 2;;
    --rev) REV=$2; shift 2;;
    --keep) KEEP=1; shift;;
    --refresh) REFRESH=1; shift;;
    --test-timeout) TEST_TIMEOUT=$2; shift 2;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0;;
    *) die "unknown option '$1' (see --help)";;
  esac
done
has_phase() { [[ ",$PHASES," == *",$1,"* ]]; }
for p in ${PHASES//,/ }; do
  case $p in docker|run|test) ;; *) die "unknown phase '$p' in --phases (docker, run, test)";; esac
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, bind mounts): run it with sudo"
WORK=$(mkdir -p "$WORK" && cd "$WORK" && pwd) || die "cannot create --work $WORK"
if git -C "$WORK" rev-parse --show-toplevel >/dev/null 2>&1; then
  die "--work $WORK is inside a git tree; use a directory under /var/tmp or /tmp"
fi
SHA=$(git -C "$SRC" rev-parse --verify "$REV^{commit}") || die "no commit '$REV' in $SRC"
if [ "$REV" = HEAD ] && [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
  say "WARNING: $SRC has uncommitted changes; checking the commit $SHA without them"
fi
LOGS=$WORK/logs/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$LOGS" "$WORK/roots"

# ---- mirror: the host's Debian URIs (deb822 or one-line format) --------------------------
host_uri() { # $1 regex for the path part (debian / debian-security)
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v '^\s*#' | grep -oE 'https?://[^ ]+' | grep -E "/$1/?\$" | head -1
}
[ -n "$MIRROR" ] || MIRROR=$(host_uri debian)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
SECURITY=$(host_uri debian-security)
[ -n "$SECURITY" ] || SECURITY=http://deb.debian.org/debian-security
say "mirror $MIRROR (security $SECURITY), commit $SHA, logs $LOGS"

# ---- mounts and cleanup -----------------------------------------------------------------
MOUNTED=()   # mount points, unmounted in reverse order on exit
ROOTS=()     # roots made by this run (removed at the end unless --keep or a failure)
mount_root() { # $1 root
  local r=$1 m
  # the root itself a mount point, as / is on a real system (`ip netns exec` remounts / as
  # a slave in its own mount namespace, which fails with EINVAL when / is no mount point)
  mount --bind "$r" "$r" || die "bind mount of $r on itself failed"
  MOUNTED+=("$r")
  for m in proc sys dev dev/pts dev/shm; do
    mkdir -p "$r/$m"
    mount --bind "/$m" "$r/$m" || die "bind mount /$m on $r/$m failed"
    MOUNTED+=("$r/$m")
  done
}
kill_in_root() { # $1 root: processes started in it (their root is $1) get SIGKILL
  local r=$1 p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$r" ] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  return 0
}
umount_all() {
  local i r m
  for r in "${ROOTS[@]}" ${REUSE:+"$REUSE"}; do kill_in_root "$r"; done
  # ours in reverse order, then whatever else is mounted below a root (`ip netns add` in a
  # test mounts run/netns there)
  for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do
    umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null ||
      echo "fresh-debian: could not unmount ${MOUNTED[i]}" >&2
  done
  for r in "${ROOTS[@]}" ${REUSE:+"$REUSE"}; do
    for i in 1 2 3; do
      for m in $(findmnt -rn -o TARGET | grep -F "$r" | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
      done
    done
  done
  MOUNTED=()
}
trap umount_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- pristine minbase root ----------------------------------------------------------------
TARBALL=$WORK/minbase-bookworm.tar
[ $REFRESH = 1 ] && rm -f "$TARBALL"
if [ ! -f "$TARBALL" ] && { has_phase docker || [ -z "$REUSE" ]; }; then
  command -v debootstrap >/dev/null || {
    say "installing debootstrap on the host (a host tool, not a project dependency)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
      die "cannot install debootstrap: apt-get install debootstrap"
  }
  tmp=$WORK/roots/debootstrap.$$
  rm -rf "$tmp"
  say "debootstrap --variant=minbase bookworm (log: $LOGS/debootstrap.log)"
  debootstrap --variant=minbase bookworm "$tmp" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 ||
    { rm -rf "$tmp"; die "debootstrap failed: tail $LOGS/debootstrap.log"; }
  tar -C "$tmp" -cf "$TARBALL.part" . && mv "$TARBALL.part" "$TARBALL" || die "cannot write $TARBALL"
  rm -rf "$tmp"
fi

# A fresh root: the pristine tarball + what any real Debian 12 install has (apt sources with
# updates and security, /etc/hosts, resolv.conf) + a policy-rc.d so packages start no
# services (as in Debian's Docker images).
new_root() { # $1 name -> sets NEWROOT (no subshell: ROOTS and die must work)
  local r=$WORK/roots/$1
  rm -rf "$r"; mkdir -p "$r"
  tar -C "$r" -xf "$TARBALL" || die "cannot unpack $TARBALL into $r"
  cat >"$r/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY bookworm-security main
EOF
  # the host's apt settings for a mirror snapshot or a proxy, if it has any
  grep -lsE 'Check-Valid-Until|Proxy' /etc/apt/apt.conf.d/* | while read -r f; do
    cp "$f" "$r/etc/apt/apt.conf.d/"; done
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
  cp -L /etc/resolv.conf "$r/etc/resolv.conf"
  # the host's local CAs (e.g. a TLS-inspecting egress proxy): without them the chroot
  # could not reach what the host reaches; ca-certificates' postinst picks them up
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$r/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$r/usr/local/share/ca-certificates/"
  fi
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod +x "$r/usr/sbin/policy-rc.d"
  ROOTS+=("$r")
  NEWROOT=$r
}
# run a command in a root as root with a clean login-like environment; of the host's
# environment only what points tools at the system CA bundle (see the CA copy above)
CA_ENV=()
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE; do
  [ -n "${!v:-}" ] && CA_ENV+=("$v=${!v}")
done
in_root() { # $1 root, $2 dir, rest: command
  local r=$1 d=$2; shift 2
  chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 USER=root LOGNAME=root \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${CA_ENV[@]}" \
    bash -c 'cd "$1" && shift && exec "$@"' _ "$d" "$@"
}
pkgs_of() { chroot "$1" dpkg-query -W -f '${Package}\n' 2>/dev/null | sort; }
clone_into() { # $1 dest dir (host path)
  rm -rf "$1"; mkdir -p "$(dirname "$1")"
  git clone -q --no-hardlinks "$SRC" "$1" && git -C "$1" checkout -q "$SHA" ||
    die "git clone of $SRC into $1 failed"
}
. "$(dirname "${BASH_SOURCE[0]}")/free-port.bash"     # free_port

RESULT=()   # summary lines
OK=1
result() { RESULT+=("$*"); }
fail() { OK=0; result "FAIL  $*"; }

# ---- phase docker -------------------------------------------------------------------------
# Replays a Dockerfile stage: WORKDIR, COPY (from the build context = the clone; --from=build
# = the build root), ENV and RUN (with /bin/sh -c). Other instructions are only echoed.
dockerfile_stage() { # $1 Dockerfile, $2 stage index (0 = first FROM) -> instructions, one a line
  awk -v want="$2" '
    { if (cont) buf = buf " " $0; else buf = $0 }
    { cont = sub(/\\[ \t]*$/, "", buf) }
    cont { next }
    buf ~ /^[ \t]*(#|$)/ { next }
    buf ~ /^FROM / { stage++; next }
    stage - 1 == want { print buf }' "$1"
}
replay_stage() { # $1 Dockerfile, $2 stage index, $3 root, $4 context dir, $5 --from root, $6 log
  local df=$1 st=$2 r=$3 ctx=$4 from=$5 log=$6 wd=/ kw rest envs=() srcs dst s
  while IFS= read -r ins; do
    kw=${ins%% *}; rest=${ins#* }
    echo "### $ins" >>"$log"
    case $kw in
      WORKDIR) wd=$rest; mkdir -p "$r$wd";;
      ENV) local e; read -ra e <<<"$rest"; envs+=("${e[@]}");;
      COPY)
        local base=$ctx
        [[ $rest == --from=* ]] && { base=$from; rest=${rest#* }; }
        read -ra srcs <<<"$rest"; dst=${srcs[-1]}; unset 'srcs[-1]'
        [[ $dst == /* ]] || dst=$wd/$dst
        for s in "${srcs[@]}"; do
          if [ -d "$base/$s" ]; then mkdir -p "$r$dst"; cp -a "$base/$s/." "$r$dst/"
          elif [[ $dst == */ ]] || [ ${#srcs[@]} -gt 1 ]; then mkdir -p "$r$dst"; cp -a "$base/$s" "$r$dst/"
          else mkdir -p "$(dirname "$r$dst")"; cp -a "$base/$s" "$r$dst"; fi || return 1
        done;;
      RUN)
        in_root "$r" "$wd" env "${envs[@]}" /bin/sh -c "$rest" >>"$log" 2>&1 ||
          { echo "### RUN failed" >>"$log"; return 1; };;
      *) echo "### (not replayed: $kw)" >>"$log";;
    esac
  done < <(dockerfile_stage "$df" "$st")
}
phase_docker() {
  local df=docker/Dockerfile.coordinator ctx=$WORK/roots/context log=$LOGS/docker.log
  say "phase docker: $df build stage in a fresh root (log: $log)"
  clone_into "$ctx"; rm -rf "$ctx/.git"
  new_root docker-build; local b=$NEWROOT; mount_root "$b"
  local before; before=$(pkgs_of "$b")
  if ! replay_stage "$ctx/$df" 0 "$b" "$ctx" "" "$log"; then
    fail "docker: $df build stage (tail $log)"; tail -n 20 "$log" | sed 's/^/   | /'; return
  fi
  local n; n=$(comm -13 <(echo "$before") <(pkgs_of "$b") | wc -l)
  result "ok    docker: $df build stage: install-deps.sh ($n packages) + make NO_CUDA=1 dreamd dreamctl"
  # every VAR=value given to make must be a variable the Makefile knows
  local v
  for v in $(grep -oE 'make [^&]*' "$ctx/$df" | grep -oE '\b[A-Z_]+=' | tr -d =); do
    grep -qE "^\s*$v\s*[:?+]?=|\\\$\($v\)" "$ctx/Makefile" ||
      fail "docker: $df passes $v= but the Makefile has no variable $v"
  done
  # runtime stage in a second fresh root (stands for debian:12-slim)
  new_root docker-runtime; local rt=$NEWROOT; mount_root "$rt"
  if ! replay_stage "$ctx/$df" 1 "$rt" "$ctx" "$b" "$log"; then
    fail "docker: $df runtime stage (tail $log)"; tail -n 20 "$log" | sed 's/^/   | /'; return
  fi
  local hp wp ap envs entry
  hp=$(free_port); wp=$(free_port); ap=$(free_port)
  envs=$(grep -E '^ENV ' "$ctx/$df" | tail -1 | cut -d' ' -f2-)
  # ENTRYPOINT ["dreamd", "--worker-bind", "tcp://*:5555", ...] with the ports made free
  entry=$(dockerfile_stage "$ctx/$df" 1 | sed -n 's/^ENTRYPOINT *//p' | sed 's/[][",]/ /g')
  entry=$(sed "s/:5555\\b/:$wp/; s/:5556\\b/:$ap/; s/--http-port  *8080/--http-port $hp/" <<<"$entry")
  echo "### runtime: $envs $entry" >>"$log"
  local ids; ids=$(awk -F: '$1 == "dreamfarm" {print $3 ":" $4}' "$rt/etc/passwd")
  [ -n "$ids" ] || { fail "docker: runtime stage made no user dreamfarm"; return; }
  # shellcheck disable=SC2086
  chroot --userspec="$ids" "$rt" /usr/bin/env -i HOME=/var/lib/dreamfarm PATH=/usr/local/bin:/usr/bin:/bin $envs \
    bash -c 'cd /var/lib/dreamfarm && exec "$@"' _ $entry --size 320x240 >>"$log" 2>&1 &
  local dpid=$! page="" i
  for i in $(seq 60); do
    page=$(curl -s --max-time 2 "http://127.0.0.1:$hp/" 2>/dev/null) && [ -n "$page" ] && break
    kill -0 $dpid 2>/dev/null || break
    sleep 0.5
  done
  if grep -qi '<html' <<<"$page"; then
    result "ok    docker: runtime stage: dreamd (copied libs, user dreamfarm) serves the page"
  else
    fail "docker: runtime stage: dreamd did not serve http://127.0.0.1:$hp/ (tail $log)"
    tail -n 15 "$log" | sed 's/^/   | /'
  fi
  kill -TERM $dpid 2>/dev/null; sleep 1; kill_in_root "$rt"; wait $dpid 2>/dev/null
}

# ---- phases run + test (one root: a user runs make run, then make test) -------------------
R=""
prepare_user_root() {
  if [ -n "$REUSE" ]; then
    R=$(cd "$REUSE" && pwd) || die "--reuse $REUSE: no such directory"
    [ -f "$R/etc/debian_version" ] || die "--reuse $R is not a Debian root"
    mount_root "$R"
    [ -d "$R/root/dreamfarm/.git" ] || clone_into "$R/root/dreamfarm"
    git -C "$R/root/dreamfarm" fetch -q "$SRC" "$SHA" && git -C "$R/root/dreamfarm" checkout -q "$SHA" ||
      die "cannot check out $SHA in $R/root/dreamfarm"
    result "note  reused root $R (not fresh: earlier packages stay)"
  else
    new_root user; R=$NEWROOT; mount_root "$R"
    clone_into "$R/root/dreamfarm"
  fi
  pkgs_of "$R" >"$LOGS/pkgs.0-base"
  # the one manual step on a fresh Debian 12: make itself (README "The two commands")
  if ! chroot "$R" sh -c 'command -v make' >/dev/null; then
    in_root "$R" / sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make' \
      >"$LOGS/make-install.log" 2>&1 || { fail "apt-get install make (log $LOGS/make-install.log)"; return 1; }
  fi
  pkgs_of "$R" >"$LOGS/pkgs.1-make"
}
installed_by() { # $1 log -> the packages install-deps.sh named
  local p; p=$(sed -n 's/^install-deps: installing //p' "$1" | tr '\n' ' ')
  echo "${p:-nothing (all present)}"
}
phase_run() {
  local log=$LOGS/make-run.log hp wp ap
  hp=$(free_port); wp=$(free_port); ap=$(free_port)
  say "phase run: make run in the fresh root (build ~5-10 min on 2 cores; log: $log)"
  # make run as a user types it; no weights here: the download is replaced by 'false'
  chroot "$R" /usr/bin/env --default-signal=INT -i HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${CA_ENV[@]}" \
    DREAM_GET_WEIGHTS=false DREAM_HTTP_PORT=$hp DREAM_WORKER_PORT=$wp DREAM_ADMIN_PORT=$ap \
    setsid --wait bash -c 'cd /root/dreamfarm && exec make -j"$(nproc)" run' >"$log" 2>&1 &
  local mpid=$! page="" status="" t0=$SECONDS
  while kill -0 $mpid 2>/dev/null && [ $((SECONDS - t0)) -lt 1800 ]; do
    if chroot "$R" sh -c 'command -v curl' >/dev/null 2>&1; then
      page=$(in_root "$R" / curl -s --max-time 2 "http://localhost:$hp/" 2>/dev/null)
      if grep -qi '<html' <<<"$page"; then
        # then the local worker: up to 60 s for it to connect and show in /api/status
        local i
        for i in $(seq 60); do
          status=$(in_root "$R" / curl -s --max-time 3 "http://localhost:$hp/api/status")
          grep -q '"workers":[1-9]' <<<"$status" && break
          sleep 1
        done
        break
      fi
    fi
    sleep 2
  done
  kill -INT -- -$mpid 2>/dev/null   # setsid made it a group leader: Ctrl-C to the group
  local i; for i in $(seq 40); do kill -0 $mpid 2>/dev/null || break; sleep 0.5; done
  kill -0 $mpid 2>/dev/null && { echo "### still running 20 s after SIGINT" >>"$log"; kill_in_root "$R"; }
  wait $mpid 2>/dev/null
  pkgs_of "$R" >"$LOGS/pkgs.2-run"
  result "info  make run installed: $(installed_by "$log")"
  if grep -qi '<html' <<<"$page"; then
    result "ok    make run: built without CUDA ($(compgen -G "$R/root/dreamfarm/build/obj/worker/nocuda/*.o" >/dev/null && echo worker/nocuda || echo 'NO worker/nocuda objects?')), page on :$hp after $((SECONDS - t0)) s"
    if grep -q '"workers":[1-9]' <<<"$status"; then result "ok    make run: /api/status shows the local worker: $(cut -c1-60 <<<"$status")"
    else fail "make run: /api/status shows no worker within 60 s (got '$(cut -c1-60 <<<"$status")')"; fi
  else
    fail "make run: no page on http://localhost:$hp/ (tail $log)"; tail -n 25 "$log" | sed 's/^/   | /'
  fi
}
phase_test() {
  local log=$LOGS/make-test.log
  say "phase test: make test in the same root (limit ${TEST_TIMEOUT}s; log: $log)"
  in_root "$R" /root/dreamfarm timeout -s INT "$TEST_TIMEOUT" make -j"$(nproc)" test >"$log" 2>&1
  local rc=$?
  pkgs_of "$R" >"$LOGS/pkgs.3-test"
  result "info  make test installed: $(installed_by "$log")"
  local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
  if [ -z "$line" ]; then
    fail "make test: no summary line (rc=$rc; tail $log)"; tail -n 30 "$log" | sed 's/^/   | /'; return
  fi
  [ $rc = 0 ] && result "ok    make test: $line" || fail "make test (rc=$rc): $line; $(grep '^failed:' "$log")"
  # skipped tests and why (script tests print "   SKIP: why", cmocka ones a line per case),
  # one line per test and reason with a count
  local l
  while IFS= read -r l; do result "skip  $l"; done < <(
  awk '/^== / {cur = substr($0, 4); next}
       /SKIP:/ {r = $0; sub(/.*SKIP: */, "", r); k = cur ": " substr(r, 1, 100)
                if (!(k in n)) order[++m] = k; n[k]++}
       END {for (i = 1; i <= m; i++) print order[i] (n[order[i]] > 1 ? "  (x" n[order[i]] ")" : "")}' "$log")
}

has_phase docker && phase_docker
if has_phase run || has_phase test; then
  if prepare_user_root; then
    has_phase run && phase_run
    has_phase test && phase_test
    comm -13 "$LOGS/pkgs.0-base" "$(ls "$LOGS"/pkgs.[23]-* 2>/dev/null | tail -1 || echo "$LOGS/pkgs.1-make")" \
      >"$LOGS/pkgs.added" 2>/dev/null
    result "info  packages added to the minbase root in all (make + the project's): $(wc -l <"$LOGS/pkgs.added") (list: $LOGS/pkgs.added)"
  fi
fi
umount_all

echo
echo "==== fresh Debian 12 check, commit ${SHA:0:12} ===="
printf '%s\n' "${RESULT[@]}"
if [ $OK = 1 ]; then
  if [ $KEEP = 0 ] && [ -z "$REUSE" ]; then rm -rf "${ROOTS[@]}" "$WORK/roots/context"; fi
  echo "fresh-debian: PASS (logs: $LOGS)"; exit 0
fi
echo "fresh-debian: FAIL (logs: $LOGS; roots kept under $WORK/roots)"; exit 1
}
