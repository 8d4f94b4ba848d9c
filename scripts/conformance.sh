#!/usr/bin/env bash
# libiscsi's conformance suite against unjam's target and against tgtd on this machine.
#
#   scripts/conformance.sh [unjam|tgtd|both] [OUTPUT_DIR]
#
# Runs `iscsi-test-cu --test=ALL --dataloss -v` (Debian libiscsi-bin) against
# `unjam target examples/target.toml` (one 1 GiB LUN) and against a tgtd with one 1 GiB
# file-backed LUN, and prints passed / failed / skipped per target (a test that prints
# [SKIPPED] is counted as skipped, not passed). The full outputs and the list of failed and
# skipped tests are kept in OUTPUT_DIR (default: a temporary directory, printed).
# The unjam run then adds the MultipathIO suite, which needs two URLs to one LU, against
# `examples/target-multipath.toml` (a row of its own).
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-both}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
suite_timeout=1800

run_suite() {
    local name=$1 url=$2
    timeout "$suite_timeout" iscsi-test-cu --test=ALL --dataloss -v "$url" >"$out/$name.out" 2>&1 || true
    scripts/cu-results.py "$out/$name.out" --list >"$out/$name.results"
    printf '| %s | %s |\n' "$name" "$(head -1 "$out/$name.results" | awk '{ print $2 " | " $4 " | " $6 " | " $8 }')"
}

run_unjam() {
    cargo build --release --locked -p unjam >&2
    "${CARGO_TARGET_DIR:-target}"/release/unjam target examples/target.toml --portal 127.0.0.1:0 >"$out/unjam.urls" 2>"$out/unjam.log" &
    local pid=$!
    trap 'kill "$pid" 2>/dev/null || true' RETURN
    for _ in $(seq 1 100); do
        [ -s "$out/unjam.urls" ] && break
        sleep 0.05
    done
    run_suite unjam "$(head -1 "$out/unjam.urls")"
    kill -TERM "$pid"
    wait "$pid" || true
    "${CARGO_TARGET_DIR:-target}"/release/unjam target examples/target-multipath.toml --portal 127.0.0.1:0 \
        --portal 127.0.0.1:0 >"$out/multipath.urls" 2>"$out/multipath.log" &
    pid=$!
    for _ in $(seq 1 100); do
        [ "$(wc -l <"$out/multipath.urls")" -ge 2 ] && break
        sleep 0.05
    done
    timeout "$suite_timeout" iscsi-test-cu --test=SCSI.MultipathIO --dataloss -v \
        "$(sed -n 1p "$out/multipath.urls")" "$(sed -n 2p "$out/multipath.urls")" \
        >"$out/unjam-multipath.out" 2>&1 || true
    scripts/cu-results.py "$out/unjam-multipath.out" --list >"$out/unjam-multipath.results"
    printf '| %s | %s |\n' "unjam, MultipathIO with two URLs" \
        "$(head -1 "$out/unjam-multipath.results" | awk '{ print $2 " | " $4 " | " $6 " | " $8 }')"
    kill -TERM "$pid"
    wait "$pid" || true
}

run_tgtd() {
    local url
    url=$(scripts/tgtd-harness.sh start "$out/tgtd-state" 1024)
    trap 'scripts/tgtd-harness.sh stop "$out/tgtd-state"' RETURN
    run_suite tgtd "$url/1"
}

echo "| target | passed | failed | skipped | tests |"
echo "|---|---|---|---|---|"
case "$which" in
    unjam) run_unjam ;;
    tgtd) run_tgtd ;;
    both) run_unjam; run_tgtd ;;
    *) echo "usage: $0 [unjam|tgtd|both] [OUTPUT_DIR]" >&2; exit 2 ;;
esac
echo "outputs and the failed/skipped lists: $out" >&2
