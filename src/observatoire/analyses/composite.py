"""Composite need index of units (communes, IRIS) and its sensitivity to the weights.

The OECD/JRC method (« Handbook on Constructing Composite Indicators », 2008) used to rank
communes for housing-renewal programmes (OPAH-RU / OPAH-RR), see ``methods.md`` §2.6. Pure
computation: a values frame in (index = unit codes, one float column per criterion, NaN =
missing or secret), frames out; no warehouse, no I/O.

:func:`composite_index`, for a :class:`IndexSpec` (criteria grouped in dimensions):

1. **Orientation.** ``x_i = direction_i × value_i``, so that a higher ``x`` always means more
   need.
2. **Normalisation** of each criterion over its *reference set*: every unit of ``values``
   that has a value for the criterion — ineligible units (size gates) included, so that the
   gates change who is ranked, never the scale. Missing values are left out (never 0).

   - ``minmax``: winsorise (clip to the quantiles ``winsorise = (p_lo, p_hi)`` of the
     reference set, ``numpy.quantile``, linear interpolation), then
     ``n = (x − min) / (max − min)`` in [0, 1]; a constant criterion gives 0.5 to everyone.
   - ``zscore``: winsorise, then ``n = (x − mean) / std`` (population std, ``ddof = 0``); a
     constant criterion gives 0.
   - ``quintiles``: quintile score ``q`` in 1..5 from the *average* rank ``r`` (1 = lowest;
     tied values share the mean of their ranks, hence the same score) among the ``m`` values
     of the reference set: ``q = floor(5 (r − ½) / m) + 1``, computed in integers (``2r`` is
     an integer) so that it is deterministic; a value exactly on a boundary goes to the upper
     quintile. Ten distinct values score 1,1,2,2,3,3,4,4,5,5; a constant criterion scores 3.
     It is aggregated as ``n = (q − 1) / 4`` in [0, 1]. No winsorisation (ranks are robust).
   - ``rangs``: percentile rank ``n = (r − 1) / (m − 1)`` in [0, 1] from the average rank
     ``r`` (1 = lowest; ties share their mean rank, hence the same score); a single value or
     a constant criterion gives 0.5. No winsorisation.

3. **Weights.** Criterion ``i`` of dimension ``d`` has the effective weight
   ``w_i = W_d × c_i / Σ_{j ∈ d} c_j`` (``W_d``: dimension weight, ``c_i``: criterion weight,
   or the ``weights`` override when given — still normalised within the dimension). With
   default weights: equal by dimension, then equal within.
4. **Missing values.** A unit is scored on its available criteria ``A`` only, with their
   weights re-normalised to sum to 1: ``score = Σ_{i∈A} w_i n_i / Σ_{i∈A} w_i``.
   ``completeness = Σ_{i∈A} w_i / Σ_i w_i``; a unit with
   ``completeness < min_completeness`` is not ranked (« données insuffisantes »). Its
   ``score`` is still given, for information.
5. **Aggregation.** ``additive``: the weighted arithmetic mean above. ``geometric``: the
   weighted geometric mean ``score = exp(Σ_{i∈A} w_i ln g_i / Σ_{i∈A} w_i)`` of the scores
   shifted into [0.01, 1], ``g = 0.01 + 0.99 u``, where ``u`` is the [0, 1] score (``minmax``
   and ``quintiles``: ``u = n``; ``zscore``: ``u`` = min-max of the z-scores over the
   reference set, which equals the min-max of the winsorised values since ``z`` is affine in
   ``x``). The floor 0.01 keeps the logarithm finite for the least-in-need unit of a
   criterion. A low score on one criterion is then only partly compensated by the others.
6. **Output** (index = unit codes, order of ``values``): ``score`` (raw aggregate: [0, 1] for
   ``minmax``/``quintiles``, z-scale for ``zscore`` + ``additive``, [0.01, 1] for
   ``geometric``); ``score_100 = 100 (score − min) / (max − min)`` over ranked units (50 when
   they all have the same score; NaN for the others); ``rank`` (1 = most need; eligible and
   complete-enough units only; ties share the best rank, method « min »; scores closer than
   1e-10 × max(1, |score|max) are ties, so that rounding noise never breaks a tie);
   ``priority_class`` (1 = highest priority, see below); ``completeness``; ``eligible``;
   ``ranked``; ``reason`` (« » when ranked, else « seuil de taille non atteint », checked
   first, or « données insuffisantes »); ``n_<criterion>`` (normalised oriented score, NaN
   when missing: in [0, 1] for ``minmax``/``quintiles``, the z-score for ``zscore``);
   ``d_<dimension>`` (same aggregation as ``score`` on the dimension's available criteria).

Priority classes, among the ``N`` ranked units, with ``k = min(classes, number of distinct
scores)``: ``quantiles`` → ``class = floor(k (r − ½) / N) + 1`` with ``r`` the average rank
(1 = highest score; tied scores share a class; classes hold equal numbers of units up to
ties); ``jenks`` → Fisher-Jenks breaks of the scores (the project's exact implementation,
:func:`observatoire.breaks.jenks_bounds`, also used by the maps: the bounds of
``mapclassify.FisherJenks`` without its pure-Python slowness), class 1 being the
highest-scoring group.

:func:`sensitivity` re-runs the index under alternative criterion weights (the normalised
scores do not depend on the weights: they are computed once and each run is a matrix
product, of logarithms in the geometric case):

- one at a time: each criterion weight multiplied by ``1 − shift`` then ``1 + shift``;
- Monte Carlo: every criterion weight multiplied independently by a factor drawn uniformly in
  ``[1 − shift, 1 + shift]`` (``numpy.random.default_rng(seed)``: reproducible).

Criterion weights are normalised within their dimension, so the weight of a criterion alone
in its dimension has no effect, and dimension weights are never perturbed. The set of ranked
units may change between runs (completeness depends on the weights); comparisons are made on
units ranked in both runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from observatoire.breaks import jenks_bounds
from observatoire.errors import InputError

__all__ = [
    "AGGREGATIONS",
    "CLASS_METHODS",
    "NORMALISATIONS",
    "REASON_GATE",
    "REASON_INCOMPLETE",
    "CompositeIndexError",
    "Criterion",
    "IndexSpec",
    "Sensitivity",
    "composite_index",
    "sensitivity",
]

NORMALISATIONS: tuple[str, ...] = ("minmax", "zscore", "quintiles", "rangs")
AGGREGATIONS: tuple[str, ...] = ("additive", "geometric")
CLASS_METHODS: tuple[str, ...] = ("quantiles", "jenks")
REASON_GATE = "seuil de taille non atteint"
REASON_INCOMPLETE = "données insuffisantes"

GEOMETRIC_FLOOR = 0.01  # normalised scores are shifted into [GEOMETRIC_FLOOR, 1]
STABLE_TOP_SHARE = 0.9  # share of draws in the top for a unit to be "stable"
_QUINTILES = 5
_COMPLETENESS_TOLERANCE = 1e-9  # 3 × 0.2 must pass a threshold of 0.6
_TIE_TOLERANCE = 1e-10  # relative: scores closer than this are ties
_CHUNK_CELLS = 4_000_000  # units × draws scored at once by the Monte Carlo runs


class CompositeIndexError(InputError, ValueError):
    """Invalid index specification or input; the message is a French sentence."""


def _names(items) -> str:
    return ", ".join(f"« {item} »" for item in items)


def _positive(value: Any, what: str) -> float:
    """``value`` as a finite float > 0, or a French error naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise CompositeIndexError(f"{what} doit être un nombre strictement positif (« {value} »).")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise CompositeIndexError(f"{what} doit être un nombre strictement positif (« {value} »).")
    return number


