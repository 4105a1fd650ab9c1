# run.sh -- helpers for scripts that start telewire's processes: ports, mosquitto, clean stops
# shellcheck shell=bash

# port_free PORT: true when nothing listens on 127.0.0.1:PORT
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_port PREFERRED: PREFERRED if free, else the first free port above it
pick_port() {
  local p=$1
  while ! port_free "$p"; do
    p=$((p + 1))
    [ "$p" -lt 65000 ] || { echo "no free port found" >&2; return 1; }
  done
  echo "$p"
}

# wait_port PORT SECONDS NAME: waits until something listens on PORT
wait_port() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_free "$1" || return 0
    sleep 0.1
  done
  echo "$3 did not start listening on port $1 within $2 s" >&2
  return 1
}

# mosquitto_conf DIR PORT: writes a private broker config for loopback use. mosquitto
# started as root drops to the "mosquitto" user unless told otherwise, and could then
# not write its log and persistence in DIR: it stays the user who started it.
mosquitto_conf() {
  cat >"$1/mosquitto.conf" <<CONF
user $(id -un)
listener $2 127.0.0.1
allow_anonymous true
persistence true
persistence_location $1/
max_queued_messages 100000
log_dest file $1/mosquitto.log
CONF
}

# mqtt_session_end PORT ID: ends the persistent session a client left at the broker
# on 127.0.0.1:PORT under client id ID (a connection with clean start and no
# session expiry replaces it). An ingest's session stays subscribed to the
# telemetry topics after ingest stops, and the broker would queue every later
# load for it too.
mqtt_session_end() {
  mosquitto_sub -h 127.0.0.1 -p "$1" -V mqttv5 -i "$2" -t telewire/bench/none -E >/dev/null 2>&1
}

# history_counts FILE: "POINTS VALUES" of a history file: its rows of points,
# and the values they hold, decoded by the test harness (tests/harness).
history_counts() {
  TW_HISTORY_FILE="$1" node --input-type=module -e "
    import { historyValues } from '$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/harness/index.mjs';
    const v = historyValues(process.env.TW_HISTORY_FILE);
    console.log(new Set(v.map((x) => x.device + '/' + x.ts)).size, v.length);"
}

mosquitto_bin() {
  for p in /usr/sbin/mosquitto /usr/bin/mosquitto; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  command -v mosquitto
}

# stop_pid PID NAME: SIGTERM, wait up to 10 s, then SIGKILL; only our own child
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "$2 (pid $pid) did not stop in 10 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
