"""Runs every row of benches/rows_*.py: pyns and its peers in interleaved batches.

Prints a table (median µs per operation, ratio pyns/base, target) and writes JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import HERE, Ctx, Row  # noqa: E402

import pyns  # noqa: E402


def _measure(row: Row, rounds: int, batch: int) -> dict[str, float | None]:
    names = list(row.impls)
    samples: dict[str, list[float]] = {n: [] for n in names}
    broken: set[str] = set()
    for n in names:  # warm-up, and find the ones that can't run here
        try:
            row.impls[n](max(1, batch // 10))
        except Exception as e:  # noqa: BLE001 - a peer missing on this machine is reported
            print(f"  {row.name}: {n} unavailable: {e}", file=sys.stderr)
            broken.add(n)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            if n not in broken:
                samples[n].append(row.impls[n](batch) / batch * 1e6)
    return {n: (statistics.median(samples[n]) if samples[n] else None) for n in names}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smoke run: few iterations")
    ap.add_argument("--only", default="", help="only rows whose name contains this")
    ap.add_argument("--json", default=os.path.join(HERE, "out", "results.json"))
    args = ap.parse_args()
    modules = sorted(
        f[:-3] for f in os.listdir(HERE) if f.startswith("rows_") and f.endswith(".py")
    )
    results = []
    failed = False
    ctx = Ctx(quick=args.quick)
    # A private mount namespace for the whole run: what the rows mount (named netns under
    # /run/netns) vanishes with this process, even if it is killed.
    with pyns.isolate(mnt=True), ctx.stack:
        for mod in modules:
            try:
                rows = importlib.import_module(mod).rows(ctx)
            except Exception:  # noqa: BLE001 - report and go on with the other areas
                traceback.print_exc()
                failed = True
                continue
            for row in rows:
                if args.only not in row.name:
                    continue
                rounds = 3 if args.quick else (row.rounds or 21)
                batch = max(1, row.batch // 20) if args.quick else row.batch
                med = _measure(row, rounds, batch)
                base = med.get(row.base)
                ratio = med["pyns"] / base if med.get("pyns") and base else None
                results.append(
                    {
                        "operation": row.name,
                        "median_us": med,
                        "base": row.base,
                        "ratio": ratio,
                        "target": row.target,
                        "meets_target": None
                        if ratio is None or row.target is None
                        else ratio <= row.target,
                        "note": row.note,
                    }
                )
                _print_row(results[-1])
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nJSON: {args.json}")
    return 1 if failed else 0


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:,.1f}" if v < 10_000 else f"{v:,.0f}")


def _print_row(r: dict) -> None:
    ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}x {r['base']}"
    target = "" if r["target"] is None else f" (target <= {r['target']}x"
    if target:
        target += ": " + {True: "met", False: "MISSED", None: "?"}[r["meets_target"]] + ")"
    peers = ", ".join(f"{n} {_fmt(v)}" for n, v in r["median_us"].items() if n != "pyns")
    print(
        f"{r['operation']}\n    pyns {_fmt(r['median_us']['pyns'])} µs | {peers} | {ratio}{target}"
    )
    if r["note"]:
        print(f"    note: {r['note']}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
