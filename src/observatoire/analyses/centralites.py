"""Bourgs-centres: the four functions of each commune, the armature (levels of centrality),
the complementarity of the centres and the commerce (methods §3 and §6).

``observatoire diagnose centralites --territoire ID [--centres CODES]`` computes, with the
parameters of ``centralites`` in ``diagnostics.yaml``:

1. **Equipment presence.** The BPE of the latest loaded vintage (the geolocated list when
   loaded, else the communal counts; never both), per commune. INSEE's gamme table *of the
   same vintage* (``bpe_gammes``) gives the composition of the gammes; types merged by INSEE
   (``typequ_regroupement``: école maternelle = C101 + C102…) count once. The coverage of a
   gamme is the number of its (merged) types present in the commune / the number of types in
   the gamme. Without the gamme table of that vintage, nothing is computed (never a
   composition of another vintage, never a guessed one).
2. **Levels** (ANCT-INRAE « Centralités », 2020, on INSEE's gammes): a commune reaches a
   level when the coverage of every gamme listed for it reaches its threshold; its level is
   the highest reached, else « non-centre ». Levels are absolute (they do not depend on the
   other communes studied), so they are computed for every commune of the départements the
   BPE covers: a centre outside the territory can be the nearest one. A commune of a
   département without BPE data has an unknown level, never « non-centre » (noted). The
   zone shown on the map and in the GeoPackage is the communes within ``rayon_recherche_km``.
3. **Function scores**, 0-100, over the reference set (the territory's communes, or the
   listed centres): each criterion (catalogue indicator at its latest period with usable
   values, or a measure computed here) is oriented, normalised over the reference set
   (:mod:`observatoire.analyses.composite`: percentile ranks by default), and averaged with
   its weight over the available criteria of the function; the overall centrality is the
   mean of the four functions (none when one function has no score); the completeness is
   the share of the configured weight with a value. A secret or missing value is missing,
   never 0; the scores do not depend on the order of the inputs (units are sorted by code,
   ties share their rank).
4. **Nearest centre of each level** for every commune of the territory: the closest commune
   whose level is at least that level (itself when it is), by geodesic distance between the
   centroids of the communes, or by road time when a matrix (« distancier ») is given; the
   population each centre serves is the sum of the legal populations (recoded to the
   project's COG) of the territory's communes attached to it.
5. **Complementarity**: the neighbours of a centre are the other centres within
   ``rayon_voisinage_km`` (``temps_voisinage_min`` with a matrix). For every centre of the
   territory: the equipment types it holds that none of its neighbours hold (counted by BPE
   domain: the matrix, and listed), and for each function its score minus the median score
   of its scored neighbours — the communes studied — (« apport »), an « atout » when it is
   above all of them.
6. **Comparison with INSEE's bassins de vie** when the table d'appartenance is loaded: a
   commune is a BV pole when its code is its BV code (BV2022, else BV2012), both recoded
   from the table's COG to the project's.
7. **Commerce** (:mod:`observatoire.analyses.commerce`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from observatoire.analyses.commerce import CommerceResult, commerce, population_at
from observatoire.analyses.composite import Criterion, IndexSpec, composite_index
from observatoire.analyses.distances import (
    centroids,
    distance_km,
    read_time_matrix,
    time_matrix,
)
from observatoire.analyses.habitat import latest_usable
from observatoire.catalogue.diagnostics import GAMMES, CentralityParams, load_diagnostics
from observatoire.errors import ConfigError, InputError
from observatoire.indicators.catalogue import indicator_catalogue
from observatoire.indicators.facts import bpe_counts, gamme_key
from observatoire.indicators.select import read_values
from observatoire.loading import warehouse_events
from observatoire.project import Project
from observatoire.territories import referential
from observatoire.territories.perimeters import Territory
from observatoire.territories.referential import REFERENTIAL_COG
from observatoire.warehouse import Warehouse

NON_CENTRE = "non_centre"
UNKNOWN = "inconnu"
LEVEL_LABELS_EXTRA = {NON_CENTRE: "Non-centre", UNKNOWN: "Inconnu (BPE non chargée)"}
GAMME_LABELS = {
    "proximite": "gamme de proximité",
    "intermediaire": "gamme intermédiaire",
    "superieure": "gamme supérieure",
}
DOMAIN_LABELS = {
    "A": "Services aux particuliers",
    "B": "Commerces",
    "C": "Enseignement",
    "D": "Santé et action sociale",
    "E": "Transports et déplacements",
    "F": "Sports, loisirs et culture",
    "G": "Tourisme",
}
MEASURE_LABELS = {
    "couverture_proximite": ("Couverture de la gamme de proximité", "%", 0),
    "couverture_intermediaire": ("Couverture de la gamme intermédiaire", "%", 0),
    "couverture_superieure": ("Couverture de la gamme supérieure", "%", 0),
    "equipements_pour_1000": ("Équipements pour 1 000 habitants", "pour 1 000 hab.", 1),
    "types_sante": ("Types d'équipements de santé présents", "types", 0),
    "types_enseignement": ("Types d'équipements d'enseignement présents", "types", 0),
    "types_commerce": ("Types de commerces présents (BPE)", "types", 0),
    "types_culture_tourisme": ("Types d'équipements culturels et touristiques", "types", 0),
    "equipements_culture_tourisme_pour_1000": (
        "Équipements culturels et touristiques pour 1 000 habitants",
        "pour 1 000 hab.",
        1,
    ),
    "commerces_pour_1000": (
        "Commerces de détail en magasin pour 1 000 habitants",
        "pour 1 000 hab.",
        1,
    ),
    "etablissements_pour_1000": (
        "Établissements actifs (SIRENE) pour 1 000 habitants",
        "pour 1 000 hab.",
        1,
    ),
    "diversite_statuts": ("Diversité des statuts d'occupation (Gini-Simpson)", "indice", 2),
    "diversite_tailles": ("Diversité des tailles de logements (Gini-Simpson)", "indice", 2),
    "programmes": (
        "Programmes nationaux (listes ANCT chargées)",
        "programmes",
        0,
    ),
}
_TENURE = (
    "part_proprietaires",
    "part_locataires",
    "part_locataires_hlm",
    "part_loges_gratuitement",
)
_SIZES = ("part_petits_logements", "part_grands_logements")


@dataclass
class CriterionUse:
    """What the scores used for one criterion."""

    key: str
    kind: str  # indicateur / mesure
    label: str
    unit: str
    decimals: int
    function: str
    function_label: str
    direction: int
    weight: float
    period: str | None
    source: str
    available: int


@dataclass
class CentralityResult:
    """The bourgs-centres diagnostic of one territory."""

    territory: Territory
    params: CentralityParams
    period: str  # BPE vintage
    communes: pd.DataFrame  # index code: the zone's communes and the nearest centres
    values: pd.DataFrame  # index code (reference set): one column per criterion
    scores: pd.DataFrame  # index code (reference set): f_<function>, centralite, completude
    criteria: list[CriterionUse]
    gammes: pd.DataFrame  # unit, gamme, types, libelle
    presence: pd.DataFrame  # index code (zone, covered), columns units: bool
    nearest: pd.DataFrame  # code, niveau, centre, distance_km, minutes
    served: pd.DataFrame  # niveau, centre, communes, population
    complementarity: pd.DataFrame  # index centre: apport_<f>, atout_<f>, voisins, exclusifs_<d>
    exclusive: pd.DataFrame  # centre, unite, domaine, libelle
    bv: pd.DataFrame | None  # code, bv, pole_bv, niveau (territory communes)
    commerce: CommerceResult | None
    geometries: gpd.GeoDataFrame  # code, nom, geometry of the zone's communes
    candidates: pd.DataFrame  # index code: lon, lat, niveau of every commune the BPE covers
    population_year: int  # year of the legal populations used
    timed: bool = False  # nearest centres by road time
    simulated: bool = False
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def level_labels(self) -> dict[str, str]:
        return {lv.id: lv.label for lv in self.params.levels} | LEVEL_LABELS_EXTRA

    @property
    def in_territory(self) -> pd.DataFrame:
        return self.communes[self.communes["territoire"]]

    @property
    def centres(self) -> list[str]:
        """Centres of the territory (any level), by descending level then name."""
        table = self.in_territory
        table = table[~table["niveau"].isin([NON_CENTRE, UNKNOWN])]
        return table.sort_values(["rang_niveau", "nom"]).index.tolist()


# --------------------------------------------------------------------------- equipment


def gamme_units(gammes: pd.DataFrame) -> pd.DataFrame:
    """INSEE's gamme table → ``unit, gamme, types, libelle`` (one row per merged type)."""
    table = gammes.copy()
    table["gamme"] = table["gamme"].map(gamme_key).str.lower()
    table = table[table["gamme"].isin(GAMMES)]
    group = table.get("typequ_regroupement")
    table["unit"] = (
        group.where(group.notna() & (group.astype(str).str.strip() != ""), table["typequ"])
        if group is not None
        else table["typequ"]
    )
    label = table.get("libelle_regroupement")
    fallback = table.get("libelle_typequ")
    table["libelle"] = label.where(label.notna(), fallback) if label is not None else fallback
    units = (
        table.groupby("unit", sort=True)
        .agg(
            gamme=("gamme", "first"),
            n_gammes=("gamme", "nunique"),
            types=("typequ", lambda s: tuple(sorted(set(s)))),
            libelle=("libelle", "first"),
        )
        .reset_index()
    )
    bad = units[units["n_gammes"] > 1]
    if len(bad):
        raise InputError(
            f"table des gammes incohérente : le regroupement « {bad['unit'].iloc[0]} » relève "
            "de plusieurs gammes"
        )
    return units.drop(columns="n_gammes")


