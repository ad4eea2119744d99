"""Outputs of the bourgs-centres diagnostic: XLSX, GeoPackage, map, radars, HTML/PDF chapter.

Written in one folder (default ``sorties/diagnostics/centralites-<territoire>``):

- ``centralites.xlsx``: « Communes » (level, gamme coverage, the four function scores, the
  nearest centre of each level and the BV pole flag), « Critères » (raw values), « Méthode »
  (criteria, weights, periods, sources, levels and thresholds, notes), « Centres proches »,
  « Population desservie », « Complémentarité » (the matrix), « Types exclusifs », « Gammes »
  (the composition used), « Commerce », « Commerce (périmètres) », « Vacance commerciale »,
  « Bassins de vie » — the last ones when their data are loaded;
- ``centralites.gpkg``: layers ``communes`` (polygons and every column), ``centres`` (centroid
  points of the centres with their level) and ``liens`` (a line from each commune to its
  nearest centre of each level, with the distance), for QGIS;
- ``carte.png``: the armature (centres by level, links commune → nearest intermediate
  centre);
- ``radars/<code>.png``: the four function scores of each centre of the territory against
  the median of the communes studied;
- ``diagnostic.html`` / ``diagnostic.pdf``: the chapter. « Données simulées » is printed when
  one figure used comes from a simulated file.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from observatoire.analyses.centralites import (
    DOMAIN_LABELS,
    GAMME_LABELS,
    NON_CENTRE,
    UNKNOWN,
    CentralityResult,
)
from observatoire.project import Project
from observatoire.publish.fmt import fr_date, fr_number, fr_value
from observatoire.publish.report import write_chapter
from observatoire.xlsx import add_sheet

FORMATS = ("pdf", "html")
NBSP = "\u00a0"
LEVEL_COLOURS = ("#7b1fa2", "#c62828", "#ef6c00", "#f9a825", "#9e9e9e")
LEVEL_SIZES = (170, 110, 65, 30)
_RC = {"svg.hashsalt": "observatoire", "font.family": "DejaVu Sans"}


@dataclass
class CentralityOutputs:
    folder: Path
    files: list[Path]


def output_folder(project: Project, result: CentralityResult) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in result.territory.id)
    return project.settings.output_dir / "diagnostics" / f"centralites-{safe}"


def _link_level(result: CentralityResult) -> str:
    """The level whose nearest centre the map links every commune to: intermediate (the
    level of everyday services) when configured, else the lowest level."""
    ids = result.params.level_ids
    return "intermediaire" if "intermediaire" in ids else ids[-1]


def _yes_no(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return "oui" if bool(value) else "non"


def communes_table(result: CentralityResult) -> pd.DataFrame:
    """One row per commune of the territory, French column names."""
    labels = result.level_labels
    own = result.in_territory.sort_values(["rang_niveau", "nom"])
    table = pd.DataFrame(
        {
            "code": own.index,
            "commune": own["nom"].to_numpy(),
            "epci": own["epci_nom"].to_numpy(),
            f"population_{result.population_year}": own["population"].to_numpy(),
            "niveau": own["niveau"].map(labels).to_numpy(),
            "couverture_proximite_pct": own["couverture_proximite"].round(1).to_numpy(),
            "couverture_intermediaire_pct": own["couverture_intermediaire"].round(1).to_numpy(),
            "couverture_superieure_pct": own["couverture_superieure"].round(1).to_numpy(),
        }
    )
    scores = result.scores.reindex(own.index)
    for f in result.params.functions:
        table[f"score_{f.id}"] = scores[f"f_{f.id}"].round(1).to_numpy()
    table["score_centralite"] = scores["centralite"].round(1).to_numpy()
    table["completude_pct"] = (scores["completude"] * 100).round(0).to_numpy()
    nearest = result.nearest.set_index(["code", "niveau"])
    names = result.communes["nom"]
    for lv in result.params.levels:
        centre = [nearest["centre"].get((c, lv.id)) for c in own.index]
        table[f"centre_{lv.id}"] = [names.get(c) if isinstance(c, str) else None for c in centre]
        km = [nearest["distance_km"].get((c, lv.id)) for c in own.index]
        table[f"distance_{lv.id}_km"] = np.round(np.array(km, dtype=float), 1)
        if result.timed:
            minutes = [nearest["minutes"].get((c, lv.id)) for c in own.index]
            table[f"temps_{lv.id}_min"] = np.round(np.array(minutes, dtype=float), 0)
    if result.bv is not None:
        bv = result.bv.set_index("code")
        table["pole_bassin_de_vie"] = [_yes_no(bv["pole_bv"].get(c)) for c in own.index]
    return table


def criteria_table(result: CentralityResult) -> pd.DataFrame:
    names = result.communes["nom"]
    table = result.values.copy()
    table.columns = [
        next(f"{u.label} ({u.unit})" if u.unit else u.label for u in result.criteria if u.key == c)
        for c in table.columns
    ]
    table.insert(0, "commune", names.reindex(table.index).to_numpy())
    table.insert(0, "code", table.index)
    return table.reset_index(drop=True)


def method_rows(result: CentralityResult) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "fonction": u.function_label,
                "critere": u.label,
                "type": u.kind,
                "identifiant": u.key,
                "sens": "+" if u.direction > 0 else "−",
                "poids": u.weight,
                "periode": u.period or "",
                "communes_renseignees": u.available,
                "source": u.source,
            }
            for u in result.criteria
        ]
    )


def _method_lines(result: CentralityResult) -> list[str]:
    p = result.params
    norm = {
        "rangs": "rang centile (0 pour la plus faible valeur, 100 pour la plus forte ; ex aequo "
        "au rang moyen)",
        "minmax": "min-max",
        "quintiles": "scores de quintile",
    }[p.normalisation]
    if p.winsorise and p.normalisation == "minmax":
        low, high = (fr_number(q * 100) for q in p.winsorise)
        norm += f" après écrêtage aux centiles {low} et {high}"
    studied = int(result.communes["reference"].sum())
    lines = [
        f"Normalisation de chaque critère sur les {studied} communes étudiées : {norm}.",
        "Score d'une fonction : moyenne pondérée des critères disponibles (une valeur secrète "
        "ou manquante n'est jamais comptée 0), de 0 à 100 ; centralité globale : moyenne des "
        "quatre fonctions.",
        f"Équipements : BPE {result.period} et composition des gammes INSEE du même millésime "
        f"({len(result.gammes)} types ou regroupements dans les gammes).",
    ]
    for lv in p.levels:
        rule = " et ".join(
            f"au moins {fr_number(share * 100)}{NBSP}% des types de la {GAMME_LABELS[g]}"
            for g, share in lv.thresholds.items()
        )
        lines.append(f"{lv.label} : {rule}.")
    lines.append("Non-centre : aucun de ces seuils atteint.")
    measure = (
        "temps de trajet routier (distancier fourni)"
        if result.timed
        else "distance à vol d'oiseau entre les centroïdes des communes"
    )
    lines.append(
        f"Centre le plus proche : {measure} ; centres candidats : toutes les communes des "
        "départements couverts par la BPE chargée."
    )
    neighbour = (
        f"{fr_number(p.neighbour_minutes)}{NBSP}minutes"
        if result.timed
        else f"{fr_number(p.neighbour_km)}{NBSP}km"
    )
    lines.append(f"Voisins d'un centre (complémentarité) : centres à moins de {neighbour}.")
    return lines + result.notes


def _complementarity_table(result: CentralityResult) -> pd.DataFrame:
    comp = result.complementarity
    names = result.communes["nom"]
    labels = result.level_labels
    table = pd.DataFrame({"code": comp.index, "centre": names.reindex(comp.index).to_numpy()})
    table["niveau"] = result.communes["niveau"].reindex(comp.index).map(labels).to_numpy()
    table["centres_voisins"] = comp["voisins"].to_numpy()
    table["voisins_notes"] = comp["voisins_notes"].to_numpy()
    for f in result.params.functions:
        table[f"apport_{f.id}"] = comp[f"apport_{f.id}"].round(1).to_numpy()
        table[f"atout_{f.id}"] = [_yes_no(v) for v in comp[f"atout_{f.id}"]]
    for d, label in DOMAIN_LABELS.items():
        table[f"types_exclusifs_{label}"] = comp[f"exclusifs_{d}"].to_numpy()
    return table


def write_xlsx(result: CentralityResult, path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    banner = _banner(result)
    names = result.communes["nom"]
    labels = result.level_labels
    add_sheet(workbook, "Communes", communes_table(result), banner)
    add_sheet(workbook, "Critères", criteria_table(result), "Valeurs brutes des critères")
    add_sheet(workbook, "Méthode", method_rows(result), f"Méthode — {result.territory.nom}")
    ws = workbook["Méthode"]
    start = ws.max_row + 2
    for offset, line in enumerate(
        [*_method_lines(result), "Sources : " + " ; ".join(result.sources)]
    ):
        ws.cell(row=start + offset, column=1, value=line)
    nearest = result.nearest.assign(
        commune=lambda t: t["code"].map(names),
        niveau=lambda t: t["niveau"].map(labels),
        centre_nom=lambda t: t["centre"].map(names),
    )[["code", "commune", "niveau", "centre", "centre_nom", "distance_km", "minutes"]]
    if not result.timed:
        nearest = nearest.drop(columns="minutes")
    add_sheet(workbook, "Centres proches", nearest, "Centre le plus proche de chaque niveau")
    served = result.served.assign(
        centre_nom=lambda t: t["centre"].map(names), niveau=lambda t: t["niveau"].map(labels)
    )[["niveau", "centre", "centre_nom", "communes", "population"]]
    add_sheet(
        workbook,
        "Population desservie",
        served,
        f"Communes du territoire et population ({result.population_year}) rattachées à chaque "
        "centre",
    )
    add_sheet(
        workbook,
        "Complémentarité",
        _complementarity_table(result),
        "Apport : score du centre moins la médiane de ses centres voisins ; atout : au-dessus "
        "de tous ; types exclusifs : types d'équipements qu'aucun centre voisin ne possède",
    )
    exclusive = result.exclusive.assign(centre_nom=lambda t: t["centre"].map(names))
    exclusive["libelle"] = exclusive["libelle"].where(
        exclusive["libelle"] != "", "type " + exclusive["unite"] + " (libellé absent de la table)"
    )
    add_sheet(workbook, "Types exclusifs", exclusive, "Équipements qu'aucun voisin ne possède")
    gammes = result.gammes.assign(
        types=lambda t: t["types"].map(", ".join),
        gamme=lambda t: t["gamme"].map(GAMME_LABELS),
    )
    add_sheet(workbook, "Gammes", gammes, f"Composition des gammes INSEE {result.period}")
    shop = result.commerce
    if shop is not None and len(shop.communes.columns):
        table = shop.communes.reset_index()
        table.insert(1, "commune", table["code"].map(names))
        add_sheet(
            workbook,
            "Commerce",
            table,
            "Établissements actifs (SIRENE) ; stocks : " + " et ".join(shop.stocks),
        )
    if shop is not None and shop.perimeters is not None:
        add_sheet(workbook, "Commerce (périmètres)", shop.perimeters, "Établissements du centre")
    if shop is not None and shop.vacancy is not None:
        add_sheet(workbook, "Vacance commerciale", shop.vacancy, "Relevé de locaux commerciaux")
    if result.bv is not None:
        bv = result.bv.assign(
            commune=lambda t: t["code"].map(names),
            niveau=lambda t: t["niveau"].map(labels),
            pole_bv=lambda t: t["pole_bv"].map(_yes_no),
        )
        add_sheet(workbook, "Bassins de vie", bv, "Pôles des bassins de vie INSEE")
    workbook.save(path)


def _banner(result: CentralityResult) -> str:
    parts = [f"Bourgs-centres et armature territoriale — {result.territory.nom}"]
    if result.simulated:
        parts.append("DONNÉES SIMULÉES : NE PAS PUBLIER")
    return " — ".join(parts)


# --------------------------------------------------------------------------- GeoPackage


def _points(result: CentralityResult, codes: list[str]) -> gpd.GeoSeries:
    c = result.communes.loc[codes]
    return gpd.GeoSeries(gpd.points_from_xy(c["lon"], c["lat"]), crs=4326)


def write_geopackage(result: CentralityResult, path: Path) -> None:
    if path.exists():
        path.unlink()
    labels = result.level_labels
    communes = result.communes.drop(columns=["lon", "lat"]).copy()
    communes["niveau_libelle"] = communes["niveau"].map(labels)
    communes = communes.join(result.scores, how="left")
    geo = result.geometries.set_index("code")[["geometry"]].join(communes, how="inner")
    geo = gpd.GeoDataFrame(geo.reset_index(), geometry="geometry", crs=4326)
    for column in geo.columns:
        if geo[column].dtype == bool or str(geo[column].dtype) in ("Int64", "Float64", "boolean"):
            geo[column] = geo[column].astype("float64")
    geo.to_file(path, layer="communes", driver="GPKG")
    centres = result.communes[~result.communes["niveau"].isin([NON_CENTRE, UNKNOWN])]
    points = gpd.GeoDataFrame(
        {
            "code": centres.index,
            "nom": centres["nom"].to_numpy(),
            "niveau": centres["niveau"].map(labels).to_numpy(),
            "territoire": centres["territoire"].astype(int).to_numpy(),
        },
        geometry=_points(result, centres.index.tolist()).to_numpy(),
        crs=4326,
    )
    points.to_file(path, layer="centres", driver="GPKG")
    links = result.nearest.dropna(subset=["centre"])
    links = links[links["code"] != links["centre"]]
    lon, lat = result.communes["lon"], result.communes["lat"]
    lines = (
        shapely.linestrings(
            np.stack(
                [
                    np.column_stack([links["code"].map(lon), links["code"].map(lat)]),
                    np.column_stack([links["centre"].map(lon), links["centre"].map(lat)]),
                ],
                axis=1,
            )
        )
        if len(links)
        else []
    )
    gpd.GeoDataFrame(
        {
            "code": links["code"].to_numpy(),
            "niveau": links["niveau"].map(labels).to_numpy(),
            "centre": links["centre"].to_numpy(),
            "distance_km": links["distance_km"].to_numpy(),
        },
        geometry=list(lines),
        crs=4326,
    ).to_file(path, layer="liens", driver="GPKG")


# --------------------------------------------------------------------------- figures


def _png(figure: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def armature_map(result: CentralityResult, dpi: int = 150) -> tuple[bytes, str]:
    """The armature map (PNG) and its French alternative text."""
    labels = result.level_labels
    geo = result.geometries.to_crs(2154)
    own = geo[geo["code"].isin(result.in_territory.index)]
    figure = Figure(figsize=(7.5, 7.5))
    ax = figure.add_axes((0.02, 0.12, 0.96, 0.8))
    ax.set_axis_off()
    geo.plot(ax=ax, facecolor="#f4f4f4", edgecolor="#d0d0d0", linewidth=0.2)
    own.plot(ax=ax, facecolor="#ffffff", edgecolor="#bdbdbd", linewidth=0.3)
    gpd.GeoSeries([shapely.union_all(own.geometry.to_numpy())], crs=2154).boundary.plot(
        ax=ax, color="#333333", linewidth=1.0
    )
    points = result.communes[["lon", "lat"]]
    xy = gpd.GeoSeries(
        gpd.points_from_xy(points["lon"], points["lat"]), index=points.index, crs=4326
    ).to_crs(2154)
    level = _link_level(result)
    links = result.nearest[(result.nearest["niveau"] == level)].dropna(subset=["centre"])
    links = links[links["code"] != links["centre"]]
    for code, centre in zip(links["code"], links["centre"], strict=True):
        a, b = xy[code], xy[centre]
        ax.plot([a.x, b.x], [a.y, b.y], color="#8d8d8d", linewidth=0.5, zorder=2)
    handles = []
    counts = result.in_territory["niveau"].value_counts()
    for rank, lv in enumerate(result.params.levels):
        members = result.communes.index[result.communes["niveau"] == lv.id]
        if len(members):
            ax.scatter(
                xy[members].x,
                xy[members].y,
                s=LEVEL_SIZES[min(rank, len(LEVEL_SIZES) - 1)],
                color=LEVEL_COLOURS[min(rank, len(LEVEL_COLOURS) - 1)],
                edgecolor="white",
                linewidth=0.6,
                zorder=3 + len(result.params.levels) - rank,
            )
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=np.sqrt(LEVEL_SIZES[min(rank, len(LEVEL_SIZES) - 1)]) * 0.8,
                color=LEVEL_COLOURS[min(rank, len(LEVEL_COLOURS) - 1)],
                label=f"{lv.label} ({fr_number(int(counts.get(lv.id, 0)))} dans le territoire)",
            )
        )
    top = [lv.id for lv in result.params.levels[:2]]
    for code in result.communes.index[result.communes["niveau"].isin(top)]:
        if code in result.in_territory.index or result.communes.loc[code, "niveau"] == top[0]:
            ax.annotate(
                result.communes.loc[code, "nom"],
                (xy[code].x, xy[code].y),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=7,
                zorder=10,
            )
    handles.append(
        Line2D(
            [],
            [],
            color="#8d8d8d",
            linewidth=0.8,
            label=f"Lien vers le {labels[level].lower()} le plus proche",
        )
    )
    minx, miny, maxx, maxy = own.total_bounds
    pad = 0.25 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    figure.legend(handles=handles, loc="lower left", fontsize=7, frameon=False, ncol=2)
    figure.suptitle(f"Armature territoriale — {result.territory.nom}", fontsize=11)
    figure.text(0.98, 0.005, "Sources : " + " ; ".join(result.sources[:2]), fontsize=6, ha="right")
    alt = (
        f"Carte de l'armature territoriale de {result.territory.nom} : "
        + ", ".join(
            f"{fr_number(int(counts.get(lv.id, 0)))} {lv.label.lower()}"
            for lv in result.params.levels
        )
        + f", {fr_number(int(counts.get(NON_CENTRE, 0)))} non-centres ; chaque commune est "
        f"reliée à son {labels[level].lower()} le plus proche."
    )
    return _png(figure, dpi), alt


def radar_png(result: CentralityResult, code: str, dpi: int = 110) -> bytes:
    """The four function scores of ``code`` (filled) against the median of the communes
    studied (dashed)."""
    functions = result.params.functions
    angles = np.linspace(0, 2 * np.pi, len(functions), endpoint=False)
    closed = np.concatenate([angles, angles[:1]])
    row = result.scores.loc[code]
    values = np.array([row[f"f_{f.id}"] for f in functions], dtype=float)
    median = np.array([result.scores[f"f_{f.id}"].median() for f in functions], dtype=float)
    figure = Figure(figsize=(3.0, 3.0))
    ax = figure.add_subplot(projection="polar")
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    shown = np.nan_to_num(values)
    ax.plot(closed, np.append(median, median[0]), color="#616161", linestyle="--", linewidth=1)
    ax.fill(closed, np.append(shown, shown[0]), color="#1565c0", alpha=0.3)
    ax.plot(closed, np.append(shown, shown[0]), color="#1565c0", linewidth=1.5)
    ax.set_xticks(angles)
    ax.set_xticklabels([f.label.split(" ")[0] for f in functions], fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_yticks([25, 50, 75])
    ax.set_yticklabels(["25", "50", "75"], fontsize=6, color="#757575")
    ax.set_title(str(result.communes.loc[code, "nom"]), fontsize=9, pad=12)
    return _png(figure, dpi)


def _radar_alt(result: CentralityResult, code: str) -> str:
    row = result.scores.loc[code]
    parts = [
        f"{f.label} {fr_number(float(row[f'f_{f.id}']))}"
        if pd.notna(row[f"f_{f.id}"])
        else f"{f.label} non calculé"
        for f in result.params.functions
    ]
    return (
        f"Profil de {result.communes.loc[code, 'nom']} (scores de 0 à 100) : "
        + ", ".join(parts)
        + " ; en pointillés, la médiane des communes étudiées."
    )


# --------------------------------------------------------------------------- chapter


def _fmt(value: object, decimals: int = 0, unit: str = "") -> str:
    """A French number (``fr_value`` with a unit: no-break space before it); ``—`` alone
    when missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "—"
    return fr_value(float(value), unit, decimals) if unit else fr_number(float(value), decimals)


