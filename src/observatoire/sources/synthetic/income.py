"""Simulated Filosofi communal key figures (``cc_filosofi_YYYY_COM``) in INSEE's layout.

Format, as in the real files: a zip ``base-cc-filosofi-YYYY_CSV.zip`` holding
``cc_filosofi_YYYY_COM.CSV`` (2019 and before: CRLF line ends, secret cells EMPTY, rates as
whole numbers and shares with a decimal point, ``70.1``) or ``cc_filosofi_YYYY_COM.csv`` (2020
on: LF, secret cells ``s``, every rate and share with one decimal and a decimal COMMA,
``48,0``); ``;`` separator; header ``CODGEO;NBMENFISCYY;…;RDYY``; communes (not Mayotte) and
arrondissements municipaux, sorted by code.

Statistical secrecy as INSEE applies it: below 50 fiscal households the whole row is secret;
small communes (under about 2 000 persons) only have NBMENFISC, NBPERSMENFISC and MED; in the
others, a poverty rate by age or tenure is secret when it concerns too few poor people.
Coherence: D1 < MED < D9, RD = D9/D1, poverty rates in [0, 100]; income shares add up
(PACT = PTSA + PCHO + PBEN, PPSOC = PPFAM + PPMINI + PPLOGT, PACT + PPEN + PPAT + PPSOC +
PIMPOT = 100).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from observatoire.sources.filosofi import COM_VARIABLES
from observatoire.sources.synthetic import _textio as tx
from observatoire.sources.synthetic._common import World, normal_cdf, split_weights, stream
from observatoire.sources.synthetic.census import rows

# The published column order, shared with the reader: one list, two uses.
VARIABLES = COM_VARIABLES
WHOLE = ("NBMENFISC", "NBPERSMENFISC", "MED", "D1", "D9")
# Poverty-and-taxation rates, in the published order.
RATES = tuple(v for v in COM_VARIABLES if v == "PIMP" or v.startswith("TP60"))
GROUPS = {  # share of persons, poverty relative to the commune's rate
    "TP60AGE1": (0.10, 1.7),
    "TP60AGE2": (0.16, 1.25),
    "TP60AGE3": (0.20, 1.15),
    "TP60AGE4": (0.19, 1.0),
    "TP60AGE5": (0.22, 0.6),
    "TP60AGE6": (0.13, 0.55),
    "TP60TOL1": (0.60, 0.35),
    "TP60TOL2": (0.38, 1.9),
}
NATIONAL_MEDIAN_2020 = 22_040.0
SECRET_HOUSEHOLDS = 50
FULL_PERSONS = 2_000
SECRET_POOR = 200  # a rate by age or tenure concerning fewer poor people is not published


def _values(world: World, vintage: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Every indicator for every commune, the all-secret and the partial-secret masks."""
    rng = stream(world.seed, "filosofi", vintage)
    t = world.traits
    n = world.size
    pop = world.pop(vintage)
    persons = np.round(pop * (1 - 0.02 * np.minimum(t["institutions"], 5)) * rng.normal(1, 0.01, n))
    persons = np.maximum(persons, 0)
    households = np.round(persons / t["household_size"] * rng.normal(1.02, 0.015, n))
    households = np.clip(households, np.minimum(persons, 1), persons)
    level = 1.012 ** (vintage - 2020)
    median = t["income"] * level * np.exp(rng.normal(0, 0.02, n))
    sigma = t["inequality"] * np.exp(rng.normal(0, 0.03, n))
    low, high = sigma * 1.05, sigma * 0.95 + 0.08 * (t["income"] > 30_000)
    v: dict[str, np.ndarray] = {"NBMENFISC": households, "NBPERSMENFISC": persons}
    v["MED"] = np.round(median, -1)
    v["D1"] = np.round(median * np.exp(-1.2816 * low), -1)
    v["D9"] = np.round(median * np.exp(1.2816 * high), -1)
    v["RD"] = np.round(v["D9"] / v["D1"], 1)
    threshold = 0.6 * NATIONAL_MEDIAN_2020 * level
    poverty = np.clip(np.round(100 * normal_cdf(np.log(threshold / median) / low)), 1, 95)
    v["TP60"] = poverty
    for name, (_, factor) in GROUPS.items():
        v[name] = np.clip(np.round(poverty * factor * rng.normal(1, 0.1, n)), 0, 100)
    v["PIMP"] = np.clip(np.round(15 + 65 * normal_cdf(np.log(median / 21_000) / 0.3)), 5, 95)
    ratio = np.log(median / 21_500)
    pen = np.round(np.clip(26 + 12 * t["age_tilt"] + rng.normal(0, 3, n), 8, 55), 1)
    pat = np.round(np.clip(8 + 10 * ratio + rng.normal(0, 2, n), 2, 40), 1)
    soc = np.round(np.clip(6 + 30 * poverty / 100 + rng.normal(0, 1, n), 1.5, 40), 1)
    tax = -np.round(np.clip(15 + 8 * ratio + rng.normal(0, 1, n), 8, 30), 1)
    act = np.round(100 - pen - pat - soc - tax, 1)
    cho = np.round(np.clip(3 + 10 * (t["unemployment"] - 0.08) + rng.normal(0, 0.5, n), 0.5, 12), 1)
    ben = np.round(np.clip(act * 0.06 * rng.normal(1, 0.25, n), 0.5, 30), 1)
    fam = np.round(soc * 0.36, 1)
    mini = np.round(soc * 0.34, 1)
    v.update(
        {
            "PPEN": pen,
            "PPAT": pat,
            "PPSOC": soc,
            "PIMPOT": tax,
            "PACT": act,
            "PCHO": cho,
            "PBEN": ben,
            "PTSA": np.round(act - cho - ben, 1),
            "PPFAM": fam,
            "PPMINI": mini,
            "PPLOGT": np.round(soc - fam - mini, 1),
        }
    )
    all_secret = households < SECRET_HOUSEHOLDS
    full = persons >= FULL_PERSONS * np.exp(rng.normal(0, 0.3, n))
    return v, all_secret, ~full & ~all_secret


