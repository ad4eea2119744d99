"""Real-estate market from DVF: cleaning rules, cleaning report and market figures.

Run by ``observatoire build`` before the indicators, when the ``dvf`` table (one row per
source line, typed, never filtered) exists. Three derived tables are written, in one
transaction, and rebuilt only when the DVF files, the parameters (``marche`` of
``diagnostics.yaml``) or the territories change (fingerprint in ``dvf_marche_build``):

``dvf_mutations``: one row per mutation. Files: per commune and year, one file is read — the
Etalab geo-DVF (``dvf_geo``, coordinates) before the raw DGFiP file (they describe the same
mutations: never both), a file covering the whole département before an extract, then the
latest loaded (two files of one source for one year are never summed). A file covers a whole
département-year when it holds sales in at least half of its communes; an extract (one
commune's sales) covers only the communes it holds — the others of its département are not
covered (no figure, never 0). Rows are grouped by mutation (``dataset,
vintage, part, id_mutation``: an id is only meaningful within one file) **before** any type
filter; ``valeur_fonciere`` is repeated on every row and taken once, never summed. Non-dependency
locals are deduplicated on ``(id_parcelle, type_local, surface_reelle_bati,
nombre_pieces_principales)`` (rows repeat per parcel and lot) and counted by type. Each
mutation gets the first rule it fails (``exclusion``, NULL when kept), in this order:

1. ``nature``: nature not in ``natures`` (VEFA, adjudications, échanges… go elsewhere);
2. ``multi_communes`` / ``multi_dispositions``: spanning several communes / dispositions;
3. ``sans_logement``, ``plusieurs_logements``, ``logement_et_local``: not exactly one house or
   one apartment with no other non-dependency local (outbuildings allowed) — counted after
   grouping, so "1 house + 1 shop" is excluded;
4. ``valeur_ou_surface``: price or built area (``surface_reelle_bati``) missing or zero;
5. ``prix_min``, ``surface``: sanity bounds (regional parameters);
6. ``ecretage``: log(€/m²) outside Q1 − k·IQR / Q3 + k·IQR (or percentiles) of its
   département × type × year, for groups of at least ``effectif_min`` sales.

Rules 1-3 define a *sale of one dwelling* (the volume figures); rules 4-6 the sales kept for
prices. ``semestre_incomplet`` flags the mutations of the last ``semestres_incomplets``
calendar semesters of the data of each source and département (registration lags; the yearly
files of a release share its cut-off date): the volumes (sales, kept sales) of a
territory-year holding one are not published (an under-count), its prices carry the flag
``semestre_incomplet``.

``dvf_nettoyage``: the cleaning report, one row per year and rule (mutations excluded by the
rule, mutations left after it, in rule order).

``dvf_marche``: figures for every territory (communes, EPCI, départements, régions, France,
custom territories) × type (``MAISON``, ``APPART``) × year, computed from the pooled sales of
its communes — exact medians of the territory, never a mean or median of communal medians:
A territory only partly covered by the loaded files (France when two départements are
loaded) gets ``partial`` rows without value (status ``incomplete``): never a median of part of
its sales. ``DVF_VENTES_<T>`` sales of one dwelling (dense: 0 in a covered commune without sale),
``DVF_N_<T>`` sales kept for prices, ``DVF_PRIX_{MED,Q1,Q3}_<T>`` price, ``DVF_PXM2_{MED,Q1,
Q3}_<T>`` price per m² (built area), ``DVF_EVOL_PXM2_<T>`` change of the median €/m² on the
previous year (%; none when the territory was not covered that year, ``partial`` when it was
only in part). A median with fewer than ``seuil_publication`` sales, quartiles with fewer
than ``seuil_quartiles``, an evolution whose either median is withheld: ``secret`` (value
NULL; « effectif insuffisant »), never a number. Quantiles are ``quantile_cont`` (linear
interpolation: the median of an even count is the mean of the two middle prices).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb
import pandas as pd

from observatoire.catalogue.diagnostics import MarketParams

MUTATIONS_TABLE = "dvf_mutations"
REPORT_TABLE = "dvf_nettoyage"
MARKET_TABLE = "dvf_marche"
STATE_TABLE = "dvf_marche_build"
MARKET_DATASET = "dvf_marche"
DVF_DATASETS = ("dvf_geo", "dvf_dgfip")  # preference order within a year and département
TYPES = {"Maison": "MAISON", "Appartement": "APPART"}
INCOMPLETE_FLAG = "semestre_incomplet"
NO_DVF_DEPARTEMENTS = ("57", "67", "68", "976")  # Alsace-Moselle (livre foncier), Mayotte
MARKET_VERSION = "1"

# Rules in order: (id, French label, stage). Stage "vente" rules define a sale of one
# dwelling; "prix" rules the sales kept for price statistics.
RULES: tuple[tuple[str, str, str], ...] = (
    ("nature", "Nature de mutation non retenue (VEFA, adjudication, échange…)", "vente"),
    ("multi_communes", "Mutation portant sur plusieurs communes", "vente"),
    ("multi_dispositions", "Mutation à plusieurs dispositions", "vente"),
    ("sans_logement", "Aucune maison ni aucun appartement", "vente"),
    ("plusieurs_logements", "Plusieurs logements vendus ensemble", "vente"),
    ("logement_et_local", "Logement vendu avec un local d'activité", "vente"),
    ("valeur_ou_surface", "Prix ou surface bâtie manquants ou nuls", "prix"),
    ("prix_min", "Prix sous le minimum de vraisemblance", "prix"),
    ("surface", "Surface bâtie hors des bornes du type", "prix"),
    ("ecretage", "Prix au m² aberrant (écrêtage statistique)", "prix"),
)
_STATS = ("VENTES", "N", "PRIX_MED", "PRIX_Q1", "PRIX_Q3", "PXM2_MED", "PXM2_Q1", "PXM2_Q3")
VARIABLES = tuple(
    f"DVF_{stat}_{t}" for t in TYPES.values() for stat in (*_STATS, "EVOL_PXM2")
)  # the generic variables of ``dvf_marche``
PRICE_RULES = tuple(r for r, _, stage in RULES if stage == "prix")


@dataclass
class MarketReport:
    """What a refresh did."""

    refreshed: bool
    mutations: int = 0
    kept: int = 0
    fingerprint: str = ""


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }


def fingerprint(
    con: duckdb.DuckDBPyConnection, params: MarketParams, territory_hash: str
) -> str | None:
    """Fingerprint of the market tables' inputs (None when no DVF is loaded)."""
    tables = _tables(con)
    if "dvf" not in tables:
        return None
    digest = hashlib.sha256(MARKET_VERSION.encode())
    digest.update(params.fingerprint().encode())
    digest.update(territory_hash.encode())
    if "lineage" in tables:
        rows = con.execute(
            "SELECT dataset, vintage, part, sha256 FROM lineage WHERE table_name = 'dvf' "
            "ORDER BY ALL"
        ).fetchall()
        digest.update(repr(rows).encode())
    return digest.hexdigest()


