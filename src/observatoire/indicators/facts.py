"""Communal facts: one long view over every loaded source the indicators read.

Each source table of the warehouse is already at the project's COG vintage (recoded at load).
This module unions them into ``code, variable, period, value, secret, cog_status, dataset,
vintage`` rows with the catalogue's generic variable names:

- ``insee_rp``: census bases and the comparateur (which also carries Filosofi and
  establishment columns);
- ``filosofi``: communal Filosofi rows (``filosofi_com``); the EPCI / département / région
  files feed :func:`published_levels` (non-additive figures published at those levels);
- ``population_legale``: legal populations (``PMUN``, period = millésime);
- ``bpe_equipements`` and ``bpe_communes``: equipment counts per commune as ``BPE_TOT``,
  ``BPE_DOM_<letter>``, ``BPE_<TYPEQU>`` and, for a period P whose gamme table of vintage P
  is loaded (``bpe_gammes``; never another vintage's: INSEE recomputes the composition every
  year), ``BPE_GAMME_PROXIMITE`` / ``_INTERMEDIAIRE`` / ``_SUPERIEURE``. A commune of a covered
  département without equipment of a type counts 0 (the BPE lists equipments; absence is
  zero, not unknown);
- ``lovac_communes``: the LOVAC communal file (Cerema / DGALN), variables as the reader stores
  them (``pp_vacant``, ``pp_vacant_plus_2ans``, ``ff_pp_total``, ``pp_total``; period = the
  year of the 1 January situation). A cell LOVAC masks (``s``, fewer than 11 dwellings) stays
  NULL with ``secret = true`` — never 0; a commune absent from the file has no row (missing).
- ``dvf_marche``: the market figures of :mod:`observatoire.indicators.market` (DVF sales,
  medians and quartiles computed from the pooled sales of each territory, period = year of the
  sales); the commune rows are facts, the other levels feed :func:`published_levels` — a
  median of an EPCI is the median of its sales, never a figure made from communal medians.

When several editions hold the same variable and period (the comparateur and a thematic base,
or two vintages of the historical series), one edition is chosen for the whole country —
never a mix across communes: the most recent vintage, then the dedicated dataset. The periods
of a variable are those of the newest vintage that holds it (P21, P15, P10 of the 2021 bases);
an older edition only adds earlier periods (1999 and before), never a year between.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from observatoire.warehouse import cell_rows_sql, columns_table

# Preference when two editions have the same vintage: dedicated datasets before the comparateur.
_DATASET_RANK = {"filosofi_com": 0, "rp_comparateur": 9}

DATASET_LABELS = {
    "rp_comparateur": "INSEE, recensement {v} (base du comparateur de territoires)",
    "rp_evol_struct_pop": "INSEE, recensement {v} (évolution et structure de la population)",
    "rp_logement": "INSEE, recensement {v} (logement)",
    "rp_couples_familles_menages": "INSEE, recensement {v} (couples, familles, ménages)",
    "rp_diplomes_formation": "INSEE, recensement {v} (diplômes, formation)",
    "rp_emploi_pop_active": "INSEE, recensement {v} (emploi, population active)",
    "rp_serie_historique": "INSEE, recensement {v} (séries historiques)",
    "rp_activite_residents": "INSEE, recensement {v} (activité des résidents)",
    "filosofi_com": "INSEE, Filosofi {v}",
    "filosofi_epci": "INSEE, Filosofi {v} (EPCI)",
    "filosofi_dep": "INSEE, Filosofi {v} (départements)",
    "filosofi_reg": "INSEE, Filosofi {v} (régions)",
    "filosofi_iris_disp": "INSEE, Filosofi {v} (IRIS, revenus disponibles)",
    "filosofi_iris_dec": "INSEE, Filosofi {v} (IRIS, revenus déclarés)",
    "population_legale": "INSEE, populations légales {v}",
    "bpe_xy": "INSEE, base permanente des équipements {v}",
    "bpe_com": "INSEE, base permanente des équipements {v}",
    "lovac_communes": "Cerema / DGALN, LOVAC {v} (logements vacants du parc privé)",
    "dvf_marche": "DGFiP, demandes de valeurs foncières (DVF) {v}, ventes nettoyées",
}

FACT_COLUMNS = ("code", "variable", "period", "value", "secret", "cog_status", "dataset", "vintage")
_PUBLISHED_DATASETS = {
    "filosofi_epci": "epci",
    "filosofi_dep": "departement",
    "filosofi_reg": "region",
}


def dataset_label(dataset: str, vintage: str) -> str:
    """French citation of an edition: publisher, dataset, vintage."""
    if dataset == "population_legale" and vintage.isdigit() and int(vintage) >= 2017:
        # Mayotte's legal population in force is its 2017 census (see territories.harmonise).
        return f"INSEE, populations légales {vintage} (Mayotte : recensement de 2017)"
    template = DATASET_LABELS.get(dataset)
    if template is None and dataset.startswith("rp_iris_"):
        template = f"INSEE, recensement {{v}} (IRIS, {dataset[8:].replace('_', ' ')})"
    if template is None:
        base = dataset.removeprefix("rp_").replace("_", " ")
        template = f"INSEE, recensement {{v}} ({base})" if dataset.startswith("rp_") else dataset
        template += "" if dataset.startswith("rp_") else " {v}"
    return template.format(v=vintage)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }


def _gamme_key(label: str) -> str:
    text = unicodedata.normalize("NFKD", str(label)).encode("ascii", "ignore").decode().upper()
    for key in ("PROXIMITE", "INTERMEDIAIRE", "SUPERIEURE"):
        if key in text:
            return key
    return ""


def _bpe_union(tables: set[str]) -> str | None:
    """``pref, code, typequ, period, n, dataset, vintage`` of every loaded BPE row: the
    geolocated list (``pref`` 0, one row per equipment) and the communal counts (1)."""
    sources = []
    if "bpe_equipements" in tables:
        sources.append(
            "SELECT 0 AS pref, coalesce(code_commune_cog, depcom) AS code, typequ, "
            "CAST(coalesce(an, vintage) AS VARCHAR) AS period, 1.0 AS n, dataset, vintage "
            "FROM bpe_equipements WHERE typequ IS NOT NULL"
        )
    if "bpe_communes" in tables:
        sources.append(
            "SELECT 1 AS pref, code, variable AS typequ, "
            "CAST(coalesce(period, vintage) AS VARCHAR) AS period, value AS n, dataset, vintage "
            "FROM bpe_communes WHERE value IS NOT NULL"
        )
    return " UNION ALL ".join(sources) if sources else None


def _bpe_sql(con: duckdb.DuckDBPyConnection, tables: set[str]) -> list[str]:
    """SELECTs giving BPE counts per commune (dense over the covered départements)."""
    parts: list[str] = []
    union = _bpe_union(tables)
    if union is None:
        return parts
    # The geolocated list and the communal counts describe the same equipments: per period,
    # one of them is used (the list when present), never their sum.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _bpe AS WITH s AS ({union}), "
        "p AS (SELECT period, min(pref) AS pref FROM s GROUP BY period) "
        "SELECT code, typequ, period, sum(n) AS n, min(dataset) AS dataset, "
        "min(vintage) AS vintage FROM s SEMI JOIN p USING (period, pref) "
        "GROUP BY code, typequ, period"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _bpe_grid AS "
        "SELECT c.code, p.period, p.dataset, p.vintage FROM _ref_communes c "
        "JOIN (SELECT DISTINCT left(code, CASE WHEN code LIKE '97%' THEN 3 ELSE 2 END) AS dep, "
        "period, dataset, vintage FROM _bpe) p ON p.dep = c.dep"
    )
    gamme_select = gamme_variables = ""
    if "bpe_gammes" in tables:
        # INSEE recomputes the composition of the gammes for every BPE vintage: the counts of
        # period P use only the gamme table of vintage P (methods §1.10). A period without
        # its own table gets no BPE_GAMME_* variable (missing), never another year's gammes.
        gammes = con.execute(
            "SELECT DISTINCT typequ, gamme, CAST(vintage AS VARCHAR) AS vintage FROM bpe_gammes "
            "WHERE typequ IS NOT NULL AND gamme IS NOT NULL"
        ).df()
        gammes["key"] = gammes["gamme"].map(_gamme_key)
        gammes = gammes[gammes["key"] != ""][["typequ", "vintage", "key"]]
        con.register("_gammes_df", gammes)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _gammes AS SELECT CAST(typequ AS VARCHAR) AS typequ, "
            "CAST(vintage AS VARCHAR) AS vintage, CAST(key AS VARCHAR) AS key FROM _gammes_df"
        )
        con.unregister("_gammes_df")
        gamme_select = (
            "UNION ALL SELECT b.code, 'BPE_GAMME_' || g.key, b.period, sum(b.n) "
            "FROM _bpe b JOIN _gammes g ON g.typequ = b.typequ AND g.vintage = b.period "
            "GROUP BY ALL"
        )
        # A gamme of that vintage's table with no equipment in the covered départements
        # still counts 0 there (as any BPE variable): its variable exists for the period.
        gamme_variables = (
            "UNION SELECT DISTINCT 'BPE_GAMME_' || key, vintage FROM _gammes "
            "WHERE vintage IN (SELECT period FROM _bpe) "
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _bpe_counts AS "
        "SELECT code, 'BPE_' || typequ AS variable, period, n AS value FROM _bpe "
        "UNION ALL SELECT code, 'BPE_DOM_' || left(typequ, 1), period, sum(n) "
        "FROM _bpe GROUP BY ALL "
        "UNION ALL SELECT code, 'BPE_TOT', period, sum(n) FROM _bpe GROUP BY ALL " + gamme_select
    )
    # Dense: every commune of a covered département gets every variable seen (0 when absent).
    parts.append(
        "SELECT g.code, v.variable, g.period, coalesce(b.value, 0) AS value, false AS secret, "
        "'ok' AS cog_status, g.dataset, g.vintage "
        "FROM _bpe_grid g JOIN (SELECT * FROM (SELECT DISTINCT variable, period "
        f"FROM _bpe_counts {gamme_variables}) WHERE variable IN (SELECT variable FROM _wanted)) v "
        "ON v.period = g.period "
        "LEFT JOIN _bpe_counts b ON b.code = g.code AND b.variable = v.variable "
        "AND b.period = g.period"
    )
    return parts


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a temporary table or view of that name, whichever it is."""
    for kind in ("VIEW", "TABLE"):
        try:
            con.execute(f"DROP {kind} IF EXISTS {name}")
        except duckdb.CatalogException:
            continue


