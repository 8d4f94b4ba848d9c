#!/usr/bin/env bash
# unjam's iSCSI target vs tgtd under libiscsi's iscsi-perf: 4 KiB random reads at queue
# depth 32 for SECONDS per run, the two targets alternating for ROUNDS rounds.
#
#   scripts/bench-target.sh [SECONDS] [ROUNDS]        (defaults: 10 3)
#
# Prints per run the IOPS iscsi-perf reports and the target's CPU time (user + system of
# the target process, from /proc/PID/stat) per I/O. Both targets serve a 1 GiB LUN that
# was never written (unjam: sparse RAM; tgtd: a sparse file), so neither touches a disk.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
rounds=${2:-3}
work=$(mktemp -d)
unjam_pid=""
cleanup() {
    [ -n "$unjam_pid" ] && kill "$unjam_pid" 2>/dev/null || true
    scripts/tgtd-harness.sh stop "$work/tgtd" || true
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --locked -p unjam >&2
"${CARGO_TARGET_DIR:-target}"/release/unjam target examples/target.toml --portal 127.0.0.1:0 >"$work/urls" 2>"$work/unjam.log" &
unjam_pid=$!
for _ in $(seq 1 100); do [ -s "$work/urls" ] && break; sleep 0.05; done
unjam_url=$(head -1 "$work/urls")
tgtd_url="$(scripts/tgtd-harness.sh start "$work/tgtd" 1024)/1"
tgtd_pid=$(cat "$work/tgtd/tgtd.pid")
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

run() {
    local name=$1 url=$2 pid=$3 before after iops
    before=$(cpu_ticks "$pid")
    timeout $((seconds + 30)) iscsi-perf -m 32 -b 8 -t "$seconds" -r "$url" >"$work/perf.out" 2>&1 || true
    after=$(cpu_ticks "$pid")
    iops=$(tr '\r' '\n' <"$work/perf.out" | sed -n 's/.*iops average \([0-9]*\).*/\1/p' | tail -1)
    iops=${iops:-0}
    awk -v name="$name" -v iops="$iops" -v ticks=$((after - before)) -v hz="$ticks" -v s="$seconds" \
        'BEGIN { cpu = ticks / hz; per = (iops > 0) ? cpu * 1e6 / (iops * s) : 0;
                 printf "| %s | %d | %.2f | %.1f |\n", name, iops, cpu / s, per }'
}

echo "| target | IOPS | target CPU (cores) | target CPU per I/O (us) |"
echo "|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) -eq 1 ]; then
        run unjam "$unjam_url" "$unjam_pid"
        run tgtd "$tgtd_url" "$tgtd_pid"
    else
        run tgtd "$tgtd_url" "$tgtd_pid"
        run unjam "$unjam_url" "$unjam_pid"
    fi
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
