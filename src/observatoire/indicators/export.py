"""Exports of the indicator table: CSV, JSON, Parquet (machine formats), XLSX for French
users, GeoPackage for QGIS.

- CSV: UTF-8, comma separator, dot decimal (the architecture contract); ``excel=True`` gives
  the French flavour instead (UTF-8 with BOM, semicolon, decimal comma).
- XLSX: one sheet per theme (territories × indicator-periods, French number formats through
  Excel's locale, frozen headers; a cell that has no value says why: « secret », « non
  additif », « manquant »; an incomplete value is in italics with a comment), then sheets
  « Définitions », « Sources », « Licences », « Millésimes » and « Statuts ». The exports are
  the agency's own: restricted indicators (LOVAC…) stay in them, and « Définitions » and
  « Sources » say « diffusion restreinte » in their « Diffusion » column (not to be published).
- GeoPackage: one layer per level, one feature per territory, one column per indicator and
  period plus its status column.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from observatoire.errors import InputError
from observatoire.indicators.catalogue import IndicatorCatalogue
from observatoire.indicators.engine import INDICATOR_COLUMNS
from observatoire.territories import referential

FORMATS = ("csv", "xlsx", "json", "parquet", "gpkg")

STATUS_LABELS = {
    "ok": "valeur publiée ou calculée sur toutes les communes membres",
    "secret": "non diffusé (secret statistique de la source ou effectif sous le seuil)",
    "incomplete": (
        "valeur partielle : au moins une commune membre est secrète, manquante ou issue d'une "
        "scission (la valeur porte sur les autres communes)"
    ),
    "non_additive": (
        "non additif (médiane, décile, taux de pauvreté) : non calculable par agrégation pour "
        "ce territoire, jamais une moyenne de médianes"
    ),
    "missing": "aucune donnée chargée pour ce territoire et ce millésime",
}
CELL_TEXT = {
    "secret": "secret",
    "non_additive": "non additif",
    "missing": "manquant",
    "incomplete": "partiel (non publié)",
}
LEVEL_LABELS = {
    "commune": "Commune",
    "epci": "EPCI",
    "departement": "Département",
    "region": "Région",
    "france": "France",
    "custom": "Territoire du projet",
}
LICENCES = {
    "INSEE": (
        "Licence Ouverte / Open Licence 2.0 (Etalab) — réutilisation libre avec mention de la "
        "source et de la date"
    ),
    "populations légales": "Licence Ouverte / Open Licence 2.0 (Etalab)",
    "Cerema": (
        "Licence Ouverte / Open Licence (Etalab), fichier LOVAC en open data — chiffres à "
        "diffusion restreinte dans l'observatoire"
    ),
}
RESTRICTED_TEXT = "diffusion restreinte"
_LEVEL_ORDER = {"custom": 0, "commune": 1, "epci": 2, "departement": 3, "region": 4, "france": 5}


def export(
    table: pd.DataFrame,
    path: Path,
    fmt: str,
    *,
    catalogue: IndicatorCatalogue,
    excel: bool = False,
    lineage: pd.DataFrame | None = None,
    members: pd.DataFrame | None = None,
) -> Path:
    """Write ``table`` (indicator-table rows) to ``path`` in format ``fmt``."""
    if fmt not in FORMATS:
        raise InputError(f"format « {fmt} » inconnu ; formats possibles : {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = table[[c for c in table.columns if c in (*INDICATOR_COLUMNS, "rank", "peers")]]
    if fmt == "csv":
        if excel:
            table.to_csv(path, index=False, sep=";", decimal=",", encoding="utf-8-sig")
        else:
            table.to_csv(path, index=False, encoding="utf-8")
    elif fmt == "json":
        records = json.loads(table.to_json(orient="records", force_ascii=False))
        path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    elif fmt == "parquet":
        table.to_parquet(path, index=False)
    elif fmt == "xlsx":
        write_xlsx(table, path, catalogue=catalogue, lineage=lineage)
    else:
        write_geopackage(table, path, catalogue=catalogue, members=members)
    return path


def _column_label(catalogue: IndicatorCatalogue, indicator_id: str, period: str) -> str:
    ind = catalogue.indicators[indicator_id]
    return f"{ind.label} ({ind.unit}) — {period}"


def _number_format(decimals: int) -> str:
    return "#,##0" if decimals <= 0 else "#,##0." + "0" * decimals


def _ordered_territories(table: pd.DataFrame) -> pd.DataFrame:
    terr = table[["territory_id", "territory_label", "level"]].drop_duplicates()
    terr = terr.assign(_order=terr["level"].map(_LEVEL_ORDER).fillna(9))
    return terr.sort_values(["_order", "territory_id"]).drop(columns="_order")


def write_xlsx(
    table: pd.DataFrame,
    path: Path,
    *,
    catalogue: IndicatorCatalogue,
    lineage: pd.DataFrame | None = None,
) -> None:
    """Workbook for French users: one sheet per theme plus metadata sheets."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDE5F0")
    italic = Font(italic=True)
    grey = Font(italic=True, color="666666")
    workbook = Workbook()
    workbook.remove(workbook.active)
    territories = _ordered_territories(table)
    index = pd.MultiIndex.from_frame(territories[["territory_id", "level"]])
    present = set(table["indicator_id"])
    for theme, indicators in catalogue.by_theme():
        chosen = [i for i in indicators if i.id in present]
        if not chosen:
            continue
        sheet = workbook.create_sheet(title=theme.label[:31])
        headers = ["Code", "Territoire", "Niveau"]
        columns: list[tuple[str, str]] = []
        for ind in chosen:
            periods = sorted(table.loc[table["indicator_id"] == ind.id, "period"].unique())
            for period in periods:
                columns.append((ind.id, period))
                headers.append(_column_label(catalogue, ind.id, period))
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = bold
            cell.fill = header_fill
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        sub = table[table["indicator_id"].isin([i.id for i in chosen])]
        cells = sub.set_index(["territory_id", "level", "indicator_id", "period"])
        for row_number, (tid, level) in enumerate(index, start=2):
            label = territories.iloc[row_number - 2]["territory_label"]
            sheet.cell(row=row_number, column=1, value=tid)
            sheet.cell(row=row_number, column=2, value=label)
            sheet.cell(row=row_number, column=3, value=LEVEL_LABELS.get(level, level))
            for col_number, (iid, period) in enumerate(columns, start=4):
                key = (tid, level, iid, period)
                if key not in cells.index:
                    continue
                rec = cells.loc[key]
                rec = rec.iloc[0] if isinstance(rec, pd.DataFrame) else rec
                cell = sheet.cell(row=row_number, column=col_number)
                status = rec["status"]
                if status in ("ok", "incomplete") and pd.notna(rec["value"]):
                    cell.value = float(rec["value"])
                    cell.number_format = _number_format(catalogue.indicators[iid].decimals)
                    if status == "incomplete":
                        cell.font = italic
                        cell.comment = Comment(
                            f"Valeur partielle : {rec['members_with_value']} commune(s) sur "
                            f"{rec['members']} avec une valeur.",
                            "Observatoire",
                        )
                else:
                    cell.value = CELL_TEXT.get(status, status)
                    cell.font = grey
        sheet.freeze_panes = "D2"
        sheet.column_dimensions["A"].width = 12
        sheet.column_dimensions["B"].width = 34
        sheet.column_dimensions["C"].width = 14
        for col_number in range(4, len(headers) + 1):
            sheet.column_dimensions[get_column_letter(col_number)].width = 16
        sheet.row_dimensions[1].height = 60
        sheet.auto_filter.ref = sheet.dimensions
    _metadata_sheets(workbook, table, catalogue, lineage, bold, header_fill)
    workbook.save(path)


