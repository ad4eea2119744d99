"""Composite need index (OECD/JRC method, methods.md §2.6): normalisation, weights, missing
values, gates, classes and the sensitivity runs. Expected values are computed here,
independently of the module."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observatoire.analyses.composite import (
    AGGREGATIONS,
    NORMALISATIONS,
    REASON_GATE,
    REASON_INCOMPLETE,
    CompositeIndexError,
    Criterion,
    IndexSpec,
    composite_index,
    sensitivity,
)

COMBINATIONS = [(n, a) for n in NORMALISATIONS for a in AGGREGATIONS]
DIMENSIONS = ("bati", "occupants", "marche", "dynamique")


def codes(n: int) -> list[str]:
    return [f"62{i:03d}" for i in range(n)]


def frame(columns: dict[str, list[float]]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=codes(n), dtype=float)


def spec_of(*criteria: Criterion, **options) -> IndexSpec:
    dims = dict.fromkeys(c.dimension for c in criteria)
    weights = options.pop("dimension_weights", {d: 1.0 for d in dims})
    return IndexSpec(criteria=tuple(criteria), dimension_weights=weights, **options)


def crit(cid: str, dimension: str = "bati", direction: int = 1, weight: float = 1.0):
    return Criterion(cid, f"critère {cid}", dimension, direction, weight)


# --------------------------------------------------------------------------- dominance


@st.composite
def dominance_cases(draw):
    n_criteria = draw(st.integers(1, 6))
    n_units = draw(st.integers(3, 25))
    dims = [draw(st.sampled_from(DIMENSIONS)) for _ in range(n_criteria)]
    directions = [draw(st.sampled_from([1, -1])) for _ in range(n_criteria)]
    positive = st.floats(0.05, 20.0, allow_nan=False, allow_infinity=False)
    criterion_weights = [draw(positive) for _ in range(n_criteria)]
    dimension_weights = {d: draw(positive) for d in dict.fromkeys(dims)}
    override = draw(st.none() | st.lists(positive, min_size=n_criteria, max_size=n_criteria))
    cells = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    data = np.array(
        draw(
            st.lists(
                st.lists(cells, min_size=n_criteria, max_size=n_criteria),
                min_size=n_units,
                max_size=n_units,
            )
        ),
        dtype=float,
    ).reshape(n_units, n_criteria)
    winsorise = draw(st.sampled_from([None, (0.05, 0.95), (0.1, 0.9)]))
    positions = draw(st.permutations(range(n_units + 2)))
    return (
        dims,
        directions,
        criterion_weights,
        dimension_weights,
        override,
        data,
        winsorise,
        (positions),
    )


def build_dominance(case, normalisation: str, aggregation: str):
    dims, directions, cw, dw, override, data, winsorise, positions = case
    n_units, n_criteria = data.shape
    worst = np.where(np.array(directions) > 0, data.max(axis=0) + 1.0, data.min(axis=0) - 1.0)
    best = np.where(np.array(directions) > 0, data.min(axis=0) - 1.0, data.max(axis=0) + 1.0)
    positions = np.asarray(positions)  # row i of the stacked data goes to positions[i]
    rows = np.empty((n_units + 2, n_criteria))
    rows[positions] = np.vstack([data, worst, best])
    ids = [f"c{j}" for j in range(n_criteria)]
    values = pd.DataFrame(rows, index=codes(n_units + 2), columns=ids)
    worst_code, best_code = values.index[positions[n_units]], values.index[positions[n_units + 1]]
    criteria = tuple(crit(ids[j], dims[j], directions[j], cw[j]) for j in range(n_criteria))
    spec = IndexSpec(
        criteria=criteria,
        dimension_weights=dw,
        normalisation=normalisation,
        aggregation=aggregation,
        winsorise=winsorise,
    )
    weights = None if override is None else dict(zip(ids, override, strict=True))
    return values, spec, weights, worst_code, best_code


@pytest.mark.parametrize(("normalisation", "aggregation"), COMBINATIONS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=dominance_cases())
def test_worst_unit_ranks_first_and_best_last_whatever_the_weights(
    normalisation, aggregation, case
):
    values, spec, weights, worst, best = build_dominance(case, normalisation, aggregation)
    # the worst and best units are known independently of the code: built from the data
    assert (
        values.loc[worst]
        .mul([c.direction for c in spec.criteria])
        .ge(values.mul([c.direction for c in spec.criteria]).max())
        .all()
    )
    out = composite_index(values, spec, weights=weights)
    assert out["ranked"].all()
    assert out.loc[worst, "rank"] == 1
    assert out.loc[worst, "priority_class"] == 1
    assert out.loc[best, "rank"] == out["rank"].max()
    assert out.loc[best, "score"] <= out["score"].min() + 1e-9
    assert out.loc[worst, "score_100"] == pytest.approx(100.0)


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_reversing_direction_equals_negating_the_column(normalisation, aggregation):
    rng = np.random.default_rng(3)
    values = pd.DataFrame(rng.normal(size=(40, 3)), index=codes(40), columns=["a", "b", "c"])
    values.iloc[[2, 7], 1] = np.nan
    common = {"normalisation": normalisation, "aggregation": aggregation}
    reversed_spec = spec_of(crit("a"), crit("b", "occupants", -1), crit("c", "marche"), **common)
    plain_spec = spec_of(crit("a"), crit("b", "occupants", 1), crit("c", "marche"), **common)
    negated = values.assign(b=-values["b"])
    left = composite_index(values, reversed_spec)
    right = composite_index(negated, plain_spec)
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-12, atol=1e-12)
    # and the direction matters: without reversing, the order changes
    assert not composite_index(values, plain_spec)["rank"].equals(left["rank"])


@pytest.mark.parametrize("winsorise", [None, (0.05, 0.95), (0.1, 0.8)])
@pytest.mark.parametrize("direction", [1, -1])
def test_minmax_matches_an_independent_computation(winsorise, direction):
    rng = np.random.default_rng(11)
    raw = rng.lognormal(3.0, 1.0, size=60)
    raw[[4, 9, 33]] = np.nan
    values = frame({"x": raw.tolist()})
    spec = spec_of(crit("x", direction=direction), winsorise=winsorise)
    out = composite_index(values, spec)

    oriented = direction * raw
    present = ~np.isnan(oriented)
    clipped = oriented.copy()
    if winsorise is not None:
        low = np.quantile(oriented[present], winsorise[0])
        high = np.quantile(oriented[present], winsorise[1])
        clipped[present] = np.minimum(np.maximum(oriented[present], low), high)
    lo, hi = np.nanmin(clipped), np.nanmax(clipped)
    expected = (clipped - lo) / (hi - lo)
    np.testing.assert_allclose(out["n_x"].to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert out["n_x"].isna().tolist() == (~present).tolist()
    # one criterion, additive: the score is the normalised value
    np.testing.assert_allclose(out["score"].to_numpy(), expected, rtol=1e-12, atol=1e-12)


def test_constant_criterion_gives_the_middle_score():
    values = frame({"x": [4.0] * 6, "y": [1.0, 2, 3, 4, 5, 6]})
    for normalisation, expected in (("minmax", 0.5), ("zscore", 0.0), ("quintiles", 0.5)):
        spec = spec_of(crit("x"), crit("y"), normalisation=normalisation)
        out = composite_index(values, spec)
        assert (out["n_x"] == expected).all()


def test_zscore_uses_population_std_after_winsorising():
    rng = np.random.default_rng(5)
    raw = rng.normal(10, 3, size=50)
    values = frame({"x": raw.tolist()})
    out = composite_index(values, spec_of(crit("x"), normalisation="zscore"))
    low, high = np.quantile(raw, [0.05, 0.95])
    clipped = np.clip(raw, low, high)
    expected = (clipped - clipped.mean()) / np.sqrt(((clipped - clipped.mean()) ** 2).mean())
    np.testing.assert_allclose(out["n_x"].to_numpy(), expected, rtol=1e-10)


def test_quintile_scores_of_ten_distinct_values():
    rng = np.random.default_rng(2)
    raw = rng.permutation(np.arange(10.0) * 3.7 - 5)
    values = frame({"x": raw.tolist()})
    out = composite_index(values, spec_of(crit("x"), normalisation="quintiles"))
    quintile = out["n_x"] * 4 + 1
    by_value = quintile.to_numpy()[np.argsort(raw)]
    assert by_value.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # reversed direction: the lowest values are in the top quintile
    out = composite_index(values, spec_of(crit("x", direction=-1), normalisation="quintiles"))
    assert (out["n_x"] * 4 + 1).to_numpy()[np.argsort(raw)].tolist() == [
        5, 5, 4, 4, 3, 3, 2, 2, 1, 1,
    ]  # fmt: skip


def test_quintile_ties_share_a_score_and_scores_are_balanced():
    raw = [1.0, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    values = frame({"x": raw})
    out = composite_index(values, spec_of(crit("x"), normalisation="quintiles"))
    quintile = (out["n_x"] * 4 + 1).round().astype(int).to_numpy()
    assert len(set(quintile[:6])) == 1  # ties share one quintile
    assert (np.diff(quintile) >= 0).all()  # non-decreasing in the value
    assert set(quintile) <= {1, 2, 3, 4, 5}
    # documented convention: q = floor(5 (r − ½) / m) + 1 with r the average rank
    rank = pd.Series(raw).rank(method="average").to_numpy()
    expected = np.floor(5 * (rank - 0.5) / len(raw)) + 1
    assert quintile.tolist() == expected.astype(int).tolist()
    # a single value (or a constant criterion) sits in the middle quintile
    lonely = frame({"x": [np.nan, 4.0, np.nan], "y": [1.0, 2.0, 3.0]})
    spec = spec_of(crit("x"), crit("y"), normalisation="quintiles", min_completeness=0.0)
    assert composite_index(lonely, spec)["n_x"].tolist()[1] == 0.5
    distinct = frame({"x": list(range(20))})
    q = composite_index(distinct, spec_of(crit("x"), normalisation="quintiles"))["n_x"]
    assert (q * 4 + 1).round().value_counts().tolist() == [4] * 5


# --------------------------------------------------------------------------- weights


def test_effective_weights_equal_by_dimension_then_within():
    # a unit at 1 on a single criterion scores that criterion's effective weight share
    values = frame(
        {
            "a": [1.0, 0, 0, 0],
            "b": [0.0, 1, 0, 0],
            "c": [0.0, 0, 1, 0],
        }
    )
    spec = spec_of(
        crit("a", "bati"),
        crit("b", "bati", weight=3.0),
        crit("c", "occupants"),
        dimension_weights={"bati": 2.0, "occupants": 1.0},
        winsorise=None,
    )
    out = composite_index(values, spec)
    total = 3.0
    assert out["score"].tolist() == pytest.approx([0.5 / total, 1.5 / total, 1.0 / total, 0.0])
    # override: criterion weights replaced, still normalised within the dimension
    out = composite_index(values, spec, weights={"a": 1.0, "b": 1.0, "c": 5.0})
    assert out["score"].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0])
    assert out["d_bati"].tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0])


# --------------------------------------------------------------------------- missing values


def missing_setup():
    values = frame(
        {
            "a": [10.0, 20, 30, 40, 50, 25],
            "b": [5.0, np.nan, 1, 2, 3, 4],
            "c": [0.0, 7, np.nan, 3, 1, 2],
        }
    )
    spec = spec_of(
        crit("a", "bati"),
        crit("b", "bati", weight=3.0),
        crit("c", "occupants", direction=-1),
        dimension_weights={"bati": 2.0, "occupants": 1.0},
        winsorise=None,
        min_completeness=0.4,
    )
    return values, spec


def test_missing_criterion_is_scored_on_the_others_with_renormalised_weights():
    values, spec = missing_setup()
    out = composite_index(values, spec)
    # hand computation: effective weights a = 2 × 1/4, b = 2 × 3/4, c = 1
    wa, wb, wc = 0.5, 1.5, 1.0
    na = (values["a"] - 10) / 40
    nb = (values["b"] - 1) / 4
    nc = (7 - values["c"]) / 7  # direction -1
    unit_b = values.index[1]  # b missing
    expected = (wa * na[unit_b] + wc * nc[unit_b]) / (wa + wc)
    assert out.loc[unit_b, "score"] == pytest.approx(expected)
    assert out.loc[unit_b, "completeness"] == pytest.approx((wa + wc) / 3.0)
    unit_c = values.index[2]  # c missing
    expected = (wa * na[unit_c] + wb * nb[unit_c]) / (wa + wb)
    assert out.loc[unit_c, "score"] == pytest.approx(expected)
    assert out.loc[unit_c, "completeness"] == pytest.approx(2.0 / 3.0)
    assert np.isnan(out.loc[unit_b, "n_b"]) and np.isnan(out.loc[unit_c, "n_c"])
    full = values.index[0]
    assert out.loc[full, "score"] == pytest.approx(
        (wa * na[full] + wb * nb[full] + wc * nc[full]) / 3.0
    )
    assert out["ranked"].all()


def test_below_min_completeness_is_not_ranked_with_the_french_reason():
    values, spec = missing_setup()
    strict = dataclasses.replace(spec, min_completeness=0.6)
    out = composite_index(values, strict)
    unit_b, unit_c = values.index[1], values.index[2]  # completeness 0.5 and 2/3
    assert not out.loc[unit_b, "ranked"]
    assert out.loc[unit_b, "reason"] == "données insuffisantes" == REASON_INCOMPLETE
    assert pd.isna(out.loc[unit_b, "rank"]) and pd.isna(out.loc[unit_b, "priority_class"])
    assert pd.isna(out.loc[unit_b, "score_100"])
    assert out.loc[unit_c, "ranked"] and out.loc[unit_c, "reason"] == ""
    assert sorted(out["rank"].dropna().tolist()) == list(range(1, 6))


def test_no_data_at_all_is_not_ranked():
    values = frame({"a": [1.0, 2, np.nan], "b": [3.0, 1, np.nan]})
    out = composite_index(values, spec_of(crit("a"), crit("b"), min_completeness=0.0))
    last = values.index[2]
    assert np.isnan(out.loc[last, "score"]) and out.loc[last, "completeness"] == 0
    assert out.loc[last, "reason"] == REASON_INCOMPLETE


@pytest.mark.parametrize(("normalisation", "aggregation"), COMBINATIONS)
def test_a_missing_value_is_never_treated_as_zero(normalisation, aggregation):
    # "u" is in the worst position on "a" and its "b" is missing; the other units' b lie in
    # [10, 20] (direction +1) and their c in [10, 20] (direction -1: low = need).
    values = frame(
        {
            "a": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 100],
            "b": [10.0, 11, 12, 13, 14, 15, 16, 18, 20, np.nan],
            "c": [10.0, 11, 12, 13, 14, 15, 16, 18, 20, np.nan],
        }
    )
    spec = spec_of(
        crit("a"),
        crit("b"),
        crit("c", direction=-1),
        normalisation=normalisation,
        aggregation=aggregation,
        winsorise=None,
        min_completeness=0.3,
    )
    out = composite_index(values, spec)
    u = values.index[-1]
    assert np.isnan(out.loc[u, "n_b"]) and np.isnan(out.loc[u, "n_c"])
    # the score of "u" is its score on "a" alone (weights re-normalised)
    single = composite_index(values[["a"]], spec_of(crit("a"), **_options(spec)))
    assert out.loc[u, "score"] == pytest.approx(single.loc[u, "score"])
    assert out.loc[u, "completeness"] == pytest.approx(1 / 3)
    # filled with 0, "b" would be the minimum of the reference set (least need) and lower
    # the score of "u"; "c" would be the minimum, i.e. the most need (direction -1)
    filled = composite_index(values.fillna(0.0), spec)
    assert filled.loc[u, "score"] != pytest.approx(out.loc[u, "score"])
    # the reference set excludes the missing value: the other units' scores are unchanged
    # by its presence or absence
    others = values.index[:-1]
    alone = composite_index(values.loc[others], spec)
    pd.testing.assert_series_equal(out.loc[others, "n_b"], alone["n_b"])
    pd.testing.assert_series_equal(out.loc[others, "n_c"], alone["n_c"])
    if normalisation == "minmax":
        assert out.loc[others, "n_b"].tolist() == pytest.approx(
            ((values.loc[others, "b"] - 10) / 10).tolist()
        )


def _options(spec: IndexSpec) -> dict:
    return {
        "normalisation": spec.normalisation,
        "aggregation": spec.aggregation,
        "winsorise": spec.winsorise,
    }


# --------------------------------------------------------------------------- gates


def test_ineligible_units_are_scored_not_ranked_and_stay_in_the_reference_set():
    raw = [0.0, 10, 20, 30, 40, 100]
    values = frame({"x": raw})
    eligible = pd.Series([True, True, True, True, True, False], index=values.index)
    spec = spec_of(crit("x"), winsorise=None)
    out = composite_index(values, spec, eligible)
    small = values.index[-1]
    assert not out.loc[small, "ranked"] and not out.loc[small, "eligible"]
    assert out.loc[small, "reason"] == "seuil de taille non atteint" == REASON_GATE
    assert pd.isna(out.loc[small, "rank"]) and pd.isna(out.loc[small, "priority_class"])
    assert out.loc[small, "n_x"] == 1.0  # still normalised
    # the ineligible unit's 100 is the maximum of the reference set
    assert out["n_x"].tolist() == pytest.approx([v / 100 for v in raw])
    assert out.loc[values.index[:-1], "rank"].tolist() == [5, 4, 3, 2, 1]
    # score_100 is rescaled over ranked units only
    assert out.loc[values.index[:-1], "score_100"].tolist() == pytest.approx([0, 25, 50, 75, 100])
    # the gate reason comes first when a unit is both small and incomplete
    values.loc[small, "x"] = np.nan
    out = composite_index(values, spec, eligible)
    assert out.loc[small, "reason"] == REASON_GATE


def test_eligibility_must_cover_every_unit():
    values = frame({"x": [1.0, 2, 3]})
    partial = pd.Series([True, False], index=values.index[:2])
    with pytest.raises(ValueError, match="éligibilité"):
        composite_index(values, spec_of(crit("x")), partial)


def test_ties_share_the_min_rank():
    values = frame({"x": [3.0, 5, 5, 1]})
    out = composite_index(values, spec_of(crit("x"), winsorise=None))
    assert out["rank"].tolist() == [3, 1, 1, 4]


# --------------------------------------------------------------------------- classes


def test_quantile_classes_one_is_the_highest_scores():
    values = frame({"x": [float(v) for v in np.random.default_rng(4).permutation(10)]})
    out = composite_index(values, spec_of(crit("x"), winsorise=None))
    by_score = out.sort_values("score", ascending=False)["priority_class"].tolist()
    assert by_score == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_fewer_ranked_units_than_classes():
    values = frame({"x": [1.0, 7.0, 4.0]})
    out = composite_index(values, spec_of(crit("x"), classes=5, winsorise=None))
    assert out["priority_class"].tolist() == [3, 1, 2]
    one = composite_index(frame({"x": [2.0]}), spec_of(crit("x")))
    assert one["priority_class"].tolist() == [1] and one["rank"].tolist() == [1]
    assert one["score_100"].tolist() == [50.0]
    for method in ("quantiles", "jenks"):
        same = composite_index(
            frame({"x": [2.0, 2.0, 2.0]}), spec_of(crit("x"), class_method=method)
        )
        assert same["priority_class"].tolist() == [1, 1, 1]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_jenks_classes_follow_fisher_jenks_breaks():
    raw = [0.0, 0.5, 1.0, 20.0, 21.0, 22.5, 60.0, 61.0, 90.0, 91.0, 92.0]
    values = frame({"x": raw})
    spec = spec_of(crit("x"), classes=3, class_method="jenks", winsorise=None)
    out = composite_index(values, spec)
    scores = out["score"].to_numpy()
    import mapclassify  # slow import: only here

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = mapclassify.FisherJenks(scores, k=3)
    expected = 3 - np.asarray(reference.yb)  # mapclassify: 0 = lowest class
    assert out["priority_class"].tolist() == expected.tolist()
    assert out["priority_class"].tolist()[-3:] == [1, 1, 1]


# --------------------------------------------------------------------------- sensitivity


def sensitivity_setup(n: int = 120, seed: int = 8):
    rng = np.random.default_rng(seed)
    ids = [f"c{j}" for j in range(6)]
    values = pd.DataFrame(rng.normal(size=(n, 6)), index=codes(n), columns=ids)
    values = values.mask(rng.random((n, 6)) < 0.05)
    criteria = [crit(ids[j], DIMENSIONS[j % 3], 1 if j % 2 else -1) for j in range(6)]
    eligible = pd.Series(rng.random(n) > 0.1, index=values.index)
    return values, spec_of(*criteria), eligible


def test_sensitivity_is_reproducible_with_the_same_seed():
    values, spec, eligible = sensitivity_setup()
    first = sensitivity(values, spec, eligible, draws=200, seed=42)
    second = sensitivity(values, spec, eligible, draws=200, seed=42)
    pd.testing.assert_frame_equal(first.monte_carlo, second.monte_carlo)
    pd.testing.assert_frame_equal(first.one_at_a_time, second.one_at_a_time)
    assert first.summary == second.summary


def test_sensitivity_tables_are_consistent_with_composite_index():
    values, spec, eligible = sensitivity_setup()
    result = sensitivity(values, spec, eligible, shift=0.3, draws=150, seed=1, top=10)
    base = composite_index(values, spec, eligible)
    ranked = base[base["ranked"]].sort_values("rank", kind="stable")
    assert result.monte_carlo.index.tolist() == ranked.index.tolist()
    assert result.monte_carlo["rank_base"].tolist() == ranked["rank"].tolist()
    mc = result.monte_carlo
    assert ((mc["rank_p05"] <= mc["rank_median"]) & (mc["rank_median"] <= mc["rank_p95"])).all()
    assert mc["share_in_top"].between(0, 1).all()
    assert set(result.summary) >= {"draws", "shift", "top", "mean_spearman", "stable_top"}
    assert result.summary["draws"] == 150 and result.summary["top"] == 10
    stable = result.summary["stable_top"]
    assert stable == [c for c in ranked.index if mc.loc[c, "share_in_top"] >= 0.9]

    table = result.one_at_a_time
    assert len(table) == 2 * len(spec.criteria)
    assert table["criterion"].tolist() == [c.id for c in spec.criteria for _ in range(2)]
    assert table["change"].tolist() == pytest.approx([-0.3, 0.3] * len(spec.criteria))
    # each row equals a re-run of composite_index with that weight changed
    for row in table.itertuples():
        original = next(c.weight for c in spec.criteria if c.id == row.criterion)
        alt = composite_index(
            values, spec, eligible, weights={row.criterion: original * (1 + row.change)}
        )
        both = base["ranked"] & alt["ranked"]
        rho = base.loc[both, "score"].rank().corr(alt.loc[both, "score"].rank())
        assert row.spearman == pytest.approx(rho)
        moved = (base.loc[both, "rank"] - alt.loc[both, "rank"]).abs().max()
        assert row.max_rank_shift == moved
        top = set(base.index[base["rank"].fillna(10**9) <= 10])
        still = top & set(alt.index[alt["rank"].fillna(10**9) <= 10])
        assert row.top_overlap == pytest.approx(len(still) / len(top))


def test_sensitivity_with_one_criterion_never_moves():
    values = frame({"x": np.random.default_rng(6).normal(size=50).tolist()})
    result = sensitivity(values, spec_of(crit("x")), draws=100, seed=3, top=5)
    assert result.summary["mean_spearman"] == pytest.approx(1.0)
    mc = result.monte_carlo
    assert set(mc["share_in_top"]) <= {0.0, 1.0}
    assert (mc["rank_p05"] == mc["rank_base"].astype(float)).all()
    assert (mc["rank_p95"] == mc["rank_base"].astype(float)).all()
    assert mc.loc[mc["rank_base"] <= 5, "share_in_top"].eq(1.0).all()
    table = result.one_at_a_time
    assert len(table) == 2
    assert table["spearman"].tolist() == pytest.approx([1.0, 1.0])
    assert table["max_rank_shift"].tolist() == [0, 0]
    assert table["top_overlap"].tolist() == [1.0, 1.0]


def test_sensitivity_sees_weight_dependent_leaders():
    # two criteria of one dimension: "p" leads on a, "q" on b, everyone else far behind
    rng = np.random.default_rng(9)
    a = rng.uniform(0, 1, 30)
    b = rng.uniform(0, 1, 30)
    a[:2], b[:2] = [10.0, 9.0], [9.0, 10.0]
    values = frame({"a": a.tolist(), "b": b.tolist()})
    spec = spec_of(crit("a"), crit("b"), winsorise=None)
    result = sensitivity(values, spec, draws=400, seed=0, top=1)
    p, q = values.index[:2]
    share = result.monte_carlo["share_in_top"]
    assert 0.2 < share[p] < 0.8 and 0.2 < share[q] < 0.8
    assert share.drop([p, q]).eq(0).all()
    assert result.summary["stable_top"] == []
    wide = sensitivity(values, spec, draws=400, seed=0, top=2)
    assert set(wide.summary["stable_top"]) == {p, q}
    assert wide.summary["stable_top"] == wide.monte_carlo.index[:2].tolist()  # base rank order


# --------------------------------------------------------------------------- validation


def test_validation_errors_are_value_errors_in_french():
    with pytest.raises(ValueError, match="normalisation inconnue"):
        spec_of(crit("a"), normalisation="logistique")
    with pytest.raises(ValueError, match="agrégation inconnue"):
        spec_of(crit("a"), aggregation="harmonique")
    with pytest.raises(ValueError, match="méthode de classes inconnue"):
        spec_of(crit("a"), class_method="kmeans")
    with pytest.raises(ValueError, match="dimension\\(s\\) sans poids : « occupants »"):
        IndexSpec(criteria=(crit("a"), crit("b", "occupants")), dimension_weights={"bati": 1})
    with pytest.raises(ValueError, match="strictement positif"):
        spec_of(crit("a"), dimension_weights={"bati": 0.0})
    with pytest.raises(ValueError, match="strictement positif"):
        crit("a", weight=-1.0)
    with pytest.raises(ValueError, match="en double"):
        spec_of(crit("a"), crit("a", "occupants"))
    with pytest.raises(ValueError, match="sens invalide"):
        crit("a", direction=2)
    with pytest.raises(ValueError, match="au moins un critère"):
        IndexSpec(criteria=(), dimension_weights={})
    with pytest.raises(ValueError, match="écrêtement"):
        spec_of(crit("a"), winsorise=(0.9, 0.1))
    with pytest.raises(ValueError, match="complétude minimale"):
        spec_of(crit("a"), min_completeness=1.5)
    with pytest.raises(ValueError, match="nombre de classes"):
        spec_of(crit("a"), classes=0)

    values = frame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    spec = spec_of(crit("a"), crit("b"))
    with pytest.raises(ValueError, match="absente\\(s\\) du tableau des valeurs : « z »"):
        composite_index(values, spec_of(crit("a"), crit("z")))
    with pytest.raises(ValueError, match="absents de l'indice"):
        composite_index(values, spec, weights={"nope": 1.0})
    with pytest.raises(ValueError, match="strictement positif"):
        composite_index(values, spec, weights={"a": 0.0})
    with pytest.raises(ValueError, match="non numériques"):
        composite_index(values.assign(a=["s", "1"]), spec)
    with pytest.raises(ValueError, match="en double"):
        composite_index(pd.concat([values, values]), spec)
    with pytest.raises(ValueError, match="variation de poids"):
        sensitivity(values, spec, shift=1.5)
    with pytest.raises(ValueError, match="nombre de tirages"):
        sensitivity(values, spec, draws=0)
    # a ValueError that is also the project's user-facing error type
    from observatoire.errors import InputError

    with pytest.raises(InputError):
        spec_of(crit("a"), normalisation="logistique")
    assert issubclass(CompositeIndexError, ValueError)


def test_sensitivity_with_no_ranked_unit_gives_empty_tables() -> None:
    values = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=["x", "y", "z"])
    spec = IndexSpec(
        criteria=(Criterion("a", "A", "d", 1),), dimension_weights={"d": 1.0}, classes=2
    )
    eligible = pd.Series(False, index=values.index)
    result = sensitivity(values, spec, eligible, draws=20, top=2)
    assert result.monte_carlo.empty and result.summary["stable_top"] == []
    assert not composite_index(values, spec, eligible)["ranked"].any()


def test_percentile_rank_normalisation():
    values = pd.DataFrame({"a": [10.0, 20.0, 20.0, 40.0, np.nan]}, index=list("pqrst"))
    out = composite_index(values, spec_of(crit("a"), normalisation="rangs"))
    # average ranks 1, 2.5, 2.5, 4 among 4 values → (r − 1) / 3; missing stays missing
    assert out["n_a"].iloc[:4].tolist() == pytest.approx([0.0, 0.5, 0.5, 1.0])
    assert np.isnan(out.loc["t", "n_a"])
    single = composite_index(values.iloc[:1], spec_of(crit("a"), normalisation="rangs"))
    assert single["n_a"].iloc[0] == 0.5
