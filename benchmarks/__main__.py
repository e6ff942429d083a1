"""`python -m benchmarks` (`make bench`): every figure (issues 8 and 16) with its floor, ratio and target.

    python -m benchmarks                  # everything (about an hour on 2 busy cores: the export's
                                          # 2,000 clients at concurrency 1 alone take 10 minutes or more)
    python -m benchmarks --quick          # fewer rounds; the export with 100 clients x 20, a dispatch of
                                          # 1,000 clients, 2 PIN saves (BENCH_QUICK=1 does the same)
    python -m benchmarks --only intake export
    python -m benchmarks --json results.json

Nothing here fails on a slow machine: targets are printed as holds yes/NO, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

SECTIONS = ("coldstart", "intake", "intake-async", "export", "runtime")


def machine() -> dict[str, Any]:
    def run(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False, timeout=10).stdout.strip()
        except OSError:
            return ""

    memory = next((line.split()[1] for line in run("free", "-h").splitlines() if line.startswith("Mem:")), "?")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "load_before": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and smaller exports (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ["BENCH_QUICK"] = "1"

    from benchmarks import coldstart, export, intake, intake_async, runtime_load
    from benchmarks.common import Figure, quick, table

    runs = {
        "coldstart": coldstart.bench,
        "intake": intake.bench,
        "intake-async": intake_async.bench,
        "export": export.bench,
        "runtime": runtime_load.bench,
    }
    about = machine()
    print(
        f"Timerack Bridge benchmarks ({'quick' if quick() else 'full'}): {about['date']}, {about['cpus']} CPUs, "
        f"{about['memory']} RAM, Python {about['python']} on {about['platform']}, load {about['load_before']}",
        flush=True,
    )
    figures: list[Figure] = []
    durations: dict[str, float] = {}
    for name in args.only or SECTIONS:
        started = time.monotonic()
        print(f"... {name}", flush=True)
        section = runs[name]()
        durations[name] = time.monotonic() - started
        print(table(section), flush=True)
        figures.extend(section)

    print("\nAll figures\n")
    print(table(figures))
    missed = [f for f in figures if f.holds is False]
    print(
        f"\n{len(figures)} figures; targets held: {sum(f.holds is True for f in figures)}, "
        f"missed: {len(missed)}" + ("".join(f"\n  - {f.section}: {f.name}" for f in missed))
    )
    print("section times: " + ", ".join(f"{k} {v:.0f} s" for k, v in durations.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "machine": about,
                    "quick": quick(),
                    "durations_s": durations,
                    "figures": [{**f.__dict__, "ratio": f.ratio} for f in figures],
                },
                handle,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
