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
COG recoding is uncertain — the value covers the other members only); ``non_additive``;
``missing`` (no member has data).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

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
        edition = max(avail.edition(t.generic, at) for t, at in cells)
        by_edition.setdefault(edition, set()).add(year)
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


# --------------------------------------------------------------------------- SQL aggregation

_COMMUNE_SQL = """
CREATE OR REPLACE TEMP TABLE _per_commune AS
WITH cells AS (
    SELECT p.indicator_id, p.period_key, p.component, f.code,
           sum(p.sign * f.value) AS value,
           count(f.value) AS n_known,
           any_value(p.n_terms) AS n_terms,
           bool_or(f.secret) AS secret,
           bool_or(f.cog_status IN ('incomplete', 'split', 'scission')) AS uncertain
    FROM _plan p JOIN facts f ON f.variable = p.variable AND f.period = p.period
    GROUP BY ALL
)
SELECT indicator_id, period_key, code,
       sum(value) FILTER (component = 'v') AS v,
       sum(value) FILTER (component = 'd') AS d,
       sum(value) FILTER (component = 's0') AS s0,
       sum(value) FILTER (component = 's1') AS s1,
       sum(value) FILTER (component = 'f') AS f,
       sum(value) FILTER (component = 't') AS t,
       bool_and(n_known = n_terms) AS known,
       bool_or(secret) AS secret,
       bool_or(uncertain) AS uncertain,
       count(DISTINCT component) AS n_components
FROM cells GROUP BY ALL
"""

_TERRITORY_SQL = """
CREATE OR REPLACE TEMP TABLE _sums AS
WITH expected AS (
    SELECT indicator_id, period_key, count(DISTINCT component) AS n_components
    FROM _plan GROUP BY ALL
),
usable AS (
    SELECT c.*, c.known AND c.n_components = e.n_components AND NOT coalesce(c.secret, false) AS ok
    FROM _per_commune c JOIN expected e USING (indicator_id, period_key)
)
SELECT m.territory_id, m.level, u.indicator_id, u.period_key,
       sum(u.v) FILTER (u.ok) AS v, sum(u.d) FILTER (u.ok) AS d,
       sum(u.s0) FILTER (u.ok) AS s0, sum(u.s1) FILTER (u.ok) AS s1,
       sum(u.f) FILTER (u.ok) AS f, sum(u.t) FILTER (u.ok) AS t,
       count(*) FILTER (u.ok) AS n_ok,
       count(*) FILTER (u.secret) AS n_secret,
       count(*) FILTER (u.ok AND u.uncertain) AS n_uncertain
FROM territory_members m
JOIN usable u ON u.code = m.code
GROUP BY ALL
"""