def presence_matrix(counts: pd.DataFrame, codes: list[str], units: pd.DataFrame) -> pd.DataFrame:
    """``codes`` × units: True when at least one equipment of one of the unit's types is in
    the commune."""
    present = counts[counts["n"] > 0]
    type_to_unit = {
        t: u for u, types in zip(units["unit"], units["types"], strict=True) for t in types
    }
    present = present.assign(unit=present["typequ"].map(type_to_unit)).dropna(subset=["unit"])
    matrix = pd.DataFrame(False, index=pd.Index(codes, name="code"), columns=units["unit"])
    hits = present[present["code"].isin(codes)][["code", "unit"]].drop_duplicates()
    if len(hits):
        rows = matrix.index.get_indexer(hits["code"])
        cols = matrix.columns.get_indexer(hits["unit"])
        values = matrix.to_numpy(copy=True)
        values[rows, cols] = True
        matrix = pd.DataFrame(values, index=matrix.index, columns=matrix.columns)
    return matrix


def coverage(presence: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Share (0-1) of the units of each gamme present in each commune."""
    out = pd.DataFrame(index=presence.index)
    for gamme in GAMMES:
        members = units.loc[units["gamme"] == gamme, "unit"].tolist()
        out[gamme] = presence[members].mean(axis=1) if members else np.nan
    return out


def levels_of(cover: pd.DataFrame, params: CentralityParams) -> pd.Series:
    """The highest level each commune reaches (``non_centre`` when none)."""
    level = pd.Series(NON_CENTRE, index=cover.index, dtype="object")
    for lv in reversed(params.levels):  # lowest first: higher levels overwrite
        reached = pd.Series(True, index=cover.index)
        for gamme, threshold in lv.thresholds.items():
            # a small tolerance: 14 / 28 types must reach 0.5 whatever the float rounding
            reached &= (cover[gamme] >= threshold - 1e-12).fillna(False)
        level[reached] = lv.id
    return level


# --------------------------------------------------------------------------- zone


def _zone(
    territory_codes: list[str], search_km: float
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[str]]:
    """Communes within ``search_km`` of a commune of the territory (centroid to centroid):
    their shapes and centroids sorted by code, and the territory's communes without shape."""
    geo = referential.geometries("commune")
    inside = geo[geo["code"].isin(territory_codes)]
    missing = sorted(set(territory_codes) - set(inside["code"]))
    if inside.empty:
        raise InputError("aucune géométrie pour les communes du territoire")
    minx, miny, maxx, maxy = inside.total_bounds
    lat = (miny + maxy) / 2
    dy = search_km / 111.0 + 0.05
    dx = search_km / (111.0 * max(np.cos(np.radians(lat)), 0.1)) + 0.05
    box = geo.cx[minx - dx : maxx + dx, miny - dy : maxy + dy]
    box = box.sort_values("code").reset_index(drop=True)
    points = centroids(box)
    own = points[points["code"].isin(territory_codes)]
    near = distance_km(points, own).min(axis=1) <= search_km
    near |= points["code"].isin(territory_codes).to_numpy()
    return box[near].reset_index(drop=True), points[near].reset_index(drop=True), missing


# --------------------------------------------------------------------------- measures


def _gini_simpson(shares: pd.DataFrame) -> pd.Series:
    """1 − Σ p² of shares given in % (NaN when one share is missing)."""
    p = shares / 100.0
    out = 1.0 - (p**2).sum(axis=1, min_count=p.shape[1])
    return out.where(p.notna().all(axis=1))


def _indicator_frame(
    warehouse: Warehouse, codes: list[str], names: pd.Series, wanted: list[str]
) -> pd.DataFrame:
    territories = [
        Territory(id=c, nom=str(names.get(c, c)), level="commune", communes=(c,)) for c in codes
    ]
    rows = read_values(warehouse, territories, indicator_ids=wanted)
    return rows[rows["level"] == "commune"]


def _diversity(rows: pd.DataFrame, codes: list[str]) -> tuple[pd.Series, pd.Series, str | None]:
    """Tenure and size diversity at the latest period where all their shares exist."""
    frame = {}
    period = None
    for key in (*_TENURE, *_SIZES):
        series, p, _ = latest_usable(rows, key)
        frame[key] = series.reindex(codes)
        period = period or p
    f = pd.DataFrame(frame, index=codes)
    tenure = pd.DataFrame(
        {
            "owners": f["part_proprietaires"],
            "private": f["part_locataires"] - f["part_locataires_hlm"],
            "social": f["part_locataires_hlm"],
            "free": f["part_loges_gratuitement"],
        }
    )
    sizes = pd.DataFrame(
        {
            "small": f["part_petits_logements"],
            "large": f["part_grands_logements"],
            "medium": 100.0 - f["part_petits_logements"] - f["part_grands_logements"],
        }
    )
    return _gini_simpson(tenure), _gini_simpson(sizes), period


PROGRAMME_LABELS = {"acv": "Action Cœur de Ville", "pvd": "Petites villes de demain"}


def _programmes(warehouse: Warehouse, codes: list[str]) -> tuple[pd.Series | None, str]:
    """Number of the loaded programmes each commune belongs to, and which lists were read
    (a commune absent from a loaded list is a known 0; no list loaded → None)."""
    con = warehouse.con
    if "programmes_communes" not in warehouse.tables():
        return None, ""
    columns = {r[0] for r in con.execute("DESCRIBE programmes_communes").fetchall()}
    code = (
        "coalesce(code_commune_cog, code_commune)"
        if "code_commune_cog" in columns
        else "code_commune"
    )
    found = con.execute(
        f"SELECT {code} AS code, programme, CAST(vintage AS VARCHAR) AS vintage "
        "FROM programmes_communes"
    ).df()
    lists = found.groupby("programme")["vintage"].agg(lambda v: ", ".join(sorted(set(v))))
    label = " ; ".join(f"{PROGRAMME_LABELS.get(p, p)} ({v})" for p, v in lists.items())
    n = found.groupby("code")["programme"].nunique()
    return n.reindex(codes).fillna(0).astype("float64"), label


# --------------------------------------------------------------------------- main


def _check_params(params: CentralityParams, origin: str) -> None:
    known = indicator_catalogue().indicators
    for f in params.functions:
        for c in f.criteria:
            if c.kind == "indicateur" and c.key not in known:
                raise ConfigError(
                    f"centralites.fonctions.{f.id} : indicateur « {c.key} » absent du "
                    "catalogue (observatoire catalogue list)",
                    path=origin,
                )


def _simulated_datasets(warehouse: Warehouse) -> set[str]:
    lineage = warehouse.lineage()
    return set(lineage.loc[lineage["origin"] == "simulated", "dataset"])


def _to_project_cog(
    codes: pd.Series, source_year: int | None, events: pd.DataFrame | None
) -> pd.Series:
    """Commune codes of COG ``source_year`` → the referential's (merged communes → the new
    commune; unknown → NaN): with INSEE's events when loaded, else the referential's
    passage (recent changes only)."""
    from observatoire.territories import cog
    from observatoire.territories.harmonise import passage_from_referential, target_codes

    if events is not None and source_year is not None and source_year < REFERENTIAL_COG:
        passage = cog.build_passage(events, source_year, REFERENTIAL_COG, target_codes())
        passage = passage[passage["receives"]]
    else:
        passage = passage_from_referential(codes.dropna())
    mapping = dict(zip(passage["code_source"], passage["code_cible"], strict=True))
    return codes.map(mapping)


def _bv_comparison(
    warehouse: Warehouse, codes: list[str], level: pd.Series
) -> tuple[pd.DataFrame | None, str | None]:
    """Bassin-de-vie code and pole flag of the territory's communes, both recoded to the
    project's COG (the communes from the table's vintage, the bassins from their zoning's:
    BV2012 poles are 2012 communes): a commune is a pole when one of its former communes is
    its bassin's pole."""
    if "cog_appartenance" not in warehouse.tables():
        return None, None
    con = warehouse.con
    variables = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT variable FROM cog_appartenance WHERE variable LIKE 'BV%'"
        ).fetchall()
    ]
    if not variables:
        return None, None
    variable = max(variables)  # BV2022 before BV2012
    rows = con.execute(
        "SELECT codgeo AS code, value AS bv, CAST(vintage AS VARCHAR) AS vintage "
        "FROM cog_appartenance WHERE variable = ? AND niveau = 'COM'",
        [variable],
    ).df()
    vintage = rows["vintage"].max()
    rows = rows[rows["vintage"] == vintage]
    events = warehouse_events(warehouse)
    table_year = int(vintage) if str(vintage).isdigit() else None
    zoning_year = int(variable[2:]) if variable[2:].isdigit() else table_year
    rows = rows.assign(
        code=_to_project_cog(rows["code"], table_year, events),
        bv=_to_project_cog(rows["bv"], zoning_year, events),
    ).dropna(subset=["code"])
    rows["pole"] = rows["code"] == rows["bv"]
    per = rows.groupby("code").agg(bv=("bv", "first"), pole_bv=("pole", "any"))
    table = pd.DataFrame({"code": codes}).merge(per, on="code", how="left")
    table["niveau"] = table["code"].map(level)
    return table, variable


