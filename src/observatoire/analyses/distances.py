"""Distances between communes: centroids of the referential's shapes, geodesic distances, and
an optional road-time matrix (« distancier ») given by the user.

- :func:`centroids`: the centroid of each commune's polygon computed in a projected system
  (Lambert-93, EPSG:2154, in métropole; the UTM system of each overseas département), then
  expressed in longitude / latitude (WGS 84). A centroid can fall outside a crescent-shaped
  commune: it is the convention of INSEE's Metric chef-lieu-to-chef-lieu distances' cousin,
  documented in ``docs/diagnostics.md``.
- :func:`distance_km`: geodesic distances (GRS 80 ellipsoid, :class:`pyproj.Geod`) between
  two sets of points, as a matrix — exact whatever the projection.
- :func:`read_time_matrix`: ``origine;destination;minutes`` (CSV, ``;`` or ``,``; also
  ``duree`` / ``temps`` for the time column), checked line by line.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Geod

from observatoire.errors import InputError

_GEOD = Geod(ellps="GRS80")
METROPOLE_EPSG = 2154
OVERSEAS_EPSG = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
_COMMUNE = re.compile(r"(\d{2}|2[AB])\d{3}")
_TIME_COLUMNS = ("minutes", "duree", "durée", "temps", "temps_min", "duree_min")


def _epsg(code: str) -> int:
    return OVERSEAS_EPSG.get(code[:3], METROPOLE_EPSG) if code.startswith("97") else METROPOLE_EPSG


def centroids(geo: gpd.GeoDataFrame) -> pd.DataFrame:
    """``code, lon, lat`` of the centroid of each shape of ``geo`` (columns ``code``,
    ``geometry``; any declared CRS, EPSG:4326 when none)."""
    if geo.crs is None:
        geo = geo.set_crs(4326)
    codes = geo["code"].astype(str)
    systems = codes.map(_epsg)
    lon = np.full(len(geo), np.nan)
    lat = np.full(len(geo), np.nan)
    for epsg in sorted(systems.unique()):
        mask = (systems == epsg).to_numpy()
        projected = geo.loc[mask, "geometry"].to_crs(epsg)
        points = gpd.GeoSeries(projected.centroid, crs=epsg).to_crs(4326)
        lon[mask] = points.x.to_numpy()
        lat[mask] = points.y.to_numpy()
    return pd.DataFrame({"code": codes.to_numpy(), "lon": lon, "lat": lat})


def distance_km(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Geodesic distances in km between the points of ``a`` (rows) and of ``b`` (columns);
    both with ``lon`` and ``lat`` columns."""
    n, m = len(a), len(b)
    if not n or not m:
        return np.zeros((n, m))
    lon1 = np.repeat(a["lon"].to_numpy(float), m)
    lat1 = np.repeat(a["lat"].to_numpy(float), m)
    lon2 = np.tile(b["lon"].to_numpy(float), n)
    lat2 = np.tile(b["lat"].to_numpy(float), n)
    _, _, metres = _GEOD.inv(lon1, lat1, lon2, lat2)
    return (np.asarray(metres) / 1000.0).reshape(n, m)


def read_time_matrix(path: Path) -> pd.DataFrame:
    """A road-time matrix: ``origine, destination, minutes`` (strings, strings, float).

    Raises :class:`InputError` naming the file, the line and the column of a bad cell."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"distancier illisible ({exc})", path=path) from exc
    lines = text.splitlines()
    if not lines:
        raise InputError("distancier vide", path=path)
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip().lower() for h in rows[0]]

    def column(names: tuple[str, ...], what: str) -> int:
        for name in names:
            if name in header:
                return header.index(name)
        raise InputError(
            f"colonne {what} absente (attendu : {', '.join(names)} ; lu : {', '.join(header)})",
            path=path,
            line=1,
        )

    i_from = column(("origine", "code_origine", "depart", "départ"), "de la commune d'origine")
    i_to = column(("destination", "code_destination", "arrivee", "arrivée"), "de destination")
    i_time = column(_TIME_COLUMNS, "du temps de trajet (minutes)")
    origins, destinations, minutes = [], [], []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = [row[i].strip() if i < len(row) else "" for i in (i_from, i_to, i_time)]
        for value, name in zip(cells[:2], (header[i_from], header[i_to]), strict=True):
            if not _COMMUNE.fullmatch(value):
                raise InputError(
                    f"code commune invalide « {value} » (5 caractères INSEE attendus)",
                    path=path,
                    line=number,
                    column=name,
                )
        try:
            time = float(cells[2].replace(",", "."))
        except ValueError:
            time = float("nan")
        if not np.isfinite(time) or time < 0:
            raise InputError(
                f"temps de trajet invalide « {cells[2]} » (minutes ≥ 0 attendues)",
                path=path,
                line=number,
                column=header[i_time],
            )
        origins.append(cells[0])
        destinations.append(cells[1])
        minutes.append(time)
    return pd.DataFrame({"origine": origins, "destination": destinations, "minutes": minutes})


def time_matrix(times: pd.DataFrame, rows: list[str], columns: list[str]) -> np.ndarray:
    """Minutes from each of ``rows`` to each of ``columns`` (NaN when the pair is absent in
    both directions; 0 from a commune to itself)."""
    index = {c: i for i, c in enumerate(rows)}
    cols = {c: j for j, c in enumerate(columns)}
    out = np.full((len(rows), len(columns)), np.nan)
    for origin, destination, minutes in times.itertuples(index=False):
        for a, b in ((origin, destination), (destination, origin)):
            i, j = index.get(a), cols.get(b)
            if i is not None and j is not None and (np.isnan(out[i, j]) or a == origin):
                out[i, j] = minutes
    for code, i in index.items():
        if code in cols:
            out[i, cols[code]] = 0.0
    return out
