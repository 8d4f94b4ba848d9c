#!/usr/bin/env bash
# User-space instructions per I/O of `unjam bench URL` (through the runtime and the core),
# the iSCSI client alone (`raw_client_bench`, no core; it times and records each I/O with
# `unjam bench`'s own recorder, so both pay the same) and libiscsi's `iscsi-perf` on the
# same tgtd LUN, counted by callgrind. Instruction counts do not move with the machine's
# load as CPU time does, so this is the comparison of the initiators' own code that holds
# on a busy machine; it says nothing about the kernel's share (see scripts/bench-iscsi.sh).
#
#   scripts/instructions-iscsi.sh [POINTS]
#   POINTS: "pattern:bytes:qd ...", default "randread:4096:1 randread:4096:32 read:131072:8"
#
# Each initiator runs twice under callgrind, SHORT and LONG seconds; the count per I/O is
# the difference of the two runs' instructions over the difference of their I/Os, so
# start-up, login and logout drop out. iscsi-perf's I/Os are its average IOPS × seconds.
# A measurement, not a test (needs valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."

points=${1:-"randread:4096:1 randread:4096:32 read:131072:8"}
short=2 long=8
lun_mib=1024

cargo build --release --locked -p unjam -p unjam-runtime --examples --bins >&2
target=${CARGO_TARGET_DIR:-target}
unjam=$target/release/unjam
raw=$target/release/examples/raw_client_bench
work=$(mktemp -d)
trap 'scripts/tgtd-harness.sh stop "$work/tgtd"; rm -rf "$work"' EXIT
url="$(scripts/tgtd-harness.sh start "$work/tgtd" "$lun_mib")/1"
scripts/tgtd-harness.sh fill "$work/tgtd"
blocks=$((lun_mib * 2048))

callgrind() { valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@"; }
# instructions: the total of the last callgrind run.
instructions() { callgrind_annotate "$work/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }' || echo 0; }

# Each runner prints: I/Os instructions
run_unjam() {
    callgrind "$unjam" bench "$url" --rw "$1" --bs "$2" --qd "$3" --time "${4}s" \
        --output-format json >"$work/out.json" 2>/dev/null
    echo "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["read"]["total_ios"])' "$work/out.json") $(instructions)"
}
run_raw() {
    callgrind "$raw" "$url" "$1" "$2" "$3" "$4" "$blocks" >"$work/out.json" 2>/dev/null
    echo "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ios"])' "$work/out.json") $(instructions)"
}
run_libiscsi() {
    local random=()
    [ "$1" = randread ] && random=(-r)
    # iscsi-perf can hang at the end of a run: bound it (callgrind must trace iscsi-perf
    # itself, so the bound goes outside).
    rm -f "$work/cg.out"
    timeout $(($4 + 60)) valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        iscsi-perf -m "$3" -b $(($2 / 512)) -t "$4" "${random[@]}" "$url" >"$work/perf.out" 2>&1 || true
    local iops
    iops=$(tr '\r' '\n' <"$work/perf.out" | sed -n 's/.*iops average \([0-9]*\).*/\1/p' | tail -1)
    echo "$((${iops:-0} * $4)) $(instructions)"
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '| pattern | bs | QD | unjam instructions/IO | raw client instructions/IO | libiscsi instructions/IO | unjam − raw (core + runtime) | unjam / libiscsi |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for point in $points; do
    IFS=: read -r pattern bytes qd <<<"$point"
    declare -A per=()
    for runner in unjam raw libiscsi; do
        read -r ios1 ir1 < <("run_$runner" "$pattern" "$bytes" "$qd" "$short")
        read -r ios2 ir2 < <("run_$runner" "$pattern" "$bytes" "$qd" "$long")
        per[$runner]=$(awk -v a="$ios1" -v b="$ios2" -v x="$ir1" -v y="$ir2" 'BEGIN { if (b > a) printf "%.0f", (y - x) / (b - a); else print "-" }')
        echo "$point $runner: $ios1 I/Os in ${short}s ($ir1 instructions), $ios2 in ${long}s ($ir2)" >&2
    done
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$pattern" "$bytes" "$qd" \
        "${per[unjam]}" "${per[raw]}" "${per[libiscsi]}" \
        "$(awk -v u="${per[unjam]}" -v r="${per[raw]}" 'BEGIN { printf "%+.0f", u - r }')" \
        "$(awk -v u="${per[unjam]}" -v l="${per[libiscsi]}" 'BEGIN { if (l > 0) printf "%.1f", u / l; else print "-" }')"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