def _q(value: float) -> str:
    return repr(float(value))


FULL_SHARE = 0.5  # share of a département's communes with sales: a whole-département file


def _mutations_sql(params: MarketParams) -> str:
    """The mutation tables: rows grouped by mutation (its file and id) before any filter."""
    key = "dataset, vintage, part, id_mutation"
    natures = ", ".join("'" + n.replace("'", "''") + "'" for n in params.natures)
    h_lo, h_hi = params.surface_house
    a_lo, a_hi = params.surface_apartment
    multi_c = "coalesce(plusieurs_communes, false)" if params.exclude_multi_communes else "false"
    multi_d = (
        "coalesce(plusieurs_dispositions, false)" if params.exclude_multi_dispositions else "false"
    )
    return f"""
    -- Which file each commune-year is read from. A file covers a whole département-year
    -- when it holds sales in at least {FULL_SHARE:.0%} of the département's communes (a
    -- département or national file); otherwise it is an extract covering the communes it
    -- holds. Per commune and year, one file: geo-DVF before the raw DGFiP file (the same
    -- mutations), a whole-département file before an extract, then the latest loaded.
    CREATE OR REPLACE TEMP TABLE _dvf_presence AS
    SELECT dataset, vintage, coalesce(part, '') AS part, year(date_mutation) AS annee,
           coalesce(code_commune_cog, code_commune) AS commune,
           max(date_mutation) AS last_date
    FROM dvf WHERE dataset IN {DVF_DATASETS!r} AND date_mutation IS NOT NULL
    GROUP BY ALL;

    CREATE OR REPLACE TEMP TABLE _dvf_files AS
    WITH per_dep AS (
        SELECT p.dataset, p.vintage, p.part, p.annee, r.dep, count(*) AS communes
        FROM _dvf_presence p JOIN ref_communes r ON r.code = p.commune GROUP BY ALL
    ),
    sizes AS (SELECT dep, count(*) AS n_dep FROM ref_communes GROUP BY dep)
    SELECT f.*, f.communes >= {FULL_SHARE} * s.n_dep AS whole
    FROM per_dep f JOIN sizes s USING (dep);

    CREATE OR REPLACE TEMP TABLE _dvf_chosen AS
    WITH candidates AS (
        SELECT f.dataset, f.vintage, f.part, f.annee, r.code AS commune, f.whole
        FROM _dvf_files f JOIN ref_communes r ON r.dep = f.dep
        WHERE f.whole OR EXISTS (
            SELECT 1 FROM _dvf_presence p WHERE p.dataset = f.dataset
            AND p.vintage = f.vintage AND p.part = f.part AND p.annee = f.annee
            AND p.commune = r.code)
    )
    SELECT c.* FROM candidates c
    LEFT JOIN (SELECT dataset, vintage, coalesce(part, '') AS part, max(loaded_at) AS loaded_at
               FROM lineage WHERE table_name = 'dvf' GROUP BY ALL) l
      USING (dataset, vintage, part)
    QUALIFY row_number() OVER (
        PARTITION BY c.annee, c.commune
        ORDER BY c.dataset = 'dvf_geo' DESC, c.whole DESC, l.loaded_at DESC NULLS LAST,
                 c.dataset, c.vintage, c.part) = 1;

    -- The last calendar semesters of the data of each source and département are
    -- incomplete (registration lags): a release's yearly files share its cut-off date, so
    -- only the newest year's last semesters are concerned, and a département whose files
    -- stop earlier gets its own.
    CREATE OR REPLACE TEMP TABLE _dvf_file_end AS
    SELECT p.dataset, r.dep,
           max(year(p.last_date) * 2 + (month(p.last_date) > 6)::INTEGER) AS last_semester
    FROM _dvf_presence p JOIN ref_communes r ON r.code = p.commune GROUP BY ALL;

    CREATE OR REPLACE TEMP VIEW _dvf_rows AS
    SELECT d.dataset, d.vintage, coalesce(d.part, '') AS part, d.id_mutation, d.date_mutation,
           d.numero_disposition, d.nature_mutation, d.valeur_fonciere,
           coalesce(d.code_commune_cog, d.code_commune) AS commune, d.id_parcelle,
           d.type_local, d.surface_reelle_bati, d.nombre_pieces_principales,
           d.longitude, d.latitude
    FROM dvf d SEMI JOIN _dvf_chosen c
      ON c.annee = year(d.date_mutation)
     AND c.commune = coalesce(d.code_commune_cog, d.code_commune)
     AND c.dataset = d.dataset AND c.vintage = d.vintage AND c.part = coalesce(d.part, '');

    CREATE OR REPLACE TEMP TABLE _dvf_locals AS
    SELECT {key},
           count(*) FILTER (WHERE type_local = 'Maison') AS n_maisons,
           count(*) FILTER (WHERE type_local = 'Appartement') AS n_appartements,
           count(*) FILTER (WHERE type_local NOT IN ('Maison', 'Appartement')) AS n_autres,
           any_value(type_local) FILTER (WHERE type_local IN ('Maison', 'Appartement'))
               AS type_local,
           any_value(surface_reelle_bati)
               FILTER (WHERE type_local IN ('Maison', 'Appartement')) AS surface,
           any_value(nombre_pieces_principales)
               FILTER (WHERE type_local IN ('Maison', 'Appartement')) AS pieces
    FROM (
        SELECT DISTINCT {key}, id_parcelle, type_local,
               surface_reelle_bati, nombre_pieces_principales
        FROM _dvf_rows WHERE type_local IS NOT NULL AND type_local <> 'Dépendance'
    ) GROUP BY ALL;

    CREATE OR REPLACE TEMP TABLE _dvf_mut AS
    SELECT {key},
           min(r.date_mutation) AS date_mutation,
           any_value(r.nature_mutation) AS nature_mutation,
           max(r.valeur_fonciere) AS valeur_fonciere,
           -- several dispositions / communes: min <> max (NULLs ignored, as count DISTINCT)
           min(r.numero_disposition) <> max(r.numero_disposition) AS plusieurs_dispositions,
           min(r.commune) <> max(r.commune) AS plusieurs_communes,
           coalesce(any_value(r.commune) FILTER (
               WHERE r.type_local IN ('Maison', 'Appartement')), any_value(r.commune)
           ) AS commune,
           any_value(r.longitude) FILTER (WHERE r.type_local IN ('Maison', 'Appartement')
               AND r.longitude IS NOT NULL) AS longitude,
           any_value(r.latitude) FILTER (WHERE r.type_local IN ('Maison', 'Appartement')
               AND r.latitude IS NOT NULL) AS latitude
    FROM _dvf_rows r GROUP BY {key};

    CREATE OR REPLACE TEMP TABLE _dvf_ruled AS
    SELECT m.*, year(m.date_mutation) AS annee,
           CASE WHEN m.commune LIKE '97%' THEN left(m.commune, 3) ELSE left(m.commune, 2)
           END AS dep,
           coalesce(l.n_maisons, 0) AS n_maisons,
           coalesce(l.n_appartements, 0) AS n_appartements,
           coalesce(l.n_autres, 0) AS n_autres,
           CASE l.type_local WHEN 'Maison' THEN 'MAISON' WHEN 'Appartement' THEN 'APPART' END
               AS type,
           l.surface, l.pieces,
           CASE
             WHEN m.nature_mutation IS NULL OR m.nature_mutation NOT IN ({natures})
               THEN 'nature'
             WHEN {multi_c} THEN 'multi_communes'
             WHEN {multi_d} THEN 'multi_dispositions'
             WHEN coalesce(l.n_maisons, 0) + coalesce(l.n_appartements, 0) = 0
               THEN 'sans_logement'
             WHEN l.n_maisons + l.n_appartements > 1 THEN 'plusieurs_logements'
             WHEN l.n_autres > 0 THEN 'logement_et_local'
             WHEN m.valeur_fonciere IS NULL OR m.valeur_fonciere <= 0
               OR l.surface IS NULL OR l.surface <= 0 THEN 'valeur_ou_surface'
             WHEN m.valeur_fonciere < {_q(params.price_min)} THEN 'prix_min'
             WHEN l.type_local = 'Maison'
               AND NOT l.surface BETWEEN {_q(h_lo)} AND {_q(h_hi)} THEN 'surface'
             WHEN l.type_local = 'Appartement'
               AND NOT l.surface BETWEEN {_q(a_lo)} AND {_q(a_hi)} THEN 'surface'
           END AS exclusion
    FROM _dvf_mut m
    LEFT JOIN _dvf_locals l USING ({key});
    """


