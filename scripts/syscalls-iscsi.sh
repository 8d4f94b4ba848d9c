#!/usr/bin/env bash
# System calls, context switches and CPU per I/O of `unjam bench URL` (through the runtime
# and the core) and libiscsi's `iscsi-perf` on the same tgtd LUN, from `perf stat` (needs
# perf and the syscalls tracepoints: run as root). The two run back to back on each point,
# the order alternating between points. A measurement, not a test.
#
#   scripts/syscalls-iscsi.sh [SECONDS] [POINTS]
#   POINTS: "pattern:bytes:qd ...", default "randread:4096:1 randread:4096:32 read:131072:8"
#
# I/Os: unjam's own count (no ramp, so login and probe are in the counts: a few dozen calls);
# iscsi-perf's average IOPS × SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-5}
points=${2:-"randread:4096:1 randread:4096:32 read:131072:8"}
lun_mib=1024

cargo build --release --locked -p unjam >&2
unjam=${CARGO_TARGET_DIR:-target}/release/unjam
work=$(mktemp -d)
trap 'scripts/tgtd-harness.sh stop "$work/tgtd"; rm -rf "$work"' EXIT
url="$(scripts/tgtd-harness.sh start "$work/tgtd" "$lun_mib")/1"
scripts/tgtd-harness.sh fill "$work/tgtd"

events=raw_syscalls:sys_enter,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_readv,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_poll,context-switches
stat() { perf stat -x, -e "$events,task-clock" -o "$work/stat" -- "$@"; }
# count EVENT: the event's total from the last `perf stat`.
count() { awk -F, -v e="$1" '$3 == e { print ($1 ~ /^[0-9.]+$/) ? $1 : 0 }' "$work/stat"; }

run_unjam() {
    stat "$unjam" bench "$url" --rw "$1" --bs "$2" --qd "$3" --time "${seconds}s" \
        --output-format json >"$work/unjam.json" 2>/dev/null
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["read"]["total_ios"])' "$work/unjam.json"
}

run_libiscsi() {
    local random=()
    [ "$1" = randread ] && random=(-r)
    stat timeout $((seconds + 20)) iscsi-perf -m "$3" -b $(($2 / 512)) -t "$seconds" "${random[@]}" "$url" \
        >"$work/perf.out" 2>&1 || true
    local iops
    iops=$(tr '\r' '\n' <"$work/perf.out" | sed -n 's/.*iops average \([0-9]*\).*/\1/p' | tail -1)
    echo $((${iops:-0} * seconds))
}

row() {
    local ios=$5
    awk -v p="$1" -v b="$2" -v q="$3" -v who="$4" -v n="$ios" \
        -v all="$(count raw_syscalls:sys_enter)" -v send="$(count syscalls:sys_enter_sendto)" \
        -v recv="$(count syscalls:sys_enter_recvfrom)" -v readv="$(count syscalls:sys_enter_readv)" \
        -v ew="$(count syscalls:sys_enter_epoll_wait)" -v poll="$(count syscalls:sys_enter_poll)" \
        -v cs="$(count context-switches)" -v ms="$(count task-clock)" 'BEGIN {
        if (n == 0) { printf "| %s | %s | %s | %s | 0 | - | - | - | - | - | - |\n", p, b, q, who; exit }
        printf "| %s | %s | %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
            p, b, q, who, n, send / n, (recv + readv) / n, (ew + poll) / n, all / n, cs / n,
            ms * 1000 / n }'
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '| pattern | bs | QD | initiator | I/Os | send /IO | recv+readv /IO | epoll_wait+poll /IO | all syscalls /IO | context switches /IO | CPU (task-clock) µs/IO |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
turn=0
for point in $points; do
    IFS=: read -r pattern bytes qd <<<"$point"
    order=(unjam libiscsi)
    [ $((turn++ % 2)) = 1 ] && order=(libiscsi unjam)
    for who in "${order[@]}"; do
        ios=$("run_$who" "$pattern" "$bytes" "$qd")
        row "$pattern" "$bytes" "$qd" "$who" "$ios"
    done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
