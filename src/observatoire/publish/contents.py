"""The agency's editorial contents: ``contenus/`` of a project, Markdown with a YAML header.

Folders and what their files declare (French keys, validated on load; an error names the file,
the line and the field):

- ``etudes/``: a study of the work programme — ``titre``, ``date`` (AAAA-MM-JJ), ``resume``,
  ``statut`` (``programmee``, ``en_cours``, ``livree``), optional ``themes`` (ids of the
  indicator catalogue's themes), ``territoires`` (ids known to the project), ``partenaires``
  (names), ``pdf`` (a file path relative to ``contenus/``, which must exist), ``livraison``
  (planned or actual delivery date);
- ``actualites/``: a news item — ``titre``, ``date``, ``resume``, optional ``themes``,
  ``territoires``, ``lien``;
- ``evenements/``: an event — ``titre``, ``date`` (AAAA-MM-JJ or AAAA-MM-JJ HH:MM), ``lieu``,
  ``resume``, optional ``fin``, ``capacite`` (places, integer ≥ 1; none = unlimited),
  ``inscriptions`` (``ouvertes`` or ``fermees``, default ``fermees``), ``themes``,
  ``territoires``;
- ``pages/``: a page — ``titre``, optional ``ordre``;
- ``chiffres/``: « le chiffre du trimestre » — ``trimestre`` (``2026T4``), ``indicateur`` (id
  of the catalogue), ``territoire``, optional ``periode`` (default: the latest with a value),
  ``titre``; its body is the commentary.

Every file may set ``publie: false`` (kept out of every output). The slug of a content is its
file name without ``.md`` (lower case letters, digits and hyphens).

In any body, ``[[chiffre INDICATEUR TERRITOIRE]]`` (optionally ``[[chiffre INDICATEUR
TERRITOIRE PERIODE]]``) is replaced by the figure read from the indicator table when the
contents are resolved (:func:`resolve`) — with its source and vintage, never typed by hand;
an unknown indicator or territory is an error naming the file and line, a figure without
usable value prints « non disponible ».
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from observatoire.errors import ConfigError, InputError
from observatoire.project import Project

KINDS = ("etudes", "actualites", "evenements", "pages", "chiffres")
STUDY_STATUSES = {"programmee": "Programmée", "en_cours": "En cours", "livree": "Livrée"}
REGISTRATION = ("ouvertes", "fermees")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,80}$")
_QUARTER = re.compile(r"^(\d{4})T([1-4])$")
_FIGURE = re.compile(r"\[\[chiffre\s+([a-z0-9_]+)\s+([A-Za-z0-9_.:-]+)(?:\s+([0-9-]+))?\s*\]\]")
_ANY_FIGURE = re.compile(r"\[\[\s*chiffre\b[^\]]*\]\]", re.IGNORECASE)
# characters XML 1.0 forbids (Atom feeds): C0 controls other than tab, newline, return
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_COMMON = {"titre", "publie"}
_FIELDS = {
    "etudes": _COMMON
    | {"date", "resume", "statut", "themes", "territoires", "partenaires", "pdf", "livraison"},
    "actualites": _COMMON | {"date", "resume", "themes", "territoires", "lien"},
    "evenements": _COMMON
    | {"date", "fin", "lieu", "resume", "capacite", "inscriptions", "themes", "territoires"},
    "pages": _COMMON | {"ordre"},
    "chiffres": _COMMON | {"trimestre", "indicateur", "territoire", "periode"},
}
_REQUIRED = {
    "etudes": ("titre", "date", "resume", "statut"),
    "actualites": ("titre", "date", "resume"),
    "evenements": ("titre", "date", "lieu", "resume"),
    "pages": ("titre",),
    "chiffres": ("titre", "trimestre", "indicateur", "territoire"),
}


@dataclass(frozen=True)
class Figure:
    """An indicator value quoted in a content, read from the indicator table."""

    indicator: str
    territory: str
    period: str | None  # requested (None = latest)
    label: str = ""  # indicator label
    territory_name: str = ""
    value: float | None = None
    text: str = "non disponible"  # French value with its unit
    found_period: str | None = None
    status: str | None = None
    source: str = ""

    @property
    def reference(self) -> str:
        """« Pôle …, 2021 ; source : INSEE … »."""
        parts = [self.territory_name or self.territory]
        if self.found_period:
            parts.append(self.found_period)
        if self.status == "incomplete":
            parts.append("valeur partielle : territoire incomplètement couvert")
        source = f" ; source : {self.source}" if self.source else ""
        return ", ".join(parts) + source

    @property
    def citation(self) -> str:
        """« 12,3 % (Pôle …, 2021 ; source : INSEE …) »."""
        return f"{self.text} ({self.reference})"


@dataclass(frozen=True)
class Content:
    """One content file."""

    kind: str
    slug: str
    path: Path
    title: str
    body: str  # Markdown, as written
    date: datetime | None = None
    summary: str = ""
    themes: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()
    published: bool = True
    # studies
    status: str | None = None
    partners: tuple[str, ...] = ()
    pdf: Path | None = None
    delivery: date | None = None
    # news
    link: str | None = None
    # events
    end: datetime | None = None
    place: str | None = None
    capacity: int | None = None
    registration_open: bool = False
    # pages
    order: int = 0
    # chiffres
    quarter: str | None = None
    figure: Figure | None = None
    # filled by resolve(): the body's figures and the body as HTML
    figures: tuple[Figure, ...] = ()
    html: str = ""

    @property
    def url(self) -> str:
        """Path of its page in the site (relative to the site root)."""
        return f"{self.kind}/{self.slug}.html"

    @property
    def day(self) -> date | None:
        return self.date.date() if self.date else None


@dataclass
class Contents:
    """Every content of a project, by kind, sorted (newest first; pages by order)."""

    root: Path
    items: dict[str, list[Content]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def of(self, kind: str) -> list[Content]:
        return self.items[kind]

    def get(self, kind: str, slug: str) -> Content | None:
        return next((c for c in self.items[kind] if c.slug == slug), None)

    def all(self) -> list[Content]:
        return [c for kind in KINDS for c in self.items[kind]]

    def quarter_figure(self, quarter: str) -> Content | None:
        return next((c for c in self.items["chiffres"] if c.quarter == quarter), None)


# --------------------------------------------------------------------------- parsing


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay text and are checked here (an invalid
    date must be a French error naming the field, not a YAML crash)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _split(text: str, path: Path) -> tuple[dict[str, Any], str, int]:
    """(header, body, line of the body's first line)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(
            "en-tête YAML absent : le fichier doit commencer par une ligne « --- »",
            path=path,
            line=1,
        )
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise ConfigError("en-tête YAML non fermé (ligne « --- » attendue)", path=path, line=1)
    try:
        header = yaml.load("\n".join(lines[1:end]), Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None
        hint = ""
        if "mapping values are not allowed" in str(exc):
            hint = " ; un texte contenant « : » s'écrit entre guillemets"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"en-tête YAML illisible ({problem}{hint})", path=path, line=line
        ) from exc
    if not isinstance(header, dict):
        raise ConfigError("l'en-tête YAML doit être une table clé: valeur", path=path, line=2)
    return header, "\n".join(lines[end + 1 :]).strip() + "\n", end + 2


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"^{re.escape(key)}\s*:", line):
            return number
    return None


