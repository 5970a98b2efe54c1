#!/usr/bin/env bash
# Real-peer integration test for sipedge (issue 2): two Net::SIP phones and Kamailio as the PBX/registrar.
#
#   call_flow.sh SIPEDGE_BINARY udp|tcp        through sipedge (the ctest mode)
#   call_flow.sh --direct udp|tcp              phones talk to Kamailio directly (proves the peers, no sipedge)
#
# Through sipedge the flow is
#   round 1: B registers, A registers; A calls B:  A -> sipedge -> Kamailio (phone -> PBX)
#            -> sipedge via the Path stored at registration -> B (PBX -> phone); B answers, A hangs up.
#   round 2: the same with the roles swapped, the callee hanging up (BYE in the other direction) and both phones
#            putting ";rport" on their Via (RFC 3581), as hardware phones do.
# Every step is asserted on the phones' "EVENT ..." lines and exit codes; Kamailio's log must show the Path that
# sipedge added. On failure the logs of every process (and the phones' full SIP traces) are printed.
#
# Environment:
#   KEEP_TMP=1        keep the temp dir (printed at the end) even on success
#   CAPTURE=0         do not run tshark even when it is installed (default: capture if tshark exists)
#   PHONE_DEBUG=N     Net::SIP debug level for the phones' stderr traces (default 5 = full packets)
#   SIPEDGE_LOG_LEVEL log_level written to the sipedge config (default debug)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
peers=$(cd "$here/../peers" && pwd)

direct=0
args=()
for a in "$@"; do
  case "$a" in
    --direct) direct=1 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done
