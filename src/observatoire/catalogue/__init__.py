"""Declarative catalogues shipped with the package, validated on load into frozen models.

Today: ``sources.yaml`` (official sources: publisher, licence, URL templates by vintage,
checksums). Errors name the file, the entry and the key, in French.

``jeux`` lists the warehouse dataset ids a source's files load into (``lovac_communes``,
``rp_comparateur``…: the ``dataset`` of the lineage); a dataset belongs to one source only.
``restreint: true`` marks a source of restricted diffusion (« diffusion restreinte »): the
figures of its datasets are left out of the static web build and served only with an access
token. Every indicator reading one of those datasets is restricted too
(``observatoire.indicators.catalogue``: an indicator's datasets are those of its ``source``
family, ``SOURCE_DATASETS``; ``restricted_indicator_ids`` lists them). The agency's own
exports keep them, marked « diffusion restreinte ».
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

import yaml

from observatoire.errors import ConfigError, InputError

_SOURCE_KEYS = {
    "id",
    "titre",
    "editeur",
    "licence",
    "jeux",
    "niveau",
    "format",
    "page",
    "url",
    "urls",
    "millesimes",
    "sha256",
    "restreint",
}
_REQUIRED = ("id", "titre", "editeur", "licence", "jeux")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ALLOWED_PLACEHOLDERS = {"annee", "aa", "departement"}


@dataclass(frozen=True)
class Source:
    """One official source of the catalogue."""

    id: str
    titre: str
    editeur: str
    licence: str
    jeux: tuple[str, ...]
    niveau: str = ""
    format: str = ""
    page: str = ""
    url: str = ""
    urls: dict[str, str] = field(default_factory=dict)
    millesimes: tuple[str, ...] = ()
    sha256: dict[str, str] = field(default_factory=dict)
    restreint: bool = False

    @property
    def vintages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.urls) | set(self.millesimes)))

    def needs_departement(self) -> bool:
        return "{departement}" in self.url

    def resolve(self, vintage: str | None, departement: str | None = None) -> list[str]:
        """The URL(s) of a vintage (latest when None)."""
        available = self.vintages
        if vintage is None:
            vintage = available[-1] if available else None
        if vintage in self.urls:
            return [self.urls[vintage]]
        if not self.url or vintage not in self.millesimes:
            raise InputError(
                f"millésime « {vintage} » indisponible pour « {self.id} » ; millésimes "
                f"connus : {', '.join(available) or 'aucun'}"
            )
        if self.needs_departement() and not departement:
            raise InputError(
                f"« {self.id} » est publié par département : précisez --departement (ex. 62)"
            )
        return [self.url.format(annee=vintage, aa=vintage[-2:], departement=departement)]


def parse_sources(text: str, origin: str = "sources.yaml") -> dict[str, Source]:
    """Validate the sources catalogue text into :class:`Source` models."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML illisible ({exc})", path=origin) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list):
        raise ConfigError("le catalogue doit contenir une liste « sources »", path=origin)
    sources: dict[str, Source] = {}
    owners: dict[str, str] = {}  # dataset id → source id
    for position, entry in enumerate(raw["sources"], start=1):
        where = f"entrée {position}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} : une table est attendue", path=origin)
        unknown = set(entry) - _SOURCE_KEYS
        if unknown:
            raise ConfigError(
                f"{where} : clé(s) inconnue(s) {', '.join(sorted(unknown))}", path=origin
            )
        missing = [k for k in _REQUIRED if not entry.get(k)]
        if missing:
            raise ConfigError(
                f"{where} : clé(s) obligatoire(s) absente(s) {', '.join(missing)}", path=origin
            )
        sid = str(entry["id"])
        if sid in sources:
            raise ConfigError(f"{where} : identifiant « {sid} » en double", path=origin)
        urls = {str(k): str(v) for k, v in (entry.get("urls") or {}).items()}
        template = str(entry.get("url") or "")
        for url in (template, *urls.values()):
            bad = set(_PLACEHOLDER.findall(url)) - _ALLOWED_PLACEHOLDERS
            if bad:
                raise ConfigError(
                    f"{where} (« {sid} ») : variable(s) d'adresse inconnue(s) "
                    + ", ".join(sorted(bad)),
                    path=origin,
                )
            if url and not url.startswith(("https://", "http://")):
                raise ConfigError(f"{where} (« {sid} ») : adresse invalide « {url} »", path=origin)
        if not urls and not template:
            raise ConfigError(f"{where} (« {sid} ») : ni « url » ni « urls »", path=origin)
        jeux = entry["jeux"]
        if not isinstance(jeux, list) or not all(isinstance(j, str) and j for j in jeux):
            raise ConfigError(
                f"{where} (« {sid} ») : « jeux » attend une liste d'identifiants", path=origin
            )
        for jeu in jeux:
            if jeu in owners:
                raise ConfigError(
                    f"{where} (« {sid} ») : le jeu « {jeu} » appartient déjà à la source "
                    f"« {owners[jeu]} »",
                    path=origin,
                )
            owners[jeu] = sid
        restreint = entry.get("restreint", False)
        if not isinstance(restreint, bool):
            raise ConfigError(
                f"{where} (« {sid} ») : « restreint » attend true ou false", path=origin
            )
        sources[sid] = Source(
            id=sid,
            titre=str(entry["titre"]),
            editeur=str(entry["editeur"]),
            licence=str(entry["licence"]),
            jeux=tuple(jeux),
            niveau=str(entry.get("niveau", "")),
            format=str(entry.get("format", "")),
            page=str(entry.get("page", "")),
            url=template,
            urls=urls,
            millesimes=tuple(str(m) for m in entry.get("millesimes") or ()),
            sha256={str(k): str(v) for k, v in (entry.get("sha256") or {}).items()},
            restreint=restreint,
        )
    return sources


@cache
def _sources() -> dict[str, Source]:
    path = files("observatoire") / "catalogue" / "sources.yaml"
    return parse_sources(path.read_text(encoding="utf-8"), origin="catalogue/sources.yaml")


def sources() -> dict[str, Source]:
    """The package's sources catalogue (validated, cached)."""
    return dict(_sources())


def source(source_id: str) -> Source:
    catalogue = _sources()
    if source_id not in catalogue:
        raise InputError(
            f"source « {source_id} » inconnue ; sources du catalogue : "
            + ", ".join(sorted(catalogue))
        )
    return catalogue[source_id]