def _trim_sql(params: MarketParams) -> str:
    """Statistical trimming of log(€/m²) per département × type × year."""
    if params.trim_method == "aucun":
        return "CREATE OR REPLACE TEMP TABLE _dvf_bounds AS SELECT NULL::VARCHAR AS dep LIMIT 0;"
    if params.trim_method == "iqr":
        k = _q(params.trim_coefficient)
        bounds = (
            f"q[1] - {k} * (q[2] - q[1]) AS lo, q[2] + {k} * (q[2] - q[1]) AS hi "
            "FROM (SELECT dep, type, annee, count(*) AS n, "
            "quantile_cont(lpx, [0.25, 0.75]) AS q"
        )
    else:
        p_lo, p_hi = (p / 100 for p in params.trim_percentiles)
        bounds = (
            "q[1] AS lo, q[2] AS hi FROM (SELECT dep, type, annee, count(*) AS n, "
            f"quantile_cont(lpx, [{_q(p_lo)}, {_q(p_hi)}]) AS q"
        )
    return f"""
    CREATE OR REPLACE TEMP TABLE _dvf_bounds AS
    SELECT dep, type, annee, {bounds}
        FROM (SELECT dep, type, annee, ln(valeur_fonciere / surface) AS lpx
              FROM _dvf_ruled WHERE exclusion IS NULL)
        GROUP BY ALL)
    WHERE n >= {int(params.trim_min_count)};
    """


