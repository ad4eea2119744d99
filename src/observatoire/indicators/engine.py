"""Indicator engine: catalogue + communal facts + territories → the indicator table.

How a figure is made (see :mod:`observatoire.indicators.catalogue` for the kinds):

1. :func:`plan` resolves, for every indicator, the periods the loaded data allow and, for each
   period, the exact (variable, period) cells of each component (value, numerator,
   denominator, stock at t0 / t1, flow, threshold) — choosing the first alternative whose
   variables exist.
2. One SQL pass sums each component per commune, then per territory over its member
   communes (``territory_members``), counting members that are secret, missing or uncertain
   (split / incomplete COG recoding).
3. The kind's formula is applied to the sums (ratio of sums, exact-year growth…); derived
   indicators are evaluated on the results; non-additive ones take the source's own figure
   for the territory's level or get status ``non_additive``.

Status of a value: ``ok``; ``secret`` (the source does not publish it, or below the
indicator's threshold); ``incomplete`` (some member communes are secret, missing, or their
COG recoding is uncertain): a rate or ratio is then given for the other members when they
are at least 95 % of them (``members`` and ``members_with_value`` say how many), a total
(count, absolute change) is withheld — a partial sum would be an under-count;
``non_additive``; ``missing`` (no member has data).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from observatoire.indicators import matrix
from observatoire.indicators.catalogue import Expression, Indicator, IndicatorCatalogue, Term
from observatoire.indicators.facts import FactSources, build_facts, dataset_label, published_levels

INDICATOR_COLUMNS = [
    "territory_id",
    "territory_label",
    "level",
    "indicator_id",
    "period",
    "value",
    "unit",
    "numerator",
    "denominator",
    "status",
    "source",
    "cog_vintage",
    "members",
    "members_with_value",
    "flags",
    "origin",
]
CLOSE_VINTAGES_FLAG = "millesimes_rapproches"
MIN_CENSUS_GAP = 5


@dataclass
class PlanRow:
    indicator_id: str
    period_key: str
    component: str  # v, d, s0, s1, f, t
    variable: str
    period: str
    sign: int
    n_terms: int


@dataclass
class Plan:
    rows: list[PlanRow] = field(default_factory=list)
    years: dict[tuple[str, str], int] = field(default_factory=dict)  # growth n by (id, key)
    sources: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [r.__dict__ for r in self.rows],
            columns=[
                "indicator_id",
                "period_key",
                "component",
                "variable",
                "period",
                "sign",
                "n_terms",
            ],
        )


def _span(period: str) -> tuple[int, int] | None:
    if "-" in period:
        a, b = period.split("-", 1)
        if a.isdigit() and b.isdigit():
            return int(a), int(b)
    return None


class _Availability:
    """Which (variable, period) cells the chosen editions hold, and from which edition."""

    def __init__(self, editions: pd.DataFrame) -> None:
        self.by_var: dict[str, dict[str, tuple[str, str]]] = {}
        for row in editions.itertuples(index=False):
            self.by_var.setdefault(row.variable, {})[str(row.period)] = (
                row.dataset,
                str(row.vintage),
            )

    def years(self, variable: str) -> set[str]:
        return {p for p in self.by_var.get(variable, {}) if p.isdigit()}

    def latest(self, variable: str) -> str | None:
        periods = sorted(self.by_var.get(variable, {}))
        return periods[-1] if periods else None

    def has(self, variable: str, period: str) -> bool:
        return period in self.by_var.get(variable, {})

    def edition(self, variable: str, period: str) -> tuple[str, str]:
        return self.by_var[variable][period]

    def spans(self, variable: str) -> set[str]:
        return {p for p in self.by_var.get(variable, {}) if _span(p)}


def _resolve(expr: Expression, period: str, avail: _Availability) -> list[tuple[Term, str]] | None:
    """Cells of an expression at a year/span, or None when one is missing."""
    cells = []
    for term in expr:
        if term.timing == "none":
            at = avail.latest(term.generic)
        else:
            at = period if avail.has(term.generic, period) else None
        if at is None:
            return None
        cells.append((term, at))
    return cells


def _first(exprs: Iterable[Expression], period: str, avail: _Availability):
    for expr in exprs:
        cells = _resolve(expr, period, avail)
        if cells is not None:
            return cells
    return None


def _candidate_periods(exprs: Iterable[Expression], avail: _Availability) -> set[str]:
    found: set[str] = set()
    for expr in exprs:
        timed = [t for t in expr if t.timing != "none"]
        if not timed:
            continue
        getter = avail.years if timed[0].timing == "year" else avail.spans
        periods = set.intersection(*(getter(t.generic) for t in timed))
        found |= periods
    return found


def _add(plan: Plan, ind: Indicator, key: str, component: str, cells, avail: _Availability) -> None:
    for term, at in cells:
        plan.rows.append(PlanRow(ind.id, key, component, term.generic, at, term.sign, len(cells)))
        plan.sources.setdefault((ind.id, key), set()).add(avail.edition(term.generic, at))


def _growth_pairs(ind: Indicator, avail: _Availability) -> list[tuple[str, str]]:
    """Consecutive census years of the stock within each edition that holds them."""
    by_edition: dict[tuple[str, str], set[str]] = {}
    for year in _candidate_periods(ind.stock, avail):
        cells = _first(ind.stock, year, avail)
        if cells is None:
            continue
        # Pairs within one vintage (the thematic base and the historical series of the same
        # census vintage form one series: 1968 … 1999, 2010, 2015, 2021).
        vintage = max(avail.edition(t.generic, at)[1] for t, at in cells)
        by_edition.setdefault(("", vintage), set()).add(year)
    pairs = set()
    for years in by_edition.values():
        ordered = sorted(years, key=int)
        pairs |= set(itertools.pairwise(ordered))
    return sorted(pairs, key=lambda p: (int(p[0]), int(p[1])))


def _flow_span(ind: Indicator, t0: str, t1: str, avail: _Availability):
    """The flow cells whose period starts at t0 and ends at t1 (or the year before)."""
    for expr in ind.flow:
        for span in sorted(_candidate_periods([expr], avail)):
            start, end = _span(span)  # type: ignore[misc]
            if start == int(t0) and end in (int(t1), int(t1) - 1):
                cells = _resolve(expr, span, avail)
                if cells is not None:
                    return cells
    return None


def plan(
    catalogue: IndicatorCatalogue, indicators: Iterable[Indicator], editions: pd.DataFrame
) -> Plan:
    """Resolve the cells every indicator reads, period by period."""
    avail = _Availability(editions)
    out = Plan()
    for ind in indicators:
        if ind.kind in ("count", "non_additive"):
            for period in sorted(_candidate_periods(ind.value, avail)):
                cells = _first(ind.value, period, avail)
                if cells:
                    _add(out, ind, period, "v", cells, avail)
                    _threshold(out, ind, period, avail)
        elif ind.kind == "ratio":
            for period in sorted(_candidate_periods(ind.numerator, avail)):
                num = _first(ind.numerator, period, avail)
                den = _first(ind.denominator, period, avail)
                if num and den:
                    _add(out, ind, period, "v", num, avail)
                    _add(out, ind, period, "d", den, avail)
                    _threshold(out, ind, period, avail)
        elif ind.kind == "growth":
            for t0, t1 in _growth_pairs(ind, avail):
                key = f"{t0}-{t1}"
                s0 = _first(ind.stock, t0, avail)
                s1 = _first(ind.stock, t1, avail)
                flow = _flow_span(ind, t0, t1, avail) if ind.flow else None
                if not (s0 and s1) or (ind.measure == "flow_rate" and flow is None):
                    continue
                _add(out, ind, key, "s0", s0, avail)
                _add(out, ind, key, "s1", s1, avail)
                if flow:
                    _add(out, ind, key, "f", flow, avail)
                out.years[(ind.id, key)] = int(t1) - int(t0)
    return out


def _threshold(out: Plan, ind: Indicator, period: str, avail: _Availability) -> None:
    if ind.threshold is None:
        return
    term, _ = ind.threshold
    cells = _resolve((term,), period, avail)
    if cells:
        _add(out, ind, period, "t", cells, avail)


# --------------------------------------------------------------------------- evaluation


@dataclass
class Territories:
    """Territories to compute: ids, levels, labels, and their member communes."""

    frame: pd.DataFrame  # territory_id, level, territory_label
    members: pd.DataFrame  # territory_id, level, code


def _register(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    con.register(f"{name}_df", frame)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_df")
    finally:
        con.unregister(f"{name}_df")


def _indicator_table(indicators: list[Indicator]) -> pd.DataFrame:
    rows = []
    for ind in indicators:
        na_variable = ind.value[0][0].generic if ind.kind == "non_additive" else None
        rows.append(
            {
                "indicator_id": ind.id,
                "kind": ind.kind,
                "measure": ind.measure,
                "scale": ind.scale,
                "unit": ind.unit,
                "threshold_min": ind.threshold[1] if ind.threshold else None,
                "na_variable": na_variable,
                "na_levels": list(ind.levels),
            }
        )
    frame = pd.DataFrame(rows)
    frame["threshold_min"] = frame["threshold_min"].astype("float64")
    return frame


def _periods_table(
    the_plan: Plan,
    origins: dict[tuple[str, str], str],
    edition_flags: dict[tuple[str, str], str] | None = None,
) -> pd.DataFrame:
    rows = []
    edition_flags = edition_flags or {}
    for (ind_id, key), editions in the_plan.sources.items():
        labels = sorted({dataset_label(ds, vt) for ds, vt in editions})
        simulated = any(origins.get(e) == "simulated" for e in editions)
        flags = sorted({edition_flags[e] for e in editions if e in edition_flags})
        rows.append(
            {
                "indicator_id": ind_id,
                "period_key": key,
                "years": float(the_plan.years.get((ind_id, key), 0)),
                "source": " ; ".join(labels),
                "origin": "simulated" if simulated else "real",
                "edition_flags": ",".join(flags),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["indicator_id", "period_key", "years", "source", "origin", "edition_flags"],
    )


def _columns_table(
    base: list[Indicator],
    the_plan: Plan,
    origins: dict[tuple[str, str], str],
    edition_flags: dict[tuple[str, str], str] | None = None,
) -> pd.DataFrame:
    """One row per indicator-period to compute, with what its formula needs; ``flags`` joins
    the engine's (close census vintages) and the editions' (DVF incomplete semester)."""
    periods = _periods_table(the_plan, origins, edition_flags)
    if periods.empty:
        return periods.drop(columns="edition_flags").assign(
            kind=[], measure=[], scale=[], threshold_min=[], flags=[]
        )
    info = _indicator_table(base)
    columns = periods.merge(info, on="indicator_id", how="inner")
    close = (columns["kind"] == "growth") & (columns["years"] < MIN_CENSUS_GAP)
    engine_flags = np.where(close, CLOSE_VINTAGES_FLAG, "")
    columns["flags"] = [
        ",".join(f for f in (a, b) if f)
        for a, b in zip(engine_flags, columns["edition_flags"], strict=True)
    ]
    return columns.drop(columns="edition_flags").reset_index(drop=True)


@dataclass
class Computed:
    """A computation: long cells with integer keys and their two dimension tables."""

    cells: pa.Table  # trow, col, value, numerator, denominator, status (code), …
    columns: pd.DataFrame  # col, indicator_id, period, source, origin, flags, unit
    territories: pd.DataFrame  # trow, territory_id, level, territory_label, members


# The indicator table (architecture.md contract) over the stored cells and dimensions.
VALUES_SELECT = """
SELECT t.territory_id, t.territory_label, t.level, c.indicator_id, c.period, v.value,
       c.unit, v.numerator, v.denominator,
       ['ok', 'secret', 'incomplete', 'non_additive', 'missing'][v.status + 1] AS status,
       c.source, {cog} AS cog_vintage, t.members, v.members_with_value, c.flags, c.origin
