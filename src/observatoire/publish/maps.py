"""Choropleth maps of a commune indicator, for the report and the web observatory.

Two entry points:

- :func:`classify` cuts a series of values into classes (quantiles, Fisher-Jenks, equal
  intervals, k-means natural breaks) and returns a :class:`Classification` with its bounds,
  its French legend labels (« de 12,3 à 15,0 ») and its count per class;
- :func:`choropleth` draws the communes of a :class:`geopandas.GeoDataFrame` coloured by class
  and returns a :class:`MapFigure` (SVG, PNG, French alternative text).

Rules of the drawing:

- the map is drawn in Lambert-93 (EPSG:2154), without basemap (everything works offline);
- a commune whose status is ``secret``, ``missing`` or ``non_additive``, or without value, is
  hatched light grey with the legend entry « non diffusé / non disponible »: it is never given
  the colour of a low class and never counted in a class;
- an ``incomplete`` value is coloured and counted in its class; a note under the map says how
  many communes are concerned;
- the source line (« Source : … ») is written under the map.

Speed: matplotlib's object API is used (no ``pyplot``: no global figure to close, works without
a screen), each commune is one path of a single ``PathCollection``, and the projected paths of a
``geo`` frame are cached (key: its codes and the bounds of its shapes), so the maps of one report
project and convert the communes' shapes once.
"""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from threading import Lock

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath

from observatoire.breaks import fisher_jenks
from observatoire.errors import InputError
from observatoire.publish.fmt import fr_number, fr_unit, fr_value

__all__ = [
    "NO_DATA_LABEL",
    "SCHEMES",
    "Classification",
    "MapFigure",
    "choropleth",
    "classify",
]

SCHEMES: dict[str, str] = {
    "quantiles": "quantiles",
    "jenks": "seuils naturels de Fisher-Jenks",
    "equal_interval": "intervalles égaux",
    "natural_breaks": "seuils naturels par k-moyennes",
}
"""Classification schemes accepted by :func:`classify`, with their French name."""

STATUSES: tuple[str, ...] = ("ok", "incomplete", "secret", "non_additive", "missing")
NO_DATA_STATUSES: frozenset[str] = frozenset({"secret", "missing", "non_additive"})
NO_DATA_LABEL = "non diffusé / non disponible"

DISPLAY_CRS = "EPSG:2154"  # Lambert-93
_SOURCE_CRS = "EPSG:4326"

# Drawing constants (inches, points, colours).
_FIG_WIDTH = 6.7  # A4 page width minus 2 cm margins
_MARGIN = 0.12
_GAP = 0.15
_MAP_MIN_HEIGHT = 2.2
_MAP_MAX_HEIGHT = 6.0
_BORDER_COLOUR = "white"
_BORDER_WIDTH = 0.3
_NO_DATA_FACE = "#ececec"
_NO_DATA_HATCH = "#8c8c8c"
_HATCH = "////"
_OUTLINE_COLOUR = "#262626"
_OUTLINE_WIDTH = 1.0
_TEXT_COLOUR = "#262626"
_NOTE_COLOUR = "#4d4d4d"
_RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "svg.fonttype": "none",  # real <text> in the SVG: searchable, accessible, small
    "svg.hashsalt": "observatoire-maps",  # deterministic ids in the SVG
    "hatch.linewidth": 0.6,
    "path.simplify": True,
}
_GEO_CACHE_SIZE = 8


# --------------------------------------------------------------------------- classification


@dataclass(frozen=True)
class Classification:
    """Classes of a series: class ``i`` holds the values in ``(bins[i-1], bins[i]]``, the first
    one the values in ``[lower, bins[0]]``.

    ``labels`` are the French legend labels (« de 12,3 à 15,0 »), ``counts`` the number of
    values per class; an empty classification (no value) has no class."""

    scheme: str
    bins: tuple[float, ...]
    lower: float
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    decimals: int = 1

    @property
    def k(self) -> int:
        """Number of classes (may be lower than asked: see :func:`classify`)."""
        return len(self.bins)

    def assign(self, values):
        """Class index of each value, ``-1`` for NaN or a value outside ``[lower, bins[-1]]``.

        A scalar gives an ``int``, a :class:`pandas.Series` a Series with the same index,
        anything else a NumPy array of ``int``."""
        scalar = np.ndim(values) == 0
        array = np.atleast_1d(np.asarray(values, dtype=float))
        if not self.bins:
            result = np.full(array.shape, -1, dtype=int)
        else:
            bins = np.asarray(self.bins, dtype=float)
            index = np.searchsorted(bins, array, side="left")
            outside = np.isnan(array) | (array < self.lower) | (index >= len(bins))
            result = np.where(outside, -1, index).astype(int)
        if scalar:
            return int(result[0])
        if isinstance(values, pd.Series):
            return pd.Series(result, index=values.index, name=values.name)
        return result


