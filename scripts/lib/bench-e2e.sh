#!/usr/bin/env bash
# bench-e2e.sh -- end to end to WebSocket clients: publisher -> mosquitto -> ingest -> hub -> clients, and Node-RED doing the same job
#
#   scripts/lib/bench-e2e.sh --build-dir DIR --out FRAGMENT.md [--smoke] [--runs N] [--rate R] [--clients N]
#                            [--sweep "R1 R2 ..."]
#
#   --build-dir DIR  where bin/ holds telewire-ingest, telewire-hub, bench_pub, bench_sub,
#                    ws_swarm (built beforehand: this script builds nothing)
#   --out FILE       the markdown fragment to write (a "## End to end to WebSocket
#                    clients" section: table, targets, verdicts, exact commands)
#   --runs N         runs of every measurement, the median reported (default 3)
#   --rate R         messages/s of the latency runs (default 10000; smoke 200)
#   --clients N      WebSocket clients (default 1000; smoke 20)
#   --sweep LIST     more rates for telewire's latency, each a run of its own (default
#                    "2000 5000"; smoke "100"; "" for none)
#   --smoke          everything once at a tiny size (under 60 s): the tools work,
#                    nothing is lost and the numbers parse
#
# Each run measures, on 127.0.0.1 with a private mosquitto on a free port:
#   1. the MQTT leg alone at QoS 1 (bench_pub -> mosquitto -> bench_sub, flat out), the
#      reference for the ratios;
#   2. telewire: telewire-ingest (history on, three built-in plugins, one route per hub
#      group) -> telewire-hub -> ws_swarm (SignalR JSON, CLIENTS connections spread
#      over GROUPS groups): latency at RATE messages/s, then the rate flat out;
#   3. Node-RED (tests/perf/node-red/: mqtt in -> function -> websocket out) with the
#      same swarm over plain WebSocket: the rate flat out, then latency at RATE or,
#      when it cannot keep up with that, at 80% of its own flat-out rate.
# Every delivery is counted: the swarm must receive exactly what the groups' members
# should (and ingest's and the hub's counters must show no drop), else the script
# fails. Every run also records the CPU time per message of each process in the path
# (the tools' cpu_us, the servers' /proc/PID/stat), reported in a table of its own.
# Exit status 0 when every tool worked and nothing was lost, 1 otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/scripts/lib/run.sh"

smoke=0 runs=3 build_dir="" out="" opt_rate="" opt_clients="" opt_sweep="" opt_sweep_set=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift ;;
    --out) out=${2:?--out needs a file}; shift ;;
    --rate) opt_rate=${2:?--rate needs a number}; shift ;;
    --clients) opt_clients=${2:?--clients needs a number}; shift ;;
    --sweep) opt_sweep=${2?--sweep needs a list}; opt_sweep_set=1; shift ;;
    -h|--help) sed -n '2,32s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench-e2e: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$runs" in ''|*[!0-9]*|0) echo "bench-e2e: --runs: expected a whole number >= 1" >&2; exit 2 ;; esac
if [ -z "$build_dir" ] || [ -z "$out" ]; then
  echo "bench-e2e: --build-dir and --out are required" >&2
  exit 2
fi
build_dir=$(cd "$build_dir" && pwd)
case "$out" in /*) ;; *) out=$PWD/$out ;; esac
bin=$build_dir/bin
nr_dir=$root/tests/perf/node-red

# Sizes. GROUPS hub groups, connection i in g(i % GROUPS); device bench-xxxNN goes to
# gNN, so with 1000 clients each message reaches 10 of them.
groups=100
if [ "$smoke" -eq 1 ]; then
  runs=1 clients=20 devices=100 rate=200 lat_ms=1500 n_max=1000 n_broker=2000 n_nr_max=1000
  tool_timeout=20
else
  clients=1000 devices=1000 rate=10000 lat_ms=6000 n_max=100000 n_broker=200000 n_nr_max=30000
  tool_timeout=120
fi
[ "$smoke" -eq 1 ] && sweep="100" || sweep="2000 5000"
[ "$opt_sweep_set" -eq 1 ] && sweep=$opt_sweep
for v in $sweep; do
  case "$v" in *[!0-9]*|0) echo "bench-e2e: --sweep: expected whole numbers >= 1" >&2; exit 2 ;; esac
done
for v in "$opt_rate" "$opt_clients"; do
  case "$v" in *[!0-9]*|0) echo "bench-e2e: --rate, --clients: expected a whole number >= 1" >&2; exit 2 ;; esac
done
rate=${opt_rate:-$rate} clients=${opt_clients:-$clients}
# the latency runs last lat_ms at whatever rate, and every device sends in them
n_lat=$((rate * lat_ms / 1000))
[ "$n_lat" -ge "$devices" ] || n_lat=$devices
window=200                   # unacknowledged publishes at a time, as scripts/bench
target_p99_ms=5 target_broker_ratio=0.8 target_nr_ratio=5

for b in telewire-ingest telewire-hub bench_pub bench_sub ws_swarm; do
  [ -x "$bin/$b" ] || { echo "bench-e2e: $bin/$b is missing (build it first)" >&2; exit 1; }
done
for b in node sqlite3; do
  command -v "$b" >/dev/null || { echo "bench-e2e: $b is missing: run scripts/setup" >&2; exit 1; }
done

# Node-RED from its lock file, redone only when the lock changed (as scripts/setup does
# for web/ and tests/).
nr_stamp=$nr_dir/node_modules/.package-lock.json
if [ ! -f "$nr_stamp" ] || [ "$nr_dir/package-lock.json" -nt "$nr_stamp" ]; then
  echo "bench-e2e: npm ci in tests/perf/node-red/"
  (cd "$nr_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    { echo "bench-e2e: npm ci in tests/perf/node-red/ failed" >&2; exit 1; }
fi
nr_version=$(node -p "require('$nr_dir/node_modules/node-red/package.json').version")
clk_tck=$(getconf CLK_TCK) ncpu=$(nproc)
node_exe=$(command -v node) mosquitto_exe=$(mosquitto_bin)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/telewire-bench-e2e-XXXXXX")
keep_tmp=0
declare -A live=()   # pids of our children still running
cleanup() {
  local p
  for p in "${!live[@]}"; do
    stop_pid "$p" "process $p"
  done
  if [ "$keep_tmp" -eq 1 ]; then
    echo "bench-e2e: logs kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers ----

fail() { echo "bench-e2e: FAILED: $*" >&2; keep_tmp=1; exit 1; }

# spawn LOG CMD...: starts CMD in the background with its output in LOG; pid in $spawned
spawn() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  spawned=$!
  live[$spawned]=1
}

# finish PID NAME: stops our child (SIGTERM, then SIGKILL after 10 s) and forgets it
finish() {
  stop_pid "$1" "$2"
  wait "$1" 2>/dev/null || true
  unset "live[$1]"
}

# reap PID NAME SECONDS: waits up to SECONDS for our child to end by itself, then stops it
reap() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  finish "$1" "$2"
}

# wait_file FILE TEXT SECONDS [LINE]: waits until FILE contains TEXT (from line LINE on)
wait_file() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    tail -n "+${4:-1}" "$1" 2>/dev/null | grep -qF -- "$2" && return 0
    sleep 0.05
  done
  echo "bench-e2e: no \"$2\" in $1 within $3 s:" >&2
  tail -5 "$1" >&2 2>/dev/null || true
  return 1
}

# kv FILE PREFIX KEY: KEY's value in the first line of FILE that starts with PREFIX
kv() {
  { grep "^$2" "$1" | head -1 | sed -n "s/.* $3=\([^ ]*\).*/\1/p"; } 2>/dev/null || true
}

