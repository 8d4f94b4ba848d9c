#!/usr/bin/env bash
# Two builds of the simulator compared side by side (docs/sim.md "Speed and memory"): the old
# and the new `unjam` binary run bench64 at the same time, one per core, ROUNDS times (default
# 4), at 4096 LUNs and at 64; each round prints new/old in simulated commands per CPU second.
# Run at once, both see the same machine, so the ratio holds where solo runs move by 2×
# (two copies of one binary agree within about 1 %). A benchmark, not a test.
#
#   scripts/ab-sim.sh OLD_UNJAM NEW_UNJAM [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 OLD_UNJAM NEW_UNJAM [ROUNDS]" >&2; exit 1; }
old=$1 new=$2 rounds=${3:-4}
rate() { sed -n 's/.*"commands_per_cpu_second": \([0-9.e+]*\).*/\1/p' "$1" | head -1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for scale in "4096:--set duration_ms=200 --set host.0.targets=64 --set host.0.luns=64" \
    "64:--set duration_ms=600"; do
    luns=${scale%%:*} sets=${scale#*:}
    ratios=()
    for round in $(seq "$rounds"); do
        # shellcheck disable=SC2086
        "$old" run examples/bench64.toml --bench $sets >"$work/old" &
        old_pid=$!
        # shellcheck disable=SC2086
        "$new" run examples/bench64.toml --bench $sets >"$work/new" &
        new_pid=$!
        # Each waited for by itself: a bare `wait` returns 0 even when a run failed.
        wait "$old_pid" || { echo "$old failed at $luns LUNs" >&2; exit 1; }
        wait "$new_pid" || { echo "$new failed at $luns LUNs" >&2; exit 1; }
        ratio=$(awk -v o="$(rate "$work/old")" -v n="$(rate "$work/new")" 'BEGIN { printf "%.3f", n / o }')
        echo "$luns LUNs, round $round: new/old $ratio"
        ratios+=("$ratio")
    done
    printf '%s\n' "${ratios[@]}" | sort -g | awk -v l="$luns" '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s LUNs: new/old median %.2f (%.2f-%.2f)\n", l, m, v[1], v[NR] }'
done
