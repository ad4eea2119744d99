"""``observatoire build``: recompute the indicator table after loads — only what changed.

Every indicator has a fingerprint: its catalogue entry, the lineage (file checksums) of the
editions it reads, the territories and the engine version. An indicator whose fingerprint is
unchanged since the last build is kept as it is; the others (and the derived indicators that
read them) are recomputed and their rows replaced, in one transaction.

Tables written: ``indicator_cells`` (one row per territory, indicator and period: numbers and
a status code, with integer keys), ``indicator_columns`` and ``indicator_territories`` (the
dimensions: indicator, period, unit, source, origin, flags; territory id, level, label) and
``indicator_build`` (the fingerprint of each indicator); ``indicator_values`` is a view joining
them into the indicator table of ``architecture.md`` (plus ``members``,
``members_with_value``, ``flags``, ``origin``) — storing the long strings once per column
and territory keeps a national build fast.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import duckdb
import numpy as np
import pandas as pd

from observatoire.catalogue.diagnostics import load_diagnostics
from observatoire.indicators import market
from observatoire.indicators.catalogue import Indicator, IndicatorCatalogue, indicator_catalogue
from observatoire.indicators.engine import VALUES_SELECT, Computed, Territories, compute_into
from observatoire.indicators.facts import FactSources, build_facts
from observatoire.project import Project
from observatoire.territories.publish import load_populations, publish_territories
from observatoire.warehouse import Warehouse

ENGINE_VERSION = "2"  # 2: member counts in the territory dimension
VALUE_TABLE = "indicator_values"  # a view: the indicator table of architecture.md
CELLS_TABLE = "indicator_cells"  # trow, col, value, numerator, denominator, status code…
COLUMNS_TABLE = "indicator_columns"  # col → indicator, period, unit, source, origin, flags
TERRITORIES_TABLE = "indicator_territories"  # trow → territory id, level, label, members
STATE_TABLE = "indicator_build"


@dataclass
class BuildReport:
    recomputed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    territories: int = 0
    market: market.MarketReport = field(default_factory=lambda: market.MarketReport(False))


def project_territories(warehouse: Warehouse) -> Territories:
    """Every territory published in the warehouse (communes, EPCI, départements, régions,
    France, custom) with its member communes."""
    members = warehouse.query("SELECT territory_id, level, commune AS code FROM territory_communes")
    frame = warehouse.query(
        "SELECT territory_id, level, label AS territory_label, '' AS k1, '' AS k2 "
        "FROM territories UNION ALL "
        "SELECT code, 'commune', nom, dep, coalesce(epci, chr(65535)) FROM ref_communes "
        "ORDER BY level, k1, k2, territory_id"
    ).drop(columns=["k1", "k2"])
    return Territories(frame=frame, members=members)


def _territory_hash(territories: Territories) -> str:
    """A checksum of every territory's members and label, whatever their order."""
    digest = hashlib.sha256()
    for frame, columns in (
        (territories.members, ["territory_id", "level", "code"]),
        (territories.frame, ["territory_id", "level", "territory_label"]),
    ):
        rows = pd.util.hash_pandas_object(frame[columns].astype(str), index=False).to_numpy()
        digest.update(np.sort(rows).tobytes())
    return digest.hexdigest()


def _fingerprints(
    warehouse: Warehouse,
    catalogue: IndicatorCatalogue,
    territory_hash: str,
    sources: FactSources,
    derived_tables: dict[str, str] | None = None,
) -> dict[str, str]:
    """Fingerprint of every indicator from its definition and the editions it can read
    (``derived_tables``: dataset → fingerprint of a table computed from loaded files, as the
    DVF market figures, which are not in the lineage)."""
    lineage = warehouse.lineage()
    checksums = (
        lineage.groupby(["dataset", "vintage"])["sha256"].apply(lambda s: ",".join(sorted(s)))
        if not lineage.empty
        else pd.Series(dtype=str)
    )
    derived_tables = derived_tables or {}
    by_variable: dict[str, list[str]] = {}
    for row in sources.editions.itertuples(index=False):
        key = (row.dataset, str(row.vintage))
        checksum = checksums.get(key, "") or derived_tables.get(row.dataset, "")
        by_variable.setdefault(row.variable, []).append(
            f"{row.dataset}:{row.vintage}:{row.period}:{checksum}:{row.rows}"
        )
        if str(row.variable).startswith("BPE_GAMME_"):
            # the gamme counts also read INSEE's gamme table of the period's vintage
            gammes = checksums.get(("bpe_gammes", str(row.period)), "")
            by_variable[row.variable].append(f"bpe_gammes:{row.period}:{gammes}")
    out: dict[str, str] = {}
    for ind in catalogue.evaluation_order():
        digest = hashlib.sha256()
        digest.update(ENGINE_VERSION.encode())
        digest.update(json.dumps(asdict(ind), sort_keys=True, default=str).encode())
        digest.update(territory_hash.encode())
        for variable in sorted(ind.variables()):
            digest.update("|".join(sorted(by_variable.get(variable, []))).encode())
        for dep in ind.inputs:
            digest.update(out[dep].encode())
        out[ind.id] = digest.hexdigest()
    return out