# metric PORT NAME: one counter from a /metrics endpoint (the sum over its labels)
metric() {
  local body
  body=$(exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
         timeout 5 cat <&3) || return 1
  awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2; f = 1 } END { if (f) print s + 0 }' <<<"$body"
}

is_num() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
is_num "$clk_tck" || fail "getconf CLK_TCK: \"$clk_tck\" is not a number"

# ticks PID EXE: sets ticks to the CPU time process PID has used so far (user +
# system, every thread: fields 14 and 15 of /proc/PID/stat) in clock ticks. PID must
# run EXE: a wrapper that forked instead of exec'ing would be measured for nothing.
ticks() {
  local exe stat f
  exe=$(readlink -f "/proc/$1/exe" 2>/dev/null) || exe=""
  [ "$exe" = "$(readlink -f "$2")" ] || fail "cpu: process $1 runs \"${exe:-nothing}\", not $2"
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || fail "cpu: cannot read /proc/$1/stat"
  # the fields after the command name, which is in parentheses and may hold spaces
  read -ra f <<<"${stat##*) }"
  if ! is_num "${f[11]:-}" || ! is_num "${f[12]:-}"; then
    fail "cpu: no utime and stime in /proc/$1/stat: $stat"
  fi
  ticks=$((f[11] + f[12]))
}

# cpu_begin PID:EXE...: notes the CPU time so far of the long-running processes;
# cpu_end COUNT then sets cpu_long to what each used since, in microseconds per
# message over COUNT messages, space-separated in the same order
cpu_procs=() cpu0=()
cpu_begin() {
  local p
  cpu_procs=("$@") cpu0=()
  for p in "$@"; do
    ticks "${p%%:*}" "${p#*:}"
    cpu0+=("$ticks")
  done
}
cpu_end() {
  local i
  cpu_long=""
  for i in "${!cpu_procs[@]}"; do
    ticks "${cpu_procs[i]%%:*}" "${cpu_procs[i]#*:}"
    cpu_long+="${cpu_long:+ }$(awk -v t=$((ticks - cpu0[i])) -v hz="$clk_tck" -v n="$1" \
                               'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
  done
}

# tool_cpu WHAT FILE PREFIX COUNT: the cpu_us of a tool's result line (the first line of
# FILE that starts with PREFIX) per message over COUNT messages, in cpu_tool
tool_cpu() {
  local v
  v=$(kv "$2" "$3" cpu_us)
  is_num "$v" || fail "$1: no cpu_us number in its result line: $(grep "^$3" "$2" | head -1)"
  cpu_tool=$(awk -v u="$v" -v n="$4" 'BEGIN { printf "%.2f", u / n }')
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

# expected COUNT CLIENTS: deliveries the swarm should see when bench_pub sends COUNT
# messages over $devices devices in turn: device n (bench-000nn, from 1) goes to group
# g(n % groups), which holds the connections i with i % groups == n % groups.
expected() {
  awk -v n="$1" -v c="$2" -v d="$devices" -v k="$groups" 'BEGIN {
    for (i = 0; i < d && i < n; i++) {
      msgs = int(n / d) + (i < n % d); g = (i + 1) % k
      s += msgs * (int(c / k) + (g < c % k))
    }
    print s + 0 }'
}

