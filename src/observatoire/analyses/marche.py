"""Real-estate market by sector: DVF sales inside any polygon (QPV, NPNRU site, town centre).

The cleaned sales (``dvf_mutations``, written by ``observatoire build``, see
:mod:`observatoire.indicators.market`) carry the coordinates of their dwelling when the file
was Etalab's geo-DVF (the raw DGFiP file has none: such sales cannot be placed and are
counted apart). A sale belongs to a sector when its point lies inside or on the edge of the
polygon (sectors may overlap: a sale then counts in each). Per sector × type × year: sales of
one dwelling, sales kept for prices, median and quartiles of the price and of the price per
m², with the same publication thresholds as the communes (``marche`` of
``diagnostics.yaml``): below them, « effectif insuffisant », never a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from observatoire.catalogue.diagnostics import MarketParams, load_diagnostics
from observatoire.errors import InputError
from observatoire.indicators.market import MUTATIONS_TABLE, PRICE_RULES, cleaning_report
from observatoire.project import Project
from observatoire.warehouse import Warehouse
from observatoire.xlsx import add_sheet

TYPE_LABELS = {"MAISON": "Maisons", "APPART": "Appartements"}


@dataclass
class SectorResult:
    figures: pd.DataFrame  # one row per sector × type × year
    unplaced: int  # sales of one dwelling without coordinates (raw DGFiP file)
    report: pd.DataFrame  # the cleaning report


def read_sectors(
    path: Path, name_field: str | None = None, keep: dict[str, tuple[str, ...]] | None = None
) -> gpd.GeoDataFrame:
    """Polygons of a GeoJSON (or any OGR file): columns ``secteur`` and ``geometry`` (4326);
    ``keep``: output column → candidate source fields (first found, case-insensitive; the
    column is None when none is present)."""
    try:
        frame = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"fichier de secteurs illisible ({exc})", path=path) from exc
    if frame.empty:
        raise InputError("aucun secteur dans le fichier", path=path)
    kinds = set(frame.geometry.geom_type.dropna())
    if not kinds or not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(
            "les secteurs doivent être des polygones (types lus : "
            + ", ".join(sorted(kinds) or ["aucun"])
            + ")",
            path=path,
        )
    if name_field is None:
        for candidate in (
            "nom",
            "name",
            "libelle",
            "perimetre",
            "lib_qp",
            "nom_qp",
            "code_qp",
            "id",
        ):
            if candidate in frame.columns:
                name_field = candidate
                break
    if name_field is not None and name_field not in frame.columns:
        raise InputError(
            f"champ « {name_field} » absent ; champs : {', '.join(map(str, frame.columns))}",
            path=path,
        )
    names = (
        frame[name_field].astype(str)
        if name_field is not None
        else pd.Series([f"secteur {i + 1}" for i in range(len(frame))])
    )
    if frame.crs is None:
        frame = frame.set_crs(4326)
    frame = frame.to_crs(4326)
    columns = {"secteur": names.to_numpy()}
    lower = {str(c).lower(): c for c in frame.columns}
    for target, candidates in (keep or {}).items():
        found = next((lower[c] for c in candidates if c in lower), None)
        columns[target] = frame[found].astype(str).to_numpy() if found is not None else None
    return gpd.GeoDataFrame(columns, geometry=frame.geometry.to_numpy(), crs=4326)


def _quantiles(values: pd.Series) -> tuple[float, float, float]:
    q = np.quantile(values.to_numpy(dtype="float64"), [0.25, 0.5, 0.75])
    return float(q[0]), float(q[1]), float(q[2])


def sector_figures(
    warehouse: Warehouse, sectors: gpd.GeoDataFrame, params: MarketParams
) -> SectorResult:
    """Market figures of each sector, from the cleaned sales of the warehouse."""
    if MUTATIONS_TABLE not in warehouse.tables():
        raise InputError(
            "aucune vente DVF nettoyée : chargez des fichiers DVF puis lancez « observatoire "
            "build »"
        )
    price_rules = ", ".join(f"'{r}'" for r in PRICE_RULES)
    sales = warehouse.query(
        f"SELECT annee, type, valeur_fonciere, surface, exclusion, annee_incomplete, "
        f"longitude, latitude "
        f"FROM {MUTATIONS_TABLE} WHERE type IS NOT NULL "
        f"AND (exclusion IS NULL OR exclusion IN ({price_rules}))"
    )
    located = sales["longitude"].notna() & sales["latitude"].notna()
    unplaced = int((~located).sum())
    sales = sales[located].reset_index(drop=True)
    points = gpd.GeoDataFrame(
        sales, geometry=gpd.points_from_xy(sales["longitude"], sales["latitude"]), crs=4326
    )
    joined = gpd.sjoin(points, sectors, predicate="intersects", how="inner")
    rows = []
    for (sector, kind, year), group in joined.groupby(["secteur", "type", "annee"]):
        kept = group[group["exclusion"].isna()]
        n = len(kept)
        # the year holds the incomplete last semester of its source and département
        incomplete = bool(group["annee_incomplete"].any())
        row = {
            "secteur": sector,
            "type": TYPE_LABELS.get(kind, kind),
            "annee": int(year),
            # volumes of a year holding the incomplete last semester: an under-count
            "ventes": None if incomplete else len(group),
            "ventes_retenues": None if incomplete else n,
            "semestre_incomplet": "oui" if incomplete else "",
        }
        if n >= params.threshold:
            q = _quantiles(kept["valeur_fonciere"])
            m2 = _quantiles(kept["valeur_fonciere"] / kept["surface"])
            row |= {"prix_median": q[1], "prix_m2_median": m2[1]}
            if n >= params.threshold_quartiles:
                row |= {"prix_q1": q[0], "prix_q3": q[2], "prix_m2_q1": m2[0], "prix_m2_q3": m2[2]}
        row["statut"] = (
            "publié"
            if n >= params.threshold_quartiles
            else "quartiles non publiés"
            if n >= params.threshold
            else "effectif insuffisant"
        )
        rows.append(row)
    columns = [
        "secteur",
        "type",
        "annee",
        "ventes",
        "ventes_retenues",
        "semestre_incomplet",
        "prix_median",
        "prix_q1",
        "prix_q3",
        "prix_m2_median",
        "prix_m2_q1",
        "prix_m2_q3",
        "statut",
    ]
    figures = pd.DataFrame(rows).reindex(columns=columns)
    return SectorResult(figures, unplaced, cleaning_report(warehouse.con))


VARIABLE_LABELS = {
    "VENTES": "ventes d'un logement seul",
    "N": "ventes retenues pour les prix",
    "PRIX_MED": "prix médian (€)",
    "PRIX_Q1": "premier quartile du prix (€)",
    "PRIX_Q3": "troisième quartile du prix (€)",
    "PXM2_MED": "prix médian au m² (€/m²)",
    "PXM2_Q1": "premier quartile du prix au m² (€/m²)",
    "PXM2_Q3": "troisième quartile du prix au m² (€/m²)",
    "EVOL_PXM2": "évolution annuelle du prix médian au m² (%)",
}
LEVEL_LABELS = {
    "commune": "commune",
    "epci": "EPCI",
    "departement": "département",
    "region": "région",
    "france": "France",
    "custom": "territoire du projet",
}


def _territory_sheet(rows: pd.DataFrame) -> pd.DataFrame:
    """``dvf_marche`` rows in French: labels, statuses in words."""
    kind = rows["variable"].str.extract(r"_(MAISON|APPART)$")[0]
    stat = rows["variable"].str.replace(r"^DVF_|_(MAISON|APPART)$", "", regex=True)
    status = np.where(
        rows["partial"],
        "territoire couvert en partie",
        np.where(rows["secret"], "effectif insuffisant", "publié"),
    )
    frame = pd.DataFrame(
        {
            "niveau": rows["level"].map(LEVEL_LABELS).fillna(rows["level"]),
            "code": rows["code"],
            "territoire": rows["nom"],
            "type": kind.map(TYPE_LABELS),
            "indicateur": stat.map(VARIABLE_LABELS).fillna(stat),
            "annee": rows["period"].astype(int),
            "valeur": rows["value"],
            "statut": status,
            # a count of the year of the incomplete semester is an under-count
            "ventes_retenues": rows["n"].where(rows["flags"] == ""),
            "semestre_incomplet": np.where(rows["flags"] != "", "oui", ""),
        }
    )
    return frame.sort_values(["niveau", "code", "type", "indicateur", "annee"])


def write_market_xlsx(
    project: Project, out: Path, sectors: gpd.GeoDataFrame | None
) -> tuple[Path, SectorResult | None]:
    """The market workbook: cleaning report, figures of the project's territories, sectors."""
    from openpyxl import Workbook

    params = load_diagnostics(project.root).market
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        report = cleaning_report(warehouse.con)
        if report.empty:
            raise InputError(
                "aucune vente DVF nettoyée : chargez des fichiers DVF puis lancez « observatoire "
                "build »"
            )
        ids = [t.id for t in project.territories]
        ids = [t.id for t in project.territories]
        territories = warehouse.query(
            "SELECT m.level, m.code, coalesce(t.label, r.nom, m.code) AS nom, m.variable, "
            "m.period, m.value, m.secret, m.partial, m.n, m.flags "
            "FROM dvf_marche m LEFT JOIN territories t ON t.territory_id = m.code "
            "AND t.level = m.level LEFT JOIN ref_communes r ON r.code = m.code "
            "AND m.level = 'commune' WHERE m.level <> 'commune' OR m.code IN "
            "(SELECT commune FROM territory_communes WHERE territory_id IN (SELECT unnest(?)))",
            [ids],
        )
        territories = _territory_sheet(territories)
        result = sector_figures(warehouse, sectors, params) if sectors is not None else None
    workbook = Workbook()

    def sheet(title: str, frame: pd.DataFrame, note: str) -> None:
        add_sheet(workbook, title, frame, note)

    workbook.remove(workbook.active)
    sheet(
        "Nettoyage",
        report,
        "Règles appliquées dans l'ordre ; mutations écartées par chacune et restantes",
    )
    sheet(
        "Territoires",
        territories,
        "Chiffres du marché par territoire : médianes calculées sur toutes les ventes du "
        "territoire ; sans valeur quand l'effectif est insuffisant ou le territoire couvert "
        "en partie par les fichiers chargés",
    )
    if result is not None:
        sheet(
            "Secteurs",
            result.figures,
            f"Ventes situées dans chaque secteur ; {result.unplaced} vente(s) sans coordonnées "
            "(fichier DGFiP brut) ne peuvent pas être placées",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return out, result