@dataclass
class FactSources:
    """What the facts view was built from."""

    tables: list[str]
    editions: pd.DataFrame  # variable, period, dataset, vintage, rows (the chosen ones)
    flags: dict[tuple[str, str], str] = field(default_factory=dict)  # (dataset, vintage) → flag
    # sources stored as cells: read by their column ids (``_facts_plain`` holds the others)
    cell_tables: list[str] = field(default_factory=list)


def build_facts(con: duckdb.DuckDBPyConnection, variables: set[str]) -> FactSources:
    """Create the temp table ``facts`` (chosen editions only) for these generic variables."""
    tables = _tables(con)
    from observatoire.territories import referential

    ref = referential.communes()[["code", "dep"]]
    con.register("_ref_df", ref)
    con.execute("CREATE OR REPLACE TEMP TABLE _ref_communes AS SELECT * FROM _ref_df")
    con.unregister("_ref_df")
    wanted = pd.DataFrame({"variable": sorted(variables)})
    con.register("_wanted_df", wanted)
    con.execute("CREATE OR REPLACE TEMP TABLE _wanted AS SELECT * FROM _wanted_df")
    con.unregister("_wanted_df")
    parts = []
    used = []

    cell_parts: dict[str, str] = {}  # cell-stored table → filter of its column table

    def cols_of(table: str) -> str:
        # a table holding only IRIS rows (kept as published) has no COG status column
        has = con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
            "AND column_name = 'cog_status'",
            [table],
        ).fetchone()[0]
        status = "cog_status" if has else "'ok' AS cog_status"
        return f"code, variable, period, value, secret, {status}, dataset, vintage"

    def long_source(table: str, where: str) -> None:
        """A long INSEE table: stored as cells (current layout) or plain (tests, old files)."""
        if columns_table(table) in tables:
            cell_parts[table] = where
        else:
            parts.append(f"SELECT {cols_of(table)} FROM {table} WHERE {where}")
        used.append(table)

    if "insee_rp" in tables:
        # IRIS bases share the variable names: they are read by analyses.iris, never chosen
        # as the edition of a communal figure
        long_source(
            "insee_rp",
            "variable IN (SELECT variable FROM _wanted) AND dataset NOT LIKE 'rp_iris_%'",
        )
    if "filosofi" in tables:
        long_source(
            "filosofi", "dataset = 'filosofi_com' AND variable IN (SELECT variable FROM _wanted)"
        )
    if "population_legale" in tables and "PMUN" in variables:
        parts.append(
            "SELECT code, 'PMUN', CAST(annee AS VARCHAR), CAST(population AS DOUBLE), "
            "population IS NULL, cog_status, dataset, CAST(vintage AS VARCHAR) "
            "FROM population_legale"
        )
        used.append("population_legale")
    if "lovac_communes" in tables:
        parts.append(
            f"SELECT {cols_of('lovac_communes')} FROM lovac_communes "
            "WHERE variable IN (SELECT variable FROM _wanted)"
        )
        used.append("lovac_communes")
    flags: dict[tuple[str, str], str] = {}
    if "dvf_marche" in tables:
        parts.append(
            "SELECT code, variable, period, value, secret, 'ok', dataset, vintage "
            "FROM dvf_marche WHERE level = 'commune' AND variable IN (SELECT variable FROM _wanted)"
        )
        used.append("dvf_marche")
        for dataset, vintage, flag in con.execute(
            "SELECT DISTINCT dataset, vintage, flags FROM dvf_marche WHERE flags <> ''"
        ).fetchall():
            flags[(dataset, vintage)] = flag
    if any(v.startswith("BPE_") for v in variables):
        bpe = _bpe_sql(con, tables)
        if bpe:
            parts.extend(
                f"SELECT * FROM ({p}) WHERE variable IN (SELECT variable FROM _wanted)" for p in bpe
            )
            used.extend(t for t in ("bpe_equipements", "bpe_communes") if t in tables)
    if not parts and not cell_parts:
        _drop(con, "facts")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE facts (code VARCHAR, variable VARCHAR, period VARCHAR, "
            "value DOUBLE, secret BOOLEAN, cog_status VARCHAR, dataset VARCHAR, vintage VARCHAR)"
        )
        return FactSources(
            used, pd.DataFrame(columns=["variable", "period", "dataset", "vintage", "rows"])
        )
    columns = ", ".join(FACT_COLUMNS)
    plain = " UNION ALL ".join(f"SELECT * FROM ({p})" for p in parts) or (
        "SELECT NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::DOUBLE, NULL::BOOLEAN, "
        "NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR WHERE false"
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW _facts_plain({columns}) AS {plain}")
    cell_rows = [
        f"SELECT {columns} FROM "
        f"({cell_rows_sql(t, f'(SELECT * FROM {columns_table(t)} WHERE {w})')})"
        for t, w in cell_parts.items()
    ]
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _facts_all({columns}) AS "
        + " UNION ALL ".join(["SELECT * FROM _facts_plain", *cell_rows])
    )
    # What each source holds, per variable, period and edition: counted on the plain
    # sources, read from the column tables of the cell-stored ones (no scan of their cells).
    summaries = [
        "SELECT variable, period, dataset, vintage, count(*) AS rows FROM _facts_plain "
        "GROUP BY ALL",
        *(
            "SELECT variable, period, dataset, vintage, sum(cells)::BIGINT AS rows "
            f"FROM {columns_table(t)} WHERE {w} GROUP BY ALL"
            for t, w in cell_parts.items()
        ),
    ]
    ranks = pd.DataFrame({"dataset": list(_DATASET_RANK), "rank": list(_DATASET_RANK.values())})
    con.register("_rank_df", ranks)
    # Per variable, the newest vintage that holds it gives the series; an older edition only
    # adds periods before that series' first one (never 2020 beside 2021, 2014 beside 2015:
    # census vintages one year apart share four fifths of their surveys).
    editions = con.execute(
        f"""
        WITH e AS ({" UNION ALL ".join(summaries)}),
        newest AS (
            SELECT variable, max(vintage) AS vintage FROM e GROUP BY variable
        ),
        first_period AS (
            SELECT e.variable, min(e.period) AS period
            FROM e JOIN newest n USING (variable, vintage) GROUP BY e.variable
        ),
        kept AS (
            SELECT e.* FROM e
            JOIN newest n USING (variable)
            JOIN first_period f USING (variable)
            WHERE e.vintage = n.vintage OR e.period < f.period
        )
        SELECT k.* FROM kept k LEFT JOIN _rank_df r USING (dataset)
        QUALIFY row_number() OVER (
            PARTITION BY k.variable, k.period
            ORDER BY k.vintage DESC, coalesce(r.rank, 5), k.dataset) = 1
        """
    ).df()
    con.unregister("_rank_df")
    _chosen = editions[["variable", "period", "dataset", "vintage"]]
    con.register("_editions_df", _chosen)
    con.execute("CREATE OR REPLACE TEMP TABLE _editions AS SELECT * FROM _editions_df")
    con.unregister("_editions_df")
    # A view: the rows are read once more, by the engine, joined to the cells it needs.
    _drop(con, "facts")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW facts AS SELECT f.* FROM _facts_all f "
        "SEMI JOIN _editions e USING (variable, period, dataset, vintage)"
    )
    return FactSources(used, editions, flags, cell_tables=list(cell_parts))