def _reference_checks(
    territory: Territory, codes: list[str], centres: list[str] | None
) -> list[str]:
    if len(codes) < 2 and not centres:
        raise InputError(
            f"« {territory.nom} » ne compte qu'une commune : le diagnostic compare les communes "
            "d'un territoire (EPCI, SCoT, PETR…)"
        )
    reference = sorted(set(centres)) if centres else codes
    outside = sorted(set(reference) - set(codes))
    if outside:
        raise InputError(
            f"centre(s) hors du territoire « {territory.nom} » : {', '.join(outside)} "
            "(codes INSEE des communes du territoire attendus)"
        )
    return reference


def _check_times(times: pd.DataFrame, codes: list[str], notes: list[str]) -> None:
    used = times[times["origine"].isin(codes) | times["destination"].isin(codes)]
    if used.empty:
        raise InputError(
            "le distancier ne contient aucun trajet depuis ou vers une commune du territoire "
            "(codes INSEE du COG du projet attendus)"
        )
    reached = set(used["origine"]) | set(used["destination"])
    missing = sorted(set(codes) - reached)
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        notes.append(
            f"{len(missing)} commune(s) du territoire absentes du distancier ({shown}) : "
            "aucun centre joignable pour elles."
        )


def run(
    project: Project,
    territory_id: str,
    *,
    centres: list[str] | None = None,
    times: Path | None = None,
    perimeters: Path | None = None,
) -> CentralityResult:
    """The bourgs-centres diagnostic of ``territory_id`` (see the module docstring).

    ``centres``: the reference set of the function scores (default: every commune of the
    territory); ``times``: a road-time matrix; ``perimeters``: polygons of the town centres
    (commerce inside them)."""
    diagnostics = load_diagnostics(project.root)
    params = diagnostics.centralities
    if params is None:
        raise ConfigError("section « centralites » absente", path=diagnostics.origin)
    _check_params(params, diagnostics.origin)
    territory = project.territories.get(territory_id)
    codes = sorted(territory.communes)
    reference = _reference_checks(territory, codes, centres)
    ref = referential.communes().set_index("code")
    names = ref["nom"]
    epci_names = referential.epcis().set_index("code")["nom"]
    notes: list[str] = []
    time_table = read_time_matrix(times) if times is not None else None
    if time_table is not None:
        _check_times(time_table, codes, notes)
    geometries, points, shapeless = _zone(codes, params.search_km)
    if shapeless:
        raise InputError(
            "commune(s) du territoire sans géométrie dans le référentiel : " + ", ".join(shapeless)
        )
    zone = points["code"].tolist()

    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        simulated_sets = _simulated_datasets(warehouse)
        counts, period, bpe_datasets = bpe_counts(warehouse.con)
        if counts is None or period is None:
            raise InputError(
                "aucune donnée de la base permanente des équipements (BPE) chargée : chargez "
                "le fichier BPE de l'INSEE (observatoire load) puis relancez"
            )
        gammes = (
            warehouse.con.execute(
                "SELECT * FROM bpe_gammes WHERE CAST(vintage AS VARCHAR) = ?", [period]
            ).df()
            if "bpe_gammes" in warehouse.tables()
            else pd.DataFrame()
        )
        if gammes.empty:
            raise InputError(
                f"composition des gammes de la BPE {period} absente : chargez le classeur "
                f"de l'INSEE « BPE_gammes » du millésime {period} (observatoire load). La "
                "composition change à chaque millésime : celle d'un autre millésime n'est "
                "jamais utilisée"
            )
        units = gamme_units(gammes)
        # Levels are absolute: computed for every commune of the départements the BPE
        # covers, so that the nearest centre of a level is searched everywhere it can be.
        covered_deps = set(counts["dep"].unique())
        covered = sorted(ref.index[ref["dep"].isin(covered_deps)])
        if not set(codes) & set(covered):
            raise InputError(
                f"la BPE {period} chargée ne couvre aucune commune de « {territory.nom} » "
                f"(départements couverts : {', '.join(sorted(covered_deps))}) : chargez la BPE "
                "de ses départements"
            )
        presence = presence_matrix(counts, covered, units)
        cover = coverage(presence, units)
        order = {lv: i for i, lv in enumerate(params.level_ids)}
        order[NON_CENTRE] = len(order)
        order[UNKNOWN] = len(order)
        geo_all = referential.geometries("commune")
        candidates = centroids(geo_all[geo_all["code"].isin(covered)]).set_index("code")
        candidates["niveau"] = levels_of(cover, params).reindex(candidates.index)
        candidates["rang_niveau"] = candidates["niveau"].map(order)
        uncovered = sorted({ref["dep"].get(c) for c in zone} - covered_deps - {None})
        if uncovered:
            notes.append(
                "Département(s) de la zone sans BPE chargée : "
                + ", ".join(uncovered)
                + " — leurs communes ont un niveau inconnu ; un centre plus proche peut s'y "
                "trouver."
            )

        # ------------------------------------------------------------- the communes table
        pop_all, pop_year = population_at(zone, int(period[:4]))
        communes = _communes_table(
            zone, points, codes, reference, candidates, cover, pop_all, ref, names, epci_names
        )
        if set(codes) - set(covered):
            missing = sorted(set(codes) - set(covered))
            notes.append(
                f"{len(missing)} commune(s) du territoire hors de la BPE chargée (départements "
                "non couverts) : niveau inconnu."
            )

        # ------------------------------------------------------------- measures
        bpe_ref = counts[counts["code"].isin(reference)]
        by_code = bpe_ref.groupby("code")
        pop_ref = pop_all.reindex(reference)
        measures = pd.DataFrame(index=pd.Index(reference, name="code"))
        for gamme in GAMMES:
            measures[f"couverture_{gamme}"] = cover[gamme].reindex(reference) * 100
        in_bpe = pd.Series(reference, index=reference).isin(covered)

        def known_zero(series: pd.Series) -> pd.Series:
            series = series.reindex(reference).astype("float64")
            return series.where(~in_bpe, series.fillna(0))

        def distinct(prefixes: tuple[str, ...]) -> pd.Series:
            mask = bpe_ref["typequ"].str.startswith(prefixes) & (bpe_ref["n"] > 0)
            return known_zero(bpe_ref[mask].groupby("code")["typequ"].nunique())

        def count(prefixes: tuple[str, ...]) -> pd.Series:
            mask = bpe_ref["typequ"].str.startswith(prefixes)
            return known_zero(bpe_ref[mask].groupby("code")["n"].sum())

        per_1000 = pop_ref.where(pop_ref > 0)
        measures["equipements_pour_1000"] = known_zero(by_code["n"].sum()) / per_1000 * 1000
        measures["types_sante"] = distinct(("D",))
        measures["types_enseignement"] = distinct(("C",))
        measures["types_commerce"] = distinct(("B",))
        measures["types_culture_tourisme"] = distinct(params.identity_prefixes)
        measures["equipements_culture_tourisme_pour_1000"] = (
            count(params.identity_prefixes) / per_1000 * 1000
        )
        shop = commerce(
            warehouse, codes, params, perimeters=perimeters, simulated_datasets=simulated_sets
        )
        stock_year = None
        if shop is not None and shop.stocks:
            stock_year = shop.stocks[-1][:10]
            for key in ("commerces_pour_1000", "etablissements_pour_1000"):
                measures[key] = shop.communes[key].reindex(reference)
        wanted = sorted(
            {c.key for f in params.functions for c in f.criteria if c.kind == "indicateur"}
            | set(_TENURE)
            | set(_SIZES)
        )
        rows = _indicator_frame(warehouse, reference, names, wanted)
        tenure, sizes, housing_period = _diversity(rows, reference)
        measures["diversite_statuts"] = tenure
        measures["diversite_tailles"] = sizes
        programmes, programme_lists = _programmes(warehouse, reference)
        if programmes is not None:
            measures["programmes"] = programmes
        bv, bv_variable = _bv_comparison(warehouse, codes, communes["niveau"])

    # ----------------------------------------------------------------- scores
    bpe_source = f"INSEE, base permanente des équipements {period}"
    measure_meta = {
        "commerces_pour_1000": (f"INSEE, SIRENE (stock du {stock_year})", stock_year),
        "etablissements_pour_1000": (f"INSEE, SIRENE (stock du {stock_year})", stock_year),
        "diversite_statuts": (f"INSEE, recensement ({housing_period})", housing_period),
        "diversite_tailles": (f"INSEE, recensement ({housing_period})", housing_period),
        "programmes": (
            f"ANCT, {programme_lists}" if programme_lists else "aucune liste ANCT chargée",
            programme_lists or None,
        ),
    }
    simulated = bool({"bpe_xy", "bpe_com"} & simulated_sets & bpe_datasets) or (
        "bpe_gammes" in simulated_sets
    )
    uses, values, simulated = _criteria(
        params, rows, measures, measure_meta, reference, period, bpe_source, simulated
    )
    if shop is not None and shop.simulated:
        simulated = True
    scores = function_scores(values, params, uses)
    absent = [u.label for u in uses if u.available == 0]
    if absent:
        notes.append("Critères sans valeur sur les communes notées : " + " ; ".join(absent) + ".")

    # ----------------------------------------------------------------- nearest centres
    origins = communes.loc[codes, ["lon", "lat", "population"]]
    nearest, served = nearest_centres(candidates, codes, params, time_table, origins=origins)
    far = nearest[nearest["centre"].notna() & ~nearest["centre"].isin(communes.index)]
    if len(far):  # nearest centres beyond the zone shown: added to the table
        extra = sorted(set(far["centre"]))
        communes = pd.concat(
            [
                communes,
                _communes_table(
                    extra,
                    candidates.loc[extra].reset_index(),
                    codes,
                    reference,
                    candidates,
                    cover,
                    population_at(extra, int(period[:4]))[0],
                    ref,
                    names,
                    epci_names,
                ),
            ]
        ).sort_index()
    for lv in params.levels:
        if nearest.loc[nearest["niveau"] == lv.id, "centre"].isna().all():
            notes.append(f"Aucun {lv.label.lower()} dans les départements couverts par la BPE.")
    comp, exclusive = complementarity(
        candidates, codes, presence, units, scores, params, time_table
    )
    sources = [bpe_source, f"INSEE, gammes d'équipements {period}"]
    sources += sorted({u.source for u in uses if u.source and u.available})
    sources.append(f"INSEE, populations légales {pop_year} (COG {referential.REFERENTIAL_COG})")
    if bv is not None:
        sources.append(f"INSEE, table d'appartenance géographique ({bv_variable})")
    return CentralityResult(
        territory=territory,
        params=params,
        period=period,
        communes=communes,
        values=values,
        scores=scores,
        criteria=uses,
        gammes=units,
        presence=presence,
        nearest=nearest,
        served=served,
        complementarity=comp,
        exclusive=exclusive,
        bv=bv,
        commerce=shop,
        geometries=geometries[["code", "nom", "geometry"]],
        candidates=candidates,
        population_year=pop_year,
        timed=time_table is not None,
        simulated=simulated,
        sources=list(dict.fromkeys(sources)),
        notes=notes + (shop.notes if shop is not None else []),
    )