class _Fields:
    def __init__(self, header: dict[str, Any], text: str, path: Path) -> None:
        self.header, self.text, self.path = header, text, path

    def fail(self, key: str, expected: str) -> ConfigError:
        value = self.header.get(key)
        return ConfigError(
            f"champ « {key} » : {expected} (valeur lue : {value!r})",
            path=self.path,
            line=_line_of(self.text, key),
            column=key,
        )

    def text_(self, key: str, default: str | None = None) -> str:
        value = self.header.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "un texte non vide est attendu")
        return value.strip()

    def optional_text(self, key: str) -> str | None:
        return self.text_(key) if key in self.header else None

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.header.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise self.fail(key, "une liste de textes est attendue, ex. [emploi, logement]")
        return tuple(str(v).strip() for v in value)

    def when(self, key: str) -> datetime:
        value = self.header.get(key)
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
                try:
                    return datetime.strptime(value.strip(), fmt)
                except ValueError:
                    continue
        raise self.fail(key, "une date AAAA-MM-JJ (ou AAAA-MM-JJ HH:MM) est attendue")

    def flag(self, key: str, default: bool) -> bool:
        value = self.header.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true ou false est attendu")
        return value

    def integer(self, key: str, minimum: int) -> int:
        value = self.header.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"un entier ≥ {minimum} est attendu")
        return value


