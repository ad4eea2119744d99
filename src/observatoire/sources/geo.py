"""Geometries of communes, IRIS, EPCI, départements, régions and QPV (GeoJSON, GeoPackage,
shapefile, read with pyogrio) → warehouse table ``geometries``.

The level is recognised from the attribute names (case-insensitive), never from the file name:

- ``code_qp`` + ``lib_qp``: ANCT QPV, perimeters or centroids (one point per QPV × commune,
  commune in ``insee_com``) → level ``qpv``;
- ``CODE_IRIS`` + ``INSEE_COM`` (name ``NOM_IRIS``): IGN CONTOURS-IRIS → ``iris``;
- ``id`` + ``com`` + ``libiris``: IRIS of the Métropole de Lyon → ``iris``;
- ``siren_epci`` + ``lib_epci``: ANCT EPCI, split per département → ``epci``, dissolved on
  ``siren_epci`` (features without a code — island communes outside any EPCI — are left out,
  with a warning);
- ``code`` + ``nom``: france-geojson → ``commune`` (5-character codes), ``departement`` or
  ``region``;
- ``INSEE_COM`` + ``NOM``/``NOM_COM``: IGN ADMIN EXPRESS communes → ``commune``;
- ``insee_dep`` + ``lib_dep``, ``insee_reg`` + ``lib_reg``: ANCT → ``departement``, ``region``.

france-geojson ``code`` values of 2-3 characters are départements when one of them is not a
région code (``2A``, ``971``, ``05``…), régions otherwise.

Output columns: ``level``, ``code``, ``name``, ``code_commune`` (the commune of an IRIS or of a
QPV point, the code itself for communes, else NULL), ``geometry_wkb`` (WKB bytes, EPSG:4326)
and ``source_crs`` (the file's CRS, e.g. ``EPSG:2154``; reprojected when it is not WGS 84).
Geometries keep the codes of their own vintage: ``code_column`` is not set, the loader does not
recode them. Vintage: QPV codes ``QN…`` are the 2024 generation, ``QP…`` the 2015 one; the
other files carry no date (``sans millésime``). Codes stored as numbers (leading zeros lost) are
zero-padded and counted as repairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import shapely

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.dvf import COMMUNE_PATTERN
from observatoire.sources.registry import register

REGION_CODES = frozenset(
    {"01", "02", "03", "04", "06", "11", "24", "27", "28", "32", "44", "52", "53", "75"}
    | {"76", "84", "93", "94"}
)
_DATASETS = {
    "commune": ("geo_communes", "communes", "commune"),
    "iris": ("geo_iris", "IRIS", "iris"),
    "epci": ("geo_epci", "EPCI", "epci"),
    "qpv": ("geo_qpv", "quartiers prioritaires (QPV)", "table"),
    "departement": ("geo_departements", "départements", "departement"),
    "region": ("geo_regions", "régions", "region"),
}
_WIDTH = {"commune": 5, "iris": 9, "epci": 9, "departement": 2, "region": 2}


@dataclass(frozen=True)
class _Layout:
    level: str  # commune, iris, epci, qpv, departement, region ("code" files: decided later)
    code: str
    name: str | None
    commune: str | None = None
    dissolve: bool = False


def _layout(fields: tuple[str, ...]) -> _Layout | None:
    lower = {f.lower(): f for f in fields}

    def has(*names: str) -> bool:
        return all(n in lower for n in names)

    if "id_acv" in lower or "id_pvd" in lower:  # ANCT programme lists (reader "programmes")
        return None
    if has("code_qp", "lib_qp"):
        return _Layout("qpv", lower["code_qp"], lower["lib_qp"], lower.get("insee_com"))
    if has("code_iris", "insee_com"):
        return _Layout("iris", lower["code_iris"], lower.get("nom_iris"), lower["insee_com"])
    if has("id", "com", "libiris"):
        return _Layout("iris", lower["id"], lower["libiris"], lower["com"])
    if has("siren_epci", "lib_epci"):
        return _Layout("epci", lower["siren_epci"], lower["lib_epci"], dissolve=True)
    if has("code", "nom"):
        return _Layout("code", lower["code"], lower["nom"])
    if has("insee_com") and ("nom" in lower or "nom_com" in lower):
        name = lower.get("nom", lower.get("nom_com"))
        return _Layout("commune", lower["insee_com"], name, lower["insee_com"])
    if has("insee_dep", "lib_dep"):
        return _Layout("departement", lower["insee_dep"], lower["lib_dep"])
    if has("insee_reg", "lib_reg") and "insee_dep" not in lower:
        return _Layout("region", lower["insee_reg"], lower["lib_reg"])
    return None


def _text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Codes as text, and which ones were stored as numbers."""
    numeric = values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    text = values.map(
        lambda v: (
            ""
            if v is None or (isinstance(v, float) and pd.isna(v))
            else str(int(v))
            if isinstance(v, int | float)
            else str(v).strip()
        )
    )
    return text.astype("str"), numeric.astype(bool)


