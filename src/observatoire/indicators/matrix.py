"""Vectorised evaluation of a plan: communes × cells → territories × indicator-periods.

The chosen facts are scattered into dense commune × cell matrices (value, secret, uncertain);
each indicator-period's components (value, numerator, denominator, stocks, flow, threshold)
are sums of signed cells per commune; a commune counts for a territory only when every cell of
every component is known and none is secret. Official levels are partitions of the communes
(sum by sorted segments); custom territories are summed from their member indices. The
kinds' formulas then run on whole territory × indicator-period matrices, and the result is
handed to DuckDB as an Arrow table with integer keys (joined to small dimension tables
there), which keeps a national build to a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from observatoire.indicators.catalogue import Indicator

COMPONENTS = ("v", "d", "s0", "s1", "f", "t")
STATUS_CODES = ("ok", "secret", "incomplete", "non_additive", "missing")
OK, SECRET, INCOMPLETE, NON_ADDITIVE, MISSING = range(5)
# Worst-first order used by derived indicators: missing > secret > non_additive > incomplete.
_SEVERITY = np.array([0, 3, 1, 2, 4])  # by status code: ok 0, incomplete 1, non_add 2, …


@dataclass
class Grid:
    """Territories (rows) and indicator-periods (columns) of a computation."""

    territories: pd.DataFrame  # territory_id, level (row order)
    columns: pd.DataFrame  # indicator_id, period_key, kind, measure, scale, years, threshold…


@dataclass
class Result:
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    status: np.ndarray  # int8 codes of STATUS_CODES
    members: np.ndarray  # int32 (per territory)
    with_value: np.ndarray  # int32 (territory × column)
    present: np.ndarray  # bool: some member has data (others are not written)


def _commune_index(con: duckdb.DuckDBPyConnection, members: pd.DataFrame) -> pd.Index:
    codes = pd.Index(sorted(set(members["code"])))
    return codes


def load_cells(
    con: duckdb.DuckDBPyConnection, cells: pd.DataFrame, communes: pd.Index
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense matrices (communes × cells): value (NaN unless known), secret (bool) and int8
    flags: 2 = uncertain COG recoding (split, incomplete merger), 4 = the source has a row
    for the cell (a known, secret or unknown value)."""
    n, m = len(communes), len(cells)
    values = np.full((n, m), np.nan)
    secret = np.zeros((n, m), dtype=bool)
    uncertain = np.zeros((n, m), dtype=np.int8)
    if m == 0:
        return values, secret, uncertain
    con.register("_cells_df", cells[["variable", "period", "cell"]])
    con.register("_communes_df", pd.DataFrame({"code": communes, "row": np.arange(n)}))
    try:
        got = con.execute(
            """
            SELECT c.row, k.cell, f.value, coalesce(f.secret, false) AS secret,
                   coalesce(f.cog_status IN ('incomplete', 'split', 'scission'), false) AS unc
            FROM facts f
            JOIN _cells_df k ON k.variable = f.variable AND k.period = f.period
            JOIN _communes_df c ON c.code = f.code
            """
        ).fetchnumpy()
    finally:
        con.unregister("_cells_df")
        con.unregister("_communes_df")
    rows = np.asarray(got["row"], dtype=np.int64)
    cols = np.asarray(got["cell"], dtype=np.int64)
    # fetchnumpy gives masked arrays where there are NULLs: a NULL is unknown, never 0.
    vals = np.ma.filled(np.ma.asarray(got["value"]).astype(float), np.nan)
    sec = np.ma.filled(np.ma.asarray(got["secret"]).astype(bool), False)
    values[rows, cols] = np.where(sec, np.nan, vals)
    secret[rows, cols] = sec
    unc = np.ma.filled(np.ma.asarray(got["unc"]).astype(bool), False)
    uncertain[rows, cols] = np.where(unc, 2, 0) + 4
    return values, secret, uncertain


