#!/usr/bin/env bash
# End-to-end check of sipbench against itself on 127.0.0.1: starts a UAS on port 0, reads its port, runs
# bounded UAC scenarios (calls, REGISTERs, OPTIONS) and fails on any failed transaction. The UAS is
# stopped by PID, and always cleaned up, however the script exits.
# usage: loopback.sh PATH_TO_SIPBENCH
set -euo pipefail

sipbench=${1:?usage: loopback.sh PATH_TO_SIPBENCH}
work=$(mktemp -d)
uas_pid=""

cleanup() {
  if [[ -n $uas_pid ]] && kill -0 "$uas_pid" 2>/dev/null; then
    kill -TERM "$uas_pid" 2>/dev/null || true
    wait "$uas_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --duration is a backstop: the UAS ends by itself even if this script is killed before its trap runs.
"$sipbench" uas --listen 127.0.0.1:0 --workers 2 --duration 120 >"$work/uas.out" 2>"$work/uas.err" &
uas_pid=$!

port=""
for _ in $(seq 50); do  # up to 5 s for the "listening udp HOST PORT" line
  if [[ -s $work/uas.out ]]; then
    read -r word proto _host p <"$work/uas.out" || true
    if [[ ${word:-} == listening && ${proto:-} == udp ]]; then
      port=$p
      break
    fi
  fi
  if ! kill -0 "$uas_pid" 2>/dev/null; then
    echo "loopback: uas exited early:" >&2
    cat "$work/uas.err" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z $port ]]; then
  echo "loopback: uas did not report its port" >&2
  exit 1
fi
echo "loopback: uas on 127.0.0.1:$port (pid $uas_pid)"

uac() {
  local name=$1
  shift
  echo "loopback: uac $name"
  timeout 60 "$sipbench" uac --target "127.0.0.1:$port" --timeout-ms 5000 --json "$work/$name.json" "$@"
  # The exit code already says "no failures"; check the JSON agrees, so the report format is exercised too.
  grep -q '"failed": 0,' "$work/$name.json"
}

uac call --count 200 --scenario call --rate 2000 --workers 2 --hold-ms 20
uac register --count 1000 --scenario register --users 100 --rate 5000
uac options --count 200 --scenario options
uac burst --count 2000 --scenario call --max-inflight 200

kill -TERM "$uas_pid"
wait "$uas_pid"
uas_pid=""
cat "$work/uas.out"
# 200 + 2000 calls: each INVITE, ACK and BYE must have reached the UAS.
grep -Eq '^  INVITE +2200$' "$work/uas.out"
grep -Eq '^  REGISTER +1000$' "$work/uas.out"
echo "loopback: ok"
