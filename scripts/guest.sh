#!/usr/bin/env bash
# scripts/guest.sh SCENARIO.toml: a real Linux guest against unjam's vhost-user-scsi device.
#
# Boots Debian's stock kernel (linux-image-amd64, unpacked into a cache, never installed) in
# QEMU (TCG, -cpu max) with a small initramfs (busybox-static and scripts/guest/unjam-guest-io),
# serves the scenario with `unjam vhost-user SCENARIO --socket ...`, runs the scenario's
# workload inside the guest (plan: `unjam vhost-user SCENARIO --guest-plan FILE`), and prints
# ONE JSON object on stdout:
#   {"ios": [{"op", "lba", "errno" (0 = success, null = still in flight at the deadline),
#             "sends" (times the device saw that command; for an (op, LBA, LUN) the plan
#             repeats, the guest's count of its dispatches), "seconds", "device", "bytes",
#             "completed", "guest_dispatches"}, ...],
#    "dmesg": ["[    1.234567] ...", ...],
#    "devices": [{"device", "iorequest_cnt", "ioerr_cnt", "iotmo_cnt"}] (the guest mid-layer's
#                counters at the end: sends, errors, timeouts),
#    "kernel": "6.1.0-...", "boot_seconds": S,
#    "device_log": [JSON lines of the device]}
#
# `scripts/guest.sh --prepare` only fetches the kernel and builds the initramfs (cached).
# Environment: UNJAM_GUEST_CACHE (default target/guest-cache), UNJAM_BIN (default
# target/debug/unjam, built when missing), UNJAM_GUEST_TIMEOUT_S (QEMU's wall-clock limit,
# default the scenario's duration + 120 s), UNJAM_GUEST_KEEP=1 keeps the run directory,
# UNJAM_GUEST_SCSI_LOGGING=N sets the guest's scsi_mod scsi_logging_level (e.g. 63: error
# recovery and timeouts; its lines are in "dmesg", and the differential tests then differ).
# Needs qemu-system-x86, busybox-static, cpio, kmod, gcc, python3 (scripts/install-test-deps.sh).
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: scripts/guest.sh SCENARIO.toml [--set KEY=VALUE ...] | --prepare" >&2
  exit 2
fi
prepare_only=0
if [ "$1" = "--prepare" ]; then
  prepare_only=1
else
  scenario=$(realpath "$1")
fi
shift
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${UNJAM_GUEST_CACHE:-$root/target/guest-cache}
unjam=${UNJAM_BIN:-$root/target/debug/unjam}
mkdir -p "$cache"

log() { echo "guest.sh: $*" >&2; }

for tool in qemu-system-x86_64 busybox cpio modinfo gcc python3 dpkg-deb apt-get; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "missing $tool: run scripts/install-test-deps.sh"
    exit 2
  fi
done
if [ "$prepare_only" = 0 ] && [ ! -x "$unjam" ]; then
  log "building unjam"
  (cd "$root" && cargo build -p unjam --quiet >&2)
fi

