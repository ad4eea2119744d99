"""The indicator catalogue: declarative YAML by theme, validated on load.

Files: ``observatoire/catalogue/indicateurs/*.yaml``, one per theme::

    theme: logement            # identifier of the theme (file name without .yaml)
    label: Logement            # French label
    order: 3                   # position in reports and exports
    indicators:
      - id: part_logements_vacants
        label: Part des logements vacants
        definition: Logements vacants / ensemble des logements (recensement).
        unit: "%"
        polarity: negative     # positive | negative | neutral (is a rise good news?)
        kind: ratio            # count | ratio | growth | derived | non_additive
        source: rp             # rp | filosofi | bpe | population_legale
        numerator: P{aa}_LOGVAC
        denominator: P{aa}_LOG
        scale: 100
        decimals: 1
        secrecy: Cellule non diffusée par l'INSEE → secret.

Variables are written as the source columns with a vintage placeholder: ``{aa}`` is the
two-digit year of the figure (``P{aa}_LOG`` is ``P18_LOG`` for 2018, ``MED{aa}`` is ``MED19``),
``{p}`` the four digits of a period between two censuses (``NAIS{p}`` is ``NAIS1318``). A
variable without placeholder (``SUPERF``) has no vintage: its latest value is used. Terms of a
``value``/``numerator``/``denominator``/``flow`` are summed or subtracted (``A + B - C``); a
list gives alternatives by vintage (modalities change: ``SUP2 + SUP34 + SUP5`` since 2021,
``SUP`` before), the first whose variables exist is used.

Kinds (how a figure of a group of communes is computed):

- ``count``: Σ value over the member communes.
- ``ratio``: Σ numerator / Σ denominator × scale (never a mean of communal rates).
- ``growth``: between two vintages t0 < t1 of ``stock`` (exact number of years n):
  ``measure: rate`` (default) ((S1/S0)^(1/n) − 1) × 100; ``change`` S1 − S0;
  ``flow_rate`` Σflow / (n × P̄) × scale with P̄ the logarithmic mean of S0 and S1.
- ``derived``: an ``expression`` over other indicators of the same territory and period
  (``tcam_population - taux_solde_naturel``), after aggregation.
- ``non_additive``: medians, deciles, poverty rates: the source's own figure for a commune, or
  for an EPCI / département / région when the source publishes that level; otherwise status
  ``non_additive`` and no value — never a mean of medians.

``secrecy`` states the source's rule in French; ``threshold: {variable: "NBMENFISC{aa}", min:
50}`` also makes the figure ``secret`` when Σ variable over the territory is below ``min``.

Sources whose reader keeps the file's lower-case column names (LOVAC: ``pp_vacant_25``) are
written in lower case, ``pp_vacant_{aa}``; a trailing ``_{aa}`` leaves no underscore in the
generic name (``pp_vacant``, as the reader stores it). Lower-case variables are accepted only
for those sources (``LOWERCASE_SOURCES``) and those sources accept only lower-case variables:
the case tells which reader a variable comes from.

Restricted diffusion (« diffusion restreinte »): ``Indicator.restricted`` is true when

1. the entry says ``restreint: true``; or
2. a dataset it reads belongs to a source marked ``restreint: true`` in ``sources.yaml``
   (``observatoire.catalogue``). The datasets an indicator reads are those of its ``source``
   family, :data:`SOURCE_DATASETS` (warehouse dataset ids, as in the ``jeux`` of
   ``sources.yaml``; ``rp_*`` matches a prefix) — LOVAC indicators (``source: lovac``) read
   ``lovac_communes``, and the case rule above guarantees that no other family reads a LOVAC
   variable; or
3. it is ``derived`` from a restricted indicator.

``Indicator.restriction`` says why, in French. Restricted figures stay in the agency's own
exports (marked « diffusion restreinte »), are left out of the static web build and are served
only with an access token; :func:`restricted_indicator_ids` lists them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml

from observatoire.errors import ConfigError, InputError

KINDS = ("count", "ratio", "growth", "derived", "non_additive")
POLARITIES = ("positive", "negative", "neutral")
SOURCES = ("rp", "filosofi", "bpe", "population_legale", "lovac", "dvf")
# Warehouse datasets each source family is read from (``jeux`` of sources.yaml; ``*`` matches a
# prefix). The comparateur (``rp_comparateur``) also carries Filosofi columns.
SOURCE_DATASETS: dict[str, tuple[str, ...]] = {
    "rp": ("rp_*",),
    "filosofi": ("filosofi_*", "rp_comparateur"),
    "bpe": ("bpe_*",),
    "population_legale": ("population_legale",),
    "lovac": ("lovac_communes",),
    "dvf": ("dvf_marche", "dvf_geo", "dvf_dgfip"),
}
# Families whose reader keeps the file's lower-case column names as variables.
LOWERCASE_SOURCES = ("lovac",)
MEASURES = ("rate", "change", "flow_rate")
STATUSES = ("ok", "secret", "incomplete", "non_additive", "missing")

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_VARIABLE = re.compile(
    r"^(?:[A-Z][A-Z0-9_\-]*(\{aa\}|\{p\})?[A-Z0-9_\-]*|[a-z][a-z0-9_]*(\{aa\})?[a-z0-9_]*)$"
)
_TERM = re.compile(r"\s*([+-]?)\s*([A-Za-z0-9_\-{}]+)\s*")
_EXPRESSION_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([a-z][a-z0-9_]*)|([-+*/()]))")

_KEYS = {
    "id",
    "label",
    "definition",
    "unit",
    "polarity",
    "kind",
    "source",
    "value",
    "numerator",
    "denominator",
    "scale",
    "stock",
    "flow",
    "measure",
    "expression",
    "decimals",
    "secrecy",
    "threshold",
    "levels",
    "restreint",
}
_REQUIRED = ("id", "label", "definition", "unit", "polarity", "kind", "source", "secrecy")
_FIELDS_BY_KIND = {
    "count": ("value",),
    "ratio": ("numerator", "denominator"),
    "growth": ("stock",),
    "derived": ("expression",),
    "non_additive": ("value",),
}
PUBLISHED_LEVELS = ("commune", "epci", "departement", "region", "france", "custom")


@dataclass(frozen=True)
class Term:
    """One signed variable of a linear expression: ``sign × generic[period]``."""

    sign: int
    pattern: str  # as written: P{aa}_LOG
    generic: str  # as stored in the warehouse: P_LOG
    timing: str  # "year" ({aa}), "span" ({p}) or "none"


Expression = tuple[Term, ...]


@dataclass(frozen=True)
class Indicator:
    """One validated catalogue entry."""

    id: str
    label: str
    definition: str
    unit: str
    polarity: str
    kind: str
    source: str
    theme: str
    secrecy: str
    value: tuple[Expression, ...] = ()
    numerator: tuple[Expression, ...] = ()
    denominator: tuple[Expression, ...] = ()
    stock: tuple[Expression, ...] = ()
    flow: tuple[Expression, ...] = ()
    measure: str = "rate"
    scale: float = 1.0
    expression: str = ""
    inputs: tuple[str, ...] = ()  # indicator ids of a derived expression
    decimals: int = 1
    threshold: tuple[Term, float] | None = None
    levels: tuple[str, ...] = ("commune",)  # non_additive: levels the source publishes
    restreint: bool = False  # as declared by the entry
    restricted: bool = False  # declared, or reads a restricted dataset, or derived from one
    restriction: str = ""  # why, in French (empty when not restricted)

    def variables(self) -> set[str]:
        """Generic warehouse variables read by this indicator."""
        found = set()
        for group in (self.value, self.numerator, self.denominator, self.stock, self.flow):
            for alternative in group:
                found |= {t.generic for t in alternative}
        if self.threshold:
            found.add(self.threshold[0].generic)
        return found

    def patterns(self) -> set[str]:
        """Source column patterns as written in the catalogue (``P{aa}_LOG``)."""
        found = set()
        for group in (self.value, self.numerator, self.denominator, self.stock, self.flow):
            for alternative in group:
                found |= {t.pattern for t in alternative}
        return found


@dataclass(frozen=True)
class Theme:
    id: str
    label: str
    order: int
    indicators: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class IndicatorCatalogue:
    themes: dict[str, Theme]
    indicators: dict[str, Indicator]

    def get(self, indicator_id: str) -> Indicator:
        if indicator_id not in self.indicators:
            close = [i for i in self.indicators if indicator_id.lower() in i]
            hint = f" ; proches : {', '.join(close[:5])}" if close else ""
            raise InputError(f"indicateur « {indicator_id} » inconnu du catalogue{hint}")
        return self.indicators[indicator_id]

    def by_theme(self) -> list[tuple[Theme, list[Indicator]]]:
        ordered = sorted(self.themes.values(), key=lambda t: (t.order, t.id))
        return [(t, [self.indicators[i] for i in t.indicators]) for t in ordered]

    def evaluation_order(self) -> list[Indicator]:
        """Indicators with every derived one after its inputs."""
        done: list[Indicator] = []
        seen: set[str] = set()

        def visit(ind: Indicator) -> None:
            if ind.id in seen:
                return
            seen.add(ind.id)
            for dep in ind.inputs:
                visit(self.indicators[dep])
            done.append(ind)

        for _, inds in self.by_theme():
            for ind in inds:
                visit(ind)
        return done


def generic_name(pattern: str) -> tuple[str, str]:
    """``P{aa}_LOG`` → (``P_LOG``, ``year``); ``NAIS{p}`` → (``NAIS``, ``span``);
    ``pp_vacant_{aa}`` → (``pp_vacant``, ``year``)."""
    if pattern.endswith("_{aa}"):
        return pattern[: -len("_{aa}")], "year"
    if "{aa}" in pattern:
        return pattern.replace("{aa}", ""), "year"
    if "{p}" in pattern:
        return pattern.replace("{p}", ""), "span"
    return pattern, "none"


def parse_terms(text: str, where: str, origin: str) -> Expression:
    """A linear expression ``A + B - C`` of variable patterns."""
    terms: list[Term] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TERM.match(text, position)
        if not match or match.end() == position:
            raise ConfigError(
                f"{where} : expression « {text} » illisible à la position {position + 1} "
                "(attendu : VARIABLE + VARIABLE - VARIABLE)",
                path=origin,
            )
        sign, pattern = match.groups()
        if terms and not sign:
            raise ConfigError(
                f"{where} : opérateur + ou - attendu avant « {pattern} » dans « {text} »",
                path=origin,
            )
        if not _VARIABLE.match(pattern):
            raise ConfigError(
                f"{where} : variable « {pattern} » invalide (majuscules, chiffres, _ et au plus "
                "un repère {aa} ou {p} ; ou tout en minuscules comme la colonne du fichier)",
                path=origin,
            )
        generic, timing = generic_name(pattern)
        terms.append(Term(-1 if sign == "-" else 1, pattern, generic, timing))
        position = match.end()
    if not terms:
        raise ConfigError(f"{where} : expression vide", path=origin)
    timings = {t.timing for t in terms} - {"none"}
    if len(timings) > 1:
        raise ConfigError(
            f"{where} : « {text} » mêle des variables annuelles ({{aa}}) et de période ({{p}})",
            path=origin,
        )
    return tuple(terms)


def _alternatives(raw: object, where: str, origin: str) -> tuple[Expression, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, str) and i.strip() for i in items):
        raise ConfigError(f"{where} : texte ou liste de textes attendu", path=origin)
    return tuple(parse_terms(i, where, origin) for i in items)


def expression_inputs(expression: str, where: str, origin: str) -> tuple[str, ...]:
    """Indicator ids named by a derived expression (numbers, ids, + - * / and parentheses)."""
    position, names, depth = 0, [], 0
    text = expression.strip()
    while position < len(text):
        match = _EXPRESSION_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ConfigError(
                f"{where} : expression « {text} » illisible à la position {position + 1}",
                path=origin,
            )
        _number, name, op = match.groups()
        if name:
            names.append(name)
        elif op == "(":
            depth += 1
        elif op == ")":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"{where} : parenthèse fermante en trop", path=origin)
        position = match.end()
    if depth:
        raise ConfigError(f"{where} : parenthèse non fermée dans « {text} »", path=origin)
    if not names:
        raise ConfigError(f"{where} : l'expression ne cite aucun indicateur", path=origin)
    return tuple(dict.fromkeys(names))


def _parse_indicator(entry: dict, theme: str, where: str, origin: str) -> Indicator:
    unknown = set(entry) - _KEYS
    if unknown:
        raise ConfigError(f"{where} : clé(s) inconnue(s) {', '.join(sorted(unknown))}", path=origin)
    missing = [k for k in _REQUIRED if entry.get(k) in (None, "")]
    if missing:
        raise ConfigError(
            f"{where} : clé(s) obligatoire(s) absente(s) {', '.join(missing)}", path=origin
        )
    iid = str(entry["id"])
    where = f"{where} (« {iid} »)"
    if not _ID.match(iid):
        raise ConfigError(
            f"{where} : identifiant invalide (minuscules, chiffres et _)", path=origin
        )
    kind = str(entry["kind"])
    if kind not in KINDS:
        raise ConfigError(
            f"{where} : kind « {kind} » inconnu ; attendu : {', '.join(KINDS)}", path=origin
        )
    polarity = str(entry["polarity"])
    if polarity not in POLARITIES:
        raise ConfigError(
            f"{where} : polarity « {polarity} » inconnue ; attendu : {', '.join(POLARITIES)}",
            path=origin,
        )
    source = str(entry["source"])
    if source not in SOURCES:
        raise ConfigError(
            f"{where} : source « {source} » inconnue ; attendu : {', '.join(SOURCES)}", origin
        )
    for key in _FIELDS_BY_KIND[kind]:
        if entry.get(key) in (None, "", []):
            raise ConfigError(
                f"{where} : « {key} » est obligatoire pour kind « {kind} »", path=origin
            )
    misplaced = {
        k
        for k in ("value", "numerator", "denominator", "stock", "flow", "expression")
        if k in entry and k not in _FIELDS_BY_KIND[kind] and not (kind == "growth" and k == "flow")
    }
    if misplaced:
        raise ConfigError(
            f"{where} : clé(s) {', '.join(sorted(misplaced))} sans objet pour kind « {kind} »",
            path=origin,
        )
    measure = str(entry.get("measure", "rate"))
    if measure not in MEASURES:
        raise ConfigError(
            f"{where} : measure « {measure} » inconnue ({', '.join(MEASURES)})", path=origin
        )
    if kind == "growth" and measure == "flow_rate" and not entry.get("flow"):
        raise ConfigError(f"{where} : measure flow_rate demande « flow »", path=origin)
    try:
        scale = float(entry.get("scale", 1))
        decimals = int(entry.get("decimals", 1))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where} : scale et decimals doivent être des nombres", path=origin
        ) from exc
    threshold = None
    if entry.get("threshold") is not None:
        raw = entry["threshold"]
        if not isinstance(raw, dict) or set(raw) != {"variable", "min"}:
            raise ConfigError(f"{where} : threshold attend {{variable: …, min: …}}", path=origin)
        (term,) = parse_terms(str(raw["variable"]), where, origin)
        threshold = (term, float(raw["min"]))
    levels = tuple(entry.get("levels") or ("commune",))
    bad_levels = set(levels) - set(PUBLISHED_LEVELS)
    if bad_levels:
        raise ConfigError(
            f"{where} : niveau(x) inconnu(s) {', '.join(sorted(bad_levels))}", path=origin
        )

    def exprs(key: str) -> tuple[Expression, ...]:
        return _alternatives(entry[key], f"{where}, {key}", origin) if key in entry else ()

    value, numerator, denominator = exprs("value"), exprs("numerator"), exprs("denominator")
    stock = exprs("stock")
    if kind == "growth":
        for alternative in stock:
            if any(t.timing != "year" for t in alternative):
                raise ConfigError(f"{where} : « stock » doit porter le repère {{aa}}", path=origin)
    flow = exprs("flow")
    for alternative in flow:
        if any(t.timing != "span" for t in alternative):
            raise ConfigError(f"{where} : « flow » doit porter le repère {{p}}", path=origin)
    expression = str(entry.get("expression", ""))
    inputs = expression_inputs(expression, where, origin) if kind == "derived" else ()
    restreint = entry.get("restreint", False)
    if not isinstance(restreint, bool):
        raise ConfigError(f"{where} : restreint attend true ou false", path=origin)
    terms = [
        t
        for group in (value, numerator, denominator, stock, flow)
        for alternative in group
        for t in alternative
    ] + ([threshold[0]] if threshold else [])
    for term in terms:
        lower = term.pattern[0].islower()
        if lower and source not in LOWERCASE_SOURCES:
            raise ConfigError(
                f"{where} : variable « {term.pattern} » en minuscules, réservée aux sources "
                f"{', '.join(LOWERCASE_SOURCES)} (source déclarée : {source})",
                path=origin,
            )
        if not lower and source in LOWERCASE_SOURCES:
            raise ConfigError(
                f"{where} : variable « {term.pattern} » : la source {source} s'écrit en "
                "minuscules, comme les colonnes de son fichier",
                path=origin,
            )
    return Indicator(
        id=iid,
        label=str(entry["label"]),
        definition=" ".join(str(entry["definition"]).split()),
        unit=str(entry["unit"]),
        polarity=polarity,
        kind=kind,
        source=source,
        theme=theme,
        secrecy=" ".join(str(entry["secrecy"]).split()),
        value=value,
        numerator=numerator,
        denominator=denominator,
        stock=stock,
        flow=flow,
        measure=measure,
        scale=scale,
        expression=expression,
        inputs=inputs,
        decimals=decimals,
        threshold=threshold,
        levels=levels,
        restreint=restreint,
    )


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_theme(text: str, origin: str) -> tuple[Theme, list[Indicator]]:
    """Validate one theme file."""
    try:
        raw = yaml.load(text, Loader=_YAML_LOADER)  # the safe loader, in C when available
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML illisible ({exc})", path=origin) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("indicators"), list):
        raise ConfigError(
            "un thème doit contenir « theme », « label » et « indicators »", path=origin
        )
    theme_id = str(raw.get("theme") or "")
    if not _ID.match(theme_id):
        raise ConfigError(f"identifiant de thème « {theme_id} » invalide", path=origin)
    indicators = []
    for position, entry in enumerate(raw["indicators"], start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"indicateur {position} : une table est attendue", path=origin)
        indicators.append(_parse_indicator(entry, theme_id, f"indicateur {position}", origin))
    theme = Theme(
        id=theme_id,
        label=str(raw.get("label") or theme_id),
        order=int(raw.get("order", 99)),
        indicators=tuple(i.id for i in indicators),
    )
    return theme, indicators


def restricted_datasets() -> dict[str, str]:
    """Dataset id → source id, for every dataset of a ``restreint`` source of sources.yaml."""
    from observatoire.catalogue import sources

    return {jeu: s.id for s in sources().values() if s.restreint for jeu in s.jeux}


def _restrictions(
    indicators: dict[str, Indicator], restricted: Mapping[str, str]
) -> dict[str, Indicator]:
    """The indicators with ``restricted`` / ``restriction`` set (see the module docstring)."""
    out: dict[str, Indicator] = {}

    def visit(ind: Indicator) -> Indicator:
        if ind.id in out:
            return out[ind.id]
        reasons = ["déclaré « restreint » au catalogue"] if ind.restreint else []
        patterns = SOURCE_DATASETS[ind.source]
        for dataset, source_id in sorted(restricted.items()):
            if any(fnmatchcase(dataset, pattern) for pattern in patterns):
                reasons.append(f"lit le jeu {dataset} (source « {source_id} » restreinte)")
        for dep in ind.inputs:
            if visit(indicators[dep]).restricted:
                reasons.append(f"calculé à partir de {dep}, à diffusion restreinte")
        out[ind.id] = replace(ind, restricted=bool(reasons), restriction=" ; ".join(reasons))
        return out[ind.id]

    for ind in indicators.values():
        visit(ind)
    return {iid: out[iid] for iid in indicators}


def restricted_indicator_ids(catalogue: IndicatorCatalogue) -> set[str]:
    """Ids of the indicators whose figures are « à diffusion restreinte »."""
    return {i.id for i in catalogue.indicators.values() if i.restricted}


def parse_catalogue(
    texts: dict[str, str], restricted: Mapping[str, str] | None = None
) -> IndicatorCatalogue:
    """Validate a whole catalogue from ``{origin: yaml text}``; cross-checks derived inputs.

    ``restricted``: dataset id → source id of the restricted datasets (default: those of the
    package's sources.yaml, :func:`restricted_datasets`).
    """
    themes: dict[str, Theme] = {}
    indicators: dict[str, Indicator] = {}
    origins: dict[str, str] = {}
    for origin, text in sorted(texts.items()):
        theme, entries = parse_theme(text, origin)
        if theme.id in themes:
            raise ConfigError(f"thème « {theme.id} » en double", path=origin)
        themes[theme.id] = theme
        for ind in entries:
            if ind.id in indicators:
                raise ConfigError(
                    f"indicateur « {ind.id} » en double (déjà dans {origins[ind.id]})", origin
                )
            indicators[ind.id] = ind
            origins[ind.id] = origin
    for ind in indicators.values():
        for dep in ind.inputs:
            if dep not in indicators:
                raise ConfigError(
                    f"« {ind.id} » : l'expression cite « {dep} », absent du catalogue",
                    path=origins[ind.id],
                )
    _check_cycles(indicators, origins)
    indicators = _restrictions(
        indicators, restricted_datasets() if restricted is None else restricted
    )
    return IndicatorCatalogue(themes=themes, indicators=indicators)


def _check_cycles(indicators: dict[str, Indicator], origins: dict[str, str]) -> None:
    state: dict[str, int] = {}

    def visit(iid: str, stack: tuple[str, ...]) -> None:
        if state.get(iid) == 2:
            return
        if state.get(iid) == 1:
            cycle = " → ".join((*stack[stack.index(iid) :], iid))
            raise ConfigError(f"cycle entre indicateurs dérivés : {cycle}", path=origins[iid])
        state[iid] = 1
        for dep in indicators[iid].inputs:
            visit(dep, (*stack, iid))
        state[iid] = 2

    for iid in indicators:
        visit(iid, ())


def catalogue_dir() -> Path:
    return Path(str(files("observatoire") / "catalogue" / "indicateurs"))


@cache
def _load() -> IndicatorCatalogue:
    folder = catalogue_dir()
    texts = {
        f"catalogue/indicateurs/{p.name}": p.read_text(encoding="utf-8")
        for p in sorted(folder.glob("*.yaml"))
    }
    return parse_catalogue(texts)


def indicator_catalogue() -> IndicatorCatalogue:
    """The package's indicator catalogue (validated once, cached)."""
    return _load()
