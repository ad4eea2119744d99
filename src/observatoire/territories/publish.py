"""Publish the referential, the project's territories and the legal populations into the
warehouse: the tables every later stage joins (``territories``, ``territory_communes``,
``ref_*``, ``population_legale``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from observatoire.project import Project
from observatoire.territories import referential
from observatoire.territories.harmonise import harmonised_populations
from observatoire.territories.perimeters import (
    Territory,
    official_territories,
    official_territory,
)
from observatoire.warehouse import LoadResult, Warehouse, sha256_frame


def publish_territories(warehouse: Warehouse, project: Project) -> None:
    """Write the referential and every territory's member communes into the warehouse."""
    warehouse.replace_table("ref_communes", referential.communes())
    warehouse.replace_table("ref_epci", referential.epcis())
    warehouse.replace_table("ref_departements", referential.departements())
    warehouse.replace_table("ref_regions", referential.regions())
    rows, member_ids, member_levels, member_codes = [], [], [], []
    all_territories = [
        t
        for level in ("epci", "departement", "region", "france")
        for t in official_territories(level)
    ]
    all_territories += list(project.territories)
    for t in all_territories:
        if t.level == "custom":
            parents = project.territories.parents(t.id)
            parent = parents[0] if parents else None
        else:  # the nearest official parent only (the chain is not needed here)
            parent = official_territory(t.parent[1], t.parent[0]) if t.parent else None
        rows.append(
            (
                t.id,
                t.level,
                t.nom,
                t.categorie,
                t.regle,
                t.size,
                parent.id if parent else None,
                parent.level if parent else None,
            )
        )
        codes = list(t.communes)
        member_ids.append(np.full(len(codes), t.id, dtype=object))
        member_levels.append(np.full(len(codes), t.level, dtype=object))
        member_codes.append(np.array(codes, dtype=object))
    communes = referential.communes()["code"].to_numpy(dtype=object)
    member_ids.append(communes)
    member_levels.append(np.full(len(communes), "commune", dtype=object))
    member_codes.append(communes)
    members = pd.DataFrame(
        {
            "territory_id": np.concatenate(member_ids),
            "level": np.concatenate(member_levels),
            "commune": np.concatenate(member_codes),
        }
    )
    territories = pd.DataFrame(
        rows,
        columns=[
            "territory_id",
            "level",
            "label",
            "category",
            "rule",
            "n_communes",
            "parent_id",
            "parent_level",
        ],
    )
    warehouse.replace_table("territories", territories)
    warehouse.replace_table("territory_communes", members)


# --------------------------------------------------------------------------- populations


def load_populations(
    warehouse: Warehouse, events_path: Path | None = None
) -> tuple[list[LoadResult], str, dict[int, int]]:
    """Load every embedded legal-population vintage, recoded to the referential's COG."""
    harmonised = harmonised_populations(events_path)
    how = "événements INSEE" if harmonised.method == "insee" else "passage du référentiel"
    results = []
    for annee, group in harmonised.table.groupby("annee", sort=True):
        frame = group.reset_index(drop=True)
        source = " ; ".join(sorted(frame["source"].dropna().unique(), key=lambda t: "Mayotte" in t))
        results.append(
            warehouse.load(
                frame,
                dataset="population_legale",
                vintage=int(annee),
                table="population_legale",
                sha256=sha256_frame(frame),
                origin="real",
                source=f"{source} ; recodé au COG {referential.REFERENTIAL_COG} ({how})",
                cog_vintage=referential.REFERENTIAL_COG,
            )
        )
    unresolved = {year: len(r.unknown_codes) for year, r in harmonised.reports.items()}
    return results, harmonised.method, unresolved


def territories_in_scope(project: Project) -> list[Territory]:
    """Custom territories, their member EPCI, their official parents and the references."""
    scope: dict[str, Territory] = {}
    tset = project.territories
    for territory in tset:
        scope[territory.key] = territory
        for level, code in territory.members:
            if level == "epci":
                epci = tset.get(f"epci:{code}")
                scope[epci.key] = epci
        for parent in tset.parents(territory.id):
            scope[parent.key] = parent
    for ref in project.settings.references:
        territory = tset.get(ref)
        scope[territory.key] = territory
    order = {"custom": 0, "epci": 1, "commune": 2, "departement": 3, "region": 4, "france": 5}
    return sorted(scope.values(), key=lambda t: (order[t.level], t.nom))
