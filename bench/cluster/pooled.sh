#!/usr/bin/env bash
# Runs benchmark 2 (the resync) n times, one after the other, and pools the callback lateness of
# all runs (bench/cluster/README.md, "Pooling runs"): one run's p99 during a 5-10 s resync rests on
# its 15-20 latest callbacks, too few to tell a change from a noisy machine.
#
# Usage: bench/cluster/pooled.sh <runs> <output directory>
# Each run's full output goes to <dir>/run-<i>.log and its samples to <dir>/run-<i>.csv; the
# pooled figures are printed at the end and written to <dir>/pooled.txt. The environment of
# run.sh applies to every run (CBENCH_RESYNC_AGAIN=1 adds the second resync to the pool);
# CBENCH_SAMPLES is set here. Pool an existing directory again with: bench/cluster/pooled.sh 0 <dir>
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 <runs> <output directory>" >&2; exit 2; }
runs=$1
out=$(realpath -m "$2")
cd "$(dirname "$0")/../.."
mkdir -p "$out"
start=$(find "$out" -name 'run-*.csv' | wc -l)
for i in $(seq $((start + 1)) $((start + runs))); do
  echo "run $i of $((start + runs)): $(date -u '+%H:%M:%S UTC') -> $out/run-$i.log"
  CBENCH_SAMPLES="$out/run-$i.csv" bench/cluster/run.sh resync > "$out/run-$i.log" 2>&1 \
    || { echo "run $i failed; see $out/run-$i.log" >&2; exit 1; }
  grep -h 'SUMMARY pop lateness p99 during resync / idle:\|SUMMARY WARNING' "$out/run-$i.log" | sed 's/^/  /'
done
mapfile -t files < <(find "$out" -name 'run-*.csv' | sort -V)
[ ${#files[@]} -gt 0 ] || { echo "no samples in $out" >&2; exit 1; }
java -cp target/test-classes:target/chronos.jar org.chronos.bench.cluster.PoolLateness "${files[@]}" \
  | tee "$out/pooled.txt"