def _signed(value: object, decimals: int = 0, unit: str = "") -> str:
    """``+3``, ``−2``, ``0`` (an evolution); ``—`` when missing."""
    text = _fmt(value, decimals, unit)
    return "+" + text if text != "—" and float(value) > 0 else text  # type: ignore[arg-type]


def render_html(
    project: Project,
    result: CentralityResult,
    *,
    today: date | None = None,
    radar_limit: int = 40,
) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    folder = Path(str(files("observatoire") / "publish" / "templates"))
    env = Environment(
        loader=FileSystemLoader(folder), autoescape=select_autoescape(["html", "html.j2"])
    )
    labels = result.level_labels
    names = result.communes["nom"]
    map_png, map_alt = armature_map(result, dpi=130)
    own = result.in_territory
    counts = own["niveau"].value_counts()
    pops = own.groupby("niveau")["population"].sum()
    levels = [
        {
            "label": labels[lv],
            "n": fr_number(int(counts.get(lv, 0))),
            "population": fr_number(float(pops.get(lv, 0))),
        }
        for lv in [*result.params.level_ids, NON_CENTRE, UNKNOWN]
        if counts.get(lv, 0) or lv != UNKNOWN
    ]
    centres = result.centres
    scored = [c for c in centres if c in result.scores.index]
    bv = result.bv.set_index("code") if result.bv is not None else None
    centre_rows = []
    for code in centres:
        row = own.loc[code]
        s = result.scores.loc[code] if code in result.scores.index else None
        centre_rows.append(
            {
                "code": code,
                "nom": row["nom"],
                "niveau": labels[row["niveau"]],
                "population": _fmt(row["population"]),
                "cov": [
                    _fmt(row[f"couverture_{g}"], 0, "%")
                    for g in ("proximite", "intermediaire", "superieure")
                ],
                "scores": [
                    _fmt(s[f"f_{f.id}"]) if s is not None else "—" for f in result.params.functions
                ],
                "centralite": _fmt(s["centralite"]) if s is not None else "—",
                "bv": _yes_no(bv["pole_bv"].get(code)) if bv is not None else None,
            }
        )
    radars = [
        {
            "png": base64.b64encode(radar_png(result, code, dpi=90)).decode(),
            "alt": _radar_alt(result, code),
        }
        for code in scored[:radar_limit]
    ]
    comp = _complementarity_table(result)
    comp_rows = [
        {
            "nom": r["centre"],
            "niveau": r["niveau"],
            "voisins": r["centres_voisins"],
            "notes": r["voisins_notes"],
            "apports": [
                (
                    "—"
                    if pd.isna(r[f"apport_{f.id}"])
                    else ("+" if r[f"apport_{f.id}"] > 0 else "") + fr_number(r[f"apport_{f.id}"])
                )
                + (" ★" if r[f"atout_{f.id}"] == "oui" else "")
                for f in result.params.functions
            ],
            "exclusifs": [int(r[f"types_exclusifs_{label}"]) for label in DOMAIN_LABELS.values()],
        }
        for _, r in comp.iterrows()
    ]
    served = result.served.assign(
        nom=lambda t: t["centre"].map(names), niveau=lambda t: t["niveau"].map(labels)
    )
    served_rows = [
        {
            "niveau": r.niveau,
            "nom": r.nom,
            "communes": fr_number(r.communes),
            "population": fr_number(r.population),
        }
        for r in served.itertuples(index=False)
    ]
    bv_summary = None
    if result.bv is not None and result.bv["pole_bv"].notna().any():
        b = result.bv.dropna(subset=["pole_bv"])
        b = b[b["niveau"] != UNKNOWN]  # outside the loaded BPE: not compared
        poles = b[b["pole_bv"].astype(bool)]
        order = {lv: i for i, lv in enumerate(result.params.level_ids)}
        inter = order.get("intermediaire", len(order) - 1)
        at_least = poles["niveau"].map(lambda lv: order.get(lv, 99) <= inter)
        bv_summary = {
            "poles": fr_number(len(poles)),
            "agree": fr_number(int(at_least.sum())),
            "below": [names.get(c, c) for c in poles.loc[~at_least, "code"]],
            "extra": [
                names.get(c, c)
                for c in b.loc[
                    ~b["pole_bv"].astype(bool)
                    & b["niveau"].map(lambda lv: order.get(lv, 99) <= inter),
                    "code",
                ]
            ],
        }
    shop = result.commerce
    commerce_rows = []
    if shop is not None and "commerces" in shop.communes:
        table = shop.communes.loc[[c for c in centres if c in shop.communes.index]]
        for code, r in table.iterrows():
            commerce_rows.append(
                {
                    "nom": names.get(code, code),
                    "commerces": _fmt(r["commerces"]),
                    "densite": _fmt(r["commerces_pour_1000"], 1),
                    "evolution": _signed(r.get("evolution")),
                    "evolution_pct": _signed(r.get("evolution_pct"), 1, "%"),
                    "types": [_fmt(r[f"n_{t.id}"]) for t in result.params.commerce_types],
                }
            )
    vacancy_rows = []
    if shop is not None and shop.vacancy is not None:
        for r in shop.vacancy.itertuples(index=False):
            vacancy_rows.append(
                {
                    "nom": r.nom,
                    "releve": r.releve,
                    "locaux": fr_number(r.locaux),
                    "vacants": fr_number(r.vacants),
                    "taux": fr_value(r.taux, "%", 1),
                    "lecture": r.lecture,
                }
            )
    return env.get_template("centralites.html.j2").render(
        title=project.settings.charte.titre,
        colour=project.settings.charte.couleur_principale,
        territory=result.territory,
        date=fr_date(today or date.today()),
        simulated=result.simulated,
        period=result.period,
        population_year=result.population_year,
        n_communes=fr_number(len(own)),
        n_centres=fr_number(len(centres)),
        n_reference=fr_number(int(result.communes["reference"].sum())),
        levels=levels,
        map_png=base64.b64encode(map_png).decode(),
        map_alt=map_alt,
        functions=result.params.functions,
        criteria=[
            {**row, "poids": fr_number(row["poids"], 0 if float(row["poids"]).is_integer() else 1)}
            for row in method_rows(result).to_dict("records")
        ],
        method_lines=_method_lines(result),
        centres=centre_rows,
        radars=radars,
        radar_more=max(0, len(scored) - radar_limit),
        domains=list(DOMAIN_LABELS.values()),
        complementarity=comp_rows,
        served=served_rows,
        bv=bv_summary,
        commerce=commerce_rows,
        commerce_types=[t.label for t in result.params.commerce_types],
        stocks=[fr_date(date.fromisoformat(s[:10])) for s in shop.stocks] if shop else [],
        sirene=shop is not None and bool(shop.stocks),
        commerce_notes=shop.notes if shop is not None else [],
        vacancy=vacancy_rows,
        vacancy_grid=(
            fr_number(result.params.vacancy_favourable),
            fr_number(result.params.vacancy_critical),
        ),
        sources=result.sources,
    )


def write_outputs(
    project: Project,
    result: CentralityResult,
    *,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = FORMATS,
    today: date | None = None,
) -> CentralityOutputs:
    """Write every output of the diagnostic; returns the folder and the files."""
    folder = out_dir or output_folder(project, result)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    path = folder / "centralites.xlsx"
    write_xlsx(result, path)
    written.append(path)
    path = folder / "centralites.gpkg"
    write_geopackage(result, path)
    written.append(path)
    path = folder / "carte.png"
    path.write_bytes(armature_map(result)[0])
    written.append(path)
    radars = folder / "radars"
    radars.mkdir(exist_ok=True)
    for code in result.centres:
        if code in result.scores.index:
            path = radars / f"{code}.png"
            path.write_bytes(radar_png(result, code))
            written.append(path)
    document = render_html(project, result, today=today)
    footer = f"{project.settings.charte.titre} — {_banner(result)}"
    written += write_chapter(document, folder, formats, footer)
    return CentralityOutputs(folder, written)
