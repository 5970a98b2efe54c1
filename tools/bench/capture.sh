#!/usr/bin/env bash
# Capture on versus off, in one run, interleaved: REGISTERs through sipedge (1 worker; the whole process,
# writer thread included, pinned to CPU 0) from sipbench (uac + uas pinned to CPU 1), at the highest rate the
# generator reaches in a bounded burst. Prints the achieved REGISTER rate and proxy CPU-seconds per 1000
# REGISTERs for each mode, medians and [min-max] over the repeats, and the cost of capture as a ratio.
#   bash tools/bench/capture.sh [--repeats N] [--seconds S] [--build-dir DIR]
set -euo pipefail
repeats=3 seconds=5 build=build
while [ $# -gt 0 ]; do
  case $1 in
    --repeats) repeats=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    *) echo "usage: $0 [--repeats N] [--seconds S] [--build-dir DIR]" >&2; exit 2 ;;
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

cpu_of() { awk '{print $14+$15}' "/proc/$1/stat"; }   # utime+stime in clock ticks, all threads
hz=$(getconf CLK_TCK)

run_one() {   # mode -> "rate cpu_per_1000"
  local mode=$1 dir=$work/$1-$RANDOM
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
  local c0
  c0=$(cpu_of "$pid")
  taskset -c 1 "$sb" uac --target "127.0.0.1:$port" --scenario register --users 20000 --duration "$seconds" \
    --max-inflight 400 --timeout-ms 2000 --json "$dir/r.json" >/dev/null 2>&1 || true
  local c1
  c1=$(cpu_of "$pid")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  local ok rate
  ok=$(grep -o '"succeeded": *[0-9]*' "$dir/r.json" | head -1 | grep -o '[0-9]*$')
  rate=$(grep -o '"success_rate": *[0-9.]*' "$dir/r.json" | head -1 | grep -o '[0-9.]*$')
  awk -v ok="$ok" -v r="$rate" -v c="$((c1 - c0))" -v hz="$hz" \
    'BEGIN{printf "%.0f %.4f\n", r, (c/hz)/(ok/1000)}'
}

declare -a on_rate on_cpu off_rate off_cpu
for r in $(seq "$repeats"); do
  for mode in true false; do
    read -r rate cpu < <(run_one $mode)
    echo "repeat $r capture=$mode: $rate REG/s, $cpu CPU-s/1000 REG" >&2
    if [ $mode = true ]; then on_rate+=("$rate"); on_cpu+=("$cpu"); else off_rate+=("$rate"); off_cpu+=("$cpu"); fi
  done
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s [%s-%s]", m, a[1], a[NR]}'; }
medv() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
echo "| capture | REG/s (1 worker, writer on the same core) | proxy CPU-s / 1000 REG |"
echo "|---|---|---|"
echo "| on | $(med "${on_rate[@]}") | $(med "${on_cpu[@]}") |"
echo "| off | $(med "${off_rate[@]}") | $(med "${off_cpu[@]}") |"
awk -v a="$(medv "${on_rate[@]}")" -v b="$(medv "${off_rate[@]}")" -v c="$(medv "${on_cpu[@]}")" -v d="$(medv "${off_cpu[@]}")" \
  'BEGIN{printf "capture costs %.1f%% of throughput (rate on/off = %.3f) and %.1f%% more CPU per REGISTER\n", (1-a/b)*100, a/b, (c/d-1)*100}'
