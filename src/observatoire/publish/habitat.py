"""Outputs of the OPAH pre-diagnostic: XLSX shortlist, GeoPackage, map, HTML/PDF chapter.

Written in one folder (default ``sorties/diagnostics/habitat-<variante>-<territoire>``):

- ``classement.xlsx``: « Classement » (every commune: rank, score 0-100, priority class,
  completeness, why not ranked, each criterion's value and normalised score), « Méthode »
  (criteria, dimension, direction, weights, period, source, communes with a value; gates;
  normalisation, aggregation), « Sensibilité » (each weight ±variation), « Monte Carlo »
  (median rank and P5-P95 band, share of draws in the top);
- ``classement.gpkg``: the communes with the same columns, for QGIS;
- ``carte.png``: the score map (unranked communes hatched);
- ``diagnostic.html`` and ``diagnostic.pdf``: the chapter — method, ranking, map, sensitivity,
  a one-page sheet for each commune of the top, limits. « Données simulées » is printed on
  every page when one value used comes from a simulated file; « diffusion restreinte » when a
  restricted dataset (LOVAC) entered the index.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from functools import partial
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from observatoire.analyses.habitat import HabitatResult
from observatoire.errors import InputError
from observatoire.project import Project
from observatoire.publish.fmt import fr_date, fr_number, fr_value
from observatoire.publish.report import write_chapter
from observatoire.xlsx import add_sheet

FORMATS = ("pdf", "html")
NBSP = "\u00a0"  # before %, as publish.fmt does before units
CLASS_METHOD_LABELS = {"quantiles": "quantiles", "jenks": "seuils naturels de Jenks"}
DIRECTION_LABELS = {1: "valeur élevée = besoin", -1: "valeur faible = besoin"}


@dataclass
class HabitatOutputs:
    folder: Path
    files: list[Path]


def output_folder(project: Project, result: HabitatResult) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in result.territory.id)
    return project.settings.output_dir / "diagnostics" / f"habitat-{result.variant.id}-{safe}"


def _effective_weights(result: HabitatResult) -> dict[str, float]:
    """Criterion id → effective weight (share of the total, available criteria or not)."""
    used = result.used
    dims = {d: w for d, (_, w) in result.variant.dimensions.items()}
    present = {c.dimension for c in used}
    total_dim = sum(w for d, w in dims.items() if d in present)
    out = {c.id: 0.0 for c in result.criteria}
    for info in used:
        within = sum(c.weight for c in used if c.dimension == info.dimension)
        out[info.id] = dims[info.dimension] / total_dim * info.weight / within
    return out


def ranking_table(result: HabitatResult) -> pd.DataFrame:
    """One row per commune, French column names, for the XLSX and the GeoPackage."""
    r = result.ranking
    table = pd.DataFrame(
        {
            "code": r.index,
            "commune": r["nom"].to_numpy(),
            "epci": r["epci_nom"].to_numpy(),
            "rang": r["rank"].to_numpy(),
            "score_0_100": r["score_100"].round(1).to_numpy(),
            "classe_priorite": r["priority_class"].to_numpy(),
            "completude_pct": (r["completeness"] * 100).round(0).to_numpy(),
            "non_classee_car": r["reason"].to_numpy(),
        }
    )
    for info in result.used:
        table[f"{info.id} ({info.unit})"] = r[info.id].to_numpy()
        table[f"score_{info.id}"] = r[f"n_{info.id}"].round(3).to_numpy()
    for indicator, _, _, _ in result.gates:
        if indicator not in [c.id for c in result.criteria]:
            table[f"seuil_{indicator}"] = result.gate_values[indicator].reindex(r.index).to_numpy()
    return table


def method_rows(result: HabitatResult) -> list[dict[str, object]]:
    weights = _effective_weights(result)
    return [
        {
            "dimension": info.dimension_label,
            "critere": info.label,
            "indicateur": info.id,
            "sens": DIRECTION_LABELS[info.direction],
            "poids_effectif_pct": round(weights[info.id] * 100, 1),
            "periode": info.period or "aucune valeur : critère retiré de l'indice",
            "unites_renseignees": info.available,
            "source": info.source or "—",
            "diffusion": "restreinte" if info.restricted else "publique",
        }
        for info in result.criteria
    ]


def write_xlsx(result: HabitatResult, path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = partial(add_sheet, workbook)
    workbook.remove(workbook.active)
    banner = _banner(result)
    sheet("Classement", ranking_table(result), banner)
    method = pd.DataFrame(method_rows(result))
    sheet("Méthode", method, f"{result.variant.label} — {result.territory.nom}")
    ws = workbook["Méthode"]
    start = ws.max_row + 2
    lines = _method_lines(result)
    for offset, line in enumerate(lines):
        ws.cell(row=start + offset, column=1, value=line)
    oat = result.sensitivity.one_at_a_time.rename(
        columns={
            "criterion": "critere",
            "change": "variation_poids",
            "spearman": "correlation_rangs",
            "max_rank_shift": "ecart_rang_max",
            "top_overlap": "tete_conservee",
        }
    )
    sheet("Sensibilité", oat, "Chaque poids modifié à tour de rôle (±variation)")
    mc = result.sensitivity.monte_carlo.copy()
    names = result.communes.set_index("code")["nom"]
    mc.insert(0, "commune", names.reindex(mc.index).to_numpy())
    mc.insert(0, "code", mc.index)
    mc = mc.rename(
        columns={
            "rank_base": "rang",
            "rank_median": "rang_median",
            "rank_p05": "rang_p05",
            "rank_p95": "rang_p95",
            "share_in_top": "part_tirages_en_tete",
        }
    ).sort_values("rang")
    summary = result.sensitivity.summary
    sheet(
        "Monte Carlo",
        mc,
        f"{fr_number(summary['draws'])} tirages des poids dans "
        f"[1 − {fr_number(summary['shift'], 2)} ; 1 + {fr_number(summary['shift'], 2)}] ; "
        f"tête de liste : {summary['top']} {'IRIS' if result.level == 'iris' else 'communes'}",
    )
    workbook.save(path)


def _banner(result: HabitatResult) -> str:
    parts = [f"Pré-diagnostic {result.variant.label} — {result.territory.nom}"]
    if result.simulated:
        parts.append("DONNÉES SIMULÉES : NE PAS PUBLIER")
    if result.restricted:
        parts.append("diffusion restreinte (" + ", ".join(result.restricted) + ")")
    return " — ".join(parts)


def _method_lines(result: HabitatResult) -> list[str]:
    v = result.variant
    norm = {
        "quintiles": "scores de quintile 1 à 5",
        "minmax": "min-max",
        "zscore": "centrage-réduction (z-score)",
    }[v.normalisation]
    norm += " sur les " + ("IRIS" if result.level == "iris" else "communes") + " du territoire"
    if v.winsorise and v.normalisation != "quintiles":
        low, high = (fr_number(q * 100) for q in v.winsorise)
        norm += f", après écrêtage aux centiles {low} et {high}"
    lines = [
        f"Normalisation : {norm}.",
        "Agrégation : "
        + (
            "moyenne arithmétique pondérée (compensation entre critères)."
            if v.aggregation == "additive"
            else "moyenne géométrique pondérée (compensation limitée)."
        ),
        "Poids : égaux entre dimensions (sauf poids déclarés), répartis dans chaque dimension "
        "selon les poids des critères.",
        "Valeurs secrètes ou manquantes : jamais 0 ; score calculé sur les critères "
        f"disponibles, {'IRIS non classé' if result.level == 'iris' else 'commune non classée'} "
        f"sous {fr_number(v.min_completeness * 100)}{NBSP}% du "
        "poids total.",
        f"Classes de priorité : {v.classes} ({CLASS_METHOD_LABELS[v.class_method]}) ; "
        "1 = priorité la plus forte.",
    ]
    for indicator, _minimum, label, period in result.gates:
        lines.append(f"Seuil de taille : {label} ({indicator}, {period or 'aucune valeur'}).")
    return lines


def write_geopackage(result: HabitatResult, path: Path) -> None:
    """The units with the ranking's columns (needs their geometries)."""
    if result.geometries is None:
        raise InputError("géométries des unités absentes : GeoPackage impossible")
    geo = result.geometries[["code", "geometry"]]
    table = ranking_table(result)
    table.columns = [_gpkg_name(c) for c in table.columns]
    frame = geo.merge(table, on="code", how="right")
    for column in frame.columns:
        if str(frame[column].dtype) in ("Int64", "Float64"):
            frame[column] = frame[column].astype("float64")
    if path.exists():
        path.unlink()
    frame.to_file(path, layer="classement", driver="GPKG")