def write_filosofi(world: World, positions: np.ndarray, vintage: int, out_dir: Path) -> Path:
    """Write ``base-cc-filosofi-YYYY_CSV.zip`` for the communes at ``positions``."""
    values, all_secret, partial = _values(world, vintage)
    codes, where, entries = rows(world, positions)
    rng = stream(world.seed, "filosofi", vintage, "arrondissements")
    table = {name: array[where].astype(float) for name, array in values.items()}
    secret_all, secret_partial = all_secret[where].copy(), partial[where].copy()
    for row, (_, position, arm) in enumerate(entries):
        if arm is None:
            continue
        _, shares = split_weights(world.communes["code"].iat[position], world.seed)
        for name in ("NBMENFISC", "NBPERSMENFISC"):
            table[name][row] = np.round(values[name][position] * shares[arm])
        wealth = float(np.exp(rng.normal(0, 0.15)))
        for name in ("MED", "D1", "D9"):
            table[name][row] = np.round(values[name][position] * wealth, -1)
        for name in RATES:
            table[name][row] = np.clip(np.round(values[name][position] / wealth**2), 0, 100)
    persons = table["NBPERSMENFISC"]
    yy = f"{vintage % 100:02d}"
    modern = vintage >= 2020
    marker = "s" if modern else ""
    arrays = [tx.text(codes)]
    for name in VARIABLES:
        mask = secret_all.copy()
        if name not in ("NBMENFISC", "NBPERSMENFISC", "MED"):
            mask |= secret_partial
        if name in GROUPS:
            share = GROUPS[name][0]
            mask |= persons * share * table[name] / 100 < SECRET_POOR
        data = table[name]
        if name in WHOLE:
            arrays.append(tx.integers(data, mask, marker))
        elif modern:
            arrays.append(tx.fixed(data, 1, comma=True, mask=mask, marker=marker))
        elif name in RATES:
            arrays.append(tx.integers(data, mask, marker))
        else:
            arrays.append(tx.shortest(np.round(data, 1), mask, marker))
    header = ["CODGEO", *[f"{name}{yy}" for name in VARIABLES]]
    path = out_dir / f"base-cc-filosofi-{vintage}_CSV.zip"
    member = f"cc_filosofi_{vintage}_COM.{'csv' if modern else 'CSV'}"
    with tx.CsvSink(
        path,
        header,
        separator=";",
        eol="\n" if modern else "\r\n",
        member=member,
        zip_date=(min(vintage + 3, 2107), 1, 10, 12, 0, 0),
    ) as sink:
        sink.write(arrays)
    return path
