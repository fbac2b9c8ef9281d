#!/usr/bin/env bash
# Cluster benchmarks for Chronos (see bench/cluster/README.md):
#   1. replicated creation throughput: single node vs one node of a 2-node cluster (rf 2)
#   2. resync of 100,000 timers to a joining node, with pop lateness of other timers meanwhile
#
# Usage: bench/cluster/run.sh [create|resync|all]     (default: all)
# Builds target/chronos.jar and the test classes if they are missing or older than the sources,
# runs each benchmark in its own JVM (nodes are child JVMs on 127.0.0.1), removes its processes
# and temporary directory when it ends (also on Ctrl-C), and prints a summary.
# Environment: JAVA (default: java), CBENCH_JFR=1 to keep JFR profiles of both benchmarks,
# CBENCH_ROUNDS=<n> to alternate single/cluster phases n times (default 1),
# CBENCH_TARGET_PRIORITY=1 to run benchmark 2's callback target at the nodes' pop-path priority,
# CBENCH_PLAIN_JVM=1 to run the nodes without the Debian package's JVM options (deb/chronos.default),
# CBENCH_JVM_OPTS="<jvm options>" for the benchmark's own JVM (load generator and callback target),
# CBENCH_NODE_OPTS="<jvm options>" for every node JVM (e.g. -Xlog:gc:file=gc.log, or
# -Ddw.replication.maxBulkInFlightPerPeer=4 to override a YAML key; "{node}" becomes the node's name,
# e.g. -XX:AOTCache=/tmp/aot/{node}.aot),
# CBENCH_RESYNC_AGAIN=1 to time a second resync after the first (on compiled code),
# CBENCH_SAMPLES=<file> to write benchmark 2's callback lateness samples there (see pooled.sh),
# CBENCH_KEEP=1 to keep the work directory (node logs, cluster files), CBENCH_WAIT_QUIET=<s> to
# wait up to that many seconds for the machine to be idle before each benchmark (the figures
# are only meaningful when nothing else runs; each phase reports the CPU other processes took).
set -euo pipefail

# A relative CBENCH_SAMPLES is relative to where the script was started.
[ -n "${CBENCH_SAMPLES:-}" ] && CBENCH_SAMPLES=$(realpath -m "$CBENCH_SAMPLES")
cd "$(dirname "$0")/../.."
which=${1:-all}
JAVA=${JAVA:-java}
JAR=target/chronos.jar
MARK=target/test-classes/org/chronos/bench/cluster/ResyncBench.class

