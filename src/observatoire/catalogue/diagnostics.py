"""Parameters of the diagnostics (``catalogue/diagnostics.yaml``), validated on load.

The package ships the defaults; a project may override part of them with a
``diagnostics.yaml`` in its folder (same keys; mappings are merged key by key, lists and
scalars replaced). Errors name the file and the key, in French.

Sections:

- ``marche``: DVF cleaning rules and publication thresholds (:class:`MarketParams`);
- ``habitat``: the OPAH-RU / OPAH-RR pre-diagnostic, one entry per variant
  (:class:`HabitatVariant`);
- ``centralites``: the bourgs-centres diagnostic — function criteria, armature levels,
  neighbourhood radii, commerce NAF lists (:class:`CentralityParams`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from observatoire.errors import ConfigError

DIAGNOSTICS_FILE = "diagnostics.yaml"
TRIM_METHODS = ("iqr", "percentiles", "aucun")
NORMALISATIONS = ("minmax", "zscore", "quintiles")
AGGREGATIONS = ("additive", "geometric")
CLASS_METHODS = ("quantiles", "jenks")
RELATIVE_TO = ("", "epci", "departement")
CENTRALITY_NORMALISATIONS = ("rangs", "minmax", "quintiles")
GAMMES = ("proximite", "intermediaire", "superieure")
# Measures computed by the centralités diagnostic (see diagnostics.yaml).
CENTRALITY_MEASURES = (
    "couverture_proximite",
    "couverture_intermediaire",
    "couverture_superieure",
    "equipements_pour_1000",
    "types_sante",
    "types_enseignement",
    "types_commerce",
    "types_culture_tourisme",
    "equipements_culture_tourisme_pour_1000",
    "commerces_pour_1000",
    "etablissements_pour_1000",
    "diversite_statuts",
    "diversite_tailles",
    "programmes",
)


@dataclass(frozen=True)
class MarketParams:
    """DVF cleaning rules and publication thresholds (methods §4.1 and §4.4)."""

    natures: tuple[str, ...] = ("Vente",)
    exclude_multi_communes: bool = True
    exclude_multi_dispositions: bool = True
    price_min: float = 15000.0
    surface_house: tuple[float, float] = (10.0, 350.0)
    surface_apartment: tuple[float, float] = (10.0, 200.0)
    trim_method: str = "iqr"
    trim_coefficient: float = 1.5
    trim_percentiles: tuple[float, float] = (1.0, 99.0)
    trim_min_count: int = 30
    incomplete_semesters: int = 1
    threshold: int = 11
    threshold_quartiles: int = 20

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class HabitatCriterion:
    """One criterion of a variant: an indicator of the catalogue, oriented and weighted."""

    indicator: str
    dimension: str
    direction: int  # +1: higher = more need
    weight: float = 1.0
    label: str = ""
    relative: str = ""  # "", "epci" or "departement": value / the parent's value × 100


@dataclass(frozen=True)
class HabitatGate:
    """A minimum-size gate: the indicator's value must reach ``min`` to be ranked."""

    indicator: str
    min: float
    label: str = ""


@dataclass(frozen=True)
class HabitatVariant:
    """One variant of the OPAH pre-diagnostic (``ru`` urban, ``rr`` rural)."""

    id: str
    label: str
    description: str
    dimensions: Mapping[str, tuple[str, float]]  # id → (French label, weight)
    criteria: tuple[HabitatCriterion, ...]
    gates: tuple[HabitatGate, ...]
    normalisation: str = "quintiles"
    winsorise: tuple[float, float] | None = (0.05, 0.95)
    aggregation: str = "additive"
    min_completeness: float = 0.6
    classes: int = 5
    class_method: str = "quantiles"
    top: int = 10
    shift: float = 0.2
    draws: int = 1000


@dataclass(frozen=True)
class CentralityCriterion:
    """One criterion of a function: a catalogue indicator or a measure of the diagnostic."""

    key: str
    kind: str  # "indicateur" or "mesure"
    direction: int  # +1: higher = a stronger function
    weight: float = 1.0
    label: str = ""


@dataclass(frozen=True)
class CentralityFunction:
    id: str
    label: str
    criteria: tuple[CentralityCriterion, ...]


@dataclass(frozen=True)
class CentralityLevel:
    """A level of the armature: every listed gamme must reach its coverage (0-1)."""

    id: str
    label: str
    thresholds: Mapping[str, float]