# --------------------------------------------------------------------------- specification


@dataclass(frozen=True)
class Criterion:
    """One indicator of the index.

    ``direction`` is +1 when a higher value means more need, -1 when a lower value does;
    ``weight`` is the criterion's weight within its dimension."""

    id: str
    label: str
    dimension: str
    direction: int
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise CompositeIndexError(
                f"identifiant de critère invalide « {self.id} » : un texte non vide est attendu."
            )
        if not isinstance(self.dimension, str) or not self.dimension:
            raise CompositeIndexError(
                f"dimension invalide « {self.dimension} » pour le critère « {self.id} » : "
                "un texte non vide est attendu."
            )
        if isinstance(self.direction, bool) or self.direction not in (1, -1):
            raise CompositeIndexError(
                f"sens invalide « {self.direction} » pour le critère « {self.id} » : +1 (plus "
                "élevé = plus de besoin) ou -1 (plus faible = plus de besoin) attendu."
            )
        object.__setattr__(self, "direction", int(self.direction))
        object.__setattr__(
            self, "weight", _positive(self.weight, f"le poids du critère « {self.id} »")
        )


@dataclass(frozen=True)
class IndexSpec:
    """The criteria of a composite index and how to combine them (see the module docstring).

    Every criterion's dimension must have a weight in ``dimension_weights``; weights of
    dimensions without criteria are ignored. Validated on construction."""

    criteria: tuple[Criterion, ...]
    dimension_weights: Mapping[str, float] = field(hash=False)
    normalisation: str = "minmax"
    winsorise: tuple[float, float] | None = (0.05, 0.95)
    aggregation: str = "additive"
    min_completeness: float = 0.6
    classes: int = 5
    class_method: str = "quantiles"

    def __post_init__(self) -> None:
        criteria = tuple(self.criteria)
        if not criteria:
            raise CompositeIndexError("l'indice composite doit compter au moins un critère.")
        for criterion in criteria:
            if not isinstance(criterion, Criterion):
                raise CompositeIndexError(
                    f"critère invalide « {criterion!r} » : un objet Criterion est attendu."
                )
        ids = [c.id for c in criteria]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise CompositeIndexError(f"critère(s) en double dans l'indice : {_names(duplicates)}.")
        object.__setattr__(self, "criteria", criteria)

        if not isinstance(self.dimension_weights, Mapping):
            raise CompositeIndexError(
                "les poids des dimensions doivent être un dictionnaire dimension → poids."
            )
        missing = sorted({c.dimension for c in criteria} - set(self.dimension_weights))
        if missing:
            raise CompositeIndexError(f"dimension(s) sans poids : {_names(missing)}.")
        weights = {
            str(dim): _positive(w, f"le poids de la dimension « {dim} »")
            for dim, w in self.dimension_weights.items()
        }
        object.__setattr__(self, "dimension_weights", MappingProxyType(weights))

        for name, value, valid in (
            ("normalisation", self.normalisation, NORMALISATIONS),
            ("agrégation", self.aggregation, AGGREGATIONS),
            ("méthode de classes", self.class_method, CLASS_METHODS),
        ):
            if value not in valid:
                raise CompositeIndexError(
                    f"{name} inconnue « {value} » : valeurs possibles {_names(valid)}."
                )

        if self.winsorise is not None:
            try:
                low, high = (float(q) for q in self.winsorise)
            except (TypeError, ValueError):
                low = high = math.nan
            if not (0.0 <= low < high <= 1.0):
                raise CompositeIndexError(
                    f"quantiles d'écrêtement invalides « {self.winsorise} » : un couple "
                    "(bas, haut) avec 0 ≤ bas < haut ≤ 1 est attendu, ou None."
                )
            object.__setattr__(self, "winsorise", (low, high))

        completeness = self.min_completeness
        if (
            isinstance(completeness, bool)
            or not isinstance(completeness, int | float | np.integer | np.floating)
            or not 0.0 <= float(completeness) <= 1.0
        ):
            raise CompositeIndexError(
                f"complétude minimale invalide « {completeness} » : un nombre entre 0 et 1 "
                "est attendu."
            )
        if isinstance(self.classes, bool) or not isinstance(self.classes, int | np.integer):
            raise CompositeIndexError(
                f"nombre de classes invalide « {self.classes} » : un entier ≥ 1 est attendu."
            )
        if self.classes < 1:
            raise CompositeIndexError(
                f"nombre de classes invalide « {self.classes} » : un entier ≥ 1 est attendu."
            )

    @property
    def ids(self) -> tuple[str, ...]:
        """The criterion ids, in order."""
        return tuple(c.id for c in self.criteria)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The dimensions that have criteria, in order of first appearance."""
        return tuple(dict.fromkeys(c.dimension for c in self.criteria))


@dataclass(frozen=True, eq=False)
class Sensitivity:
    """Rank stability of a composite index under alternative weights (see :func:`sensitivity`)."""

    one_at_a_time: pd.DataFrame
    monte_carlo: pd.DataFrame
    summary: dict[str, Any]


# --------------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class _Prepared:
    """Everything of a run that does not depend on the weights."""

    index: pd.Index
    normalised: np.ndarray  # units × criteria, the n_ columns, NaN when missing
    terms: np.ndarray  # units × criteria, what is averaged (n or ln g), 0 where missing
    available: np.ndarray  # units × criteria, 1.0 where a value exists
    eligible: np.ndarray  # units, bool
    dim_of: np.ndarray  # criteria → position in spec.dimensions
    dim_weights: np.ndarray  # dimensions
    geometric: bool


def _prepare(values: pd.DataFrame, spec: IndexSpec, eligible: pd.Series | None) -> _Prepared:
    if not isinstance(spec, IndexSpec):
        raise CompositeIndexError("spécification d'indice invalide : un IndexSpec est attendu.")
    if not isinstance(values, pd.DataFrame):
        raise CompositeIndexError(
            "les valeurs doivent être un tableau (DataFrame) : une ligne par unité, "
            "une colonne par critère."
        )
    if values.index.has_duplicates:
        doubles = values.index[values.index.duplicated()].unique()[:5]
        raise CompositeIndexError(f"codes d'unité en double dans les valeurs : {_names(doubles)}.")
    ids = list(spec.ids)
    absent = [i for i in ids if i not in values.columns]
    if absent:
        raise CompositeIndexError(
            f"colonne(s) de critère absente(s) du tableau des valeurs : {_names(absent)}."
        )
    try:
        raw = values[ids].apply(pd.to_numeric).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise CompositeIndexError(
            f"valeurs non numériques dans les critères ({error}) : une valeur secrète ou "
            "manquante doit être NaN."
        ) from error
    if np.isinf(raw).any():
        bad = [ids[j] for j in np.flatnonzero(np.isinf(raw).any(axis=0))]
        raise CompositeIndexError(f"valeur infinie dans le(s) critère(s) {_names(bad)}.")

    oriented = raw * np.array([c.direction for c in spec.criteria], dtype=float)
    normalised = np.full_like(oriented, np.nan)
    unit = np.full_like(oriented, np.nan)
    for j in range(oriented.shape[1]):
        normalised[:, j], unit[:, j] = _normalise(oriented[:, j], spec)

    available = ~np.isnan(normalised)
    geometric = spec.aggregation == "geometric"
    if geometric:
        terms = np.log(GEOMETRIC_FLOOR + (1.0 - GEOMETRIC_FLOOR) * unit)
    else:
        terms = normalised.copy()
    # 0 is only the neutral element of the weighted sums: the weights of missing criteria are
    # left out of the denominators, a missing value never counts as a 0 score
    terms[~available] = 0.0

    dims = spec.dimensions
    return _Prepared(
        index=values.index,
        normalised=normalised,
        terms=terms,
        available=available.astype(float),
        eligible=_eligibility(values.index, eligible),
        dim_of=np.array([dims.index(c.dimension) for c in spec.criteria]),
        dim_weights=np.array([spec.dimension_weights[d] for d in dims], dtype=float),
        geometric=geometric,
    )


def _eligibility(index: pd.Index, eligible: pd.Series | None) -> np.ndarray:
    if eligible is None:
        return np.ones(len(index), dtype=bool)
    if not isinstance(eligible, pd.Series):
        raise CompositeIndexError(
            "l'éligibilité doit être une série booléenne indexée par les codes d'unité."
        )
    if eligible.index.has_duplicates:
        raise CompositeIndexError("codes d'unité en double dans la série d'éligibilité.")
    aligned = eligible.reindex(index)
    if aligned.isna().any():
        lacking = index[aligned.isna().to_numpy()]
        raise CompositeIndexError(
            f"{len(lacking)} unité(s) sans indication d'éligibilité (par exemple "
            f"{_names(lacking[:5])})."
        )
    if not pd.api.types.is_bool_dtype(aligned) and not aligned.isin([True, False]).all():
        raise CompositeIndexError("l'éligibilité doit être booléenne (True / False).")
    return aligned.astype(bool).to_numpy()


def _normalise(x: np.ndarray, spec: IndexSpec) -> tuple[np.ndarray, np.ndarray]:
    """The normalised scores of one oriented criterion, and their [0, 1] version.

    The reference set is every non-missing value of ``x``."""
    normalised = np.full_like(x, np.nan)
    present = ~np.isnan(x)
    ref = x[present]
    if ref.size == 0:
        return normalised, normalised.copy()
    if spec.normalisation == "quintiles":
        twice_rank = _twice_average_ranks(ref)  # ascending: 1 = lowest value
        quintile = (_QUINTILES * (twice_rank - 1)) // (2 * ref.size) + 1
        normalised[present] = (quintile - 1) / (_QUINTILES - 1)
        return normalised, normalised.copy()
    if spec.normalisation == "rangs":
        twice_rank = _twice_average_ranks(ref)
        normalised[present] = 0.5 if ref.size == 1 else (twice_rank - 2) / (2.0 * (ref.size - 1))
        return normalised, normalised.copy()
    if spec.winsorise is not None:
        low, high = np.quantile(ref, spec.winsorise)
        ref = np.clip(ref, low, high)
    constant = ref.max() == ref.min()
    unit = normalised.copy()
    unit[present] = 0.5 if constant else (ref - ref.min()) / (ref.max() - ref.min())
    if spec.normalisation == "minmax":
        return unit, unit.copy()
    normalised[present] = 0.0 if constant else (ref - ref.mean()) / ref.std()
    return normalised, unit


# --------------------------------------------------------------------------- ranks


def _tie_groups(values: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order (descending), and for each unit the first and last 0-based position of its tie
    group (values chained by gaps ≤ ``tolerance`` are tied)."""
    order = np.argsort(-values, kind="stable")
    ordered = values[order]
    new_group = np.ones(values.size, dtype=bool)
    new_group[1:] = (ordered[:-1] - ordered[1:]) > tolerance
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], values.size) - 1
    first = np.empty(values.size, dtype=np.int64)
    last = np.empty(values.size, dtype=np.int64)
    first[order] = starts[group]
    last[order] = ends[group]
    return order, first, last


