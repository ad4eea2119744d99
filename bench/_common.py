"""Helpers shared by the benchmark scripts: French numbers, peak memory, measured children.

Each benchmark runs every measure in its own subprocess (``--enfant MODE ARGS…``) so that the
peak memory (``ru_maxrss``) belongs to that measure alone."""

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
    """Peak resident memory of this process, in MB."""
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
