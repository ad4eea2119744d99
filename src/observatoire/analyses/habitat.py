"""OPAH-RU / OPAH-RR pre-diagnostic: a composite need index over the communes of a territory.

``observatoire diagnose habitat --territoire ID [--variante ru|rr]`` reads, for every member
commune of the territory, the criteria of the variant (``habitat`` of ``diagnostics.yaml``)
from the indicator table — each at its latest period with values among those communes — and
the size gates, then computes the index (:mod:`observatoire.analyses.composite`: orientation,
normalisation over the territory's communes, weights by dimension, re-weighting on the
available criteria, ranking and priority classes) and its sensitivity to the weights (each
±variation, Monte Carlo draws). Only ``ok`` values are used: a secret or missing cell is
missing, never 0. The outputs (XLSX, GeoPackage, map, HTML/PDF chapter) are written by
:mod:`observatoire.publish.habitat`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from observatoire.analyses.composite import (
    Criterion,
    IndexSpec,
    Sensitivity,
    composite_index,
    sensitivity,
)
from observatoire.analyses.iris import iris_codes, iris_indicator
from observatoire.catalogue.diagnostics import HabitatVariant, load_diagnostics
from observatoire.errors import ConfigError, InputError
from observatoire.indicators.catalogue import indicator_catalogue
from observatoire.indicators.select import read_values
from observatoire.project import Project
from observatoire.territories.perimeters import Territory
from observatoire.warehouse import Warehouse

USABLE_STATUSES = ("ok",)
INCOMPLETE_FLAG = "semestre_incomplet"
RELATIVE_LABELS = {"epci": "de l'EPCI", "departement": "du département"}


def _fr_threshold(value: float) -> str:
    """A gate's minimum in French (thin no-break space for thousands, decimal comma); the
    analyses stage does not import the publishing one's formatter."""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")
    return text.replace(",", "\u202f").replace(".", ",")


@dataclass
class CriterionInfo:
    """What the index used for one criterion."""

    id: str
    label: str
    unit: str
    decimals: int
    dimension: str
    dimension_label: str
    direction: int
    weight: float
    period: str | None
    source: str
    available: int  # communes with a usable value
    restricted: bool
    simulated: bool


@dataclass
class HabitatResult:
    """The pre-diagnostic of one territory and variant."""

    territory: Territory
    variant: HabitatVariant
    communes: pd.DataFrame  # code, nom, epci, epci_nom, dep: the member communes
    values: pd.DataFrame  # index code, one column per criterion (raw values, NaN = missing)
    gate_values: pd.DataFrame  # index code, one column per gate indicator
    index: pd.DataFrame  # composite_index output (index code)
    sensitivity: Sensitivity
    criteria: list[CriterionInfo]
    gates: list[tuple[str, float, str, str | None]]  # indicator, min, label, period
    simulated: bool = False
    restricted: list[str] = field(default_factory=list)  # restricted indicators used
    level: str = "commune"  # or "iris"
    geometries: gpd.GeoDataFrame | None = None  # code, nom, geometry (EPSG:4326) of the units

    @property
    def used(self) -> list[CriterionInfo]:
        """The criteria in the index (those with a value for at least one unit)."""
        return [i for i in self.criteria if i.id in self.values.columns]

    @property
    def ranking(self) -> pd.DataFrame:
        """Ranked communes first (by rank), then the others by name."""
        table = self.communes.set_index("code").join(self.index, how="left")
        table = table.join(self.values, how="left")
        ranked = table[table["ranked"]].sort_values(["rank", "nom"])
        others = table[~table["ranked"]].sort_values("nom")
        return pd.concat([ranked, others])

    def top(self) -> pd.DataFrame:
        ranking = self.ranking
        return ranking[ranking["ranked"]].head(self.variant.top)


def variant_spec(variant: HabitatVariant, available: set[str] | None = None) -> IndexSpec:
    """The composite-index specification of a variant; with ``available``, only those
    criteria (a criterion without any value in the study area is a gap of the data, not of
    a unit: it leaves the index, and so does a dimension left without criterion)."""
    catalogue = indicator_catalogue()
    criteria = tuple(
        Criterion(
            id=c.indicator,
            label=c.label or catalogue.indicators[c.indicator].label,
            dimension=c.dimension,
            direction=c.direction,
            weight=c.weight,
        )
        for c in variant.criteria
        if available is None or c.indicator in available
    )
    dimensions = {c.dimension for c in criteria}
    return IndexSpec(
        criteria=criteria,
        dimension_weights={d: w for d, (_, w) in variant.dimensions.items() if d in dimensions},
        normalisation=variant.normalisation,
        winsorise=variant.winsorise,
        aggregation=variant.aggregation,
        min_completeness=variant.min_completeness,
        classes=variant.classes,
        class_method=variant.class_method,
    )


