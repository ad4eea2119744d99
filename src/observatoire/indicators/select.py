"""Reading the indicator table back: selection of territories and indicators, comparisons
with parents and reference territories."""

from __future__ import annotations

import numpy as np
import pandas as pd

from observatoire.errors import InputError
from observatoire.indicators.build import VALUE_TABLE
from observatoire.indicators.catalogue import IndicatorCatalogue
from observatoire.project import Project
from observatoire.territories import referential
from observatoire.territories.perimeters import Territory
from observatoire.territories.publish import territories_in_scope
from observatoire.warehouse import Warehouse

LEVELS = ("commune", "epci", "departement", "region", "france", "custom")
POINT_UNITS = ("%", "%/an", "‰")


def selected_territories(
    project: Project,
    territory_ids: list[str] | None = None,
    level: str | None = None,
    everything: bool = False,
) -> tuple[list[Territory], str | None]:
    """Territories named on the command line (``--territoire``), plus a whole level
    (``--niveau``) or the project's scope (``--tous``: its territories, their member EPCI
    and their parents up to France). Default: the project's scope."""
    chosen: dict[str, Territory] = {}
    for tid in territory_ids or []:
        territory = project.territories.get(tid)
        chosen[territory.key] = territory
    if level is not None and level not in LEVELS:
        raise InputError(f"niveau « {level} » inconnu ; niveaux possibles : {', '.join(LEVELS)}")
    if everything or (not territory_ids and level is None):
        for territory in territories_in_scope(project):
            chosen[territory.key] = territory
    return list(chosen.values()), level