def _twice_average_ranks(values: np.ndarray) -> np.ndarray:
    """2 × the average rank of each value, ascending (1 = lowest), exact ties: integers."""
    _, first, last = _tie_groups(-values, 0.0)
    return first + last + 2


def _score_tolerance(scores: np.ndarray) -> float:
    return _TIE_TOLERANCE * max(1.0, float(np.abs(scores).max())) if scores.size else 0.0


def _desc_ranks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of finite scores, 1 = highest: « min » ranks (int) and 2 × average ranks."""
    if scores.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    _, first, last = _tie_groups(scores, _score_tolerance(scores))
    return first + 1, first + last + 2


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation (Pearson on average ranks); NaN below 2 units or when constant."""
    if a.size < 2:
        return math.nan
    ra = _desc_ranks(a)[1].astype(float)
    rb = _desc_ranks(b)[1].astype(float)
    ra -= ra.mean()
    rb -= rb.mean()
    norm = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / norm if norm > 0 else math.nan


def _priority_classes(scores: np.ndarray, classes: int, method: str) -> np.ndarray:
    """Class of each ranked score, 1 = highest scores."""
    n = scores.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    min_rank, twice_rank = _desc_ranks(scores)
    distinct = np.unique(min_rank).size
    k = min(int(classes), distinct)
    if method == "quantiles" or k == 1:
        return (k * (twice_rank - 1)) // (2 * n) + 1
    bins = jenks_bounds(scores, k)
    position = np.minimum(np.searchsorted(bins, scores, side="left"), bins.size - 1)
    return bins.size - position