def commune_components(
    plan: pd.DataFrame,
    columns: pd.DataFrame,
    values: np.ndarray,
    secret: np.ndarray,
    uncertain: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Per commune and column: component sums, ok, secret, uncertain."""
    n, k = values.shape[0], len(columns)
    comps = {c: np.full((n, k), np.nan) for c in COMPONENTS}
    known = np.ones((n, k), dtype=bool)
    any_secret = np.zeros((n, k), dtype=bool)
    any_unc = np.zeros((n, k), dtype=bool)
    exists = np.zeros((n, k), dtype=bool)
    present = np.zeros((n, k), dtype=bool)
    for (col, component), group in plan.groupby(["column", "component"], sort=False):
        cells = group["cell"].to_numpy()
        signs = group["sign"].to_numpy(dtype=float)
        block = values[:, cells]
        comps[component][:, col] = block @ signs if len(cells) > 1 else block[:, 0] * signs[0]
        known[:, col] &= ~np.isnan(block).any(axis=1)
        any_secret[:, col] |= secret[:, cells].any(axis=1)
        flags = uncertain[:, cells]
        any_unc[:, col] |= ((flags & 2) > 0).any(axis=1)
        exists[:, col] |= ((flags & 4) > 0).any(axis=1)
        present[:, col] = True
    ok = known & ~any_secret & present
    return comps, ok, any_secret, any_unc, exists


@dataclass
class Membership:
    """How territories (rows of the grid) are made of communes (rows of the matrices)."""

    order: np.ndarray  # commune rows sorted by segment (for official partitions)
    segments: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (territory rows, starts, take)
    custom: list[tuple[int, np.ndarray]]  # (territory row, commune rows)
    n_members: np.ndarray


def membership(territories: pd.DataFrame, members: pd.DataFrame, communes: pd.Index) -> Membership:
    """Group member rows by territory; official levels (one territory per commune) are
    summed by contiguous segments, custom and overlapping ones one by one."""
    rows = pd.Series(np.arange(len(territories)), index=pd.MultiIndex.from_frame(territories))
    members = members.assign(
        trow=rows.reindex(pd.MultiIndex.from_frame(members[["territory_id", "level"]])).to_numpy(),
        crow=communes.get_indexer(members["code"]),
    )
    members = members[members["crow"] >= 0]
    n_members = np.zeros(len(territories), dtype=np.int32)
    counts = members.groupby("trow").size()
    n_members[counts.index.to_numpy(dtype=int)] = counts.to_numpy()
    segments, custom = [], []
    for level, group in members.groupby("level", sort=False):
        partition = not group["crow"].duplicated().any()
        if partition and level != "custom":
            group = group.sort_values("trow", kind="stable")
            trows = group["trow"].to_numpy(dtype=int)
            starts = np.flatnonzero(np.r_[True, trows[1:] != trows[:-1]])
            segments.append((trows[starts], starts, group["crow"].to_numpy(dtype=int)))
        else:
            for trow, sub in group.groupby("trow"):
                custom.append((int(trow), sub["crow"].to_numpy(dtype=int)))
    return Membership(np.arange(len(communes)), segments, custom, n_members)


def aggregate(matrix: np.ndarray, ms: Membership, n_territories: int) -> np.ndarray:
    """Σ over member communes for every territory (rows) and column."""
    out = np.zeros((n_territories, matrix.shape[1]), dtype=float)
    for trows, starts, take in ms.segments:
        out[trows] = np.add.reduceat(matrix[take], starts, axis=0)
    for trow, crows in ms.custom:
        out[trow] = matrix[crows].sum(axis=0)
    return out


def evaluate(
    columns: pd.DataFrame,
    comps: dict[str, np.ndarray],
    ok: np.ndarray,
    secret: np.ndarray,
    uncertain: np.ndarray,
    exists: np.ndarray,
    ms: Membership,
    n_territories: int,
    is_commune_level: np.ndarray,
) -> Result:
    """Sums over members, statuses and the kinds' formulas, for every territory × column."""
    sums = {c: aggregate(np.where(ok, comps[c], 0.0), ms, n_territories) for c in COMPONENTS}
    n_ok = aggregate(ok.astype(float), ms, n_territories)
    n_secret = aggregate(secret.astype(float), ms, n_territories)
    n_unc = aggregate((ok & uncertain).astype(float), ms, n_territories)
    n_members = ms.n_members.astype(float)[:, None]
    status = np.where(
        n_ok == 0,
        np.where(n_secret > 0, SECRET, MISSING),
        np.where((n_ok == n_members) & (n_unc == 0), OK, INCOMPLETE),
    ).astype(np.int8)
    kind = columns["kind"].to_numpy()[None, :]
    measure = columns["measure"].to_numpy()[None, :]
    scale = columns["scale"].to_numpy(dtype=float)[None, :]
    years = columns["years"].to_numpy(dtype=float)[None, :]
    threshold = columns["threshold_min"].to_numpy(dtype=float)[None, :]
    v, d, s0, s1, f, t = (sums[c] for c in COMPONENTS)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d != 0, v / d * scale, np.nan)
        rate = np.where((s0 > 0) & (s1 >= 0), (np.power(s1 / s0, 1.0 / years) - 1.0) * 100, np.nan)
        log_mean = np.where((s0 > 0) & (s1 > 0) & (s0 != s1), (s1 - s0) / np.log(s1 / s0), s0)
        person_years = log_mean * years
        flow_rate = np.where(person_years > 0, f / person_years * scale, np.nan)
    is_count = np.isin(kind, ("count", "non_additive"))
    growth = kind == "growth"
    value = np.select(
        [is_count, kind == "ratio", growth & (measure == "rate"), growth & (measure == "change")],
        [v, ratio, rate, s1 - s0],
        default=flow_rate,
    )
    numerator = np.select(
        [is_count | (kind == "ratio"), growth & (measure == "flow_rate"), growth],
        [v, f, s1],
        np.nan,
    )
    denominator = np.select(
        [kind == "ratio", growth & (measure == "flow_rate"), growth], [d, person_years, s0], np.nan
    )
    below = ~np.isnan(threshold) & (np.nan_to_num(t) < threshold) & (status != MISSING)
    status = np.where(below, SECRET, status).astype(np.int8)
    non_additive = (kind == "non_additive") & ~is_commune_level[:, None]
    status = np.where(non_additive, NON_ADDITIVE, status).astype(np.int8)
    # A partial sum is an under-count: totals of incomplete territories are withheld, while
    # rates of the covered members are kept (status ``incomplete``, with the coverage).
    total = is_count | (growth & (measure == "change"))
    hide = ~np.isin(status, (OK, INCOMPLETE)) | (total & (status == INCOMPLETE))
    # A ratio with a zero denominator (0/0 shares) has no value: never "ok" without one.
    undefined = ~hide & ~np.isfinite(value) & ~total
    status = np.where(undefined, MISSING, status).astype(np.int8)
    hide |= undefined
    value = np.where(hide | ~np.isfinite(value), np.nan, value)
    numerator = np.where(hide | non_additive, np.nan, numerator)
    denominator = np.where(hide | non_additive, np.nan, denominator)
    with_value = np.where(non_additive, 0, n_ok).astype(np.int32)
    present = aggregate(exists.astype(float), ms, n_territories) > 0
    return Result(value, numerator, denominator, status, ms.n_members, with_value, present)


