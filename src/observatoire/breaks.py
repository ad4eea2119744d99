"""Class breaks shared by the maps (``publish.maps``) and the diagnostics' priority classes.

A core module (NumPy only): the analyses and the publications both use it, so neither imports
the other.
"""

from __future__ import annotations

import numpy as np

JENKS_MAX_POINTS = 2000  # above this many distinct values, Fisher-Jenks runs on a fixed sample


def jenks_bounds(values: np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of the Fisher-Jenks classes of the finite ``values`` (at most ``k``,
    one per distinct value when there are fewer)."""
    data = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    distinct = np.unique(data)
    k = min(int(k), distinct.size)
    if k <= 1 or k == distinct.size:
        return distinct if k == distinct.size else data[-1:]
    return fisher_jenks(data, distinct, k)


def fisher_jenks(data: np.ndarray, distinct: np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of the ``k`` classes minimising the within-class sum of squared deviations.

    Dynamic programming on the distinct values weighted by their count (equal values never
    belong to two classes in an optimum), each step a vectorised minimum over a matrix."""
    if distinct.size > JENKS_MAX_POINTS:
        ranks = np.linspace(0, data.size - 1, JENKS_MAX_POINTS).round().astype(int)
        points, weights = np.unique(data[ranks], return_counts=True)
    else:
        points = distinct
        weights = np.diff(np.searchsorted(data, distinct, side="right"), prepend=0)
    n = points.size
    centred = points - points.mean()  # limits cancellation in the sums of squares
    w = np.concatenate([[0.0], np.cumsum(weights, dtype=float)])
    s1 = np.concatenate([[0.0], np.cumsum(weights * centred)])
    s2 = np.concatenate([[0.0], np.cumsum(weights * centred * centred)])
    # cost[i, j]: sum of squared deviations of points i..j (inclusive), inf when i > j
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        width = w[j + 1] - w[i]
        sums = s1[j + 1] - s1[i]
        cost = (s2[j + 1] - s2[i]) - sums * sums / width
    cost = np.where(j >= i, np.maximum(cost, 0.0), np.inf)
    best = cost[0].copy()  # best[j]: optimum of points 0..j in the current number of classes
    starts = []  # starts[c][j]: first point of the last class in that optimum
    for _ in range(1, k):
        total = np.concatenate([[np.inf], best[:-1]])[:, None] + cost  # last class = i..j
        start = np.argmin(total, axis=0)
        best = total[start, np.arange(n)]
        starts.append(start)
    uppers = [n - 1]
    end = n - 1
    for start in reversed(starts):
        end = int(start[end]) - 1
        uppers.append(end)
    return points[np.array(sorted(uppers))]