FROM {cells} v
JOIN {columns} c USING (col)
JOIN {territories} t USING (trow)
"""


def compute_into(
    con: duckdb.DuckDBPyConnection,
    catalogue: IndicatorCatalogue,
    territories: Territories,
    indicators: list[Indicator] | None = None,
    *,
    origins: dict[tuple[str, str], str] | None = None,
    sources: FactSources | None = None,
) -> Computed:
    """Compute the requested indicators (and their inputs, kept only when requested) for
    every territory; statuses are codes of :data:`matrix.STATUS_CODES`."""
    wanted = (
        catalogue.evaluation_order() if indicators is None else _with_inputs(catalogue, indicators)
    )
    variables = set().union(*(i.variables() for i in wanted)) if wanted else set()
    if sources is None:
        sources = build_facts(con, variables)
    base = [i for i in wanted if i.kind != "derived"]
    the_plan = plan(catalogue, base, sources.editions)
    columns = _columns_table(base, the_plan, origins or {}, sources.flags)
    plan_frame = the_plan.frame()
    cells = plan_frame[["variable", "period"]].drop_duplicates().reset_index(drop=True)
    cells["cell"] = np.arange(len(cells))
    position = {(r.indicator_id, r.period_key): n for n, r in enumerate(columns.itertuples())}
    plan_frame = plan_frame.merge(cells, on=["variable", "period"])
    plan_frame["column"] = [
        position[(i, k)]
        for i, k in zip(plan_frame["indicator_id"], plan_frame["period_key"], strict=True)
    ]
    grid_territories = territories.frame[["territory_id", "level"]].reset_index(drop=True)
    members = territories.members[["territory_id", "level", "code"]]
    communes = _commune_order(set(members["code"]))
    with matrix.small_pages():
        values, secret, uncertain = matrix.load_cells(con, cells, communes, sources.cell_tables)
        ms = matrix.membership(grid_territories, members, communes)
        is_commune = (grid_territories["level"] == "commune").to_numpy()
        derived = [i for i in wanted if i.kind == "derived"]
        planned = matrix.derived_plan(derived, columns)
        result = matrix.evaluate(
            plan_frame, columns, values, secret, uncertain, ms, is_commune, len(planned)
        )
        del values, secret, uncertain
        _apply_published(con, base, columns, grid_territories, result)
        columns, result = matrix.derived_columns(planned, columns, result)
        table = matrix.to_arrow(result)
    units = {i.id: i.unit for i in catalogue.indicators.values()}
    dims = columns[["indicator_id", "period_key", "source", "origin", "flags"]].rename(
        columns={"period_key": "period"}
    )
    dims.insert(0, "col", np.arange(len(dims), dtype=np.int32))
    dims["unit"] = dims["indicator_id"].map(units)
    keep = set(i.id for i in (indicators or wanted))
    labels = territories.frame.set_index(["territory_id", "level"])["territory_label"]
    trows = grid_territories.assign(
        trow=np.arange(len(grid_territories), dtype=np.int32),
        territory_label=labels.reindex(pd.MultiIndex.from_frame(grid_territories)).to_numpy(),
        members=result.members.astype(np.int32),
    )[["trow", "territory_id", "level", "territory_label", "members"]]
    dims = dims[dims["indicator_id"].isin(keep)].reset_index(drop=True)
    if len(dims) < len(columns):  # inputs computed for derived ones but not requested
        table = table.filter(pc.is_in(table["col"], value_set=pa.array(dims["col"])))
    return Computed(table, dims, trows)


def _commune_order(codes: set[str]) -> pd.Index:
    """Communes by département, EPCI and code — the order of the commune territories of
    :func:`build.project_territories`: the commune level is then a plain copy of the
    matrices, départements and most EPCI are contiguous runs, régions and France are sums of
    départements."""
    from observatoire.territories import referential

    ref = referential.communes()
    inside = np.fromiter((c in codes for c in ref["code"].tolist()), dtype=bool, count=len(ref))
    ref = ref[inside]
    ref = ref.assign(epci=ref["epci"].fillna("\uffff")).sort_values(["dep", "epci", "code"])
    extra = sorted(codes - set(ref["code"]))
    return pd.Index([*ref["code"].tolist(), *extra], dtype=object)


def _apply_published(
    con: duckdb.DuckDBPyConnection,
    base: list[Indicator],
    columns: pd.DataFrame,
    grid: pd.DataFrame,
    result: matrix.Result,
) -> None:
    """Non-additive figures a source publishes for an EPCI, a département or a région."""
    by_variable = {
        i.value[0][0].generic: i for i in base if i.kind == "non_additive" and len(i.levels) > 1
    }
    if not by_variable:
        return
    published = published_levels(con, set(by_variable))
    if published.empty:
        return
    rows = pd.Series(np.arange(len(grid)), index=pd.MultiIndex.from_frame(grid))
    position = {(r.indicator_id, r.period_key): n for n, r in enumerate(columns.itertuples())}
    for rec in published.itertuples(index=False):
        ind = by_variable.get(rec.variable)
        if ind is None or rec.level not in ind.levels:
            continue
        col = position.get((ind.id, str(rec.period)))
        trow = rows.get((str(rec.code), rec.level))
        if col is None or trow is None:
            continue
        if bool(getattr(rec, "partial", False)):
            result.status[trow, col] = matrix.INCOMPLETE
            result.value[trow, col] = np.nan
        elif bool(rec.secret) or pd.isna(rec.value):
            result.status[trow, col] = matrix.SECRET
            result.value[trow, col] = np.nan
        else:
            result.status[trow, col] = matrix.OK
            result.value[trow, col] = float(rec.value)
            result.with_value[trow, col] = result.members[trow]


def compute(
    con: duckdb.DuckDBPyConnection,
    catalogue: IndicatorCatalogue,
    territories: Territories,
    indicators: list[Indicator] | None = None,
    *,
    cog_vintage: int,
    origins: dict[tuple[str, str], str] | None = None,
    sources: FactSources | None = None,
) -> pd.DataFrame:
    """The indicator table (``INDICATOR_COLUMNS``) for these indicators and territories."""
    computed = compute_into(
        con, catalogue, territories, indicators, origins=origins, sources=sources
    )
    con.register("_c_cells", computed.cells)
    con.register("_c_columns", computed.columns)
    con.register("_c_territories", computed.territories)
    try:
        sql = VALUES_SELECT.format(
            cog=int(cog_vintage),
            cells="_c_cells",
            columns="_c_columns",
            territories="_c_territories",
        )
        table = con.execute(sql + " ORDER BY indicator_id, level, territory_id, period").df()
    finally:
        for name in ("_c_cells", "_c_columns", "_c_territories"):
            con.unregister(name)
    return table[INDICATOR_COLUMNS]


def _with_inputs(catalogue: IndicatorCatalogue, indicators: list[Indicator]) -> list[Indicator]:
    needed: set[str] = set()

    def add(ind: Indicator) -> None:
        if ind.id in needed:
            return
        needed.add(ind.id)
        for dep in ind.inputs:
            add(catalogue.indicators[dep])

    for ind in indicators:
        add(ind)
    return [i for i in catalogue.evaluation_order() if i.id in needed]


def annual_growth(p0: float, p1: float, years: int) -> float:
    """TCAM in % (used by commentary and tests as the reference formula)."""
    return (math.pow(p1 / p0, 1 / years) - 1) * 100
