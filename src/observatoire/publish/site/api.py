"""The web observatory's data: every response of its JSON API, built from the warehouse.

One :class:`SiteData` is read once from the indicator table (the territories of the study
area: the project's territories, every commune and EPCI of their départements, the parents
and the references) and answers every path of :data:`ROUTES`. ``observatoire serve`` answers
them on demand; ``observatoire site build`` writes the same bytes as static files, so that the
observatory runs from any static host.

Rules:

- read-only; every path parameter is checked against the known territories, levels and
  indicators (:class:`NotFound` otherwise) — nothing from a request reaches SQL;
- a secret cell is sent as ``null`` with status ``secret``, never its value, nor any
  numerator or denominator;
- indicators read from a dataset marked ``restreint`` (LOVAC, PPPI…) are left out, unless the
  data is built with ``restricted=True`` (the server with a valid access token).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import shapely

from observatoire.catalogue import sources as source_catalogue
from observatoire.errors import InputError
from observatoire.indicators.build import VALUE_TABLE
from observatoire.indicators.catalogue import (
    IndicatorCatalogue,
    indicator_catalogue,
    restricted_indicator_ids,
)
from observatoire.indicators.export import LEVEL_LABELS
from observatoire.indicators.facts import dataset_label
from observatoire.indicators.select import peer_groups
from observatoire.project import Project
from observatoire.publish import charts
from observatoire.publish.fmt import STATUS_MARKS, status_note
from observatoire.publish.report import (
    ReportData,
    _comparators,
    chapter_contents,
    key_figures,
    report_name,
)
from observatoire.territories import referential
from observatoire.territories.perimeters import Territory, official_territories
from observatoire.territories.publish import territories_in_scope
from observatoire.warehouse import Warehouse

API_VERSION = "1"
LEVELS = ("commune", "epci", "departement", "region", "france", "custom")
VALUE_LEVELS = ("commune", "epci")  # levels of the explorer's maps
GEOMETRY_LEVELS = ("commune", "epci", "departement")
COORDINATE_GRID = 1e-4  # degrees (about 10 m): generalised shapes need no more
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# Every path of the API: (template, summary). The OpenAPI document is built from it.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/meta.json", "Nom, charte, thèmes et réglages de l'observatoire"),
    ("/api/territoires.json", "Territoires consultables (recherche), avec leurs communes"),
    ("/api/territoires/{niveau}/{id}.json", "Portrait d'un territoire"),
    ("/api/indicateurs.json", "Catalogue des indicateurs diffusés, par thème"),
    ("/api/valeurs/{indicateur}/{niveau}.json", "Valeurs d'un indicateur pour un niveau"),
    ("/api/geometries/{niveau}.json", "Contours (GeoJSON, WGS 84) d'un niveau"),
    ("/api/sources.json", "Sources, millésimes et licences des données chargées"),
)


class NotFound(LookupError):
    """A path or parameter the API does not know (HTTP 404), with a French message."""


def encode(payload: Any) -> bytes:
    """The JSON bytes of a response (UTF-8, compact, NaN refused)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _study_departments(project: Project) -> list[str]:
    """Départements whose communes all get a portrait: the references of level département
    and the départements the project's territories belong to (their official parent)."""
    deps: set[str] = set()
    for ref in project.settings.references:
        t = project.territories.get(ref)
        if t.level == "departement":
            deps.add(t.id)
    for territory in project.territories:
        for parent in project.territories.parents(territory.id):
            if parent.level == "departement":
                deps.add(parent.id)
    return sorted(deps)


def site_scope(project: Project) -> list[Territory]:
    """Territories of the observatory: the project's scope (its territories, their EPCI,
    parents and references) plus every commune and EPCI of the study départements."""
    scope = {t.key: t for t in territories_in_scope(project)}
    deps = set(_study_departments(project))
    for territory in official_territories("departement"):
        if territory.id in deps:
            scope.setdefault(territory.key, territory)
    for territory in official_territories("epci"):
        if any(_dep_of(c) in deps for c in territory.communes):
            scope.setdefault(territory.key, territory)
    # Every commune of those départements, and of the EPCI and territories of the scope.
    wanted = {c for t in scope.values() if t.level in ("epci", "custom") for c in t.communes}
    for territory in official_territories("commune"):
        if territory.id in wanted or _dep_of(territory.id) in deps:
            scope.setdefault(territory.key, territory)
    return list(scope.values())