def worst_status(statuses: list[np.ndarray]) -> np.ndarray:
    """The most severe status of several (missing > secret > non_additive > incomplete > ok)."""
    severity = np.max([_SEVERITY[s] for s in statuses], axis=0)
    back = np.argsort(_SEVERITY)  # severity → status code
    return back[severity].astype(np.int8)


def derived_columns(
    indicators: list[Indicator],
    columns: pd.DataFrame,
    result: Result,
) -> tuple[pd.DataFrame, Result]:
    """Append the columns of derived indicators, evaluated on their inputs' values.

    Expressions were validated on load (indicator ids, numbers, + - * / and parentheses):
    they are evaluated on NumPy arrays with no builtins available."""
    position = {(r.indicator_id, r.period_key): i for i, r in enumerate(columns.itertuples())}
    new_rows, values, statuses, with_values = [], [], [], []
    for ind in indicators:
        periods = None
        for dep in ind.inputs:
            have = {p for (i, p) in position if i == dep}
            periods = have if periods is None else periods & have
        for period in sorted(periods or ()):
            cols = {dep: position[(dep, period)] for dep in ind.inputs}
            env = {dep: result.value[:, c] for dep, c in cols.items()}
            with np.errstate(divide="ignore", invalid="ignore"):
                value = eval(compile(ind.expression, ind.id, "eval"), {"__builtins__": {}}, env)
            status = worst_status([result.status[:, c] for c in cols.values()])
            value = np.where(np.isin(status, (OK, INCOMPLETE)) & np.isfinite(value), value, np.nan)
            first = columns.iloc[next(iter(cols.values()))]
            new_rows.append(
                {
                    **{k: first[k] for k in columns.columns},
                    "indicator_id": ind.id,
                    "kind": "derived",
                    "source": " ; ".join(
                        sorted(
                            {
                                s
                                for c in cols.values()
                                for s in str(columns.iloc[c]["source"]).split(" ; ")
                                if s
                            }
                        )
                    ),
                    "origin": "simulated"
                    if any(columns.iloc[c]["origin"] == "simulated" for c in cols.values())
                    else "real",
                    "flags": next(
                        (
                            columns.iloc[c]["flags"]
                            for c in cols.values()
                            if columns.iloc[c]["flags"]
                        ),
                        "",
                    ),
                }
            )
            values.append(value)
            statuses.append(status)
            with_values.append(np.min([result.with_value[:, c] for c in cols.values()], axis=0))
            position[(ind.id, period)] = len(columns) + len(new_rows) - 1
            # make the new column visible to later derived indicators
            result = Result(
                np.column_stack([result.value, value]),
                np.column_stack([result.numerator, np.full(len(value), np.nan)]),
                np.column_stack([result.denominator, np.full(len(value), np.nan)]),
                np.column_stack([result.status, status]).astype(np.int8),
                result.members,
                np.column_stack([result.with_value, with_values[-1]]),
                np.column_stack(
                    [result.present, np.all([result.present[:, c] for c in cols.values()], axis=0)]
                ),
            )
            columns = pd.concat([columns, pd.DataFrame([new_rows[-1]])], ignore_index=True)
            new_rows.clear()
    return columns, result


