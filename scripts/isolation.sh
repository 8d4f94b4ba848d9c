#!/usr/bin/env bash
# Isolation benchmark (issue 5): runs examples/isolation.toml (1 host, 1 target, 32 LUNs,
# LUN 0:0:0:0 recovering for ~2 s) in host scope (the kernel) and in LUN scope, and prints
# for the 31 healthy LUNs: throughput while the error handler holds LUN 0 as % of the
# throughput before the fault, p99 latency of requests submitted during recovery, and the
# largest blocked_ms of any healthy LUN.
#
#   scripts/isolation.sh            (needs python3; builds unjam in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p unjam
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for scope in host lun; do
    ./target/release/unjam run examples/isolation.toml --set "eh.scope=$scope" \
        --trace "$out/$scope.jsonl" --json "$out/$scope.json" >/dev/null
done
python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
SICK = "0:0:0:0"
token_re = re.compile(r"token: (\d+)")
print(f"{'scope':<6} {'recovery_ms':>11} {'healthy_tput_%':>14} {'p99_us':>10} {'max_blocked_ms':>14}")
for scope in ("host", "lun"):
    start = end = None
    submitted = {}
    done = []
    with open(f"{out}/{scope}.jsonl") as trace:
        for line in trace:
            event = json.loads(line)
            kind, t = event["kind"], event["t_ns"]
            if kind == "eh_added" and start is None:
                start = t
            elif kind in ("scope_eh_done", "host_restart") and end is None and start is not None:
                end = t
            elif kind in ("submitted", "completed") and event["device"] != SICK:
                token = int(token_re.search(event["detail"]).group(1))
                if kind == "submitted":
                    submitted[token] = t
                else:
                    done.append((t, submitted.get(token, t)))
    before = (500_000_000, 2_000_000_000)
    rate = lambda lo, hi: sum(1 for t, _ in done if lo <= t < hi) / ((hi - lo) / 1e9)
    during = rate(start, end) / rate(*before) * 100
    latencies = sorted(t - s for t, s in done if start <= s < end)
    p99 = latencies[int(len(latencies) * 0.99) - 1] / 1000 if latencies else 0
    summary = json.load(open(f"{out}/{scope}.json"))
    blocked = max(l["blocked_ms"] for l in summary["luns"] if l["id"] != SICK)
    print(f"{scope:<6} {(end - start) / 1e6:>11.1f} {during:>14.1f} {p99:>10.0f} {blocked:>14}")
PY
