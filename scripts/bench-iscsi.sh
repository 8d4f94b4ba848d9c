#!/usr/bin/env bash
# unjam vs libiscsi on the same tgtd LUN, and what the core costs: `unjam bench URL`
# (through the runtime and the core), the iSCSI client alone (`raw_client_bench`, no core)
# and `iscsi-perf`, run back to back on each point, the order rotating between points.
#
#   scripts/bench-iscsi.sh [SECONDS] [POINTS] [ROUNDS]
#   POINTS: "pattern:bytes:qd ...", default "randread:4096:1 randread:4096:8
#           randread:4096:32 read:131072:8"
#   ROUNDS: runs of each initiator on each point (default 3); the table shows the median of
#           each column over the rounds, as one run moves by tens of per cent when other
#           work shares the machine.
#
# The LUN (1 GiB) is filled and cached first. Initiator CPU per I/O is user + system time
# of the whole process, all its threads (/usr/bin/time), over its I/Os; tgtd is the
# bottleneck on a small machine, so CPU per I/O is the fairer comparison of initiators. A
# second table splits that CPU into user and system time: most of it is the kernel's
# (TCP on loopback, sleeping and waking), which no initiator design removes. unjam's own
# steady-state numbers (CPU from the scheduler, page faults and allocations per I/O, after
# a 1 s ramp) come from its JSON report. The last lines say which of issue 10's goals held
# on this run. A benchmark, not a test: nothing here passes or fails.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
points=${2:-"randread:4096:1 randread:4096:8 randread:4096:32 read:131072:8"}
rounds=${3:-3}
lun_mib=1024

cargo build --release --locked -p unjam -p unjam-runtime --examples --bins >&2
target=${CARGO_TARGET_DIR:-target}
unjam=$target/release/unjam
raw=$target/release/examples/raw_client_bench
work=$(mktemp -d)
trap 'scripts/tgtd-harness.sh stop "$work/tgtd"; rm -rf "$work"' EXIT
url="$(scripts/tgtd-harness.sh start "$work/tgtd" "$lun_mib")/1"
echo "LUN: $url" >&2
# Fill the LUN with data and pull it into the page cache, so that whichever initiator runs
# first does not pay for first touches of a sparse file.
scripts/tgtd-harness.sh fill "$work/tgtd"
blocks=$((lun_mib * 2048))

# CPU seconds of the last run: "user+system user system".
cpu_seconds() { awk '{ printf "%.3f %.3f %.3f", $1 + $2, $1, $2 }' "$1"; }
json_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# Each runner prints: IOPS CPU-seconds user-seconds system-seconds [extra...]
run_unjam() {
    local pattern=$1 bytes=$2 qd=$3
    /usr/bin/time -f "%U %S" -o "$work/time" \
        "$unjam" bench "$url" --rw "$pattern" --bs "$bytes" --qd "$qd" --ramp 1s \
        --time "${seconds}s" --output-format json >"$work/unjam.json"
    local iops steady faults allocs
    iops=$(json_field "$work/unjam.json" 'round(d["jobs"][0]["read"]["iops"])')
    steady=$(json_field "$work/unjam.json" 'round(d["unjam"]["cpu_us_per_io"], 2)')
    faults=$(json_field "$work/unjam.json" 'round(d["unjam"]["minor_faults_per_1000_io"], 3)')
    allocs=$(json_field "$work/unjam.json" 'round(d["unjam"]["allocations_per_io"], 2)')
    echo "$iops $(cpu_seconds "$work/time") $steady $faults $allocs"
}

run_raw() {
    local pattern=$1 bytes=$2 qd=$3
    /usr/bin/time -f "%U %S" -o "$work/time" \
        "$raw" "$url" "$pattern" "$bytes" "$qd" "$seconds" "$blocks" >"$work/raw.json"
    echo "$(json_field "$work/raw.json" 'round(d["iops"])') $(cpu_seconds "$work/time")"
}

run_libiscsi() {
    local pattern=$1 bytes=$2 qd=$3 random=()
    [ "$pattern" = randread ] && random=(-r)
    # iscsi-perf can hang at the end of a run: bound it.
    /usr/bin/time -f "%U %S" -o "$work/time" \
        timeout $((seconds + 20)) iscsi-perf -m "$qd" -b $((bytes / 512)) -t "$seconds" "${random[@]}" "$url" \
        >"$work/perf.out" 2>&1 || true
    local iops
    iops=$(tr '\r' '\n' <"$work/perf.out" | sed -n 's/.*iops average \([0-9]*\).*/\1/p' | tail -1)
    echo "${iops:-0} $(cpu_seconds "$work/time")"
}