def _communes_table(
    codes: list[str],
    points: pd.DataFrame,
    territory: list[str],
    reference: list[str],
    candidates: pd.DataFrame,
    cover: pd.DataFrame,
    population: pd.Series,
    ref: pd.DataFrame,
    names: pd.Series,
    epci_names: pd.Series,
) -> pd.DataFrame:
    communes = pd.DataFrame(index=pd.Index(codes, name="code"))
    communes["nom"] = names.reindex(codes).to_numpy()
    communes["epci"] = ref["epci"].reindex(codes).to_numpy()
    communes["epci_nom"] = communes["epci"].map(epci_names)
    communes["dep"] = ref["dep"].reindex(codes).to_numpy()
    communes["population"] = population.reindex(codes).to_numpy()
    communes["territoire"] = communes.index.isin(territory)
    communes["reference"] = communes.index.isin(reference)
    communes["niveau"] = candidates["niveau"].reindex(codes).fillna(UNKNOWN).to_numpy()
    unknown = len(LEVEL_LABELS_EXTRA) + int(candidates["rang_niveau"].max())
    communes["rang_niveau"] = candidates["rang_niveau"].reindex(codes).fillna(unknown).to_numpy()
    for gamme in GAMMES:
        communes[f"couverture_{gamme}"] = cover[gamme].reindex(codes).to_numpy() * 100
    xy = points.set_index("code").reindex(codes)
    communes["lon"] = xy["lon"].to_numpy()
    communes["lat"] = xy["lat"].to_numpy()
    return communes


