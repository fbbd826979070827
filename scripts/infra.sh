#!/usr/bin/env bash
# Local infrastructure for flotilla: a real Apache Kafka (KRaft, single node)
# and a real MongoDB-compatible server (FerretDB, SQLite backend), both bound to
# 127.0.0.1 only. See docs/infra.md.
#
#   scripts/infra.sh up             provision (cached) + start both, wait until ready
#   scripts/infra.sh down           stop both (SIGTERM, then SIGKILL after a bound)
#   scripts/infra.sh status         running/stopped for each; exit 0 if both run, else 3
#   scripts/infra.sh env            print export lines for KAFKA_BROKERS / MONGO_URL
#   scripts/infra.sh restart-kafka  SIGTERM Kafka, start it again on the same data
#
# Exit codes: 0 ok, 1 failure, 2 missing prerequisite / bad usage, 3 (status) not all running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${FLOTILLA_CACHE_DIR:-$HOME/.cache/flotilla}"
INFRA_DIR="${FLOTILLA_INFRA_DIR:-$ROOT/.infra}"

KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
MONGO_PORT="${MONGO_PORT:-27027}"
MONGO_DB="${MONGO_DB:-flotilla}"
READY_TIMEOUT="${FLOTILLA_INFRA_TIMEOUT:-120}"     # seconds, per service, for `up`
STOP_TIMEOUT="${FLOTILLA_INFRA_STOP_TIMEOUT:-30}"  # seconds of SIGTERM grace before SIGKILL
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"

# --- Kafka (assembled from Maven Central by infra/kafka/pom.xml) -------------
KAFKA_SRC="$ROOT/infra/kafka"
KAFKA_POM="$KAFKA_SRC/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\([^<]*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n 1)"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_MARKER="$KAFKA_LIBS/.complete"
K_DIR="$INFRA_DIR/kafka"
K_DATA="$K_DIR/data"
K_LOGS="$K_DIR/logs"
K_PROPS="$K_DIR/server.properties"
K_PID="$K_DIR/kafka.pid"
K_OUT="$K_LOGS/kafka.out"
K_LOG="$K_LOGS/server.log"
K_READY_LINE='Kafka Server started'

# --- FerretDB (built from the Go module proxy with `go install`) -------------
FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"
FERRETDB_PKG="github.com/FerretDB/FerretDB/cmd/ferretdb"
# One local fix on top of the release (see patch_ferretdb); the suffix keeps an unpatched build out of use.
FERRETDB_PATCHLEVEL="idfix1"
FERRETDB_HOME="$CACHE_DIR/ferretdb-$FERRETDB_VERSION-$FERRETDB_PATCHLEVEL"
FERRETDB_BIN="$FERRETDB_HOME/bin/ferretdb"
F_DIR="$INFRA_DIR/ferretdb"
F_DATA="$F_DIR/data"
F_LOG="$F_DIR/ferretdb.log"
F_PID="$F_DIR/ferretdb.pid"
F_READY_LINE='Listening on'

JAVA="java"
if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then JAVA="$JAVA_HOME/bin/java"; fi

# --- small helpers ------------------------------------------------------------
info() { printf '[infra] %s\n' "$*"; }
warn() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }
prereq() { printf '[infra] error: %s\n' "$*" >&2; exit 2; }

usage() {
  cat >&2 <<EOF
usage: scripts/infra.sh up|down|status|env|restart-kafka

  up             start Kafka $KAFKA_VERSION (127.0.0.1:$KAFKA_PORT) and FerretDB $FERRETDB_VERSION (127.0.0.1:$MONGO_PORT)
  down           stop both
  status         show state; exit 0 if both are running, 3 otherwise
  env            print 'export KAFKA_BROKERS=...' and 'export MONGO_URL=...'
  restart-kafka  stop Kafka with SIGTERM and start it again with the same data

cache: $CACHE_DIR   (FLOTILLA_CACHE_DIR)
data:  $INFRA_DIR   (FLOTILLA_INFRA_DIR)
EOF
}

need_java() {
  if ! command -v "$JAVA" >/dev/null 2>&1; then
    prereq "Java 17+ is required to run Kafka: install openjdk-17-jre-headless (apt-get install -y openjdk-17-jre-headless)"
  fi
  local v
  v="$("$JAVA" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n 1)"
  if [[ -z "$v" || "$v" -lt 17 ]]; then
    prereq "Java 17+ is required to run Kafka (found: $("$JAVA" -version 2>&1 | head -n 1)): install openjdk-17-jre-headless"
  fi
}