@dataclass(frozen=True)
class CommerceType:
    id: str
    label: str
    naf: tuple[str, ...]  # NAF rév. 2 prefixes ("47.2", "10.71C")


@dataclass(frozen=True)
class CentralityParams:
    """The bourgs-centres diagnostic (methods §3 and §6)."""

    normalisation: str
    winsorise: tuple[float, float] | None
    functions: tuple[CentralityFunction, ...]
    identity_prefixes: tuple[str, ...]
    levels: tuple[CentralityLevel, ...]  # highest first
    search_km: float
    neighbour_km: float
    neighbour_minutes: float
    commerce_types: tuple[CommerceType, ...]
    retail: tuple[str, ...]  # commerce types counted in commerces_pour_1000
    excluded: tuple[str, ...]  # NAF prefixes never counted
    vacancy_favourable: float
    vacancy_critical: float

    @property
    def level_ids(self) -> tuple[str, ...]:
        return tuple(level.id for level in self.levels)


@dataclass(frozen=True)
class Diagnostics:
    market: MarketParams
    habitat: Mapping[str, HabitatVariant]
    origin: str
    centralities: CentralityParams | None = None


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


class _Reader:
    """Typed access to one YAML mapping, with French errors naming file and key."""

    def __init__(self, raw: Any, where: str, origin: str) -> None:
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} : une table est attendue", path=origin)
        self.raw = raw
        self.where = where
        self.origin = origin

    def fail(self, key: str, expected: str) -> ConfigError:
        return ConfigError(
            f"{self.where}.{key} : {expected} (valeur lue : {self.raw.get(key)!r})",
            path=self.origin,
        )

    def known(self, keys: set[str]) -> None:
        unknown = set(self.raw) - keys
        if unknown:
            raise ConfigError(
                f"{self.where} : clé(s) inconnue(s) {', '.join(sorted(map(str, unknown)))}",
                path=self.origin,
            )

    def number(self, key: str, default: float, *, minimum: float | None = None) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "un nombre est attendu")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"un nombre ≥ {minimum:g} est attendu")
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"un entier ≥ {minimum} est attendu")
        return int(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true ou false est attendu")
        return value

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.raw.get(key, default)
        if value not in allowed:
            raise self.fail(key, f"une valeur parmi {', '.join(allowed)} est attendue")
        return str(value)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "un texte est attendu")
        return value.strip()

    def pair(self, key: str, default: tuple[float, float]) -> tuple[float, float]:
        value = self.raw.get(key, list(default))
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            and value[0] < value[1]
        )
        if not ok:
            raise self.fail(key, "deux nombres croissants sont attendus, ex. [10, 200]")
        return float(value[0]), float(value[1])

    def sub(self, key: str) -> _Reader:
        return _Reader(self.raw.get(key, {}), f"{self.where}.{key}", self.origin)


def _market(raw: Any, origin: str) -> MarketParams:
    r = _Reader(raw or {}, "marche", origin)
    r.known(
        {
            "natures",
            "exclure_multi_communes",
            "exclure_multi_dispositions",
            "prix_min",
            "surface",
            "ecretage",
            "semestres_incomplets",
            "seuil_publication",
            "seuil_quartiles",
        }
    )
    natures = r.raw.get("natures", ["Vente"])
    if not isinstance(natures, list) or not natures or not all(isinstance(n, str) for n in natures):
        raise r.fail("natures", "une liste de natures de mutation est attendue, ex. [Vente]")
    surface = r.sub("surface")
    surface.known({"maison", "appartement"})
    trim = r.sub("ecretage")
    trim.known({"methode", "coefficient", "percentiles", "effectif_min"})
    percentiles = trim.pair("percentiles", (1.0, 99.0))
    if not (percentiles[0] >= 0 and percentiles[1] <= 100):
        raise trim.fail("percentiles", "deux percentiles entre 0 et 100 sont attendus")
    threshold = r.integer("seuil_publication", 11, minimum=1)
    quartiles = r.integer("seuil_quartiles", 20, minimum=1)
    if quartiles < threshold:
        raise r.fail("seuil_quartiles", f"un entier ≥ seuil_publication ({threshold}) est attendu")
    return MarketParams(
        natures=tuple(natures),
        exclude_multi_communes=r.flag("exclure_multi_communes", True),
        exclude_multi_dispositions=r.flag("exclure_multi_dispositions", True),
        price_min=r.number("prix_min", 15000, minimum=0),
        surface_house=surface.pair("maison", (10, 350)),
        surface_apartment=surface.pair("appartement", (10, 200)),
        trim_method=trim.choice("methode", "iqr", TRIM_METHODS),
        trim_coefficient=trim.number("coefficient", 1.5, minimum=0),
        trim_percentiles=percentiles,
        trim_min_count=trim.integer("effectif_min", 30, minimum=1),
        incomplete_semesters=r.integer("semestres_incomplets", 1, minimum=0),
        threshold=threshold,
        threshold_quartiles=quartiles,
    )


