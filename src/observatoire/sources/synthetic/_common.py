"""The simulated "ground truth" shared by every simulated dataset.

One :class:`World` per seed holds, for the 34 875 communes of the embedded referential, the
population of any year (calibrated on the real legal populations, see :meth:`World.pop`) and
time-invariant commune traits (urbanity, age profile, apartment share, vacancy, unemployment,
income, price level…). Every dataset draws from the same world, so the files agree with each
other (Filosofi households follow the census households, DVF volumes follow the dwellings…).

Random numbers come from named streams (:func:`stream`): a dataset's values never depend on
which other datasets are written, and commune-level values never depend on the list of
communes requested (they are drawn for every commune of the referential, then selected).
"""

from __future__ import annotations

import unicodedata
import zlib
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np
import pandas as pd
import shapely

from observatoire.errors import InputError
from observatoire.territories import referential

# Arrondissements municipaux of Paris, Lyon and Marseille with rough population weights
# (thousands of inhabitants): point datasets (DVF, BPE, SIRENE) use these codes, and the
# communal INSEE bases list them beside the commune, as the publishers do.
ARRONDISSEMENTS: dict[str, dict[str, float]] = {
    "75056": {
        f"751{k:02d}": w
        for k, w in enumerate(
            (
                16,
                21,
                33,
                28,
                57,
                40,
                49,
                35,
                58,
                83,
                142,
                139,
                178,
                134,
                226,
                162,
                160,
                188,
                182,
                189,
            ),
            start=1,
        )
    },
    "69123": {f"6938{k}": w for k, w in enumerate((30, 30, 103, 35, 48, 51, 84, 86, 52), 1)},
    "13055": {
        f"132{k:02d}": w
        for k, w in enumerate(
            (40, 25, 51, 49, 46, 42, 35, 82, 74, 57, 58, 63, 93, 63, 78, 17), start=1
        )
    },
}
ARM_PARENT = {arm: parent for parent, arms in ARRONDISSEMENTS.items() for arm in arms}

# Projected system of coordinates used by INSEE for equipment coordinates (BPE, SIRENE):
# Lambert 93 in metropolitan France, UTM in the overseas départements.
EPSG_BY_DEP = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
METRO_EPSG = 2154

# Department effects (rough, documented orders of magnitude, not official figures).
_UNEMPLOYMENT = {
    "62": 0.035,
    "59": 0.035,
    "02": 0.03,
    "08": 0.025,
    "13": 0.025,
    "11": 0.035,
    "66": 0.04,
    "30": 0.03,
    "34": 0.025,
    "93": 0.045,
    "95": 0.015,
    "76": 0.02,
    "80": 0.02,
    "2B": 0.01,
    "971": 0.13,
    "972": 0.11,
    "973": 0.13,
    "974": 0.14,
    "976": 0.2,
    "74": -0.02,
    "85": -0.02,
    "15": -0.025,
    "12": -0.02,
    "53": -0.02,
    "39": -0.015,
    "01": -0.01,
    "35": -0.01,
}
_INCOME = {
    "75": 1.32,
    "92": 1.33,
    "78": 1.28,
    "74": 1.24,
    "91": 1.1,
    "94": 1.05,
    "77": 1.05,
    "95": 1.0,
    "93": 0.74,
    "69": 1.07,
    "67": 1.06,
    "68": 1.06,
    "01": 1.08,
    "31": 1.04,
    "06": 1.02,
    "2A": 0.95,
    "2B": 0.92,
    "62": 0.92,
    "59": 0.95,
    "02": 0.92,
    "08": 0.92,
    "11": 0.9,
    "66": 0.91,
    "23": 0.9,
    "971": 0.7,
    "972": 0.72,
    "973": 0.6,
    "974": 0.68,
    "976": 0.4,
    "44": 1.04,
    "35": 1.03,
    "38": 1.05,
    "64": 1.03,
    "33": 1.03,
    "13": 0.98,
}
# Median price (EUR/m², houses and apartments), order of magnitude of the early 2020s.
_PRICE = {
    "75": 9800,
    "92": 6500,
    "94": 4900,
    "93": 3900,
    "78": 4400,
    "91": 3300,
    "95": 3200,
    "77": 2900,
    "06": 4800,
    "74": 4300,
    "73": 3300,
    "2A": 3800,
    "2B": 3300,
    "83": 4000,
    "13": 3500,
    "84": 2700,
    "69": 3600,
    "33": 3000,
    "64": 3300,
    "40": 2500,
    "17": 2700,
    "85": 2500,
    "44": 2900,
    "35": 2600,
    "56": 2600,
    "29": 2000,
    "22": 1800,
    "34": 3100,
    "30": 2300,
    "31": 2800,
    "67": 2700,
    "68": 2300,
    "38": 2700,
    "01": 2700,
    "14": 2300,
    "50": 1800,
    "76": 1900,
    "59": 2000,
    "62": 1550,
    "80": 1500,
    "02": 1250,
    "60": 2100,
    "08": 1150,
    "10": 1350,
    "51": 1700,
    "52": 950,
    "55": 1050,
    "57": 1700,
    "54": 1500,
    "88": 1250,
    "70": 1150,
    "90": 1500,
    "25": 1900,
    "39": 1600,
    "58": 1000,
    "89": 1300,
    "71": 1300,
    "21": 1900,
    "03": 1050,
    "15": 1150,
    "23": 900,
    "36": 1050,
    "18": 1150,
    "87": 1400,
    "19": 1300,
    "43": 1300,
    "63": 1800,
    "42": 1500,
    "07": 1800,
    "26": 2200,
    "05": 2700,
    "04": 2400,
    "971": 2300,
    "972": 2300,
    "973": 2200,
    "974": 2500,
    "976": 1800,
}
_TOURIST = {
    "05",
    "73",
    "74",
    "06",
    "83",
    "2A",
    "2B",
    "17",
    "85",
    "66",
    "11",
    "34",
    "30",
    "40",
    "64",
    "29",
    "56",
    "22",
    "50",
    "14",
    "04",
    "65",
    "09",
    "48",
    "15",
    "24",
    "46",
    "07",
    "971",
    "972",
}


