#!/usr/bin/env bash
# bench-hub.sh -- fan-out and connection memory of telewire-hub next to nginx + nchan, as a markdown fragment
#
#   scripts/lib/bench-hub.sh --build-dir DIR --out FRAGMENT.md [--smoke] [--runs N]
#
#   --build-dir DIR  where bin/telewire-hub, bin/ws_swarm and bin/fanout_send are
#   --out FILE       the fragment written: "## Fan-out" and "## Connections"
#   --smoke          tiny sizes (50 clients, 100 connections), one run, under 60 s:
#                    the tools work, nothing is lost, the numbers parse
#   --runs N         runs of each fan-out measurement (the median is reported; default 1)
#
# Scenarios (each server started fresh on a free loopback port, in a private dir):
#   Fan-out      N WebSocket clients (10,000; smoke 50) of ws_swarm. Throughput: M
#                timestamped 200-byte messages sent as fast as the server accepts
#                them, broadcast to all clients or spread over K groups; deliveries/s
#                from the first to the last delivery. Latency: the same sends paced
#                well below that rate. telewire: the hub's REST API v1 (POST
#                /api/v1/hubs/H and /groups/gI), clients in SignalR JSON. nchan: POST
#                /pub/gI, clients on /sub/gI (broadcast = everybody on one channel).
#   Connections  VmRSS of the server (nginx: master + workers) before and after
#                opening N idle WebSocket connections (10,000 and 50,000; smoke 100),
#                divided by N. Needs RLIMIT_NOFILE hard limit > N (hub and swarm
#                each hold N sockets); a size that does not fit is reported as such,
#                and then the most that fits (in thousands) is measured too.
# Exits nonzero when a tool fails or a delivery is lost.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/run.sh"

smoke=0 runs=1 build_dir="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift ;;
    --out) out=${2:?--out needs a file}; shift ;;
    -h|--help) sed -n '2,25s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench-hub: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$runs" in ''|*[!0-9]*|0) echo "bench-hub: --runs: expected a whole number >= 1" >&2; exit 2 ;; esac
