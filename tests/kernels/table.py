"""Prints the kernel lane's results: a test x kernel matrix, then kernel, passed, failed,
skipped, seconds. Arguments: KERNEL=SECONDS=STATUS=JUNIT_XML, one per kernel. Exits 1 when a
kernel has no results file."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET


def outcomes(path: str) -> dict[str, str]:
    out = {}
    for case in ET.parse(path).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            out[name] = "FAILED"
        elif "skipped" in kinds:
            out[name] = "skip"
        else:
            out[name] = "pass"
    return out


def main(args: list[str]) -> int:
    runs = []
    for arg in args:
        kernel, secs, status, path = arg.split("=", 3)
        runs.append((kernel, secs, status, outcomes(path) if os.path.exists(path) else None))
    tests = sorted({t for *_, res in runs if res for t in res})
    if tests:
        width = max(len(t) for t in tests)
        cols = [max(len(k), 6) for k, *_ in runs]
        print(f"{'test':<{width}}  " + "  ".join(f"{k:<{c}}" for (k, *_), c in zip(runs, cols)))
        for t in tests:
            cells = [(res or {}).get(t, "-") for *_, res in runs]
            print(f"{t:<{width}}  " + "  ".join(f"{v:<{c}}" for v, c in zip(cells, cols)))
        print()
    rows = [("kernel", "passed", "failed", "skipped", "seconds")]
    missing = False
    for kernel, secs, status, res in runs:
        if res is None:
            missing = True
            rows.append((kernel, "-", f"no results (status {status})", "-", secs))
            continue
        values = list(res.values())
        failed = values.count("FAILED")
        rows.append(
            (kernel, str(values.count("pass")), str(failed), str(values.count("skip")), secs)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
