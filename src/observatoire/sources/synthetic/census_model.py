"""Simulated census (RP) counts of one census year for every commune, by INSEE variable.

:class:`CensusYear` answers ``value("P_RP_ACH90")`` (generic variable, no year) with one number
per listed commune (random draws are made for every commune of the referential, so a commune's
values never depend on the list). Variables are built from nested partitions so that the
published identities hold: age bands and sexes sum to the population, ``LOG = RP + RSECOCC +
LOGVAC``, households = main residences, ``PMEN <= POP``, unemployed <= actives <= population
15-64, diplomas sum to the non-enrolled population, etc. Variables the model does not know
get a plausible share of a related count (:meth:`CensusYear._fallback`), never a blank.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

import numpy as np

from observatoire.sources.synthetic._common import World, stream
from observatoire.sources.synthetic.census_housing import CS_EDU, HousingMixin

AGES = np.arange(101)  # 100 = 100 years or more
_PROFILE = np.interp(
    AGES,
    [0, 19, 20, 29, 30, 44, 45, 64, 65, 74, 75, 84, 85, 89, 90, 94, 95, 100],
    [
        1.15,
        1.2,
        1.1,
        1.1,
        1.2,
        1.25,
        1.3,
        1.3,
        1.2,
        1.1,
        0.8,
        0.62,
        0.45,
        0.32,
        0.2,
        0.08,
        0.04,
        0.02,
    ],
)
_MALE = np.interp(
    AGES,
    [0, 19, 20, 59, 60, 74, 75, 84, 85, 100],
    [0.512, 0.51, 0.5, 0.49, 0.48, 0.46, 0.43, 0.4, 0.33, 0.2],
)
_OUT_OF_HOUSEHOLD = np.interp(
    AGES,
    [0, 17, 18, 24, 25, 64, 65, 74, 75, 84, 85, 89, 90, 100],
    [0.004, 0.004, 0.035, 0.035, 0.007, 0.007, 0.012, 0.012, 0.05, 0.05, 0.14, 0.14, 0.3, 0.3],
)
_ENROLLED = np.interp(
    AGES,
    [0, 1, 2, 3, 5, 6, 14, 15, 16, 17, 18, 19, 20, 22, 24, 25, 29, 30, 100],
    [
        0,
        0,
        0.1,
        0.95,
        0.99,
        0.995,
        0.995,
        0.98,
        0.95,
        0.92,
        0.78,
        0.65,
        0.55,
        0.36,
        0.2,
        0.08,
        0.05,
        0.012,
        0.005,
    ],
)
DIPLOMAS = ("DIPLMIN", "BEPC", "CAPBEP", "BAC", "SUP2", "SUP34", "SUP5")
_DIPLOMA_YOUNG = np.array([0.10, 0.04, 0.16, 0.22, 0.14, 0.17, 0.17])
_DIPLOMA_OLD = np.array([0.48, 0.09, 0.22, 0.09, 0.05, 0.04, 0.03])
_DIPLOMA_EDU = np.array([-0.4, -0.1, -0.2, 0.05, 0.2, 0.35, 0.45])
_DIPLOMA_GROUPS = ((15, 24), (25, 34), (35, 54), (55, 74), (75, 100))
_CS_BY_AGE = np.array(
    [  # CS1..CS8 of the 15-24, 25-54 and 55+ (complementary exploitation)
        [0.002, 0.005, 0.02, 0.11, 0.17, 0.12, 0.0, 0.573],
        [0.01, 0.06, 0.18, 0.22, 0.24, 0.17, 0.0, 0.12],
        [0.01, 0.03, 0.05, 0.06, 0.06, 0.04, 0.62, 0.13],
    ]
)
_SECTORS = ("AGRI", "INDUS", "CONST", "CTS", "APESAS")
_SECTOR_WOMEN = np.array([0.3, 0.28, 0.12, 0.48, 0.68])
_SECTOR_SALARIED = np.array([0.4, 0.93, 0.8, 0.86, 0.94])
_ACTIVITY = {"1524": (0.42, 0.37), "2554": (0.93, 0.86), "5564": (0.62, 0.58)}
_UNEMPLOYMENT_AGE = {"1524": 2.0, "2554": 0.95, "5564": 0.85}
_BAND = r"(\d\d)(\d\d|P)"
DOM_ONLY = {"ELEC", "EAUCH", "BDWC", "CHOS", "CLIM", "TTEGOU", "HABFOR", "CASE", "MIBOIS", "MIDUR"}


def _band(first: str, last: str) -> tuple[int, int]:
    return int(first), 100 if last == "P" else int(last)


class CensusYear(HousingMixin):
    """All census variables of one year (see the module docstring)."""

    def __init__(self, world: World, year: int, rows: np.ndarray | None = None) -> None:
        self.world = world
        self.year = year
        self.rows = np.arange(world.size) if rows is None else np.asarray(rows, dtype=int)
        self.n = len(self.rows)
        self.t = {name: np.asarray(value)[self.rows] for name, value in world.traits.items()}
        self.pop = world.pop(year)[self.rows]
        self._memo: dict[str, np.ndarray] = {}
        self._present: set[str] = set()
        self._cubes()
        self._rules: list[tuple[re.Pattern[str], Callable[..., np.ndarray]]] = [
            (re.compile(p), f) for p, f in self._table()
        ]

    # ------------------------------------------------------------------ randomness

    def normal(self, tag: str, k: int | None = None, year: object = None) -> np.ndarray:
        """Standard normal draws of the listed communes, drawn for every commune of the
        referential so that a commune's values never depend on the communes requested."""
        rng = stream(self.world.seed, "census", self.year if year is None else year, tag)
        shape = (self.world.size,) if k is None else (self.world.size, k)
        return rng.standard_normal(shape)[self.rows]

    def noise(self, tag: str, sd: float) -> np.ndarray:
        key = f"_noise_{tag}"
        if key not in self._memo:
            self._memo[key] = np.exp(sd * self.normal(tag))
        return self._memo[key]

    def shares(self, tag: str, base: np.ndarray, tilt: np.ndarray | None = None) -> np.ndarray:
        """(n, k) shares around ``base`` (Dirichlet noise), optionally tilted per commune
        (memoised by ``tag``: one tag, one set of shares)."""
        key = f"_shares_{tag}"
        if key in self._memo:
            return self._memo[key]
        weights = np.broadcast_to(np.asarray(base, float), (self.n, len(base))).copy()
        if tilt is not None:
            weights *= np.exp(tilt)
        weights /= weights.sum(axis=1, keepdims=True)
        concentration = np.clip(60.0 + self.pop / 10.0, 60.0, 5000.0)[:, None]
        spread = np.sqrt((1 - weights) / (np.maximum(weights, 1e-9) * (concentration + 1)))
        out = weights * np.exp(np.minimum(spread, 1.0) * self.normal(tag, len(base)))
        out /= out.sum(axis=1, keepdims=True)
        self._memo[key] = out
        return out

    # ------------------------------------------------------------------ population cubes

    def _cubes(self) -> None:
        spread = 1.0 / np.sqrt(8.0 + self.pop / 25.0)[:, None]
        groups = np.exp(
            spread * self.normal("ages", 21, year="all") + 0.07 * self.normal("ages", 21)
        )
        weight = _PROFILE * np.exp(0.5 * self.t["age_tilt"][:, None] * (AGES - 42) / 30.0)
        weight *= np.repeat(groups, 5, axis=1)[:, :101]
        weight /= weight.sum(axis=1, keepdims=True)
        male = np.clip(_MALE * self.noise("sex", 0.02)[:, None], 0.05, 0.95)
        cells = self.pop[:, None, None] * np.stack([weight * male, weight * (1 - male)], axis=1)
        out = np.clip(_OUT_OF_HOUSEHOLD * self.t["institutions"][:, None], 0, 0.9)
        enrolled = _ENROLLED * np.ones((self.n, 1))
        study = np.clip(0.6 + 0.8 * self.t["urban"], 0, 1.6)[:, None]
        enrolled[:, 18:30] = np.clip(enrolled[:, 18:30] * study, 0, 0.98)
        zero = np.zeros((self.n, 2, 1))
        self.cum = np.concatenate([zero, np.cumsum(cells, axis=2)], axis=2)
        self.cum_men = np.concatenate([zero, np.cumsum(cells * (1 - out[:, None]), axis=2)], 2)
        self.cum_scol = np.concatenate([zero, np.cumsum(cells * enrolled[:, None], axis=2)], 2)

    def ages(self, first: int, last: int, sex: str = "", cube: str = "pop") -> np.ndarray:
        """People aged ``first``..``last`` (100 = and over); sex "H", "F" or both."""
        cum = {"pop": self.cum, "men": self.cum_men, "scol": self.cum_scol}[cube]
        total = cum[:, :, last + 1] - cum[:, :, first]
        if sex == "H":
            return total[:, 0]
        if sex == "F":
            return total[:, 1]
        return total.sum(axis=1)

    # ------------------------------------------------------------------ public access

    def value(self, var: str, present: set[str] | None = None) -> np.ndarray:
        """The counts of generic variable ``var`` (``P_LOG``, ``C_MENPSEUL``…); ``present``:
        the variables written beside it for the same year (some modalities depend on it)."""
        self._present = present or set()
        if var not in self._memo:
            for pattern, rule in self._rules:
                match = pattern.fullmatch(var)
                if match:
                    self._memo[var] = np.asarray(rule(*match.groups()), dtype=float)
                    break
            else:
                self._memo[var] = self._fallback(var)
        return self._memo[var]

    def is_dom_only(self, var: str) -> bool:
        """DOM-specific housing variables (left blank for metropolitan communes)."""
        return var.startswith("P_RP_") and var[5:] in DOM_ONLY

    def _table(self) -> list[tuple[str, Callable[..., np.ndarray]]]:
        return [
            (r"P_POP", lambda: self.pop),
            (r"P_POP(H|F)", lambda s: self.ages(0, 100, s)),
            (rf"P_(POP|H|F){_BAND}", self._age_band),
            (r"P_POP01P", lambda: self.ages(1, 100)),
            (r"P_POP01P_IRAN(\d)", self._iran_total),
            (rf"P_POP{_BAND}_IRAN(2P|2|3P)", self._iran_band),
            (rf"P_POPMEN{_BAND}", lambda a, b: self.ages(*_band(a, b), cube="men")),
            (rf"P_POP{_BAND}_(PSEUL|COUPLE)", self._living),
            (r"P_POP15P_(\w+)", self._marital),
            (rf"P_(H|F)?SCOL{_BAND}", lambda s, a, b: self.ages(*_band(a, b), s or "", "scol")),
            (r"P_(H|F)?NSCOL15P(?:_(\w+))?", self._non_enrolled),
            (r"C_(POP|H|F)(15P|1524|2554|55P)(?:_CS(\d))?", self._cs_population),
            (r"P_(H|F)?(ACT|ACTOCC|CHOM)(1564|1524|2554|5564|15P)", self._activity),
            (r"P_CHOM55P", lambda: self._activity(None, "CHOM", "5564")),
            (r"P_ACTOCC", lambda: self._activity(None, "ACTOCC", "15P")),
            (r"P_(INACT|ETUD|RETR|AINACT)1564", self._inactive),
            (r"P_(ACT|CHOM)_(\w+)", self._activity_diploma),
            (r"C_(ACT|ACTOCC)1564(?:_CS(\d))?", self._cs_actives),
            (r"P_EMPLT(?:_(\w+))?", self._jobs),
            (r"C_EMPLT(?:_(\w+))?", self._jobs_detail),
            (r"C_(AGRI|INDUS|CONST|CTS|APESAS)LT_(\w+)", self._jobs_sector),
            (r"C_(P?MEN)", self._households),
            (r"C_MEN(HSEUL|FSEUL|PSEUL|SFAM|FAM|COUPSENF|COUPAENF|FAMMONO)", self._household_type),
            (r"C_PMEN_MEN(\w+)", self._household_persons),
            (r"C_(MEN|PMEN)_CS(\d)", self._household_cs),
            (r"C_(FAM|COUPAENF|COUPSENF|FAMMONO|HMONO|FMONO)", self._families),
            (r"C_NE24F(\d|4P)", self._children),
            (r"P_(LOG|RP|RSECOCC|LOGVAC|MEN|PMEN|NPER_RP)", self._housing),
            (r"P_(MAISON|APPART|RPMAISON|RPAPPART)", self._dwelling_type),
            (r"P_RP_(\d)PP?", self._rooms),
            (r"P_NBPI_(RP|RPMAISON|RPAPPART)", self._room_total),
            (r"C_RP_HSTU1P(_SUROCC)?", self._overcrowding),
            (r"P_(RP|RPMAISON|RPAPPART)_ACH(TOT|\d\d)", self._construction),
            (r"P_(MEN|PMEN|NBPI_RP)_ANEM(\d{4}|10P|30P)", self._seniority),
            (r"P_(RP|NPER_RP)_(PROP|LOC|LOCHLMV|GRAT)", self._tenure),
            (r"P_ANEM_RP(?:_(PROP|LOC|LOCHLMV|GRAT))?", self._seniority_years),
            (r"P_RP_(SDB|CCCOLL|CCIND|CINDELEC|GARL|VOIT1P|VOIT1|VOIT2P)", self._comfort),
        ]

    # ------------------------------------------------------------------ population

    def _age_band(self, kind: str, first: str, last: str) -> np.ndarray:
        return self.ages(*_band(first, last), "" if kind == "POP" else kind)

    def _mobility_bands(self) -> dict[str, np.ndarray]:
        if "_iran" not in self._memo:
            moved = self.t["mobility"] * self.noise("mobility", 0.05)
            bands = {
                "0114": (1, 14, 1.1),
                "1524": (15, 24, 1.9),
                "2554": (25, 54, 1.0),
                "55P": (55, 100, 0.45),
            }
            same = np.clip(0.35 * self.noise("iran2", 0.1), 0.05, 0.8)
            for key, (first, last, factor) in bands.items():
                people = self.ages(first, last)
                moved_band = people * np.clip(moved * factor, 0, 0.9)
                self._memo[f"_iran2p_{key}"] = moved_band
                self._memo[f"_iran2_{key}"] = moved_band * same
            self._memo["_iran"] = np.zeros(self.n)
        return self._memo

    def _iran_band(self, first: str, last: str, kind: str) -> np.ndarray:
        key = f"{first}{last}"
        memo = self._mobility_bands()
        if f"_iran2p_{key}" not in memo:
            people = self.ages(*_band(first, last))
            memo[f"_iran2p_{key}"] = people * np.clip(self.t["mobility"], 0, 0.9)
            memo[f"_iran2_{key}"] = memo[f"_iran2p_{key}"] * 0.35
        if kind == "2P":
            return memo[f"_iran2p_{key}"]
        if kind == "2":
            return memo[f"_iran2_{key}"]
        return memo[f"_iran2p_{key}"] - memo[f"_iran2_{key}"]

    def _iran_total(self, code: str) -> np.ndarray:
        memo = self._mobility_bands()
        keys = ("0114", "1524", "2554", "55P")
        moved = sum(memo[f"_iran2p_{k}"] for k in keys)
        same = sum(memo[f"_iran2_{k}"] for k in keys)
        if code == "1":
            return self.ages(1, 100) - moved
        if code == "2":
            return same
        away = self.shares("iran", np.array([0.54, 0.19, 0.2, 0.008, 0.062]))
        return (moved - same) * away[:, int(code) - 3]

    def _living(self, first: str, last: str, kind: str) -> np.ndarray:
        lo, hi = _band(first, last)
        people = self.ages(lo, hi, cube="men")
        middle = (lo + min(hi, 90)) / 2
        alone = np.interp(
            middle, [17, 22, 32, 47, 60, 72, 85], [0.03, 0.18, 0.17, 0.14, 0.16, 0.24, 0.45]
        )
        couple = np.interp(
            middle, [17, 22, 32, 47, 60, 72, 85], [0.01, 0.2, 0.6, 0.68, 0.68, 0.6, 0.33]
        )
        factor = np.clip(self._household_split()[:, 0:2].sum(axis=1) / 0.36, 0.5, 1.6)
        alone_rate = np.clip(alone * factor, 0, 0.7)
        if kind == "PSEUL":
            return people * alone_rate
        return people * np.clip(couple / np.sqrt(factor), 0, 1 - alone_rate)

    def _marital(self, status: str) -> np.ndarray:
        adults = self.ages(15, 100)
        modern = ("MARIEE", "PACSEE", "CONCUB_UNION_LIBRE", "VEUFS", "DIVORCEE", "CELIBATAIRE")
        legal = ("MARIE", "CELIB", "VEUF", "DIVOR")
        if status in modern:
            split = self.shares("marital", np.array([0.43, 0.04, 0.12, 0.07, 0.08, 0.26]))
            return adults * split[:, modern.index(status)]
        split = self.shares("marital_legal", np.array([0.45, 0.37, 0.08, 0.1]))
        if status == "NONMARIEE":
            return adults * (1 - split[:, 0])
        if status in legal:
            return adults * split[:, legal.index(status)]
        return self._fallback(f"P_POP15P_{status}")

    # ------------------------------------------------------------------ education

    def _diploma_cells(self) -> np.ndarray:
        """(n, sex, group, diploma) non-enrolled people aged 15 or more."""
        if "_diplomas" not in self._memo:
            cells = np.zeros((self.n, 2, len(_DIPLOMA_GROUPS), len(DIPLOMAS)))
            edu = self.t["education"][:, None] * _DIPLOMA_EDU
            for g, (first, last) in enumerate(_DIPLOMA_GROUPS):
                old = np.clip((min(last, 90) - 25) / 60, 0, 1)
                base = (1 - old) * _DIPLOMA_YOUNG + old * _DIPLOMA_OLD
                for s, sex in enumerate("HF"):
                    split = self.shares(f"diploma{g}{sex}", base, edu)
                    people = self.ages(first, last, sex) - self.ages(first, last, sex, "scol")
                    cells[:, s, g, :] = np.maximum(people, 0)[:, None] * split
            self._memo["_diplomas"] = cells.reshape(self.n, -1)
        return self._memo["_diplomas"].reshape(self.n, 2, len(_DIPLOMA_GROUPS), len(DIPLOMAS))

    def _non_enrolled(self, sex: str | None, modality: str | None) -> np.ndarray:
        cells = self._diploma_cells()
        cells = cells.sum(axis=1) if not sex else cells[:, "HF".index(sex)]
        by_diploma = cells.sum(axis=1)
        if modality is None:
            return by_diploma.sum(axis=1)
        col = {d: by_diploma[:, i] for i, d in enumerate(DIPLOMAS)}
        prefix = f"P_{sex or ''}NSCOL15P_"
        if modality == "DIPLMIN" and f"{prefix}BEPC" not in self._present and self._present:
            return col["DIPLMIN"] + col["BEPC"]
        if modality in col:
            return col[modality]
        if modality == "SUP":
            short = col["SUP2"] if f"{prefix}BACP2" not in self._present else 0.0
            return short + col["SUP34"] + col["SUP5"]
        if modality == "BACP2":
            return col["SUP2"]
        if modality in ("DIPL0", "CEP"):
            share = np.clip(0.72 * self.noise("dipl0", 0.05), 0.3, 0.95)
            return col["DIPLMIN"] * (share if modality == "DIPL0" else 1 - share)
        return self._fallback(f"P_{sex or ''}NSCOL15P_{modality}")

    def _cs_cells(self) -> np.ndarray:
        """(n, age group, sex, CS1..CS8) of the complementary exploitation."""
        if "_cs" not in self._memo:
            cells = np.zeros((self.n, 3, 2, 8))
            tilt = self.t["education"][:, None] * CS_EDU
            tilt[:, 0] += 2.0 * self.t["agriculture"]
            tilt[:, 5] += 1.5 * self.t["industry"]
            sample = self.noise("c_sample", 0.004)
            for g, (first, last) in enumerate(((15, 24), (25, 54), (55, 100))):
                for s, sex in enumerate("HF"):
                    sex_tilt = tilt.copy()
                    sex_tilt[:, 4] += 0.5 if sex == "F" else -0.5
                    sex_tilt[:, 5] += -0.9 if sex == "F" else 0.3
                    split = self.shares(f"cs{g}{sex}", _CS_BY_AGE[g], sex_tilt)
                    cells[:, g, s, :] = (self.ages(first, last, sex) * sample)[:, None] * split
            self._memo["_cs"] = cells.reshape(self.n, -1)
        return self._memo["_cs"].reshape(self.n, 3, 2, 8)

    def _cs_population(self, kind: str, ages: str, cs: str | None) -> np.ndarray:
        cells = self._cs_cells()
        groups = {"15P": slice(0, 3), "1524": slice(0, 1), "2554": slice(1, 2), "55P": slice(2, 3)}
        part = cells[:, groups[ages]].sum(axis=1)
        part = part.sum(axis=1) if kind == "POP" else part[:, "HF".index(kind)]
        return part.sum(axis=1) if cs is None else part[:, int(cs) - 1]

    # ------------------------------------------------------------------ activity

    def _activity_cells(self) -> dict[str, np.ndarray]:
        if "_activity" not in self._memo:
            rate = self.noise("activity", 0.04)
            unemployment = self.t["unemployment"] * self.noise("unemployment", 0.1)
            for band, (men, women) in _ACTIVITY.items():
                first, last = int(band[:2]), int(band[2:])
                for sex, base in (("H", men), ("F", women)):
                    people = self.ages(first, last, sex)
                    if band == "1524":
                        enrolled = self.ages(first, last, sex, "scol")
                        active = (people - enrolled) * 0.74 + enrolled * 0.08
                    else:
                        active = people * np.clip(base * rate, 0.05, 0.99)
                    jobless = active * np.clip(unemployment * _UNEMPLOYMENT_AGE[band], 0, 0.6)
                    self._memo[f"_ACT{band}{sex}"] = active
                    self._memo[f"_CHOM{band}{sex}"] = jobless
            for sex in "HF":
                people = self.ages(65, 100, sex)
                self._memo[f"_ACT65P{sex}"] = people * 0.035 * rate
                self._memo[f"_CHOM65P{sex}"] = self._memo[f"_ACT65P{sex}"] * 0.03
            self._memo["_activity"] = np.zeros(self.n)
        return self._memo

    def _activity(self, sex: str | None, kind: str, band: str) -> np.ndarray:
        memo = self._activity_cells()
        bands = {"1564": ("1524", "2554", "5564"), "15P": ("1524", "2554", "5564", "65P")}
        total = np.zeros(self.n)
        for part in bands.get(band, (band,)):
            for s in (sex,) if sex else ("H", "F"):
                active, jobless = memo[f"_ACT{part}{s}"], memo[f"_CHOM{part}{s}"]
                total = total + {"ACT": active, "CHOM": jobless, "ACTOCC": active - jobless}[kind]
        return total

    def _inactive(self, kind: str) -> np.ndarray:
        inactive = self.ages(15, 64) - self._activity(None, "ACT", "1564")
        students = np.minimum(self.ages(15, 64, cube="scol") * 0.92, inactive)
        retired = np.minimum(
            self.ages(55, 64) * 0.3 * self.noise("retired", 0.1), inactive - students
        )
        return {
            "INACT": inactive,
            "ETUD": students,
            "RETR": retired,
            "AINACT": inactive - students - retired,
        }[kind]

    def _activity_diploma(self, kind: str, diploma: str) -> np.ndarray:
        if diploma not in DIPLOMAS:
            return self._fallback(f"P_{kind}_{diploma}")
        cells = self._diploma_cells()[:, :, 1:3].sum(axis=(1, 2))  # the 25-54 and 55-74
        propensity = np.array([0.55, 0.7, 0.85, 0.85, 0.9, 0.92, 0.93])
        weights = cells * propensity
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        actives = self._activity(None, "ACT", "1564")[:, None] * 0.97 * weights
        i = DIPLOMAS.index(diploma)
        if kind == "ACT":
            return actives[:, i]
        relative = np.array([2.0, 1.4, 1.1, 1.0, 0.7, 0.6, 0.5])
        rate = weights * relative
        rate /= np.maximum((weights * relative).sum(axis=1, keepdims=True), 1e-12)
        jobless = self._activity(None, "CHOM", "1564")[:, None] * 0.97 * rate
        return np.minimum(jobless[:, i], actives[:, i])

    def _cs_actives(self, kind: str, cs: str | None) -> np.ndarray:
        split = self._cs_cells()[:, 1].sum(axis=1)[:, :6]
        split = split / np.maximum(split.sum(axis=1, keepdims=True), 1e-12)
        actives = self._activity(None, "ACT", "1564") * self.noise("c_act", 0.005)
        jobless = self._activity(None, "CHOM", "1564") / np.maximum(
            self._activity(None, "ACT", "1564"), 1e-12
        )
        relative = np.array([0.3, 0.6, 0.5, 0.7, 1.2, 1.5])
        rate = np.clip(jobless[:, None] * relative, 0, 0.8)
        cells = actives[:, None] * split
        if kind == "ACTOCC":
            cells = cells * (1 - rate)
        return cells.sum(axis=1) if cs is None else cells[:, int(cs) - 1]

    # ------------------------------------------------------------------ jobs

    def _job_totals(self) -> np.ndarray:
        if "_jobs" not in self._memo:
            employed = self._activity(None, "ACTOCC", "15P")
            self._memo["_jobs"] = employed * self.t["jobs_ratio"] * self.noise("jobs", 0.05)
        return self._memo["_jobs"]

    def _jobs(self, detail: str | None) -> np.ndarray:
        jobs = self._job_totals()
        salaried = jobs * np.clip(0.9 - 0.5 * self.t["agriculture"], 0.5, 0.97)
        free = jobs - salaried
        parts = {
            None: jobs,
            "SAL": salaried,
            "NSAL": free,
            "FSAL": salaried * 0.5,
            "SALTP": salaried * 0.17,
            "FNSAL": free * 0.36,
            "NSALTP": free * 0.15,
        }
        return parts[detail] if detail in parts else self._fallback(f"P_EMPLT_{detail}")

    def _sector_cells(self) -> np.ndarray:
        if "_sectors" not in self._memo:
            tilt = np.zeros((self.n, 5))
            tilt[:, 0] = 3.0 * self.t["agriculture"]
            tilt[:, 1] = 2.0 * self.t["industry"]
            jobs = self._job_totals() * self.noise("c_jobs", 0.005)
            split = self.shares("sectors", np.array([0.03, 0.13, 0.07, 0.46, 0.31]), tilt)
            self._memo["_sectors"] = jobs[:, None] * split
        return self._memo["_sectors"]

    def _jobs_detail(self, detail: str | None) -> np.ndarray:
        sectors = self._sector_cells()
        if detail is None:
            return sectors.sum(axis=1)
        if detail in _SECTORS:
            return sectors[:, _SECTORS.index(detail)]
        if detail == "F":
            return (sectors * _SECTOR_WOMEN).sum(axis=1)
        if detail == "SAL":
            return (sectors * _SECTOR_SALARIED).sum(axis=1)
        if detail.startswith("CS") and detail[2:].isdigit():
            split = self.shares(
                "jobs_cs",
                np.array([0.02, 0.06, 0.19, 0.26, 0.27, 0.2]),
                self.t["education"][:, None] * CS_EDU[:6],
            )
            return sectors.sum(axis=1) * split[:, int(detail[2:]) - 1]
        return self._fallback(f"C_EMPLT_{detail}")

    def _jobs_sector(self, sector: str, detail: str) -> np.ndarray:
        jobs = self._sector_cells()[:, _SECTORS.index(sector)]
        i = _SECTORS.index(sector)
        women, salaried = jobs * _SECTOR_WOMEN[i], jobs * _SECTOR_SALARIED[i]
        parts = {
            "F": women,
            "SAL": salaried,
            "FSAL": women * _SECTOR_SALARIED[i],
            "NSAL": jobs - salaried,
            "FNSAL": women * (1 - _SECTOR_SALARIED[i]),
        }
        return parts[detail] if detail in parts else self._fallback(f"C_{sector}LT_{detail}")

    # ------------------------------------------------------------------ fallback

    def _fallback(self, var: str) -> np.ndarray:
        """A plausible share of a related count for a variable the model does not know."""
        if "RP" in var or "LOG" in var:
            base = self._housing("RP")
        elif "MEN" in var or "FAM" in var:
            base = self._households("MEN")
        elif "EMPLT" in var or "LT_" in var:
            base = self._job_totals()
        elif "ACT" in var or "CHOM" in var or "SAL" in var:
            base = self._activity(None, "ACT", "15P")
        else:
            base = self.pop
        share = 0.02 + 0.3 * (zlib.crc32(var.encode()) % 1000) / 1000
        return base * share * self.noise(f"fallback_{var}", 0.1)