def _append_table(sheet, headers: list[str], rows: list[list], bold, fill) -> None:
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = bold
        cell.fill = fill
    for row in rows:
        sheet.append([None if _is_na(v) else v for v in row])
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGHIJ", (28, 40, 60, 18, 14, 14, 40, 40), strict=False):
        sheet.column_dimensions[letter].width = width


def _is_na(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _metadata_sheets(workbook, table, catalogue, lineage, bold, fill) -> None:
    present = set(table["indicator_id"])
    kinds = {
        "count": "effectif (somme)",
        "ratio": "ratio des sommes",
        "growth": "évolution",
        "derived": "calculé à partir d'autres indicateurs",
        "non_additive": "non additif",
    }
    polarity = {"positive": "hausse favorable", "negative": "baisse favorable", "neutral": "neutre"}
    rows = []
    for theme, indicators in catalogue.by_theme():
        for ind in indicators:
            if ind.id in present:
                rows.append(
                    [
                        ind.id,
                        ind.label,
                        ind.definition,
                        theme.label,
                        ind.unit,
                        kinds[ind.kind],
                        polarity[ind.polarity],
                        ind.secrecy,
                        RESTRICTED_TEXT if ind.restricted else "",
                    ]
                )
    _append_table(
        workbook.create_sheet("Définitions"),
        [
            "Identifiant",
            "Libellé",
            "Définition",
            "Thème",
            "Unité",
            "Nature",
            "Polarité",
            "Secret",
            "Diffusion",
        ],
        rows,
        bold,
        fill,
    )
    restricted = {i.id for i in catalogue.indicators.values() if i.restricted}
    sources = table[["indicator_id", "period", "source", "origin"]].drop_duplicates()
    sources = sources.sort_values(["indicator_id", "period"])
    _append_table(
        workbook.create_sheet("Sources"),
        ["Indicateur", "Période", "Source", "Nature des données", "Diffusion"],
        [
            [
                r.indicator_id,
                r.period,
                r.source,
                "SIMULÉES" if r.origin == "simulated" else "réelles",
                RESTRICTED_TEXT if r.indicator_id in restricted else "",
            ]
            for r in sources.itertuples(index=False)
        ],
        bold,
        fill,
    )
    used = sorted({part for text in sources["source"].dropna() for part in text.split(" ; ")})
    _append_table(
        workbook.create_sheet("Licences"),
        ["Source", "Licence"],
        [[text, _licence(text)] for text in used],
        bold,
        fill,
    )
    vintages = (
        table.groupby("indicator_id")
        .agg(periods=("period", lambda s: ", ".join(sorted(set(s)))), cog=("cog_vintage", "max"))
        .reset_index()
    )
    rows = [[r.indicator_id, r.periods, int(r.cog)] for r in vintages.itertuples(index=False)]
    if lineage is not None and not lineage.empty:
        rows.append([])
        rows.append(["Fichiers chargés (lignage)", "", ""])
        for r in lineage.itertuples(index=False):
            rows.append([f"{r.dataset} {r.vintage}", r.source, r.cog_vintage])
    _append_table(
        workbook.create_sheet("Millésimes"),
        ["Indicateur", "Périodes disponibles", "COG (géographie)"],
        rows,
        bold,
        fill,
    )
    _append_table(
        workbook.create_sheet("Statuts"),
        ["Statut", "Signification", "Affichage dans les feuilles"],
        [
            [k, v, CELL_TEXT.get(k, "valeur (en italique si partielle)")]
            for k, v in STATUS_LABELS.items()
        ],
        bold,
        fill,
    )


def _licence(source: str) -> str:
    if source.startswith("INSEE"):
        return LICENCES["INSEE"]
    if source.startswith("Cerema"):
        return LICENCES["Cerema"]
    return "voir la page de l'éditeur"


def _shapes(level: str, territories: pd.DataFrame, members: pd.DataFrame | None) -> pd.Series:
    """Geometry of each territory of a level (custom ones: union of member communes)."""
    if level != "custom":
        geo = referential.geometries(level)
        return geo.set_index("code")["geometry"]
    if members is None:
        return pd.Series(dtype=object)
    communes = referential.geometries("commune").set_index("code")["geometry"]
    shapes = {}
    for tid, group in members.groupby("territory_id"):
        codes = [c for c in group["code"] if c in communes.index]
        shapes[tid] = shapely.union_all(communes.loc[codes].to_numpy())
    return pd.Series(shapes)


def write_geopackage(
    table: pd.DataFrame,
    path: Path,
    *,
    catalogue: IndicatorCatalogue,
    members: pd.DataFrame | None = None,
) -> None:
    """One layer per level; one column per indicator × period and its status."""
    if path.exists():
        path.unlink()
    written = 0
    for level, sub in table.groupby("level", sort=False):
        wide = sub.assign(column=sub["indicator_id"] + "_" + sub["period"].str.replace("-", "_"))
        values = wide.pivot_table(
            index=["territory_id", "territory_label"],
            columns="column",
            values="value",
            aggfunc="first",
            dropna=False,
        )
        statuses = wide.pivot_table(
            index=["territory_id", "territory_label"],
            columns="column",
            values="status",
            aggfunc="first",
        ).add_suffix("_statut")
        frame = values.join(statuses).reset_index()
        shapes = _shapes(str(level), frame, members)
        frame["geometry"] = frame["territory_id"].map(shapes)
        frame = frame[frame["geometry"].notna()]
        if frame.empty:
            continue
        frame = frame.rename(columns={"territory_id": "code", "territory_label": "nom"})
        frame.columns = [str(c) for c in frame.columns]
        gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
        for column in gdf.columns:
            if column.endswith("_statut"):
                gdf[column] = gdf[column].astype(object).where(gdf[column].notna(), None)
            elif column not in ("code", "nom", "geometry"):
                gdf[column] = gdf[column].astype(float).replace({np.inf: np.nan})
        gdf.to_file(path, layer=str(level), driver="GPKG")
        written += 1
    if not written:
        raise InputError("aucun territoire avec une géométrie à écrire dans le GeoPackage")