def stream(seed: int, *tags: object) -> np.random.Generator:
    """An independent random generator named by ``tags`` (stable across runs and machines)."""
    keys = [zlib.crc32(str(tag).encode("utf-8")) for tag in tags]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *keys]))


def ascii_upper(values: pd.Series, apostrophe: str = " ") -> pd.Series:
    """Upper-case names without accents (DGFiP and SIRENE write commune names so)."""

    def fold(text: str) -> str:
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return plain.upper().replace("'", apostrophe)

    return values.astype("str").map(fold)


def postal_codes(codes: np.ndarray) -> np.ndarray:
    """A plausible postal code for each commune or arrondissement code (simulated: the real
    La Poste table is not embedded): ``75108`` -> ``75008``, ``62119`` -> ``62xx0``."""
    out = []
    for code in codes:
        if code in ARM_PARENT:
            out.append(f"{code[:2]}0{code[-2:]}")
            continue
        salt = zlib.crc32(code.encode()) % 90
        if code.startswith("97"):
            out.append(f"{code[:3]}{salt % 9 + 1}0")
        elif code.startswith("2A"):
            out.append(f"20{salt % 20:02d}0"[:5])
        elif code.startswith("2B"):
            out.append(f"202{salt % 9 + 1}0")
        else:
            out.append(f"{code[:2]}{100 + salt * 10:03d}")
    return np.array(out, dtype=object)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class World:
    """The simulated ground truth of one seed (see the module docstring)."""

    seed: int
    communes: pd.DataFrame  # code, nom, dep, reg, epci, superficie_km2 (positional index)
    traits: dict[str, np.ndarray]
    _legal: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False)
    _pops: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return len(self.communes)

    def positions(self, codes: list[str]) -> np.ndarray:
        """Positions of commune codes in the referential (unknown codes are refused)."""
        index = pd.Index(self.communes["code"])
        found = index.get_indexer(pd.Index(codes))
        if (found < 0).any():
            bad = [c for c, f in zip(codes, found, strict=True) if f < 0][:5]
            raise InputError(
                "commune(s) absente(s) du référentiel COG 2025 : "
                + ", ".join(f"« {c} »" for c in bad)
                + " (donnez des codes commune à 5 caractères, hors arrondissements municipaux)"
            )
        return found

    def pop(self, year: int) -> np.ndarray:
        """Population municipale of every commune in ``year`` (whole numbers, as floats).

        Legal populations are used as published for the years of the referential whose codes
        are consistent with COG 2025; other years are interpolated (geometrically) between
        them, or extrapolated with the commune's recent growth; before 2006 a long-run
        commune growth rate takes over (rural decline, suburban growth)."""
        if year not in self._pops:
            self._pops[year] = self._compute_pop(int(year))
        return self._pops[year]

    def _compute_pop(self, year: int) -> np.ndarray:
        years, logv, growth = self._legal
        n = self.size
        lo = np.full(n, np.nan)
        lo_year = np.full(n, np.nan)
        hi = np.full(n, np.nan)
        hi_year = np.full(n, np.nan)
        target = max(year, 2006)
        for j, y in enumerate(years):
            ok = ~np.isnan(logv[:, j])
            if y <= target:
                lo = np.where(ok, logv[:, j], lo)
                lo_year = np.where(ok, y, lo_year)
            if y >= target:
                fill = ok & np.isnan(hi)
                hi = np.where(fill, logv[:, j], hi)
                hi_year = np.where(fill, y, hi_year)
        value = np.full(n, np.nan)
        both = ~np.isnan(lo) & ~np.isnan(hi)
        span = np.where(both, hi_year - lo_year, 1.0)
        span[span == 0] = 1.0
        weight = np.where(both, (target - lo_year) / span, 0.0)
        value[both] = (lo + weight * (hi - lo))[both]
        only_lo = np.isnan(value) & ~np.isnan(lo)
        value[only_lo] = (lo + growth * (target - lo_year))[only_lo]
        only_hi = np.isnan(value) & ~np.isnan(hi)
        value[only_hi] = (hi - growth * (hi_year - target))[only_hi]
        missing = np.isnan(value)
        if missing.any():  # no legal population at all: a rural density
            area = self.communes["superficie_km2"].to_numpy(float)
            value[missing] = np.log(np.maximum(area[missing] * 35.0, 20.0))
        if year < 2006:
            value = value - self.traits["growth_long"] * (2006 - year)
        pop = np.exp(value)
        pop[np.isneginf(value)] = 0.0
        return np.round(pop)