def _criteria(
    params: CentralityParams,
    rows: pd.DataFrame,
    measures: pd.DataFrame,
    measure_meta: dict[str, tuple[str, str | None]],
    reference: list[str],
    period: str,
    bpe_source: str,
    simulated: bool,
) -> tuple[list[CriterionUse], pd.DataFrame, bool]:
    catalogue = indicator_catalogue()
    values = pd.DataFrame(index=pd.Index(reference, name="code"))
    uses: list[CriterionUse] = []
    for f in params.functions:
        for c in f.criteria:
            if c.kind == "indicateur":
                series, p, chosen = latest_usable(rows, c.key)
                ind = catalogue.indicators[c.key]
                label, unit, decimals = c.label or ind.label, ind.unit, ind.decimals
                source = "" if chosen.empty else str(chosen["source"].iloc[0])
                if len(chosen) and (chosen["origin"] == "simulated").any():
                    simulated = True
            else:
                series = measures[c.key] if c.key in measures else pd.Series(dtype="float64")
                label, unit, decimals = MEASURE_LABELS[c.key]
                label = c.label or label
                source, p = measure_meta.get(c.key, (bpe_source, period))
            series = series.reindex(reference).astype("float64")
            values[c.key] = series.to_numpy()
            available = int(series.notna().sum())
            uses.append(
                CriterionUse(
                    key=c.key,
                    kind=c.kind,
                    label=label,
                    unit=unit,
                    decimals=decimals,
                    function=f.id,
                    function_label=f.label,
                    direction=c.direction,
                    weight=c.weight,
                    period=p if available else None,
                    source=source,
                    available=available,
                )
            )
    return uses, values, simulated


