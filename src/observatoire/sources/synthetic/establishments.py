"""Simulated SIRENE establishment stock (INSEE ``StockEtablissement``).

Format: ``StockEtablissement_utf8_YYYY.zip`` holding ``StockEtablissement_utf8.csv``, ``,``
separator, UTF-8, LF, the column layout of INSEE's stock file (``siren,nic,siret,
statutDiffusionEtablissement,…,caractereEmployeurEtablissement``; from 2025 the NAF 2025 code
column is appended, left empty: no NAF rév. 2 -> NAF 2025 correspondence offline). Values as
INSEE writes them: ``true``/``false`` for the head office, dates ``YYYY-MM-DD`` and
``YYYY-MM-DDTHH:MM:SS`` for the last processing, ``NN`` for non-employers, Lambert 93
coordinates (UTM overseas) inside the commune with one decimal, ``[ND]`` for the
non-diffusible address fields of establishments in partial diffusion
(``statutDiffusionEtablissement = P``). SIREN and SIRET are unique and pass the Luhn check;
NAF rév. 2 codes (``nomenclatureActivitePrincipaleEtablissement = NAFRev2``) follow a
realistic mix including the retail trade 47.xx sub-classes; about 40 % of the rows are closed
establishments (``etatAdministratifEtablissement = F``).

The stock is of 1 December of the vintage (last processing date of the file: 30 November).
Volume: about 0.06 establishment per inhabitant at ``scale=1`` (about 4 million rows for
France, a fraction of INSEE's full stock, which also keeps decades of closed establishments).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from observatoire.sources.synthetic import _textio as tx
from observatoire.sources.synthetic._common import (
    ARRONDISSEMENTS,
    World,
    ascii_upper,
    postal_codes,
    sample_points,
    split_weights,
    stream,
)

PER_INHABITANT = 0.06
COLUMNS = tx.names(
    "siren,nic,siret,statutDiffusionEtablissement,dateCreationEtablissement,"
    "trancheEffectifsEtablissement,anneeEffectifsEtablissement,"
    "activitePrincipaleRegistreMetiersEtablissement,dateDernierTraitementEtablissement,"
    "etablissementSiege,nombrePeriodesEtablissement,complementAdresseEtablissement,"
    "numeroVoieEtablissement,indiceRepetitionEtablissement,dernierNumeroVoieEtablissement,"
    "indiceRepetitionDernierNumeroVoieEtablissement,typeVoieEtablissement,"
    "libelleVoieEtablissement,codePostalEtablissement,libelleCommuneEtablissement,"
    "libelleCommuneEtrangerEtablissement,distributionSpecialeEtablissement,"
    "codeCommuneEtablissement,codeCedexEtablissement,libelleCedexEtablissement,"
    "codePaysEtrangerEtablissement,libellePaysEtrangerEtablissement,"
    "identifiantAdresseEtablissement,coordonneeLambertAbscisseEtablissement,"
    "coordonneeLambertOrdonneeEtablissement,complementAdresse2Etablissement,"
    "numeroVoie2Etablissement,indiceRepetition2Etablissement,typeVoie2Etablissement,"
    "libelleVoie2Etablissement,codePostal2Etablissement,libelleCommune2Etablissement,"
    "libelleCommuneEtranger2Etablissement,distributionSpeciale2Etablissement,"
    "codeCommune2Etablissement,codeCedex2Etablissement,libelleCedex2Etablissement,"
    "codePaysEtranger2Etablissement,libellePaysEtranger2Etablissement,dateDebut,"
    "etatAdministratifEtablissement,enseigne1Etablissement,enseigne2Etablissement,"
    "enseigne3Etablissement,denominationUsuelleEtablissement,activitePrincipaleEtablissement,"
    "nomenclatureActivitePrincipaleEtablissement,caractereEmployeurEtablissement"
)
NAF25_COLUMN = "activitePrincipaleNAF25Etablissement"
# NAF rév. 2 sub-class and weight (per mille of establishments, orders of magnitude)
NAF = """
01.11Z 15 01.21Z 5 01.41Z 4 01.50Z 3 10.13B .5 10.71C 3 10.71D 1 25.62B 2 33.12Z 2 35.11Z 15
41.20A 10 43.21A 12 43.22A 10 43.31Z 6 43.32A 8 43.34Z 8 43.99C 8 45.11Z 5 45.20A 8 46.18Z 3
46.19B 8 46.90Z 6 47.11A .5 47.11B 3 47.11C 2 47.11D 2 47.11F .5 47.19A .2 47.19B 3 47.21Z 1.5
47.22Z 1.5 47.23Z .3 47.24Z 1.5 47.25Z 1.5 47.26Z 1 47.29Z 3 47.30Z 1 47.41Z 1 47.42Z .5
47.43Z .3 47.51Z 2 47.52A 1 47.52B 1 47.53Z .5 47.54Z .5 47.59A 2 47.59B 3 47.61Z 1 47.62Z 1
47.63Z .3 47.64Z 1.5 47.65Z .5 47.71Z 10 47.72A 1.5 47.72B .5 47.73Z 3 47.74Z .5 47.75Z 2.5
47.76Z 2.5 47.77Z 1.5 47.78A 2 47.78B .2 47.78C 6 47.79Z 3 47.81Z 2 47.82Z 4 47.89Z 6
47.91A 2 47.91B 12 47.99A 2 47.99B 3 49.32Z 8 49.41A 5 53.20Z 3 55.10Z 5 55.20Z 7 56.10A 30
56.10C 15 56.30Z 10 62.01Z 15 62.02A 10 64.19Z 4 64.20Z 15 66.19B 3 66.22Z 5 68.10Z 10
68.20A 40 68.20B 60 68.31Z 10 69.10Z 4 69.20Z 4 70.10Z 15 70.22Z 40 71.11Z 5 71.12B 8
73.11Z 4 74.10Z 10 74.20Z 5 74.90B 15 77.11A 2 81.21Z 5 81.30Z 5 82.99Z 8 84.11Z 8 85.10Z 4
85.20Z 6 85.59A 10 85.59B 20 86.21Z 12 86.22C 5 86.23Z 5 86.90D 10 86.90E 12 88.10A 3
88.91A 3 88.99B 3 90.01Z 6 90.02Z 3 90.03A 6 93.12Z 8 93.29Z 3 94.99Z 50 95.11Z 1 95.23Z 1
95.29Z 1 96.02A 12 96.02B 8 96.04Z 3 96.09Z 20
"""
TRANCHES = ("NN", "00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41")
TRANCHE_WEIGHTS = np.array([55, 10, 12, 8, 5, 4, 3, 1.5, 0.8, 0.3, 0.2, 0.2])
STREETS = ("RUE", "AV", "BD", "CHE", "RTE", "PL", "IMP", "ALL", "ZA", "QUAI")
STREET_WEIGHTS = np.array([50, 14, 6, 8, 7, 4, 4, 3, 3, 1], dtype=float)
NAMES = (
    "DE LA REPUBLIQUE",
    "DU GENERAL DE GAULLE",
    "JEAN JAURES",
    "VICTOR HUGO",
    "PASTEUR",
    "DE LA GARE",
    "DU MOULIN",
    "DES ECOLES",
    "GAMBETTA",
    "FOCH",
    "DE PARIS",
    "NATIONALE",
    "DU COMMERCE",
    "DES ARTISANS",
    "DE L INDUSTRIE",
)
ND = "[ND]"


def header(vintage: int) -> list[str]:
    return [*COLUMNS, NAF25_COLUMN] if vintage >= 2025 else list(COLUMNS)


def _luhn_digit(digits: np.ndarray) -> np.ndarray:
    """Check digit completing each row of digits into a Luhn-valid number."""
    width = digits.shape[1]
    doubled = ((width - np.arange(width)) % 2) == 1  # positions doubled once the digit is added
    values = np.where(doubled, digits * 2, digits)
    values = np.where(values > 9, values - 9, values)
    return (10 - values.sum(axis=1) % 10) % 10


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers) % 10


def identifiers(index: np.ndarray, nic: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique Luhn-valid SIREN for unit numbers ``index`` and NIC for sequence numbers."""
    span = 90_000_000
    base = 10_000_000 + (48_271 * index.astype(np.int64) + 1_234_567 * (seed % 97 + 1)) % span
    siren = base * 10 + _luhn_digit(_digits(base, 8))
    prefix = siren * 10_000 + nic
    siret = prefix * 10 + _luhn_digit(_digits(prefix, 13))
    return siren, siret