def _stats_sql(params: MarketParams) -> str:
    """Figures of every territory × type × year (long rows of ``dvf_marche``)."""
    t1, tq = int(params.threshold), int(params.threshold_quartiles)
    k = int(params.incomplete_semesters)
    price_rules = ", ".join(f"'{r}'" for r in PRICE_RULES)
    return f"""
    CREATE OR REPLACE TEMP TABLE _dvf_members AS
    SELECT territory_id, level, commune AS code FROM territory_communes;

    -- Covered (commune, year): those a chosen file covers; the year is incomplete when its
    -- file's last semesters fall in it.
    CREATE OR REPLACE TEMP TABLE _dvf_cover AS
    SELECT c.commune AS code, c.annee,
           c.annee * 2 + 1 > e.last_semester - {k} AS incomplete
    FROM _dvf_chosen c JOIN ref_communes r ON r.code = c.commune
    JOIN _dvf_file_end e ON e.dataset = c.dataset AND e.dep = r.dep;

    CREATE OR REPLACE TEMP TABLE _dvf_grid AS
    SELECT m.territory_id, m.level, v.annee, t.type,
           count(*) AS communes, bool_or(v.incomplete) AS incomplete
    FROM _dvf_members m JOIN _dvf_cover v ON v.code = m.code
    CROSS JOIN (VALUES ('MAISON'), ('APPART')) t(type)
    GROUP BY ALL;

    -- Communes a territory should have in the data: DVF never covers Alsace-Moselle (livre
    -- foncier) nor Mayotte, so « France » means France without them.
    CREATE OR REPLACE TEMP TABLE _dvf_expected AS
    SELECT m.territory_id, m.level, count(*) AS expected
    FROM _dvf_members m JOIN ref_communes r ON r.code = m.code
    WHERE r.dep NOT IN {NO_DVF_DEPARTEMENTS!r}
    GROUP BY ALL;

    CREATE OR REPLACE TEMP TABLE _dvf_sales AS
    SELECT m.territory_id, m.level, s.annee, s.type,
           count(*) AS ventes,
           count(*) FILTER (WHERE s.exclusion IS NULL) AS n,
           quantile_cont(s.valeur_fonciere, [0.25, 0.5, 0.75])
               FILTER (WHERE s.exclusion IS NULL) AS prix,
           quantile_cont(s.valeur_fonciere / s.surface, [0.25, 0.5, 0.75])
               FILTER (WHERE s.exclusion IS NULL) AS pxm2
    FROM _dvf_clean s JOIN _dvf_members m ON m.code = s.commune
    -- sales of one dwelling (rules 1-6 passed): the volumes; kept ones: the prices
    WHERE s.type IS NOT NULL AND (s.exclusion IS NULL OR s.exclusion IN ({price_rules}))
    GROUP BY ALL;

    CREATE OR REPLACE TEMP TABLE _dvf_stats AS
    SELECT g.territory_id, g.level, g.annee, g.type, coalesce(s.ventes, 0) AS ventes,
           coalesce(s.n, 0) AS n, s.prix, s.pxm2, g.incomplete,
           g.communes < coalesce(e.expected, 0) AS partial
    FROM _dvf_grid g LEFT JOIN _dvf_sales s USING (territory_id, level, annee, type)
    LEFT JOIN _dvf_expected e USING (territory_id, level);

    CREATE OR REPLACE TEMP TABLE _dvf_marche_new AS
    WITH base AS (
        SELECT *, n >= {t1} AS ok_med, n >= {tq} AS ok_q FROM _dvf_stats
    ),
    prev AS (
        SELECT b.*, p.pxm2[2] AS pxm2_prev, p.n >= {t1} AS ok_prev, p.partial AS partial_prev,
               p.territory_id IS NOT NULL AS has_prev
        FROM base b LEFT JOIN base p ON p.territory_id = b.territory_id
         AND p.level = b.level AND p.type = b.type AND p.annee = b.annee - 1
    ),
    long AS (
        SELECT territory_id, level, annee, type, n, incomplete,
               partial OR (name = 'DVF_EVOL_PXM2_' AND partial_prev) AS partial,
               name, value, ok
        FROM prev,
        LATERAL (VALUES
            ('DVF_VENTES_', ventes::DOUBLE, true),
            ('DVF_N_', n::DOUBLE, true),
            ('DVF_PRIX_MED_', prix[2], ok_med),
            ('DVF_PRIX_Q1_', prix[1], ok_q),
            ('DVF_PRIX_Q3_', prix[3], ok_q),
            ('DVF_PXM2_MED_', pxm2[2], ok_med),
            ('DVF_PXM2_Q1_', pxm2[1], ok_q),
            ('DVF_PXM2_Q3_', pxm2[3], ok_q),
            ('DVF_EVOL_PXM2_', (pxm2[2] / pxm2_prev - 1) * 100,
                ok_med AND ok_prev AND pxm2_prev > 0)
        ) v(name, value, ok)
        -- an evolution needs the territory covered the previous year (a partial previous
        -- year makes it partial); the volumes of a year holding an incomplete semester are
        -- not published (an under-count)
        WHERE (name <> 'DVF_EVOL_PXM2_' OR has_prev)
          AND NOT (name IN ('DVF_VENTES_', 'DVF_N_') AND incomplete)
    )
    SELECT level, territory_id AS code, name || type AS variable, CAST(annee AS VARCHAR)
               AS period,
           CASE WHEN ok AND NOT partial THEN value END AS value,
           NOT ok AND NOT partial AS secret, partial, n::INTEGER AS n,
           '{MARKET_DATASET}' AS dataset, CAST(annee AS VARCHAR) AS vintage,
           CASE WHEN incomplete THEN '{INCOMPLETE_FLAG}' ELSE '' END AS flags,
           coalesce(o.origin, 'real') AS origin
    FROM long LEFT JOIN _dvf_origins o USING (annee);
    """


