#!/usr/bin/env bash
# sipedge vs Kamailio side-by-side benchmark (issue 7). See tools/BENCHMARKS.md for the method and results.
#
#   bash tools/bench/run.sh [--repeats N] [--quick] [--out FILE] [options]
#
# One run measures, interleaved (A, B, C, D, A, B, C, D, ...):
#   A  sipedge (workers=1, default-like config; capture on when the build has it; tools/bench/sipedge-features.toml
#      appended when present, e.g. for caller-ID)
#   B  Kamailio stateful  (tools/bench/kamailio-stateful.cfg: tm + rr + sl + maxfwd, t_relay to the PBX)
#   C  Kamailio stateless (tools/bench/kamailio-stateless.cfg: rr + sl + maxfwd, forward() to the PBX)
#   D  direct sipbench uac -> uas, no proxy (the generator's own ceiling)
# under the same sipbench load: uac on 127.0.0.1 -> proxy on 127.0.0.1 -> sipbench uas ("the PBX") on 127.0.0.2.
# The proxy is pinned to CPU 0, sipbench (uac and uas) to CPU 1 (taskset). Everything is on loopback, every load is
# bounded in count and time, every process is started by this script, recorded by PID and stopped by PID.
#
# Per proxy and repeat:
#   1. start it fresh, warm it up (a few hundred calls and REGISTERs)
#   2. memory: PSS (sum over all its processes, /proc/PID/smaps_rollup) before/after REGISTERing MEM_N distinct users,
#      then on a second fresh process before/while MEM_N calls are held open (--hold-ms); reported per 10,000
#   3. CPU: utime+stime of all its processes (/proc/PID/stat, the whole process tree) across a fixed offered rate of
#      calls and of REGISTERs (bounded count); reported as CPU-seconds per 1000
#   4. max rate: ramp (x2) then bisection over offered rates, each step STEP_S seconds; the highest rate with
#      failed/attempted < 0.1 % and the generator achieving >= 85 % of the offered rate; calls and REGISTERs
#   5. latency: INVITE->200 p50/p99 at half the max call rate through the proxy (once it is idle again after the
#      ramps: at most SETTLE_MAX_S s, the wait is settle_s_lat in results.tsv, kept with --keep), and directly
#      uac->uas at the same rate right after; added = through-proxy minus direct. Both offer a smooth load: after a
#      late wake-up the generator catches up at most LAT_BURST_MS of requests back to back (sipbench --burst-ms),
#      so its own stalls are not replayed into the proxy as bursts. Also recorded: how busy the generator's CPU was
#      (gen_busy_lat), and for sipedge its own UDP forwarding delay over the run (arrival in the kernel -> the
#      output of that receive round sent, from `sipedge-ctl stats`), p50/p99
# Results: a Markdown table (median [min-max] over repeats) on stdout and in --out FILE, raw per-repeat values below it.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR="$ROOT/tools/bench"

# ------------------------------------------------------------------------------------------------ options
REPEATS=3
REPEATS_SET=0
QUICK=0
OUT=""
BUILD_DIR="$ROOT/build"
DO_BUILD=0
REV=""
BASE_REV=""
KEEP=0
PROFILE=0
PROXIES="sipedge kam-stateful kam-stateless"
SE_WORKERS=1
SE_EXTRA=""
PROXY_CPU=0
GEN_CPU=1
ACCESS_IP=127.0.0.1
PBX_IP=127.0.0.2
CPU_CALL_RATE=1000     # fixed offered rates for the CPU measurement: no proxy may be saturated there
CPU_REG_RATE=2500
LAT_BURST_MS=1         # latency runs: catch-up limit after a generator stall (sipbench's default is 10 ms)
KAM_SHM=1024           # MB; Debian's default 64 runs out of shared memory under these loads (tm holds transactions)
KAM_PKG=32