def build(
    project: Project,
    *,
    force: bool = False,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Recompute the indicators whose inputs changed (all with ``force``)."""
    say = progress or (lambda _msg: None)
    catalogue = indicator_catalogue()
    report = BuildReport()
    started = time.perf_counter()
    with Warehouse(project.settings.warehouse_path) as warehouse:
        warehouse.con.execute("SET enable_progress_bar = false")
        say("Territoires et référentiel → entrepôt")
        publish_territories(warehouse, project)
        if "population_legale" not in warehouse.tables():
            say("Populations légales réelles → entrepôt")
            load_populations(warehouse)
        territories = project_territories(warehouse)
        report.territories = len(territories.frame)
        territory_hash = _territory_hash(territories)
        say("Marché immobilier (DVF) : nettoyage et médianes")
        params = load_diagnostics(project.root).market
        report.market = market.refresh(warehouse.con, params, territory_hash, force=force)
        say("Empreintes des indicateurs")
        variables = set().union(*(i.variables() for i in catalogue.indicators.values()))
        sources = build_facts(warehouse.con, variables)
        derived = {market.MARKET_DATASET: report.market.fingerprint}
        prints = _fingerprints(warehouse, catalogue, territory_hash, sources, derived)
        previous = {} if force else _previous_state(warehouse)
        # Ids no longer in the catalogue are forgotten (their cells are dropped on write);
        # stored cells are keyed by territory row: other territories → recompute everything.
        previous = {k: v for k, v in previous.items() if k in catalogue.indicators}
        if previous and _territories_changed(warehouse, territories):
            previous = {}
        wanted = set(only) if only and previous else set(catalogue.indicators)
        todo = [
            i
            for i in catalogue.evaluation_order()
            if i.id in wanted and previous.get(i.id) != prints[i.id]
        ]
        report.unchanged = sorted(set(catalogue.indicators) - {i.id for i in todo})
        report.recomputed = [i.id for i in todo]
        if todo:
            say(f"Calcul de {len(todo)} indicateur(s)")
            computed = compute_into(
                warehouse.con,
                catalogue,
                territories,
                todo,
                origins=_origins(warehouse),
                sources=sources,
            )
            say("Écriture de la table des indicateurs")
            state = {**previous, **{i.id: prints[i.id] for i in todo}}
            _write(warehouse, computed, todo, state, project.settings.cog)
        report.rows = int(warehouse.query(f"SELECT count(*) AS n FROM {CELLS_TABLE}")["n"][0])
    report.seconds = time.perf_counter() - started
    return report


def _territories_changed(warehouse: Warehouse, territories: Territories) -> bool:
    """Whether the stored territory rows differ from the project's current ones."""
    if TERRITORIES_TABLE not in warehouse.tables():
        return True
    stored = warehouse.query(
        f"SELECT territory_id, level, territory_label FROM {TERRITORIES_TABLE} ORDER BY trow"
    )
    current = territories.frame[["territory_id", "level", "territory_label"]].reset_index(drop=True)
    if len(stored) != len(current):
        return True
    return not stored.astype(str).equals(current.astype(str))


def _current_layout(warehouse: Warehouse) -> bool:
    """The cells, their dimensions and the view are all there (not an older layout)."""
    return {CELLS_TABLE, COLUMNS_TABLE, TERRITORIES_TABLE, VALUE_TABLE} <= set(warehouse.tables())


def _previous_state(warehouse: Warehouse) -> dict[str, str]:
    """Fingerprints of the last build, or nothing when the table must be rebuilt whole."""
    tables = warehouse.tables()
    if STATE_TABLE not in tables or not _current_layout(warehouse):
        return {}
    state = warehouse.query(f"SELECT indicator_id, fingerprint FROM {STATE_TABLE}")
    return dict(zip(state["indicator_id"], state["fingerprint"], strict=True))


def _origins(warehouse: Warehouse) -> dict[tuple[str, str], str]:
    lineage = warehouse.lineage()
    out: dict[tuple[str, str], str] = {}
    for row in lineage.itertuples(index=False):
        key = (row.dataset, str(row.vintage))
        if row.origin == "simulated" or key not in out:
            out[key] = row.origin
    if market.MARKET_TABLE in warehouse.tables():
        market_origins = warehouse.query(
            f"SELECT vintage, bool_or(origin = 'simulated') AS simulated "
            f"FROM {market.MARKET_TABLE} GROUP BY vintage"
        )
        for row in market_origins.itertuples(index=False):
            out[(market.MARKET_DATASET, str(row.vintage))] = (
                "simulated" if row.simulated else "real"
            )
    return out


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    row = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = 'main'",
        [name],
    ).fetchone()
    if row is not None:
        con.execute(f"DROP {'VIEW' if row[0] == 'VIEW' else 'TABLE'} {name}")


