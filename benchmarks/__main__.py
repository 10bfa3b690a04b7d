"""``python -m benchmarks`` (``make bench``): run every benchmark module and print its figures.

A benchmark is a module ``benchmarks/bench_<name>.py`` with a ``run(args) -> list[Figure]``
function; add one by writing such a module (it is found by name). Each figure is printed with
its baseline, the ratio between them and PASS/MISS against its target. A figure measured in
several runs (each run: the value and its baseline side by side) prints the median ratio and
the worst run's; it PASSes only when the worst run does. The machine (cores, CPU, load
average at the start and the end) is printed with the table. The exit status is 0 unless
``--strict`` is given and a figure missed its target.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import benchmarks


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, optionally against a baseline and a target ratio.

    ``higher_is_better`` says which way the target goes: rate ≥ target × baseline, or
    memory ≤ target × baseline. ``runs``: the ratio measured in each run (value and baseline
    side by side in that run); ``value``/``baseline`` are then the median run's.
    """

    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline: float | None = None
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""
    runs: tuple[float, ...] = ()

    @property
    def ratio(self) -> float | None:
        """The median run's ratio (the only run's, for a figure of one run)."""
        if self.runs:
            return statistics.median(self.runs)
        if self.baseline is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def worst(self) -> float | None:
        """The worst run's ratio (lowest, or highest when lower is better)."""
        if not self.runs:
            return self.ratio
        return min(self.runs) if self.higher_is_better else max(self.runs)

    @property
    def passed(self) -> bool | None:
        """Whether the worst run met the target."""
        worst = self.worst
        if self.target is None or worst is None:
            return None
        return worst >= self.target if self.higher_is_better else worst <= self.target


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB, since its program started: ``VmHWM`` of
    /proc/self/status (Linux). ``ru_maxrss`` is kept across fork and exec, so a benchmark child
    started by a parent that had grown (another benchmark's data) would read the parent's size;
    it is the fallback where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def run_child(module: str, *argv: str) -> dict[str, Any]:
    """``python -m <module> <argv…>`` in a fresh process (its own peak memory); the JSON object
    its last output line holds. RuntimeError with its stderr when it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(argv)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def human(value: float, unit: str) -> str:
    if unit == "ev/s":
        return f"{value / 1000:,.0f}k ev/s" if value >= 10_000 else f"{value:,.0f} ev/s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:,.3g} {unit}"


def render(figures: Sequence[Figure]) -> str:
    rows = [("figure", "value", "baseline", "ratio", "worst", "runs", "target", "result")]
    for f in figures:
        base = f"{f.baseline_name} {human(f.baseline, f.unit)}" if f.baseline is not None else ""
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        worst = f"{f.worst:.2f}x" if f.worst is not None else ""
        sign = ">=" if f.higher_is_better else "<="
        target = f"{sign} {f.target:g}x" if f.target is not None else ""
        result = {None: "", True: "PASS", False: "MISS"}[f.passed]
        runs = str(len(f.runs) or 1) if f.ratio is not None else ""
        rows.append((f.name, human(f.value, f.unit), base, ratio, worst, runs, target, result))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def machine() -> str:
    """Cores this process may use, the CPU, Python, and the load average now."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cores} cores ({cpu}), Python {platform.python_version()}, load average {load()}"


def load() -> str:
    """The 1, 5 and 15-minute load averages."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "unknown"


def median_run(runs: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose ``key`` is the median (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r[key])
    return ordered[(len(ordered) - 1) // 2]


def discover() -> list[str]:
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )


def main(argv: Sequence[str] | None = None) -> int:
    names = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", choices=names, action="append", help="run only these")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    figures: list[Figure] = []
    for name in args.only or names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        figures += module.run(args)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    print()
    print(render(figures))
    print(f"\nload average at the end: {load()}")
    missed = [f for f in figures if f.passed is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