# One row per territory × indicator × period the data allow; the kind's formula on the sums.
_VALUES_SQL = """
CREATE OR REPLACE TEMP TABLE _values AS
WITH grid AS (
    SELECT t.territory_id, t.level, t.n_members, p.*, i.*
    FROM _territory_counts t CROSS JOIN _periods p JOIN _ind i USING (indicator_id)
),
joined AS (
    SELECT g.*, s.v, s.d, s.s0, s.s1, s.f, s.t,
           coalesce(s.n_ok, 0) AS n_ok, coalesce(s.n_secret, 0) AS n_secret,
           coalesce(s.n_uncertain, 0) AS n_uncertain,
           pb.value AS pub_value, pb.secret AS pub_secret
    FROM grid g
    LEFT JOIN _sums s USING (territory_id, level, indicator_id, period_key)
    LEFT JOIN _published pb
           ON pb.level = g.level AND pb.code = g.territory_id AND pb.variable = g.na_variable
          AND pb.period = g.period_key AND list_contains(g.na_levels, g.level)
),
status AS (
    SELECT *,
        CASE
            WHEN kind = 'non_additive' AND level <> 'commune' THEN
                CASE WHEN pub_secret THEN 'secret' WHEN pub_value IS NOT NULL THEN 'ok'
                     ELSE 'non_additive' END
            WHEN n_ok = 0 THEN CASE WHEN n_secret > 0 THEN 'secret' ELSE 'missing' END
            WHEN threshold_min IS NOT NULL AND coalesce(t, 0) < threshold_min THEN 'secret'
            WHEN n_ok = n_members AND n_uncertain = 0 THEN 'ok'
            ELSE 'incomplete'
        END AS status,
        CASE WHEN s0 > 0 AND s1 > 0 AND s0 <> s1 THEN (s1 - s0) / ln(s1 / s0) ELSE s0 END
            * years AS person_years
    FROM joined
),
computed AS (
    SELECT *,
        CASE
            WHEN kind = 'non_additive' AND level <> 'commune' THEN pub_value
            WHEN kind IN ('count', 'non_additive') THEN v
            WHEN kind = 'ratio' THEN CASE WHEN d <> 0 THEN v / d * scale END
            WHEN measure = 'rate' THEN
                CASE WHEN s0 > 0 AND s1 >= 0 THEN (pow(s1 / s0, 1.0 / years) - 1) * 100 END
            WHEN measure = 'change' THEN s1 - s0
            ELSE CASE WHEN person_years > 0 THEN f / person_years * scale END
        END AS raw_value,
        kind = 'non_additive' AND level <> 'commune' AS published,
        CASE WHEN kind IN ('count', 'ratio') THEN v WHEN measure = 'flow_rate' THEN f
             WHEN kind = 'growth' THEN s1 END AS raw_numerator,
        CASE WHEN kind = 'ratio' THEN d WHEN measure = 'flow_rate' THEN person_years
             WHEN kind = 'growth' THEN s0 END AS raw_denominator
    FROM status
)
SELECT territory_id, level, indicator_id, period_key AS period,
       CASE WHEN status IN ('ok', 'incomplete') THEN round(raw_value, 6) END AS value,
       CASE WHEN status IN ('ok', 'incomplete') AND NOT published THEN raw_numerator END
           AS numerator,
       CASE WHEN status IN ('ok', 'incomplete') AND NOT published THEN raw_denominator END
           AS denominator,
       status, source, origin, n_members AS members,
       CASE WHEN kind = 'non_additive' AND level <> 'commune'
            THEN CASE WHEN pub_value IS NOT NULL THEN n_members ELSE 0 END
            ELSE n_ok END AS members_with_value,
       CASE WHEN kind = 'growth' AND years < {min_gap} THEN '{close_flag}' ELSE '' END AS flags
FROM computed
"""


def _derived_sql(ind: Indicator) -> str:
    """INSERT the rows of a derived indicator, evaluated on its inputs' values in SQL.

    The expression was validated on load (indicator ids, numbers, + - * / and parentheses
    only), so each id maps to a column of a join: no user text reaches the SQL otherwise.
    """
    aliases = {dep: f"i{n}" for n, dep in enumerate(ind.inputs)}
    expr = re.sub(r"[a-z][a-z0-9_]*", lambda m: f"{aliases[m.group(0)]}.value", ind.expression)
    first = aliases[ind.inputs[0]]
    joins = " ".join(
        f"JOIN (SELECT * FROM _values WHERE indicator_id = '{dep}') {a} "
        f"USING (territory_id, level, period)"
        for dep, a in list(aliases.items())[1:]
    )
    ranks = ", ".join(
        f"list_position(['missing','secret','non_additive','incomplete','ok'], {a}.status)"
        for a in aliases.values()
    )
    sources = " || ' ; ' || ".join(f"{a}.source" for a in aliases.values())
    origins = " OR ".join(f"{a}.origin = 'simulated'" for a in aliases.values())
    flags = " || ".join(f"{a}.flags" for a in aliases.values())
    members_ok = ", ".join(f"{a}.members_with_value" for a in aliases.values())
    return f"""
    INSERT INTO _values
    WITH src AS (
        SELECT territory_id, level, period,
               ({expr}) AS raw_value,
               ['missing','secret','non_additive','incomplete','ok'][least({ranks})] AS status,
               array_to_string(list_sort(list_distinct(string_split({sources}, ' ; '))), ' ; ')
                   AS source,
               CASE WHEN {origins} THEN 'simulated' ELSE 'real' END AS origin,
               {first}.members AS members, least({members_ok}) AS members_with_value,
               CASE WHEN contains({flags}, '{CLOSE_VINTAGES_FLAG}') THEN '{CLOSE_VINTAGES_FLAG}'
                    ELSE '' END AS flags
        FROM (SELECT * FROM _values WHERE indicator_id = '{ind.inputs[0]}') {first} {joins}
    )
    SELECT territory_id, level, '{ind.id}', period,
           CASE WHEN status IN ('ok', 'incomplete') AND isfinite(raw_value)
                THEN round(raw_value, 6) END,
           NULL, NULL, status, source, origin, members, members_with_value, flags
    FROM src
    """


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


