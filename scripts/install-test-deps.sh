#!/usr/bin/env bash
# Installs the real peers the test suite compares against: sg3-utils (sg_decode_sense),
# tgt (the tgtd iSCSI target), libiscsi-bin (iscsi-inq, iscsi-perf, ...), chromium (renders
# the HTML timeline of `unjam run --report` in a test), qemu-utils with qemu-block-extra
# (qemu-img's iSCSI driver, a convert-and-compare round trip through `unjam target`), and
# what the guest harness
# (scripts/guest.sh: a real Linux guest against `unjam vhost-user`) needs: qemu-system-x86,
# busybox-static, cpio, kmod, xz-utils, zstd, gcc and libc6-dev (its static reader/writer),
# python3 (its JSON), then Debian's kernel package fetched and unpacked into the cache.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
command -v sg_decode_sense >/dev/null 2>&1 || need+=(sg3-utils)
command -v tgtd >/dev/null 2>&1 || need+=(tgt)
command -v iscsi-inq >/dev/null 2>&1 || need+=(libiscsi-bin)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
dpkg -s qemu-block-extra >/dev/null 2>&1 || need+=(qemu-block-extra)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v modinfo >/dev/null 2>&1 || need+=(kmod)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
command -v python3 >/dev/null 2>&1 || need+=(python3)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# The guest harness fetches linux-image-amd64 with apt-get download: apt must know it.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi

if [ ${#need[@]} -ne 0 ]; then
  echo "installing test dependencies: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The guest kernel and initramfs (cached under target/guest-cache; nothing when present).
"$(dirname "$0")/guest.sh" --prepare
