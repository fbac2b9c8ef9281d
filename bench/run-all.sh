#!/usr/bin/env bash
# Builds the project and runs every benchmark once, then prints a summary.
#   bench/run-all.sh            # about 15 minutes on 2 cores
# Environment: MVN_FLAGS (e.g. -o), NODE_JAVA_OPTS (default -Xms1g -Xmx1g),
#   SKIP_WHEEL=1 / SKIP_MEMORY=1 / SKIP_LOAD=1 to leave a part out.
# Output: target/bench/*.txt (one file per benchmark) and the summary on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/bench
PORT=17253        # bench/chronos-bench.yml
ADMIN_PORT=17254
NODE_JAVA_OPTS=${NODE_JAVA_OPTS:--Xms1g -Xmx1g -Xlog:gc:file=target/bench/node-gc.log}
mkdir -p "$OUT"

step() { echo; echo "=== $* (load average $(cut -d' ' -f1-3 /proc/loadavg)) ==="; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

step "build"
mvn ${MVN_FLAGS:-} -B -q package -DskipTests
mvn ${MVN_FLAGS:-} -B -q test-compile
rm -f "$OUT/cp.txt"
CP="$(bench/cp.sh)"
test -f target/test-classes/META-INF/BenchmarkList || { echo "JMH BenchmarkList missing" >&2; exit 1; }
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
JVM="$(java -version 2>&1 | head -2 | tr '\n' ' ')"
declare -A LOAD

if [[ -z "${SKIP_WHEEL:-}" ]]; then
  step "1/4 WheelBenchmark (JMH, ~8 min)"
  LOAD[wheel]="$(loadavg)"
  rm -f "$OUT"/wheel*.txt "$OUT"/wheel-*.tsv "$OUT"/wheel-*.csv
  java -cp "$CP" -Dchronos.bench.tag=g1 org.chronos.bench.WheelBenchmark | tee "$OUT/wheel.txt"
  # The same for ours and Netty under the Parallel collector: the store's id index is sensitive
  # to G1's write barrier (see bench/README.md).
  java -cp "$CP" -Dchronos.bench.tag=parallel -Dchronos.bench.jvmArgs=-XX:+UseParallelGC \
    org.chronos.bench.WheelBenchmark 'WheelBenchmark\.(ours|oursWheel|netty)Schedule' -p ticksPerWheel=512 \
    | tee "$OUT/wheel-parallel.txt"
  LOAD[wheel]+=" -> $(loadavg)"
fi

if [[ -z "${SKIP_MEMORY:-}" ]]; then
  step "2/4 MemoryPerTimer"
  LOAD[memory]="$(loadavg)"
  rm -f "$OUT/memory.txt"
  java -Xms4g -Xmx4g -cp "$CP" org.chronos.bench.MemoryPerTimer | tee "$OUT/memory.txt"
fi

if [[ -z "${SKIP_LOAD:-}" ]]; then
  step "3/4 node + load generator"
  rm -f "$OUT"/creation.txt "$OUT"/lateness.txt "$OUT"/node-gc.*
  if curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null 2>&1; then
    echo "something already answers on port $PORT; stop it first" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  java $NODE_JAVA_OPTS -jar target/chronos.jar server bench/chronos-bench.yml >"$OUT/node.log" 2>&1 &
  NODE_PID=$!
  trap 'kill $NODE_PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null 2>&1 && break
    kill -0 "$NODE_PID" 2>/dev/null || { echo "node exited; see $OUT/node.log" >&2; exit 1; }
    sleep 0.5
  done
  curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null
  echo "node pid $NODE_PID ($NODE_JAVA_OPTS) on port $PORT"
  # creation first: it also warms up the node's request path; its timers are due in a day, so
  # they never pop into the lateness histogram.
  LOAD[creation]="$(loadavg)"
  # The warm-up repeats until the node's JIT compilers are quiet (--node-pid): the goal is about
  # the node's steady rates, and on a slow machine the first minute is the compiler's.
  java -cp "$CP" org.chronos.bench.LoadGenerator creation --port $PORT --admin-port $ADMIN_PORT \
    --concurrency 32 --warmup-seconds 10 --phase-seconds 10 --rounds 2 --node-pid "$NODE_PID" | tee "$OUT/creation.txt"
  LOAD[creation]+=" -> $(loadavg)"
  # A first lateness run (not counted) compiles the pop and callback paths, which the creation
  # benchmark's timers (due in a day) never ran.
  java -cp "$CP" org.chronos.bench.LoadGenerator lateness --port $PORT --admin-port $ADMIN_PORT \
    --rate 1000 --seconds 20 --warmup-seconds 5 --node-pid "$NODE_PID" >"$OUT/lateness-warmup.txt"
  grep '^RESULT lateness, node' "$OUT/lateness-warmup.txt" | sed "s/^RESULT/(warm-up run, not counted)/" || true
  LOAD[lateness]="$(loadavg)"
  java -cp "$CP" org.chronos.bench.LoadGenerator lateness --port $PORT --admin-port $ADMIN_PORT \
    --rate 1000 --seconds 30 --warmup-seconds 5 --node-pid "$NODE_PID" | tee "$OUT/lateness.txt"
  LOAD[lateness]+=" -> $(loadavg)"
  step "4/4 stopping the node"
  kill "$NODE_PID"
  wait "$NODE_PID" 2>/dev/null || true
  trap - EXIT
  if [[ -f "$OUT/node-gc.log" ]]; then
    # Pause lines end in e.g. "12.345ms": count them and report the longest.
    awk '/Pause/ && $NF ~ /ms$/ { v = $NF; sub(/ms$/, "", v); n++; if (v + 0 > max) max = v + 0 }
         END { printf "RESULT node GC: %d pauses, longest %.1f ms (target/bench/node-gc.log)\n", n, max }' \
      "$OUT/node-gc.log" | tee "$OUT/node-gc.txt"
  fi
fi

echo
echo "================================ SUMMARY ================================"
echo "started $STARTED; $(nproc) cores; $JVM"
for k in wheel memory creation lateness; do
  if [[ -n "${LOAD[$k]:-}" ]]; then echo "load average during $k: ${LOAD[$k]}"; fi
done
grep -h '^RESULT' "$OUT"/wheel.txt "$OUT"/wheel-parallel.txt "$OUT"/memory.txt "$OUT"/creation.txt "$OUT"/lateness.txt \
  "$OUT"/node-gc.txt 2>/dev/null || true
echo "full output: $OUT/{wheel,wheel-parallel,memory,creation,lateness}.txt"
