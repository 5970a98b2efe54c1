#!/usr/bin/env bash
# Capture on versus off, in one run, interleaved: REGISTERs through sipedge (1 worker; the whole process,
# writer thread included, pinned to CPU 0) from sipbench (uac + uas pinned to CPU 1), at the highest rate the
# generator reaches in a bounded burst. Two loads:
#   refresh  20,000 phones, each registered once before the measured burst (same source port), registering
#            again and again: the steady state, every REGISTER refreshes a binding the store already holds
#   new      every REGISTER from a user never seen before (worst case: every one writes a new IP-log row and
#            a new device row)
# Prints, per load and mode, the achieved REGISTER rate and proxy CPU-seconds per 1000 REGISTERs (the whole
# process, then the worker thread and the writer thread alone, from /proc/PID/task), medians and [min-max]
# over the repeats, and the cost of capture as a ratio.
#   bash tools/bench/capture.sh [--repeats N] [--seconds S] [--build-dir DIR] [--loads "refresh new"]
set -euo pipefail
repeats=3 seconds=5 build=build loads="refresh new"
while [ $# -gt 0 ]; do
  case $1 in
    --repeats) repeats=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --loads) loads=$2; shift 2 ;;
    *) echo "usage: $0 [--repeats N] [--seconds S] [--build-dir DIR] [--loads \"refresh new\"]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/../.."
se=$build/proxy/sipedge sb=$build/tools/sipbench/sipbench
[ -x "$se" ] && [ -x "$sb" ] || { echo "build first: $se and $sb are needed" >&2; exit 2; }
work=$(mktemp -d /tmp/sipedge-capbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

taskset -c 1 "$sb" uas --listen 127.0.0.2:0 >"$work/uas.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/uas.out" ] && break; sleep 0.1; done
pbx_port=$(awk '/^listening/{print $4; exit}' "$work/uas.out")

# utime+stime in clock ticks of the whole process, then of its threads named se-worker-* and se-writer
cpu_of() {
  local all w=0 r=0 t
  all=$(awk '{print $14+$15}' "/proc/$1/stat")
  for t in /proc/"$1"/task/*; do
    case $(cat "$t/comm" 2>/dev/null) in
      se-worker-*) w=$((w + $(awk '{print $14+$15}' "$t/stat"))) ;;
      se-writer) r=$((r + $(awk '{print $14+$15}' "$t/stat"))) ;;
    esac
  done
  echo "$all $w $r"
}
hz=$(getconf CLK_TCK)

run_one() {   # load mode -> "rate cpu_per_1000 worker_cpu_per_1000 writer_cpu_per_1000"
  local load=$1 mode=$2 dir=$work/$1-$2-$RANDOM users=20000
  [ "$load" = new ] && users=100000000
  mkdir -p "$dir"
  cat >"$dir/se.toml" <<TOML
[server]
workers = 1
data_dir = "$dir/data"
log_level = "warn"
[[listen]]
transport = "udp"
address = "127.0.0.1"
port = 0
[internal]
address = "127.0.0.1"
port_base = 0
[pbx]
targets = ["udp:127.0.0.2:$pbx_port"]
[capture]
enabled = $mode
TOML
  taskset -c 0 "$se" --config "$dir/se.toml" --ready-file "$dir/ready" >"$dir/se.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 50); do [ -s "$dir/ready" ] && break; sleep 0.1; done
  local port
  port=$(awk '$1=="listen" && $2=="udp"{print $4; exit}' "$dir/ready")
  local a0 w0 r0 a1 w1 r1 lport=$((20000 + RANDOM % 30000))
  if [ "$load" = refresh ]; then   # every phone known before the measurement starts
    taskset -c 1 "$sb" uac --target "127.0.0.1:$port" --local-port "$lport" --scenario register --users "$users" \
      --count "$users" --max-inflight 400 --timeout-ms 2000 >/dev/null 2>&1 || true
  fi
  read -r a0 w0 r0 < <(cpu_of "$pid")
  taskset -c 1 "$sb" uac --target "127.0.0.1:$port" --local-port "$lport" --scenario register --users "$users" \
    --duration "$seconds" --max-inflight 400 --timeout-ms 2000 --json "$dir/r.json" >/dev/null 2>&1 || true
  read -r a1 w1 r1 < <(cpu_of "$pid")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  local ok rate
  ok=$(grep -o '"succeeded": *[0-9]*' "$dir/r.json" | head -1 | grep -o '[0-9]*$')
  rate=$(grep -o '"success_rate": *[0-9.]*' "$dir/r.json" | head -1 | grep -o '[0-9.]*$')
  awk -v ok="$ok" -v r="$rate" -v a="$((a1 - a0))" -v w="$((w1 - w0))" -v x="$((r1 - r0))" -v hz="$hz" \
    'BEGIN{k=ok/1000; printf "%.0f %.4f %.4f %.4f\n", r, (a/hz)/k, (w/hz)/k, (x/hz)/k}'
}

med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s [%s-%s]", m, a[1], a[NR]}'; }
medv() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

declare -A res   # "load mode field" -> space-separated values over the repeats
for r in $(seq "$repeats"); do
  for load in $loads; do
    for mode in true false; do
      read -r rate cpu wcpu xcpu < <(run_one "$load" $mode)
      echo "repeat $r load=$load capture=$mode: $rate REG/s, $cpu CPU-s/1000 REG (worker $wcpu, writer $xcpu)" >&2
      res[$load $mode rate]+="$rate "; res[$load $mode cpu]+="$cpu "
      res[$load $mode wcpu]+="$wcpu "; res[$load $mode xcpu]+="$xcpu "
    done
  done
done

echo "| load | capture | REG/s (1 worker, writer on the same core) | proxy CPU-s / 1000 REG | worker thread | writer thread |"
echo "|---|---|---|---|---|---|"
for load in $loads; do
  for mode in true false; do
    # shellcheck disable=SC2086
    echo "| $load | $([ $mode = true ] && echo on || echo off) | $(med ${res[$load $mode rate]}) | $(med ${res[$load $mode cpu]}) | $(med ${res[$load $mode wcpu]}) | $(med ${res[$load $mode xcpu]}) |"
  done
done
for load in $loads; do
  # shellcheck disable=SC2086
  awk -v l="$load" -v a="$(medv ${res[$load true rate]})" -v b="$(medv ${res[$load false rate]})" \
    -v c="$(medv ${res[$load true cpu]})" -v d="$(medv ${res[$load false cpu]})" \
    'BEGIN{printf "%s: capture costs %.1f%% of throughput (rate on/off = %.3f) and %.1f%% more CPU per REGISTER\n", l, (1-a/b)*100, a/b, (c/d-1)*100}'
done
