"""Households and dwellings of the simulated census (mixed into
:class:`~observatoire.sources.synthetic.census_model.CensusYear`).

Identities kept: ``LOG = RP + RSECOCC + LOGVAC``, households (``MEN``) = main residences
(``RP``), ``PMEN`` = people living in households (``<= POP``), household types and tenures
partition the households, construction periods partition the main residences built before the
last two years (``RP_ACHTOT``), and the complementary exploitation (``C_``) stays within a few
per mille of the principal one.
"""

from __future__ import annotations

import numpy as np

HOUSEHOLD_TYPES = ("HSEUL", "FSEUL", "SFAM", "COUPSENF", "COUPAENF", "FAMMONO")
ACH_START = ("19", "45", "70", "90", "05")  # then the band of the last built years
CS_EDU = np.array([0.0, 0.0, 0.5, 0.2, -0.1, -0.35, 0.0, 0.0])


class HousingMixin:
    """Households and dwellings; needs ``ages``, ``noise``, ``shares``, ``t``, ``pop``, ``n``,
    ``year``, ``_memo`` and ``_fallback`` from :class:`CensusYear`."""

    t: dict[str, np.ndarray]
    pop: np.ndarray
    n: int
    year: int
    _memo: dict[str, np.ndarray]

    # ------------------------------------------------------------------ households

    def _housing(self, kind: str) -> np.ndarray:
        if "_housing" not in self._memo:
            persons = self.ages(0, 100, cube="men")
            size = self.t["household_size"] * self.noise("household_size", 0.02)
            households = persons / np.clip(size, 1.2, 4.5)
            secondary = np.clip(self.t["secondary"] * self.noise("secondary", 0.08), 0, 0.85)
            vacant = np.clip(self.t["vacancy"] * self.noise("vacancy", 0.08), 0, 0.4)
            vacant = np.minimum(vacant, 0.95 - secondary)
            stock = households / (1 - secondary - vacant)
            self._memo.update(
                {
                    "_RP": households,
                    "_PMEN": persons,
                    "_RSECOCC": stock * secondary,
                    "_LOGVAC": stock * vacant,
                }
            )
            self._memo["_housing"] = np.zeros(self.n)
        memo = self._memo
        if kind == "LOG":
            return memo["_RP"] + memo["_RSECOCC"] + memo["_LOGVAC"]
        return memo[{"MEN": "_RP", "NPER_RP": "_PMEN"}.get(kind, f"_{kind}")]

    def _household_split(self) -> np.ndarray:
        """(n, 6) shares of HSEUL, FSEUL, SFAM, COUPSENF, COUPAENF, FAMMONO households."""
        if "_household_split" not in self._memo:
            size = self.t["household_size"]
            alone = np.clip(1.05 - 0.33 * size, 0.12, 0.7)
            tilt = np.zeros((self.n, 6))
            tilt[:, 5] = 0.4 * self.t["urban"] + 1.5 * self.t["unemployment"]
            families = self.shares("families", np.array([0.42, 0.4, 0.18]), tilt[:, 3:])
            men = np.clip(0.45 * self.noise("alone_men", 0.05), 0.25, 0.7)
            rest = 1 - alone
            split = np.column_stack(
                [
                    alone * men,
                    alone * (1 - men),
                    rest * 0.03,
                    rest * 0.97 * families[:, 0],
                    rest * 0.97 * families[:, 1],
                    rest * 0.97 * families[:, 2],
                ]
            )
            self._memo["_household_split"] = split
        return self._memo["_household_split"]

    def _households(self, kind: str) -> np.ndarray:
        households = self._housing("RP") * self.noise("c_men", 0.004)
        if kind == "MEN":
            return households
        return self._household_persons_cells().sum(axis=1)

    def _household_persons_cells(self) -> np.ndarray:
        if "_pmen_cells" not in self._memo:
            counts = self._households("MEN")[:, None] * self._household_split()
            sizes = np.array([1.0, 1.0, 2.2, 2.0, 3.9, 2.6])
            raw = counts * sizes
            target = self._housing("PMEN") * self.noise("c_pmen", 0.004)
            factor = (target - raw[:, :2].sum(axis=1)) / np.maximum(raw[:, 2:].sum(axis=1), 1e-12)
            raw[:, 2:] *= np.clip(factor, 0.5, 2.0)[:, None]
            self._memo["_pmen_cells"] = raw
        return self._memo["_pmen_cells"]

    def _household_type(self, kind: str) -> np.ndarray:
        counts = self._households("MEN")[:, None] * self._household_split()
        return self._combine(counts, kind)

    def _household_persons(self, kind: str) -> np.ndarray:
        return self._combine(self._household_persons_cells(), kind)

    def _combine(self, cells: np.ndarray, kind: str) -> np.ndarray:
        groups = {"PSEUL": (0, 1), "FAM": (3, 4, 5)}
        if kind in groups:
            return cells[:, list(groups[kind])].sum(axis=1)
        if kind in HOUSEHOLD_TYPES:
            return cells[:, HOUSEHOLD_TYPES.index(kind)]
        return self._fallback(f"C_MEN{kind}")

    def _household_cs(self, kind: str, cs: str) -> np.ndarray:
        tilt = np.zeros((self.n, 8))
        tilt[:, :8] = self.t["education"][:, None] * CS_EDU
        tilt[:, 6] = 0.6 * self.t["age_tilt"]
        split = self.shares(
            "household_cs", np.array([0.015, 0.06, 0.14, 0.17, 0.15, 0.14, 0.3, 0.025]), tilt
        )
        if kind == "MEN":
            return self._households("MEN") * split[:, int(cs) - 1]
        sizes = np.array([2.4, 2.6, 2.6, 2.5, 2.1, 2.8, 1.6, 1.6])
        persons = split * sizes
        persons /= persons.sum(axis=1, keepdims=True)
        return self._households("PMEN") * persons[:, int(cs) - 1]

    def _families(self, kind: str) -> np.ndarray:
        couples_children = self._household_type("COUPAENF") * 1.01
        single = self._household_type("FAMMONO") * 1.03
        couples = self._household_type("COUPSENF") * 1.02
        fathers = single * np.clip(0.16 * self.noise("fathers", 0.1), 0.05, 0.4)
        parts = {
            "COUPAENF": couples_children,
            "FAMMONO": single,
            "COUPSENF": couples,
            "HMONO": fathers,
            "FMONO": single - fathers,
            "FAM": couples_children + single + couples,
        }
        return parts[kind]

    def _children(self, count: str) -> np.ndarray:
        families = self._families("FAM")
        without = self._families("COUPSENF") / np.maximum(families, 1e-12) + 0.04
        others = self.shares("children", np.array([0.42, 0.38, 0.15, 0.05]))
        split = np.column_stack(
            [np.clip(without, 0, 0.95), (1 - np.clip(without, 0, 0.95))[:, None] * others]
        )
        index = {"0": 0, "1": 1, "2": 2, "3": 3, "4P": 4}.get(count)
        return (
            families * split[:, index] if index is not None else self._fallback(f"C_NE24F{count}")
        )

    # ------------------------------------------------------------------ dwellings

    def _dwelling_type(self, kind: str) -> np.ndarray:
        share = np.clip(self.t["apartments"] * self.noise("apartments", 0.03), 0.001, 0.999)
        if kind in ("MAISON", "APPART"):
            stock = self._housing("LOG") * 0.99
            return stock * (share if kind == "APPART" else 1 - share)
        main = self._housing("RP") * 0.99
        return main * (share if kind == "RPAPPART" else 1 - share)

    def _rooms(self, rooms: str) -> np.ndarray:
        houses = self.shares("rooms_h", np.array([0.01, 0.04, 0.14, 0.28, 0.53]))
        flats = self.shares("rooms_a", np.array([0.13, 0.27, 0.32, 0.19, 0.09]))
        share = self._dwelling_type("RPAPPART") / np.maximum(self._housing("RP"), 1e-12)
        split = houses * (1 - share)[:, None] + flats * share[:, None]
        return self._housing("RP") * split[:, int(rooms) - 1]

    def _room_total(self, kind: str) -> np.ndarray:
        if kind == "RP":
            return sum(
                self._rooms(str(k)) * w for k, w in zip(range(1, 6), (1, 2, 3, 4, 5.8), strict=True)
            )
        mean = 4.7 if kind == "RPMAISON" else 2.9
        return self._dwelling_type(kind) * mean * self.noise(f"rooms_{kind}", 0.04)

    def _overcrowding(self, suffix: str | None) -> np.ndarray:
        share = self._dwelling_type("RPAPPART") / np.maximum(self._housing("RP"), 1e-12)
        main = self._housing("RP") * (0.97 - 0.05 * share) * self.noise("hstu", 0.004)
        if not suffix:
            return main
        return main * np.clip(0.02 + 0.12 * share * self.t["urban"], 0, 0.5)

    def _construction(self, kind: str, band: str) -> np.ndarray:
        last = f"{(self.year - 3) % 100:02d}"
        bands = (*ACH_START, last)
        recent = np.clip((self.year - 3 - 2005) / 13, 0.05, 1.3)
        tilt = np.zeros((self.n, 6))
        tilt[:, 0] = 0.5 * self.t["old_stock"] - 0.5 * self.t["urban"]
        tilt[:, 5] = 0.4 * self.t["growth_long"] * 100
        base = np.array([0.12, 0.07, 0.22, 0.25, 0.18, 0.16 * recent])
        split = self.shares("construction", base, tilt)
        total = self._housing("RP") * 0.985
        if kind == "RP":
            cells = total[:, None] * split
        else:
            flats = np.array([0.6, 0.8, 1.5, 1.1, 0.8, 0.9])
            share = 1 - (1 - self.t["apartments"][:, None]) ** flats
            part = share if kind == "RPAPPART" else 1 - share
            cells = total[:, None] * split * part * 0.99
        if band == "TOT":
            return cells.sum(axis=1)
        if band in bands:
            return cells[:, bands.index(band)]
        return self._fallback(f"P_{kind}_ACH{band}")

    def _seniority(self, kind: str, band: str) -> np.ndarray:
        split = self.shares(
            "seniority",
            np.array([0.12, 0.14, 0.18, 0.56]),
            np.column_stack(
                [
                    0.6 * self.t["urban"],
                    0.4 * self.t["urban"],
                    np.zeros(self.n),
                    -0.3 * self.t["urban"],
                ]
            ),
        )
        weights = {
            "MEN": (1.0, 1.0, 1.0, 1.0),
            "PMEN": (0.95, 1.1, 1.12, 0.96),
            "NBPI_RP": (0.85, 0.95, 1.02, 1.04),
        }[kind]
        split = split * np.array(weights)
        split /= split.sum(axis=1, keepdims=True)
        total = self._room_total("RP") if kind == "NBPI_RP" else self._housing(kind)
        bands = ("0002", "0204", "0509", "10P")
        if band in bands:
            return total * split[:, bands.index(band)]
        long_split = self.shares("seniority_long", np.array([0.4, 0.28, 0.32]))
        longs = ("1019", "2029", "30P")
        if band in longs:
            return total * split[:, 3] * long_split[:, longs.index(band)]
        return self._fallback(f"P_{kind}_ANEM{band}")

    def _tenure_split(self) -> np.ndarray:
        owners = np.clip(self.t["owners"] * self.noise("owners", 0.03), 0.05, 0.97)
        free = np.clip(0.015 * self.noise("free", 0.2), 0.0, 0.1)
        social = np.minimum(self.t["social"] * self.noise("social", 0.05), 1 - owners - free)
        return np.column_stack([owners, 1 - owners - free, social, free])

    def _tenure(self, kind: str, tenure: str) -> np.ndarray:
        split = self._tenure_split()
        col = ("PROP", "LOC", "LOCHLMV", "GRAT").index(tenure)
        if kind == "RP":
            return self._housing("RP") * split[:, col]
        sizes = np.array([1.04, 0.95, 1.1, 0.8])
        persons = split * sizes
        persons[:, 2] = np.minimum(persons[:, 2], persons[:, 1])
        norm = persons[:, [0, 1, 3]].sum(axis=1, keepdims=True)
        return self._housing("PMEN") * persons[:, col] / norm[:, 0]

    def _seniority_years(self, tenure: str | None) -> np.ndarray:
        split = self._tenure_split()
        years = np.array([21.0, 6.5, 11.0, 13.0]) * self.noise("seniority_years", 0.05)[:, None]
        main = self._housing("RP")[:, None] * split
        private = main[:, 1] - main[:, 2]
        parts = {
            "PROP": main[:, 0] * years[:, 0],
            "LOCHLMV": main[:, 2] * years[:, 2],
            "GRAT": main[:, 3] * years[:, 3],
        }
        parts["LOC"] = private * years[:, 1] + parts["LOCHLMV"]
        if tenure is None:
            return parts["PROP"] + parts["LOC"] + parts["GRAT"]
        return parts[tenure]

    def _comfort(self, kind: str) -> np.ndarray:
        main = self._housing("RP")
        flats = self.t["apartments"]
        cars = np.clip(self.t["cars"] * self.noise("cars", 0.02), 0.1, 0.99)
        two = np.clip(0.55 - 0.25 * self.t["urban"] - 0.25 * flats, 0.05, 0.7)
        parts = {
            "SDB": 0.975,
            "CCCOLL": 0.35 * flats,
            "CCIND": 0.42 * (1 - 0.3 * flats),
            "CINDELEC": 0.3,
            "GARL": np.clip(0.8 - 0.45 * flats, 0.2, 0.95),
            "VOIT1P": cars,
            "VOIT1": cars * (1 - two),
            "VOIT2P": cars * two,
        }
        if kind.startswith("VOIT"):
            return main * parts[kind]
        return main * parts[kind] * self.noise(f"comfort_{kind}", 0.02)