# note KEY BG CMD...: remembers a command the first time, with ports and the temp dir
# as variables; BG "&" marks one started in the background
commands=()
declare -A noted=()
note() {
  local key=$1 bg=$2 c
  shift 2
  [ "${noted[$key]:-}" ] && return 0
  noted[$key]=1
  c=$(printf '%q ' "$@")
  c=${c% }
  c=${c//$bin\//\$BUILD_DIR\/bin\/}
  c=${c//$tmp/\$TMP}
  c=${c//$root\//}
  c=${c//127.0.0.1:$mqtt_port/127.0.0.1:\$MQTT_PORT}
  c=${c//127.0.0.1:${hub_port:-none}/127.0.0.1:\$HUB_PORT}
  c=${c//127.0.0.1:${metrics_port:-none}/127.0.0.1:\$METRICS_PORT}
  c=${c//127.0.0.1:${nr_port:-none}/127.0.0.1:\$NODE_RED_PORT}
  c=${c//NODE_RED_PORT=${nr_port:-none}/NODE_RED_PORT=\$NODE_RED_PORT}
  c=${c//MQTT_PORT=$mqtt_port/MQTT_PORT=\$MQTT_PORT}
  commands+=("$c${bg:+ $bg}")
}

# swarm_start NAME DIR EXPECT SECONDS ARGS...: starts ws_swarm, waits until every
# connection is up; pid in $swarm_pid
swarm_start() {
  local name=$1 d=$2 expect=$3 secs=$4
  shift 4
  local cmd=("$bin/ws_swarm" "$@" --connections "$clients" --groups "$groups" --expect "$expect"
             --duration "$secs" --ready-file "$d/swarm.ready")
  note "swarm-$name" "&" "${cmd[@]}"
  "${cmd[@]}" >"$d/swarm.out" 2>"$d/swarm.err" &
  swarm_pid=$!
  live[$swarm_pid]=1
  wait_file "$d/swarm.ready" "ready" 30 || fail "$name: the swarm did not get its connections up"
  grep -q "failed=0" "$d/swarm.ready" || fail "$name: connections failed: $(cat "$d/swarm.ready")"
}

# publish NAME DIR COUNT SEQ_START RATE: bench_pub with the send time in "t";
# RATE 0 is flat out
publish() {
  local name=$1 d=$2
  local cmd=("$bin/bench_pub" --mqtt "$mqtt" --qos 1 --count "$3" --devices "$devices"
             --seq-start "$4" --window "$window" --timeout "$tool_timeout" --stamp t
             --client-id "bench-e2e-$name")
  [ "$5" -gt 0 ] && cmd+=(--rate "$5")
  note "pub-${name%-*}" "" "${cmd[@]}"
  "${cmd[@]}" >"$d/pub.out" 2>"$d/pub.err" || fail "$name: publisher: $(cat "$d/pub.err")"
}

# swarm_wait DIR: waits for the swarm to end by itself (at its --expect or --duration),
# or stops it once its deliveries have not grown for 10 s: what is still queued in the
# broker for a consumer that fell behind keeps coming after the publisher is done.
swarm_wait() {
  local last=-1 now quiet=0
  while kill -0 "$swarm_pid" 2>/dev/null && [ "$quiet" -lt 100 ]; do
    sleep 0.1
    now=$(sed -n 's/.*deliveries \([0-9]*\)$/\1/p' "$1/swarm.err" | tail -1)
    if [ "${now:-0}" = "$last" ]; then
      quiet=$((quiet + 1))
    else
      last=${now:-0} quiet=0
    fi
  done
  finish "$swarm_pid" ws_swarm
}

# swarm_result NAME DIR EXPECT COUNT: waits for the swarm to end (it stops at EXPECT),
# then sets res to "messages/s p50_us p99_us max_us" or records a loss
swarm_result() {
  local name=$1 d=$2 expect=$3 got msgs
  swarm_wait "$d"
  got=$(kv "$d/swarm.out" swarm deliveries)
  is_num "$got" || fail "$name: no result from the swarm: $(tail -3 "$d/swarm.err")"
  if [ "$got" -ne "$expect" ] || [ "$(kv "$d/swarm.out" swarm closed)" != 0 ] ||
     [ "$(kv "$d/swarm.out" swarm errors)" != 0 ]; then
    problems+=("$name: $got of $expect deliveries, $(kv "$d/swarm.out" swarm errors) errors, $(kv "$d/swarm.out" swarm closed) connections closed")
    keep_tmp=1
  fi
  # every delivery must have carried its send time, or the latencies describe a part
  [ "$(kv "$d/swarm.out" swarm samples)" = "$got" ] ||
    fail "$name: $(kv "$d/swarm.out" swarm samples) of $got deliveries carried a send time \"t\""

  # the swarm's rate is deliveries/s from the first to the last delivery: per message
  msgs=$(awk -v r="$(kv "$d/swarm.out" swarm rate)" -v n="$4" -v e="$expect" 'BEGIN { printf "%.0f", r * n / e }')
  res="$msgs $(kv "$d/swarm.out" swarm p50_us) $(kv "$d/swarm.out" swarm p99_us) $(kv "$d/swarm.out" swarm max_us)"
}

# path_cpu NAME DIR COUNT KEY: after swarm_result (the swarm has finished, nothing is
# stopped yet), adds to KEY the CPU time per message of the run's publisher, of the
# long-running processes given to cpu_begin, and of the swarm
path_cpu() {
  cpu_end "$3"
  tool_cpu "$1: bench_pub" "$2/pub.out" RESULT "$3"
  add "$4" "$cpu_tool $cpu_long"
  tool_cpu "$1: ws_swarm" "$2/swarm.out" swarm "$3"
  add "$4" "$cpu_tool"
}

# ---- the private broker ----

mqtt_port=$(pick_port 18850)
mqtt=tcp://127.0.0.1:$mqtt_port
mkdir -p "$tmp/broker"
mosquitto_conf "$tmp/broker" "$mqtt_port"
# As scripts/bench: no persistence, queues deep enough that a subscriber that falls
# behind loses nothing; subscriptions are logged so we see when Node-RED is ready.
cat >>"$tmp/broker/mosquitto.conf" <<CONF
persistence false
max_queued_messages 10000000
max_queued_bytes 0
max_inflight_messages 0
set_tcp_nodelay true
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
CONF
spawn "$tmp/broker/out.log" "$mosquitto_exe" -c "$tmp/broker/mosquitto.conf"
mosquitto_pid=$spawned
wait_port "$mqtt_port" 10 mosquitto || fail "mosquitto did not start"

{
  cat <<'INI'
; the three built-in plugins of scripts/bench, then one route per hub group:
; bench-xxxNN goes to group gNN
[transform mph]
plugin = unit_convert
key = speed
from = km_h
to = mph
output = speed_mph

[transform avg]
plugin = moving_average
key = speed
window = 10

[transform hot]
plugin = threshold
key = temp
high = 30
hysteresis = 1
INI
  for ((g = 0; g < groups; g++)); do
    printf '\n[route g%d]\nmatch = bench-???%02d\ntransforms = mph, avg, hot\ngroups = g%d\n' "$g" "$g" "$g"
  done
} >"$tmp/ingest.ini"

load_before=$(uptime | sed 's/^ *//')
started=$(date -u '+%Y-%m-%d %H:%M UTC')
problems=()
declare -A all=()
add() { all[$1]="${all[$1]:-}${all[$1]:+ }$2"; }

# ---- scenarios ----

# broker RUN: the MQTT leg alone at QoS 1, flat out
broker() {
  local d=$tmp/broker-$1 sp got
  local sub=("$bin/bench_sub" --mqtt "$mqtt" --topic 'devices/+/telemetry' --qos 1
             --expect "$n_broker" --timeout "$tool_timeout" --client-id "bench-e2e-sub-$1")
  local pub=("$bin/bench_pub" --mqtt "$mqtt" --qos 1 --count "$n_broker" --devices "$devices"
             --window "$window" --timeout "$tool_timeout" --client-id "bench-e2e-pub-$1")
  mkdir -p "$d"
  note broker-sub "&" "${sub[@]}"
  note broker-pub "" "${pub[@]}"
  spawn "$d/sub.out" "${sub[@]}"
  sp=$spawned
  wait_file "$d/sub.out" "subscribed to" 10 || fail "broker: subscriber"
  cpu_begin "$mosquitto_pid:$mosquitto_exe"
  "${pub[@]}" >"$d/pub.out" 2>"$d/pub.err" || fail "broker: publisher: $(cat "$d/pub.err")"
  reap "$sp" bench_sub "$tool_timeout"
  cpu_end "$n_broker"
  got=$(kv "$d/sub.out" RESULT counted)
  is_num "$got" || fail "broker: no result from the subscriber: $(cat "$d/sub.out")"
  [ "$got" -eq "$n_broker" ] || fail "broker QoS 1: $got of $n_broker delivered"
  res=$(kv "$d/sub.out" RESULT rate)
  # CPU per message: publisher, mosquitto, subscriber
  tool_cpu "broker run $1: bench_pub" "$d/pub.out" RESULT "$n_broker"
  add cpu_broker "$cpu_tool $cpu_long"
  tool_cpu "broker run $1: bench_sub" "$d/sub.out" RESULT "$n_broker"
  add cpu_broker "$cpu_tool"
}

# telewire RUN: hub and ingest (history on), the latency run at $rate, then flat out
telewire() {
  local r=$1 d=$tmp/telewire-$1 ip hp e v got summary="" seq2 from
  mkdir -p "$d/lat" "$d/max"
  from=$(( $(wc -l <"$tmp/broker/mosquitto.log") + 1 ))
  hub_port=$(pick_port 18950)
  metrics_port=$(pick_port 19150)
  local hub=("$bin/telewire-hub" --mqtt "$mqtt" --listen "127.0.0.1:$hub_port" --log-level warn)
  local ing=("$bin/telewire-ingest" --config "$tmp/ingest.ini" --mqtt "$mqtt"
             --client-id "bench-e2e-ingest-$r" --listen "127.0.0.1:$metrics_port"
             --history "$d/history.db")
  note hub "&" "${hub[@]}"
  note ingest "&" "${ing[@]}"
  spawn "$d/hub.log" "${hub[@]}"
  hp=$spawned
  wait_port "$hub_port" 10 telewire-hub || fail "telewire-hub did not start: $(tail -3 "$d/hub.log")"
  spawn "$d/ingest.log" "${ing[@]}"
  ip=$spawned
  wait_file "$d/ingest.log" "subscribed to" 10 || fail "telewire-ingest did not subscribe"
  wait_port "$metrics_port" 5 "telewire-ingest metrics" || fail "no ingest metrics"
  # the hub subscribes to the backplane in the background: wait for its subscription
  wait_file "$tmp/broker/mosquitto.log" " telewire/hub/telemetry/#" 10 "$from" || fail "the hub did not subscribe"

  local url="ws://127.0.0.1:$hub_port/client/?hub=telemetry"
  e=$(expected "$n_lat" "$clients")
  local procs=("$mosquitto_pid:$mosquitto_exe" "$ip:$bin/telewire-ingest" "$hp:$bin/telewire-hub")
  swarm_start telewire-lat "$d/lat" "$e" $((n_lat / rate + 40)) --url "$url" --mode signalr
  cpu_begin "${procs[@]}"
  publish "telewire-lat-$r" "$d/lat" "$n_lat" 1 "$rate"
  swarm_result "telewire at $rate/s, run $r" "$d/lat" "$e" "$n_lat"
  add tw_lat "$res"
  path_cpu "telewire at $rate/s, run $r" "$d/lat" "$n_lat" cpu_tw_lat

  # the seqs go on where the last run stopped, or ingest would drop the
  # messages as duplicates
  seq2=$(( (n_lat + devices - 1) / devices + 1 ))
  local sw n_sw n_all=$((n_lat + n_max))
  for sw in $sweep; do
    # more paced runs: where the latency target holds on this machine
    n_sw=$((sw * lat_ms / 1000))
    [ "$n_sw" -ge "$devices" ] || n_sw=$devices
    mkdir -p "$d/lat-$sw"
    e=$(expected "$n_sw" "$clients")
    swarm_start "telewire-lat-$sw" "$d/lat-$sw" "$e" $((n_sw / sw + 40)) --url "$url" --mode signalr
    publish "telewire-sweep-$r" "$d/lat-$sw" "$n_sw" "$seq2" "$sw"
    swarm_result "telewire at $sw/s, run $r" "$d/lat-$sw" "$e" "$n_sw"
    add "tw_sweep_$sw" "$res"
    seq2=$((seq2 + (n_sw + devices - 1) / devices))
    n_all=$((n_all + n_sw))
  done

  # flat out
  e=$(expected "$n_max" "$clients")
  swarm_start telewire-max "$d/max" "$e" $((tool_timeout + 30)) --url "$url" --mode signalr
  cpu_begin "${procs[@]}"
  publish "telewire-max-$r" "$d/max" "$n_max" "$seq2" 0
  swarm_result "telewire flat out, run $r" "$d/max" "$e" "$n_max"
  add tw_max "$res"
  path_cpu "telewire flat out, run $r" "$d/max" "$n_max" cpu_tw_max

  # nothing dropped on the way: ingest's and the hub's counters. History commits in
  # groups after the results went out (the journal keeps them meanwhile): give the
  # stored count a few seconds to catch up.
  local n=$n_all
  for ((v = 0; v < 100; v++)); do
    [ "$(metric "$metrics_port" telewire_ingest_stored_total)" = "$n" ] && break
    sleep 0.1
  done
  for v in "ingest:$metrics_port:received_total:$n" "ingest:$metrics_port:stored_total:$n" \
           ingest:$metrics_port:rejected_total:0 ingest:$metrics_port:db_errors_total:0 \
           ingest:$metrics_port:plugin_errors_total:0 ingest:$metrics_port:queue_dropped_total:0 \
           ingest:$metrics_port:publish_failed_total:0 ingest:$metrics_port:duplicates_total:0 \
           hub:$hub_port:backplane_dropped_total:0 hub:$hub_port:envelopes_bad_total:0 \
           hub:$hub_port:messages_dropped_slow_total:0 hub:$hub_port:messages_conflated_total:0 \
           hub:$hub_port:slow_closes_total:0; do
    IFS=: read -r who port name want <<<"$v"
    got=$(metric "$port" "telewire_${who}_$name") || fail "no /metrics on port $port"
    summary+=" ${who}_$name=$got"
    [ "$got" = "$want" ] || { problems+=("telewire run $r: telewire_${who}_$name is $got, expected $want"); keep_tmp=1; }
  done
  echo "bench-e2e: telewire run $r counters:$summary"
  finish "$ip" telewire-ingest
  finish "$hp" telewire-hub
  # its session goes too: the next runs' load would be queued for it
  mqtt_session_end "$mqtt_port" "bench-e2e-ingest-$r" || fail "cannot end the session of bench-e2e-ingest-$r"
  # and the history file holds every (device, seq)
  got=$(sqlite3 "$d/history.db" "SELECT COUNT(*) FROM seen" 2>&1) || true
  [ "$got" = "$n" ] || { problems+=("telewire run $r: history holds $got messages of $n"); keep_tmp=1; }
}

# nodered_start: Node-RED as our child on loopback, the flow's MQTT subscription made
nodered_start() {
  local d=$tmp/node-red
  mkdir -p "$d"
  cp "$nr_dir/flows.json" "$d/flows.json"
  nr_port=$(pick_port 19250)
  local cmd=(env NODE_RED_PORT="$nr_port" NODE_RED_USER_DIR="$d" MQTT_PORT="$mqtt_port"
             node "$nr_dir/node_modules/node-red/red.js" --settings "$nr_dir/settings.js")
  note node-red "&" "${cmd[@]}"
  spawn "$d/node-red.log" "${cmd[@]}"
  nr_pid=$spawned
  wait_port "$nr_port" 30 Node-RED || fail "Node-RED did not start: $(tail -5 "$d/node-red.log")"
  wait_file "$tmp/broker/mosquitto.log" "node-red-bench 1 devices/+/telemetry" 30 ||
    fail "Node-RED did not subscribe: $(tail -5 "$d/node-red.log")"
}

# nodered RUN: flat out first, then latency at $rate or 80% of what it sustained
nodered() {
  local r=$1 d=$tmp/node-red-$1 e nr_rate seq2 max
  mkdir -p "$d/lat" "$d/max"
  local url="ws://127.0.0.1:$nr_port/ws/{group}"
  # seqs go on from run to run only for tidiness: Node-RED does not de-duplicate
  e=$(expected "$n_nr_max" "$clients")
  local procs=("$mosquitto_pid:$mosquitto_exe" "$nr_pid:$node_exe")
  swarm_start node-red-max "$d/max" "$e" $((tool_timeout + 30)) --url "$url" --mode raw
  cpu_begin "${procs[@]}"
  publish "node-red-max-$r" "$d/max" "$n_nr_max" 1 0
  swarm_result "Node-RED flat out, run $r" "$d/max" "$e" "$n_nr_max"
  add nr_max "$res"
  path_cpu "Node-RED flat out, run $r" "$d/max" "$n_nr_max" cpu_nr_max
  read -r max _ <<<"$res"
  nr_rate=$(awk -v m="$max" -v r="$rate" 'BEGIN { x = int(m * 0.8 / 100) * 100; if (x < 100) x = 100; print (x < r ? x : r) }')
  add nr_rate "$nr_rate"
  local n=$((nr_rate * lat_ms / 1000))
  [ "$n" -ge "$devices" ] || n=$devices
  seq2=$(( (n_nr_max + devices - 1) / devices + 1 ))
  e=$(expected "$n" "$clients")
  swarm_start node-red-lat "$d/lat" "$e" $((n / nr_rate + 40)) --url "$url" --mode raw
  cpu_begin "${procs[@]}"
  publish "node-red-lat-$r" "$d/lat" "$n" "$seq2" "$nr_rate"
  swarm_result "Node-RED at $nr_rate/s, run $r" "$d/lat" "$e" "$n"
  add nr_lat "$res"
  path_cpu "Node-RED at $nr_rate/s, run $r" "$d/lat" "$n" cpu_nr_lat
}

# ---- run ----

for ((r = 1; r <= runs; r++)); do
  echo "bench-e2e: run $r of $runs"
  broker "$r"; add broker_q1 "$res"
  telewire "$r"
done
echo "bench-e2e: Node-RED $nr_version"
nodered_start
for ((r = 1; r <= runs; r++)); do
  echo "bench-e2e: Node-RED run $r of $runs"
  nodered "$r"
done
finish "$nr_pid" Node-RED
load_after=$(uptime | sed 's/^ *//')

# ---- report ----

# col KEY I W: the I-th of every W numbers of KEY (one per run), space-separated
col() {
  awk -v s="${all[$1]}" -v i="$2" -v w="$3" \
    'BEGIN { n = split(s, a, " "); for (j = i; j <= n; j += w) printf "%s%s", (j > i ? " " : ""), a[j] }'
}
# med KEY I W: median of the I-th of every W numbers of KEY
med() { local v; read -ra v <<<"$(col "$1" "$2" "$3")"; median "${v[@]}"; }
sweep_keys=""
for sw in $sweep; do sweep_keys+=" tw_sweep_$sw"; done
for k in broker_q1 tw_lat tw_max nr_max nr_lat nr_rate cpu_broker cpu_tw_lat cpu_tw_max cpu_nr_max cpu_nr_lat $sweep_keys; do
  for v in ${all[$k]:-x}; do
    is_num "$v" || fail "$k: \"$v\" is not a number (all results: ${all[$k]:-none})"
  done
done

q1=$(med broker_q1 1 1)
twl_p50=$(med tw_lat 2 4) twl_p99=$(med tw_lat 3 4) twl_max=$(med tw_lat 4 4) twl_rate=$(med tw_lat 1 4)
twm=$(med tw_max 1 4) twm_p50=$(med tw_max 2 4) twm_p99=$(med tw_max 3 4) twm_max=$(med tw_max 4 4)
nrm=$(med nr_max 1 4) nrm_p50=$(med nr_max 2 4) nrm_p99=$(med nr_max 3 4) nrm_max=$(med nr_max 4 4)
nrl_rate=$(med nr_lat 1 4) nrl_p50=$(med nr_lat 2 4) nrl_p99=$(med nr_lat 3 4) nrl_max=$(med nr_lat 4 4)
nr_at=$(med nr_rate 1 1)
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
at_least() {  # at_least VALUE TARGET: met, or by how much it falls short
  awk -v v="$1" -v t="$2" 'BEGIN { if (v >= t) printf "met"; else printf "missed by %.0f%% (%.2f of %g)", (t - v) * 100 / t, v, t }'
}
at_most() {  # at_most VALUE TARGET
  awk -v v="$1" -v t="$2" 'BEGIN { if (v <= t) printf "met"; else printf "missed: %.2f ms, %.1fx the limit", v, v / t }'
}
# kept_up ACHIEVED ASKED: empty, or a note when the rate asked for was not sustained
kept_up() {
  awk -v a="$1" -v r="$2" 'BEGIN { if (a < r * 0.95) printf "; did not keep up: %d of %d msg/s, the latency is the backlog", a, r }'
}
tw_q1=$(ratio "$twm" "$q1")
tw_nr=$(ratio "$twm" "$nrm")
v_p99=$(at_most "$(ms "$twl_p99")" "$target_p99_ms")
v_q1=$(at_least "$tw_q1" "$target_broker_ratio")
v_nr=$(at_least "$tw_nr" "$target_nr_ratio")
v_loss=$([ ${#problems[@]} -eq 0 ] && echo "met: nothing lost" || echo "MISSED: ${#problems[@]} runs lost something")

rows=(
  "MQTT leg, QoS 1: bench_pub -> mosquitto -> bench_sub|$q1|${all[broker_q1]}||||reference"
  "telewire at $rate msg/s, $clients clients: rate, latency|$twl_rate|$(col tw_lat 1 4)|$(ms "$twl_p50")|$(ms "$twl_p99")|$(ms "$twl_max")|p99 <= $target_p99_ms ms: $v_p99$(kept_up "$twl_rate" "$rate")"
  "telewire flat out, history on|$twm|$(col tw_max 1 4)|$(ms "$twm_p50")|$(ms "$twm_p99")|$(ms "$twm_max")|>= $target_broker_ratio x QoS 1 ($tw_q1): $v_q1; >= $target_nr_ratio x Node-RED ($tw_nr): $v_nr"
  "Node-RED $nr_version flat out|$nrm|$(col nr_max 1 4)|$(ms "$nrm_p50")|$(ms "$nrm_p99")|$(ms "$nrm_max")|$(ratio "$nrm" "$q1") x QoS 1"
  "Node-RED at $nr_at msg/s, $clients clients: rate, latency|$nrl_rate|$(col nr_lat 1 4)|$(ms "$nrl_p50")|$(ms "$nrl_p99")|$(ms "$nrl_max")|$(kept_up "$nrl_rate" "$nr_at" | cut -c3-)"
)
# the sweep's rates, after the main latency row: where the latency target holds here
sweep_rows=()
for sw in $sweep; do
  k=tw_sweep_$sw
  sw_p99=$(med "$k" 3 4)
  sweep_rows+=("telewire at $sw msg/s, $clients clients: rate, latency|$(med "$k" 1 4)|$(col "$k" 1 4)|$(ms "$(med "$k" 2 4)")|$(ms "$sw_p99")|$(ms "$(med "$k" 4 4)")|p99 <= $target_p99_ms ms: $(at_most "$(ms "$sw_p99")" "$target_p99_ms")$(kept_up "$(med "$k" 1 4)" "$sw")")
done
rows=("${rows[@]:0:2}" "${sweep_rows[@]}" "${rows[@]:2}")
printf '\n%-58s %9s  %-22s %8s %8s %8s  %s\n' "end to end to WebSocket clients" "msg/s" "runs" "p50 ms" "p99 ms" "max ms" "target"
for row in "${rows[@]}"; do
  IFS='|' read -r name m each p50 p99 mx tg <<<"$row"
  printf '%-58s %9s  %-22s %8s %8s %8s  %s\n' "$name" "$m" "$each" "$p50" "$p99" "$mx" "$tg"
done
echo "zero loss: $v_loss"

# cpu_row NAME KEY WIDTH MSG_PER_S I...: a row of the CPU table from KEY's WIDTH numbers
# per run: for each column the place of its number among them, or "-" for none; then
# the sum of the medians and the cores that keeps busy at MSG_PER_S
cpu_rows=()
cpu_row() {
  local name=$1 key=$2 w=$3 rate=$4 i m cells="" sum=0
  shift 4
  for i in "$@"; do
    if [ "$i" = - ]; then cells+="|-"; continue; fi
    m=$(med "$key" "$i" "$w")
    cells+="|$m"
    sum=$(awk -v a="$sum" -v b="$m" 'BEGIN { printf "%.2f", a + b }')
  done
  cpu_rows+=("$name$cells|$sum|$rate|$(awk -v s="$sum" -v r="$rate" -v c="$ncpu" \
                                        'BEGIN { printf "%.2f of %d", s * r / 1e6, c }')")
}
cpu_row "MQTT leg, QoS 1" cpu_broker 3 "$q1" 1 2 - - 3
cpu_row "telewire at $rate msg/s" cpu_tw_lat 5 "$twl_rate" 1 2 3 4 5
cpu_row "telewire flat out" cpu_tw_max 5 "$twm" 1 2 3 4 5
cpu_row "Node-RED flat out" cpu_nr_max 4 "$nrm" 1 2 - 3 4
cpu_row "Node-RED at $nr_at msg/s" cpu_nr_lat 4 "$nrl_rate" 1 2 - 3 4
printf '\n%-32s %9s %9s %9s %9s %9s %9s %9s  %s\n' "CPU us per message (median)" publisher \
  mosquitto ingest hub/NR swarm/sub sum msg/s "cores busy"
for row in "${cpu_rows[@]}"; do
  IFS='|' read -r name a b c e f sum m busy <<<"$row"
  printf '%-32s %9s %9s %9s %9s %9s %9s %9s  %s\n' "$name" "$a" "$b" "$c" "$e" "$f" "$sum" "$m" "$busy"
done
for p in "${problems[@]}"; do
  echo "bench-e2e: LOST: $p" >&2
done

# ---- the fragment ----

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
{
  cat <<EOF
## End to end to WebSocket clients

The whole path a dashboard sees: \`bench_pub\` -> mosquitto -> \`telewire-ingest\`
(history on, the three built-in plugins of the route) -> mosquitto ->
\`telewire-hub\` -> \`ws_swarm\` (tests/perf/ws_swarm.c, $clients SignalR JSON
WebSocket clients in one process), and Node-RED $nr_version doing the same job
(mqtt in -> function -> websocket out) for the same clients over plain
WebSocket. Measured $started by \`scripts/lib/bench-e2e.sh$([ "$smoke" -eq 1 ] && echo " --smoke") --runs $runs\`,
the median of $runs run(s) reported (each run's rate in the third column;
each column's median on its own); load before \`$load_before\`, after
\`$load_after\`; mosquitto
$(ver mosquitto), node $(node --version).

| scenario | messages/s | runs | p50 ms | p99 ms | max ms | target |
|---|---:|---|---:|---:|---:|---|
EOF
  for row in "${rows[@]}"; do
    IFS='|' read -r name m each p50 p99 mx tg <<<"$row"
    echo "| $name | $m | ${each// / · } | $p50 | $p99 | $mx | $tg |"
  done
  cat <<EOF

**CPU time per message, by process (median of the runs)**, in microseconds of
CPU (user + system) per message published, and the cores that keeps busy at the
row's rate, of the $ncpu this machine has (\`nproc\`):

| scenario | publisher | mosquitto | ingest | hub (or Node-RED) | swarm (or subscriber) | sum | msg/s | cores busy |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
  for row in "${cpu_rows[@]}"; do
    echo "| ${row//|/ | } |"
  done
  cat <<EOF

Every process's CPU time in the run, all its threads, divided by the messages
\`bench_pub\` published in it. mosquitto, \`telewire-ingest\`, \`telewire-hub\`
and Node-RED's node process: utime + stime of \`/proc/PID/stat\` once the
swarm had every connection up, before the publisher started, and again when the
swarm (the subscriber, in the MQTT leg) had finished, before anything was
stopped; in clock ticks of 1/$clk_tck s, so a small run's figures are coarse.
The tools count their own (\`cpu_us\` of their result lines, \`getrusage\`):
\`bench_pub\` from its first publish to its last acknowledgement, \`ws_swarm\`
from its ready file to its end (the connection set-up is not in it),
\`bench_sub\` from its subscription to its end. In the telewire rows mosquitto
serves two hops, publisher -> ingest and ingest -> hub, so every message goes
through it twice; in the others, once. The sum adds the columns' medians;
cores busy is that sum x msg/s / 1,000,000: the CPU the whole path, load tools
included, needs at the rate it reached. Near $ncpu the processes wait for
each other's CPU, and the machine, not one process, sets the rates and
latencies above. Not in it: the kernel's work charged to other processes
(loopback TCP done in softirq context lands on whichever process it
interrupts), and whatever ingest's history still commits after the last
delivery. In the paced rows the processes' idle wake-ups are counted too, so
they weigh more per message at a low rate.

Targets (issue 6$([ "$smoke" -eq 1 ] && echo "; a smoke run, far from the sizes the targets are for")): p99 <= $target_p99_ms ms at 10,000 messages/s with 1,000
clients (measured at $rate with $clients): **$v_p99**; flat out >= $target_broker_ratio x the broker's own QoS 1
rate in the same run: **$v_q1** ($tw_q1); >= $target_nr_ratio x Node-RED:
**$v_nr** ($tw_nr); zero loss: **$v_loss**.
$(if [ ${#problems[@]} -gt 0 ]; then printf '\nLost:\n\n'; printf -- '- %s\n' "${problems[@]}"; fi)

How it is measured:

- Latency: \`bench_pub --stamp t\` puts its wall clock (microseconds) into each
  payload as the value \`t\` just before handing it to the MQTT client; ingest
  passes it through to the hub envelope's \`values\`, and the swarm subtracts
  it from its own clock when the message arrives (one machine, one clock).
  Ingest writes whole numbers as integers, so \`t\` reaches the clients
  exact.
- Clients and groups: connection i joins group \`g(i % $groups)\`; ingest's
  routes send device \`bench-xxxNN\` to group \`gNN\` (one route per group,
  \`\$TMP/ingest.ini\`), and Node-RED's function sends it to its websocket out
  on \`/ws/gNN\` (tests/perf/node-red/flows.json). With $clients clients each
  message reaches $(awk -v e="$(expected "$n_lat" "$clients")" -v n="$n_lat" 'BEGIN { printf "%g", e / n }') of them on average: the
  pipeline's latency with the fan-out of a dashboard per group, not the hub's
  broadcast ceiling (the fan-out scenario measures that).
- Rates are messages per second from the swarm's first to its last delivery.
  Flat out, bench_pub keeps $window publishes unacknowledged, as scripts/bench;
  mosquitto's queues are unbounded, so a consumer that falls behind is
  measured by how long it takes, not by what it drops. The latencies of the
  flat-out rows are the time messages spent in that backlog; those of a
  paced row that did not keep up with its rate are too.
- Zero loss: the swarm must count exactly the deliveries the groups'
  members should get, no connection may close, and after the telewire runs
  ingest's \`/metrics\` must show every message received and stored and no
  reject, plugin or database error, queue drop, failed publish or duplicate,
  and the hub's no backplane drop, bad envelope, slow-client drop,
  conflation or slow close.
- Node-RED: tests/perf/node-red/settings.js (no editor or admin API, no
  projects, logging at warn, in-memory context); its function does the three
  calculations in JavaScript (speed in mph, average of the last 10 speeds per
  device, temperature threshold with hysteresis). It is measured flat out
  first; the latency run is at $rate messages/s or at 80% of its flat-out
  rate when that is lower.

Commands (first run; \`\$BUILD_DIR\` the build directory, \`\$TMP\` the script's
temporary directory, the ports free ones on 127.0.0.1):

\`\`\`sh
EOF
  printf '%s\n' "${commands[@]}"
  echo '```'
  # shellcheck disable=SC2016 # $TMP is meant literally
  printf '\n`$TMP/ingest.ini` (the first of its %d routes; the others differ in the group only):\n\n```ini\n' "$groups"
  sed -n '1,/^groups = g0$/p' "$tmp/ingest.ini"
  echo '```'
} >"$out"
echo "bench-e2e: wrote $out"
[ ${#problems[@]} -eq 0 ] || fail "messages were lost (see above)"