def _check_variant(variant: HabitatVariant, origin: str) -> None:
    known = indicator_catalogue().indicators
    for name in [c.indicator for c in variant.criteria] + [g.indicator for g in variant.gates]:
        if name not in known:
            raise ConfigError(
                f"habitat.{variant.id} : indicateur « {name} » absent du catalogue "
                "(observatoire catalogue list)",
                path=origin,
            )


def latest_usable(rows: pd.DataFrame, indicator: str) -> tuple[pd.Series, str | None, pd.DataFrame]:
    """Usable values of an indicator at its latest period with any usable value — skipping a
    period flagged as holding an incomplete semester (DVF) when an earlier one exists."""
    mine = rows[(rows["indicator_id"] == indicator) & rows["status"].isin(USABLE_STATUSES)]
    mine = mine[mine["value"].notna()]
    if mine.empty:
        return pd.Series(dtype="float64"), None, mine
    flagged = mine["flags"].fillna("").str.contains(INCOMPLETE_FLAG)
    if flagged.any() and not flagged.all():
        mine = mine[~flagged]
    period = max(mine["period"].astype(str), key=lambda p: (len(p), p))
    chosen = mine[mine["period"].astype(str) == period]
    return chosen.set_index("territory_id")["value"].astype("float64"), period, chosen


LEVELS = ("commune", "iris")
_IRIS_CODE_FIELDS = ("code_iris", "CODE_IRIS", "iris", "IRIS", "DCOMIRIS", "code")


def read_iris_contours(path: Path) -> gpd.GeoDataFrame:
    """IRIS polygons (IGN « Contours IRIS » or any file with a 9-character IRIS code)."""
    try:
        frame = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"contours IRIS illisibles ({exc})", path=path) from exc
    field_name = next((f for f in _IRIS_CODE_FIELDS if f in frame.columns), None)
    if field_name is None:
        raise InputError(
            "aucun champ de code IRIS (code_iris, CODE_IRIS, iris, DCOMIRIS) ; champs : "
            + ", ".join(map(str, frame.columns)),
            path=path,
        )
    if frame.crs is None:
        frame = frame.set_crs(4326)
    frame = frame.to_crs(4326)
    codes = frame[field_name].astype(str).str.strip()
    return gpd.GeoDataFrame(
        {"code": codes.to_numpy(), "nom": codes.to_numpy()},
        geometry=frame.geometry.to_numpy(),
        crs=4326,
    )


def _parents_of(codes: list[str], level: str) -> dict[str, str]:
    """Commune code → its EPCI (SIREN) or département code, read once from the referential."""
    from observatoire.territories import referential

    column = "epci" if level == "epci" else "dep"
    ref = referential.communes().set_index("code")[column].reindex(codes).dropna()
    return {code: str(parent) for code, parent in ref.items()}


def _parent_values(
    warehouse: Warehouse, variant: HabitatVariant, codes: list[str]
) -> dict[tuple[str, str, str], dict[str, float]]:
    """(level, indicator, period) → parent code → value, for the relative criteria."""
    out: dict[tuple[str, str, str], dict[str, float]] = {}
    for c in variant.criteria:
        if not c.relative:
            continue
        parent_ids = sorted(set(_parents_of(codes, c.relative).values()))
        if not parent_ids:
            continue
        parents = [Territory(id=pid, nom=pid, level=c.relative, communes=()) for pid in parent_ids]
        found = read_values(warehouse, parents, indicator_ids=[c.indicator])
        found = found[(found["level"] == c.relative) & found["status"].isin(USABLE_STATUSES)]
        for (period, pid), value in found.set_index(["period", "territory_id"])["value"].items():
            if pd.notna(value):
                out.setdefault((c.relative, c.indicator, str(period)), {})[str(pid)] = float(value)
    return out