def _variant(vid: str, raw: Any, origin: str) -> HabitatVariant:
    r = _Reader(raw, f"habitat.{vid}", origin)
    r.known(
        {
            "libelle",
            "description",
            "dimensions",
            "criteres",
            "seuils",
            "normalisation",
            "ecretage",
            "agregation",
            "completude_min",
            "classes",
            "methode_classes",
            "tete_de_liste",
            "sensibilite",
        }
    )
    dims_raw = r.raw.get("dimensions")
    if not isinstance(dims_raw, dict) or not dims_raw:
        raise r.fail("dimensions", "une table {identifiant: {libelle, poids}} est attendue")
    dimensions: dict[str, tuple[str, float]] = {}
    for did, entry in dims_raw.items():
        d = _Reader(entry, f"habitat.{vid}.dimensions.{did}", origin)
        d.known({"libelle", "poids"})
        dimensions[str(did)] = (d.text("libelle"), d.number("poids", 1.0, minimum=1e-9))
    crit_raw = r.raw.get("criteres")
    if not isinstance(crit_raw, list) or not crit_raw:
        raise r.fail("criteres", "une liste de critères est attendue")
    criteria = []
    seen: set[str] = set()
    for n, entry in enumerate(crit_raw, start=1):
        c = _Reader(entry, f"habitat.{vid}.criteres[{n}]", origin)
        c.known({"indicateur", "dimension", "sens", "poids", "libelle", "rapport_a"})
        indicator = c.text("indicateur")
        if indicator in seen:
            raise c.fail("indicateur", "un indicateur n'apparaît qu'une fois par variante")
        seen.add(indicator)
        dimension = c.text("dimension")
        if dimension not in dimensions:
            raise c.fail("dimension", f"une dimension parmi {', '.join(dimensions)} est attendue")
        sens = c.raw.get("sens")
        if sens not in ("+", "-", "besoin_si_eleve", "besoin_si_faible"):
            raise c.fail("sens", "« + » (valeur élevée = besoin) ou « - » est attendu")
        criteria.append(
            HabitatCriterion(
                indicator=indicator,
                dimension=dimension,
                direction=1 if sens in ("+", "besoin_si_eleve") else -1,
                weight=c.number("poids", 1.0, minimum=1e-9),
                label=str(c.raw.get("libelle", "")),
                relative=c.choice("rapport_a", "", RELATIVE_TO),
            )
        )
    unused = set(dimensions) - {c.dimension for c in criteria}
    if unused:
        raise r.fail("dimensions", f"dimension(s) sans critère : {', '.join(sorted(unused))}")
    gates = []
    for n, entry in enumerate(r.raw.get("seuils") or [], start=1):
        g = _Reader(entry, f"habitat.{vid}.seuils[{n}]", origin)
        g.known({"indicateur", "min", "libelle"})
        gates.append(
            HabitatGate(
                indicator=g.text("indicateur"),
                min=g.number("min", 0.0),
                label=str(g.raw.get("libelle", "")),
            )
        )
    winsor = r.raw.get("ecretage", [0.05, 0.95])
    winsorise = None if winsor in (None, False) else r.pair("ecretage", (0.05, 0.95))
    if winsorise is not None and not (winsorise[0] >= 0 and winsorise[1] <= 1):
        raise r.fail("ecretage", "deux quantiles entre 0 et 1 sont attendus, ex. [0.05, 0.95]")
    sens_r = r.sub("sensibilite")
    sens_r.known({"variation", "tirages"})
    completeness = r.number("completude_min", 0.6, minimum=0)
    if completeness > 1:
        raise r.fail("completude_min", "une part entre 0 et 1 est attendue")
    return HabitatVariant(
        id=vid,
        label=r.text("libelle"),
        description=r.text("description"),
        dimensions=dimensions,
        criteria=tuple(criteria),
        gates=tuple(gates),
        normalisation=r.choice("normalisation", "quintiles", NORMALISATIONS),
        winsorise=winsorise,
        aggregation=r.choice("agregation", "additive", AGGREGATIONS),
        min_completeness=completeness,
        classes=r.integer("classes", 5, minimum=2),
        class_method=r.choice("methode_classes", "quantiles", CLASS_METHODS),
        top=r.integer("tete_de_liste", 10, minimum=1),
        shift=sens_r.number("variation", 0.2, minimum=0),
        draws=sens_r.integer("tirages", 1000, minimum=10),
    )