def _legal_series(codes: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(years, log populations with COG artefacts removed, recent annual growth)."""
    table = referential.populations()
    table = table[table["code"].isin(codes)]
    wide = table.pivot_table(index="code", columns="annee", values="population", aggfunc="first")
    wide = wide.reindex(codes)
    years = np.array(wide.columns, dtype=int)
    values = wide.to_numpy(dtype=float)
    with np.errstate(divide="ignore"):
        logv = np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
    n = len(codes)
    anchor = np.full(n, np.nan)
    anchor_year = np.full(n, np.nan)
    for j, y in enumerate(years):
        ok = ~np.isnan(logv[:, j])
        anchor = np.where(ok, logv[:, j], anchor)
        anchor_year = np.where(ok, y, anchor_year)
    # A year whose code meant another territory (commune nouvelle, older COG) is dropped.
    for j, y in enumerate(years):
        gap = np.abs(anchor_year - y)
        bad = np.abs(logv[:, j] - anchor) > 0.08 + 0.03 * gap
        logv[bad, j] = np.nan
    first = np.full(n, np.nan)
    first_year = np.full(n, np.nan)
    for j in range(len(years) - 1, -1, -1):
        ok = ~np.isnan(logv[:, j])
        first = np.where(ok, logv[:, j], first)
        first_year = np.where(ok, years[j], first_year)
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = (anchor - first) / (anchor_year - first_year)
    growth = np.where(np.isfinite(growth), growth, 0.003)
    return years, logv, np.clip(growth, -0.03, 0.04)


def _traits(seed: int, communes: pd.DataFrame, pop: np.ndarray) -> dict[str, np.ndarray]:
    """Time-invariant commune characteristics (drawn in a fixed order: deterministic)."""
    rng = stream(seed, "traits")
    n = len(communes)
    dep = communes["dep"].to_numpy()
    area = np.maximum(communes["superficie_km2"].to_numpy(float), 0.05)
    size = np.log10(pop + 1.0)
    density = np.log10(pop / area + 1.0)
    u = np.clip(0.6 * sigmoid(1.6 * (size - 3.6)) + 0.4 * sigmoid(1.8 * (density - 2.5)), 0, 1)
    dom = np.array([d.startswith("97") for d in dep])

    def dep_effect(table: dict[str, float], default: float) -> np.ndarray:
        return np.array([table.get(d, default) for d in dep], dtype=float)

    traits: dict[str, np.ndarray] = {"urban": u, "dom": dom}
    traits["age_tilt"] = rng.normal(0.25 - 0.5 * u, 0.3) - 0.5 * dom
    traits["apartments"] = np.clip(
        0.02 + 0.97 * sigmoid(2.6 * (density - 3.35)) + rng.normal(0, 0.04, n), 0.004, 0.995
    )
    tourist = np.array([d in _TOURIST for d in dep])
    traits["secondary"] = np.clip(
        0.012 + rng.beta(0.7, 9.0, n) * np.where(tourist, 2.4, 0.8) * (1 - 0.7 * u), 0.002, 0.85
    )
    traits["vacancy"] = np.clip(
        0.025 + rng.beta(2.0, 35.0, n) + 0.03 * (1 - u) * (rng.random(n) < 0.35), 0.01, 0.3
    )
    traits["household_size"] = np.clip(
        2.42 - 0.45 * u - 0.35 * traits["age_tilt"] + 0.2 * dom + rng.normal(0, 0.08, n),
        1.55,
        3.4,
    )
    traits["institutions"] = np.exp(rng.normal(0, 0.6, n)) * np.where(
        rng.random(n) < 0.04, 6.0, 1.0
    )
    traits["unemployment"] = np.clip(
        0.07 + 0.05 * u + dep_effect(_UNEMPLOYMENT, 0.0) + rng.normal(0, 0.025, n), 0.02, 0.45
    )
    traits["education"] = rng.normal(0.3 * u, 0.6) - 3.0 * (traits["unemployment"] - 0.1)
    traits["income"] = (
        21_500
        * dep_effect(_INCOME, 1.0)
        * np.exp(
            0.08 * traits["education"]
            - 1.5 * (traits["unemployment"] - 0.1)
            + rng.normal(0, 0.06, n)
        )
    )
    traits["inequality"] = np.clip(
        0.4 + 0.1 * u + 0.8 * (traits["unemployment"] - 0.1) + rng.normal(0, 0.03, n),
        0.25,
        0.8,
    )
    # Price level: the department's, moved by the commune's density and income relative to the
    # department's population-weighted means (so the department level is kept).
    relative = 0.16 * density + 0.5 * np.log(traits["income"])
    weights = pd.DataFrame({"dep": dep, "w": pop + 1.0, "x": relative * (pop + 1.0)})
    sums = weights.groupby("dep")[["w", "x"]].transform("sum")
    centred = relative - (sums["x"] / sums["w"]).to_numpy()
    traits["price"] = dep_effect(_PRICE, 1800.0) * np.exp(centred + rng.normal(0, 0.12, n))
    pole = sigmoid(3.0 * (size - 4.7))
    traits["jobs_ratio"] = np.exp(rng.normal(np.log(0.3 + 0.9 * u + 0.6 * pole), 0.35 - 0.2 * pole))
    traits["owners"] = np.clip(
        0.8 - 0.45 * traits["apartments"] - 0.12 * u + rng.normal(0, 0.05, n), 0.1, 0.96
    )
    traits["social"] = np.clip(
        0.02
        + 0.25 * u * np.sqrt(traits["apartments"])
        + rng.beta(1.0, 40.0, n)
        + 0.6 * (traits["unemployment"] - 0.08),
        0.0,
        0.97 - traits["owners"],
    )
    traits["old_stock"] = rng.normal(0, 1, n)
    traits["agriculture"] = np.clip((1 - u) ** 3 * 0.1 + rng.beta(1, 40, n), 0.0, 0.5)
    traits["industry"] = np.clip(rng.beta(2, 10, n) + 0.05 * (1 - u), 0.02, 0.6)
    traits["mobility"] = np.clip(0.1 + 0.08 * u + rng.normal(0, 0.02, n), 0.04, 0.3)
    traits["growth_long"] = rng.normal(0.003 + 0.006 * u - 0.004 * (size < 3), 0.006)
    traits["birth"] = np.clip(0.0115 - 0.004 * traits["age_tilt"] + 0.006 * dom, 0.004, 0.025)
    traits["death"] = np.clip(0.0095 * np.exp(0.7 * traits["age_tilt"]) - 0.003 * dom, 0.003, 0.03)
    traits["cars"] = np.clip(
        0.93 - 0.55 * traits["apartments"] * u + rng.normal(0, 0.02, n), 0.3, 0.99
    )
    traits["commerce"] = np.exp(rng.normal(0, 0.25, n))
    return traits


@lru_cache(maxsize=4)
def world(seed: int) -> World:
    """The ground truth of ``seed`` (cached)."""
    if seed < 0:
        raise InputError(f"graine invalide « {seed} » : un entier positif ou nul est attendu")
    communes = referential.communes().reset_index(drop=True)
    codes = pd.Index(communes["code"])
    legal = _legal_series(codes)
    latest = np.exp(np.nan_to_num(legal[1][:, -1], nan=np.log(200.0)))
    for j in range(legal[1].shape[1] - 1, -1, -1):  # latest known population, for traits
        col = legal[1][:, j]
        latest = np.where(np.isnan(legal[1][:, -1]) & ~np.isnan(col), np.exp(col), latest)
    traits = _traits(seed, communes, latest)
    return World(seed=seed, communes=communes, traits=traits, _legal=legal)


def split_weights(parent: str, seed: int) -> tuple[list[str], np.ndarray]:
    """Arrondissement codes of a PLM commune and their (slightly perturbed) shares."""
    arms = ARRONDISSEMENTS[parent]
    base = np.array(list(arms.values()), dtype=float)
    noise = stream(seed, "arrondissements", parent).normal(1.0, 0.05, len(base))
    shares = base * np.clip(noise, 0.8, 1.2)
    return list(arms), shares / shares.sum()


# ------------------------------------------------------------------ geometry


def commune_epsg(dep: np.ndarray) -> np.ndarray:
    """Projected EPSG code of each commune's département (see :data:`EPSG_BY_DEP`)."""
    return np.array([EPSG_BY_DEP.get(d, METRO_EPSG) for d in dep], dtype=int)


@cache
def _shapes(crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Shapes of every referential commune, in WGS84 (``"4326"``) or in their projected
    system (``"projected"``), prepared for fast point tests; and their bounds."""
    frame = referential.geometries("commune")
    order = pd.Index(frame["code"]).get_indexer(referential.communes()["code"])
    frame = frame.iloc[np.where(order < 0, 0, order)].reset_index(drop=True)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if crs == "projected":
        dep = referential.communes()["dep"].to_numpy()
        epsg = commune_epsg(dep)
        out = np.empty(len(frame), dtype=object)
        for code in np.unique(epsg):
            mask = epsg == code
            out[mask] = np.asarray(frame[mask].to_crs(epsg=int(code)).geometry.values)
        geoms = out
    geoms = shapely.make_valid(geoms)
    shapely.prepare(geoms)
    return geoms, shapely.bounds(geoms)


def sample_points(
    commune: np.ndarray, rng: np.random.Generator, *, crs: str, decimals: int
) -> tuple[np.ndarray, np.ndarray]:
    """One random point inside the shape of each listed commune (positions in the
    referential), rounded to ``decimals`` and tested after rounding, so written coordinates
    always fall inside their commune. ``crs``: ``"4326"`` or ``"projected"``."""
    geoms, bounds = _shapes(crs)
    n = len(commune)
    x = np.empty(n)
    y = np.empty(n)
    todo = np.arange(n)
    for _ in range(40):
        if not len(todo):
            break
        box = bounds[commune[todo]]
        cx = np.round(box[:, 0] + rng.random(len(todo)) * (box[:, 2] - box[:, 0]), decimals)
        cy = np.round(box[:, 1] + rng.random(len(todo)) * (box[:, 3] - box[:, 1]), decimals)
        inside = shapely.contains_xy(geoms[commune[todo]], cx, cy)
        x[todo[inside]] = cx[inside]
        y[todo[inside]] = cy[inside]
        todo = todo[~inside]
    if len(todo):  # slivers: a point on the surface
        points = shapely.point_on_surface(geoms[commune[todo]])
        x[todo] = np.round(shapely.get_x(points), decimals)
        y[todo] = np.round(shapely.get_y(points), decimals)
    return x, y


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal distribution function (Abramowitz-Stegun 7.1.26, error < 2e-7)."""
    z = np.abs(np.asarray(x, dtype=float)) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)