need_mvn() {
  command -v mvn >/dev/null 2>&1 ||
    prereq "Maven is required to fetch Kafka $KAFKA_VERSION from Maven Central on the first run: install maven (apt-get install -y maven)"
  # Maven itself needs a JDK, not just a JRE.
  command -v javac >/dev/null 2>&1 || [[ -n "${JAVA_HOME:-}" ]] ||
    warn "no javac on PATH: if Maven fails, install openjdk-17-jdk-headless"
}

need_go() {
  command -v go >/dev/null 2>&1 ||
    prereq "Go 1.24+ is required to build FerretDB $FERRETDB_VERSION on the first run (built from the Go module proxy): install Go 1.24 or newer and put it on PATH"
}

# Is a TCP port on 127.0.0.1 accepting connections?
port_open() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# (The probes below open their own connection, so they also prove the port is open.)
# Real Kafka protocol round trip: a Metadata v4 request (no topics) on the
# PLAINTEXT listener; ready when it answers with our correlation id and >= 1 broker.
kafka_probe() {
  local hex
  hex="$(timeout 5 bash -c '
      exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
      # size=15 | api_key=3 (Metadata) | api_version=4 | correlation_id=42 | client_id=null
      # | topics=[] | allow_auto_topic_creation=false
      printf "\x00\x00\x00\x0f\x00\x03\x00\x04\x00\x00\x00\x2a\xff\xff\x00\x00\x00\x00\x00" >&3
      head -c 16 <&3' "$KAFKA_PORT" 2>/dev/null | od -An -v -tx1 | tr -d ' \n')" || return 1
  # size(4) correlation_id(4) throttle_time_ms(4) brokers.length(4)
  [[ ${#hex} -eq 32 && "${hex:8:8}" == "0000002a" ]] || return 1
  (( 16#${hex:24:8} >= 1 ))
}

# Real MongoDB wire protocol round trip: OP_MSG {ping: 1, $db: "admin"}; ready
# when the reply answers our request id with ok: 1.
mongo_probe() {
  local hex
  hex="$(timeout 5 bash -c '
      exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
      # MsgHeader{len=51, requestID=1, responseTo=0, opCode=2013 OP_MSG} flags=0 kind=0
      # BSON{ ping: int32 1, $db: "admin" } (30 bytes)
      printf "\x33\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00\x02\$db\x00\x06\x00\x00\x00admin\x00\x00" >&3
      len="$(head -c 4 <&3 | od -An -tu4 --endian=little | tr -d " \n")"
      [[ -n "$len" && "$len" -gt 21 && "$len" -lt 1048576 ]] || exit 1
      head -c "$((len - 4))" <&3' "$MONGO_PORT" 2>/dev/null | od -An -v -tx1 | tr -d ' \n')" || return 1
  # requestID(4) responseTo(4)=1 opCode(4)=2013 flags(4) kind(1) document...
  [[ "${hex:8:8}" == "01000000" && "${hex:16:8}" == "dd070000" ]] || return 1
  # ok: double 1.0 or int32 1
  [[ "$hex" == *016f6b00000000000000f03f* || "$hex" == *106f6b0001000000* ]]
}

# pid_alive PIDFILE PATTERN: the pid in PIDFILE is alive and its command line
# contains PATTERN (guards against a recycled pid).
pid_alive() {
  local pidfile="$1" pattern="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# While a server is starting, its pid may still show the forking shell's command line (between
# fork and exec), so the wait loops only ask whether the process exists at all.
pid_exists() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

kafka_alive() { pid_alive "$K_PID" "$K_PROPS"; }
ferret_alive() { pid_alive "$F_PID" "file:$F_DATA/"; }
kafka_ready() { grep -qF "$K_READY_LINE" "$K_LOG" 2>/dev/null && kafka_probe; }
ferret_ready() { grep -qF "$F_READY_LINE" "$F_LOG" 2>/dev/null && mongo_probe; }

show_tail() {
  local f
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf -- '----- last 40 lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
  printf -- '-----\n' >&2
}

# Serialise up/down/restart-kafka of the same infra dir.
take_lock() {
  mkdir -p "$INFRA_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$INFRA_DIR/.lock"
    flock -w 600 9 || die "another scripts/infra.sh is still running on $INFRA_DIR"
  fi
}

# --- provisioning (cached) -----------------------------------------------------
ensure_kafka_libs() {
  [[ -n "$KAFKA_VERSION" ]] || die "could not read <kafka.version> from $KAFKA_POM"
  if kafka_cached; then
    return 0
  fi
  need_mvn
  mkdir -p "$KAFKA_HOME"
  local tmp="$KAFKA_HOME/libs.tmp.$$" t0=$SECONDS
  info "kafka: assembling Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIBS (first run only)"
  rm -rf "$tmp"
  if ! mvn -B -q -f "$KAFKA_POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KAFKA_HOME/mvn.log" 2>&1; then
    show_tail "$KAFKA_HOME/mvn.log"
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed (full log: $KAFKA_HOME/mvn.log)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" && -f "$tmp/kafka-clients-$KAFKA_VERSION.jar" ]] ||
    die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing from $tmp"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)" >"$KAFKA_MARKER"
  info "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars ready in $((SECONDS - t0))s"
}

# FerretDB v1.24's SQLite backend looks a document up by `_id` with
#   WHERE _ferretdb_sjson->'$._id' = ?
# while the unique index it creates on every collection is on _ferretdb_sjson->"_id". SQLite matches
# an expression index by the text of the expression, so every find, update and delete by _id scanned
# the table and parsed each row's JSON (measured here: 8.2 ms for a miss on 3,000 documents vs
# 0.003 ms with the index's expression; EXPLAIN QUERY PLAN: SCAN vs SEARCH USING INDEX). Upstream:
# FerretDB/FerretDB#3340 (open; v2 moved to PostgreSQL). The fix makes the lookup use the index's
# own expression — the same JSON value, so results are unchanged. See docs/adr/0014 (addendum).
patch_ferretdb() {
  local file="$1/internal/backends/sqlite/metadata/metadata.go"
  local before="IDColumn = DefaultColumn + \"->'\$._id'\"" after='IDColumn = DefaultColumn + `->"_id"`'
  local line
  line="$(grep -nF "$before" "$file" | head -1 | cut -d: -f1)"
  [[ -n "$line" ]] || die "ferretdb: cannot apply the _id index fix: '$before' not found in $file (FERRETDB_VERSION changed?)"
  sed -i "${line}s/.*/\tIDColumn = DefaultColumn + \`->\"_id\"\`/" "$file"
  grep -qF "$after" "$file" || die "ferretdb: the _id index fix did not apply to $file"
}

ensure_ferretdb() {
  if [[ -x "$FERRETDB_BIN" ]]; then
    return 0
  fi
  need_go
  mkdir -p "$FERRETDB_HOME"
  local tmp="$FERRETDB_HOME/bin.tmp.$$" t0=$SECONDS
  info "ferretdb: building $FERRETDB_PKG@$FERRETDB_VERSION from the Go module proxy (first run only, takes a few minutes)"
  rm -rf "$tmp" "$FERRETDB_HOME/src"
  mkdir -p "$tmp"
  # Why not just `go install $FERRETDB_PKG@$FERRETDB_VERSION`:
  #  - it also asks the proxy for the module's version list (for a deprecation
  #    notice), which the proxy reachable here refuses (403), and
  #  - FerretDB embeds build/version/version.txt, which is generated by its own
  #    task runner and absent from the module zip (the binary panics without it).
  # So: fetch the exact module version, copy it, add version.txt, build its
  # ferretdb command against the module's own go.sum (pinned dependencies).
  # Pure Go (modernc.org/sqlite): no C toolchain needed. GOWORK=off so that a
  # go.work around the caller cannot interfere.
  local moddir
  if ! moddir="$(cd "$FERRETDB_HOME" && GOWORK=off GOFLAGS= \
      go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>"$FERRETDB_HOME/go-build.log" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || [[ ! -d "$moddir" ]]; then
    show_tail "$FERRETDB_HOME/go-build.log"
    die "could not download github.com/FerretDB/FerretDB@$FERRETDB_VERSION from the Go module proxy"
  fi
  cp -R "$moddir" "$FERRETDB_HOME/src"
  chmod -R u+w "$FERRETDB_HOME/src"
  printf '%s\n' "$FERRETDB_VERSION" >"$FERRETDB_HOME/src/build/version/version.txt"
  printf 'flotilla-infra\n' >"$FERRETDB_HOME/src/build/version/package.txt"
  patch_ferretdb "$FERRETDB_HOME/src"
  if ! (cd "$FERRETDB_HOME/src" &&
      GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
        go build -trimpath -o "$tmp/ferretdb" ./cmd/ferretdb) >>"$FERRETDB_HOME/go-build.log" 2>&1; then
    show_tail "$FERRETDB_HOME/go-build.log"
    rm -rf "$tmp"
    die "building $FERRETDB_PKG@$FERRETDB_VERSION failed (full log: $FERRETDB_HOME/go-build.log; FerretDB $FERRETDB_VERSION needs Go 1.24+)"
  fi
  [[ -x "$tmp/ferretdb" ]] || die "go build finished but $tmp/ferretdb is missing"
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  mv "$tmp/ferretdb" "$FERRETDB_BIN"
  rm -rf "$tmp"
  info "ferretdb: built in $((SECONDS - t0))s"
}

kafka_cached() { [[ -f "$KAFKA_MARKER" && "$(cat "$KAFKA_MARKER")" == "$KAFKA_VERSION $(sha256sum "$KAFKA_POM" | cut -d' ' -f1)" ]]; }

provision() {
  local kpid="" fpid="" rc=0
  # Check every prerequisite before starting any work.
  kafka_cached || need_mvn
  [[ -x "$FERRETDB_BIN" ]] || need_go
  # Build FerretDB (CPU-bound) while Maven downloads (network-bound). Both run
  # as background jobs, so a failure in one never leaves the other orphaned.
  if ! kafka_cached; then ensure_kafka_libs & kpid=$!; fi
  if [[ ! -x "$FERRETDB_BIN" ]]; then ensure_ferretdb & fpid=$!; fi
  if [[ -n "$kpid" ]]; then wait "$kpid" || rc=$?; fi
  if [[ -n "$fpid" ]]; then wait "$fpid" || { local frc=$?; [[ $rc -ne 0 ]] || rc=$frc; }; fi
  [[ $rc -eq 0 ]] || exit "$rc"
}

# --- Kafka -------------------------------------------------------------------------
render_kafka_config() {
  mkdir -p "$K_DATA" "$K_LOGS"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@KAFKA_DATA_DIR@|$K_DATA|g" \
      "$KAFKA_SRC/server.properties" >"$K_PROPS.tmp"
  mv "$K_PROPS.tmp" "$K_PROPS"
}

# JVM flags shared by the broker and the storage tool. KAFKA_HEAP_OPTS is a
# whitespace-separated list of flags (as with Kafka's own scripts).
kafka_jvm_args() {
  local heap
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  KAFKA_JVM_ARGS=("${heap[@]}"
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$KAFKA_SRC/log4j.properties" "-Dkafka.logs.dir=$K_LOGS"
    -cp "$KAFKA_LIBS/*")
}

format_kafka_storage() {
  [[ -f "$K_DATA/meta.properties" ]] && return 0
  local cid
  if [[ -s "$K_DIR/cluster.id" ]]; then
    cid="$(cat "$K_DIR/cluster.id")"
  else
    cid="$("$JAVA" -Xmx128m -Dlog4j.configuration="file:$KAFKA_SRC/log4j.properties" \
      -Dkafka.logs.dir="$K_LOGS" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$K_LOGS/format.log" | tail -n 1)"
    [[ "$cid" =~ ^[A-Za-z0-9_-]{22}$ ]] || { show_tail "$K_LOGS/format.log"; die "kafka: could not generate a cluster id"; }
    printf '%s\n' "$cid" >"$K_DIR/cluster.id"
  fi
  info "kafka: formatting KRaft storage in $K_DATA (cluster id $cid)"
  if ! "$JAVA" -Xmx256m -Dlog4j.configuration="file:$KAFKA_SRC/log4j.properties" -Dkafka.logs.dir="$K_LOGS" \
      -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format -t "$cid" -c "$K_PROPS" --ignore-formatted \
      >>"$K_LOGS/format.log" 2>&1; then
    show_tail "$K_LOGS/format.log"
    die "kafka: kafka.tools.StorageTool format failed"
  fi
}

launch_kafka() {
  if kafka_alive; then
    return 0
  fi
  rm -f "$K_PID"
  if port_open "$KAFKA_PORT" || port_open "$KAFKA_CONTROLLER_PORT"; then
    die "kafka: 127.0.0.1:$KAFKA_PORT or :$KAFKA_CONTROLLER_PORT is already in use by a process this script did not start (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
  fi
  need_java
  render_kafka_config
  format_kafka_storage
  # Keep the previous run's logs one generation back, so readiness is judged on this run's log.
  mkdir -p "$K_LOGS/previous"
  local f
  for f in "$K_LOGS"/*.log "$K_LOGS"/*.log.[0-9]* "$K_OUT"; do
    [[ -f "$f" && "$f" != "$K_LOGS/format.log" ]] && mv -f "$f" "$K_LOGS/previous/"
  done
  info "kafka: starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (logs: $K_LOGS)"
  kafka_jvm_args
  (
    cd "$K_DIR"
    # setsid: own session, so the broker outlives this shell and its terminal's signals.
    # (setsid/nohup exec in place, so $! is the JVM's pid.)
    setsid nohup "$JAVA" "${KAFKA_JVM_ARGS[@]}" kafka.Kafka "$K_PROPS" >"$K_OUT" 2>&1 </dev/null 9>&- &
    echo $! >"$K_PID"
  )
}

wait_kafka() {
  local t0=$SECONDS deadline=$((SECONDS + READY_TIMEOUT))
  while :; do
    if ! pid_exists "$K_PID"; then
      show_tail "$K_LOG" "$K_OUT"
      die "kafka: the broker exited during startup (logs: $K_LOGS)"
    fi
    if kafka_ready; then
      info "kafka: ready on 127.0.0.1:$KAFKA_PORT (pid $(cat "$K_PID"), $((SECONDS - t0))s)"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      show_tail "$K_LOG" "$K_OUT"
      die "kafka: not ready after ${READY_TIMEOUT}s (pid $(cat "$K_PID") left running for inspection; 'scripts/infra.sh down' stops it)"
    fi
    sleep 1
  done
}

# --- FerretDB -----------------------------------------------------------------------
launch_ferret() {
  if ferret_alive; then
    return 0
  fi
  rm -f "$F_PID"
  if port_open "$MONGO_PORT"; then
    die "ferretdb: 127.0.0.1:$MONGO_PORT is already in use by a process this script did not start (set MONGO_PORT)"
  fi
  mkdir -p "$F_DATA"
  [[ -f "$F_LOG" ]] && mv -f "$F_LOG" "$F_LOG.previous"
  info "ferretdb: starting FerretDB $FERRETDB_VERSION (SQLite) on 127.0.0.1:$MONGO_PORT (log: $F_LOG)"
  (
    cd "$F_DIR"
    setsid nohup "$FERRETDB_BIN" \
      --listen-addr="127.0.0.1:$MONGO_PORT" \
      --handler=sqlite --sqlite-url="file:$F_DATA/" \
      --state-dir="$F_DIR" \
      --telemetry=disable \
      --debug-addr=- \
      --log-level=info --log-format=text \
      >"$F_LOG" 2>&1 </dev/null 9>&- &
    echo $! >"$F_PID"
  )
}

wait_ferret() {
  local t0=$SECONDS deadline=$((SECONDS + READY_TIMEOUT))
  while :; do
    if ! pid_exists "$F_PID"; then
      show_tail "$F_LOG"
      die "ferretdb: exited during startup (log: $F_LOG)"
    fi
    if ferret_ready; then
      info "ferretdb: ready on 127.0.0.1:$MONGO_PORT (pid $(cat "$F_PID"), $((SECONDS - t0))s)"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      show_tail "$F_LOG"
      die "ferretdb: not ready after ${READY_TIMEOUT}s (pid $(cat "$F_PID") left running; 'scripts/infra.sh down' stops it)"
    fi
    sleep 0.5
  done
}

# --- stopping ---------------------------------------------------------------------------
# stop_begin NAME PIDFILE PATTERN: send SIGTERM if running; echo the pid (or nothing).
stop_begin() {
  local name="$1" pidfile="$2" pattern="$3" pid
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    info "$name: not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  info "$name: stopping (SIGTERM to pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  echo "$pid" >"$pidfile.stopping"
}

# stop_finish NAME PIDFILE PATTERN: wait for the process; SIGKILL after STOP_TIMEOUT.
stop_finish() {
  local name="$1" pidfile="$2" pattern="$3" pid t0=$SECONDS
  [[ -f "$pidfile.stopping" ]] || return 0
  pid="$(cat "$pidfile.stopping")"
  while pid_alive "$pidfile" "$pattern"; do
    if ((SECONDS - t0 >= STOP_TIMEOUT)); then
      warn "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL to pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
      local k=0
      while pid_alive "$pidfile" "$pattern" && ((k < 20)); do sleep 0.5; k=$((k + 1)); done
      break
    fi
    sleep 0.2
  done
  if pid_alive "$pidfile" "$pattern"; then
    die "$name: pid $pid did not exit"
  fi
  rm -f "$pidfile" "$pidfile.stopping"
  info "$name: stopped ($((SECONDS - t0))s)"
}

# --- commands -----------------------------------------------------------------------------
cmd_up() {
  local t0=$SECONDS
  need_java
  take_lock
  # Fail before starting anything if a port is taken by something else.
  if ! kafka_alive && { port_open "$KAFKA_PORT" || port_open "$KAFKA_CONTROLLER_PORT"; }; then
    die "kafka: 127.0.0.1:$KAFKA_PORT or :$KAFKA_CONTROLLER_PORT is already in use by a process this script did not start (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
  fi
  if ! ferret_alive && port_open "$MONGO_PORT"; then
    die "ferretdb: 127.0.0.1:$MONGO_PORT is already in use by a process this script did not start (set MONGO_PORT)"
  fi
  provision
  if kafka_alive && kafka_ready; then
    info "kafka: already running on 127.0.0.1:$KAFKA_PORT (pid $(cat "$K_PID"))"
  else
    launch_kafka
  fi
  if ferret_alive && ferret_ready; then
    info "ferretdb: already running on 127.0.0.1:$MONGO_PORT (pid $(cat "$F_PID"))"
  else
    launch_ferret
  fi
  wait_ferret
  wait_kafka
  info "up in $((SECONDS - t0))s. Use: eval \"\$(scripts/infra.sh env)\""
}

cmd_down() {
  if [[ ! -d "$INFRA_DIR" ]]; then
    info "kafka: not running"
    info "ferretdb: not running"
    return 0
  fi
  take_lock
  stop_begin kafka "$K_PID" "$K_PROPS"
  stop_begin ferretdb "$F_PID" "file:$F_DATA/"
  stop_finish kafka "$K_PID" "$K_PROPS"
  stop_finish ferretdb "$F_PID" "file:$F_DATA/"
}

cmd_restart_kafka() {
  local t0=$SECONDS
  need_java
  take_lock
  [[ -f "$KAFKA_MARKER" ]] || die "kafka has never been provisioned: run 'scripts/infra.sh up' first"
  stop_begin kafka "$K_PID" "$K_PROPS"
  stop_finish kafka "$K_PID" "$K_PROPS"
  launch_kafka
  wait_kafka
  info "kafka: restarted in $((SECONDS - t0))s"
}

cmd_status() {
  local ok=0 state
  if kafka_alive; then
    if kafka_ready; then state="running"; else state="starting"; ok=3; fi
    printf '%-9s %-8s pid %-7s 127.0.0.1:%s (controller 127.0.0.1:%s)  Apache Kafka %s\n' \
      kafka "$state" "$(cat "$K_PID")" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_VERSION"
  else
    ok=3
    printf '%-9s %-8s %-11s 127.0.0.1:%s (controller 127.0.0.1:%s)  Apache Kafka %s\n' \
      kafka stopped "" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_VERSION"
  fi
  if ferret_alive; then
    if ferret_ready; then state="running"; else state="starting"; ok=3; fi
    printf '%-9s %-8s pid %-7s 127.0.0.1:%s  FerretDB %s (SQLite)\n' \
      ferretdb "$state" "$(cat "$F_PID")" "$MONGO_PORT" "$FERRETDB_VERSION"
  else
    ok=3
    printf '%-9s %-8s %-11s 127.0.0.1:%s  FerretDB %s (SQLite)\n' \
      ferretdb stopped "" "$MONGO_PORT" "$FERRETDB_VERSION"
  fi
  return "$ok"
}

cmd_env() {
  printf 'export KAFKA_BROKERS=127.0.0.1:%s\n' "$KAFKA_PORT"
  printf 'export MONGO_URL=mongodb://127.0.0.1:%s/%s\n' "$MONGO_PORT" "$MONGO_DB"
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status)
      local rc=0
      cmd_status || rc=$?
      exit "$rc"
      ;;
    env) cmd_env ;;
    restart-kafka) cmd_restart_kafka ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
