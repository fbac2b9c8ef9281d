#!/usr/bin/env bash
# What serving one resync page (GET /timers, PROTOCOL.md section 6) costs the serving node, sent
# as it is and gzip-compressed (bench/cluster/README.md, 2t).
#
# Usage: bench/cluster/page-cost.sh [pages per block]     (default 300)
# Starts one node from target/chronos.jar on 127.0.0.1:17253 (admin 17254) in a two-node cluster
# whose other node (127.0.0.2:17999) does not run, creates 2,000 timers on it, then asks for the
# other node's first page of 1,000 timers again and again with curl, in blocks that alternate
# between the two kinds: two warm-up blocks of each, then three measured blocks of each. For each
# block it prints the node's CPU time (user + system, from /proc) per page. Needs curl; builds
# the jar if it is missing. Run it with nothing else on the machine; the node is stopped and its
# directory removed at the end. Takes about 3 minutes on 2 cores.
set -euo pipefail

cd "$(dirname "$0")/../.."
PAGES=${1:-300}
JAVA=${JAVA:-java}
[ -f target/chronos.jar ] || mvn -o -B -q package -DskipTests || mvn -B -q package -DskipTests

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chronos-page-cost.XXXXXX")
NODE_PID=
cleanup() {
  [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/chronos.yml" <<EOF
server:
  applicationConnectors:
    - type: http
      bindHost: 127.0.0.1
      port: 17253
  adminConnectors:
    - type: http
      bindHost: 127.0.0.1
      port: 17254
  requestLog:
    appenders: []
overload:
  enabled: false
cluster:
  configFile: $WORK/chronos_cluster.conf
  sharedConfigFile: $WORK/no-such-chronos_shared.conf
resync:
  warmUpTimers: 0
logging:
  level: WARN
EOF
cat > "$WORK/chronos_cluster.conf" <<EOF
[cluster]
localhost = 127.0.0.1:17253
node = 127.0.0.1:17253
node = 127.0.0.2:17999
EOF

"$JAVA" -Xmx1g -jar target/chronos.jar server "$WORK/chronos.yml" > "$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 120); do
  curl -sf -o /dev/null http://127.0.0.1:17253/ping && break
  kill -0 "$NODE_PID" 2>/dev/null || { cat "$WORK/node.log"; exit 1; }
  sleep 0.5
done
VIEW=$(curl -s http://127.0.0.1:17254/healthcheck | grep -o '"message":"id [0-9]*' | grep -o '[0-9]*$')

echo "creating 2,000 timers (hourly, 10 hours; 76-character random opaque) ..."
for _ in $(seq 1 2000); do
  opaque=$(head -c 38 /dev/urandom | od -An -tx1 | tr -d ' \n')
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"timing\":{\"interval\":3600,\"repeat-for\":36000},\"callback\":{\"http\":{\"uri\":\"http://127.0.0.1:9/cb\",\"opaque\":\"$opaque\"}},\"reliability\":{\"replication-factor\":2}}" \
    http://127.0.0.1:17253/timers
done

URL="http://127.0.0.1:17253/timers?node-for-replicas=127.0.0.2%3A17999&cluster-view-id=$VIEW"
plain=$(curl -s -H 'Range: 1000' "$URL" | wc -c)
gzipped=$(curl -s -H 'Range: 1000' -H 'Accept-Encoding: gzip' "$URL" | wc -c)
echo "one page of 1,000 timers: $plain bytes as it is, $gzipped bytes gzip-compressed"

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$NODE_PID/stat"; }
block() { # block <label> [curl options]: PAGES page requests, one after the other
  local label=$1 before after; shift
  before=$(cpu_ticks)
  for _ in $(seq 1 "$PAGES"); do curl -s -o /dev/null -H 'Range: 1000' "$@" "$URL"; done
  after=$(cpu_ticks)
  echo "$label: $PAGES pages, node CPU $(( (after - before) * 1000 / TICK )) ms, $(( (after - before) * 1000000 / TICK / PAGES )) us a page"
}
for round in 1 2; do
  block "warm-up $round, as it is"
  block "warm-up $round, gzip" -H 'Accept-Encoding: gzip'
done
for round in 1 2 3; do
  block "round $round, as it is"
  block "round $round, gzip" -H 'Accept-Encoding: gzip'
done