def classify(
    values: pd.Series | Sequence[float] | np.ndarray,
    scheme: str = "quantiles",
    k: int = 5,
    *,
    decimals: int = 1,
) -> Classification:
    """Cut ``values`` into at most ``k`` classes with the scheme named ``scheme``.

    Schemes (:data:`SCHEMES`) give the bounds of mapclassify's classifiers, computed here
    with NumPy (importing mapclassify costs 0.7 s, and its Fisher-Jenks is slow without
    numba): ``quantiles`` (as ``mapclassify.Quantiles``: same number of values per class,
    linear interpolation), ``jenks`` (exact Fisher-Jenks optimisation, the bounds of
    ``mapclassify.FisherJenks``; above 2 000 distinct values it runs on 2 000 evenly spaced
    order statistics),
    ``equal_interval`` (classes of equal width between min and max, bounds computed exactly)
    and ``natural_breaks`` (one-dimensional k-means as ``mapclassify.NaturalBreaks``, but
    started from the quantiles so that the result is deterministic).

    NaN and infinite values are left out. With no more distinct values than ``k``, each
    distinct value is one class labelled by that value (with ``equal_interval``, ``k`` is only
    reduced to the number of distinct values); a constant series gives one class. Empty
    classes are dropped, except with ``equal_interval`` where they are meaningful.
    ``decimals`` is the number of decimals of the legend labels (the indicator's)."""
    if scheme not in SCHEMES:
        valid = ", ".join(f"« {name} »" for name in SCHEMES)
        raise InputError(
            f"méthode de discrétisation inconnue « {scheme} » : méthodes valides {valid}."
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError(
            f"nombre de classes invalide « {k} » : un entier supérieur ou égal à 1 est attendu."
        )
    decimals = max(int(decimals), 0)
    data = _finite(values)
    if data.size == 0:
        return Classification(scheme, (), math.nan, (), (), decimals)
    data.sort()
    distinct = np.unique(data)
    k = min(int(k), distinct.size)
    lower = float(data[0])
    one_value_per_class = k == distinct.size and (k == 1 or scheme != "equal_interval")
    if one_value_per_class:
        bins = distinct
    elif scheme == "quantiles":  # mapclassify.Quantiles: linear interpolation
        bins = np.percentile(data, 100.0 * np.arange(1, k + 1) / k)
    elif scheme == "jenks":
        bins = fisher_jenks(data, distinct, k)
    elif scheme == "equal_interval":
        upper = float(data[-1])
        bins = np.array([lower + (upper - lower) * i / k for i in range(1, k)] + [upper])
    else:
        bins = _kmeans_breaks(data, distinct, k)
    bins = np.unique(np.append(np.minimum(bins, data[-1]), data[-1]))
    counts = _counts(data, bins)
    if scheme != "equal_interval" and (counts == 0).any():
        bins = bins[counts > 0]
        counts = _counts(data, bins)
    bins_t = tuple(float(b) for b in bins)
    if one_value_per_class:
        labels = tuple(fr_number(b, decimals) for b in bins_t)
    else:
        labels = _labels(lower, bins_t, decimals)
    return Classification(scheme, bins_t, lower, labels, tuple(int(c) for c in counts), decimals)


def _finite(values) -> np.ndarray:
    if isinstance(values, pd.Series) and not pd.api.types.is_numeric_dtype(values.dtype):
        try:
            values = pd.to_numeric(values)
        except (TypeError, ValueError) as error:
            raise InputError(f"valeurs non numériques à cartographier : {error}.") from error
    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as error:
        raise InputError(f"valeurs non numériques à cartographier : {error}.") from error
    return array[np.isfinite(array)].copy()


def _counts(sorted_data: np.ndarray, bins: np.ndarray) -> np.ndarray:
    edges = np.searchsorted(sorted_data, bins, side="right")
    return np.diff(np.concatenate([[0], edges]))


def _labels(lower: float, bins: tuple[float, ...], decimals: int) -> tuple[str, ...]:
    labels = []
    for i, upper in enumerate(bins):
        start = fr_number(lower if i == 0 else bins[i - 1], decimals)
        end = fr_number(upper, decimals)
        labels.append(f"de {start} à {end}")
    return tuple(labels)


def _kmeans_breaks(data: np.ndarray, distinct: np.ndarray, k: int) -> np.ndarray:
    """One-dimensional k-means (Lloyd) started from the centres of the quantile classes."""
    quantile_bins = np.quantile(data, np.linspace(0, 1, k + 1))
    centres = (quantile_bins[:-1] + quantile_bins[1:]) / 2
    for _ in range(100):
        centres = np.unique(centres)
        cuts = (centres[:-1] + centres[1:]) / 2
        labels = np.searchsorted(cuts, data, side="right")
        sums = np.bincount(labels, weights=data, minlength=centres.size)
        sizes = np.bincount(labels, minlength=centres.size)
        new = np.where(sizes > 0, sums / np.maximum(sizes, 1), centres)
        if np.allclose(new, centres, rtol=0, atol=1e-12 * max(1.0, np.abs(data).max())):
            break
        centres = new
    cuts = (centres[:-1] + centres[1:]) / 2
    labels = np.searchsorted(cuts, data, side="right")
    return np.array([data[labels == c].max() for c in np.unique(labels)])


# --------------------------------------------------------------------------- geometry cache


@dataclass(frozen=True)
class _Shapes:
    """Communes of a ``geo`` frame in display CRS, as matplotlib paths."""

    codes: np.ndarray
    names: np.ndarray
    paths: tuple[MplPath, ...]
    bounds: tuple[float, float, float, float]


_shape_cache: OrderedDict[str, _Shapes] = OrderedDict()
_outline_cache: OrderedDict[str, tuple[tuple[MplPath, ...], tuple[float, ...]]] = OrderedDict()
_cache_lock = Lock()


def _geometry_key(codes: Iterable[str], geometry: np.ndarray, crs: object) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update("\x1f".join(codes).encode("utf-8"))
    digest.update(np.ascontiguousarray(shapely.bounds(geometry), dtype=float).tobytes())
    digest.update(shapely.get_num_coordinates(geometry).astype(np.int64).tobytes())
    digest.update(str(crs).encode("utf-8"))
    return digest.hexdigest()


def _cached(cache: OrderedDict, key: str, build):
    with _cache_lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = build()
    with _cache_lock:
        cache[key] = value
        while len(cache) > _GEO_CACHE_SIZE:
            cache.popitem(last=False)
    return value


def _to_display(geometry: gpd.GeoSeries) -> gpd.GeoSeries:
    if geometry.crs is None:
        geometry = geometry.set_crs(_SOURCE_CRS)
    return geometry.to_crs(DISPLAY_CRS)


def _path(geometry) -> MplPath:
    """One compound path (exteriors and holes) of a polygon or multipolygon."""
    vertices = []
    codes = []
    if geometry is None or geometry.is_empty:
        return MplPath(np.empty((0, 2)))
    for polygon in shapely.get_parts(geometry):
        if not isinstance(polygon, shapely.Polygon):
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            if len(xy) < 3:
                continue
            ring_codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
            ring_codes[0] = MplPath.MOVETO
            ring_codes[-1] = MplPath.CLOSEPOLY
            vertices.append(xy)
            codes.append(ring_codes)
    if not vertices:
        return MplPath(np.empty((0, 2)))
    return MplPath(np.concatenate(vertices), np.concatenate(codes))


def _shapes(geo: gpd.GeoDataFrame) -> _Shapes:
    missing = [column for column in ("code", "nom", "geometry") if column not in geo.columns]
    if missing:
        names = ", ".join(f"« {column} »" for column in missing)
        raise InputError(f"géométries à cartographier sans colonne {names}.")
    codes = geo["code"].astype(str).to_numpy()
    if len(set(codes)) != len(codes):
        duplicated = pd.Series(codes)[pd.Series(codes).duplicated()].iloc[0]
        raise InputError(f"code de commune en double dans les géométries : « {duplicated} ».")
    geometry = geo.geometry.to_numpy()
    key = _geometry_key(codes, geometry, geo.crs)

    def build() -> _Shapes:
        projected = _to_display(geo.geometry).to_numpy()
        paths = tuple(_path(shape) for shape in projected)
        minx, miny, maxx, maxy = shapely.total_bounds(projected)
        return _Shapes(
            codes=codes.copy(),
            names=geo["nom"].astype(str).to_numpy().copy(),
            paths=paths,
            bounds=(float(minx), float(miny), float(maxx), float(maxy)),
        )

    return _cached(_shape_cache, key, build)


def _outline(outline: gpd.GeoSeries) -> tuple[tuple[MplPath, ...], tuple[float, ...]]:
    geometry = outline.to_numpy()
    key = _geometry_key((), geometry, outline.crs)

    def build():
        projected = _to_display(outline).to_numpy()
        return tuple(_path(shape) for shape in projected), tuple(
            float(b) for b in shapely.total_bounds(projected)
        )

    return _cached(_outline_cache, key, build)


# --------------------------------------------------------------------------- map figure


@dataclass
class MapFigure:
    """A drawn choropleth map: :meth:`svg`, :meth:`png`, :attr:`alt_text`,
    :attr:`classification`. Renderings are cached (the figure is deterministic)."""

    figure: Figure
    classification: Classification
    alt_text: str
    _renders: dict = field(default_factory=dict, repr=False)

    def svg(self) -> str:
        """The map as an SVG document (texts kept as ``<text>``, no date, stable ids)."""
        if "svg" not in self._renders:
            buffer = io.BytesIO()
            with matplotlib.rc_context(_RC):
                self.figure.savefig(buffer, format="svg", metadata={"Date": None})
            self._renders["svg"] = buffer.getvalue().decode("utf-8")
        return self._renders["svg"]

    def png(self, dpi: int = 150) -> bytes:
        """The map as PNG bytes at ``dpi`` dots per inch (no timestamp)."""
        key = ("png", int(dpi))
        if key not in self._renders:
            buffer = io.BytesIO()
            with matplotlib.rc_context(_RC):
                self.figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
            self._renders[key] = buffer.getvalue()
        return self._renders[key]


def choropleth(
    geo: gpd.GeoDataFrame,
    values: pd.Series,
    statuses: pd.Series | None,
    *,
    title: str,
    unit: str,
    decimals: int,
    source: str,
    scheme: str = "quantiles",
    k: int = 5,
    palette: str = "Blues",
    highlight_outline: gpd.GeoSeries | None = None,
) -> MapFigure:
    """Choropleth map of ``values`` (indexed by commune code) over the communes of ``geo``
    (columns code, nom, geometry; EPSG:4326, or any CRS it declares).

    ``statuses`` (indexed by code: ok, incomplete, secret, non_additive, missing) decides what
    is drawn: secret, missing and non_additive communes, and communes without value, are
    hatched grey (« non diffusé / non disponible »); incomplete values are coloured and
    counted. Codes of ``values`` absent from ``geo`` are ignored. ``palette`` is a sequential
    matplotlib colour map name; ``highlight_outline`` an optional parent territory drawn as a
    thin dark line."""
    shapes = _shapes(geo)
    try:
        cmap = matplotlib.colormaps[palette]
    except KeyError:
        raise InputError(
            f"palette de couleurs inconnue « {palette} » : palettes séquentielles conseillées "
            "« Blues », « Greens », « Oranges », « Purples », « Reds », « Greys », « YlGnBu », "
            "« YlOrRd », « viridis »."
        ) from None
    data, status = _aligned(shapes.codes, values, statuses)
    no_data = np.isin(status, list(NO_DATA_STATUSES)) | ~np.isfinite(data)
    data = np.where(no_data, np.nan, data)
    classification = classify(data, scheme, k, decimals=decimals)
    classes = classification.assign(data)
    colours = _colours(cmap, classification.k)
    incomplete = int(((status == "incomplete") & ~no_data).sum())

    outline = _outline(highlight_outline) if highlight_outline is not None else None
    figure = _draw(
        shapes,
        classes,
        classification,
        colours,
        no_data_count=int(no_data.sum()),
        incomplete=incomplete,
        outline=outline,
        title=title,
        unit=unit,
        source=source,
    )
    alt = _alt_text(
        shapes, data, classification, int(no_data.sum()), title=title, unit=unit, decimals=decimals
    )
    return MapFigure(figure=figure, classification=classification, alt_text=alt)


def _aligned(
    codes: np.ndarray, values: pd.Series, statuses: pd.Series | None
) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(values, pd.Series):
        raise InputError("les valeurs à cartographier doivent être indexées par code de commune.")
    for name, series in (("valeurs", values), ("statuts", statuses)):
        if series is not None and series.index.has_duplicates:
            duplicated = series.index[series.index.duplicated()][0]
            raise InputError(f"code de commune en double dans les {name} : « {duplicated} ».")
    numeric = values
    if not pd.api.types.is_numeric_dtype(values.dtype):
        try:
            numeric = pd.to_numeric(values)
        except (TypeError, ValueError) as error:
            raise InputError(f"valeurs non numériques à cartographier : {error}.") from error
    numeric = numeric.copy()
    numeric.index = numeric.index.astype(str)
    data = numeric.reindex(codes).to_numpy(dtype=float, na_value=np.nan)
    if statuses is None:
        status = np.where(np.isfinite(data), "ok", "missing").astype(object)
    else:
        labels = statuses.copy()
        labels.index = labels.index.astype(str)
        status = labels.reindex(codes).to_numpy(dtype=object)
        absent = pd.isna(status)
        status[absent] = np.where(np.isfinite(data[absent]), "ok", "missing")
        unknown = sorted({str(s) for s in status} - set(STATUSES))
        if unknown:
            valid = ", ".join(f"« {name} »" for name in STATUSES)
            raise InputError(f"statut inconnu « {unknown[0]} » : statuts valides {valid}.")
    return data, status


def _colours(cmap, n: int) -> list[tuple[float, float, float, float]]:
    if n == 0:
        return []
    if n == 1:
        return [cmap(0.6)]
    return [cmap(x) for x in np.linspace(0.18, 0.95, n)]


def _count(n: int) -> str:
    return f"{fr_number(n)} commune" if n <= 1 else f"{fr_number(n)} communes"


def _draw(
    shapes: _Shapes,
    classes: np.ndarray,
    classification: Classification,
    colours: list,
    *,
    no_data_count: int,
    incomplete: int,
    outline,
    title: str,
    unit: str,
    source: str,
) -> Figure:
    minx, miny, maxx, maxy = shapes.bounds
    if outline is not None:
        ominx, ominy, omaxx, omaxy = outline[1]
        minx, miny = min(minx, ominx), min(miny, ominy)
        maxx, maxy = max(maxx, omaxx), max(maxy, omaxy)
    pad = 0.02 * max(maxx - minx, maxy - miny, 1.0)
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    aspect = (maxy - miny) / (maxx - minx)

    # Legend entries and the column they need.
    handles = [
        Patch(
            facecolor=colour,
            edgecolor="#bdbdbd",
            linewidth=0.4,
            label=f"{label} ({_count(count)})",
        )
        for colour, label, count in zip(
            colours, classification.labels, classification.counts, strict=True
        )
    ]
    if no_data_count:
        handles.append(
            Patch(
                facecolor=_NO_DATA_FACE,
                edgecolor=_NO_DATA_HATCH,
                hatch=_HATCH,
                linewidth=0.4,
                label=f"{NO_DATA_LABEL} ({_count(no_data_count)})",
            )
        )
    unit_text = fr_unit(unit)
    legend_title = f"en {unit_text}" if unit_text else "Classes"
    longest = max([len(h.get_label()) for h in handles] + [len(legend_title), 10])
    legend_width = min(0.45 + 0.062 * longest, 3.0)

    # Page layout, in inches.
    title_lines = textwrap.wrap(title.strip(), width=int(_FIG_WIDTH * 11)) or [""]
    notes = []
    if incomplete:
        notes.append(
            f"Valeur incomplète pour {_count(incomplete)} (colorée et comptée dans sa classe)."
        )
    if classification.k:
        notes.append(
            f"Discrétisation : {SCHEMES[classification.scheme]}, "
            f"{classification.k} classe{'s' if classification.k > 1 else ''}."
        )
    source_text = source.strip()
    if not source_text.lower().startswith("source"):
        source_text = f"Source : {source_text}"
    foot_lines = [*notes, *textwrap.wrap(source_text, width=int(_FIG_WIDTH * 15))]
    title_height = 0.12 + 0.24 * len(title_lines)
    foot_height = 0.1 + 0.15 * len(foot_lines)
    map_width = _FIG_WIDTH - 2 * _MARGIN - _GAP - legend_width
    legend_height = 0.45 + 0.2 * len(handles)
    map_height = min(max(map_width * aspect, _MAP_MIN_HEIGHT, legend_height), _MAP_MAX_HEIGHT)
    if map_width * aspect > map_height:  # tall territory: narrower map
        map_width = map_height / aspect
    else:  # wide territory: widen the extent vertically to fill the box
        extra = (map_height / map_width * (maxx - minx) - (maxy - miny)) / 2
        miny, maxy = miny - extra, maxy + extra
    height = title_height + map_height + foot_height + 0.1
    width = _FIG_WIDTH

    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(width, height), facecolor="white")
        axes = figure.add_axes(
            (
                _MARGIN / width,
                (foot_height + 0.05) / height,
                map_width / width,
                map_height / height,
            )
        )
        axes.set_axis_off()
        axes.set_xlim(minx, maxx)
        axes.set_ylim(miny, maxy)
        axes.set_aspect("equal", adjustable="datalim")

        coloured = classes >= 0
        paths = shapes.paths
        # at national scale white borders would wash the colours out
        border = (_BORDER_COLOUR, _BORDER_WIDTH) if len(paths) <= 3000 else ("face", 0.05)
        if coloured.any():
            facecolors = [colours[c] for c in classes[coloured]]
            axes.add_collection(
                PathCollection(
                    [paths[i] for i in np.flatnonzero(coloured)],
                    facecolors=facecolors,
                    edgecolors=border[0],
                    linewidths=border[1],
                    zorder=1,
                ),
                autolim=False,
            )
        if (~coloured).any():
            axes.add_collection(
                PathCollection(
                    [paths[i] for i in np.flatnonzero(~coloured)],
                    facecolors=_NO_DATA_FACE,
                    edgecolors=_BORDER_COLOUR,
                    hatchcolor=_NO_DATA_HATCH,
                    hatch=_HATCH,
                    linewidths=_BORDER_WIDTH,
                    zorder=2,
                ),
                autolim=False,
            )
        if outline is not None:
            axes.add_collection(
                PathCollection(
                    list(outline[0]),
                    facecolors="none",
                    edgecolors=_OUTLINE_COLOUR,
                    linewidths=_OUTLINE_WIDTH,
                    zorder=3,
                ),
                autolim=False,
            )

        legend_x = (_MARGIN + map_width + _GAP) / width
        legend_top = (foot_height + 0.05 + map_height) / height
        legend = figure.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(legend_x, legend_top),
            frameon=False,
            fontsize=7.5,
            title=legend_title,
            title_fontsize=8,
            alignment="left",
            handlelength=1.6,
            handleheight=1.1,
            borderaxespad=0.0,
            borderpad=0.0,
        )
        for text in legend.get_texts():
            text.set_color(_TEXT_COLOUR)
        legend.get_title().set_color(_TEXT_COLOUR)
        figure.text(
            _MARGIN / width,
            1 - 0.1 / height,
            "\n".join(title_lines),
            ha="left",
            va="top",
            fontsize=11,
            fontweight="bold",
            color=_TEXT_COLOUR,
            linespacing=1.25,
        )
        figure.text(
            _MARGIN / width,
            0.08 / height,
            "\n".join(foot_lines),
            ha="left",
            va="bottom",
            fontsize=7,
            color=_NOTE_COLOUR,
            linespacing=1.35,
        )
    return figure