def function_scores(
    values: pd.DataFrame, params: CentralityParams, uses: list[CriterionUse]
) -> pd.DataFrame:
    """``f_<function>`` (0-100), ``centralite`` (mean of the four functions, 0-100; empty
    when a function has no score) and ``completude`` (share of the configured weight whose
    criterion has a value for the unit: a criterion missing everywhere counts as missing)."""
    available = {u.key for u in uses if u.available > 0}
    criteria = tuple(
        Criterion(
            id=u.key, label=u.label, dimension=u.function, direction=u.direction, weight=u.weight
        )
        for u in uses
        if u.key in available
    )
    out = pd.DataFrame(index=values.index)
    if criteria:
        spec = IndexSpec(
            criteria=criteria,
            dimension_weights={f.id: 1.0 for f in params.functions},
            normalisation=params.normalisation,
            winsorise=params.winsorise,
            aggregation="additive",
            min_completeness=0.0,
            classes=1,
        )
        ordered = values.sort_index()[[c.id for c in criteria]]
        index = composite_index(ordered, spec).reindex(values.index)
    else:
        index = pd.DataFrame(index=values.index)
    for f in params.functions:
        column = f"d_{f.id}"
        out[f"f_{f.id}"] = index[column] * 100 if column in index else np.nan
    out["centralite"] = out[[f"f_{f.id}" for f in params.functions]].mean(axis=1, skipna=False)
    completeness = pd.Series(0.0, index=values.index)
    for f in params.functions:
        mine = [u for u in uses if u.function == f.id]
        total = sum(u.weight for u in mine)
        for u in mine:
            has = values[u.key].notna() if u.key in values else False
            completeness += has * (u.weight / total / len(params.functions))
    out["completude"] = completeness
    return out