def _commune_inputs(
    warehouse: Warehouse, variant: HabitatVariant, codes: list[str], names: pd.Series
) -> tuple[pd.DataFrame, list[CriterionInfo], pd.DataFrame, pd.Series, list]:
    catalogue = indicator_catalogue()
    wanted = sorted({c.indicator for c in variant.criteria} | {g.indicator for g in variant.gates})
    commune_territories = [
        Territory(id=code, nom=str(names.get(code, code)), level="commune", communes=(code,))
        for code in codes
    ]
    rows = read_values(warehouse, commune_territories, indicator_ids=wanted)
    rows = rows[rows["level"] == "commune"]
    values = pd.DataFrame(index=pd.Index(codes, name="code"))
    infos: list[CriterionInfo] = []
    parents = _parent_values(warehouse, variant, codes)
    for c in variant.criteria:
        series, period, chosen = latest_usable(rows, c.indicator)
        ind = catalogue.indicators[c.indicator]
        unit, decimals, label = ind.unit, ind.decimals, c.label or ind.label
        series = series.reindex(codes)
        if c.relative and period is not None:
            # value / the parent's value at the same period × 100 (index, parent = 100)
            parent = parents.get((c.relative, c.indicator, period), {})
            parent_of = _parents_of(codes, c.relative)
            of_parent = pd.Series(
                [parent.get(parent_of.get(code, "")) for code in codes],
                index=codes,
                dtype="float64",
            )
            series = series / of_parent.where(of_parent > 0) * 100
            unit, decimals = (
                f"indice ({c.relative.upper() if c.relative == 'epci' else 'département'} = 100)",
                0,
            )
            label = f"{label} rapporté à celui {RELATIVE_LABELS[c.relative]}"
        values[c.indicator] = series.to_numpy()
        infos.append(
            CriterionInfo(
                id=c.indicator,
                label=label,
                unit=unit,
                decimals=decimals,
                dimension=c.dimension,
                dimension_label=variant.dimensions[c.dimension][0],
                direction=c.direction,
                weight=c.weight,
                period=period,
                source="" if chosen.empty else str(chosen["source"].iloc[0]),
                available=int(series.notna().sum()),
                restricted=ind.restricted,
                simulated=bool((chosen["origin"] == "simulated").any()) if len(chosen) else False,
            )
        )
    gate_values = pd.DataFrame(index=pd.Index(codes, name="code"))
    eligible = pd.Series(True, index=values.index)
    gates = []
    for g in variant.gates:
        series, period, _ = latest_usable(rows, g.indicator)
        column = series.reindex(codes)
        gate_values[g.indicator] = column.to_numpy()
        # A unit whose gate value is unknown cannot be shown to pass it.
        eligible &= (column >= g.min).fillna(False).to_numpy()
        label = g.label or f"{catalogue.indicators[g.indicator].label} ≥ {_fr_threshold(g.min)}"
        gates.append((g.indicator, g.min, label, period))
    return values, infos, gate_values, eligible, gates


def _iris_inputs(
    warehouse: Warehouse,
    variant: HabitatVariant,
    iris: list[str],
    communes: list[str],
    names: pd.Series,
) -> tuple[pd.DataFrame, list[CriterionInfo], pd.DataFrame, pd.Series, list]:
    """Criteria and gates of the IRIS: evaluated at the IRIS when the source allows it; a gate
    that cannot be is applied to the IRIS's commune (« (commune) » in its label)."""
    catalogue = indicator_catalogue()
    con = warehouse.con
    values = pd.DataFrame(index=pd.Index(iris, name="code"))
    infos: list[CriterionInfo] = []
    origins = warehouse.lineage()
    simulated_sets = set(
        zip(
            origins.loc[origins["origin"] == "simulated", "dataset"],
            origins.loc[origins["origin"] == "simulated", "vintage"].astype(str),
            strict=True,
        )
    )
    for c in variant.criteria:
        ind = catalogue.indicators[c.indicator]
        got = iris_indicator(con, ind, communes, iris)
        values[c.indicator] = got.values.reindex(iris).to_numpy()
        infos.append(
            CriterionInfo(
                id=c.indicator,
                label=c.label or ind.label,
                unit=ind.unit,
                decimals=ind.decimals,
                dimension=c.dimension,
                dimension_label=variant.dimensions[c.dimension][0],
                direction=c.direction,
                weight=c.weight,
                period=got.period,
                source=got.source or got.reason,
                available=int(got.values.notna().sum()),
                restricted=ind.restricted,
                simulated=any(
                    ds.startswith(("rp_iris_", "filosofi_iris_")) for ds, _ in simulated_sets
                )
                and got.period is not None,
            )
        )
    gate_values = pd.DataFrame(index=values.index)
    eligible = pd.Series(True, index=values.index)
    gates = []
    commune_gates = None
    for g in variant.gates:
        ind = catalogue.indicators[g.indicator]
        got = iris_indicator(con, ind, communes, iris)
        label = g.label or f"{ind.label} ≥ {_fr_threshold(g.min)}"
        period = got.period
        column = got.values.reindex(iris)
        if got.period is None:  # not computable at the IRIS: the commune's value
            if commune_gates is None:
                commune_rows = read_values(
                    warehouse,
                    [
                        Territory(
                            id=code,
                            nom=str(names.get(code, code)),
                            level="commune",
                            communes=(code,),
                        )
                        for code in communes
                    ],
                    indicator_ids=[x.indicator for x in variant.gates],
                )
                commune_gates = commune_rows[commune_rows["level"] == "commune"]
            series, period, _ = latest_usable(commune_gates, g.indicator)
            column = pd.Series([series.get(code[:5]) for code in iris], index=iris, dtype="float64")
            label += " (commune)"
        gate_values[g.indicator] = column.to_numpy()
        eligible &= (column >= g.min).fillna(False).to_numpy()
        gates.append((g.indicator, g.min, label, period))
    return values, infos, gate_values, eligible, gates