# CPU microseconds per I/O over the measured seconds (unjam's run also has a 1 s ramp).
per_io_us() { awk -v cpu="$1" -v iops="$2" -v s="$3" 'BEGIN { if (iops > 0) printf "%.2f", cpu * 1e6 / (iops * s); else print "-" }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

printf '| pattern | bs | QD | unjam IOPS | unjam CPU/IO (µs) | raw client IOPS | raw CPU/IO (µs) | libiscsi IOPS | libiscsi CPU/IO (µs) | IOPS unjam/libiscsi | CPU unjam/libiscsi | core+runtime cost (µs/IO) | unjam steady CPU/IO (µs) | minor faults /1000 IO | allocations /IO |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
split_rows=() goals=() iops_ok=0 cpu_ok=0 cost_ok=0 npoints=0
turn=0
for point in $points; do
    IFS=: read -r pattern bytes qd <<<"$point"
    runners=(unjam raw libiscsi)
    U_IOPS=() U_PER=() U_STEADY=() U_FAULTS=() U_ALLOCS=() R_IOPS=() R_PER=() L_IOPS=() L_PER=() COST=()
    U_USER=() U_SYS=() R_USER=() R_SYS=() L_USER=() L_SYS=()
    for _ in $(seq "$rounds"); do
        first=$((turn++ % 3))
        for index in 0 1 2; do
            runner=${runners[$(((first + index) % 3))]}
            case $runner in
            unjam) read -r u_iops u_cpu u_user u_sys u_steady u_faults u_allocs < <(run_unjam "$pattern" "$bytes" "$qd") ;;
            raw) read -r r_iops r_cpu r_user r_sys < <(run_raw "$pattern" "$bytes" "$qd") ;;
            libiscsi) read -r l_iops l_cpu l_user l_sys < <(run_libiscsi "$pattern" "$bytes" "$qd") ;;
            esac
        done
        u_per=$(per_io_us "$u_cpu" "$u_iops" $((seconds + 1)))
        r_per=$(per_io_us "$r_cpu" "$r_iops" "$seconds")
        l_per=$(per_io_us "$l_cpu" "$l_iops" "$seconds")
        U_IOPS+=("$u_iops") U_PER+=("$u_per") U_STEADY+=("$u_steady") U_FAULTS+=("$u_faults")
        U_ALLOCS+=("$u_allocs") R_IOPS+=("$r_iops") R_PER+=("$r_per") L_IOPS+=("$l_iops") L_PER+=("$l_per")
        U_USER+=("$(per_io_us "$u_user" "$u_iops" $((seconds + 1)))") U_SYS+=("$(per_io_us "$u_sys" "$u_iops" $((seconds + 1)))")
        R_USER+=("$(per_io_us "$r_user" "$r_iops" "$seconds")") R_SYS+=("$(per_io_us "$r_sys" "$r_iops" "$seconds")")
        L_USER+=("$(per_io_us "$l_user" "$l_iops" "$seconds")") L_SYS+=("$(per_io_us "$l_sys" "$l_iops" "$seconds")")
        COST+=("$(awk -v u="$u_per" -v r="$r_per" 'BEGIN { printf "%.2f", u - r }')")
        echo "$point round: unjam $u_iops IOPS $u_per µs (user $u_user s, sys $u_sys s), raw $r_iops IOPS $r_per µs, libiscsi $l_iops IOPS $l_per µs (user $l_user s, sys $l_sys s); load $(cut -d' ' -f1 /proc/loadavg)" >&2
    done
    u_iops=$(median "${U_IOPS[@]}") u_per=$(median "${U_PER[@]}") l_iops=$(median "${L_IOPS[@]}")
    l_per=$(median "${L_PER[@]}") cost=$(median "${COST[@]}")
    iops_ratio=$(ratio "$u_iops" "$l_iops") cpu_ratio=$(ratio "$u_per" "$l_per")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %+.2f | %s | %s | %s |\n' \
        "$pattern" "$bytes" "$qd" "$u_iops" "$u_per" "$(median "${R_IOPS[@]}")" "$(median "${R_PER[@]}")" \
        "$l_iops" "$l_per" "$iops_ratio" "$cpu_ratio" "$cost" \
        "$(median "${U_STEADY[@]}")" "$(median "${U_FAULTS[@]}")" "$(median "${U_ALLOCS[@]}")"
    split_rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$pattern" "$bytes" "$qd" \
        "$(median "${U_USER[@]}")" "$(median "${U_SYS[@]}")" "$(median "${R_USER[@]}")" "$(median "${R_SYS[@]}")" \
        "$(median "${L_USER[@]}")" "$(median "${L_SYS[@]}")")")
    npoints=$((npoints + 1))
    awk -v r="$iops_ratio" 'BEGIN { exit !(r != "-" && r >= 1.0) }' && iops_ok=$((iops_ok + 1))
    awk -v r="$cpu_ratio" 'BEGIN { exit !(r != "-" && r <= 0.6) }' && cpu_ok=$((cpu_ok + 1))
    awk -v c="$cost" 'BEGIN { exit !(c <= 0.5) }' && cost_ok=$((cost_ok + 1))
    goals+=("$pattern $bytes QD $qd: IOPS ratio $iops_ratio (goal ≥ 1.0), CPU ratio $cpu_ratio (goal ≤ 0.6), core+runtime $cost µs/IO (goal ≤ +0.5)")
done
echo
echo "Where the CPU goes (median µs per I/O; system time is the kernel's: TCP on loopback, sleeping and waking):"
echo
printf '| pattern | bs | QD | unjam user | unjam system | raw user | raw system | libiscsi user | libiscsi system |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
printf '%s\n' "${split_rows[@]}"
echo
echo "Goals of issue 10 on this run: IOPS ratio ≥ 1.0 at $iops_ok of $npoints points; CPU ≤ 0.6 × libiscsi's at $cpu_ok of $npoints; core+runtime ≤ +0.5 µs/IO at $cost_ok of $npoints."
printf '  %s\n' "${goals[@]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