stale() { # stale <file> <paths...>: the file is missing or older than one of the paths
  local file=$1; shift
  [ ! -f "$file" ] || [ -n "$(find "$@" -newer "$file" -print -quit 2>/dev/null)" ]
}
if stale "$JAR" src/main pom.xml || stale "$MARK" src/test/java/org/chronos/bench/cluster; then
  echo "building (mvn package -DskipTests) ..."
  # Offline first (this repository's CI machines have no network); online if that fails.
  mvn -o -B -q package -DskipTests || mvn -B -q package -DskipTests
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chronos-cluster-bench.XXXXXX")
BENCH_PID=
cleanup() {
  trap - EXIT INT TERM
  # The benchmark JVM stops its nodes itself (also from a shutdown hook); anything left is ended
  # by PID, and only if its command line names this run's work directory.
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill "$BENCH_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.5; done
  fi
  for f in "$WORK"/*/pids; do
    [ -f "$f" ] || continue
    while read -r pid; do
      if [ -n "$pid" ] && grep -qs -- "$WORK" "/proc/$pid/cmdline"; then
        kill "$pid" 2>/dev/null || true
        sleep 1
        grep -qs -- "$WORK" "/proc/$pid/cmdline" && kill -9 "$pid" 2>/dev/null || true
      fi
    done < "$f"
  done
  if [ "${CBENCH_KEEP:-0}" = 1 ] || [ "${CBENCH_JFR:-0}" = 1 ]; then
    echo "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CP=target/test-classes:$JAR
ROUNDS=${CBENCH_ROUNDS:-1}
JVM_OPTS=(-Xmx1g)
# shellcheck disable=SC2206 # options are words
[ -n "${CBENCH_JVM_OPTS:-}" ] && JVM_OPTS+=(${CBENCH_JVM_OPTS})
[ "${CBENCH_JFR:-0}" = 1 ] && JVM_OPTS+=(-Dcbench.jfr=true)
[ -n "${CBENCH_NODE_OPTS:-}" ] && JVM_OPTS+=("-Dcbench.nodeOpts=$CBENCH_NODE_OPTS")
[ -n "${CBENCH_INTERVAL:-}" ] && JVM_OPTS+=("-Dcbench.interval=$CBENCH_INTERVAL")
[ "${CBENCH_RESYNC_AGAIN:-0}" = 1 ] && JVM_OPTS+=(-Dcbench.resyncAgain=true)
# Benchmark 2 writes every background callback's lateness to this file (for bench/cluster/pooled.sh).
[ -n "${CBENCH_SAMPLES:-}" ] && JVM_OPTS+=("-Dcbench.samples=$CBENCH_SAMPLES")
# The callback target (in this JVM) at the nice value of the nodes' timer and callback threads.
[ "${CBENCH_TARGET_PRIORITY:-0}" = 1 ] && JVM_OPTS+=(-XX:ThreadPriorityPolicy=1 -Dcbench.targetPriority=10)
# Nodes run with the JVM options the Debian package uses (deb/chronos.default) and its
# timers.realtime* keys (deb/chronos.yml: the timer thread's SCHED_DEADLINE budget), unless
# CBENCH_PLAIN_JVM=1 (then only -Xmx1g and CBENCH_NODE_OPTS, and no real-time policy).
if [ "${CBENCH_PLAIN_JVM:-0}" = 1 ]; then
  JVM_OPTS+=(-Dcbench.packagedJvm=false)
  NODE_JVM="-Xmx1g ${CBENCH_NODE_OPTS:-}"
else
  NODE_JVM="-Xmx1g $(sed -n 's/^JAVA_TOOL_OPTIONS="\(.*\)"$/\1/p' deb/chronos.default) ${CBENCH_NODE_OPTS:-}"
fi

busy_cores() { # CPU cores busy over the next 5 s, machine-wide
  local a b
  a=($(head -1 /proc/stat)); sleep 5; b=($(head -1 /proc/stat))
  local busy=0 idle=0 i
  for i in 1 2 3 6 7 8; do busy=$((busy + b[i] - a[i])); done
  awk -v t="$busy" 'BEGIN { printf "%.2f", t / 100 / 5 }'
}

wait_quiet() {
  [ -r /proc/stat ] || return 0
  local limit=${CBENCH_WAIT_QUIET:-0} waited=0 busy
  while true; do
    busy=$(busy_cores)
    if awk -v b="$busy" 'BEGIN { exit !(b < 0.3) }'; then return 0; fi
    if [ "$waited" -ge "$limit" ]; then
      echo "note: the machine is busy ($busy cores in use before starting); figures will be disturbed"
      return 0
    fi
    waited=$((waited + 5))
  done
}

run() { # run <name> <main class> [args...]: runs one benchmark, its output shown and kept
  local name=$1 main=$2; shift 2
  wait_quiet
  mkdir -p "$WORK/$name"
  # Created here, not by the background job's redirect, which tail could otherwise beat to it.
  : > "$WORK/$name.out"
  "$JAVA" "${JVM_OPTS[@]}" -cp "$CP" "org.chronos.bench.cluster.$main" "$WORK/$name" "$JAR" "$@" \
    > "$WORK/$name.out" 2>&1 &
  BENCH_PID=$!
  tail -n +1 --pid="$BENCH_PID" -f "$WORK/$name.out"
  local status=0
  wait "$BENCH_PID" || status=$?
  BENCH_PID=
  if [ "$status" != 0 ]; then
    echo "$name benchmark failed (exit $status); node logs:" >&2
    for log in "$WORK/$name"/*/node.log; do [ -f "$log" ] && { echo "--- $log" >&2; tail -20 "$log" >&2; }; done
    return "$status"
  fi
}

echo "chronos cluster benchmarks: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $("$JAVA" -version 2>&1 | head -1)"
echo "benchmark JVM options: ${JVM_OPTS[*]}"
echo "node JVM options: $NODE_JVM; timers.realtime* (the timer thread's scheduling) as in deb/chronos.yml unless CBENCH_PLAIN_JVM=1"
echo "callback target threads: $([ "${CBENCH_TARGET_PRIORITY:-0}" = 1 ] && echo "raised (Java priority 10)" || echo "normal priority")"
case $which in
  create) run create ReplicatedCreateBench 32 20 "$ROUNDS" ;;
  resync) run resync ResyncBench ;;
  all) run create ReplicatedCreateBench 32 20 "$ROUNDS"; echo; run resync ResyncBench ;;
  *) echo "usage: $0 [create|resync|all]" >&2; exit 2 ;;
esac

echo
echo "== summary"
grep -h '^SUMMARY' "$WORK"/*.out | sed 's/^SUMMARY /  /'