usage() {
  cat <<EOF
usage: bash tools/bench/run.sh [options]
  --repeats N          repeats of the interleaved A,B,C,D sequence (default 3)
  --quick              smoke run (1 repeat, short steps, MEM_N=2000), under 2 minutes
  --out FILE           also write the Markdown report to FILE
  --proxies LIST       subset of "sipedge kam-stateful kam-stateless" (space or comma separated)
  --sipedge-workers N  sipedge server.workers (default 1: per-core figures)
  --sipedge-extra FILE TOML appended to sipedge's config (default: tools/bench/sipedge-features.toml if present);
                       @WORK@ in it is replaced by the run's temp dir. Use it for capture / caller-ID once they exist.
  --cpu-call-rate R    offered calls/s for the CPU measurement (default $CPU_CALL_RATE)
  --cpu-reg-rate R     offered REGISTER/s for the CPU measurement (default $CPU_REG_RATE)
  --build-dir DIR      where sipedge and sipbench are built (default $ROOT/build)
  --build              (re)build with cmake+ninja first (bash tools/setup.sh when kamailio is missing)
  --rev REV            benchmark the committed tree REV instead of the work tree: \`git archive REV\` into
                       /tmp/sipedge-bench-build/<sha>/ and build it there once (the work tree is never touched)
  --base-rev REV       also run "sipedge-base": sipedge built from committed REV (git archive, as --rev), same
                       config and load, interleaved with the others: a before/after comparison in one run
  --profile            after the benchmark, perf-record sipedge under calls and REGISTERs and print top symbols
  --keep               keep the temp dir (logs, JSON of every sipbench run)
EOF
}

while (($#)); do
  case "$1" in
    --repeats) REPEATS=${2:?}; REPEATS_SET=1; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --out) OUT=${2:?}; shift 2 ;;
    --proxies) PROXIES=${2//,/ }; shift 2 ;;
    --sipedge-workers) SE_WORKERS=${2:?}; shift 2 ;;
    --sipedge-extra) SE_EXTRA=${2:?}; shift 2 ;;
    --cpu-call-rate) CPU_CALL_RATE=${2:?}; shift 2 ;;
    --cpu-reg-rate) CPU_REG_RATE=${2:?}; shift 2 ;;
    --build-dir) BUILD_DIR=${2:?}; shift 2 ;;
    --build) DO_BUILD=1; shift ;;
    --rev) REV=${2:?}; shift 2 ;;
    --base-rev) BASE_REV=${2:?}; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --repeats must be a positive integer" >&2; exit 2; }
if [[ -n $BASE_REV && " $PROXIES " != *" sipedge-base "* ]]; then  # right after sipedge, whose base it is
  list=""
  for p in $PROXIES; do list+=" $p"; [[ $p == sipedge ]] && list+=" sipedge-base"; done
  [[ " $list " == *" sipedge-base "* ]] || list="sipedge-base$list"
  PROXIES=${list# }
fi
for p in $PROXIES; do
  case "$p" in sipedge|sipedge-base|kam-stateful|kam-stateless) ;; *) echo "run.sh: unknown proxy $p" >&2; exit 2 ;; esac
done
[[ " $PROXIES " == *" sipedge-base "* && -z $BASE_REV ]] && { echo "run.sh: sipedge-base needs --base-rev" >&2; exit 2; }

if ((QUICK)); then
  ((REPEATS_SET)) || REPEATS=1
  STEP_S=1; BISECT=0; CPU_S=1; MEM_N=1000; LAT_S=1; STEP_TIMEOUT_MS=1000; PAUSE_S=0.2; SETTLE_MAX_S=3
  CALL_RAMP_START=1500; REG_RAMP_START=3000; WARM_N=200; HOLD_EXTRA_MS=1000; FRESH_FOR_DIALOGS=0; RAMP_CAP=24000
else
  STEP_S=3; BISECT=3; CPU_S=8; MEM_N=10000; LAT_S=4; STEP_TIMEOUT_MS=2000; PAUSE_S=1; SETTLE_MAX_S=20
  CALL_RAMP_START=500; REG_RAMP_START=1000; WARM_N=500; HOLD_EXTRA_MS=3000; FRESH_FOR_DIALOGS=1; RAMP_CAP=64000
fi
FAIL_LIMIT=0.001       # < 0.1 % failures
RATE_KEEPUP=0.85       # the generator must achieve >= 85 % of the offered rate for a step to count

# ------------------------------------------------------------------------------------------------ helpers
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in taskset ps awk ss getconf; do command -v "$tool" >/dev/null || die "missing $tool (bash tools/setup.sh)"; done
if ! command -v kamailio >/dev/null || ! dpkg-query -W -f='${Status}' netbase 2>/dev/null | grep -q "ok installed"; then
  log "kamailio or netbase missing: running tools/setup.sh"
  bash "$ROOT/tools/setup.sh" || die "tools/setup.sh failed"
fi
# rev_tree REV: the committed tree REV, unpacked once under /tmp/sipedge-bench-build/<sha>/src (the work tree is
# never touched); sets REV_SRC, REV_BUILD and REV_SHORT.
rev_tree() {
  REV_SHORT=$(git -C "$ROOT" rev-parse --short "$1^{commit}") || die "unknown revision $1"
  REV_SRC=/tmp/sipedge-bench-build/$REV_SHORT/src
  REV_BUILD=/tmp/sipedge-bench-build/$REV_SHORT/build
  if [[ ! -f $REV_SRC/CMakeLists.txt ]]; then
    rm -rf "$REV_SRC"; mkdir -p "$REV_SRC"
    git -C "$ROOT" archive "$REV_SHORT" | tar -x -C "$REV_SRC" || die "git archive $REV_SHORT failed"
  fi
}
# build_tree SRC BUILD FORCE: sipedge, sipbench and sipedge-ctl, when missing (or always with FORCE=1).
build_tree() {
  local src=$1 build=$2 force=$3
  if ((force)) || [[ ! -x $build/proxy/sipedge || ! -x $build/tools/sipbench/sipbench ||
        ! -x $build/tools/ctl/sipedge-ctl ]]; then
    log "building sipedge and sipbench from $src in $build"
    mkdir -p "$build"
    cmake -S "$src" -B "$build" -G Ninja -DBUILD_TESTING=OFF >"$build/bench-cmake.log" 2>&1 ||
      die "cmake failed (see $build/bench-cmake.log)"
    ninja -C "$build" sipedge sipbench sipedge-ctl >"$build/bench-ninja.log" 2>&1 || die "build failed (see $build/bench-ninja.log)"
  fi
}
SRC_DIR=$ROOT
if [[ -n $REV ]]; then
  rev_tree "$REV"
  REV_SHA=$REV_SHORT SRC_DIR=$REV_SRC BUILD_DIR=$REV_BUILD
fi
build_tree "$SRC_DIR" "$BUILD_DIR" "$DO_BUILD"
if [[ -n $BASE_REV ]]; then
  rev_tree "$BASE_REV"
  BASE_SHA=$REV_SHORT BASE_BUILD=$REV_BUILD
  build_tree "$REV_SRC" "$BASE_BUILD" 0
fi
(($(nproc) >= 2)) || die "needs at least 2 CPUs (proxy and generator on separate cores)"

# The work dir and the binaries' copies deliberately do not contain "sipedge", "sipbench" or "kamailio": other
# people's test clean-ups on a shared machine that kill by name (pkill -f) must not hit this run's processes.
WORK=$(mktemp -d /tmp/sebench.XXXXXX) || die "mktemp failed"
mkdir -p "$WORK/bin" "$WORK/json" "$WORK/logs"
# Snapshot the binaries: other people may rebuild the tree while the benchmark runs.
cp "$BUILD_DIR/proxy/sipedge" "$WORK/bin/se-proxy" || die "cannot copy sipedge"
cp "$BUILD_DIR/tools/sipbench/sipbench" "$WORK/bin/sb-gen" || die "cannot copy sipbench"
cp "$BUILD_DIR/tools/ctl/sipedge-ctl" "$WORK/bin/se-ctl" || die "cannot copy sipedge-ctl"
[[ -n $BASE_REV ]] && { cp "$BASE_BUILD/proxy/sipedge" "$WORK/bin/se-base" || die "cannot copy the base sipedge"; }
cp "$(command -v kamailio)" "$WORK/bin/kam-proxy" || die "cannot copy kamailio"
SIPEDGE="$WORK/bin/se-proxy"
SIPBENCH="$WORK/bin/sb-gen"
KAMAILIO="$WORK/bin/kam-proxy"
HZ=$(getconf CLK_TCK)

UAS_PID=""; UAS_PORT=""
PROXY_PID=""; PROXY_PORT=""; PROXY_KIND=""; PROXY_TREE=""
BG_PIDS=()

kill_pids() {   # TERM the given PIDs, wait up to 5 s, then KILL what is left
  local p alive i
  (($#)) || return 0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null; done
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0
}

cleanup() {
  trap - EXIT INT TERM
  local p
  for p in "${BG_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && kill_pids "$p"; done
  stop_proxy
  [[ -n $UAS_PID ]] && kill_pids "$UAS_PID"
  if ((KEEP)); then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

descendants() {   # PID and all its descendants (one ps snapshot, breadth-first)
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { q[0] = root; n = 1; for (i = 0; i < n; i++) { printf "%s ", q[i]; m = split(kids[q[i]], k, " ");
                                                         for (j = 1; j <= m; j++) q[n++] = k[j] } }'
}

tree_ticks() {    # utime+stime (clock ticks) summed over the proxy's processes (all threads of each); 0 if none
  local p s=0 f
  TREE_UT=0; TREE_ST=0
  [[ -n $PROXY_PID ]] || { echo 0; return; }
  for p in $(descendants "$PROXY_PID"); do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }                              # drop "pid (comm) ": field 3 onward
    read -r _ _ _ _ _ _ _ _ _ _ _ ut st _ <<<"$f"
    s=$((s + ut + st)); TREE_UT=$((TREE_UT + ut)); TREE_ST=$((TREE_ST + st))
  done
  echo "$s"
}
tree_ticks_split() { tree_ticks >/dev/null; }   # sets TREE_UT / TREE_ST in this shell

settle() {        # settle TAG WHAT: wait (at most SETTLE_MAX_S) until the proxy is idle: < 2 ticks in 0.5 s
  # Work an earlier run left behind (sipedge's capture writer catching up after a ramp, Kamailio's tm timers)
  # would otherwise be counted against, or delay, the next measurement. Records how long it took.
  local tag=$1 what=$2 a b waited=0
  a=$(tree_ticks)
  while ((waited < SETTLE_MAX_S * 2)); do
    sleep 0.5; waited=$((waited + 1))
    b=$(tree_ticks)
    ((b - a < 2)) && break
    a=$b
  done
  SETTLED_S=$(awk -v w="$waited" 'BEGIN { printf "%.1f", w / 2 }')
  ((waited >= SETTLE_MAX_S * 2)) && note "$tag: the proxy was still busy ${SETTLE_MAX_S} s after the runs before $what"
  return 0
}

tree_pss() {      # PSS in KiB summed over the proxy's processes (shared memory counted once overall)
  local p s=0 v
  for p in $(descendants "$PROXY_PID"); do
    v=$(awk '/^Pss:/ {print $2; exit}' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    s=$((s + ${v:-0}))
  done
  echo "$s"
}

cpu_busy() {      # task ticks of one CPU from /proc/stat (user nice system; irq/softirq/steal are not any task's)
  awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 }' /proc/stat
}

pid_ticks() { local f; f=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }; f=${f##*) }
              read -r _ _ _ _ _ _ _ _ _ _ _ ut st _ <<<"$f"; echo $((ut + st)); }

free_port() {     # a port free for UDP on the given address
  local ip=$1 p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 30000))
    if [[ -z $(ss -Hlun "src $ip:$p" 2>/dev/null) && -z $(ss -Hlun "src 0.0.0.0:$p" 2>/dev/null) ]]; then
      echo "$p"; return 0
    fi
  done
  return 1
}

jnum() {          # jnum FILE KEY: a top-level number from a sipbench JSON report
  grep -o "\"$2\": *[-0-9.e+]*" "$1" 2>/dev/null | head -1 | sed 's/.*: *//'
}
delay_counts() {  # the running sipedge's UDP forwarding-delay histogram (`sipedge-ctl stats`): "BOUNDS|COUNTS",
                  # each space-separated; the last bound is null (open bucket)
  "$WORK/bin/se-ctl" --data "$SE_DATA" stats 2>/dev/null | tr -d ' \n' |
    grep -o '"udp_forward_delay_us":{"le":\[[^]]*\],"count":\[[^]]*' |
    sed 's/.*"le":\[//; s/\],"count":\[/|/' | tr ',' ' '
}
delay_pct() {     # delay_pct "BEFORE" "AFTER" PCT (delay_counts snapshots): that percentile (µs) of the delays in
                  # between, linear within a bucket, the open bucket taken as twice the last bound
  awk -v a="${1#*|}" -v b="${2#*|}" -v bounds="${2%%|*}" -v p="$3" 'BEGIN {
    nb = split(bounds, le, " ") - 1
    n0 = split(a, c0, " "); n1 = split(b, c1, " ")
    if (nb < 1 || n0 != nb + 1 || n1 != nb + 1) { print "nan"; exit }
    for (i = 1; i <= n1; i++) { d[i] = c1[i] - c0[i]; tot += d[i] }
    if (tot <= 0) { print "nan"; exit }
    want = tot * p / 100; acc = 0; lo = 0
    for (i = 1; i <= n1; i++) {
      hi = i <= nb ? le[i] : 2 * lo
      if (acc + d[i] >= want) { printf "%.0f", lo + (hi - lo) * (d[i] ? (want - acc) / d[i] : 0); exit }
      acc += d[i]; lo = hi
    }
  }'
}
jlat() {          # jlat FILE KIND PCT: latency_us.KIND.PCT
  grep -o "\"$2\": *{[^}]*}" "$1" 2>/dev/null | grep -o "\"$3\": *[0-9.]*" | head -1 | sed 's/.*: *//'
}

RUN_SEQ=0
LAST_JSON=""
uac() {           # uac NAME TARGET_PORT|direct ARGS...: one bounded sipbench uac run, pinned to GEN_CPU
  local name=$1 port=$2; shift 2
  local target
  if [[ $port == direct ]]; then target="$PBX_IP:$UAS_PORT"; else target="$ACCESS_IP:$port"; fi
  RUN_SEQ=$((RUN_SEQ + 1))
  LAST_JSON="$WORK/json/$(printf '%04d' $RUN_SEQ)-$name.json"
  taskset -c "$GEN_CPU" "$SIPBENCH" uac --target "$target" --local "$ACCESS_IP" --workers 1 --quiet \
    --json "$LAST_JSON" "$@" >>"$WORK/logs/uac.log" 2>&1
  add_gen_cpu
  check_uas "$name"
  return 0
}

UAS_DIED=0
check_uas() {     # the PBX stand-in must have lived through the run; if not, restart it (same port) and say so
  kill -0 "$UAS_PID" 2>/dev/null && return 0
  UAS_DIED=1
  UAS_RESTARTS=$((UAS_RESTARTS + 1))
  log "WARNING: sipbench uas (pid $UAS_PID) is gone during '$1': $(tail -1 "$WORK/logs/uas.err" 2>/dev/null) — restarting it on the same port, the step is repeated"
  UAS_PID=""
  start_uas
  if [[ -n $PROXY_PID ]] && kill -0 "$PROXY_PID" 2>/dev/null; then probe || log "WARNING: proxy does not relay after the uas restart"; fi
}
UAS_RESTARTS=0

step_ok() {       # step_ok JSON OFFERED_RATE: under 0.1 % failures and the offered rate was achieved
  local j=$1 r=$2 att fail ar
  att=$(jnum "$j" attempted); fail=$(jnum "$j" failed); ar=$(jnum "$j" attempt_rate)
  [[ -n $att && -n $fail && -n $ar ]] || return 1
  awk -v a="$att" -v f="$fail" -v ar="$ar" -v r="$r" -v lim="$FAIL_LIMIT" -v k="$RATE_KEEPUP" \
    'BEGIN { exit !(a > 0 && f / a < lim && ar >= k * r) }'
}

UAS_FIXED_PORT=""
start_uas() {
  local out="$WORK/logs/uas.out"
  # keep the port across restarts, so running proxies (configured with it) keep working
  [[ -n $UAS_FIXED_PORT ]] || UAS_FIXED_PORT=$(free_port "$PBX_IP") || die "no free port on $PBX_IP"
  [[ -f $out ]] && cat "$out" >>"$WORK/logs/uas.previous.out"
  taskset -c "$GEN_CPU" "$SIPBENCH" uas --listen "$PBX_IP:$UAS_FIXED_PORT" --workers 1 --duration 7200 >"$out" 2>>"$WORK/logs/uas.err" &
  UAS_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    UAS_PORT=$(awk '/^listening udp/ {print $4; exit}' "$out" 2>/dev/null)
    [[ -n $UAS_PORT ]] && break
    kill -0 "$UAS_PID" 2>/dev/null || die "sipbench uas exited at start: $(cat "$WORK/logs/uas.err")"
    sleep 0.1
  done
  [[ -n $UAS_PORT ]] || die "sipbench uas did not report its port"
  log "PBX stand-in: sipbench uas on $PBX_IP:$UAS_PORT (pid $UAS_PID, cpu $GEN_CPU)"
}

ensure_uas() { if [[ -z $UAS_PID ]] || ! kill -0 "$UAS_PID" 2>/dev/null; then UAS_PID=""; start_uas; fi; }

# sipedge config: the shipped defaults (conf/sipedge.toml) with the addresses of this run, port 0 everywhere,
# workers=SE_WORKERS, plus the feature snippet (capture, caller ID) once those exist.
if [[ -z $SE_EXTRA && -f $BENCH_DIR/sipedge-features.toml ]]; then SE_EXTRA="$BENCH_DIR/sipedge-features.toml"; fi
AUTO_CAPTURE=0
if [[ -n $SE_EXTRA ]]; then
  [[ -f $SE_EXTRA ]] || die "no such file: $SE_EXTRA"
  FEATURES="sipedge features from \`${SE_EXTRA#"$ROOT"/}\`"
fi

write_sipedge_config() {   # [FILE] [capture 0|1]; every start gets an empty store (no rows from earlier blocks)
  local f=${1:-$WORK/sipedge.toml} cap=${2:-$AUTO_CAPTURE}
  local data="$WORK/sipedge-data-$(date +%s%N)"
  cat >"$f" <<EOF
# generated by tools/bench/run.sh: conf/sipedge.toml with this run's addresses
[server]
workers = $SE_WORKERS
data_dir = "$data"
log_level = "info"
log_clear_numbers = false

[[listen]]
transport = "udp"
address = "$ACCESS_IP"
port = 0

[[listen]]
transport = "tcp"
address = "$ACCESS_IP"
port = 0

[internal]
address = "$ACCESS_IP"
port_base = 0

[pbx]
targets = ["udp:$PBX_IP:$UAS_PORT"]
ping_interval_ms = 2000
ping_timeout_ms = 1000
ping_failures = 2
EOF
  # capture as deployed (conf/sipedge.toml has it on) when this sipedge knows the option and no snippet is given
  ((cap)) && printf '\n[capture]\nenabled = true\n' >>"$f"
  if [[ -n $SE_EXTRA ]]; then
    printf '\n# ---- %s\n' "$SE_EXTRA" >>"$f"
    sed "s|@WORK@|$WORK|g" "$SE_EXTRA" >>"$f"
  fi
  echo "$f"
}

PROBING=0
probe() {         # the proxy relays a few calls end to end (within ~15 s)
  local i rc=1
  ((PROBING)) && return 0
  PROBING=1
  for ((i = 0; i < 40; i++)); do
    kill -0 "$PROXY_PID" 2>/dev/null || break
    uac probe "$PROXY_PORT" --scenario call --count 3 --rate 100 --timeout-ms 500
    [[ $(jnum "$LAST_JSON" succeeded) == 3 ]] && { rc=0; break; }
    sleep 0.25
  done
  PROBING=0
  return $rc
}

start_proxy() {   # start_proxy KIND TAG
  local kind=$1 tag=$2 i
  PROXY_KIND=$kind
  local plog="$WORK/logs/$tag.log"
  case "$kind" in
    sipedge|sipedge-base)
      local cfg ready="$WORK/$tag.ready" bin=$SIPEDGE
      [[ $kind == sipedge-base ]] && bin="$WORK/bin/se-base"
      cfg=$(write_sipedge_config)
      SE_DATA=$(awk -F'"' '$1 ~ /^data_dir *= *$/ {print $2; exit}' "$cfg")  # where se-ctl --data finds ctl.sock
      rm -f "$ready"
      taskset -c "$PROXY_CPU" "$bin" --config "$cfg" --ready-file "$ready" >"$plog" 2>&1 &
      PROXY_PID=$!
      PROXY_PORT=""
      for ((i = 0; i < 100; i++)); do
        PROXY_PORT=$(awk -v ip="$ACCESS_IP" '$1 == "listen" && $2 == "udp" && $3 == ip {print $4; exit}' "$ready" 2>/dev/null)
        [[ -n $PROXY_PORT ]] && break
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.1
      done
      [[ -n $PROXY_PORT ]] || die "sipedge did not start (see below)
$(tail -20 "$plog")"
      ;;
    kam-stateful|kam-stateless)
      local cfgf="$BENCH_DIR/kamailio-${kind#kam-}.cfg" kdir="$WORK/$tag"
      mkdir -p "$kdir"
      PROXY_PORT=$(free_port "$ACCESS_IP") || die "no free port"
      taskset -c "$PROXY_CPU" "$KAMAILIO" -DD -E -f "$cfgf" -n 1 -m "$KAM_SHM" -M "$KAM_PKG" \
        -A "LISTEN_IP=$ACCESS_IP" -A "LISTEN_PORT=$PROXY_PORT" -A "PBX_URI=\"sip:$PBX_IP:$UAS_PORT\"" \
        -Y "$kdir" -P "$kdir/kamailio.pid" -w "$kdir" >"$plog" 2>&1 &
      PROXY_PID=$!
      ;;
  esac
  probe || die "$kind does not relay calls (log: $plog)
$(tail -20 "$plog")"
  PROXY_TREE=$(descendants "$PROXY_PID")
  log "$kind up on $ACCESS_IP:$PROXY_PORT (pids $PROXY_TREE; cpu $PROXY_CPU)"
}

ACC_PROXY_TICKS=0   # CPU of proxies already stopped (for the foreign-load estimate)
stop_proxy() {
  [[ -n $PROXY_PID ]] || return 0
  ACC_PROXY_TICKS=$((ACC_PROXY_TICKS + $(tree_ticks)))
  local tree
  tree="$PROXY_TREE $(descendants "$PROXY_PID")"
  kill_pids "$PROXY_PID"
  # whatever of the tree survived its parent
  local p left=()
  for p in $tree; do [[ $p != "$PROXY_PID" ]] && kill -0 "$p" 2>/dev/null && left+=("$p"); done
  ((${#left[@]})) && kill_pids "${left[@]}"
  PROXY_PID=""; PROXY_TREE=""
}

# ------------------------------------------------------------------------------------------------ measurements
RES="$WORK/results.tsv"       # proxy rep metric value
NOTES="$WORK/notes.txt"
: >"$RES"; : >"$NOTES"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }
note() { printf '%s\n' "$*" >>"$NOTES"; log "note: $*"; }

try_rate() {      # try_rate SCENARIO PORT RATE -> 0 when sustained
  local sc=$1 port=$2 r=$3 inflight
  inflight=$((r > 1000 ? r : 1000))
  local attempt t0=0 t1=0
  for attempt in 1 2; do
    UAS_DIED=0
    [[ $port != direct ]] && t0=$(tree_ticks)
    uac "max-$sc-$r" "$port" --scenario "$sc" --rate "$r" --count $((r * STEP_S)) --users 10000 \
      --max-inflight "$inflight" --timeout-ms "$STEP_TIMEOUT_MS"
    [[ $port != direct ]] && t1=$(tree_ticks)
    ((UAS_DIED)) || break
  done
  local ok=1
  STEP_AR=$(jnum "$LAST_JSON" attempt_rate)
  # the proxy's CPU-seconds per 1000 successful units in this step (its cost when it is busy and batches)
  STEP_CPU=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$(jnum "$LAST_JSON" succeeded)" \
    'BEGIN { if (n > 0 && t > 0) printf "%.4f", t / hz / n * 1000; else print "nan" }')
  step_ok "$LAST_JSON" "$r" && ok=0
  log "    $sc @ $r/s: attempted $(jnum "$LAST_JSON" attempt_rate)/s failed $(jnum "$LAST_JSON" failed)/$(jnum "$LAST_JSON" attempted) -> $( ((ok == 0)) && echo ok || echo FAIL)"
  sleep "$PAUSE_S"
  return $ok
}

find_max() {      # find_max SCENARIO PORT START: FOUND = highest sustained rate (0 if none)
  local sc=$1 port=$2 r=$3 good=0 bad=0 i mid good_ar=0 good_cpu=nan
  while :; do
    if try_rate "$sc" "$port" "$r"; then
      good=$r; good_ar=$STEP_AR; good_cpu=$STEP_CPU
      ((r >= RAMP_CAP)) && break
      r=$((r * 2))
    else
      bad=$r; break
    fi
  done
  # the very first step failed: go down (halving, at most 4 more steps)
  for ((i = 0; good == 0 && i < 4; i++)); do
    bad=$r; r=$((r / 2 / 50 * 50)); ((r < 50)) && break
    try_rate "$sc" "$port" "$r" && { good=$r; good_ar=$STEP_AR; good_cpu=$STEP_CPU; }
  done
  if ((bad > 0 && good > 0)); then
    for ((i = 0; i < BISECT; i++)); do
      mid=$(((good + bad) / 2 / 50 * 50))
      ((mid <= good || mid >= bad)) && break
      if try_rate "$sc" "$port" "$mid"; then good=$mid; good_ar=$STEP_AR; good_cpu=$STEP_CPU; else bad=$mid; fi
    done
  fi
  # the rate the generator actually achieved in the highest clean step (offered rate: $good)
  FOUND=$(awk -v a="$good_ar" 'BEGIN { printf "%d", a + 0.5 }')
  FOUND_OFFERED=$good
  FOUND_CPU=$good_cpu
}

proxy_ticks_all() { echo $((ACC_PROXY_TICKS + $(tree_ticks))); }
noise_begin() { N0_BUSY0=$(cpu_busy "$PROXY_CPU"); N0_BUSY1=$(cpu_busy "$GEN_CPU"); N0_T=$(date +%s.%N)
                N0_UAS=$(pid_ticks "$UAS_PID"); N0_PROXY=$(proxy_ticks_all); N0_GEN=$(gen_ticks); }
gen_ticks() {     # CPU ticks of the uac runs so far (from their JSON) + nothing else: see noise_end
  awk -v hz="$HZ" '{ s += $1 } END { printf "%d", s * hz }' "$WORK/gen_cpu.txt" 2>/dev/null || echo 0
}
noise_end() {     # share of each benchmark CPU used by processes that are not ours since noise_begin
  local t1 b0 b1 el uas gen pt
  pt=$(proxy_ticks_all)
  t1=$(date +%s.%N); b0=$(cpu_busy "$PROXY_CPU"); b1=$(cpu_busy "$GEN_CPU"); uas=$(pid_ticks "$UAS_PID"); gen=$(gen_ticks)
  awk -v b0="$((b0 - N0_BUSY0))" -v b1="$((b1 - N0_BUSY1))" -v p="$((pt - N0_PROXY))" \
      -v g="$((gen - N0_GEN + uas - N0_UAS))" -v el="$(awk -v a="$N0_T" -v b="$t1" 'BEGIN{print b-a}')" -v hz="$HZ" \
      'BEGIN { f0 = (b0 - p) / (el * hz); f1 = (b1 - g) / (el * hz); if (f0 < 0) f0 = 0; if (f1 < 0) f1 = 0;
               printf "%.2f %.2f", f0, f1 }'
}
add_gen_cpu() { local u s; u=$(jnum "$LAST_JSON" cpu_user_s); s=$(jnum "$LAST_JSON" cpu_sys_s)
                awk -v u="${u:-0}" -v s="${s:-0}" 'BEGIN { print u + s }' >>"$WORK/gen_cpu.txt"; }

cpu_measure() {   # cpu_measure SCENARIO RATE TAG -> CPU-s per 1000 units; records saturation
  local sc=$1 r=$2 tag=$3 t0 t1 n
  n=$((r * CPU_S))
  local attempt u0 s0 u1 s1
  for attempt in 1 2; do
    UAS_DIED=0
    tree_ticks_split; u0=$TREE_UT s0=$TREE_ST
    t0=$((u0 + s0))
    uac "cpu-$sc" "$PROXY_PORT" --scenario "$sc" --rate "$r" --count "$n" --users 10000 --user-prefix cpu \
      --max-inflight $((r > 1000 ? r * 2 : 2000)) --timeout-ms 4000
    tree_ticks_split; u1=$TREE_UT s1=$TREE_ST
    ((UAS_DIED)) || break
  done
  t1=$((u1 + s1))
  local succ ar
  succ=$(jnum "$LAST_JSON" succeeded); ar=$(jnum "$LAST_JSON" attempt_rate)
  if ! step_ok "$LAST_JSON" "$r"; then
    note "$tag: the CPU run ($sc at $r/s) was not clean: attempted $ar/s, $(jnum "$LAST_JSON" failed) of $(jnum "$LAST_JSON" attempted) failed — the proxy was saturated (or the machine was busy); its CPU figure is of an overloaded proxy"
  fi
  CPU_RESULT=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="${succ:-0}" 'BEGIN { if (n > 0) printf "%.4f", t / hz / n * 1000; else print "nan" }')
  CPU_SYS_SHARE=$(awk -v s="$((s1 - s0))" -v t="$((t1 - t0))" 'BEGIN { if (t > 0) printf "%.2f", s / t; else print "nan" }')
}

warm_up() {       # first-use allocations and caches are not per-registration or per-dialog costs
  uac warm "$PROXY_PORT" --scenario call --count "$WARM_N" --rate 1000 --timeout-ms 2000
  uac warm "$PROXY_PORT" --scenario register --count $((WARM_N * 2)) --rate 2000 --users 1000 --user-prefix warm --timeout-ms 2000
  sleep 0.3
}

block() {         # block KIND REP: everything measured on one proxy kind
  local kind=$1 rep=$2 tag="$1-r$2"
  ensure_uas
  noise_begin
  # Memory is a high-water mark (Kamailio's shared memory stays resident once touched), so registrations and
  # held dialogs are each measured on a fresh proxy.
  start_proxy "$kind" "$tag-a"
  warm_up

  # memory per registration
  local m0 m1 m2 mpeak v
  local attempt
  for attempt in 1 2; do
    UAS_DIED=0
    m0=$(tree_pss)
    uac mem-reg "$PROXY_PORT" --scenario register --count "$MEM_N" --users "$MEM_N" --user-prefix "memu$attempt-" \
      --rate "$CPU_REG_RATE" --max-inflight 5000 --timeout-ms 4000
    m1=$(tree_pss)
    ((UAS_DIED)) || break
  done
  [[ $(jnum "$LAST_JSON" succeeded) == "$MEM_N" ]] || note "$tag: only $(jnum "$LAST_JSON" succeeded) of $MEM_N registrations succeeded in the memory run"
  record "$kind" "$rep" base_pss_mib "$(awk -v a="$m0" 'BEGIN { printf "%.1f", a / 1024 }')"
  record "$kind" "$rep" pss_per_10k_reg "$(awk -v a="$m0" -v b="$m1" -v n="$MEM_N" 'BEGIN { printf "%.0f", (b - a) * 10000 / n }')"

  # memory per dialog held: MEM_N calls established and held open, PSS sampled while all are up
  if ((FRESH_FOR_DIALOGS)); then
    stop_proxy
    start_proxy "$kind" "$tag"
    warm_up
  fi
  local start_s hold_ms
  start_s=$(awk -v n="$MEM_N" -v r="$CPU_CALL_RATE" 'BEGIN { printf "%.2f", n / r }')
  hold_ms=$(awk -v s="$start_s" -v x="$HOLD_EXTRA_MS" 'BEGIN { printf "%d", s * 1000 + x }')
  local dj
  for attempt in 1 2; do
  UAS_DIED=0
  m1=$(tree_pss)
  RUN_SEQ=$((RUN_SEQ + 1))
  dj="$WORK/json/$(printf '%04d' $RUN_SEQ)-mem-dlg.json"
  taskset -c "$GEN_CPU" "$SIPBENCH" uac --target "$ACCESS_IP:$PROXY_PORT" --local "$ACCESS_IP" --workers 1 --quiet \
    --json "$dj" --scenario call --count "$MEM_N" --rate "$CPU_CALL_RATE" --hold-ms "$hold_ms" \
    --max-inflight $((MEM_N + 1000)) --timeout-ms 4000 >>"$WORK/logs/uac.log" 2>&1 &
  local dpid=$!
  BG_PIDS+=("$dpid")
  sleep "$(awk -v s="$start_s" 'BEGIN { print s + 1 }')"
  mpeak=$(tree_pss)
  for v in 1 2 3 4; do sleep 0.3; m2=$(tree_pss); ((m2 > mpeak)) && mpeak=$m2; done
  wait "$dpid" 2>/dev/null
  LAST_JSON=$dj
  add_gen_cpu
  check_uas mem-dlg
  ((UAS_DIED)) || break
  done
  [[ $(jnum "$dj" succeeded) == "$MEM_N" ]] || note "$tag: only $(jnum "$dj" succeeded) of $MEM_N held calls succeeded in the memory run"
  record "$kind" "$rep" pss_per_10k_dlg "$(awk -v a="$m1" -v b="$mpeak" -v n="$MEM_N" 'BEGIN { printf "%.0f", (b - a) * 10000 / n }')"

  # CPU per 1000 calls / REGISTERs at a fixed offered rate, each on an idle proxy (settle), so work the runs
  # before left behind is not counted against these calls
  settle "$tag" "the CPU run (calls)"; record "$kind" "$rep" settle_s_cpu "$SETTLED_S"
  cpu_measure call "$CPU_CALL_RATE" "$tag"; record "$kind" "$rep" cpu_per_1k_calls "$CPU_RESULT"
  record "$kind" "$rep" sys_share_calls "$CPU_SYS_SHARE"
  settle "$tag" "the CPU run (REGISTERs)"
  cpu_measure register "$CPU_REG_RATE" "$tag"; record "$kind" "$rep" cpu_per_1k_reg "$CPU_RESULT"
  record "$kind" "$rep" sys_share_reg "$CPU_SYS_SHARE"

  # highest sustained rates
  log "  $tag: max call rate"
  local mc mr
  find_max call "$PROXY_PORT" "$CALL_RAMP_START"; mc=$FOUND
  record "$kind" "$rep" max_calls "$mc"
  record "$kind" "$rep" cpu_per_1k_calls_at_max "$FOUND_CPU"
  log "  $tag: max REGISTER rate"
  find_max register "$PROXY_PORT" "$REG_RAMP_START"; mr=$FOUND
  record "$kind" "$rep" max_reg "$mr"

  # added latency at half the max call rate: through the proxy, then directly at the same rate
  local half n pp50 pp99 dp50 dp99
  half=$(((mc / 2 + 25) / 50 * 50)); ((half < 100)) && half=100
  n=$((half * LAT_S))
  # on an idle proxy: the REGISTER ramp just before leaves sipedge's capture writer a backlog to work off
  settle "$tag" "the latency run"; record "$kind" "$rep" settle_s_lat "$SETTLED_S"
  local d0 d1 g0 g1 t0 t1
  for attempt in 1 2; do
    UAS_DIED=0
    [[ $kind == sipedge* ]] && d0=$(delay_counts)
    g0=$(cpu_busy "$GEN_CPU"); t0=$(date +%s.%N)
    uac lat-proxy "$PROXY_PORT" --scenario call --rate "$half" --count "$n" --max-inflight 5000 --timeout-ms 4000 \
      --burst-ms "$LAT_BURST_MS"
    g1=$(cpu_busy "$GEN_CPU"); t1=$(date +%s.%N)
    [[ $kind == sipedge* ]] && d1=$(delay_counts)
    ((UAS_DIED)) || break
  done
  step_ok "$LAST_JSON" "$half" || note "$tag: latency run through the proxy at $half/s had failures or fell behind"
  pp50=$(jlat "$LAST_JSON" invite p50); pp99=$(jlat "$LAST_JSON" invite p99)
  record "$kind" "$rep" gen_busy_lat "$(awk -v g="$((g1 - g0))" -v a="$t0" -v b="$t1" -v hz="$HZ" 'BEGIN { printf "%.2f", g / ((b - a) * hz) }')"
  if [[ $kind == sipedge* ]]; then
    record "$kind" "$rep" resid_p50_us "$(delay_pct "$d0" "$d1" 50)"
    record "$kind" "$rep" resid_p99_us "$(delay_pct "$d0" "$d1" 99)"
  fi
  for attempt in 1 2; do
    UAS_DIED=0
    uac lat-direct direct --scenario call --rate "$half" --count "$n" --max-inflight 5000 --timeout-ms 4000 \
      --burst-ms "$LAT_BURST_MS"
    ((UAS_DIED)) || break
  done
  dp50=$(jlat "$LAST_JSON" invite p50); dp99=$(jlat "$LAST_JSON" invite p99)
  record "$kind" "$rep" lat_rate "$half"
  record "$kind" "$rep" proxy_p50_us "${pp50:-nan}"
  record "$kind" "$rep" proxy_p99_us "${pp99:-nan}"
  record "$kind" "$rep" add_p50_us "$(awk -v a="${pp50:-nan}" -v b="${dp50:-nan}" 'BEGIN { print a - b }')"
  record "$kind" "$rep" add_p99_us "$(awk -v a="${pp99:-nan}" -v b="${dp99:-nan}" 'BEGIN { print a - b }')"

  kill -0 "$PROXY_PID" 2>/dev/null || note "$tag: the proxy died during the block (see its log)"
  stop_proxy
  local nz
  nz=$(noise_end)
  record "$kind" "$rep" foreign_cpu0 "${nz% *}"
  record "$kind" "$rep" foreign_cpu1 "${nz#* }"
  log "  $tag done: calls/s max $mc, REGISTER/s max $mr, foreign load cpu$PROXY_CPU/cpu$GEN_CPU $nz"
}

direct_block() {  # the generator's own ceiling, uac -> uas without a proxy
  local rep=$1
  ensure_uas
  log "  direct-r$rep: generator ceiling"
  noise_begin
  find_max call direct $((CALL_RAMP_START * 4)); record direct "$rep" max_calls "$FOUND"
  find_max register direct $((REG_RAMP_START * 4)); record direct "$rep" max_reg "$FOUND"
  local nz
  nz=$(noise_end)
  record direct "$rep" foreign_cpu0 "${nz% *}"
  record direct "$rep" foreign_cpu1 "${nz#* }"
}

# ------------------------------------------------------------------------------------------------ run
if [[ -z $SE_EXTRA ]]; then
  # Does this sipedge have capture ([capture] enabled, on in the shipped config)? Ask its own config check.
  UAS_PORT=5080 write_sipedge_config "$WORK/probe.toml" 1 >/dev/null
  if "$SIPEDGE" --check-config "$WORK/probe.toml" >"$WORK/logs/check-config.log" 2>&1; then
    AUTO_CAPTURE=1
    FEATURES="sipedge with capture on (\`[capture] enabled = true\`, as shipped); caller-ID: not configured (add it in \`tools/bench/sipedge-features.toml\`, which replaces the automatic capture section)"
  else
    FEATURES="sipedge with its default pipeline only: this build has no capture (\`[capture]\` rejected by --check-config) and no caller-ID; once they exist the script turns capture on by itself, or put their config in \`tools/bench/sipedge-features.toml\`"
  fi
fi
if [[ -n $REV ]]; then
  COMMIT="$REV_SHA (built from git archive, clean)"
else
  COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] && COMMIT="$COMMIT (+ uncommitted changes in the work tree)"
fi
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
T_START=$(date +%s)
log "sipedge benchmark: $REPEATS repeat(s), proxies: $PROXIES + direct, quick=$QUICK, work dir $WORK"
log "$FEATURES"
: >"$WORK/gen_cpu.txt"
for ((rep = 1; rep <= REPEATS; rep++)); do
  log "repeat $rep/$REPEATS"
  for kind in $PROXIES; do block "$kind" "$rep"; done
  direct_block "$rep"
done
ELAPSED=$(($(date +%s) - T_START))

# ------------------------------------------------------------------------------------------------ report
stat_of() {       # stat_of PROXY METRIC [DECIMALS]: "median [min–max]" over repeats
  awk -F'\t' -v p="$1" -v m="$2" -v d="${3:-0}" '
    $1 == p && $3 == m && $4 != "nan" && $4 != "" { v[n++] = $4 + 0 }
    END {
      if (n == 0) { print "–"; exit }
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      med = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
      f = "%." d "f"
      if (n == 1) printf f "\n", med
      else printf f " [" f "–" f "]\n", med, v[0], v[n - 1]
    }' "$RES"
}
median_of() {
  awk -F'\t' -v p="$1" -v m="$2" '$1 == p && $3 == m && $4 != "nan" && $4 != "" { v[n++] = $4 + 0 }
    END { if (n == 0) { print "nan"; exit }
          for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
          print (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }' "$RES"
}
# derived per-repeat metrics: calls and REGISTERs per proxy-CPU-second
awk -F'\t' -v OFS='\t' '$3 == "cpu_per_1k_calls" && $4 > 0 { print $1, $2, "calls_per_cpu_s", 1000 / $4 }
                        $3 == "cpu_per_1k_calls_at_max" && $4 > 0 { print $1, $2, "calls_per_cpu_s_at_max", 1000 / $4 }
                        $3 == "cpu_per_1k_reg" && $4 > 0 { print $1, $2, "reg_per_cpu_s", 1000 / $4 }' "$RES" >>"$RES"

label() { case "$1" in sipedge) echo "sipedge (workers=$SE_WORKERS)";; sipedge-base) echo "sipedge @ $BASE_SHA (base)";; kam-stateful) echo "Kamailio stateful (tm)";;
                       kam-stateless) echo "Kamailio stateless";; direct) echo "direct uac→uas (no proxy)";; esac; }

# automatic sanity notes
DIRECT_MC=$(median_of direct max_calls); DIRECT_MR=$(median_of direct max_reg)
for kind in $PROXIES; do
  mc=$(median_of "$kind" max_calls); mr=$(median_of "$kind" max_reg)
  awk -v a="$mc" -v b="$DIRECT_MC" 'BEGIN { exit !(b > 0 && a >= 0.9 * b) }' &&
    note "$kind: max call rate $mc/s is ≥ 90 % of the generator's own ceiling ($DIRECT_MC/s): generator-bound, the proxy's real maximum is higher"
  awk -v a="$mr" -v b="$DIRECT_MR" 'BEGIN { exit !(b > 0 && a >= 0.9 * b) }' &&
    note "$kind: max REGISTER rate $mr/s is ≥ 90 % of the generator's own ceiling ($DIRECT_MR/s): generator-bound"
  for m in max_calls max_reg cpu_per_1k_calls cpu_per_1k_reg; do
    awk -F'\t' -v p="$kind" -v m="$m" '$1 == p && $3 == m && $4 > 0 { if (!n++ || $4 < lo) lo = $4; if ($4 > hi) hi = $4 }
      END { exit !(n > 1 && hi > 1.5 * lo) }' "$RES" && note "$kind: $m varies by more than 1.5× between repeats (noise)"
  done
  awk -F'\t' -v p="$kind" '$1 == p && $3 ~ /^add_p(50|99)_us$/ && $4 < 0 { f = 1 } END { exit !f }' "$RES" &&
    note "$kind: a negative added latency (through-proxy faster than direct) in some repeat: noise of this size is below what the method resolves"
  awk -F'\t' -v p="$kind" '$1 == p && $3 ~ /^foreign_cpu/ && $4 > 0.10 { f = 1 } END { exit !f }' "$RES" &&
    note "$kind: other processes used > 10 % of a benchmark CPU during some block (see foreign load in the raw table)"
done

report() {
  echo "## sipedge vs Kamailio — $DATE"
  echo
  echo "- commit: \`$COMMIT\`; sipedge $("$SIPEDGE" --version 2>/dev/null | awk '{print $2}'); $(kamailio -v 2>/dev/null | awk 'NR == 1 {print $2, $3}')"
  echo "- machine: $(nproc) CPUs, $CPU_MODEL, kernel $(uname -r); proxy pinned to CPU $PROXY_CPU, sipbench uac+uas to CPU $GEN_CPU"
  echo "- $FEATURES"
  echo "- Kamailio: \`-n 1\` (one UDP worker) + its timer/main processes, all pinned; \`-m $KAM_SHM -M $KAM_PKG\`; CPU and PSS summed over the whole process tree"
  echo "- run: $REPEATS repeat(s) interleaved$( ((QUICK)) && echo ' (**--quick smoke run: short steps, not for comparison**)'), $((ELAPSED / 60)) min $((ELAPSED % 60)) s; CPU at $CPU_CALL_RATE calls/s × ${CPU_S} s and $CPU_REG_RATE REGISTER/s × ${CPU_S} s; max-rate steps ${STEP_S} s with ${STEP_TIMEOUT_MS} ms transaction timeout; memory with $MEM_N registrations / held calls"
  echo "- cells: median [min–max] over repeats; max rates are the rates the generator achieved in the highest step with < 0.1 % failures"
  echo
  echo "| proxy | CPU-s / 1000 calls | calls / CPU-s | calls / CPU-s at max rate | CPU-s / 1000 REG | REG / CPU-s | max calls/s | max REG/s | INVITE p50 / p99 added (µs) at ½ max | PSS / 10k reg (KiB) | PSS / 10k dialogs (KiB) | PSS at start (MiB) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  local kind
  for kind in $PROXIES; do
    echo "| $(label "$kind") | $(stat_of "$kind" cpu_per_1k_calls 3) | $(stat_of "$kind" calls_per_cpu_s) | $(stat_of "$kind" calls_per_cpu_s_at_max) | $(stat_of "$kind" cpu_per_1k_reg 4) | $(stat_of "$kind" reg_per_cpu_s) | $(stat_of "$kind" max_calls) | $(stat_of "$kind" max_reg) | $(stat_of "$kind" add_p50_us) / $(stat_of "$kind" add_p99_us) | $(stat_of "$kind" pss_per_10k_reg) | $(stat_of "$kind" pss_per_10k_dlg) | $(stat_of "$kind" base_pss_mib 1) |"
  done
  echo "| $(label direct) | | | | | | $(stat_of direct max_calls) | $(stat_of direct max_reg) | | | | |"
  echo
  echo "Latency runs at ½ max (catch-up limit ${LAT_BURST_MS} ms): how busy the generator's CPU was, and sipedge's own UDP"
  echo "forwarding delay (arrival in the kernel -> its receive round's output sent; \`sipedge-ctl stats\`) over the run"
  echo
  echo "| proxy | calls/s | INVITE p50 / p99 via proxy (µs) | added p50 / p99 (µs) | generator CPU busy | proxy's own forwarding delay p50 / p99 (µs) |"
  echo "|---|---|---|---|---|---|"
  for kind in $PROXIES; do
    local own="–"
    [[ $kind == sipedge* ]] && own="$(stat_of "$kind" resid_p50_us) / $(stat_of "$kind" resid_p99_us)"
    echo "| $(label "$kind") | $(stat_of "$kind" lat_rate) | $(stat_of "$kind" proxy_p50_us) / $(stat_of "$kind" proxy_p99_us) | $(stat_of "$kind" add_p50_us) / $(stat_of "$kind" add_p99_us) | $(stat_of "$kind" gen_busy_lat 2) | $own |"
  done
  echo
  if [[ " $PROXIES " == *" sipedge "* ]]; then
    echo "Ratios (medians): sipedge ÷ Kamailio"
    echo
    echo "| | vs Kamailio stateful | vs Kamailio stateless |"
    echo "|---|---|---|"
    local m lbl
    for m in calls_per_cpu_s calls_per_cpu_s_at_max reg_per_cpu_s max_calls max_reg; do
      case $m in calls_per_cpu_s) lbl="calls per proxy-CPU-second";;
                 calls_per_cpu_s_at_max) lbl="calls per proxy-CPU-second at the max rate";; reg_per_cpu_s) lbl="REGISTERs per proxy-CPU-second";;
                 max_calls) lbl="max calls/s";; max_reg) lbl="max REGISTER/s";; esac
      local s a b
      s=$(median_of sipedge $m); a=$(median_of kam-stateful $m); b=$(median_of kam-stateless $m)
      echo "| $lbl | $(awk -v s="$s" -v k="$a" 'BEGIN { if (s != "nan" && k != "nan" && k > 0) printf "%.2f×", s / k; else print "–" }') | $(awk -v s="$s" -v k="$b" 'BEGIN { if (s != "nan" && k != "nan" && k > 0) printf "%.2f×", s / k; else print "–" }') |"
    done
    echo
  fi
  ((UAS_RESTARTS)) && echo "The PBX stand-in (sipbench uas) was found dead $UAS_RESTARTS time(s) and restarted; the affected steps were repeated." && echo
  if [[ -s $NOTES ]]; then
    echo "Automatic notes:"
    echo
    sed 's/^/- /' "$NOTES"
    echo
  fi
  echo "<details><summary>Raw values per repeat</summary>"
  echo
  echo "| proxy | repeat | CPU-s/1k calls (sys share) | CPU-s/1k REG (sys share) | max calls/s | max REG/s | latency rate | INVITE p50/p99 via proxy (µs) | added p50/p99 (µs) | generator busy | own delay p50/p99 (µs) | PSS/10k reg | PSS/10k dlg | foreign load cpu$PROXY_CPU / cpu$GEN_CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' '{ k = $1 SUBSEP $2; if (!(k in seen)) { seen[k] = 1; order[n++] = k } v[k, $3] = $4 }
    function g(k, m) { return ((k, m) in v) ? v[k, m] : "" }
    END { for (i = 0; i < n; i++) { k = order[i]; split(k, a, SUBSEP)
      printf "| %s | %s | %s (%s) | %s (%s) | %s | %s | %s | %s / %s | %s / %s | %s | %s / %s | %s | %s | %s / %s |\n", a[1], a[2],
        g(k, "cpu_per_1k_calls"), g(k, "sys_share_calls"), g(k, "cpu_per_1k_reg"), g(k, "sys_share_reg"), g(k, "max_calls"), g(k, "max_reg"), g(k, "lat_rate"),
        g(k, "proxy_p50_us"), g(k, "proxy_p99_us"), g(k, "add_p50_us"), g(k, "add_p99_us"), g(k, "gen_busy_lat"), g(k, "resid_p50_us"), g(k, "resid_p99_us"),
        g(k, "pss_per_10k_reg"), g(k, "pss_per_10k_dlg"), g(k, "foreign_cpu0"), g(k, "foreign_cpu1") } }' "$RES"
  echo
  echo "</details>"
}

REPORT=$(report)
printf '%s\n' "$REPORT"
if [[ -n $OUT ]]; then printf '%s\n' "$REPORT" >"$OUT" && log "report written to $OUT"; fi
((KEEP)) && cp "$RES" "$WORK/results-final.tsv"

# ------------------------------------------------------------------------------------------------ profile
if ((PROFILE)); then
  if ! command -v perf >/dev/null; then
    log "--profile: perf not installed, skipped"
  else
    ensure_uas
    start_proxy sipedge profile
    for sc in call register; do
      r=$CPU_CALL_RATE; [[ $sc == register ]] && r=$CPU_REG_RATE
      perf record -e cpu-clock -F 4999 -g -p "$PROXY_PID" -o "$WORK/perf-$sc.data" -- sleep 6 >/dev/null 2>&1 &
      ppid=$!
      BG_PIDS+=("$ppid")
      sleep 0.3
      uac "profile-$sc" "$PROXY_PORT" --scenario "$sc" --rate "$r" --count $((r * 5)) --users 10000 --timeout-ms 4000
      wait "$ppid" 2>/dev/null
      echo
      echo "### perf: sipedge, $sc at $r/s (self time by library, then the top 30 symbols)"
      echo
      echo '```'
      perf report -i "$WORK/perf-$sc.data" --no-children --sort dso -g none --stdio 2>/dev/null |
        grep -E '^ +[0-9]+\.[0-9]+%' | sed -E 's/[[:space:]]+$//' | head -8
      echo
      perf report -i "$WORK/perf-$sc.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
        grep -E '^ +[0-9]+\.[0-9]+%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//; s/  +/  /g' | head -30
      echo '```'
    done
    stop_proxy
  fi
fi