def _nullable(values: np.ndarray) -> pa.Array:
    """NaN → NULL (SQL semantics: an unknown value is NULL, never NaN nor 0)."""
    return pa.array(values, mask=np.isnan(values))


def to_arrow(grid: Grid, result: Result, keep_columns: np.ndarray | None = None) -> pa.Table:
    """Long Arrow table with integer keys: trow, col, value, numerator, denominator, status,
    members, members_with_value — only where some member has data (a territory none of whose
    communes is covered by a source gets no row for it, rather than millions of « missing »)."""
    n, k = result.value.shape
    cols = np.arange(k) if keep_columns is None else keep_columns
    keep = result.present[:, cols].ravel()
    trow = np.repeat(np.arange(n, dtype=np.int32), len(cols))[keep]
    col = np.tile(cols.astype(np.int32), n)[keep]
    return pa.table(
        {
            "trow": trow,
            "col": col,
            "value": _nullable(np.round(result.value[:, cols], 6).ravel()[keep]),
            "numerator": _nullable(result.numerator[:, cols].ravel()[keep]),
            "denominator": _nullable(result.denominator[:, cols].ravel()[keep]),
            "status": result.status[:, cols].ravel()[keep],
            "members": np.repeat(result.members.astype(np.int32), len(cols))[keep],
            "members_with_value": result.with_value[:, cols].ravel()[keep],
        }
    )