def published_levels(con: duckdb.DuckDBPyConnection, variables: set[str]) -> pd.DataFrame:
    """Non-additive figures of a whole territory: those a source publishes for an EPCI, a
    département or a région (Filosofi files), and the DVF market figures computed from the
    pooled sales of every territory (EPCI, département, région, France, custom)."""
    columns = ["level", "code", "variable", "period", "value", "secret", "dataset", "vintage"]
    columns += ["partial"]
    tables = _tables(con)
    frames = []
    if "filosofi" in tables:
        datasets = ", ".join(f"'{d}'" for d in _PUBLISHED_DATASETS)
        frame = con.execute(
            f"SELECT dataset, code, variable, period, value, secret, vintage FROM filosofi "
            f"WHERE dataset IN ({datasets})"
        ).df()
        frame = frame[frame["variable"].isin(variables)]
        frame["level"] = frame["dataset"].map(_PUBLISHED_DATASETS)
        frame["partial"] = False
        frames.append(frame[columns])
    if "dvf_marche" in tables:
        wanted = pd.DataFrame({"variable": sorted(variables)})
        con.register("_published_wanted", wanted)
        try:
            frame = con.execute(
                "SELECT level, code, variable, period, value, secret, dataset, vintage, partial "
                "FROM dvf_marche WHERE level <> 'commune' "
                "AND variable IN (SELECT variable FROM _published_wanted)"
            ).df()
        finally:
            con.unregister("_published_wanted")
        frames.append(frame[columns])
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def gamme_key(label: str) -> str:
    """``PROXIMITE``, ``INTERMEDIAIRE`` or ``SUPERIEURE`` for a gamme label of INSEE's table
    (« Gamme de proximité »…), ``""`` otherwise."""
    return _gamme_key(label)