def _code_level(codes: pd.Series) -> str:
    """commune / departement / region for france-geojson ``code`` values."""
    codes = codes[codes != ""]
    if len(codes) and codes.str.fullmatch(COMMUNE_PATTERN).all():
        return "commune"
    padded = codes.where(codes.str.len() != 1, codes.str.zfill(2))
    return "region" if set(padded) <= REGION_CODES else "departement"


def _read_info(file: SniffedFile, layer: str | None) -> dict:
    import pyogrio

    try:
        return pyogrio.read_info(file.path, layer=layer)
    except Exception as exc:  # pyogrio raises DataSourceError and others
        raise InputError(f"couche « {layer} » illisible ({exc})", path=file.label) from exc


def _find_layer(file: SniffedFile) -> tuple[str | None, _Layout | None]:
    """The first layer whose attributes are recognised (GeoPackages may hold several)."""
    layout = _layout(file.columns)
    if layout or len(file.sheets) <= 1:
        return (file.sheets[0] if file.sheets else None), layout
    for layer in file.sheets[1:]:
        layout = _layout(tuple(str(f) for f in _read_info(file, layer)["fields"]))
        if layout:
            return layer, layout
    return None, None


class GeometryReader:
    """Commune, IRIS, EPCI, département, région and QPV geometries."""

    name = "geometries"

    def sniff(self, file: SniffedFile) -> Detection | None:
        if file.kind != "geo":
            return None
        layer, layout = _find_layer(file)
        if layout is None:
            return None
        level, vintage = layout.level, "sans millésime"
        if level in ("code", "qpv"):
            codes, numeric = _text(self._attributes(file, layer, [layout.code])[layout.code])
            # A commune code stored as a number lost its leading zero (1004 for 01004).
            codes = codes.where(~(numeric & (codes.str.len() == 4)), codes.str.zfill(5))
            if level == "code":
                level = _code_level(codes)
            elif codes.str.startswith("QN").any():
                vintage = "2024"
            elif codes.str.startswith("QP").any():
                vintage = "2015"
        dataset, label, detection_level = _DATASETS[level]
        suffix = "" if vintage == "sans millésime" else f" {vintage}"
        if level == "qpv" and self._points(file, layer):
            detection_level = "point"
        return Detection(
            dataset=dataset,
            vintage=vintage,
            level=detection_level,
            label=f"Géométries des {label}{suffix}",
        )

    @staticmethod
    def _attributes(file: SniffedFile, layer: str | None, columns: list[str]) -> pd.DataFrame:
        import pyogrio

        try:
            return pyogrio.read_dataframe(
                file.path, layer=layer, columns=columns, read_geometry=False
            )
        except Exception as exc:  # pyogrio raises DataSourceError and others
            raise InputError(f"attributs illisibles ({exc})", path=file.label) from exc

    @staticmethod
    def _points(file: SniffedFile, layer: str | None) -> bool:
        kind = str(_read_info(file, layer).get("geometry_type") or "")
        return kind.lower().endswith("point")

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        import pyogrio

        layer, layout = _find_layer(file)
        if layout is None:  # the file changed since it was sniffed
            raise InputError("attributs de géométries non reconnus", path=file.label)
        columns = list(dict.fromkeys(c for c in (layout.code, layout.name, layout.commune) if c))
        try:
            frame = pyogrio.read_dataframe(file.path, layer=layer, columns=columns)
        except Exception as exc:  # pyogrio raises DataSourceError and others
            raise InputError(f"géométries illisibles ({exc})", path=file.label) from exc
        if frame.crs is None:
            raise InputError(
                "système de coordonnées inconnu (fichier .prj absent ?) : impossible de "
                "reprojeter en WGS 84",
                path=file.label,
            )
        source_crs = frame.crs.to_string()
        if frame.crs.to_epsg() != 4326 and "CRS84" not in source_crs.upper():
            frame = frame.to_crs(4326)
        level = {v[0]: k for k, v in _DATASETS.items()}[detection.dataset]
        result = ReadResult(detection=detection, table="geometries", batches=[])
        codes = self._codes(frame[layout.code], level, file, result)
        names = frame[layout.name].astype("str") if layout.name else pd.Series(None, frame.index)
        if layout.commune:
            communes = self._codes(frame[layout.commune], "commune", file, result)
            communes = communes.mask(communes == "")
        elif level == "commune":
            communes = codes
        else:
            communes = pd.Series(None, index=frame.index, dtype="str")
        geometry = frame.geometry
        table = pd.DataFrame({"code": codes, "name": names, "code_commune": communes})
        blank = (codes == "").to_numpy()
        if blank.any():
            # e.g. the island communes outside any EPCI in ANCT's EPCI layer
            result.warnings.append(f"{int(blank.sum())} entité(s) sans code écartée(s)")
            table, geometry = table[~blank], geometry[~blank]
        if layout.dissolve:
            table, geometry = self._dissolve(table, geometry, result)
        empty = geometry.isna() | geometry.is_empty
        if empty.any():
            result.warnings.append(f"{int(empty.sum())} entité(s) sans géométrie")
        wkb = shapely.to_wkb(geometry.to_numpy())
        table = table.reset_index(drop=True)
        table.insert(0, "level", level)
        table["geometry_wkb"] = pd.Series(list(wkb), dtype=object).where(~empty.to_numpy(), None)
        table["source_crs"] = source_crs
        for column in ("level", "code", "name", "code_commune", "source_crs"):
            table[column] = table[column].astype("str")
        result.batches = [table]
        return result

    @staticmethod
    def _codes(values: pd.Series, level: str, file: SniffedFile, result: ReadResult) -> pd.Series:
        text, numeric = _text(values)
        width = _WIDTH.get(level)
        if width:
            short = numeric & text.str.fullmatch(r"\d+") & (text.str.len() < width)
            if short.any():
                text = text.where(~short, text.str.zfill(width))
                result.repaired += int(short.sum())
                result.warnings.append(
                    f"{int(short.sum())} codes ({level}) stockés comme nombres complétés par "
                    "des zéros"
                )
        checks: dict[str, Callable[[pd.Series], pd.Series]] = {
            "commune": lambda s: s.str.fullmatch(COMMUNE_PATTERN),
            "iris": lambda s: s.str.fullmatch(COMMUNE_PATTERN + r"\d{4}"),
            "epci": lambda s: s.str.fullmatch(r"\d{9}"),
        }
        bad = pd.Series(False, index=text.index)
        if level in checks:
            bad = ~checks[level](text) & (text != "")
        if bad.any():
            position = int(bad.to_numpy().argmax())
            raise InputError(
                f"code {level} invalide : « {text.iloc[position]} » (entité {position + 1})",
                path=file.label,
                column=values.name,
            )
        return text

    @staticmethod
    def _dissolve(table: pd.DataFrame, geometry, result: ReadResult):
        """One geometry per code (EPCI split per département by ANCT)."""
        import geopandas

        frame = geopandas.GeoDataFrame(table, geometry=geometry.to_numpy(), crs=4326)
        parts = len(frame)
        merged = frame.dissolve(by="code", aggfunc="first", sort=True).reset_index()
        if len(merged) < parts:
            result.warnings.append(
                f"{parts} entités fusionnées en {len(merged)} (une géométrie par code)"
            )
        return merged[["code", "name", "code_commune"]], merged.geometry


register(GeometryReader())