def _dep_of(commune: str) -> str:
    return commune[:3] if commune.startswith("97") else commune[:2]


@dataclass
class SiteData:
    """Everything the observatory publishes, read once from the warehouse."""

    project: Project
    catalogue: IndicatorCatalogue
    territories: dict[tuple[str, str], Territory]  # (level, id) → territory
    values: pd.DataFrame
    ranks: pd.DataFrame
    lineage: pd.DataFrame
    restricted_ids: frozenset[str]
    restricted: bool = False
    today: date = field(default_factory=date.today)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        warehouse: Warehouse,
        project: Project,
        *,
        restricted: bool = False,
        today: date | None = None,
    ) -> SiteData:
        """Read the study area's indicator rows; ``restricted`` keeps restricted datasets."""
        catalogue = indicator_catalogue()
        scope = site_scope(project)
        if VALUE_TABLE not in warehouse.tables():
            raise InputError("aucun indicateur calculé : lancez d'abord « observatoire build »")
        keys = pd.DataFrame(
            {"territory_id": [t.id for t in scope], "level": [t.level for t in scope]}
        )
        restricted_ids = frozenset(restricted_indicator_ids(catalogue))
        con = warehouse.con.cursor()
        try:
            con.register("_site_keys", keys)
            values = con.execute(
                f"""
                SELECT territory_id, level, indicator_id, period, value, status, source, origin
                FROM {VALUE_TABLE} SEMI JOIN _site_keys USING (territory_id, level)
                ORDER BY level, territory_id, indicator_id, period
                """
            ).df()
            peers = peer_groups(warehouse)
            con.register("_peers", peers)
            ranks = con.execute(
                f"""
                WITH ranked AS (
                    SELECT v.territory_id, v.level, v.indicator_id, v.period, p.peer_group,
                           rank() OVER w AS rank,
                           count(*) OVER (PARTITION BY p.peer_group, v.level, v.indicator_id,
                                                       v.period) AS peers
                    FROM {VALUE_TABLE} v JOIN _peers p USING (territory_id, level)
                    WHERE v.value IS NOT NULL AND v.level IN ('commune', 'epci', 'departement',
                                                              'region')
                    WINDOW w AS (PARTITION BY p.peer_group, v.level, v.indicator_id, v.period
                                 ORDER BY v.value DESC)
                )
                SELECT * FROM ranked SEMI JOIN _site_keys USING (territory_id, level)
                """
            ).df()
            lineage = con.execute(
                "SELECT dataset, vintage, origin, count(*) AS fichiers, "
                "sum(rows) AS lignes FROM lineage GROUP BY ALL ORDER BY dataset, vintage"
            ).df()
        finally:
            con.close()
        if not restricted:
            values = values[~values["indicator_id"].isin(restricted_ids)].copy()
            ranks = ranks[~ranks["indicator_id"].isin(restricted_ids)]
        # A secret cell never leaves with a value (defensive: the engine already writes NULL).
        values.loc[values["status"] == "secret", "value"] = np.nan
        return cls(
            project=project,
            catalogue=catalogue,
            territories={(t.level, t.id): t for t in scope},
            values=values.reset_index(drop=True),
            ranks=ranks.reset_index(drop=True),
            lineage=lineage,
            restricted_ids=restricted_ids,
            restricted=restricted,
            today=today or date.today(),
        )

    # ------------------------------------------------------------------ lookups

    @cached_property
    def _by_territory(self) -> dict[tuple[str, str], pd.DataFrame]:
        return {
            (level, tid): group
            for (level, tid), group in self.values.groupby(["level", "territory_id"], sort=False)
        }

    def territory(self, level: str, territory_id: str) -> Territory:
        """A territory of the study area, or :class:`NotFound`."""
        if level not in LEVELS:
            raise NotFound(f"niveau « {level} » inconnu ; niveaux : {', '.join(LEVELS)}")
        if not _ID.match(territory_id) or (level, territory_id) not in self.territories:
            raise NotFound(f"territoire « {territory_id} » ({level}) absent de l'observatoire")
        return self.territories[(level, territory_id)]

    def _rows(self, territories: list[Territory]) -> pd.DataFrame:
        parts = [self._by_territory.get((t.level, t.id)) for t in territories]
        parts = [p for p in parts if p is not None]
        if not parts:
            return self.values.iloc[0:0]
        return pd.concat(parts, ignore_index=True)

    @cached_property
    def _labels(self) -> dict[tuple[str, str], str]:
        return {key: t.nom for key, t in self.territories.items()}

    def _published(self) -> list[Any]:
        """Catalogue indicators this observatory publishes (restricted ones only if allowed)."""
        present = set(self.values["indicator_id"].unique())
        return [
            ind
            for _, inds in self.catalogue.by_theme()
            for ind in inds
            if ind.id in present and (self.restricted or ind.id not in self.restricted_ids)
        ]

    # ------------------------------------------------------------------ responses

    def meta(self) -> dict[str, Any]:
        settings = self.project.settings
        charte = settings.charte
        return {
            "version": API_VERSION,
            "nom": settings.nom,
            "titre": charte.titre,
            "couleurs": {
                "principale": charte.couleur_principale,
                "secondaire": charte.couleur_secondaire,
                "accent": charte.couleur_accent,
            },
            "niveaux": LEVEL_LABELS,
            "references": [
                {"niveau": t.level, "id": t.id, "nom": t.nom}
                for t in (self.project.territories.get(r) for r in settings.references)
            ],
            "fond_de_carte": settings.tiles or None,
            "attribution": settings.tiles_attribution or None,
            "simule": bool((self.values["origin"] == "simulated").any()),
            "restreint": self.restricted,
            "statuts": {
                s: {"marque": STATUS_MARKS.get(s) or "—", "note": status_note(s)}
                for s in ("incomplete", "withheld", "secret", "non_additive", "missing")
            },
            "vega_config": charts._config(),
            "genere_le": self.today.isoformat(),
        }

    def territory_index(self) -> dict[str, Any]:
        communes = referential.communes().set_index("code")
        rows = []
        order = {
            lv: i
            for i, lv in enumerate(("custom", "epci", "departement", "region", "france", "commune"))
        }
        for t in sorted(self.territories.values(), key=lambda t: (order[t.level], t.nom)):
            row: dict[str, Any] = {"niveau": t.level, "id": t.id, "nom": t.nom}
            if t.level == "commune":
                info = communes.loc[t.id] if t.id in communes.index else None
                row["dep"] = None if info is None else str(info["dep"])
                epci = None if info is None else info["epci"]
                row["epci"] = None if epci is None or pd.isna(epci) else str(epci)
            else:
                row["communes"] = list(t.communes) if t.level not in ("region", "france") else []
                row["nb_communes"] = len(t.communes)
                if t.level == "custom":
                    row["categorie"] = t.categorie
            rows.append(row)
        return {"territoires": rows}

    def indicators(self) -> dict[str, Any]:
        present = self.values.groupby("indicator_id").agg(
            periodes=("period", lambda s: sorted(set(s), key=lambda p: (p[-4:], p))),
            niveaux=("level", lambda s: sorted(set(s))),
        )
        themes = []
        published = {i.id for i in self._published()}
        for theme, inds in self.catalogue.by_theme():
            shown = [i for i in inds if i.id in published]
            if not shown:
                continue
            themes.append(
                {
                    "id": theme.id,
                    "libelle": theme.label,
                    "indicateurs": [
                        {
                            "id": i.id,
                            "libelle": i.label,
                            "definition": i.definition,
                            "unite": i.unit,
                            "decimales": i.decimals,
                            "nature": i.kind,
                            "polarite": i.polarity,
                            "source": i.source,
                            "restreint": i.id in self.restricted_ids,
                            "periodes": present.loc[i.id, "periodes"],
                            "niveaux": present.loc[i.id, "niveaux"],
                        }
                        for i in shown
                    ],
                }
            )
        return {"themes": themes}

    def indicator_values(self, indicator_id: str, level: str) -> dict[str, Any]:
        ind = self._indicator(indicator_id)
        if level not in VALUE_LEVELS:
            raise NotFound(f"niveau « {level} » non cartographié ; niveaux : commune, epci")
        rows = self.values[
            (self.values["indicator_id"] == ind.id) & (self.values["level"] == level)
        ]
        ids = sorted(t.id for (lv, _), t in self.territories.items() if lv == level)
        periods = sorted(set(rows["period"]), key=lambda p: (p[-4:], p))
        out_values: dict[str, list[float | None]] = {}
        out_status: dict[str, list[str | None]] = {}
        position = {tid: i for i, tid in enumerate(ids)}
        for period, group in rows.groupby("period"):
            vals: list[float | None] = [None] * len(ids)
            stats: list[str | None] = [None] * len(ids)
            for tid, value, status in zip(
                group["territory_id"], group["value"], group["status"], strict=True
            ):
                i = position.get(tid)
                if i is None:
                    continue
                vals[i] = None if status == "secret" else _number(value)
                stats[i] = status
            out_values[period] = vals
            out_status[period] = stats
        sources = {
            str(period): sorted(set(group["source"].dropna()))
            for period, group in rows.groupby("period")
        }
        return {
            "indicateur": ind.id,
            "niveau": level,
            "periodes": periods,
            "territoires": ids,
            "valeurs": out_values,
            "statuts": out_status,
            "sources": sources,
        }

    def geometries(self, level: str) -> dict[str, Any]:
        if level not in GEOMETRY_LEVELS:
            raise NotFound(
                f"niveau « {level} » sans contours ; niveaux : commune, epci, departement"
            )
        ids = {t.id for (lv, _), t in self.territories.items() if lv == level}
        geo = referential.geometries(level)
        geo = geo[geo["code"].isin(ids)].sort_values("code")
        geometry = shapely.set_precision(geo.geometry.to_numpy(), COORDINATE_GRID)
        features = []
        extra = None
        if level == "commune":
            extra = referential.communes().set_index("code")[["dep", "epci"]]
        for code, nom, shape in zip(geo["code"], geo["nom"], geometry, strict=True):
            if shape is None or shape.is_empty:
                continue
            props: dict[str, Any] = {"id": str(code), "nom": str(nom)}
            if extra is not None and code in extra.index:
                epci = extra.at[code, "epci"]
                props["dep"] = str(extra.at[code, "dep"])
                props["epci"] = None if pd.isna(epci) else str(epci)
            features.append(
                {
                    "type": "Feature",
                    "properties": props,
                    "geometry": json.loads(shapely.to_geojson(shape)),
                }
            )
        return {"type": "FeatureCollection", "niveau": level, "features": features}

    def sources(self) -> dict[str, Any]:
        by_dataset = {
            dataset: source for source in source_catalogue().values() for dataset in source.jeux
        }
        rows = []
        for rec in self.lineage.itertuples(index=False):
            source = by_dataset.get(rec.dataset)
            label = dataset_label(rec.dataset, str(rec.vintage))
            if source is not None and source.restreint and not self.restricted:
                continue
            rows.append(
                {
                    "jeu": rec.dataset,
                    "millesime": str(rec.vintage),
                    "titre": source.titre if source else label,
                    "editeur": source.editeur if source else None,
                    "licence": source.licence if source else None,
                    "page": source.page if source else None,
                    "simule": rec.origin == "simulated",
                    "fichiers": int(rec.fichiers),
                    "lignes": None if pd.isna(rec.lignes) else int(rec.lignes),
                }
            )
        cited = sorted(
            {c for text in self.values["source"].dropna().unique() for c in text.split(" ; ")}
        )
        return {"jeux": rows, "citations": cited}

    def portrait(self, level: str, territory_id: str) -> dict[str, Any]:
        territory = self.territory(level, territory_id)
        comparators = _comparators(self.project, territory)
        own = self._rows([territory])
        data = ReportData(
            territory=territory,
            comparators=comparators,
            values=self._rows([territory, *comparators]).assign(
                territory_label=lambda f: [
                    self._labels.get((lv, t), t)
                    for lv, t in zip(f["level"], f["territory_id"], strict=True)
                ]
            ),
            communes=self.values.iloc[0:0],
            map_level="commune",
            ranks=self.ranks[
                (self.ranks["territory_id"] == territory.id)
                & (self.ranks["level"] == territory.level)
            ],
            catalogue=self.catalogue,
        )
        colour = self.project.settings.charte.couleur_principale
        chapters = []
        if not own.empty:
            for content in chapter_contents(data, colour):
                specs = content["specs"]
                chapter = content["chapter"]
                chapters.append(
                    {
                        "id": content["id"],
                        "titre": content["title"],
                        "graphiques": [
                            {"spec": _without_config(s), "alt": charts.alt_text(s)} for s in specs
                        ],
                        "carte": chapter.get("carte"),
                        "tableau": content["table"],
                        "commentaires": content["comments"],
                    }
                )
        figures = key_figures(data) if not own.empty else {"rows": [], "notes": []}
        sources = sorted(set(own["source"].dropna()))
        source_index = {s: i for i, s in enumerate(sources)}
        valeurs: dict[str, list[list[Any]]] = {}
        for iid, period, value, status, source in zip(
            own["indicator_id"],
            own["period"],
            own["value"],
            own["status"],
            own["source"],
            strict=True,
        ):
            valeurs.setdefault(iid, []).append(
                [
                    period,
                    None if status == "secret" else _number(value),
                    status,
                    source_index.get(source),
                ]
            )
        pdf = self.project.settings.output_dir / "rapports" / f"{report_name(territory)}.pdf"
        return {
            "territoire": self._describe(territory),
            "parents": [
                self._describe(p)
                for p in self.project.territories.parents(
                    territory.id if territory.level == "custom" else territory.key
                )
            ],
            "membres": self._members(territory),
            "comparaisons": [self._describe(t) for t in comparators],
            "chiffres_cles": {
                "entetes": [territory.nom, *(t.nom for t in comparators)],
                "lignes": [
                    {
                        "libelle": r["label"],
                        "periode": r["period"],
                        "valeur": r["value"],
                        "evolution": _plain(r["arrow"]),
                        "autres": r["others"],
                    }
                    for r in figures["rows"]
                ],
                "notes": figures["notes"],
            },
            "chapitres": chapters,
            "valeurs": valeurs,
            "sources": sources,
            "simule": bool((own["origin"] == "simulated").any()),
            "rapport_pdf": f"rapports/{pdf.name}" if pdf.is_file() else None,
        }

    # ------------------------------------------------------------------ helpers

    def _indicator(self, indicator_id: str):
        if not _ID.match(indicator_id) or indicator_id not in self.catalogue.indicators:
            raise NotFound(f"indicateur « {indicator_id} » inconnu")
        if indicator_id in self.restricted_ids and not self.restricted:
            raise NotFound(f"indicateur « {indicator_id} » inconnu")
        return self.catalogue.indicators[indicator_id]

    def _describe(self, t: Territory) -> dict[str, Any]:
        return {
            "niveau": t.level,
            "id": t.id,
            "nom": t.nom,
            "niveau_libelle": LEVEL_LABELS[t.level],
            "nb_communes": len(t.communes),
            "dans_observatoire": (t.level, t.id) in self.territories,
        }

    def _members(self, t: Territory) -> list[dict[str, Any]]:
        if t.level in ("commune", "region", "france"):
            return []
        if t.level == "departement":
            epcis = [
                x
                for (lv, _), x in self.territories.items()
                if lv == "epci" and any(_dep_of(c) == t.id for c in x.communes)
            ]
            return [self._describe(x) for x in sorted(epcis, key=lambda x: x.nom)]
        names = self._labels
        return [
            {"niveau": "commune", "id": c, "nom": names.get(("commune", c), c)}
            for c in sorted(t.communes, key=lambda c: names.get(("commune", c), c))
        ]

    # ------------------------------------------------------------------ routing

    def paths(self) -> list[str]:
        """Every concrete path of the API for this observatory (what the static build writes)."""
        out = [
            "/api/meta.json",
            "/api/territoires.json",
            "/api/indicateurs.json",
            "/api/sources.json",
        ]
        out += [f"/api/geometries/{level}.json" for level in GEOMETRY_LEVELS]
        out += [f"/api/territoires/{lv}/{tid}.json" for (lv, tid) in self.territories]
        for ind in self._published():
            out += [f"/api/valeurs/{ind.id}/{level}.json" for level in VALUE_LEVELS]
        return out

    def respond(self, path: str) -> dict[str, Any]:
        """The payload of one API path, or :class:`NotFound`."""
        parts = path.split("/")[1:]  # a canonical path: "/api/…/x.json", no empty segment
        if (
            not path.startswith("/api/")
            or len(parts) < 2
            or not all(parts)
            or not parts[-1].endswith(".json")
        ):
            raise NotFound(f"adresse inconnue : {path}")
        parts[-1] = parts[-1][: -len(".json")]
        route = parts[1:]
        simple = {
            ("meta",): self.meta,
            ("territoires",): self.territory_index,
            ("indicateurs",): self.indicators,
            ("sources",): self.sources,
            ("openapi",): openapi,
        }
        if tuple(route) in simple:
            return simple[tuple(route)]()
        if len(route) == 3 and route[0] == "territoires":
            return self.portrait(route[1], route[2])
        if len(route) == 3 and route[0] == "valeurs":
            return self.indicator_values(route[1], route[2])
        if len(route) == 2 and route[0] == "geometries":
            return self.geometries(route[1])
        raise NotFound(f"adresse inconnue : {path}")