# 1. The kernel: Debian's linux-image-amd64 (its image package), unpacked once.
kernel_dir() {
  local package version dir
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [ -z "$package" ]; then
    log "apt-cache knows no linux-image-amd64: run scripts/install-test-deps.sh (apt-get update)"
    exit 2
  fi
  dir="$cache/$package"
  if [ ! -f "$dir/.unpacked" ]; then
    log "fetching $package"
    rm -rf "$dir" && mkdir -p "$dir/download"
    (cd "$dir/download" && apt-get download "$package" >&2 2>/dev/null) \
      || (cd "$dir/download" && apt-get download "$package" >&2)
    dpkg-deb -x "$dir"/download/*.deb "$dir/root"
    rm -rf "$dir/download"
    touch "$dir/.unpacked"
  fi
  echo "$dir"
}
kdir=$(kernel_dir)
kversion=$(ls "$kdir/root/lib/modules" | head -1)
vmlinuz="$kdir/root/boot/vmlinuz-$kversion"
modules="$kdir/root/lib/modules/$kversion"

# 2. The base initramfs: busybox, the reader/writer, the modules virtio_scsi needs; rebuilt
# when the kernel or the guest sources change.
sources_hash=$(cat "$root/scripts/guest/init" "$root/scripts/guest/unjam-guest-io.c" "$0" | sha256sum | cut -c1-16)
base="$cache/initramfs-$kversion-$sources_hash.cpio.gz"
module_file() {
  find "$modules/kernel" -name "$1.ko*" -print -quit 2>/dev/null \
    || true
}
module_order=()
add_module() { # depth-first: dependencies first
  local name=$1 file deps dep
  name=${name//-/_}
  for seen in "${module_order[@]:-}"; do [ "$seen" = "$name" ] && return 0; done
  file=$(module_file "$name")
  [ -n "$file" ] || file=$(module_file "${name//_/-}")
  if [ -z "$file" ]; then return 0; fi # built in
  deps=$(modinfo -F depends "$file")
  for dep in ${deps//,/ }; do add_module "$dep"; done
  module_order+=("$name")
}
if [ ! -f "$base" ]; then
  log "building the initramfs for $kversion"
  rm -f "$cache"/initramfs-*.cpio.gz
  stage=$(mktemp -d)
  mkdir -p "$stage"/{bin,dev,proc,sys,tmp,lib/modules}
  cp "$(command -v busybox)" "$stage/bin/busybox"
  gcc -static -O2 -Wall -Wno-format-truncation -o "$stage/bin/unjam-guest-io" "$root/scripts/guest/unjam-guest-io.c"
  cp "$root/scripts/guest/init" "$stage/init"
  chmod +x "$stage/init"
  for wanted in virtio_pci virtio_scsi sd_mod; do add_module "$wanted"; done
  : > "$stage/modules.order"
  for name in "${module_order[@]}"; do
    file=$(module_file "$name"); [ -n "$file" ] || file=$(module_file "${name//_/-}")
    case "$file" in
      *.ko.xz) xz -dc "$file" > "$stage/lib/modules/$name.ko" ;;
      *.ko.zst) zstd -qdc "$file" > "$stage/lib/modules/$name.ko" ;;
      *) cp "$file" "$stage/lib/modules/$name.ko" ;;
    esac
    echo "$name" >> "$stage/modules.order"
  done
  (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$base.tmp"
  mv "$base.tmp" "$base"
  rm -rf "$stage"
fi

if [ "$prepare_only" = 1 ]; then
  log "kernel $kversion and initramfs cached in $cache"
  exit 0
fi

# 3. This run: the plan (a second cpio archive appended to the base), the device, QEMU.
run=$(mktemp -d "${TMPDIR:-/tmp}/unjam-guest.XXXXXX")
backend_pid=""
qemu_pid=""
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" 2>/dev/null || true; fi
  if [ -n "$backend_pid" ] && kill -0 "$backend_pid" 2>/dev/null; then
    kill "$backend_pid" 2>/dev/null || true
    wait "$backend_pid" 2>/dev/null || true
  fi
  if [ "${UNJAM_GUEST_KEEP:-0}" = 1 ]; then log "kept $run"; else rm -rf "$run"; fi
}
trap cleanup EXIT

mkdir -p "$run/plan"
"$unjam" vhost-user "$scenario" "$@" --guest-plan "$run/plan/plan"
deadline_ms=$(awk '/^deadline_ms/ {print $2}' "$run/plan/plan")
(cd "$run/plan" && echo plan | cpio -o -H newc --quiet | gzip -1) > "$run/plan.cpio.gz"
cat "$base" "$run/plan.cpio.gz" > "$run/initrd"

socket="$run/vhost.sock"
"$unjam" vhost-user "$scenario" "$@" --socket "$socket" --log "$run/device.jsonl" 2> "$run/backend.err" &
backend_pid=$!
for _ in $(seq 1 200); do
  [ -S "$socket" ] && break
  if ! kill -0 "$backend_pid" 2>/dev/null; then
    log "unjam vhost-user exited:"; cat "$run/backend.err" >&2; exit 1
  fi
  sleep 0.05
done
[ -S "$socket" ] || { log "no vhost-user socket after 10 s"; exit 1; }

limit_s=${UNJAM_GUEST_TIMEOUT_S:-$(( deadline_ms / 1000 + 120 ))}
memory_mib=512
started=$(date +%s.%N)
set +e
timeout --kill-after=5 "$limit_s" qemu-system-x86_64 \
  -accel tcg -cpu max -m "${memory_mib}M" -smp 1 \
  -nodefaults -no-user-config -display none -serial stdio -no-reboot \
  -object "memory-backend-memfd,id=mem,size=${memory_mib}M,share=on" -numa node,memdev=mem \
  -chardev "socket,id=vus,path=$socket" \
  -device vhost-user-scsi-pci,chardev=vus,num_queues=1 \
  -kernel "$vmlinuz" -initrd "$run/initrd" \
  -append "console=ttyS0 loglevel=1 panic=-1 log_buf_len=16M${UNJAM_GUEST_SCSI_LOGGING:+ unjam.scsi_logging_level=$UNJAM_GUEST_SCSI_LOGGING}" \
  < /dev/null > "$run/console.log" 2> "$run/qemu.err" &
qemu_pid=$!
wait "$qemu_pid"
qemu_status=$?
set -e
qemu_pid=""
finished=$(date +%s.%N)
if [ "$qemu_status" -ne 0 ]; then
  log "QEMU exited with status $qemu_status (124: the $limit_s s limit)"
  tail -n 20 "$run/qemu.err" >&2 || true
fi
# The device exits when QEMU disconnects; give it a moment, then stop it.
for _ in $(seq 1 40); do kill -0 "$backend_pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$backend_pid" 2>/dev/null; then kill "$backend_pid" 2>/dev/null || true; fi
wait "$backend_pid" 2>/dev/null || true
backend_pid=""

python3 - "$run/console.log" "$run/device.jsonl" "$kversion" "$started" "$finished" <<'PY'
import json, re, sys
console, device_log, kversion, started, finished = sys.argv[1:6]
text = open(console, errors="replace").read().replace("\r", "")
lines = text.split("\n")
ios, devices, dmesg, in_dmesg, errors = [], [], [], False, []
for line in lines:
    if line.startswith("UNJAM-IO "):
        ios.append(json.loads(line[len("UNJAM-IO "):]))
    elif line.startswith("UNJAM-DEVICE "):
        devices.append(json.loads(line[len("UNJAM-DEVICE "):]))
    elif line == "UNJAM-DMESG-BEGIN":
        in_dmesg = True
    elif line == "UNJAM-DMESG-END":
        in_dmesg = False
    elif in_dmesg and line:
        dmesg.append(line)
    elif line.startswith("UNJAM-ERROR"):
        errors.append(line)
events = []
try:
    for line in open(device_log):
        line = line.strip()
        if line:
            events.append(json.loads(line))
except FileNotFoundError:
    pass
# sends: the device's commands with the I/O's op, LBA and LUN. When the plan repeats that
# (op, LBA, LUN), the device cannot tell the I/Os apart: the guest's own count of the I/O's
# dispatches (iorequest_cnt before and after it) is used instead.
keys = [(io["device"], io["op"], io["lba"]) for io in ios]
for io, key in zip(ios, keys):
    h, c, t, l = (int(x) for x in io["device"].split(":"))
    io["sends"] = sum(1 for e in events if e.get("event") == "command" and e.get("op") == io["op"]
                      and e.get("lba") == io["lba"] and e.get("target") == t and e.get("lun") == l)
    if keys.count(key) > 1 and io.get("guest_dispatches") is not None:
        io["sends"] = io["guest_dispatches"]
boot = None
for line in dmesg:
    if "unjam-guest: workload starts" in line:
        m = re.match(r"\[\s*([0-9.]+)\]", line)
        boot = float(m.group(1)) if m else None
out = {"ios": ios, "dmesg": dmesg, "devices": devices, "kernel": kversion, "boot_seconds": boot,
       "wall_seconds": round(float(finished) - float(started), 3), "device_log": events}
if errors:
    out["errors"] = errors
if not dmesg:
    out["console_tail"] = lines[-40:]
print(json.dumps(out))
PY