# --------------------------------------------------------------------------- scoring


def _criterion_weights(spec: IndexSpec, weights: Mapping[str, float] | None) -> np.ndarray:
    base = {c.id: c.weight for c in spec.criteria}
    if weights is not None:
        if not isinstance(weights, Mapping):
            raise CompositeIndexError(
                "les poids de remplacement doivent être un dictionnaire critère → poids."
            )
        unknown = sorted(set(weights) - set(base), key=str)
        if unknown:
            raise CompositeIndexError(
                f"poids donnés pour des critères absents de l'indice : {_names(unknown)}."
            )
        for key, value in weights.items():
            base[key] = _positive(value, f"le poids du critère « {key} »")
    return np.array([base[i] for i in spec.ids], dtype=float)


def _effective_weights(prepared: _Prepared, criterion_weights: np.ndarray) -> np.ndarray:
    """Effective weights (runs × criteria) from criterion weights (runs × criteria)."""
    membership = np.zeros((prepared.dim_of.size, prepared.dim_weights.size))
    membership[np.arange(prepared.dim_of.size), prepared.dim_of] = 1.0
    per_dimension = criterion_weights @ membership
    return (
        prepared.dim_weights[prepared.dim_of]
        * criterion_weights
        / per_dimension[:, prepared.dim_of]
    )