def _known_themes() -> set[str]:
    from observatoire.indicators.catalogue import indicator_catalogue

    return {ind.theme for ind in indicator_catalogue().indicators.values()}


def parse_content(path: Path, kind: str, project: Project | None = None) -> Content:
    """Read and validate one content file (``project``: to check territories)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is dropped
    except UnicodeDecodeError as exc:
        raise ConfigError("fichier illisible : UTF-8 attendu", path=path) from exc
    text = _XML_ILLEGAL.sub(" ", text)  # a Word line break (\x0b) would break the feeds
    header, body, _ = _split(text, path)
    f = _Fields(header, text, path)
    slug = path.stem
    if not _SLUG.match(slug):
        raise ConfigError(
            f"nom de fichier « {path.name} » : lettres sans accent, chiffres et tirets attendus "
            "(il devient l'adresse de la page)",
            path=path,
        )
    unknown = sorted(set(header) - _FIELDS[kind])
    if unknown:
        raise ConfigError(
            f"champ(s) inconnu(s) {', '.join(unknown)} ; champs possibles : "
            + ", ".join(sorted(_FIELDS[kind])),
            path=path,
            line=_line_of(text, unknown[0]),
            column=unknown[0],
        )
    for key in _REQUIRED[kind]:
        if key not in header:
            raise ConfigError(f"champ obligatoire « {key} » absent", path=path, column=key)
    values: dict[str, Any] = {
        "kind": kind,
        "slug": slug,
        "path": path,
        "title": f.text_("titre"),
        "body": body,
        "published": f.flag("publie", True),
    }
    if kind != "pages" and kind != "chiffres":
        values["date"] = f.when("date")
        values["summary"] = f.text_("resume")
        themes = f.strings("themes")
        bad = sorted(set(themes) - _known_themes())
        if bad:
            raise f.fail(
                "themes", "des thèmes du catalogue : " + ", ".join(sorted(_known_themes()))
            )
        values["themes"] = themes
        values["territories"] = _territories(f, project)
    if kind == "etudes":
        status = f.text_("statut")
        if status not in STUDY_STATUSES:
            raise f.fail("statut", "programmee, en_cours ou livree est attendu")
        values["status"] = status
        values["partners"] = f.strings("partenaires")
        if "pdf" in header:
            root = path.parent.parent.resolve()
            pdf = (root / f.text_("pdf")).resolve()
            if not pdf.is_relative_to(root):
                raise f.fail("pdf", "un fichier du dossier contenus/ est attendu")
            if pdf.suffix.lower() != ".pdf" or not pdf.is_file():
                raise f.fail("pdf", f"un fichier PDF existant est attendu ({pdf})")
            values["pdf"] = pdf
        if "livraison" in header:
            values["delivery"] = f.when("livraison").date()
    elif kind == "actualites":
        link = f.optional_text("lien")
        if link is not None and not re.match(
            r"^(https?://[^\s]+|/[^\s]*|[a-z0-9][a-z0-9/_.-]*)$", link
        ):
            raise f.fail("lien", "une adresse http(s) ou un chemin du site est attendu")
        values["link"] = link
    elif kind == "evenements":
        values["place"] = f.text_("lieu")
        if "fin" in header:
            values["end"] = f.when("fin")
            if values["end"] < values["date"]:
                raise f.fail("fin", "une fin après le début de l'événement est attendue")
        if "capacite" in header:
            values["capacity"] = f.integer("capacite", 1)
        registration = header.get("inscriptions", "fermees")
        if registration not in REGISTRATION:
            raise f.fail("inscriptions", "ouvertes ou fermees est attendu")
        values["registration_open"] = registration == "ouvertes"
    elif kind == "pages":
        values["order"] = f.integer("ordre", 0) if "ordre" in header else 0
    elif kind == "chiffres":
        quarter = f.text_("trimestre")
        if not _QUARTER.match(quarter):
            raise f.fail("trimestre", "un trimestre AAAAT1 à AAAAT4 est attendu, ex. 2026T4")
        values["quarter"] = quarter
        indicator = f.text_("indicateur")
        _check_indicator(indicator, f, "indicateur")
        territory = f.text_("territoire")
        _check_territory(territory, f, "territoire", project)
        period = header.get("periode")
        values["figure"] = Figure(indicator, territory, None if period is None else str(period))
    for number, line in enumerate(text.splitlines(), start=1):
        for loose in _ANY_FIGURE.finditer(line):
            match = _FIGURE.fullmatch(loose.group(0))
            if match is None:
                raise ConfigError(
                    f"chiffre cité illisible « {loose.group(0)} » : [[chiffre INDICATEUR "
                    "TERRITOIRE]] ou [[chiffre INDICATEUR TERRITOIRE PERIODE]] attendu",
                    path=path,
                    line=number,
                )
            _check_indicator(match.group(1), f, None, number)
            _check_territory(match.group(2), f, None, project, number)
    return Content(**values)


def _territories(f: _Fields, project: Project | None) -> tuple[str, ...]:
    ids = f.strings("territoires")
    for tid in ids:
        _check_territory(tid, f, "territoires", project)
    return ids


def _check_indicator(indicator: str, f: _Fields, key: str | None, line: int | None = None):
    from observatoire.indicators.catalogue import indicator_catalogue, restricted_indicator_ids

    catalogue = indicator_catalogue()
    message = None
    if indicator not in catalogue.indicators:
        message = f"indicateur « {indicator} » absent du catalogue (observatoire catalogue list)"
    elif indicator in set(restricted_indicator_ids(catalogue)):
        message = (
            f"l'indicateur « {indicator} » est à diffusion restreinte : il ne peut pas être "
            "cité dans un contenu publié (site, lettre, réseaux)"
        )
    if message is not None:
        if key is not None:
            raise f.fail(key, message)
        raise ConfigError(message, path=f.path, line=line)


def _check_territory(
    tid: str, f: _Fields, key: str | None, project: Project | None, line: int | None = None
) -> None:
    if project is None:
        return
    try:
        project.territories.get(tid)
    except InputError as exc:  # unknown territory: the project's own French message
        message = f"territoire « {tid} » inconnu du projet ({exc})"
        if key is not None:
            raise f.fail(key, message) from exc
        raise ConfigError(message, path=f.path, line=line) from exc


def load_contents(project: Project, folder: Path | None = None) -> Contents:
    """Every content of ``contenus/`` (an absent folder is an empty set), validated."""
    root = folder or project.settings.contents_dir
    contents = Contents(root=root)
    if not root.is_dir():
        return contents
    for kind in KINDS:
        directory = root / kind
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.md")):
            item = parse_content(path, kind, project)
            if item.published:
                contents.items[kind].append(item)
    quarters = [c.quarter for c in contents.items["chiffres"]]
    duplicated = sorted({q for q in quarters if quarters.count(q) > 1})
    if duplicated:
        raise ConfigError(
            f"plusieurs chiffres du trimestre pour {', '.join(duplicated)} : un seul par trimestre",
            path=root / "chiffres",
        )
    for kind in ("etudes", "actualites", "evenements"):
        contents.items[kind].sort(key=lambda c: (c.date, c.slug), reverse=True)
    contents.items["pages"].sort(key=lambda c: (c.order, c.slug))
    contents.items["chiffres"].sort(key=lambda c: c.quarter or "", reverse=True)
    return contents


# --------------------------------------------------------------------------- resolution


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """First and last day of ``2026T4``."""
    match = _QUARTER.match(quarter)
    if not match:
        raise ConfigError(f"trimestre « {quarter} » invalide : AAAAT1 à AAAAT4 attendu, ex. 2026T4")
    year, q = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def fill_figure(project: Project, figure: Figure) -> Figure:
    """The figure's value from the indicator table: the requested period, else the latest
    period with a usable (``ok`` or ``incomplete``) value."""
    from observatoire.indicators.catalogue import indicator_catalogue
    from observatoire.indicators.select import read_values
    from observatoire.publish.fmt import fr_value
    from observatoire.warehouse import Warehouse

    indicator = indicator_catalogue().indicators[figure.indicator]
    territory = project.territories.get(figure.territory)
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        rows = read_values(warehouse, [territory], indicator_ids=[figure.indicator])
    rows = rows[(rows["territory_id"] == territory.id) & (rows["level"] == territory.level)]
    usable = rows[rows["status"].isin(["ok", "incomplete"]) & rows["value"].notna()]
    if figure.period is not None:
        usable = usable[usable["period"].astype(str) == figure.period]
    base = replace(figure, label=indicator.label, territory_name=territory.nom)
    if usable.empty:
        return base
    row = usable.loc[usable["period"].astype(str).map(lambda p: (len(p), p)).idxmax()]
    return replace(
        base,
        value=float(row["value"]),
        text=fr_value(float(row["value"]), indicator.unit, indicator.decimals),
        found_period=str(row["period"]),
        status=str(row["status"]),
        source=str(row.get("source") or ""),
    )


def _markdown(text: str) -> str:
    from markdown_it import MarkdownIt

    # HTML written in a content is escaped, never passed through (contents are trusted, the
    # site's security policy is not relaxed for them)
    return MarkdownIt("commonmark", {"html": False}).render(text)


_PLACEHOLDER = re.compile(r"CHIFFREPLACEHOLDER(\d+)Z")


def _place_figures(rendered: str, found: list[Figure]) -> str:
    """Each placeholder becomes the figure: a marked-up span in the text, its plain value
    inside a tag (a link's address, an image's alternative text)."""
    parts = re.split(r"(<[^>]*>)", rendered)
    for i, part in enumerate(parts):
        if part.startswith("<"):
            parts[i] = _PLACEHOLDER.sub(
                lambda m: html.escape(found[int(m.group(1))].text, quote=True), part
            )
        else:
            parts[i] = _PLACEHOLDER.sub(
                lambda m: (
                    f'<span class="chiffre" title="{html.escape(found[int(m.group(1))].label)}">'
                    f"<strong>{html.escape(found[int(m.group(1))].text)}</strong> "
                    f"<small>({html.escape(found[int(m.group(1))].reference)})</small></span>"
                ),
                part,
            )
    return "".join(parts)


def resolve(project: Project, contents: Contents) -> Contents:
    """Fill every figure (chiffres du trimestre and ``[[chiffre …]]`` in bodies) from the
    indicator table and render the bodies to HTML."""
    cache: dict[tuple[str, str, str | None], Figure] = {}

    def figure_of(indicator: str, territory: str, period: str | None) -> Figure:
        key = (indicator, territory, period)
        if key not in cache:
            cache[key] = fill_figure(project, Figure(indicator, territory, period))
        return cache[key]

    out = Contents(root=contents.root)
    for kind in KINDS:
        for item in contents.items[kind]:
            found: list[Figure] = []

            def substitute(match: re.Match[str], found: list[Figure] = found) -> str:
                fig = figure_of(match.group(1), match.group(2), match.group(3))
                found.append(fig)
                return f"CHIFFREPLACEHOLDER{len(found) - 1}Z"

            body = _FIGURE.sub(substitute, item.body)
            rendered = _markdown(body)
            if found:
                rendered = _place_figures(rendered, found)
            figure = item.figure
            if figure is not None:
                figure = figure_of(figure.indicator, figure.territory, figure.period)
            out.items[kind].append(
                replace(item, figures=tuple(found), html=rendered, figure=figure)
            )
    return out