[ -n "$build_dir" ] && [ -n "$out" ] || { echo "bench-hub: --build-dir and --out are required" >&2; exit 2; }
build_dir=$(cd "$build_dir" && pwd)
bin=$build_dir/bin
for b in telewire-hub ws_swarm fanout_send; do
  [ -x "$bin/$b" ] || { echo "bench-hub: $bin/$b is missing: build it first" >&2; exit 1; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
nchan_mod=/usr/lib/nginx/modules/ngx_nchan_module.so
[ -x "$nginx_bin" ] && [ -f "$nchan_mod" ] ||
  { echo "bench-hub: nginx and $nchan_mod are needed (Debian: nginx-light libnginx-mod-nchan; scripts/setup)" >&2; exit 1; }

# Sizes. Group sends go to K groups of N/K clients; M messages each run.
if [ "$smoke" -eq 1 ]; then
  runs=1 n=50 k=5 m_bc=40 m_grp=200 pace_bc=20 pace_grp=100 pace_s=1 conn_sizes=(100) tool_s=20
else
  n=10000 k=10 m_bc=200 m_grp=2000 pace_bc=5 pace_grp=50 pace_s=4 conn_sizes=(10000 50000) tool_s=90
fi
access_key=bench-hub-access-key-0123456789abcdef
hub=bench
target_rate=1000000 target_ratio=2 target_kib=8
nofile_hard=$(ulimit -Hn)
[ "$nofile_hard" = unlimited ] && nofile_hard=1048576
# When the open-file limit keeps out the largest size, also the most it allows
# (in thousands): whether the memory per connection stays flat as they grow.
if [ "$smoke" -eq 0 ] && [ "$nofile_hard" -lt 50200 ]; then
  fit=$(( (nofile_hard - 200) / 1000 * 1000 ))
  [ "$fit" -gt 10000 ] && conn_sizes=(10000 "$fit" 50000)
fi
cores=$(nproc)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/telewire-bench-hub-XXXXXX")
declare -A live=()
keep_tmp=0
cleanup() {
  local p
  for p in "${!live[@]}"; do stop_pid "$p" "process $p"; done
  if [ "$keep_tmp" -eq 1 ]; then echo "bench-hub: logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { keep_tmp=1; echo "bench-hub: FAILED: $*" >&2; exit 1; }
is_num() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
# kv FILE KEY: KEY's value in the last line of FILE that has it
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$1" | tail -1; }

spawn() {  # spawn LOG CMD...: background child, pid in $spawned
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  spawned=$!
  live[$spawned]=1
}
finish() {  # finish PID NAME: stop our child and forget it
  stop_pid "$1" "$2"
  unset "live[$1]"
}

# The exact commands, with ports and the temp dir as variables.
commands=()
declare -A noted=()
note() {
  local key=$1 c
  shift
  [ "${noted[$key]:-}" ] && return 0
  noted[$key]=1
  c=$(printf '%q ' "$@"); c=${c% }
  c=${c//$bin\//\$BUILD_DIR\/bin\/}
  c=${c//$tmp/\$TMP}
  c=${c//$root\//}
  [ -n "${hub_port:-}" ] && c=${c//127.0.0.1:$hub_port/127.0.0.1:\$HUB_PORT}
  [ -n "${nchan_port:-}" ] && c=${c//127.0.0.1:$nchan_port/127.0.0.1:\$NCHAN_PORT}
  [ -n "${mqtt_port:-}" ] && c=${c//127.0.0.1:$mqtt_port/127.0.0.1:\$MQTT_PORT}
  commands+=("$c")
}

# ---- servers ----

mqtt_port=$(pick_port 18850)
mkdir -p "$tmp/broker"
mosquitto_conf "$tmp/broker" "$mqtt_port"
echo "persistence false" >>"$tmp/broker/mosquitto.conf"
spawn "$tmp/broker/out.log" "$(mosquitto_bin)" -c "$tmp/broker/mosquitto.conf"
wait_port "$mqtt_port" 10 mosquitto || fail "mosquitto did not start"

hub_pid="" nchan_pid="" hub_port="" nchan_port=""
start_hub() {
  local d=$tmp/hub-$1
  mkdir -p "$d"
  hub_port=$(pick_port 18880)
  local c=("$bin/telewire-hub" --mqtt "tcp://127.0.0.1:$mqtt_port" --listen "127.0.0.1:$hub_port"
           --hub "$hub" --access-key "$access_key" --log-level warn)
  note hub "${c[@]}"
  spawn "$d/hub.log" "${c[@]}"
  hub_pid=$spawned
  wait_port "$hub_port" 10 telewire-hub || fail "telewire-hub did not start: $(tail -3 "$d/hub.log")"
}
stop_hub() { finish "$hub_pid" telewire-hub; hub_pid=""; }

start_nchan() {
  local d=$tmp/nchan-$1
  mkdir -p "$d"
  nchan_port=$(pick_port 18980)
  sed -e "s|@PREFIX@|$d|g; s|@PORT@|$nchan_port|g; s|@WORKERS@|$cores|g" \
      -e "s|@NOFILE@|$nofile_hard|g; s|@USER@|$(id -un)|g" "$root/tests/perf/nchan.conf.in" >"$d/nchan.conf"
  note nchan "$nginx_bin" -c "$d/nchan.conf" -p "$d" -g 'daemon off;'
  spawn "$d/out.log" "$nginx_bin" -c "$d/nchan.conf" -p "$d" -g 'daemon off;'
  nchan_pid=$spawned
  wait_port "$nchan_port" 10 nginx || fail "nginx did not start: $(tail -3 "$d/out.log" "$d/error.log")"
}
stop_nchan() { finish "$nchan_pid" nginx; nchan_pid=""; }

# rss_kib PID: VmRSS of PID and of its children (nginx's workers), KiB. Pages of
# nchan's shared memory touched by several workers count once in each.
rss_kib() {
  local p s=0 v
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}

# swarm_cmd SERVER CONNS GROUPS EXPECT: the ws_swarm command line, in $swarm
swarm_cmd() {
  local server=$1 conns=$2 groups=$3 expect=$4
  if [ "$server" = telewire ]; then
    swarm=("$bin/ws_swarm" --url "ws://127.0.0.1:$hub_port/client/?hub=$hub" --mode signalr)
  else
    swarm=("$bin/ws_swarm" --url "ws://127.0.0.1:$nchan_port/sub/{group}" --mode raw)
  fi
  swarm+=(--connections "$conns" --connect-rate 5000 --duration "$tool_s")
  [ "$groups" -gt 0 ] && swarm+=(--groups "$groups")
  [ "$expect" -gt 0 ] && swarm+=(--expect "$expect")
  return 0
}

# wait_ready FILE PID: until the swarm wrote its ready line (or died)
wait_ready() {
  local i
  for ((i = 0; i < tool_s * 20; i++)); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# wait_exit PID SECONDS: waits for our child to end by itself
wait_exit() {
  local i rc=0
  for ((i = 0; i < $2 * 20; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$1" 2>/dev/null && { finish "$1" ws_swarm; return 1; }
  wait "$1" || rc=$?
  unset "live[$1]"
  return $rc
}

# fanout SERVER SHAPE PACED RUN: one swarm + one sender; sets rate p50 p99 max
fanout() {
  local server=$1 shape=$2 paced=$3 run=$4 d sp m groups expect per_msg pace=0 key
  d=$tmp/fanout-$server-$shape-$paced-$run
  mkdir -p "$d"
  if [ "$shape" = broadcast ]; then
    groups=$([ "$server" = nchan ] && echo 1 || echo 0) per_msg=$n m=$m_bc
    [ "$paced" = paced ] && { pace=$pace_bc; m=$((pace_bc * pace_s)); }
  else
    groups=$k per_msg=$((n / k)) m=$m_grp
    [ "$paced" = paced ] && { pace=$pace_grp; m=$((pace_grp * pace_s)); }
  fi
  expect=$((m * per_msg))
  swarm_cmd "$server" "$n" "$groups" "$expect"
  swarm+=(--ready-file "$d/ready")
  # Four requests in flight, so that neither server waits on a single publisher connection
  # (nchan publishes one request at a time per connection, and its publish takes longest).
  local send=("$bin/fanout_send" --messages "$m" --rate "$pace" --timeout "$tool_s" --conns 4)
  if [ "$server" = telewire ]; then
    if [ "$shape" = broadcast ]; then
      send+=(--url "http://127.0.0.1:$hub_port/api/v1/hubs/$hub")
    else
      send+=(--url "http://127.0.0.1:$hub_port/api/v1/hubs/$hub/groups/{group}" --groups "$k")
    fi
    send+=(--format signalr --access-key "$access_key")
  else
    send+=(--url "http://127.0.0.1:$nchan_port/pub/{group}" --groups "$([ "$shape" = broadcast ] && echo 1 || echo "$k")"
           --format raw)
  fi
  key="fanout-$server-$shape-$paced"
  note "$key-swarm" "${swarm[@]}" "&"
  note "$key-send" "${send[@]}"
  spawn "$d/swarm.log" "${swarm[@]}"
  sp=$spawned
  wait_ready "$d/ready" "$sp" || fail "$server $shape: the swarm did not get ready: $(tail -3 "$d/swarm.log")"
  grep -q 'failed=0' "$d/ready" || fail "$server $shape: connections failed: $(cat "$d/ready"; tail -3 "$d/swarm.log")"
  "${send[@]}" >"$d/send.out" 2>"$d/send.err" || fail "$server $shape: the sender failed: $(cat "$d/send.out" "$d/send.err")"
  wait_exit "$sp" "$tool_s" || fail "$server $shape ($paced): deliveries lost or late: $(grep '^swarm' "$d/swarm.log" || tail -3 "$d/swarm.log")"
  rate=$(kv "$d/swarm.log" rate) p50=$(kv "$d/swarm.log" p50_us) p99=$(kv "$d/swarm.log" p99_us) max=$(kv "$d/swarm.log" max_us)
  for v in "$rate" "$p50" "$p99" "$max"; do is_num "$v" || fail "$server $shape: no numbers from the swarm: $(tail -2 "$d/swarm.log")"; done
  [ "$(kv "$d/swarm.log" deliveries)" = "$expect" ] || fail "$server $shape: $(kv "$d/swarm.log" deliveries) of $expect delivered"
  echo "bench-hub: $server $shape $paced run $run: $rate deliveries/s, p50 ${p50} us, p99 ${p99} us, max ${max} us" >&2
}

# idle_mem SERVER CONNS: sets kib (per connection) or na (why not measured)
idle_mem() {
  local server=$1 conns=$2 d pid before after sp
  d=$tmp/conn-$server-$conns
  mkdir -p "$d"
  kib="" na=""
  if [ "$nofile_hard" -lt $((conns + 200)) ]; then
    na="n/a"
    na_why[$conns]="not measured: the RLIMIT_NOFILE hard limit ($nofile_hard) is below the $conns sockets the server and the swarm each hold (raise it with ulimit -Hn / LimitNOFILE=)"
    return 0
  fi
  if [ "$server" = telewire ]; then start_hub "conn-$conns"; pid=$hub_pid; else start_nchan "conn-$conns"; pid=$nchan_pid; fi
  sleep 0.5
  before=$(rss_kib "$pid")
  swarm_cmd "$server" "$conns" "$([ "$server" = nchan ] && echo 1 || echo 0)" 0
  swarm+=(--ready-file "$d/ready")
  note "conn-$server-swarm" "${swarm[@]}" "&"
  spawn "$d/swarm.log" "${swarm[@]}"
  sp=$spawned
  wait_ready "$d/ready" "$sp" || fail "$server idle connections: the swarm did not get ready: $(tail -3 "$d/swarm.log")"
  grep -q 'failed=0' "$d/ready" || fail "$server: $conns idle connections: $(cat "$d/ready"; tail -3 "$d/swarm.log")"
  sleep 1
  after=$(rss_kib "$pid")
  finish "$sp" ws_swarm
  if [ "$server" = telewire ]; then stop_hub; else stop_nchan; fi
  kib=$(awk -v a="$after" -v b="$before" -v n="$conns" 'BEGIN { printf "%.2f", (a - b) / n }')
  echo "bench-hub: $server: $conns idle connections: RSS $before -> $after KiB, $kib KiB each" >&2
  mem_detail[$server-$conns]="$before -> $after"
}

# ---- run ----

started=$(date -u '+%Y-%m-%d %H:%M UTC')
declare -A res=() mem=() mem_detail=() na_why=()
add() { res[$1]="${res[$1]:-}${res[$1]:+ }$2"; }

for c in "${conn_sizes[@]}"; do
  for s in telewire nchan; do
    idle_mem "$s" "$c"
    mem[$s-$c]=${kib:-$na}
  done
done

start_hub fanout
start_nchan fanout
for ((r = 1; r <= runs; r++)); do
  for shape in broadcast group; do
    for s in telewire nchan; do
      fanout "$s" "$shape" burst "$r"
      add "$s-$shape-rate" "$rate"
      fanout "$s" "$shape" paced "$r"
      add "$s-$shape-p50" "$p50"; add "$s-$shape-p99" "$p99"; add "$s-$shape-max" "$max"
    done
  done
done
stop_hub
stop_nchan

# ---- report ----

med() { local v; read -ra v <<<"${res[$1]}"; median "${v[@]}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
# verdict_min VALUE TARGET WHY: met, or missed by X% because WHY
verdict_min() {
  awk -v v="$1" -v t="$2" -v w="$3" 'BEGIN { if (v >= t) printf "met"; else printf "missed by %.0f%% because %s", (t - v) * 100 / t, w }'
}
verdict_max() {
  awk -v v="$1" -v t="$2" -v w="$3" 'BEGIN { if (v <= t) printf "met"; else printf "missed by %.0f%% because %s", (v - t) * 100 / t, w }'
}
# What the profiles showed (perf record -g -p HUB_PID during the full run): the reasons a
# missed target is given.
why_rate=${BENCH_HUB_WHY_RATE:-"the hub's loop thread spends over half its time in writev, that is in the kernel's loopback TCP path (which runs the receiving side too; 67% of its samples are in the kernel), and it shares the $cores cores with the swarm (about half the hub's CPU) and the sender"}
why_mem=${BENCH_HUB_WHY_MEM:-"libmicrohttpd keeps the memory pool of every upgraded connection (32 KiB by default, about 22 KiB of it resident) until the socket closes; with --request-memory 4096 (MHD_OPTION_CONNECTION_MEMORY_LIMIT, the default) the hub measured 7.4 KiB per connection, at 8192 11.4 KiB (10,000 connections)"}

{
  printf '\n%-34s %14s %14s %7s %10s %10s %10s\n' "fan-out ($n clients)" "deliveries/s" "runs" "ratio" "p50 ms" "p99 ms" "max ms"
  for shape in broadcast group; do
    for s in telewire nchan; do
      printf '%-34s %14s %14s %7s %10s %10s %10s\n' "$s $shape" "$(med "$s-$shape-rate")" "${res[$s-$shape-rate]// /,}" \
        "$(ratio "$(med "$s-$shape-rate")" "$(med "nchan-$shape-rate")")" \
        "$(ms "$(med "$s-$shape-p50")")" "$(ms "$(med "$s-$shape-p99")")" "$(ms "$(med "$s-$shape-max")")"
    done
  done
  printf '\n%-34s %16s %16s\n' "idle connections" "telewire KiB/conn" "nchan KiB/conn"
  for c in "${conn_sizes[@]}"; do
    printf '%-34s %16s %16s\n' "$c" "${mem[telewire-$c]}" "${mem[nchan-$c]}"
  done
} >&2

# the fragment
{
  echo "## Fan-out"
  echo
  echo "One telewire-hub and one nginx + nchan ($(nginx -v 2>&1 | sed 's/.*\///'), $cores workers), $n WebSocket"
  echo "clients of \`ws_swarm\` on the same $cores-core machine, 200-byte messages. Throughput: messages"
  echo "sent as fast as the server accepts them ($m_bc broadcasts; $m_grp group sends over $k groups of"
  echo "$((n / k))), deliveries per second from the first to the last delivery. Latency (send"
  echo "timestamp to receipt): the same sends paced at $pace_bc broadcasts/s and $pace_grp group sends/s"
  echo "for $pace_s s (a broadcast reaches its last client after a socket write to each of the"
  echo "$n: its p50 is about half that time). Median of $runs run(s); $started."
  echo
  echo "| scenario | deliveries/s | runs | / nchan | p50 ms | p99 ms | max ms |"
  echo "|---|---:|---|---:|---:|---:|---:|"
  for shape in broadcast group; do
    for s in telewire nchan; do
      echo "| $s, $shape | $(med "$s-$shape-rate") | ${res[$s-$shape-rate]// /, } | $(ratio "$(med "$s-$shape-rate")" "$(med "nchan-$shape-rate")") | $(ms "$(med "$s-$shape-p50")") | $(ms "$(med "$s-$shape-p99")") | $(ms "$(med "$s-$shape-max")") |"
    done
  done
  echo
  bc=$(med telewire-broadcast-rate) gr=$(med telewire-group-rate)
  worst=$(awk -v a="$bc" -v b="$gr" 'BEGIN { print (a < b ? a : b) }')
  rworst=$(awk -v a="$(ratio "$bc" "$(med nchan-broadcast-rate)")" -v b="$(ratio "$gr" "$(med nchan-group-rate)")" 'BEGIN { print (a < b ? a : b) }')
  echo "Targets: >= $target_rate deliveries/s: $(verdict_min "$worst" "$target_rate" "$why_rate")."
  echo ">= ${target_ratio}x nchan: $(verdict_min "$rworst" "$target_ratio" "$why_rate")."
  echo
  echo "## Connections"
  echo
  echo "Resident memory (VmRSS; nginx: master + workers) added by idle WebSocket connections"
  echo "(telewire: negotiated, SignalR JSON handshake done; nchan: subscribed to one channel),"
  echo "divided by their number. Kernel socket buffers are not in VmRSS for either."
  echo
  echo "| connections | telewire KiB/conn | nchan KiB/conn | telewire RSS KiB | nchan RSS KiB |"
  echo "|---:|---:|---:|---|---|"
  for c in "${conn_sizes[@]}"; do
    echo "| $c | ${mem[telewire-$c]} | ${mem[nchan-$c]} | ${mem_detail[telewire-$c]:-} | ${mem_detail[nchan-$c]:-} |"
  done
  echo
  for c in "${conn_sizes[@]}"; do
    t=${mem[telewire-$c]} x=${mem[nchan-$c]}
    if is_num "$t"; then
      v=$(verdict_max "$t" "$target_kib" "$why_mem")
      if is_num "$x"; then
        v2=$(verdict_max "$t" "$x" "of the same pool")
      else
        v2="nchan $x"
      fi
      echo "Targets at $c: <= $target_kib KiB per connection: $v; <= nchan's: $v2."
    else
      echo "Targets at $c: ${na_why[$c]:-$t}."
    fi
  done
  echo
  echo "Commands (\$TMP a private directory; ports chosen free at run time):"
  echo
  echo '```sh'
  echo "scripts/lib/bench-hub.sh $([ "$smoke" -eq 1 ] && echo '--smoke ')--runs $runs --build-dir \$BUILD_DIR --out FRAGMENT.md"
  printf '%s\n' "${commands[@]}"
  echo '```'
} >"$out"
echo "bench-hub: wrote $out" >&2
