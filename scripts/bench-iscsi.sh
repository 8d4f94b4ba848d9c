#!/usr/bin/env bash
# unjam vs libiscsi on the same tgtd LUN: same block size, same queue depth, back to back.
#
#   scripts/bench-iscsi.sh [SECONDS] [PATTERNS] [QUEUE_DEPTHS]
#   e.g. scripts/bench-iscsi.sh 10 "randread read" "1 8 32"
#
# The LUN (512 MiB) is filled and cached first; for each queue depth the two initiators
# run back to back, the order alternating between depths.
# Prints IOPS and initiator CPU time per I/O (user + system, from /usr/bin/time) of
# `unjam bench URL` and `iscsi-perf` (libiscsi-bin). tgtd is the bottleneck on a small
# machine, so CPU per I/O is the fairer comparison of the initiators.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
patterns=${2:-"randread read"}
depths=${3:-"1 8 32"}
block_bytes=4096
blocks_per_io=$((block_bytes / 512))

cargo build --release --locked -p unjam >&2
unjam=target/release/unjam
work=$(mktemp -d)
trap 'scripts/tgtd-harness.sh stop "$work/tgtd"; rm -rf "$work"' EXIT
url="$(scripts/tgtd-harness.sh start "$work/tgtd" 512)/1"
echo "LUN: $url" >&2
# Fill the LUN with data and pull it into the page cache, so that whichever initiator runs
# first does not pay for first touches of a sparse file.
dd if=/dev/urandom of="$work/tgtd/lun1.img" bs=1M count=512 conv=notrunc status=none
cat "$work/tgtd/lun1.img" >/dev/null

cpu_seconds() { awk '{ printf "%.3f", $1 + $2 }' "$1"; }

run_unjam() {
    local pattern=$1 qd=$2
    /usr/bin/time -f "%U %S" -o "$work/time" \
        "$unjam" bench "$url" --rw "$pattern" --bs 4k --qd "$qd" --time "${seconds}s" --json >"$work/unjam.json"
    local iops
    iops=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["iops"]))' "$work/unjam.json")
    echo "$iops $(cpu_seconds "$work/time")"
}

run_libiscsi() {
    local pattern=$1 qd=$2 random=()
    [ "$pattern" = randread ] && random=(-r)
    # iscsi-perf can hang at the end of a run: bound it.
    /usr/bin/time -f "%U %S" -o "$work/time" \
        timeout $((seconds + 20)) iscsi-perf -m "$qd" -b "$blocks_per_io" -t "$seconds" "${random[@]}" "$url" \
        >"$work/perf.out" 2>&1 || true
    local iops
    iops=$(tr '\r' '\n' <"$work/perf.out" | sed -n 's/.*iops average \([0-9]*\).*/\1/p' | tail -1)
    echo "${iops:-0} $(cpu_seconds "$work/time")"
}

per_io_us() { awk -v cpu="$1" -v iops="$2" -v s="$seconds" 'BEGIN { if (iops > 0) printf "%.1f", cpu * 1e6 / (iops * s); else print "-" }'; }

printf '| pattern | QD | unjam IOPS | unjam CPU/IO (us) | libiscsi IOPS | libiscsi CPU/IO (us) |\n'
printf '|---|---|---|---|---|---|\n'
turn=0
for pattern in $patterns; do
    for qd in $depths; do
        if [ $((turn++ % 2)) -eq 0 ]; then
            read -r u_iops u_cpu < <(run_unjam "$pattern" "$qd")
            read -r l_iops l_cpu < <(run_libiscsi "$pattern" "$qd")
        else
            read -r l_iops l_cpu < <(run_libiscsi "$pattern" "$qd")
            read -r u_iops u_cpu < <(run_unjam "$pattern" "$qd")
        fi
        printf '| %s 4 KiB | %s | %s | %s | %s | %s |\n' "$pattern" "$qd" \
            "$u_iops" "$(per_io_us "$u_cpu" "$u_iops")" "$l_iops" "$(per_io_us "$l_cpu" "$l_iops")"
    done
done