def _gpkg_name(name: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def score_map(result: HabitatResult):
    from observatoire.publish.maps import choropleth

    geo = result.geometries
    index = result.index
    values = index["score_100"].where(index["ranked"])
    statuses = pd.Series(np.where(index["ranked"], "ok", "missing"), index=index.index)
    sources = sorted({c.source for c in result.criteria if c.source})
    return choropleth(
        geo,
        values,
        statuses,
        title=f"Score de besoin {result.variant.label}",
        unit="",
        decimals=0,
        source="Sources : " + " ; ".join(sources)[:300],
        scheme="quantiles",
        k=min(result.variant.classes, max(1, int(index["ranked"].sum()))),
        palette="YlOrRd",
    )


def _sheets(result: HabitatResult, territory_values: dict[str, float]) -> list[dict]:
    """One sheet per commune of the top: each criterion against the territory."""
    out = []
    ranking = result.ranking
    for code, row in result.top().iterrows():
        items = []
        for info in result.used:
            value = row[info.id]
            column = result.values[info.id].dropna()
            position = None
            if not pd.isna(value) and len(column):
                higher = (column * info.direction > value * info.direction).sum()
                place = int(higher) + 1
                position = f"{place}{'ᵉʳ' if place == 1 else 'ᵉ'} / {len(column)}"
            items.append(
                {
                    "dimension": info.dimension_label,
                    "label": info.label,
                    "value": fr_value(value, info.unit, info.decimals)
                    if not pd.isna(value)
                    else "non disponible",
                    "territory": fr_value(territory_values[info.id], info.unit, info.decimals)
                    if info.id in territory_values and not info.unit.startswith("indice")
                    else "—",
                    "score": "—"
                    if pd.isna(row[f"n_{info.id}"])
                    else fr_number(float(row[f"n_{info.id}"]), 2),
                    "position": position or "—",
                    "period": info.period or "",
                }
            )
        mc = result.sensitivity.monte_carlo
        band = ""
        if code in mc.index:
            m = mc.loc[code]
            band = (
                f"rang médian {fr_number(float(m['rank_median']))}, entre "
                f"{fr_number(float(m['rank_p05']))} et {fr_number(float(m['rank_p95']))} "
                f"dans 90{NBSP}% des tirages ; en tête de liste dans "
                f"{fr_number(float(m['share_in_top']) * 100)}{NBSP}% des tirages"
            )
        dims = [
            {
                "label": label,
                "score": "—"
                if pd.isna(row.get(f"d_{did}"))
                else fr_number(float(row[f"d_{did}"]), 2),
            }
            for did, (label, _) in result.variant.dimensions.items()
            if f"d_{did}" in row.index
        ]
        out.append(
            {
                "code": code,
                "nom": row["nom"],
                "epci": (row["epci_nom"] if pd.notna(row["epci_nom"]) else ""),
                "rank": int(row["rank"]),
                "score": fr_number(float(row["score_100"]), 1),
                "class": int(row["priority_class"]),
                "completeness": fr_number(float(row["completeness"]) * 100),
                "items": items,
                "dims": dims,
                "band": band,
            }
        )
    del ranking
    return out


def render_html(
    project: Project,
    result: HabitatResult,
    *,
    territory_values: dict[str, float] | None = None,
    today: date | None = None,
) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    folder = Path(str(files("observatoire") / "publish" / "templates"))
    env = Environment(
        loader=FileSystemLoader(folder), autoescape=select_autoescape(["html", "html.j2"])
    )
    figure = score_map(result) if result.geometries is not None and len(result.geometries) else None
    map_png = base64.b64encode(figure.png(dpi=130)).decode() if figure is not None else None
    ranking = result.ranking
    ranked = ranking[ranking["ranked"]]
    unranked = ranking[~ranking["ranked"]]
    reasons = unranked["reason"].value_counts().to_dict()
    summary = result.sensitivity.summary
    names = result.communes.set_index("code")["nom"]
    oat = result.sensitivity.one_at_a_time
    labels = {c.id: c.label for c in result.criteria}
    weights = _effective_weights(result)
    return env.get_template("habitat.html.j2").render(
        title=project.settings.charte.titre,
        colour=project.settings.charte.couleur_principale,
        territory=result.territory,
        variant=result.variant,
        date=fr_date(today or date.today()),
        simulated=result.simulated,
        restricted=result.restricted,
        criteria=[
            {
                **row,
                "weight": fr_number(weights[row["indicateur"]] * 100, 1),
                "communes": fr_number(row["unites_renseignees"]),
            }
            for row in method_rows(result)
        ],
        method_lines=_method_lines(result),
        n_communes=len(ranking),
        n_ranked=len(ranked),
        reasons=[(reason, fr_number(n)) for reason, n in reasons.items()],
        ranked=[
            {
                "rank": int(r["rank"]),
                "code": code,
                "nom": r["nom"],
                "epci": (r["epci_nom"] if pd.notna(r["epci_nom"]) else ""),
                "score": fr_number(float(r["score_100"]), 1),
                "class": int(r["priority_class"]),
                "completeness": fr_number(float(r["completeness"]) * 100),
            }
            for code, r in ranked.iterrows()
        ],
        map_png=map_png,
        map_alt=figure.alt_text if figure is not None else "",
        units="IRIS" if result.level == "iris" else "communes",
        sens={
            "draws": fr_number(summary["draws"]),
            "shift": fr_number(summary["shift"] * 100),
            "top": summary["top"],
            "mean": fr_number(summary["mean_spearman"], 3),
            "min": fr_number(summary["min_spearman"], 3),
            "stable": [names.get(c, c) for c in summary["stable_top"]],
        },
        oat=[
            {
                "label": labels.get(r.criterion, r.criterion),
                "change": ("+" if r.change > 0 else "−")
                + fr_number(abs(r.change) * 100)
                + f"{NBSP}%",
                "spearman": fr_number(r.spearman, 3),
                "shift": fr_number(r.max_rank_shift),
                "overlap": fr_number(r.top_overlap * 100) + f"{NBSP}%",
            }
            for r in oat.itertuples(index=False)
        ],
        sheets=_sheets(result, territory_values or {}),
    )


def territory_values(project: Project, result: HabitatResult) -> dict[str, float]:
    """The territory's own value of each criterion at the period the index used."""
    from observatoire.indicators.select import read_values
    from observatoire.warehouse import Warehouse

    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        rows = read_values(
            warehouse, [result.territory], indicator_ids=[c.id for c in result.criteria]
        )
    out = {}
    for info in result.criteria:
        match = rows[
            (rows["indicator_id"] == info.id)
            & (rows["period"].astype(str) == str(info.period))
            & rows["value"].notna()
            & rows["status"].isin(["ok", "incomplete"])
        ]
        if len(match):
            out[info.id] = float(match["value"].iloc[0])
    return out


def write_outputs(
    project: Project,
    result: HabitatResult,
    *,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = FORMATS,
    today: date | None = None,
) -> HabitatOutputs:
    """Write every output of the pre-diagnostic; returns the folder and the files."""
    folder = out_dir or output_folder(project, result)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    path = folder / "classement.xlsx"
    write_xlsx(result, path)
    written.append(path)
    if result.geometries is not None and len(result.geometries):
        path = folder / "classement.gpkg"
        write_geopackage(result, path)
        written.append(path)
        path = folder / "carte.png"
        path.write_bytes(score_map(result).png(dpi=150))
        written.append(path)
    document = render_html(
        project, result, territory_values=territory_values(project, result), today=today
    )
    footer = f"{project.settings.charte.titre} — {_banner(result)}"
    written += write_chapter(document, folder, formats, footer)
    return HabitatOutputs(folder, written)
