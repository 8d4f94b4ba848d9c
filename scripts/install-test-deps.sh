#!/usr/bin/env bash
# Installs the real peers the test suite compares against: sg3-utils (sg_decode_sense),
# tgt (the tgtd iSCSI target), libiscsi-bin (iscsi-inq, iscsi-perf, ...), chromium (renders
# the HTML timeline of `unjam run --report` in a test), qemu-utils with qemu-block-extra
# (qemu-img's iSCSI driver, a convert-and-compare round trip through `unjam target`).
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
command -v sg_decode_sense >/dev/null 2>&1 || need+=(sg3-utils)
command -v tgtd >/dev/null 2>&1 || need+=(tgt)
command -v iscsi-inq >/dev/null 2>&1 || need+=(libiscsi-bin)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
dpkg -s qemu-block-extra >/dev/null 2>&1 || need+=(qemu-block-extra)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing test dependencies: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
