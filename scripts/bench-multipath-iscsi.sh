#!/usr/bin/env bash
# Multipath over iSCSI on the wall clock (issue 12, item 5). `unjam target
# examples/target-multipath.toml` serves one logical unit through two portals (portal 0:
# active/optimized, the path I/O runs on; portal 1: active/non-optimized). `unjam bench`
# drives both URLs as one multipath device with a verified 4 KiB random-write load at
# queue depth 8; half a second into the measured time portal 0 is lost:
#
#   none    no fault: the longest gap of the same load with nothing lost (this machine's
#           noise floor for the column)
#   reset   `portal_down`: its listener closes and its connections are reset
#           (goal: I/O resumes on the other path within 100 ms)
#   silent  `blackhole`: it stops answering, TCP stays up; the NOP-Out ping finds it
#           (noop_out_interval=1 s, noop_out_timeout=1 s: goal within interval + timeout,
#           2 s)
#
# Per run: the stall at the loss — the gap without a good completion that overlaps the
# moment the path was lost (bench's `unjam.stalls` keep the longest gaps with their
# wall-clock start; the fault is in force by the time `target-ctl` returns), i.e. from the
# last good completion before the loss to I/O resuming on the other path; for `none` the
# instant the fault would have gone in — then the longest gap of the whole run (bench's
# `max_stall_ms`, this machine's noise shows there), the errors returned to the caller,
# the verify pass (every acknowledged write read back) and the requests failed over. Then throughput of multibus over two
# portals against one portal alone, alternating A/B: 4 KiB random reads at queue depth 32
# and 64 KiB random reads at queue depth 16, with the initiator's CPU time per I/O. The
# load average is printed before and after (the machine is shared).
#
#   scripts/bench-multipath-iscsi.sh [ROUNDS] [SECONDS]     (defaults: 3 5)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
seconds=${2:-5}
work=$(mktemp -d)
target_pid=""
bench_pid=""
cleanup() {
    [ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null || true
    [ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --locked -p unjam >&2
unjam=${CARGO_TARGET_DIR:-target}/release/unjam
ctl="$work/control.sock"
$unjam target examples/target-multipath.toml --portal 127.0.0.1:0 --portal 127.0.0.1:0 \
    --control "$ctl" >"$work/urls" 2>"$work/target.log" &
target_pid=$!
for _ in $(seq 1 200); do [ "$(wc -l <"$work/urls")" -ge 2 ] && break; sleep 0.05; done
mapfile -t urls <"$work/urls"
[ "${#urls[@]}" -ge 2 ] || { echo "unjam target did not start" >&2; exit 1; }

# One failover run: MODE is none, reset or silent.
failover() {
    local mode=$1 out="$work/bench-$1.json" knobs=()
    [ "$mode" = silent ] && knobs=(--set noop_out_interval=1 --set noop_out_timeout=1)
    $unjam bench "${urls[0]}" "${urls[1]}" --rw randwrite --verify --qd 8 \
        --time "${seconds}s" --log-interval 100ms --continue-on-error --output-format json \
        "${knobs[@]}" >"$out" 2>"$work/bench.err" &
    bench_pid=$!
    # I/O flows once the first time-series line is out; lose the path half a second later.
    for _ in $(seq 1 600); do grep -q '"t_ms"' "$out" 2>/dev/null && break; sleep 0.05; done
    sleep 0.5
    # The fault is in force on every connection when target-ctl returns: the path is lost
    # between these two wall-clock instants.
    local lost_from lost_by
    lost_from=$(date +%s.%N)
    case $mode in
        reset) $unjam target-ctl "$ctl" fault add kind=portal_down portal=0 >/dev/null ;;
        silent) $unjam target-ctl "$ctl" fault add kind=blackhole portal=0 >/dev/null ;;
    esac
    lost_by=$(date +%s.%N)
    wait "$bench_pid" || true
    bench_pid=""
    $unjam target-ctl "$ctl" fault clear all >/dev/null
    python3 - "$mode" "$out" "$lost_from" "$lost_by" <<'PY'
import json, sys
mode, path = sys.argv[1], sys.argv[2]
lost_from, lost_by = float(sys.argv[3]), float(sys.argv[4])
text = "\n".join(l for l in open(path) if '"t_ms"' not in l)
try:
    r = json.loads(text)
except ValueError:
    print(f"| {mode} | bench failed: {text[:200]!r} | | | | | |")
    sys.exit(0)
u, m = r["unjam"], r["mpaths"][0]
job = r["jobs"][0]
iops = job["read"]["iops"] + job["write"]["iops"]
v = u.get("verify") or {}
# The gap without a good completion that overlaps the loss window: from the last good
# completion before the path was lost to the first one on the other path.
at_loss = [s["ms"] for s in u["stalls"]
           if s["start_unix_s"] <= lost_by and s["start_unix_s"] + s["ms"] / 1000 >= lost_from]
if at_loss:
    stall = f"{max(at_loss):.1f}"
elif len(u["stalls"]) >= 256:  # only the 256 longest gaps are kept: it was shorter
    stall = f"< {min(s['ms'] for s in u['stalls']):.1f}"
else:
    stall = "< 1"
print(f"| {mode} | {stall} | {u['max_stall_ms']:.1f} | {u['errors']} | "
      f"{v.get('checked', 0)} / {v.get('mismatches', 0)} | {m['failovers']} | {iops:.0f} |")
PY
    sleep 1 # the portal is back; let the old connections go before the next run
}

# One throughput run: two URLs as multibus, or one URL. BS and QD, then the URLs and knobs.
throughput() {
    local name=$1 bs=$2 qd=$3 out="$work/tp.json"
    shift 3
    $unjam bench "$@" --rw randread --bs "$bs" --qd "$qd" --time "${seconds}s" \
        --output-format json >"$out" 2>"$work/bench.err" || true
    python3 - "$name" "$bs" "$qd" "$out" <<'PY'
import json, sys
name, bs, qd, path = sys.argv[1:5]
try:
    r = json.load(open(path))
except ValueError:
    print(f"| {name} | {bs} | {qd} | bench failed | | | |")
    sys.exit(0)
job = r["jobs"][0]["read"]
print(f"| {name} | {bs} | {qd} | {job['iops']:.0f} | {job['bw_bytes'] / 1e6:.0f} | "
      f"{r['unjam']['cpu_us_per_io']:.1f} | {r['unjam']['errors']} |")
PY
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| path loss | stall at the loss (ms) | longest stall of the run (ms) | errors returned | verified / mismatches | failovers | IOPS |"
echo "|---|---|---|---|---|---|---|"
for _ in $(seq 1 "$rounds"); do
    for mode in none reset silent; do failover "$mode"; done
done
echo
echo "| paths | bs | qd | IOPS | MB/s | initiator CPU per I/O (us) | errors |"
echo "|---|---|---|---|---|---|---|"
two=(two portals, multibus)
for point in "4k 32" "64k 16"; do
    read -r bs qd <<<"$point"
    for round in $(seq 1 "$rounds"); do
        if [ $((round % 2)) -eq 1 ]; then
            throughput "${two[*]}" "$bs" "$qd" "${urls[0]}" "${urls[1]}" \
                --set path_grouping_policy=multibus
            throughput "one portal" "$bs" "$qd" "${urls[0]}"
        else
            throughput "one portal" "$bs" "$qd" "${urls[0]}"
            throughput "${two[*]}" "$bs" "$qd" "${urls[0]}" "${urls[1]}" \
                --set path_grouping_policy=multibus
        fi
    done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
