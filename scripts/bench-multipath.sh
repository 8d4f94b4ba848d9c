#!/usr/bin/env bash
# Failover in the simulator (virtual time): seed 003's story (host 0's transport goes down
# at 2 s under load), then the time from the path loss to the layer failing the path, to
# the first request completed good on the other path, and the path errors returned to the
# caller (0 expected; MEDIUM ERRORs are target errors and are returned by design).
# Usage: scripts/bench-multipath.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p unjam
unjam=${CARGO_TARGET_DIR:-target}/release/unjam
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$unjam" run examples/seed003.toml --json "$dir/summary.json" --trace "$dir/trace.jsonl" --quiet > /dev/null
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
down = failed = resumed = None
for line in open(f"{d}/trace.jsonl"):
    e = json.loads(line)
    t = e["t_ns"] / 1e6
    if down is None:
        if e.get("kind") == "transport_down":
            down = t
        continue
    if failed is None and e.get("source") == "mpath" and e.get("event") == "path_failed":
        failed = t
    if failed is not None and resumed is None and e.get("source") == "core" \
            and e.get("kind") == "completed" and e.get("status") == "BLK_STS_OK" \
            and (e.get("device") or "").startswith("1:"):
        resumed = t
        break
summary = json.load(open(f"{d}/summary.json"))
errors = sum(n for m in summary["mpaths"] for k, n in m["ios_failed"].items() if k != "BLK_STS_MEDIUM")
failovers = sum(m["failovers"] for m in summary["mpaths"])
print(f"path lost at {down:.3f} ms (virtual); path failed after {failed - down:.3f} ms; "
      f"I/O resumed on the other path after {resumed - down:.3f} ms; "
      f"{failovers} requests failed over; {errors} path errors returned")
PY