if [[ $direct -eq 1 ]]; then
  [[ ${#args[@]} -ge 1 ]] || { echo "usage: $0 --direct udp|tcp" >&2; exit 2; }
  sipedge_bin=""
  transport=${args[-1]}
else
  [[ ${#args[@]} -eq 2 ]] || { echo "usage: $0 SIPEDGE_BINARY udp|tcp   (or: $0 --direct udp|tcp)" >&2; exit 2; }
  sipedge_bin=${args[0]}
  transport=${args[1]}
  [[ -x $sipedge_bin ]] || { echo "sipedge binary '$sipedge_bin' is not executable" >&2; exit 2; }
fi
case "$transport" in udp|tcp) ;; *) echo "transport must be udp or tcp, not '$transport'" >&2; exit 2 ;; esac

for tool in kamailio perl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (run tools/setup.sh)" >&2; exit 2; }
done
perl -MNet::SIP -e 1 2>/dev/null || { echo "missing Net::SIP (Debian package libnet-sip-perl)" >&2; exit 2; }

PBX_IP=127.0.0.2
PHONE_IP=127.0.0.1
DOMAIN=pbx.test
PHONE_DEBUG=${PHONE_DEBUG:-5}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sipedge-it-$transport.XXXXXX")
pids=()          # every process started here, stopped by PID in cleanup
failed=0
step="setup"

log() { printf '[call_flow %s %s] %s\n' "$(date +%H:%M:%S.%3N)" "$transport" "$*"; }

dump_logs() {
  local f
  for f in "$tmp"/*.log "$tmp"/*.err "$tmp"/*.toml "$tmp"/ready; do
    [[ -f $f ]] || continue
    echo "================================================================ $f"
    cat "$f"
  done
  if [[ -f $tmp/capture.pcap ]] && command -v tshark >/dev/null; then
    echo "================================================================ SIP capture ($tmp/capture.pcap)"
    tshark -r "$tmp/capture.pcap" -Y sip -V -O sip 2>/dev/null | grep -v '^\s*$' | head -4000 || true
  fi
}

stop_pid() {   # stop one process we started: SIGTERM, wait up to 3 s, then SIGKILL
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop on SIGTERM, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

forget_pid() {   # a child we have reaped: never signal its (possibly reused) PID again
  local p keep=()
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
}

cleanup() {
  local rc=$?
  set +e
  local i
  for (( i=${#pids[@]}-1; i>=0; i-- )); do stop_pid "${pids[$i]}"; done
  if [[ $rc -ne 0 || $failed -ne 0 ]]; then
    echo "call_flow ($transport, $([[ $direct -eq 1 ]] && echo direct || echo via sipedge)) FAILED at step: $step"
    dump_logs
    echo "logs kept in $tmp"
  elif [[ ${KEEP_TMP:-0} == 1 ]]; then
    echo "logs kept in $tmp"
  else
    rm -rf "$tmp"
  fi
  [[ $rc -ne 0 ]] && exit "$rc"
  [[ $failed -ne 0 ]] && exit 1
  exit 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { step="$step: $*"; log "FAIL: $*"; failed=1; exit 1; }

# A port free for both UDP and TCP on the given address (the kernel picks it; tiny race accepted).
free_port() {
  perl -MIO::Socket::INET -e '
    my $ip = shift;
    for (1..50) {
      my $t = IO::Socket::INET->new(Proto=>"tcp", LocalAddr=>$ip, LocalPort=>0, Listen=>1, ReuseAddr=>1) or next;
      my $p = $t->sockport;
      my $u = IO::Socket::INET->new(Proto=>"udp", LocalAddr=>$ip, LocalPort=>$p) or next;
      print "$p\n"; exit 0;
    }
    exit 1;' "$1"
}

wait_for_line() {   # file, regex, timeout seconds, pid that must stay alive (optional)
  local file=$1 re=$2 secs=$3 pid=${4:-} i
  for (( i=0; i<secs*10; i++ )); do
    grep -Eq "$re" "$file" 2>/dev/null && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      grep -Eq "$re" "$file" 2>/dev/null && return 0
      return 1
    fi
    sleep 0.1
  done
  return 1
}

expect_event() {    # log file, event regex (after "EVENT ")
  grep -Eq "^EVENT $2( |\$)" "$1" || fail "$(basename "$1"): no 'EVENT $2'"
}

# ---------------------------------------------------------------------------------------------- capture
if [[ ${CAPTURE:-1} != 0 ]] && command -v tshark >/dev/null; then
  tshark -q -i lo -f "host $PBX_IP or host $PHONE_IP" -w "$tmp/capture.pcap" >"$tmp/tshark.err" 2>&1 &
  pids+=($!)
  sleep 1   # let dumpcap open the interface
fi

# ---------------------------------------------------------------------------------------------- Kamailio
step="start kamailio"
kam_port=$(free_port "$PBX_IP") || fail "no free port on $PBX_IP"
mkdir -p "$tmp/kamailio"
log "starting Kamailio on $PBX_IP:$kam_port (udp+tcp)"
kamailio -DD -E -f "$peers/kamailio-registrar.cfg" \
  -A "PBX_IP=$PBX_IP" -A "PBX_PORT=$kam_port" \
  -Y "$tmp/kamailio" -P "$tmp/kamailio/kamailio.pid" -w "$tmp/kamailio" \
  -m 64 -M 8 >"$tmp/kamailio.log" 2>&1 &
kam_pid=$!
pids+=("$kam_pid")
perl "$peers/sip_options.pl" --quiet --transport "$transport" --tries 50 --interval-ms 100 "$PBX_IP:$kam_port" \
  || { kill -0 "$kam_pid" 2>/dev/null || fail "Kamailio exited at start (see kamailio.log)"
       fail "Kamailio does not answer OPTIONS on $transport:$PBX_IP:$kam_port"; }
kill -0 "$kam_pid" 2>/dev/null || fail "Kamailio exited"
log "Kamailio answers OPTIONS (pid $kam_pid)"

# ---------------------------------------------------------------------------------------------- sipedge
if [[ $direct -eq 1 ]]; then
  proxy_host=$PBX_IP
  proxy_port=$kam_port
else
  step="start sipedge"
  mkdir -p "$tmp/data"
  cat >"$tmp/sipedge.toml" <<EOF
# written by tests/integration/call_flow.sh
[server]
workers = 2
data_dir = "$tmp/data"
log_level = "${SIPEDGE_LOG_LEVEL:-debug}"

[[listen]]
transport = "udp"
address = "$PHONE_IP"
port = 0

[[listen]]
transport = "tcp"
address = "$PHONE_IP"
port = 0

[internal]
address = "$PHONE_IP"
port_base = 0

[pbx]
targets = ["$transport:$PBX_IP:$kam_port"]
ping_interval_ms = 500
EOF
  log "starting sipedge: $sipedge_bin --config $tmp/sipedge.toml --ready-file $tmp/ready"
  "$sipedge_bin" --config "$tmp/sipedge.toml" --ready-file "$tmp/ready" >"$tmp/sipedge.log" 2>&1 &
  sipedge_pid=$!
  pids+=("$sipedge_pid")
  for (( i=0; i<50; i++ )); do
    [[ -s $tmp/ready ]] && break
    kill -0 "$sipedge_pid" 2>/dev/null || fail "sipedge exited before writing the ready file"
    sleep 0.1
  done
  [[ -s $tmp/ready ]] || fail "sipedge did not write the ready file within 5 s"
  sleep 0.1   # the file may be written line by line
  proxy_host=$PHONE_IP
  proxy_port=$(awk -v tp="$transport" -v ip="$PHONE_IP" '$1=="listen" && $2==tp && $3==ip {print $4; exit}' "$tmp/ready")
  [[ -n $proxy_port ]] || fail "no 'listen $transport $PHONE_IP PORT' line in the ready file"
  log "sipedge (pid $sipedge_pid) listens on $transport:$proxy_host:$proxy_port; ready file:"
  sed 's/^/    /' "$tmp/ready"
  # sipedge answers OPTIONS addressed to itself (phone keep-alive)
  step="OPTIONS to sipedge"
  perl "$peers/sip_options.pl" --transport "$transport" --tries 20 --interval-ms 100 "$proxy_host:$proxy_port" \
    >"$tmp/options-sipedge.log" 2>&1 || fail "sipedge does not answer OPTIONS: $(cat "$tmp/options-sipedge.log")"
  # let the first OPTIONS ping mark the PBX up (ping_interval_ms = 500)
  wait_for_line "$tmp/kamailio.log" 'REQ OPTIONS' 3 "$kam_pid" || log "warning: no OPTIONS ping from sipedge seen at Kamailio yet"
fi

# ---------------------------------------------------------------------------------------------- phones
port_a=$(free_port "$PHONE_IP") || fail "no free port"
port_b=$(free_port "$PHONE_IP") || fail "no free port"
while [[ $port_b == "$port_a" ]]; do port_b=$(free_port "$PHONE_IP"); done

phone() {   # name port log-prefix args...   (always run in a subshell: "phone ... &", so exec makes $! the phone)
  local name=$1 port=$2 prefix=$3; shift 3
  exec perl "$peers/phone.pl" --local "$PHONE_IP:$port" --proxy "$proxy_host:$proxy_port" --transport "$transport" \
    --user "$name" --domain "$DOMAIN" --debug "$PHONE_DEBUG" --timeout 15 "$@" \
    >"$tmp/$prefix.log" 2>"$tmp/$prefix.err"
}

run_round() {   # round callee callee_port caller caller_port callee-extra caller-extra
  local round=$1 callee=$2 cport=$3 caller=$4 rport=$5 callee_extra=$6 caller_extra=$7
  local clog="round$round-$callee-callee" rlog="round$round-$caller-caller"
  step="round $round: $callee registers"
  log "round $round: $callee (port $cport) registers and waits; $caller (port $rport) calls $callee"
  # shellcheck disable=SC2086
  phone "$callee" "$cport" "$clog" $callee_extra --unregister register-and-answer &
  local callee_pid=$!
  pids+=("$callee_pid")
  wait_for_line "$tmp/$clog.log" '^EVENT (registered|register-failed|done)' 12 "$callee_pid" \
    || fail "$callee did not finish registering"
  expect_event "$tmp/$clog.log" registered

  step="round $round: $caller calls $callee"
  local caller_rc=0
  # in the background too, so that a SIGTERM to this script is handled at once (wait is interruptible)
  # shellcheck disable=SC2086
  phone "$caller" "$rport" "$rlog" $caller_extra --unregister --to "$callee" register-and-call &
  local caller_pid=$!
  pids+=("$caller_pid")
  wait "$caller_pid" || caller_rc=$?
  forget_pid "$caller_pid"
  local callee_rc=0
  step="round $round: waiting for $callee to finish"
  local i
  for (( i=0; i<50; i++ )); do kill -0 "$callee_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$callee_pid" 2>/dev/null; then
    log "round $round: $callee still running 5 s after the caller finished; stopping it"
    stop_pid "$callee_pid"
    callee_rc=124
  else
    wait "$callee_pid" || callee_rc=$?
  fi
  forget_pid "$callee_pid"

  step="round $round: checking events"
  log "round $round: $caller exit $caller_rc, $callee exit $callee_rc"
  sed 's/^/    '"$caller"': /' "$tmp/$rlog.log"
  sed 's/^/    '"$callee"': /' "$tmp/$clog.log"
  [[ $caller_rc -eq 0 ]] || fail "$caller ($rlog) exited $caller_rc"
  [[ $callee_rc -eq 0 ]] || fail "$callee ($clog) exited $callee_rc"
  expect_event "$tmp/$rlog.log" registered
  expect_event "$tmp/$rlog.log" answered
  expect_event "$tmp/$clog.log" invite-received
  expect_event "$tmp/$clog.log" answered
  if [[ $caller_extra == *--remote-hangup* ]]; then
    expect_event "$tmp/$clog.log" bye-sent
    expect_event "$tmp/$clog.log" bye-ok
    expect_event "$tmp/$rlog.log" bye-received
  else
    expect_event "$tmp/$rlog.log" bye-sent
    expect_event "$tmp/$rlog.log" bye-ok
    expect_event "$tmp/$clog.log" bye-received
  fi
  expect_event "$tmp/$rlog.log" unregistered
  expect_event "$tmp/$clog.log" unregistered

  # where did the INVITE come from, and which Record-Routes did it carry?
  local inv src rr
  inv=$(grep -m1 '^EVENT invite-received' "$tmp/$clog.log")
  src=$(sed -n 's/.* src=\([^ ]*\).*/\1/p' <<<"$inv")
  rr=$(sed -n 's/.* record_route=\([^ ]*\).*/\1/p' <<<"$inv")
  log "round $round: INVITE reached $callee from $src, Record-Route: $rr"
  [[ $rr == *"$PBX_IP:$kam_port"* ]] || fail "the INVITE did not pass Kamailio (no Record-Route of $PBX_IP:$kam_port)"
  if [[ $direct -eq 1 ]]; then
    [[ $src == "$PBX_IP:"* ]] || fail "direct mode: INVITE should come from Kamailio, came from $src"
  else
    [[ $src == "$PHONE_IP:"* ]] || fail "INVITE reached $callee from $src, not from sipedge on $PHONE_IP"
    [[ $src != "$PHONE_IP:$rport" ]] || fail "INVITE came straight from the caller"
  fi
}

# round 1: plain Via (UDP: no received/rport needed); round 2: phones ask for rport (RFC 3581) like hardware phones
run_round 1 bob "$port_b" alice "$port_a" "" "--hold 500"
run_round 2 alice "$port_a" bob "$port_b" "--rport --hangup-after 300" "--rport --remote-hangup"

# ---------------------------------------------------------------------------------------------- PBX side checks
step="Kamailio log checks"
kill -0 "$kam_pid" 2>/dev/null || fail "Kamailio died during the test"
grep -q 'REGISTER .*bob' "$tmp/kamailio.log" || fail "Kamailio saw no REGISTER for bob"
# the PBX record-routed the dialogs, so ACK and BYE of both calls must have passed it (loose_route)
[[ $(grep -c 'in-dialog ACK' "$tmp/kamailio.log") -ge 2 ]] || fail "Kamailio did not see the ACK of both calls"
[[ $(grep -c 'in-dialog BYE' "$tmp/kamailio.log") -ge 2 ]] || fail "Kamailio did not see the BYE of both calls"
if [[ $direct -eq 0 ]]; then
  kill -0 "$sipedge_pid" 2>/dev/null || fail "sipedge died during the test"
  grep -Eq 'REGISTER .*bob.* path=<?sips?:' "$tmp/kamailio.log" \
    || fail "REGISTER reached Kamailio without a Path header (sipedge must add one)"
  grep -q 'lookup bob -> ' "$tmp/kamailio.log" || fail "Kamailio did not look bob up"
  log "Path stored by Kamailio: $(grep -m1 -Eo 'path=<[^ ]*' "$tmp/kamailio.log")"
fi

step="done"
log "PASS ($transport, $([[ $direct -eq 1 ]] && echo 'direct to Kamailio' || echo 'through sipedge'))"