def _aggregate(
    terms: np.ndarray, available: np.ndarray, weights: np.ndarray, geometric: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (units × runs) and available weight (units × runs) for weights (runs × crit.)."""
    numerator = terms @ weights.T
    denominator = available @ weights.T
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(denominator > 0, numerator / denominator, np.nan)
    return (np.exp(mean) if geometric else mean), denominator


def _runs(
    prepared: _Prepared, spec: IndexSpec, criterion_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, completeness and ranked flags (units × runs) for criterion weights (runs × c)."""
    weights = _effective_weights(prepared, criterion_weights)
    scores, weight = _aggregate(prepared.terms, prepared.available, weights, prepared.geometric)
    completeness = weight / weights.sum(axis=1)[None, :]
    ranked = (
        prepared.eligible[:, None]
        & (completeness >= spec.min_completeness - _COMPLETENESS_TOLERANCE)
        & np.isfinite(scores)
    )
    return scores, completeness, ranked


def _ranks_of(scores: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """« min » ranks (float, NaN when not ranked) of one run."""
    ranks = np.full(scores.size, np.nan)
    ranks[ranked] = _desc_ranks(scores[ranked])[0]
    return ranks


def composite_index(
    values: pd.DataFrame,
    spec: IndexSpec,
    eligible: pd.Series | None = None,
    *,
    weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The composite need index of the units of ``values`` (see the module docstring).

    ``values``: index = unit codes, one float column per criterion id (other columns are
    ignored; NaN = missing or secret). ``eligible``: boolean series on the same codes (size
    gates), None = all eligible. ``weights``: criterion id → weight, replacing the criterion
    weights of ``spec`` (still normalised within each dimension).

    Returns one row per unit, in the order of ``values``: ``score``, ``score_100``, ``rank``,
    ``priority_class``, ``completeness``, ``eligible``, ``ranked``, ``reason``, then
    ``n_<criterion>`` and ``d_<dimension>``. Raises :class:`CompositeIndexError` (a
    ``ValueError``) with a French message on invalid input."""
    prepared = _prepare(values, spec, eligible)
    criterion_weights = _criterion_weights(spec, weights)
    scores, completeness, ranked = _runs(prepared, spec, criterion_weights[None, :])
    score, completeness, ranked = scores[:, 0], completeness[:, 0], ranked[:, 0]

    n_units = len(prepared.index)
    rank = pd.array([pd.NA] * n_units, dtype="Int64")
    priority = pd.array([pd.NA] * n_units, dtype="Int64")
    score_100 = np.full(n_units, np.nan)
    if ranked.any():
        kept = score[ranked]
        rank[ranked] = _desc_ranks(kept)[0]
        priority[ranked] = _priority_classes(kept, spec.classes, spec.class_method)
        low, high = kept.min(), kept.max()
        spread = high - low
        score_100[ranked] = (
            50.0 if spread <= _score_tolerance(kept) else 100.0 * (kept - low) / spread
        )
    reason = np.where(
        ranked, "", np.where(prepared.eligible, REASON_INCOMPLETE, REASON_GATE)
    ).astype(object)

    out = pd.DataFrame(
        {
            "score": score,
            "score_100": score_100,
            "rank": rank,
            "priority_class": priority,
            "completeness": completeness,
            "eligible": prepared.eligible,
            "ranked": ranked,
            "reason": reason,
        },
        index=prepared.index,
    )
    for j, criterion in enumerate(spec.criteria):
        out[f"n_{criterion.id}"] = prepared.normalised[:, j]
    effective = _effective_weights(prepared, criterion_weights[None, :])[0]
    for d, dimension in enumerate(spec.dimensions):
        members = prepared.dim_of == d
        dim_score, _ = _aggregate(
            prepared.terms[:, members],
            prepared.available[:, members],
            effective[None, members],
            prepared.geometric,
        )
        out[f"d_{dimension}"] = dim_score[:, 0]
    return out


# --------------------------------------------------------------------------- sensitivity


def _compare(
    base_scores: np.ndarray,
    base_ranks: np.ndarray,
    base_top: np.ndarray,
    scores: np.ndarray,
    ranks: np.ndarray,
    top: int,
) -> tuple[float, int | None, float]:
    """Spearman, largest rank change and top overlap of one run against the base run."""
    both = ~np.isnan(base_ranks) & ~np.isnan(ranks)
    rho = _spearman(base_scores[both], scores[both])
    shift = int(np.abs(ranks[both] - base_ranks[both]).max()) if both.any() else None
    if base_top.sum() == 0:
        overlap = math.nan
    else:
        overlap = float((base_top & (ranks <= top)).sum() / base_top.sum())
    return rho, shift, overlap


def sensitivity(
    values: pd.DataFrame,
    spec: IndexSpec,
    eligible: pd.Series | None = None,
    *,
    shift: float = 0.2,
    draws: int = 1000,
    seed: int = 0,
    top: int = 10,
) -> Sensitivity:
    """Rank stability of :func:`composite_index` under alternative criterion weights.

    ``one_at_a_time``: one row per criterion and change (``-shift``, ``+shift``: its weight
    multiplied by ``1 + change``) with ``spearman`` (rank correlation of the scores with the
    base run, over units ranked in both), ``max_rank_shift`` (largest absolute rank change),
    ``top_overlap`` (share of the base top ``top`` — units ranked ``top`` or better — still
    ranked ``top`` or better).

    ``monte_carlo``: indexed by the units ranked in the base run, in base rank order:
    ``rank_base``, ``rank_median``, ``rank_p05``, ``rank_p95`` (over the draws where the unit
    is ranked), ``share_in_top`` (share of draws where its rank is ``top`` or better). Each
    draw multiplies every criterion weight by an independent factor uniform in
    ``[1 − shift, 1 + shift]`` (``numpy.random.default_rng(seed)``).

    ``summary``: ``draws``, ``shift``, ``top``, ``mean_spearman`` and ``min_spearman`` (over
    the draws), ``stable_top`` (codes in the top in at least 90 % of the draws, in base rank
    order)."""
    if isinstance(shift, bool) or not isinstance(shift, int | float | np.integer | np.floating):
        raise CompositeIndexError(f"variation de poids invalide « {shift} » : 0 < variation < 1.")
    if not 0.0 < float(shift) < 1.0:
        raise CompositeIndexError(f"variation de poids invalide « {shift} » : 0 < variation < 1.")
    for name, number in (("nombre de tirages", draws), ("taille du groupe de tête", top)):
        if isinstance(number, bool) or not isinstance(number, int | np.integer) or number < 1:
            raise CompositeIndexError(f"{name} invalide « {number} » : un entier ≥ 1 est attendu.")
    shift, draws, top = float(shift), int(draws), int(top)

    prepared = _prepare(values, spec, eligible)
    base_weights = _criterion_weights(spec, None)
    n_criteria = base_weights.size
    scores, _, ranked = _runs(prepared, spec, base_weights[None, :])
    base_scores, base_ranked = scores[:, 0], ranked[:, 0]
    base_ranks = _ranks_of(base_scores, base_ranked)
    base_top = base_ranks <= top

    # one at a time
    changes = (-shift, shift)
    alternatives = np.repeat(base_weights[None, :], 2 * n_criteria, axis=0)
    for j in range(n_criteria):
        for c, change in enumerate(changes):
            alternatives[2 * j + c, j] *= 1.0 + change
    scores, _, ranked = _runs(prepared, spec, alternatives)
    rows = []
    for r in range(alternatives.shape[0]):
        ranks = _ranks_of(scores[:, r], ranked[:, r])
        rho, moved, overlap = _compare(base_scores, base_ranks, base_top, scores[:, r], ranks, top)
        rows.append((spec.ids[r // 2], changes[r % 2], rho, moved, overlap))
    one_at_a_time = pd.DataFrame(
        rows, columns=["criterion", "change", "spearman", "max_rank_shift", "top_overlap"]
    ).astype({"max_rank_shift": "Int64"})

    # Monte Carlo, by chunks of draws to bound memory
    rng = np.random.default_rng(seed)
    factors = rng.uniform(1.0 - shift, 1.0 + shift, size=(draws, n_criteria))
    kept = np.flatnonzero(base_ranked)
    kept = kept[np.argsort(base_ranks[kept], kind="stable")]
    draw_ranks = np.full((kept.size, draws), np.nan, dtype=np.float32)
    rhos = np.full(draws, np.nan)
    chunk = max(1, _CHUNK_CELLS // max(1, len(prepared.index)))
    for start in range(0, draws, chunk):
        stop = min(draws, start + chunk)
        scores, _, ranked = _runs(prepared, spec, base_weights[None, :] * factors[start:stop])
        for r in range(stop - start):
            ranks = _ranks_of(scores[:, r], ranked[:, r])
            both = base_ranked & ranked[:, r]
            rhos[start + r] = _spearman(base_scores[both], scores[both, r])
            draw_ranks[:, start + r] = ranks[kept]
    with warnings.catch_warnings():  # a unit ranked in no draw: NaN, without a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        if kept.size:
            low, median, high = np.nanpercentile(draw_ranks, [5, 50, 95], axis=1)
        else:  # nothing ranked: an empty table, not an error
            low = median = high = np.empty(0)
    monte_carlo = pd.DataFrame(
        {
            "rank_base": pd.array(base_ranks[kept].astype(np.int64), dtype="Int64"),
            "rank_median": median.astype(float),
            "rank_p05": low.astype(float),
            "rank_p95": high.astype(float),
            "share_in_top": (draw_ranks <= top).mean(axis=1).astype(float),
        },
        index=prepared.index[kept],
    )
    stable = monte_carlo.index[monte_carlo["share_in_top"] >= STABLE_TOP_SHARE - 1e-12]
    finite = rhos[~np.isnan(rhos)]
    summary = {
        "draws": draws,
        "shift": shift,
        "top": top,
        "mean_spearman": float(finite.mean()) if finite.size else math.nan,
        "min_spearman": float(finite.min()) if finite.size else math.nan,
        "stable_top": list(stable),
    }
    return Sensitivity(one_at_a_time=one_at_a_time, monte_carlo=monte_carlo, summary=summary)
