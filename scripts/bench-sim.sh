#!/usr/bin/env bash
# The simulator's numbers (README "Numbers"): simulated commands per second at 64 and 4096
# LUNs, cost per command from 64 to 4096 LUNs, memory per running LUN, a 65 536-LUN run,
# and the quickstart (verified writes) against the same scenario without verification.
# A benchmark, not a test: run it on a quiet machine. Takes about three minutes. The load
# average is printed before and after; on a loaded machine compare the per-CPU-second rates
# (user + system time of the run), not the per-wall-second ones.
#
#   ./scripts/bench-sim.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p unjam >/dev/null 2>&1
unjam="${CARGO_TARGET_DIR:-./target}/release/unjam"

field() { sed -n "s/.*\"$1\": \([0-9.e+]*\).*/\1/p" | head -1; }
bench() { "$unjam" run "$1" --bench "${@:2}"; }
luns() { echo "--set host.0.targets=$1 --set host.0.luns=$2"; }
loadavg() { echo "load average ($1): $(cut -d' ' -f1-3 /proc/loadavg)"; }
# "N commands in W s wall (X/s), C s CPU (Y per CPU second)" from a --bench summary.
rates() {
    awk -F'[:,]' '/"commands_simulated"/ { n = $2 } /"wall_seconds"/ { w = $2 }
        /"cpu_seconds"/ { c = $2 }
        END { printf "%d commands, %.2f s wall: %.3f M/s; %.2f s CPU: %.3f M per CPU second\n",
            n, w, n / w / 1e6, c, n / c / 1e6 }'
}

loadavg start

# Per-CPU-second rates move by up to 2× between back-to-back runs on a shared machine, so the
# 64-LUN and 4096-LUN runs go in RATE_PAIRS alternated pairs (default 3; the 4096-LUN run first
# in even pairs) and the cost ratio is the median of the pairs' ratios.
median() { sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median %.2f (%.2f–%.2f)", m, v[1], v[NR] }'; }
run64() { bench examples/bench64.toml --set duration_ms=600; }
# shellcheck disable=SC2046
run4k() { bench examples/bench64.toml --set duration_ms=200 $(luns 64 64) "$@"; }
rate_pairs=${RATE_PAIRS:-3}
cpu64s=() cpu4ks=() cpu4kss=() ratios4k=() ratios4ks=()
for pair in $(seq "$rate_pairs"); do
    if [ $((pair % 2)) -eq 1 ]; then
        out64=$(run64); out4k=$(run4k); out4ks=$(run4k --set workload.0.span_kib=1)
    else
        out4ks=$(run4k --set workload.0.span_kib=1); out4k=$(run4k); out64=$(run64)
    fi
    echo "-- pair $pair"
    echo "64 LUNs (0.6 s virtual): $(echo "$out64" | rates)"
    echo "4096 LUNs (64 targets × 64 LUNs, 0.2 s virtual): $(echo "$out4k" | rates)"
    echo "4096 LUNs, span_kib=1 (4 MiB of media in all, not 256 MiB): $(echo "$out4ks" | rates)"
    cpu64=$(echo "$out64" | field commands_per_cpu_second)
    cpu4k=$(echo "$out4k" | field commands_per_cpu_second)
    cpu4ks=$(echo "$out4ks" | field commands_per_cpu_second)
    cpu64s+=("$cpu64") cpu4ks+=("$cpu4k") cpu4kss+=("$cpu4ks")
    ratios4k+=("$(awk -v a="$cpu64" -v b="$cpu4k" 'BEGIN { print a / b }')")
    ratios4ks+=("$(awk -v a="$cpu64" -v b="$cpu4ks" 'BEGIN { print a / b }')")
done
# bench64's 64 KiB per LUN stays in cache at 64 LUNs but not at 4096: the span_kib=1 run
# separates the simulator's own cost per command from DRAM traffic for the workload's media.
echo "== over $rate_pairs alternated pairs, M simulated commands per CPU second and cost ratios"
echo "64 LUNs: $(printf '%s\n' "${cpu64s[@]}" | awk '{ print $1 / 1e6 }' | median) M"
echo "4096 LUNs: $(printf '%s\n' "${cpu4ks[@]}" | awk '{ print $1 / 1e6 }' | median) M"
echo "4096 LUNs, span_kib=1: $(printf '%s\n' "${cpu4kss[@]}" | awk '{ print $1 / 1e6 }' | median) M"
echo "cost per command, 4096 LUNs / 64 LUNs: $(printf '%s\n' "${ratios4k[@]}" | median)×"
echo "cost per command, 4096 LUNs (4 MiB of media) / 64 LUNs: $(printf '%s\n' "${ratios4ks[@]}" | median)×"
loadavg "after the rate runs"

echo "== memory per running LUN (reads only, so no media data; in-flight buffers included)"
# shellcheck disable=SC2046
small=$(bench examples/bench64.toml --set duration_ms=5 --set workload.0.read_percent=100 | field peak_rss_bytes)
# shellcheck disable=SC2046
large=$(bench examples/bench64.toml --set duration_ms=5 --set workload.0.read_percent=100 $(luns 64 64) | field peak_rss_bytes)
awk -v s="$small" -v l="$large" 'BEGIN { printf "peak RSS 64 LUNs %.1f MB, 4096 LUNs %.1f MB: %.1f KB per running LUN\n", s / 1e6, l / 1e6, (l - s) / (4096 - 64) / 1000 }'

echo "== 65 536 LUNs (256 targets × 256 LUNs), 2 ms virtual"
# shellcheck disable=SC2046
out64k=$(bench examples/bench64.toml --set duration_ms=2 $(luns 256 256))
echo "$out64k" | grep -E '"(luns|peak_rss_bytes)"'
echo "$out64k" | rates

echo "== quickstart (4 LUNs, 4 KiB verified writes) against the same run without verification"
# One pair swings by ±20 % on a shared machine: QUICKSTART_PAIRS alternated pairs (default 6),
# the verified run first in odd pairs and second in even ones; the median ratio is the number.
pairs=${QUICKSTART_PAIRS:-6}
ratios=()
for pair in $(seq "$pairs"); do
    if [ $((pair % 2)) -eq 1 ]; then
        verified=$(bench examples/quickstart.toml | field commands_per_cpu_second)
        bare=$(bench examples/quickstart.toml --set workload.0.verify=false | field commands_per_cpu_second)
    else
        bare=$(bench examples/quickstart.toml --set workload.0.verify=false | field commands_per_cpu_second)
        verified=$(bench examples/quickstart.toml | field commands_per_cpu_second)
    fi
    ratio=$(awk -v v="$verified" -v b="$bare" 'BEGIN { printf "%.2f", b / v }')
    ratios+=("$ratio")
    awk -v v="$verified" -v b="$bare" -v r="$cpu64" -v q="$ratio" 'BEGIN { printf "pair: quickstart %.3f M per CPU second verified, %.3f M unverified: %.2f× slower; bench64 / quickstart: %.2f×\n", v / 1e6, b / 1e6, q, r / v }'
done
echo "quickstart verified / unverified, $pairs alternated pairs: $(printf '%s\n' "${ratios[@]}" | median)×"
loadavg end
