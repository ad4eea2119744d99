"""Simulated LOVAC (vacant private dwellings) and Cerema NAF land-consumption files.

- ``lovac``: ``lovac-opendata-communesYY.csv``, the layout of the LOVAC communal open data
  (``CODGEO_YY;LIBGEO_YY;pp_vacant_YY;pp_vacant_plus_2ans_YY;ff_pp_total_YY-1;pp_vacant_YY-1;
  …`` down to 2020; the private stock ``ff_pp_total`` lags one year behind), ``;`` separator,
  Windows-1252 encoding, counts below 11 replaced by the secret mark ``s``.
- ``naf``: ``conso2009_YYYY_resultats_com.csv``, the layout of Cerema's communal file of NAF
  consumption (``idcom,idcomtxt,…,naf09art10,art09act10,…,naf09artYY,…,surfcom20YY``), ``,``
  separator, UTF-8: m² consumed each year (1 January to 1 January) by destination, the
  cumulative 2009-YYYY columns equal to the sums of the annual ones, and the population,
  households and jobs of the two census years used by Cerema (YYYY-9 and YYYY-3). SCoT and
  aire d'attraction des villes columns are present but empty (not in the embedded referential).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from observatoire.sources.synthetic import _textio as tx
from observatoire.sources.synthetic._common import World, stream
from observatoire.territories import referential

LOVAC_FIRST_YEAR = 2020
LOVAC_SECRET = 11
NAF_FIRST_YEAR = 2009
DESTINATIONS = ("act", "hab", "mix", "rou", "fer", "inc")
DESTINATION_SHARES = np.array([0.23, 0.63, 0.02, 0.05, 0.003, 0.067])


def _dwellings(world: World, year: int) -> np.ndarray:
    t = world.traits
    return world.pop(year) / t["household_size"] / (1 - t["secondary"] - t["vacancy"])


def write_lovac(world: World, positions: np.ndarray, vintage: int, out_dir: Path) -> Path:
    """Write the LOVAC communal file whose latest year is ``vintage``."""
    t = world.traits
    yy = f"{vintage % 100:02d}"
    header = [f"CODGEO_{yy}", f"LIBGEO_{yy}"]
    arrays = [
        tx.text(world.communes["code"].to_numpy()[positions]),
        tx.text(world.communes["nom"].to_numpy()[positions]),
    ]
    for year in range(vintage, LOVAC_FIRST_YEAR - 1, -1):
        y2 = f"{year % 100:02d}"
        rng = stream(world.seed, "lovac", year)
        private = 1 - t["social"] - 0.03
        stock = np.round(_dwellings(world, year - 1) * private * rng.normal(1, 0.01, world.size))
        rate = np.clip(t["vacancy"] * np.exp(rng.normal(0, 0.08, world.size)), 0.01, 0.4)
        vacant = np.round(stock * rate)
        long = np.round(vacant * np.clip(rng.normal(0.4, 0.08, world.size), 0.1, 0.8))
        columns = [(f"pp_vacant_{y2}", vacant), (f"pp_vacant_plus_2ans_{y2}", long)]
        if year < vintage:
            columns.insert(0, (f"ff_pp_total_{y2}", stock))
        for name, values in columns:
            data = values[positions]
            header.append(name)
            arrays.append(tx.integers(data, data < LOVAC_SECRET, "s"))
    path = out_dir / f"lovac-opendata-communes{yy}.csv"
    with tx.CsvSink(path, header, separator=";", eol="\r\n", encoding="cp1252") as sink:
        sink.write(arrays)
    return path


def write_naf(world: World, positions: np.ndarray, vintage: int, out_dir: Path) -> Path:
    """Write Cerema's communal NAF consumption file for 1 January 2009 - 1 January
    ``vintage``."""
    t = world.traits
    communes = world.communes
    area_m2 = np.round(communes["superficie_km2"].to_numpy(float) * 1e6)
    yy = f"{vintage % 100:02d}"
    epci = communes["epci"].fillna("").to_numpy(dtype=object)
    epci_names = referential.epcis().set_index("code")["nom"]
    dep_names = referential.departements().set_index("code")["nom"]
    reg_names = referential.regions().set_index("code")["nom"]
    take = positions
    text = {
        "idcom": communes["code"].to_numpy()[take],
        "idcomtxt": communes["nom"].to_numpy()[take],
        "idreg": communes["reg"].to_numpy()[take],
        "idregtxt": reg_names.reindex(communes["reg"]).fillna("").to_numpy()[take],
        "iddep": communes["dep"].to_numpy()[take],
        "iddeptxt": dep_names.reindex(communes["dep"]).fillna("").to_numpy()[take],
        f"epci{yy}": epci[take],
        f"epci{yy}txt": epci_names.reindex(pd.Index(epci)).fillna("").to_numpy()[take],
        "scot": np.full(len(take), "", dtype=object),
        "aav2020": np.full(len(take), "", dtype=object),
        "aav2020txt": np.full(len(take), "", dtype=object),
        "aav2020_ty": np.full(len(take), "", dtype=object),
    }
    header = list(text)
    arrays = [tx.quoted(tx.text(v), ",") for v in text.values()]
    growth = np.clip(0.2 + 60 * np.maximum(t["growth_long"], 0) + 0.5 * (1 - t["urban"]), 0.05, 3)
    cumulative = np.zeros((world.size, len(DESTINATIONS)))
    for year in range(NAF_FIRST_YEAR, vintage):
        a, b = f"{year % 100:02d}", f"{(year + 1) % 100:02d}"
        rng = stream(world.seed, "naf", year)
        trend = 1.25 - 0.045 * (year - NAF_FIRST_YEAR)
        active = rng.random(world.size) < np.clip(0.35 + 0.3 * growth, 0, 0.95)
        amount = area_m2 * 5e-4 * growth * trend * rng.lognormal(0, 0.9, world.size) * active
        split = rng.dirichlet(DESTINATION_SHARES * 30, world.size)
        parts = np.round(amount[:, None] * split)
        cumulative += parts
        header.append(f"naf{a}art{b}")
        arrays.append(tx.integers(parts.sum(axis=1)[take]))
        for j, dest in enumerate(DESTINATIONS):
            header.append(f"art{a}{dest}{b}")
            arrays.append(tx.integers(parts[take, j]))
    first = f"{NAF_FIRST_YEAR % 100:02d}"
    header.append(f"naf{first}art{yy}")
    arrays.append(tx.integers(cumulative.sum(axis=1)[take]))
    for j, dest in enumerate(DESTINATIONS):
        header.append(f"art{first}{dest}{yy}")
        arrays.append(tx.integers(cumulative[take, j]))
    header.append(f"artcom{first}{yy}")
    share = cumulative.sum(axis=1) / np.maximum(area_m2, 1) * 100
    arrays.append(tx.shortest(np.round(share[take], 4)))
    p0, p1 = vintage - 9, vintage - 3
    k0, k1 = f"{p0 % 100:02d}", f"{p1 % 100:02d}"
    pop0, pop1 = world.pop(p0), world.pop(p1)
    men0, men1 = np.round(pop0 / t["household_size"]), np.round(pop1 / t["household_size"])
    emp0 = np.round(pop0 * 0.4 * t["jobs_ratio"])
    emp1 = np.round(
        pop1
        * 0.4
        * t["jobs_ratio"]
        * np.exp(stream(world.seed, "naf", "jobs").normal(0.02, 0.05, world.size))
    )
    for stem, before, after in (("pop", pop0, pop1), ("men", men0, men1), ("emp", emp0, emp1)):
        header += [f"{stem}{k0}", f"{stem}{k1}", f"{stem}{k0}{k1}"]
        arrays += [
            tx.integers(before[take]),
            tx.integers(after[take]),
            tx.integers((after - before)[take]),
        ]
    hectares = cumulative.sum(axis=1) / 1e4
    habitat = cumulative[:, 1] / 1e4
    ratios = {
        f"mepart{k0}{k1}": ((men1 - men0) + (emp1 - emp0))
        / np.where(hectares > 0, hectares, np.nan),
        f"menhab{k0}{k1}": (men1 - men0) / np.where(habitat > 0, habitat, np.nan),
        f"artpop{k0}{k1}": cumulative.sum(axis=1) / np.where(pop1 != pop0, pop1 - pop0, np.nan),
    }
    for name, values in ratios.items():
        header.append(name)
        data = np.round(values[take], 2)
        arrays.append(tx.shortest(np.nan_to_num(data), np.isnan(data)))
    header.append(f"surfcom20{yy}")
    arrays.append(tx.integers(area_m2[take]))
    path = out_dir / f"conso{NAF_FIRST_YEAR}_{vintage}_resultats_com.csv"
    with tx.CsvSink(path, header, separator=",") as sink:
        sink.write(arrays)
    return path