def _alt_text(
    shapes: _Shapes,
    data: np.ndarray,
    classification: Classification,
    no_data_count: int,
    *,
    title: str,
    unit: str,
    decimals: int,
) -> str:
    total = len(shapes.codes)
    unit_text = fr_unit(unit)
    what = title.strip().rstrip(".")
    head = f"Carte de {_count(total)} : {what}" + (f" (en {unit_text})" if unit_text else "")
    if not classification.k:
        return f"{head}. Aucune valeur n'est diffusée pour ces communes."
    k = classification.k
    parts = [
        f"{label} : {_count(count)}"
        for label, count in zip(classification.labels, classification.counts, strict=True)
    ]
    classes = f"{k} classe{'s' if k > 1 else ''} ({SCHEMES[classification.scheme]})"
    sentence = f"{head}. {classes[0].upper()}{classes[1:]} : " + " ; ".join(parts)
    if no_data_count:
        plural = "s" if no_data_count > 1 else ""
        sentence += f" ; {_count(no_data_count)} non diffusée{plural} ou non disponible{plural}"
    order = np.lexsort((shapes.codes, data))  # value, then code for ties; NaN last
    valid = order[np.isfinite(data[order])]
    low, high = valid[0], valid[np.flatnonzero(data[valid] == data[valid[-1]])[0]]
    sentence += (
        f". Valeur la plus basse : {fr_value(data[low], unit, decimals)} à {shapes.names[low]}"
        f" ; la plus haute : {fr_value(data[high], unit, decimals)} à {shapes.names[high]}."
    )
    return sentence
