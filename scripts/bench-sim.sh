#!/usr/bin/env bash
# The simulator's numbers (README "Numbers"): simulated commands per second at 64 and 4096
# LUNs, cost per command from 64 to 4096 LUNs, memory per running LUN, a 65 536-LUN run,
# and the quickstart (verified writes) against the same scenario without verification.
# A benchmark, not a test: run it on a quiet machine. Takes about two minutes.
#
#   ./scripts/bench-sim.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p unjam >/dev/null 2>&1
unjam=./target/release/unjam

field() { sed -n "s/.*\"$1\": \([0-9.e+]*\).*/\1/p" | head -1; }
bench() { "$unjam" run "$1" --bench "${@:2}"; }
luns() { echo "--set host.0.targets=$1 --set host.0.luns=$2"; }

echo "== bench64 (64 LUNs, queue depth 16, 512-byte I/O, 100 µs latency, 2 s virtual)"
out64=$(bench examples/bench64.toml)
echo "$out64" | grep -E '"(commands_simulated|wall_seconds|commands_per_second|commands_per_cpu_second)"'
rate64=$(echo "$out64" | field commands_per_second)

echo "== 4096 LUNs (64 targets × 64 LUNs), same workload, 0.2 s virtual"
# shellcheck disable=SC2046
out4k=$(bench examples/bench64.toml --set duration_ms=200 $(luns 64 64))
echo "$out4k" | grep -E '"(commands_simulated|wall_seconds|commands_per_second|commands_per_cpu_second)"'
rate4k=$(echo "$out4k" | field commands_per_second)
awk -v a="$rate64" -v b="$rate4k" 'BEGIN { printf "cost per command, 4096 LUNs / 64 LUNs: %.2f×\n", a / b }'

echo "== memory per running LUN (reads only, so no media data; in-flight buffers included)"
# shellcheck disable=SC2046
small=$(bench examples/bench64.toml --set duration_ms=5 --set workload.0.read_percent=100 | field peak_rss_bytes)
# shellcheck disable=SC2046
large=$(bench examples/bench64.toml --set duration_ms=5 --set workload.0.read_percent=100 $(luns 64 64) | field peak_rss_bytes)
awk -v s="$small" -v l="$large" 'BEGIN { printf "peak RSS 64 LUNs %.1f MB, 4096 LUNs %.1f MB: %.1f KB per running LUN\n", s / 1e6, l / 1e6, (l - s) / (4096 - 64) / 1000 }'

echo "== 65 536 LUNs (256 targets × 256 LUNs), 2 ms virtual"
# shellcheck disable=SC2046
out64k=$(bench examples/bench64.toml --set duration_ms=2 $(luns 256 256))
echo "$out64k" | grep -E '"(luns|commands_simulated|wall_seconds|commands_per_second|peak_rss_bytes)"'

echo "== quickstart (4 LUNs, 4 KiB verified writes) against the same run without verification"
verified=$(bench examples/quickstart.toml | field commands_per_second)
bare=$(bench examples/quickstart.toml --set workload.0.verify=false | field commands_per_second)
awk -v v="$verified" -v b="$bare" -v r="$rate64" 'BEGIN { printf "quickstart %.0f commands/s verified, %.0f unverified: %.2f× slower; bench64 / quickstart: %.2f×\n", v, b, b / v, r / v }'
