"""Catalogue indicators evaluated at the IRIS level, for the infra-communal pre-diagnostic.

The indicator engine works on communes; IRIS rows stay in the source tables as published
(``insee_rp`` for the census IRIS bases ``base-ic-*``, datasets ``rp_iris_*``; ``filosofi``
for the Filosofi IRIS files). This module evaluates one catalogue indicator on the IRIS of a
set of communes, with the catalogue's own definition:

- ``count``: Σ of the value's terms; ``ratio``: Σ numerator / Σ denominator × scale, both at
  the same period; ``non_additive``: the value published for the IRIS;
- alternatives by vintage are tried in order, as the engine does; the period is the latest one
  with a value for at least one IRIS;
- a term that is secret or missing makes the IRIS's value missing (never 0);
- census indicators read the IRIS census bases; Filosofi indicators read only the « revenus
  disponibles » IRIS file (``filosofi_iris_disp``): the « déclarés » file measures another
  income (before transfers and taxes) and its poverty rate is not the one of the communal
  figures;
- growths, derived indicators and the other sources (DVF, LOVAC, BPE…) have no IRIS
  evaluation here: the criterion is then unavailable (the index re-weights, see
  :mod:`observatoire.analyses.composite`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from observatoire.indicators.catalogue import Expression, Indicator
from observatoire.indicators.facts import dataset_label

IRIS_SOURCES = {"rp": ("insee_rp", "dataset LIKE 'rp_iris_%'")}
IRIS_SOURCES["filosofi"] = ("filosofi", "dataset = 'filosofi_iris_disp'")
# The Filosofi IRIS reader keeps the file's family prefix (DISP_TP6021 → DISP_TP60).
IRIS_PREFIX = {"rp": "", "filosofi": "DISP_"}
IRIS_KINDS = ("count", "ratio", "non_additive")


@dataclass
class IrisValues:
    values: pd.Series  # index = IRIS code
    period: str | None
    source: str
    reason: str = ""  # why there is no value (French), when empty


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }


def iris_codes(con: duckdb.DuckDBPyConnection, communes: list[str]) -> list[str]:
    """IRIS codes present in the IRIS source tables for these communes."""
    tables = _tables(con)
    parts = [
        f"SELECT DISTINCT code FROM {table} WHERE {where} AND left(code, 5) IN "
        "(SELECT unnest(?::VARCHAR[]))"
        for table, where in IRIS_SOURCES.values()
        if table in tables
    ]
    if not parts:
        return []
    sql = " UNION ".join(parts) + " ORDER BY code"
    params = [list(communes)] * len(parts)
    codes = [r[0] for r in con.execute(sql, params).fetchall()]
    return [c for c in codes if isinstance(c, str) and len(c) == 9]


def _rows(
    con: duckdb.DuckDBPyConnection, indicator: Indicator, communes: list[str]
) -> pd.DataFrame:
    table, where = IRIS_SOURCES[indicator.source]
    if table not in _tables(con):
        return pd.DataFrame(columns=["code", "variable", "period", "value", "dataset", "vintage"])
    prefix = IRIS_PREFIX[indicator.source]
    variables = sorted(
        {prefix + t.generic for group in _groups(indicator) for e in group for t in e}
    )
    rows = con.execute(
        f"SELECT code, variable, CAST(period AS VARCHAR) AS period, "
        f"CASE WHEN secret THEN NULL ELSE value END AS value, dataset, "
        f"CAST(vintage AS VARCHAR) AS vintage FROM {table} WHERE {where} "
        "AND length(code) = 9 AND left(code, 5) IN (SELECT unnest(?::VARCHAR[])) "
        "AND variable IN (SELECT unnest(?::VARCHAR[]))",
        [list(communes), variables],
    ).df()
    rows["variable"] = rows["variable"].str.removeprefix(prefix) if prefix else rows["variable"]
    return rows


def _groups(indicator: Indicator) -> list[tuple[Expression, ...]]:
    if indicator.kind == "ratio":
        return [indicator.numerator, indicator.denominator]
    return [indicator.value]


def _evaluate(
    alternatives: tuple[Expression, ...], rows: pd.DataFrame, period: str, codes: pd.Index
) -> tuple[pd.Series, set[tuple[str, str]]] | None:
    """Σ sign × term at ``period`` with the first alternative whose variables all exist."""
    at = rows[rows["period"] == period]
    present = set(at["variable"])
    for expression in alternatives:
        if not all(t.generic in present for t in expression):
            continue
        total = pd.Series(0.0, index=codes)
        editions: set[tuple[str, str]] = set()
        for term in expression:
            mine = at[at["variable"] == term.generic]
            editions |= set(zip(mine["dataset"], mine["vintage"], strict=True))
            column = mine.groupby("code")["value"].first().reindex(codes)
            total = total + term.sign * column.astype("float64")  # NaN propagates
        return total, editions
    return None


def iris_indicator(
    con: duckdb.DuckDBPyConnection, indicator: Indicator, communes: list[str], codes: list[str]
) -> IrisValues:
    """Values of ``indicator`` for the IRIS ``codes`` (of ``communes``)."""
    index = pd.Index(codes, name="code")
    empty = pd.Series(np.nan, index=index)
    if indicator.source not in IRIS_SOURCES:
        return IrisValues(empty, None, "", "source non disponible à l'IRIS")
    if indicator.kind not in IRIS_KINDS:
        return IrisValues(empty, None, "", "indicateur non calculé à l'IRIS")
    rows = _rows(con, indicator, communes)
    if rows.empty:
        return IrisValues(empty, None, "", "aucune donnée IRIS chargée pour cet indicateur")
    for period in sorted(set(rows["period"]), key=lambda p: (len(p), p), reverse=True):
        groups = [_evaluate(alts, rows, period, index) for alts in _groups(indicator)]
        if any(g is None for g in groups):
            continue
        editions = set().union(*(g[1] for g in groups))  # type: ignore[index]
        if indicator.kind == "ratio":
            num, den = groups[0][0], groups[1][0]  # type: ignore[index]
            values = (num / den.where(den > 0)) * indicator.scale
        else:
            values = groups[0][0]  # type: ignore[index]
        if values.notna().any():
            source = " ; ".join(sorted({dataset_label(d, v) for d, v in editions}))
            return IrisValues(values.astype("float64"), period, source)
    return IrisValues(empty, None, "", "aucune valeur IRIS pour cet indicateur")
