"""Territories of a project: official levels from the referential and custom perimeters.

Custom territories are declared in ``territoires.yaml`` as unions of communes, EPCI,
départements, régions or other custom territories::

    territoires:
      - id: pm-artois
        nom: Pôle Métropolitain de l'Artois
        categorie: Pôle métropolitain
        epci: ["200072460", "246200364", "246200299"]

Codes are read from the raw YAML text, never through YAML's number typing, so ``01001``
stays ``"01001"`` (YAML 1.1 would read it as the octal number 513) and a code that lost its
leading zero (``1001``) is reported rather than silently mis-read.

Official territory ids: INSEE codes for communes, départements and régions, SIREN for EPCI,
``FR`` for France. An EPCI's parent département is the one holding most of its population
(latest legal population), since some EPCI straddle départements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

from observatoire.errors import ConfigError, InputError
from observatoire.territories import referential

LEVELS = ("commune", "epci", "departement", "region", "france", "custom")
_ID = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_MEMBER_KEYS = {
    "communes": "commune",
    "epci": "epci",
    "departements": "departement",
    "regions": "region",
    "territoires": "custom",
}
_ALLOWED_KEYS = {"id", "nom", "categorie", "description", "regle", *_MEMBER_KEYS}
_PREFIXES = {"com": "commune", "epci": "epci", "dep": "departement", "reg": "region"}
_PREFIXES_BY_LEVEL = {v: k for k, v in _PREFIXES.items()} | {"france": "fr"}
_LEVEL_LABELS = {
    "commune": "commune",
    "epci": "EPCI",
    "departement": "département",
    "region": "région",
    "custom": "territoire",
}


@dataclass(frozen=True)
class Territory:
    """A named set of communes at a level (official or custom)."""

    id: str
    nom: str
    level: str
    communes: tuple[str, ...]
    categorie: str = ""
    description: str = ""
    regle: str = ""
    members: tuple[tuple[str, str], ...] = ()  # (level, id) as declared, for custom ones
    parent: tuple[str, str] | None = None  # official parent (level, id): EPCI → dép. → région → FR

    @property
    def key(self) -> str:
        """Unambiguous reference: ``dep:32`` (Gers) is not ``reg:32`` (Hauts-de-France)."""
        return self.id if self.level == "custom" else f"{_PREFIXES_BY_LEVEL[self.level]}:{self.id}"

    @property
    def size(self) -> int:
        return len(self.communes)


@dataclass
class TerritorySet:
    """Every territory a project can name: official ones and its custom perimeters."""

    cog: int
    custom: dict[str, Territory] = field(default_factory=dict)

    def get(self, territory_id: str) -> Territory:
        """The territory named by a custom id, an INSEE code, a SIREN, ``FR`` or a prefixed code.

        Two-character codes can name a département and a région (``32`` is the Gers and
        Hauts-de-France): such a code must be prefixed, ``dep:32`` or ``reg:32``.
        """
        if territory_id in self.custom:
            return self.custom[territory_id]
        return resolve_official(territory_id, self.cog)

    def __iter__(self) -> Iterator[Territory]:
        return iter(self.custom.values())

    def __len__(self) -> int:
        return len(self.custom)

    def parents(self, territory_id: str) -> list[Territory]:
        """Official parents of a territory, nearest first, up to France."""
        chain: list[Territory] = []
        current = self.get(territory_id)
        parent_key = (
            _common_parent(current.communes) if current.level == "custom" else current.parent
        )
        while parent_key is not None:
            parent = official_territory(parent_key[1], parent_key[0])
            if parent is None:
                break
            chain.append(parent)
            parent_key = parent.parent
        return chain


# --------------------------------------------------------------------------- official levels


def _epci_parent_departments() -> dict[str, str]:
    com = referential.communes()
    pops = referential.populations()
    latest = pops[pops["annee"] == pops["annee"].max()][["code", "population"]]
    merged = com.merge(latest, on="code", how="left").fillna({"population": 0})
    merged = merged[merged["epci"].notna()]
    by_dep = merged.groupby(["epci", "dep"], as_index=False)["population"].sum()
    by_dep = by_dep.sort_values(["epci", "population", "dep"], ascending=[True, False, True])
    return dict(by_dep.drop_duplicates("epci")[["epci", "dep"]].itertuples(index=False))


_OFFICIAL_CACHE: dict[tuple[str, str], Territory] = {}


def official_territories(level: str) -> list[Territory]:
    """Every official territory of a level, with its member communes."""
    if level not in LEVELS or level == "custom":
        raise InputError(
            f"niveau « {level} » inconnu ; niveaux possibles : commune, epci, departement, "
            "region, france"
        )
    _build_official_cache()
    return [t for (lvl, _), t in _OFFICIAL_CACHE.items() if lvl == level]


def official_territory(territory_id: str, level: str) -> Territory | None:
    """The official territory of ``level`` with this code, or None."""
    _build_official_cache()
    return _OFFICIAL_CACHE.get((level, territory_id))


def resolve_official(reference: str, cog: int) -> Territory:
    """The official territory named by ``reference`` (``62119``, ``200072460``, ``62``,
    ``dep:32``, ``reg:32``, ``FR``); a French error when unknown or ambiguous."""
    _build_official_cache()
    ref = reference.strip()
    if ref.upper() in ("FR", "FRANCE", "FR:FR"):
        return _OFFICIAL_CACHE[("france", "FR")]
    if ":" in ref:
        prefix, code = ref.split(":", 1)
        level = _PREFIXES.get(prefix.lower())
        if level is None:
            raise InputError(
                f"préfixe « {prefix} » inconnu dans « {reference} » ; préfixes possibles : "
                + ", ".join(f"{p}:" for p in _PREFIXES)
            )
        found = _OFFICIAL_CACHE.get((level, code))
        if found is None:
            raise InputError(f"{_LEVEL_LABELS[level]} « {code} » inconnu(e) au COG {cog}")
        return found
    matches = [t for lvl in _PREFIXES.values() if (t := _OFFICIAL_CACHE.get((lvl, ref)))]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        options = " ou ".join(f"« {t.key} » ({t.nom})" for t in matches)
        raise InputError(f"code « {reference} » ambigu : précisez {options}")
    raise InputError(
        f"territoire « {reference} » inconnu : ni identifiant de territoires.yaml, ni code de "
        f"commune, d'EPCI, de département ou de région au COG {cog}, ni « FR »"
    )


def _build_official_cache() -> None:
    if _OFFICIAL_CACHE:
        return
    com = referential.communes()
    cache: dict[tuple[str, str], Territory] = {}
    for row in com.itertuples(index=False):
        parent = ("epci", row.epci) if isinstance(row.epci, str) else ("departement", row.dep)
        cache[("commune", row.code)] = Territory(
            row.code, row.nom, "commune", (row.code,), parent=parent
        )
    epci_dep = _epci_parent_departments()
    members = com[com["epci"].notna()].groupby("epci")["code"].apply(lambda s: tuple(sorted(s)))
    for row in referential.epcis().itertuples(index=False):
        dep = epci_dep.get(row.code)
        cache[("epci", row.code)] = Territory(
            row.code,
            row.nom,
            "epci",
            members.get(row.code, ()),
            categorie=row.nature,
            parent=("departement", dep) if dep else None,
        )
    dep_members = com.groupby("dep")["code"].apply(lambda s: tuple(sorted(s)))
    for row in referential.departements().itertuples(index=False):
        cache[("departement", row.code)] = Territory(
            row.code,
            row.nom,
            "departement",
            dep_members.get(row.code, ()),
            parent=("region", row.reg),
        )
    reg_members = com.groupby("reg")["code"].apply(lambda s: tuple(sorted(s)))
    for row in referential.regions().itertuples(index=False):
        cache[("region", row.code)] = Territory(
            row.code, row.nom, "region", reg_members.get(row.code, ()), parent=("france", "FR")
        )
    cache[("france", "FR")] = Territory("FR", "France", "france", tuple(sorted(com["code"])))
    _OFFICIAL_CACHE.update(cache)


def _common_parent(communes: Iterable[str]) -> tuple[str, str] | None:
    """The smallest official territory above every commune of a custom territory."""
    codes = list(communes)
    if not codes:
        return None
    levels = _commune_levels()
    rows = [levels[code] for code in codes]  # a code outside the referential: KeyError
    epcis = {epci for epci, _, _ in rows}
    if len(epcis) == 1 and None not in epcis and len(codes) > 1:
        epci = epcis.pop()
        if set(official_territory(epci, "epci").communes) != set(codes):  # type: ignore[union-attr]
            return ("epci", epci)
    deps = {dep for _, dep, _ in rows}
    if len(deps) == 1:
        return ("departement", deps.pop())
    regs = {reg for _, _, reg in rows}
    if len(regs) == 1:
        return ("region", regs.pop())
    return ("france", "FR")


@cache
def _commune_levels() -> dict[str, tuple[str | None, str, str]]:
    """Commune code → (EPCI or None, département, région) of the referential."""
    com = referential.communes()
    epcis = [None if pd.isna(e) else str(e) for e in com["epci"].tolist()]
    levels = zip(epcis, com["dep"].tolist(), com["reg"].tolist(), strict=True)
    return dict(zip(com["code"].tolist(), levels, strict=True))


# --------------------------------------------------------------------------- territoires.yaml


@dataclass
class _Raw:
    id: str
    line: int
    nom: str
    categorie: str
    description: str
    regle: str
    members: list[tuple[str, str, int]]  # (level, code, line)


def _scalar(node: yaml.Node, path: Path, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{what} doit être une valeur simple", path=path, line=_line(node))
    return str(node.value).strip()


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _parse(text: str, path: Path) -> list[_Raw]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"YAML illisible ({getattr(exc, 'problem', exc)})",
            path=path,
            line=mark.line + 1 if mark else None,
        ) from exc
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("le fichier doit commencer par « territoires: »", path=path, line=1)
    entries: yaml.Node | None = None
    for key_node, value_node in root.value:
        key = _scalar(key_node, path, "une clé")
        if key != "territoires":
            raise ConfigError(
                f"clé de premier niveau inconnue « {key} » ; seule « territoires » est attendue",
                path=path,
                line=_line(key_node),
            )
        entries = value_node
    if entries is None or (isinstance(entries, yaml.ScalarNode) and entries.value in ("", "~")):
        return []
    if not isinstance(entries, yaml.SequenceNode):
        raise ConfigError(
            "« territoires » doit être une liste (chaque territoire commence par « - id: »)",
            path=path,
            line=_line(entries),
        )
    raws = []
    for item in entries.value:
        if not isinstance(item, yaml.MappingNode):
            raise ConfigError(
                "chaque territoire doit être une table avec au moins « id » et « nom »",
                path=path,
                line=_line(item),
            )
        values: dict[str, yaml.Node] = {}
        for key_node, value_node in item.value:
            key = _scalar(key_node, path, "une clé")
            if key not in _ALLOWED_KEYS:
                raise ConfigError(
                    f"clé inconnue « {key} » ; clés possibles : "
                    + ", ".join(sorted(_ALLOWED_KEYS)),
                    path=path,
                    line=_line(key_node),
                )
            values[key] = value_node
        if "id" not in values:
            raise ConfigError("territoire sans « id »", path=path, line=_line(item))
        tid = _scalar(values["id"], path, "« id »")
        if not _ID.match(tid):
            raise ConfigError(
                f"identifiant « {tid} » invalide : minuscules, chiffres et tirets, commençant par "
                "une lettre (par exemple « pm-artois »), pour ne pas se confondre avec un code "
                "INSEE ou un SIREN",
                path=path,
                line=_line(values["id"]),
            )
        members: list[tuple[str, str, int]] = []
        for key, level in _MEMBER_KEYS.items():
            node = values.get(key)
            if node is None:
                continue
            items = node.value if isinstance(node, yaml.SequenceNode) else [node]
            for member in items:
                code = _scalar(member, path, f"un élément de « {key} »")
                if code:
                    members.append((level, code, _line(member)))
        text_of = {
            k: _scalar(values[k], path, f"« {k} »") if k in values else ""
            for k in ("nom", "categorie", "description", "regle")
        }
        if not text_of["nom"]:
            raise ConfigError(
                f"le territoire « {tid} » n'a pas de « nom »", path=path, line=_line(item)
            )
        raws.append(
            _Raw(
                tid,
                _line(item),
                text_of["nom"],
                text_of["categorie"],
                text_of["description"],
                text_of["regle"],
                members,
            )
        )
    return raws


def _check_code(level: str, code: str, path: Path, line: int, cog: int) -> None:
    """Raise a precise French error when an official code is not valid at the target COG."""
    label = _LEVEL_LABELS[level]
    expected = {"commune": 5, "epci": 9, "departement": (2, 3), "region": 2}[level]
    lengths = expected if isinstance(expected, tuple) else (expected,)
    if code.isdigit() and len(code) < min(lengths):
        padded = code.zfill(min(lengths))
        if official_territory(padded, level) is not None:
            raise ConfigError(
                f'le code de {label} « {code} » a perdu son zéro initial : écrivez "{padded}" '
                "entre guillemets",
                path=path,
                line=line,
            )
    if official_territory(code, level) is not None:
        return
    if level == "commune":
        passage = referential.derived_passage()
        hit = passage[passage["code_ancien"] == code]
        if not hit.empty:
            new = hit["code"].iloc[0]
            raise ConfigError(
                f"la commune « {code} » n'existe plus au COG {cog} : elle a fusionné dans "
                f"« {new} » ({official_territory(new, 'commune').nom}) ; utilisez ce code",  # type: ignore[union-attr]
                path=path,
                line=line,
            )
    if level == "epci":
        raise ConfigError(
            f"l'EPCI « {code} » n'existe pas au 1er janvier {cog} (COG du projet) : EPCI dissous, "
            "fusionné ou SIREN erroné",
            path=path,
            line=line,
        )
    raise ConfigError(f"code de {label} « {code} » inconnu au COG {cog}", path=path, line=line)


def parse_territories(text: str, *, path: Path, cog: int) -> TerritorySet:
    """Validate ``territoires.yaml`` text and resolve every custom territory to communes."""
    raws = _parse(text, path)
    by_id: dict[str, _Raw] = {}
    for raw in raws:
        if raw.id in by_id:
            raise ConfigError(
                f"identifiant « {raw.id} » en double (déjà défini ligne {by_id[raw.id].line})",
                path=path,
                line=raw.line,
            )
        by_id[raw.id] = raw
    for raw in raws:
        if not raw.members:
            raise ConfigError(
                f"le territoire « {raw.id} » est vide : donnez au moins une liste « communes », "
                "« epci », « departements », « regions » ou « territoires »",
                path=path,
                line=raw.line,
            )
        for level, code, line in raw.members:
            if level == "custom":
                if code not in by_id:
                    raise ConfigError(
                        f"le territoire « {raw.id} » inclut « {code} », qui n'est pas défini "
                        "dans ce fichier",
                        path=path,
                        line=line,
                    )
            else:
                _check_code(level, code, path, line, cog)

    resolved: dict[str, tuple[str, ...]] = {}

    def resolve(tid: str, stack: tuple[str, ...]) -> tuple[str, ...]:
        if tid in resolved:
            return resolved[tid]
        if tid in stack:
            cycle = " → ".join((*stack[stack.index(tid) :], tid))
            raise ConfigError(f"cycle entre territoires : {cycle}", path=path, line=by_id[tid].line)
        codes: set[str] = set()
        for level, code, _line_no in by_id[tid].members:
            if level == "custom":
                codes.update(resolve(code, (*stack, tid)))
            else:
                codes.update(official_territory(code, level).communes)  # type: ignore[union-attr]
        resolved[tid] = tuple(sorted(codes))
        return resolved[tid]

    territories = TerritorySet(cog=cog)
    for raw in raws:
        communes = resolve(raw.id, ())
        territories.custom[raw.id] = Territory(
            id=raw.id,
            nom=raw.nom,
            level="custom",
            communes=communes,
            categorie=raw.categorie,
            description=raw.description,
            regle=raw.regle,
            members=tuple((level, code) for level, code, _ in raw.members),
        )
    return territories


def load_territories(path: Path, *, cog: int) -> TerritorySet:
    """Read and validate a project's ``territoires.yaml`` (absent file = no custom territory)."""
    if not path.is_file():
        return TerritorySet(cog=cog)
    return parse_territories(path.read_text(encoding="utf-8"), path=path, cog=cog)