def refresh(
    con: duckdb.DuckDBPyConnection,
    params: MarketParams,
    territory_hash: str,
    *,
    force: bool = False,
) -> MarketReport:
    """Rebuild the market tables when their inputs changed (one transaction)."""
    print_ = fingerprint(con, params, territory_hash)
    tables = _tables(con)
    if print_ is None:
        if MARKET_TABLE in tables:
            con.execute("BEGIN TRANSACTION")
            try:
                for name in (MUTATIONS_TABLE, REPORT_TABLE, MARKET_TABLE, STATE_TABLE):
                    con.execute(f"DROP TABLE IF EXISTS {name}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return MarketReport(refreshed=False)
    if not force and STATE_TABLE in tables and MARKET_TABLE in tables:
        stored = con.execute(f"SELECT fingerprint FROM {STATE_TABLE}").fetchone()
        if stored is not None and stored[0] == print_:
            return MarketReport(refreshed=False, fingerprint=print_)
    con.execute(_mutations_sql(params))
    con.execute(_trim_sql(params))
    k = int(params.incomplete_semesters)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _dvf_clean AS
        SELECT r.* REPLACE (
            CASE WHEN r.exclusion IS NULL AND b.lo IS NOT NULL
                  AND NOT ln(r.valeur_fonciere / r.surface) BETWEEN b.lo AND b.hi
                 THEN 'ecretage' ELSE r.exclusion END AS exclusion),
               year(r.date_mutation) * 2 + (month(r.date_mutation) > 6)::INTEGER
                   > e.last_semester - {k} AS semestre_incomplet,
               r.annee * 2 + 1 > e.last_semester - {k} AS annee_incomplete
        FROM _dvf_ruled r
        LEFT JOIN _dvf_bounds b USING (dep, type, annee)
        LEFT JOIN _dvf_file_end e USING (dataset, dep)
        """
    )
    # Simulated or real, per year: from the lineage of the files read.
    has_lineage = "lineage" in tables
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dvf_origins AS "
        + (
            "SELECT f.annee, CASE WHEN bool_or(l.origin = 'simulated') THEN 'simulated' "
            "ELSE 'real' END AS origin FROM (SELECT DISTINCT dataset, vintage, part, annee "
            "FROM _dvf_ruled) f LEFT JOIN lineage l ON l.dataset = f.dataset "
            "AND l.vintage = f.vintage AND coalesce(l.part, '') = f.part GROUP BY f.annee"
            if has_lineage
            else "SELECT DISTINCT annee, 'real' AS origin FROM _dvf_ruled"
        )
    )
    con.execute(_stats_sql(params))
    report = _report_frame(con)
    con.register("_dvf_report_df", report)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {MUTATIONS_TABLE} AS SELECT dataset, vintage, part, "
            "id_mutation, date_mutation, annee, semestre_incomplet, annee_incomplete, "
            "nature_mutation, "
            "valeur_fonciere, commune, dep, type, surface, pieces, n_maisons, n_appartements, "
            "n_autres, plusieurs_dispositions, plusieurs_communes, longitude, latitude, exclusion, "
            "CASE WHEN exclusion IS NULL THEN valeur_fonciere / surface END AS prix_m2 "
            "FROM _dvf_clean"
        )
        con.execute(f"CREATE OR REPLACE TABLE {REPORT_TABLE} AS SELECT * FROM _dvf_report_df")
        con.execute(f"CREATE OR REPLACE TABLE {MARKET_TABLE} AS SELECT * FROM _dvf_marche_new")
        con.execute(f"CREATE OR REPLACE TABLE {STATE_TABLE} AS SELECT ? AS fingerprint", [print_])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_dvf_report_df")
        con.execute("DROP VIEW IF EXISTS _dvf_rows")
        for name in (
            "_dvf_chosen",
            "_dvf_presence",
            "_dvf_files",
            "_dvf_file_end",
            "_dvf_locals",
            "_dvf_mut",
            "_dvf_ruled",
            "_dvf_bounds",
            "_dvf_clean",
            "_dvf_members",
            "_dvf_cover",
            "_dvf_grid",
            "_dvf_expected",
            "_dvf_origins",
            "_dvf_sales",
            "_dvf_stats",
            "_dvf_marche_new",
        ):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    totals = report[report["regle"] == "total"]
    kept = report[report["regle"] == "retenues"]
    return MarketReport(
        refreshed=True,
        mutations=int(totals["mutations"].sum()),
        kept=int(kept["mutations"].sum()),
        fingerprint=print_,
    )


def _report_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Cleaning report: per year, every rule with the mutations it removed and what is left."""
    counts = con.execute(
        "SELECT annee, coalesce(exclusion, '') AS exclusion, count(*) AS n, "
        "count(*) FILTER (WHERE semestre_incomplet) AS n_incomplet "
        "FROM _dvf_clean GROUP BY ALL"
    ).df()
    rows = []
    for year, part in counts.groupby("annee"):
        by_rule = dict(zip(part["exclusion"], part["n"], strict=True))
        total = int(part["n"].sum())
        left = total
        rows.append((int(year), 0, "total", "Mutations (toutes natures)", total, total))
        for order, (rule, label, _) in enumerate(RULES, start=1):
            removed = int(by_rule.get(rule, 0))
            left -= removed
            rows.append((int(year), order, rule, label, removed, left))
        rows.append(
            (int(year), len(RULES) + 1, "retenues", "Ventes retenues pour les prix", left, left)
        )
        flagged = int(part.loc[part["exclusion"] == "", "n_incomplet"].sum())
        rows.append(
            (
                int(year),
                len(RULES) + 2,
                INCOMPLETE_FLAG,
                "dont ventes retenues du dernier semestre (incomplet), signalées",
                flagged,
                left,
            )
        )
    return pd.DataFrame(
        rows, columns=["annee", "ordre", "regle", "libelle", "mutations", "restantes"]
    )


def cleaning_report(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The stored cleaning report (empty when no DVF was processed)."""
    if REPORT_TABLE not in _tables(con):
        return pd.DataFrame(columns=["annee", "ordre", "regle", "libelle", "mutations"])
    return con.execute(f"SELECT * FROM {REPORT_TABLE} ORDER BY annee, ordre").df()