def _cost(
    origins: pd.DataFrame,
    targets: pd.DataFrame,
    times: pd.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    km = distance_km(origins[["lon", "lat"]], targets[["lon", "lat"]])
    minutes = (
        time_matrix(times, origins.index.tolist(), targets.index.tolist())
        if times is not None
        else None
    )
    return km, minutes


def nearest_centres(
    candidates: pd.DataFrame,
    codes: list[str],
    params: CentralityParams,
    times: pd.DataFrame | None,
    *,
    origins: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For each commune of ``codes`` and each level, the nearest commune of ``candidates``
    (index code: ``lon, lat, rang_niveau``) of at least that level; and the population each
    centre serves (``origins``' ``population``: the territory's communes only)."""
    origins = candidates.loc[codes] if origins is None else origins.loc[codes]
    rows = []
    for rank, lv in enumerate(params.levels):
        pool = candidates[candidates["rang_niveau"] <= rank]
        if pool.empty:
            rows.extend((code, lv.id, None, np.nan, np.nan) for code in codes)
            continue
        km, minutes = _cost(origins, pool, times)
        cost = minutes if minutes is not None else km
        filled = np.where(np.isnan(cost), np.inf, cost)
        best = np.argmin(filled, axis=1)
        ids = pool.index.to_numpy()
        for i, code in enumerate(codes):
            j = best[i]
            if not np.isfinite(filled[i, j]):
                rows.append((code, lv.id, None, np.nan, np.nan))
                continue
            rows.append(
                (
                    code,
                    lv.id,
                    ids[j],
                    float(km[i, j]),
                    float(minutes[i, j]) if minutes is not None else np.nan,
                )
            )
    nearest = pd.DataFrame(rows, columns=["code", "niveau", "centre", "distance_km", "minutes"])
    attached = nearest.dropna(subset=["centre"]).assign(
        population=lambda t: t["code"].map(origins["population"])
    )
    served = (
        attached.groupby(["niveau", "centre"])
        .agg(communes=("code", "size"), population=("population", lambda s: s.sum(min_count=1)))
        .reset_index()
    )
    served["niveau_ordre"] = served["niveau"].map({lv.id: i for i, lv in enumerate(params.levels)})
    served = served.sort_values(
        ["niveau_ordre", "population", "centre"], ascending=[True, False, True]
    )
    return nearest, served.drop(columns="niveau_ordre").reset_index(drop=True)


def complementarity(
    candidates: pd.DataFrame,
    codes: list[str],
    presence: pd.DataFrame,
    units: pd.DataFrame,
    scores: pd.DataFrame,
    params: CentralityParams,
    times: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The matrix centre × (functions, BPE domains) of the territory's centres and the list
    of the types each holds that none of its neighbouring centres (anywhere) holds."""
    is_centre = ~candidates["niveau"].isin([NON_CENTRE, UNKNOWN])
    centres = candidates[is_centre]
    own = [c for c in centres.index if c in set(codes)]
    columns = (
        [f"apport_{f.id}" for f in params.functions]
        + [f"atout_{f.id}" for f in params.functions]
        + ["voisins", "voisins_notes"]
        + [f"exclusifs_{d}" for d in DOMAIN_LABELS]
    )
    empty_list = pd.DataFrame(columns=["centre", "unite", "domaine", "gamme", "libelle"])
    if not own:
        return pd.DataFrame(columns=columns), empty_list
    km, minutes = _cost(centres.loc[own], centres, times)
    near = (
        (minutes <= params.neighbour_minutes)
        if minutes is not None
        else (km <= params.neighbour_km)
    )
    by_unit = units.set_index("unit")
    domain = by_unit["types"].map(lambda types: types[0][0])
    held = presence.reindex(centres.index).fillna(False).to_numpy(bool)
    unit_ids = presence.columns.to_numpy()
    position = {c: j for j, c in enumerate(centres.index)}
    matrix, exclusive_rows = [], []
    for i, centre in enumerate(own):
        neighbours = [c for j, c in enumerate(centres.index) if near[i, j] and c != centre]
        scored = [c for c in neighbours if c in scores.index]
        row: dict[str, object] = {
            "centre": centre,
            "voisins": len(neighbours),
            "voisins_notes": len(scored),
        }
        mine = held[position[centre]]
        others = (
            held[[position[c] for c in neighbours]].any(axis=0)
            if neighbours
            else np.zeros(len(unit_ids), dtype=bool)
        )
        only = unit_ids[mine & ~others]
        for d in DOMAIN_LABELS:
            row[f"exclusifs_{d}"] = int(sum(domain.get(u) == d for u in only))
        for u in only:
            label = by_unit["libelle"].get(u)
            exclusive_rows.append(
                {
                    "centre": centre,
                    "unite": u,
                    "domaine": DOMAIN_LABELS.get(domain.get(u), ""),
                    "gamme": GAMME_LABELS.get(by_unit["gamme"].get(u), ""),
                    "libelle": label if isinstance(label, str) and label else "",
                }
            )
        for f in params.functions:
            column = f"f_{f.id}"
            mine_score = scores[column].get(centre, np.nan)
            theirs = scores.loc[scored, column].dropna() if scored else pd.Series(dtype=float)
            if pd.isna(mine_score) or theirs.empty:
                row[f"apport_{f.id}"] = np.nan
                row[f"atout_{f.id}"] = None
            else:
                row[f"apport_{f.id}"] = float(mine_score - theirs.median())
                row[f"atout_{f.id}"] = bool(mine_score > theirs.max())
        matrix.append(row)
    return pd.DataFrame(matrix).set_index("centre")[columns], pd.DataFrame(
        exclusive_rows, columns=empty_list.columns
    )