def _without_config(spec: dict[str, Any]) -> dict[str, Any]:
    """A chart spec without what the page has already: the config block (sent once, in
    ``meta.json``), the schema and the alternative text (sent beside the spec)."""
    out = {k: v for k, v in spec.items() if k not in ("config", "$schema", "description")}
    out["usermeta"] = {k: v for k, v in spec.get("usermeta", {}).items() if k != "alt"}
    return out


def _plain(arrow_html: str) -> dict[str, str] | None:
    """The evolution of a key figure (« en hausse depuis 2015 ») from the report's arrow."""
    if not arrow_html:
        return None
    match = re.search(r'title="([^"]+)"', arrow_html)
    text = match.group(1) if match else ""
    word = "hausse" if "hausse" in text else "baisse" if "baisse" in text else "stable"
    return {"sens": word, "texte": text}


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API (every route of :data:`ROUTES`)."""
    params = {
        "niveau": {"type": "string", "enum": list(LEVELS)},
        "id": {"type": "string", "pattern": _ID.pattern},
        "indicateur": {"type": "string", "pattern": _ID.pattern},
    }
    paths: dict[str, Any] = {}
    for template, summary in ROUTES:
        names = re.findall(r"{(\w+)}", template)
        schema_levels = params["niveau"]
        if "valeurs" in template:
            schema_levels = {"type": "string", "enum": list(VALUE_LEVELS)}
        elif "geometries" in template:
            schema_levels = {"type": "string", "enum": list(GEOMETRY_LEVELS)}
        paths[template] = {
            "get": {
                "summary": summary,
                "parameters": [
                    {
                        "name": n,
                        "in": "path",
                        "required": True,
                        "schema": schema_levels if n == "niveau" else params[n],
                    }
                    for n in names
                ],
                "security": [{}, {"jeton": []}],
                "responses": {
                    "200": {"description": "Réponse JSON", "content": {"application/json": {}}},
                    "404": {"description": "Adresse, territoire, niveau ou indicateur inconnu"},
                    "401": {"description": "Jeton d'accès invalide"},
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Observatoire — API de l'observatoire territorial",
            "version": API_VERSION,
            "description": (
                "API en lecture seule. Les valeurs soumises au secret statistique sont "
                "transmises sans valeur (statut « secret »). Les indicateurs des jeux à "
                "diffusion restreinte ne sont servis qu'avec un jeton d'accès (en-tête "
                "« Authorization: Bearer JETON »)."
            ),
        },
        "components": {"securitySchemes": {"jeton": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