def _write(
    warehouse: Warehouse, computed: Computed, todo: list[Indicator], state: dict[str, str], cog: int
) -> None:
    """Replace the cells of the recomputed indicators, in one transaction, with their
    dimensions and fingerprints; ``indicator_values`` is a view over them."""
    con = warehouse.con
    with warehouse.transaction():
        tables = set(warehouse.tables())
        everything = set(indicator_catalogue().indicators) <= {i.id for i in todo}
        everything = everything or not _current_layout(warehouse)
        offset = 0
        columns = computed.columns.copy()
        columns["cog_vintage"] = int(cog)
        con.register("_new_cells", computed.cells)
        con.register("_new_columns", columns)
        con.register("_new_territories", computed.territories)
        try:
            if everything:
                _drop_relation(con, VALUE_TABLE)  # a view, or a table of older versions
                con.execute(f"CREATE OR REPLACE TABLE {CELLS_TABLE} AS SELECT * FROM _new_cells")
                con.execute(
                    f"CREATE OR REPLACE TABLE {COLUMNS_TABLE} AS SELECT * FROM _new_columns"
                )
                con.execute(
                    f"CREATE OR REPLACE TABLE {TERRITORIES_TABLE} AS SELECT * FROM _new_territories"
                )
            else:
                # The recomputed ones, and ids that left the catalogue.
                gone = set(
                    warehouse.query(f"SELECT DISTINCT indicator_id FROM {COLUMNS_TABLE}")[
                        "indicator_id"
                    ]
                ) - set(indicator_catalogue().indicators)
                ids = pd.DataFrame({"indicator_id": [i.id for i in todo] + sorted(gone)})
                con.register("_todo_ids", ids)
                con.execute(
                    f"DELETE FROM {CELLS_TABLE} WHERE col IN (SELECT col FROM {COLUMNS_TABLE} "
                    "WHERE indicator_id IN (SELECT indicator_id FROM _todo_ids))"
                )
                con.execute(
                    f"DELETE FROM {COLUMNS_TABLE} WHERE indicator_id IN "
                    "(SELECT indicator_id FROM _todo_ids)"
                )
                con.unregister("_todo_ids")
                row = con.execute(f"SELECT coalesce(max(col) + 1, 0) FROM {COLUMNS_TABLE}")
                offset = int(row.fetchone()[0])
                con.execute(
                    f"INSERT INTO {CELLS_TABLE} SELECT * REPLACE (col + {offset} AS col) "
                    "FROM _new_cells"
                )
                con.execute(
                    f"INSERT INTO {COLUMNS_TABLE} SELECT * REPLACE (col + {offset} AS col) "
                    "FROM _new_columns"
                )
        finally:
            for name in ("_new_cells", "_new_columns", "_new_territories"):
                con.unregister(name)
        if VALUE_TABLE not in tables or everything:
            select = VALUES_SELECT.format(
                cog="c.cog_vintage",
                cells=CELLS_TABLE,
                columns=COLUMNS_TABLE,
                territories=TERRITORIES_TABLE,
            )
            con.execute(f"CREATE OR REPLACE VIEW {VALUE_TABLE} AS {select}")
        frame = pd.DataFrame({"indicator_id": list(state), "fingerprint": list(state.values())})
        con.register("_state", frame)
        con.execute(f"CREATE OR REPLACE TABLE {STATE_TABLE} AS SELECT * FROM _state")
        con.unregister("_state")
