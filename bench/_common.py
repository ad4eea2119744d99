"""Helpers shared by the benchmark scripts: French numbers, peak memory, measured children.

Each benchmark runs every measure in its own subprocess (``--enfant MODE ARGS…``) so that the
peak memory (:func:`peak_mb`) belongs to that measure alone."""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def fr(value: float | None, decimals: int = 0) -> str:
    """French number formatting: narrow no-break space for thousands, decimal comma."""
    if value is None:
        return "—"
    if value != value:  # NaN: the measure failed
        return "échec"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def peak_mb() -> float:
    """Peak resident memory of this process, in MB.

    Read from ``VmHWM`` (the high-water mark of this program's own memory) where Linux gives
    it: ``ru_maxrss`` keeps, across ``exec``, the resident size of the parent the child was
    forked from — a benchmark that simulated gigabytes of files before starting its measured
    children reported that size as every child's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(script: str, mode: str, args: list[str]) -> dict:
    """Run ``script --enfant mode args…`` and read the JSON it prints last; a failure (the
    baseline killed for lack of memory at national scale…) is reported, not raised."""
    done = subprocess.run(
        [sys.executable, script, "--enfant", mode, *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        reason = "tué (mémoire ?)" if done.returncode < 0 else done.stderr.strip()[-1500:]
        print(f"échec de la mesure « {mode} » ({done.returncode}) : {reason}")
        return {"seconds": float("nan"), "rows": 0, "peak_mb": float("nan"), "failed": True}
    return json.loads(done.stdout.strip().splitlines()[-1])