def _periods_table(the_plan: Plan, origins: dict[tuple[str, str], str]) -> pd.DataFrame:
    rows = []
    for (ind_id, key), editions in the_plan.sources.items():
        labels = sorted({dataset_label(ds, vt) for ds, vt in editions})
        simulated = any(origins.get(e) == "simulated" for e in editions)
        rows.append(
            {
                "indicator_id": ind_id,
                "period_key": key,
                "years": float(the_plan.years.get((ind_id, key), 0)),
                "source": " ; ".join(labels),
                "origin": "simulated" if simulated else "real",
            }
        )
    return pd.DataFrame(rows, columns=["indicator_id", "period_key", "years", "source", "origin"])


def compute_into(
    con: duckdb.DuckDBPyConnection,
    catalogue: IndicatorCatalogue,
    territories: Territories,
    indicators: list[Indicator] | None = None,
    *,
    origins: dict[tuple[str, str], str] | None = None,
    sources: FactSources | None = None,
) -> list[Indicator]:
    """Compute into the temp table ``_values`` (territory_id, level, indicator_id, period,
    value, numerator, denominator, status, source, origin, members, members_with_value,
    flags); returns the indicators computed (the requested ones and their inputs)."""
    wanted = (
        catalogue.evaluation_order() if indicators is None else _with_inputs(catalogue, indicators)
    )
    variables = set().union(*(i.variables() for i in wanted)) if wanted else set()
    if sources is None:
        sources = build_facts(con, variables)
    base = [i for i in wanted if i.kind != "derived"]
    the_plan = plan(catalogue, base, sources.editions)
    _register(con, "_plan", the_plan.frame())
    _register(
        con,
        "_ind",
        _indicator_table(base)
        if base
        else pd.DataFrame(
            columns=[
                "indicator_id",
                "kind",
                "measure",
                "scale",
                "unit",
                "threshold_min",
                "na_variable",
                "na_levels",
            ]
        ),
    )
    _register(con, "_periods", _periods_table(the_plan, origins or {}))
    _register(con, "territory_members", territories.members[["territory_id", "level", "code"]])
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _territory_counts AS SELECT territory_id, level, "
        "count(*) AS n_members FROM territory_members GROUP BY ALL"
    )
    na_vars = {i.value[0][0].generic for i in base if i.kind == "non_additive"}
    published = published_levels(con, na_vars)
    _register(
        con,
        "_published",
        published[["level", "code", "variable", "period", "value", "secret"]].astype(
            {
                "level": str,
                "code": str,
                "variable": str,
                "period": str,
                "value": float,
                "secret": bool,
            }
        ),
    )
    con.execute(_COMMUNE_SQL)
    con.execute(_TERRITORY_SQL)
    con.execute(_VALUES_SQL.format(min_gap=MIN_CENSUS_GAP, close_flag=CLOSE_VINTAGES_FLAG))
    for ind in wanted:
        if ind.kind == "derived":
            con.execute(_derived_sql(ind))
    return wanted


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
    compute_into(con, catalogue, territories, indicators, origins=origins, sources=sources)
    ids = [i.id for i in (indicators or catalogue.evaluation_order())]
    _register(con, "_labels", territories.frame[["territory_id", "level", "territory_label"]])
    _register(con, "_wanted_ids", pd.DataFrame({"indicator_id": ids}))
    _register(
        con,
        "_units",
        pd.DataFrame(
            {
                "indicator_id": list(catalogue.indicators),
                "unit": [i.unit for i in catalogue.indicators.values()],
            }
        ),
    )
    table = con.execute(
        f"""
        SELECT v.territory_id, l.territory_label, v.level, v.indicator_id, v.period, v.value,
               u.unit, v.numerator, v.denominator, v.status, v.source,
               {int(cog_vintage)} AS cog_vintage, v.members, v.members_with_value, v.flags,
               v.origin
        FROM _values v
        JOIN _wanted_ids USING (indicator_id)
        JOIN _units u USING (indicator_id)
        LEFT JOIN _labels l USING (territory_id, level)
        ORDER BY v.indicator_id, v.level, v.territory_id, v.period
        """
    ).df()
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