def bpe_counts(
    con: duckdb.DuckDBPyConnection, period: str | None = None
) -> tuple[pd.DataFrame | None, str | None, set[str]]:
    """Equipment counts per commune and type of one BPE period (the latest by default):
    ``code, typequ, n, dep``, from the geolocated list when it holds the period, else from
    the communal counts (never their sum, as the facts do); the period and the datasets
    read. ``(None, None, set())`` when no BPE table is loaded."""
    union = _bpe_union(_tables(con))
    if union is None:
        return None, None, set()
    if period is None:
        found = con.execute(f"SELECT max(period) FROM ({union})").fetchone()
        period = None if found is None else found[0]
        if period is None:
            return None, None, set()
    frame = con.execute(
        f"WITH s AS ({union}), p AS (SELECT min(pref) AS pref FROM s WHERE period = ?) "
        "SELECT code, typequ, sum(n) AS n, "
        "left(code, CASE WHEN code LIKE '97%' THEN 3 ELSE 2 END) AS dep, "
        "string_agg(DISTINCT dataset, ',') AS datasets "
        "FROM s WHERE period = ? AND pref = (SELECT pref FROM p) AND code IS NOT NULL "
        "GROUP BY code, typequ ORDER BY code, typequ",
        [period, period],
    ).df()
    datasets = {d for text in frame["datasets"].dropna().unique() for d in text.split(",")}
    return frame.drop(columns="datasets"), str(period), datasets