def _dates(start: np.ndarray, end: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    span = np.maximum((end - start).astype(int), 0)
    return start + np.floor(rng.random(len(start)) * (span + 1)).astype("timedelta64[D]")


def write_sirene(
    world: World, positions: np.ndarray, vintage: int, out_dir: Path, scale: float = 1.0
) -> Path:
    """Write the simulated establishment stock of 1 December ``vintage``."""
    communes = world.communes
    t = world.traits
    naf = NAF.split()
    codes_naf = np.array(naf[0::2], dtype=object)
    weights = np.array(naf[1::2], dtype=float)
    weights /= weights.sum()
    path = out_dir / f"StockEtablissement_utf8_{vintage}.zip"
    sink = tx.CsvSink(
        path,
        header(vintage),
        separator=",",
        member="StockEtablissement_utf8.csv",
        zip_date=(min(vintage + 1, 2107), 1, 1, 3, 0, 0),
        compresslevel=1,
    )
    stock_day = np.datetime64(f"{vintage}-11-30")
    upper = ascii_upper(communes["nom"]).to_numpy()
    deps = communes["dep"].to_numpy()
    pop = world.pop(vintage)
    units = 0
    for dep in sorted({deps[p] for p in positions}):
        chosen = np.sort(positions[deps[positions] == dep])
        rng = stream(world.seed, "sirene", vintage, dep)
        lam = PER_INHABITANT * pop[chosen] * (0.5 + 0.5 * t["jobs_ratio"][chosen])
        lam *= t["commerce"][chosen] * scale
        commune = np.repeat(chosen, rng.poisson(np.maximum(lam, 0)))
        n = len(commune)
        if not n:
            continue
        secondary = rng.random(n) < 0.2
        secondary[0] = False
        heads = np.flatnonzero(~secondary)
        unit = np.empty(n, dtype=np.int64)
        unit[heads] = units + np.arange(len(heads))
        unit[secondary] = unit[heads[rng.integers(0, len(heads), secondary.sum())]]
        units += len(heads)
        order = np.lexsort((np.arange(n), secondary, unit))
        rank = np.arange(n) - np.searchsorted(unit[order], unit[order])
        sequence = np.empty(n, dtype=np.int64)
        sequence[order] = rank + 1
        siren, siret = identifiers(unit, sequence, world.seed)
        age = np.minimum(rng.exponential(12.0, n), 60)
        created = stock_day - (age * 365.25).astype("timedelta64[D]")
        closed = rng.random(n) < np.clip(0.2 + age / 60, 0, 0.8)
        closed[0] = False
        change = np.where(closed | (rng.random(n) < 0.3), _dates(created, stock_day, rng), created)
        treated = _dates(change, stock_day, rng)
        treated[0] = stock_day
        seconds = rng.integers(0, 86_400, n).astype("timedelta64[s]")
        stamp = pa.array(treated.astype("datetime64[s]") + seconds)
        tranche = np.array(TRANCHES, dtype=object)[
            rng.choice(len(TRANCHES), n, p=TRANCHE_WEIGHTS / TRANCHE_WEIGHTS.sum())
        ]
        tranche = np.where(closed & (rng.random(n) < 0.7), "NN", tranche)
        tranche = np.where(closed & (tranche == "NN") & (rng.random(n) < 0.3), "", tranche)
        counted = ~np.isin(tranche, ("NN", ""))
        activity = codes_naf[rng.choice(len(codes_naf), n, p=weights)]
        farm = rng.random(n) < 0.12 * (1 - t["urban"][commune]) ** 2
        activity = np.where(farm, "01.11Z", activity)
        code = communes["code"].to_numpy()[commune].astype(object)
        for parent in ARRONDISSEMENTS:
            mask = code == parent
            if mask.any():
                arms, shares = split_weights(parent, world.seed)
                code[mask] = np.array(arms, dtype=object)[
                    rng.choice(len(arms), mask.sum(), p=shares)
                ]
        partial = rng.random(n) < 0.04
        located = ~closed & (rng.random(n) < 0.85)
        x, y = sample_points(commune, rng, crs="projected", decimals=1)
        number = np.minimum(rng.geometric(0.05, n), 300)
        voie = rng.choice(len(STREETS), n, p=STREET_WEIGHTS / STREET_WEIGHTS.sum())
        street = rng.integers(0, len(NAMES), n)
        unique, inverse = np.unique(code.astype(str), return_inverse=True)
        postal = postal_codes(unique)[inverse]
        address_id = pc.binary_join_element_wise(
            tx.text(code), tx.padded(street * 37 + 10, 4), tx.padded(number, 5), "_"
        )
        hidden = partial
        empty = tx.constant("", n)
        columns = [
            tx.padded(siren, 9),
            tx.padded(siret % 100_000, 5),
            tx.padded(siret, 14),
            tx.text(np.where(partial, "P", "O")),
            tx.dates(created),
            tx.text(tranche),
            tx.blank(tx.constant(str(vintage - 2), n), ~counted),
            empty,
            pc.strftime(stamp, format="%Y-%m-%dT%H:%M:%S"),
            tx.text(np.where(secondary, "false", "true")),
            tx.integers(1 + rng.poisson(0.5, n) + closed),
            empty,
            tx.blank(tx.integers(number), hidden, ND),
            tx.blank(tx.text(np.where(rng.random(n) < 0.02, "B", "")), hidden, ND),
            empty,
            empty,
            tx.blank(tx.text(np.array(STREETS, dtype=object)[voie]), hidden, ND),
            tx.blank(tx.text(np.array(NAMES, dtype=object)[street]), hidden, ND),
            tx.text(postal),
            tx.text(upper[commune]),
            empty,
            empty,
            tx.text(code),
            empty,
            empty,
            empty,
            empty,
            tx.blank(tx.blank(address_id, rng.random(n) < 0.3), hidden, ND),
            tx.blank(tx.fixed(x, 1, mask=~located), hidden & located, ND),
            tx.blank(tx.fixed(y, 1, mask=~located), hidden & located, ND),
            *[empty] * 14,
            tx.dates(change),
            tx.text(np.where(closed, "F", "A")),
            empty,
            empty,
            empty,
            empty,
            tx.text(activity),
            tx.constant("NAFRev2", n),
            tx.text(np.where(counted, "O", "N")),
        ]
        if vintage >= 2025:  # NAF 2025 codes are not simulated (no offline correspondence)
            columns.append(empty)
        sink.write(columns)
    sink.close()
    return path
