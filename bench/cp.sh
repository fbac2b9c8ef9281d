#!/usr/bin/env bash
# Prints the benchmark classpath (test scope): target/test-classes, target/classes and every
# dependency jar. Builds the dependency list once into target/bench/cp.txt; run from anywhere.
# Usage: java -cp "$(bench/cp.sh)" org.chronos.bench.MemoryPerTimer
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/bench/cp.txt"
if [[ ! -s "$out" || "$root/pom.xml" -nt "$out" ]]; then
  mkdir -p "$root/target/bench"
  (cd "$root" && mvn ${MVN_FLAGS:-} -B -q dependency:build-classpath -Dmdep.includeScope=test \
      -Dmdep.outputFile="$out" >&2)
fi
echo "$root/target/test-classes:$root/target/classes:$(cat "$out")"
