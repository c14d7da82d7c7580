"""The benchmark command runs (a smoke run with few iterations); its numbers are not judged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_smoke_run(tmp_path):
    out = tmp_path / "results.json"
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benches", "bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    rows = json.loads(out.read_text())
    assert rows and all(row["median_us"]["pyns"] for row in rows)
    assert "unavailable" not in r.stderr, r.stderr