_NAF_PREFIX = re.compile(r"\d{2}(\.\d{1,2}[A-Z]?)?")


def _naf_list(r: _Reader, key: str) -> tuple[str, ...]:
    value = r.raw.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(v, str) and _NAF_PREFIX.fullmatch(v) for v in value
    ):
        raise r.fail(key, "une liste de codes NAF rév. 2 ou de préfixes est attendue, ex. [47.2]")
    return tuple(value)


def _centralities(raw: Any, origin: str) -> CentralityParams:
    r = _Reader(raw or {}, "centralites", origin)
    r.known(
        {
            "normalisation",
            "ecretage",
            "fonctions",
            "types_identite",
            "niveaux",
            "rayon_recherche_km",
            "rayon_voisinage_km",
            "temps_voisinage_min",
            "commerce",
            "vacance_commerciale",
        }
    )
    funcs_raw = r.raw.get("fonctions")
    if not isinstance(funcs_raw, dict) or not funcs_raw:
        raise r.fail("fonctions", "une table {fonction: {libelle, criteres}} est attendue")
    functions = []
    seen: dict[str, str] = {}
    for fid, entry in funcs_raw.items():
        f = _Reader(entry, f"centralites.fonctions.{fid}", origin)
        f.known({"libelle", "criteres"})
        crit_raw = f.raw.get("criteres")
        if not isinstance(crit_raw, list) or not crit_raw:
            raise f.fail("criteres", "une liste de critères est attendue")
        criteria = []
        for n, item in enumerate(crit_raw, start=1):
            c = _Reader(item, f"centralites.fonctions.{fid}.criteres[{n}]", origin)
            c.known({"indicateur", "mesure", "sens", "poids", "libelle"})
            if ("indicateur" in c.raw) == ("mesure" in c.raw):
                raise c.fail("indicateur", "un « indicateur » du catalogue ou une « mesure »")
            kind = "indicateur" if "indicateur" in c.raw else "mesure"
            key = c.text(kind)
            if key in seen:
                raise c.fail(kind, f"un critère n'apparaît qu'une fois (déjà dans {seen[key]})")
            seen[key] = str(fid)
            if kind == "mesure" and key not in CENTRALITY_MEASURES:
                raise c.fail("mesure", "une mesure parmi " + ", ".join(CENTRALITY_MEASURES))
            sens = c.raw.get("sens")
            if sens not in ("+", "-"):
                raise c.fail("sens", "« + » (valeur élevée = fonction affirmée) ou « - »")
            criteria.append(
                CentralityCriterion(
                    key=key,
                    kind=kind,
                    direction=1 if sens == "+" else -1,
                    weight=c.number("poids", 1.0, minimum=1e-9),
                    label=str(c.raw.get("libelle", "")),
                )
            )
        functions.append(CentralityFunction(str(fid), f.text("libelle"), tuple(criteria)))
    levels_raw = r.raw.get("niveaux")
    if not isinstance(levels_raw, list) or not levels_raw:
        raise r.fail("niveaux", "une liste de niveaux {id, libelle, gammes} est attendue")
    levels = []
    for n, item in enumerate(levels_raw, start=1):
        lv = _Reader(item, f"centralites.niveaux[{n}]", origin)
        lv.known({"id", "libelle", "gammes"})
        g = lv.sub("gammes")
        g.known(set(GAMMES))
        if not g.raw:
            raise lv.fail("gammes", "au moins une gamme et son seuil, ex. {intermediaire: 0.5}")
        thresholds = {}
        for gamme in g.raw:
            share = g.number(gamme, 0.5, minimum=0)
            if share > 1:
                raise g.fail(gamme, "une part entre 0 et 1 est attendue")
            thresholds[str(gamme)] = share
        levels.append(CentralityLevel(lv.text("id"), lv.text("libelle"), thresholds))
    ids = [level.id for level in levels]
    if len(set(ids)) != len(ids) or "non_centre" in ids:
        raise r.fail("niveaux", "des identifiants de niveau distincts (et pas « non_centre »)")
    prefixes = r.raw.get("types_identite", ["F3", "G1"])
    if not isinstance(prefixes, list) or not all(
        isinstance(p, str) and re.fullmatch(r"[A-G]\d{0,3}", p) for p in prefixes
    ):
        raise r.fail("types_identite", "une liste de préfixes de types BPE, ex. [F3, G1]")
    com = r.sub("commerce")
    com.known({"types", "commerce_de_detail", "exclus"})
    types_raw = com.raw.get("types")
    if not isinstance(types_raw, dict) or not types_raw:
        raise com.fail("types", "une table {type: {libelle, naf}} est attendue")
    commerce_types = []
    for tid, entry in types_raw.items():
        t = _Reader(entry, f"centralites.commerce.types.{tid}", origin)
        t.known({"libelle", "naf"})
        naf = _naf_list(t, "naf")
        if not naf:
            raise t.fail("naf", "au moins un code NAF")
        commerce_types.append(CommerceType(str(tid), t.text("libelle"), naf))
    known_types = {t.id for t in commerce_types}
    retail = com.raw.get("commerce_de_detail", sorted(known_types))
    if not isinstance(retail, list) or not retail or set(retail) - known_types:
        raise com.fail("commerce_de_detail", "une liste de types parmi " + ", ".join(known_types))
    vac = r.sub("vacance_commerciale")
    vac.known({"favorable", "critique"})
    favourable = vac.number("favorable", 5, minimum=0)
    critical = vac.number("critique", 10, minimum=0)
    if critical < favourable:
        raise vac.fail("critique", f"un taux ≥ favorable ({favourable:g}) est attendu")
    winsor = r.raw.get("ecretage", [0.05, 0.95])
    winsorise = None if winsor in (None, False) else r.pair("ecretage", (0.05, 0.95))
    return CentralityParams(
        normalisation=r.choice("normalisation", "rangs", CENTRALITY_NORMALISATIONS),
        winsorise=winsorise,
        functions=tuple(functions),
        identity_prefixes=tuple(prefixes),
        levels=tuple(levels),
        search_km=r.number("rayon_recherche_km", 50, minimum=0),
        neighbour_km=r.number("rayon_voisinage_km", 15, minimum=0),
        neighbour_minutes=r.number("temps_voisinage_min", 20, minimum=0),
        commerce_types=tuple(commerce_types),
        retail=tuple(retail),
        excluded=_naf_list(com, "exclus"),
        vacancy_favourable=favourable,
        vacancy_critical=critical,
    )