def read_values(
    warehouse: Warehouse,
    territories: list[Territory],
    level: str | None = None,
    indicator_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Rows of the indicator table for these territories (and every territory of ``level``)."""
    if VALUE_TABLE not in warehouse.tables():
        raise InputError("aucun indicateur calculé : lancez d'abord « observatoire build »")
    keys = pd.DataFrame(
        {"territory_id": [t.id for t in territories], "level": [t.level for t in territories]},
        columns=["territory_id", "level"],
    )
    con = warehouse.con
    con.register("_keys", keys)
    conditions = ["(territory_id, level) IN (SELECT (territory_id, level) FROM _keys)"]
    params: list[object] = []
    if level is not None:
        conditions.append("level = ?")
        params.append(level)
    where = " OR ".join(conditions)
    sql = f"SELECT * FROM {VALUE_TABLE} WHERE ({where})"
    if indicator_ids:
        sql += " AND indicator_id IN (SELECT unnest(?))"
        params.append(list(indicator_ids))
    try:
        table = con.execute(
            sql + " ORDER BY level, territory_id, indicator_id, period", params
        ).df()
    finally:
        con.unregister("_keys")
    return table


def indicator_ids_for(
    catalogue: IndicatorCatalogue, ids: list[str] | None, theme: str | None
) -> list[str] | None:
    """Indicator ids from ``--indicateur`` and ``--theme`` (validated), None for all."""
    if not ids and not theme:
        return None
    out = [catalogue.get(i).id for i in ids or []]
    if theme:
        if theme not in catalogue.themes:
            raise InputError(
                f"thème « {theme} » inconnu ; thèmes : {', '.join(sorted(catalogue.themes))}"
            )
        out += list(catalogue.themes[theme].indicators)
    return list(dict.fromkeys(out))


def comparisons(
    warehouse: Warehouse,
    project: Project,
    territory: Territory,
    catalogue: IndicatorCatalogue,
) -> pd.DataFrame:
    """A territory against its official parents and the project's references.

    One row per indicator, period and comparison territory: the territory's value and status,
    the other's, and the difference (in points for rates and shares, none for counts)."""
    others: dict[str, Territory] = {}
    for parent in project.territories.parents(
        territory.key if territory.level != "custom" else territory.id
    ):
        others[parent.key] = parent
    for ref in project.settings.references:
        ref_territory = project.territories.get(ref)
        if ref_territory.key != territory.key:
            others.setdefault(ref_territory.key, ref_territory)
    base = read_values(warehouse, [territory])
    if base.empty:
        return base
    rows = read_values(warehouse, list(others.values()))
    base = base.merge(peer_ranks(warehouse, territory), on=["indicator_id", "period"], how="left")
    base = base[
        ["indicator_id", "period", "value", "status", "unit", "rank", "peers", "peer_group"]
    ]
    rows = rows[
        ["territory_id", "territory_label", "level", "indicator_id", "period", "value", "status"]
    ]
    merged = base.merge(
        rows, on=["indicator_id", "period"], suffixes=("", "_reference"), how="left"
    )
    merged = merged.rename(
        columns={
            "territory_id": "reference_id",
            "territory_label": "reference_label",
            "level": "reference_level",
        }
    )
    points = merged["unit"].isin(POINT_UNITS)
    merged["difference"] = (merged["value"] - merged["value_reference"]).where(points)
    return merged


def peer_groups(warehouse: Warehouse) -> pd.DataFrame:
    """Peers of each official territory: communes of the same EPCI, EPCI of the same région,
    départements of the same région, régions of France."""
    com = referential.communes()
    deps = referential.departements().set_index("code")["reg"]
    rows = [
        pd.DataFrame(
            {
                "territory_id": com["code"],
                "level": "commune",
                "peer_group": np.where(
                    com["epci"].notna(), "epci:" + com["epci"].fillna(""), "dep:" + com["dep"]
                ),
            }
        )
    ]
    territories = warehouse.query("SELECT territory_id, level, parent_id FROM territories")
    epci = territories[territories["level"] == "epci"]
    rows.append(
        pd.DataFrame(
            {
                "territory_id": epci["territory_id"],
                "level": "epci",
                "peer_group": "reg:" + epci["parent_id"].map(deps).fillna("?"),
            }
        )
    )
    dep = territories[territories["level"] == "departement"]
    rows.append(
        pd.DataFrame(
            {
                "territory_id": dep["territory_id"],
                "level": "departement",
                "peer_group": "reg:" + dep["territory_id"].map(deps),
            }
        )
    )
    reg = territories[territories["level"] == "region"]
    rows.append(
        pd.DataFrame({"territory_id": reg["territory_id"], "level": "region", "peer_group": "FR"})
    )
    return pd.concat(rows, ignore_index=True)


def peer_ranks(warehouse: Warehouse, territory: Territory) -> pd.DataFrame:
    """Rank of a territory (1 = highest value) among its peers with a value, by indicator and
    period: communes of its EPCI, EPCI or départements of its région, régions of France."""
    peers = peer_groups(warehouse)
    mine = peers[(peers["territory_id"] == territory.id) & (peers["level"] == territory.level)]
    if mine.empty:
        return pd.DataFrame(columns=["indicator_id", "period", "rank", "peers", "peer_group"])
    group = mine["peer_group"].iloc[0]
    same = peers[(peers["peer_group"] == group) & (peers["level"] == territory.level)]
    con = warehouse.con
    con.register("_peer_ids", same[["territory_id"]])
    try:
        ranks = con.execute(
            f"""
            SELECT indicator_id, period, territory_id,
                   rank() OVER (PARTITION BY indicator_id, period ORDER BY value DESC) AS rank,
                   count(*) OVER (PARTITION BY indicator_id, period) AS peers
            FROM {VALUE_TABLE}
            WHERE level = ? AND value IS NOT NULL
              AND territory_id IN (SELECT territory_id FROM _peer_ids)
            """,
            [territory.level],
        ).df()
    finally:
        con.unregister("_peer_ids")
    ranks = ranks[ranks["territory_id"] == territory.id].drop(columns="territory_id")
    return ranks.assign(peer_group=group)