def run(
    project: Project,
    territory_id: str,
    variant_id: str = "ru",
    *,
    level: str = "commune",
    contours: Path | None = None,
    draws: int | None = None,
) -> HabitatResult:
    """Compute the pre-diagnostic of ``territory_id`` with variant ``variant_id``, over its
    communes or (``level="iris"``) over the IRIS of its communes present in the IRIS source
    tables; ``contours``: IRIS polygons for the map and the GeoPackage."""
    if level not in LEVELS:
        raise InputError(f"niveau « {level} » inconnu ; niveaux : {', '.join(LEVELS)}")
    diagnostics = load_diagnostics(project.root)
    if variant_id not in diagnostics.habitat:
        raise InputError(
            f"variante « {variant_id} » inconnue ; variantes : {', '.join(diagnostics.habitat)}"
        )
    variant = diagnostics.habitat[variant_id]
    _check_variant(variant, diagnostics.origin)
    territory = project.territories.get(territory_id)
    if territory.level == "commune" and level == "commune":
        raise InputError(
            f"« {territory_id} » est une commune : le pré-diagnostic compare les communes d'un "
            "territoire (EPCI, département, territoire du projet) ; --niveau iris compare les "
            "IRIS d'une commune"
        )
    from observatoire.territories import referential

    ref = referential.communes().set_index("code")
    epcis = referential.epcis().set_index("code")["nom"]
    codes = sorted(territory.communes)
    names = ref["nom"]
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        if level == "iris":
            units = iris_codes(warehouse.con, codes)
            if not units:
                raise InputError(
                    f"aucune donnée IRIS chargée pour les communes de « {territory.nom} » : "
                    "chargez les bases IRIS du recensement (base-ic-*) ou Filosofi IRIS"
                )
            values, infos, gate_values, eligible, gates = _iris_inputs(
                warehouse, variant, units, codes, names
            )
        else:
            units = codes
            values, infos, gate_values, eligible, gates = _commune_inputs(
                warehouse, variant, codes, names
            )
    communes = pd.DataFrame({"code": units})
    commune_of = communes["code"].str[:5]
    communes["nom"] = commune_of.map(names)
    if level == "iris":
        communes["nom"] = communes["nom"] + " — IRIS " + communes["code"].str[5:]
    communes["epci"] = commune_of.map(ref["epci"])
    communes["dep"] = commune_of.map(ref["dep"])
    communes["epci_nom"] = communes["epci"].map(epcis)
    if not any(i.available for i in infos):
        raise InputError(
            f"aucun critère de la variante « {variant_id} » n'a de valeur pour les "
            f"{'IRIS' if level == 'iris' else 'communes'} de « {territory.nom} » : chargez les "
            "sources (recensement, Filosofi, DVF) puis lancez « observatoire build »"
        )
    if level == "iris":
        geometries = read_iris_contours(contours) if contours is not None else None
        if geometries is not None:
            geometries = geometries[geometries["code"].isin(units)]
            geometries = geometries.drop(columns="nom").merge(communes[["code", "nom"]], on="code")
    else:
        geo = referential.geometries("commune")
        geometries = geo[geo["code"].isin(units)]
    available = {i.id for i in infos if i.available > 0}
    spec = variant_spec(variant, available)
    values = values[[c.id for c in spec.criteria]]
    index = composite_index(values, spec, eligible)
    ranked = int(index["ranked"].sum())
    top = max(1, min(variant.top, ranked)) if ranked else 1
    sens = sensitivity(
        values,
        spec,
        eligible,
        shift=variant.shift,
        draws=draws or variant.draws,
        seed=2025,
        top=top,
    )
    return HabitatResult(
        territory=territory,
        variant=variant,
        communes=communes,
        values=values,
        gate_values=gate_values,
        index=index,
        sensitivity=sens,
        criteria=infos,
        gates=gates,
        simulated=any(i.simulated for i in infos),
        restricted=[i.id for i in infos if i.restricted and i.available > 0],
        level=level,
        geometries=geometries,
    )