def parse_diagnostics(raw: Any, origin: str) -> Diagnostics:
    """Validate the merged YAML mapping."""
    r = _Reader(raw, "diagnostics", origin)
    r.known({"marche", "habitat", "centralites"})
    habitat_raw = r.raw.get("habitat") or {}
    if not isinstance(habitat_raw, dict):
        raise ConfigError("habitat : une table de variantes est attendue", path=origin)
    habitat = {str(k): _variant(str(k), v, origin) for k, v in habitat_raw.items()}
    centralities = _centralities(r.raw["centralites"], origin) if "centralites" in r.raw else None
    return Diagnostics(
        market=_market(r.raw.get("marche"), origin),
        habitat=habitat,
        origin=origin,
        centralities=centralities,
    )


def _read_yaml(text: str, origin: str) -> Any:
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML illisible ({exc})", path=origin) from exc


def load_diagnostics(project_root: Path | None = None) -> Diagnostics:
    """The package's parameters, with the project's ``diagnostics.yaml`` merged over them."""
    embedded = files("observatoire") / "catalogue" / DIAGNOSTICS_FILE
    raw = _read_yaml(embedded.read_text(encoding="utf-8"), "catalogue/diagnostics.yaml")
    origin = "catalogue/diagnostics.yaml"
    if project_root is not None:
        path = Path(project_root) / DIAGNOSTICS_FILE
        if path.is_file():
            override = _read_yaml(path.read_text(encoding="utf-8"), str(path))
            if not isinstance(override, dict):
                raise ConfigError("une table est attendue", path=path)
            raw = _merge(raw, override)
            origin = str(path)
    return parse_diagnostics(raw, origin)
