#!/usr/bin/env bash
# Starts and stops a throwaway tgtd for manual runs and benchmarks (the Rust tests have their
# own harness in crates/unjam-iscsi/tests/support/tgtd.rs).
#
#   scripts/tgtd-harness.sh start DIR [LUN_MIB]   # prints the portal URL; state kept in DIR
#   scripts/tgtd-harness.sh fill DIR              # LUN 1: random data, read into the page cache
#   scripts/tgtd-harness.sh stop DIR
#
# The target is iqn.2024-11.dev.unjam:bench with LUN 1 and LUN 2 backed by files in DIR.
set -euo pipefail

target=iqn.2024-11.dev.unjam:bench

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
    local dir=$1 size_mib=${2:-256}
    mkdir -p "$dir"
    local port control
    port=$(free_port)
    control=$((1024 + port % 30000))     # tgtd accepts control ports up to 32767
    truncate -s "${size_mib}M" "$dir/lun1.img" "$dir/lun2.img"
    tgtd -f -C "$control" --iscsi "portal=127.0.0.1:$port" >"$dir/tgtd.log" 2>&1 &
    echo $! >"$dir/tgtd.pid"
    echo "$port" >"$dir/port"
    echo "$control" >"$dir/control"
    local adm="tgtadm -C $control --lld iscsi"
    for _ in $(seq 1 200); do
        $adm --mode target --op show >/dev/null 2>&1 && break
        sleep 0.02
    done
    $adm --mode target --op new --tid 1 --targetname "$target"
    $adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$dir/lun1.img"
    $adm --mode logicalunit --op new --tid 1 --lun 2 --backing-store "$dir/lun2.img"
    $adm --mode target --op bind --tid 1 --initiator-address ALL
    # Ready only when a SendTargets lists the target.
    for _ in $(seq 1 200); do
        if timeout 5 iscsi-ls "iscsi://127.0.0.1:$port" 2>/dev/null | grep -q "$target"; then
            echo "iscsi://127.0.0.1:$port/$target"
            return 0
        fi
        sleep 0.05
    done
    echo "tgtd did not come up; log in $dir/tgtd.log" >&2
    stop "$dir"
    return 1
}

# Benchmarks read a LUN 1 full of random data (no sparse-file shortcut in tgtd, nothing a
# deduplicating path could flatter) that is already in the page cache (no disk in the numbers).
fill() {
    local dir=$1 img=$1/lun1.img
    [ -f "$img" ] || { echo "no $img: start a target in $dir first" >&2; return 1; }
    dd if=/dev/urandom of="$img" bs=1M count=$(($(stat -c %s "$img") / 1048576)) conv=notrunc status=none
    cat "$img" >/dev/null
}

stop() {
    local dir=$1
    [ -f "$dir/tgtd.pid" ] || return 0
    local pid control
    pid=$(cat "$dir/tgtd.pid")
    control=$(cat "$dir/control")
    local adm="tgtadm -C $control --lld iscsi"
    kill -CONT "$pid" 2>/dev/null || true
    $adm --mode target --op update --tid 1 --name state --value offline >/dev/null 2>&1 || true
    $adm --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
    $adm --mode system --op delete >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.02
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/tgtd.pid" "/var/run/tgtd/socket.$control" "/var/run/tgtd/socket.$control.lock"
}

case "${1:-}" in
    start) start "${2:?DIR}" "${3:-256}" ;;
    fill) fill "${2:?DIR}" ;;
    stop) stop "${2:?DIR}" ;;
    *) echo "usage: $0 start DIR [LUN_MIB] | fill DIR | stop DIR" >&2; exit 2 ;;
esac
