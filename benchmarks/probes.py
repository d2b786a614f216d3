"""What the benchmark reads about the machine and its processes, and the statistics it reports.

CPU comes from ``/proc/<pid>/stat`` (user + system, every thread of the process, so the SDK core's
threads count) and, for this process, ``getrusage``; the machine's busy time from ``/proc/stat``.
Linux only, as the benchmark has always been.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Snapshot",
    "children",
    "cpu_s",
    "machine",
    "pct",
    "r",
    "rss_mb",
    "snapshot",
    "summary",
    "usable_cores",
]

_TICK = os.sysconf("SC_CLK_TCK")


def _status_kb(path: str, key: str = "VmRSS") -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb(pid: int | None = None) -> float | None:
    """Resident memory of ``pid`` (default: this process) in MB."""
    kb = _status_kb(f"/proc/{pid or 'self'}/status")
    return round(kb / 1024, 1) if kb is not None else None


def children() -> set[int]:
    """The pids whose parent is this process."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(entry.name))
    return found


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of ``pid``, or of this process when ``pid`` is None."""
    if pid is None:
        use = resource.getrusage(resource.RUSAGE_SELF)
        return use.ru_utime + use.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from the first line of /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return total - idle, total


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds of each watched process, this process's, and the machine's, at one moment."""

    t: float
    cpu: dict[str, float]
    client: float
    busy: int
    total: int

    def minus(self, earlier: Snapshot) -> dict[str, Any]:
        wall = self.t - earlier.t
        busy, total = self.busy - earlier.busy, self.total - earlier.total
        return {
            "wall_s": wall,
            "cpu_s": {name: self.cpu[name] - earlier.cpu.get(name, 0.0) for name in self.cpu},
            "client_cpu_s": self.client - earlier.client,
            "machine_busy": busy / total if total else None,
        }


def snapshot(pids: dict[str, int | None]) -> Snapshot:
    busy, total = _machine_jiffies()
    return Snapshot(
        t=time.perf_counter(),
        cpu={name: cpu_s(pid) for name, pid in pids.items() if pid},
        client=cpu_s(None),
        busy=busy,
        total=total,
    )


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# Two-sided 95 % quantiles of Student's t by degrees of freedom (beyond the table: the next lower row).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
        18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def _t95(df: int) -> float:
    return _T95[max(k for k in _T95 if k <= df)]


def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    """Median and interquartile range, mean and its 95 % confidence interval (Student's t), of rounds."""
    n = len(values)
    if not n:
        return {"n": 0}
    out: dict[str, Any] = {
        "n": n,
        "median": r(statistics.median(values), digits),
        "q1": r(pct(values, 0.25), digits),
        "q3": r(pct(values, 0.75), digits),
        "min": r(min(values), digits),
        "max": r(max(values), digits),
        "mean": r(statistics.fmean(values), digits),
    }
    if n >= 2:
        half = _t95(n - 1) * statistics.stdev(values) / math.sqrt(n)
        out["ci95"] = [r(out["mean"] - half, digits), r(out["mean"] + half, digits)]
    return out


def machine() -> dict[str, Any]:
    from temporalio import __version__ as temporalio_version

    from mandate.worker import temporal_cli_path

    mem_kb = _status_kb("/proc/meminfo", "MemTotal")
    try:
        cli = subprocess.run([temporal_cli_path(), "--version"], capture_output=True, text=True, timeout=20)
        cli_version = cli.stdout.strip() or cli.stderr.strip()
    except Exception as exc:  # noqa: BLE001  (a version string is not worth failing the run for)
        cli_version = f"unknown ({exc})"
    return {
        "cores": os.cpu_count(),
        "cores_usable": usable_cores(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": temporalio_version,
        "temporal_cli": cli_version,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
