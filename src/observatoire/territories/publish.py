"""Publish the referential, the project's territories and the legal populations into the
warehouse: the tables every later stage joins (``territories``, ``territory_communes``,
``ref_*``, ``population_legale``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from observatoire.project import Project
from observatoire.territories import referential
from observatoire.territories.harmonise import harmonised_populations
from observatoire.territories.perimeters import Territory, official_territories
from observatoire.warehouse import LoadResult, Warehouse, sha256_frame


def publish_territories(warehouse: Warehouse, project: Project) -> None:
    """Write the referential and every territory's member communes into the warehouse."""
    warehouse.replace_table("ref_communes", referential.communes())
    warehouse.replace_table("ref_epci", referential.epcis())
    warehouse.replace_table("ref_departements", referential.departements())
    warehouse.replace_table("ref_regions", referential.regions())
    rows, members = [], []
    all_territories = [
        t
        for level in ("epci", "departement", "region", "france")
        for t in official_territories(level)
    ]
    all_territories += list(project.territories)
    for t in all_territories:
        parents = project.territories.parents(t.id if t.level == "custom" else t.key)
        rows.append(
            (
                t.id,
                t.level,
                t.nom,
                t.categorie,
                t.regle,
                t.size,
                parents[0].id if parents else None,
                parents[0].level if parents else None,
            )
        )
        members.append(
            pd.DataFrame({"territory_id": t.id, "level": t.level, "commune": list(t.communes)})
        )
    communes = referential.communes()
    members.append(
        pd.DataFrame(
            {"territory_id": communes["code"], "level": "commune", "commune": communes["code"]}
        )
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
    warehouse.replace_table("territory_communes", pd.concat(members, ignore_index=True))


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
