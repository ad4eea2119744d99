"""Simulated DVF (demandes de valeurs foncières): Etalab geo-DVF and raw DGFiP files.

Both formats describe the same simulated mutations of a year:

- ``dvf_geo``: ``geo-dvf-YYYY-full.csv``, Etalab's 40 columns (``id_mutation,date_mutation,…,
  longitude,latitude``), ``,`` separator, UTF-8, LF and no line end after the last row;
  ``id_mutation`` ``YYYY-k``, ISO dates, ``numero_disposition`` ``000001``, values written as
  the shortest decimal (``346.5``), coordinates (6 decimals) inside the commune.
- ``dvf_dgfip``: ``ValeursFoncieres-YYYY.txt.zip`` holding ``ValeursFoncieres-YYYY.txt``, the
  DGFiP layout: 43 columns separated by ``|``, CRLF, decimal comma (``829530,00``), dates
  ``dd/mm/yyyy``, first column ``Code service CH`` up to 2021 and ``Identifiant de document``
  from 2022 (both empty), ``Code postal`` and ``Code commune`` without leading zeros (``6000``,
  ``88``), ``Code departement`` on 2 characters (``06``), dependencies with ``0`` surface.

A mutation is a house (the main parcel split in "sols" and "jardins" lines, crossed with the
house and its dependencies, plus extra land parcels), an apartment (apartment and cellar /
parking lots, lot numbers repeated on every line, Carrez surface on the apartment's lot), a
commercial local, or land (several parcels, possibly "Vente terrain à bâtir"). Every line of a
mutation shares its id, date, nature and value. No data for Alsace-Moselle (57, 67, 68) and
Mayotte, as in DVF. Volumes follow the dwellings (about 4 million lines for France at
``scale=1``), prices the commune's price level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
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

EXCLUDED_DEPS = {"57", "67", "68", "976"}
MUTATIONS_PER_DWELLING = 0.042
VOLUME = {
    2014: 0.85,
    2015: 0.9,
    2016: 0.95,
    2017: 1.05,
    2018: 1.05,
    2019: 1.1,
    2020: 0.98,
    2021: 1.15,
    2022: 1.08,
    2023: 0.88,
    2024: 0.78,
    2025: 0.8,
}
PRICE = {
    2014: 0.82,
    2015: 0.81,
    2016: 0.82,
    2017: 0.84,
    2018: 0.86,
    2019: 0.89,
    2020: 0.93,
    2021: 1.0,
    2022: 1.05,
    2023: 1.03,
    2024: 0.99,
    2025: 0.99,
}
HOUSE, FLAT, SHOP, LAND = 0, 1, 2, 3
LOCALS = {
    1: "Maison",
    2: "Appartement",
    3: "Dépendance",
    4: "Local industriel. commercial ou assimilé",
}
CULTURES = {
    "S": "sols",
    "J": "jardins",
    "AG": "terrains d'agrément",
    "T": "terres",
    "P": "prés",
    "BT": "taillis simples",
    "BR": "futaies résineuses",
    "L": "landes",
    "AB": "terrains a bâtir",
    "VI": "vignes",
    "BF": "futaies feuillues",
}
RURAL = np.array(["T", "P", "BT", "BR", "L", "BF", "VI"])
STREETS = ("RUE", "AV", "BD", "CHE", "RTE", "IMP", "ALL", "PL", "RES", "LOT")
STREET_WEIGHTS = np.array([0.45, 0.12, 0.05, 0.1, 0.08, 0.06, 0.05, 0.03, 0.03, 0.03])
NAMES = (
    "DE LA REPUBLIQUE",
    "DU GENERAL DE GAULLE",
    "JEAN JAURES",
    "VICTOR HUGO",
    "PASTEUR",
    "DE L EGLISE",
    "DES ECOLES",
    "DE LA GARE",
    "DU MOULIN",
    "DES TILLEULS",
    "DE LA PAIX",
    "DU 8 MAI 1945",
    "GAMBETTA",
    "DES LILAS",
    "DU STADE",
    "DE LA MAIRIE",
    "DES ROSES",
    "JULES FERRY",
    "DE LA LIBERATION",
    "DU CHATEAU",
    "DES PRES",
    "DE PARIS",
    "DU CENTRE",
    "DES ACACIAS",
    "DE LA FONTAINE",
    "SAINT MARTIN",
    "DES VIGNES",
    "DU BOIS",
    "FOCH",
)
PLACES = (
    "LE BOURG",
    "LES CHAMPS",
    "LA CROIX",
    "LE MOULIN",
    "LES PRES",
    "CHAMP DE MORT",
    "LE VILLAGE",
    "LES TERRES",
    "LA FORET",
    "SUR LA RECULAZ",
    "AU BIOLAY",
    "LES COMBES",
)
GEO_HEADER = tx.names(
    "id_mutation,date_mutation,numero_disposition,nature_mutation,valeur_fonciere,"
    "adresse_numero,adresse_suffixe,adresse_nom_voie,adresse_code_voie,code_postal,"
    "code_commune,nom_commune,code_departement,ancien_code_commune,ancien_nom_commune,"
    "id_parcelle,ancien_id_parcelle,numero_volume,lot1_numero,lot1_surface_carrez,lot2_numero,"
    "lot2_surface_carrez,lot3_numero,lot3_surface_carrez,lot4_numero,lot4_surface_carrez,"
    "lot5_numero,lot5_surface_carrez,nombre_lots,code_type_local,type_local,"
    "surface_reelle_bati,nombre_pieces_principales,code_nature_culture,nature_culture,"
    "code_nature_culture_speciale,nature_culture_speciale,surface_terrain,longitude,latitude"
)
ORDINALS = ("1er", "2eme", "3eme", "4eme", "5eme")


def raw_header(year: int) -> list[str]:
    """The 43 columns of ``ValeursFoncieres-YYYY.txt`` (first one depends on the edition)."""
    first = "Code service CH" if year <= 2021 else "Identifiant de document"
    lots = [x for k in ORDINALS for x in (f"{k} lot", f"Surface Carrez du {k} lot")]
    return [
        first,
        "Reference document",
        *[f"{i} Articles CGI" for i in range(1, 6)],
        "No disposition",
        "Date mutation",
        "Nature mutation",
        "Valeur fonciere",
        "No voie",
        "B/T/Q",
        "Type de voie",
        "Code voie",
        "Voie",
        "Code postal",
        "Commune",
        "Code departement",
        "Code commune",
        "Prefixe de section",
        "Section",
        "No plan",
        "No Volume",
        *lots,
        "Nombre de lots",
        "Code type local",
        "Type local",
        "Identifiant local",
        "Surface reelle bati",
        "Nombre pieces principales",
        "Nature culture",
        "Nature culture speciale",
        "Surface terrain",
    ]


def _mutations(
    world: World, chosen: np.ndarray, year: int, scale: float, rng: np.random.Generator
) -> pd.DataFrame:
    t = world.traits
    pop = world.pop(year)[chosen]
    dwellings = (
        pop / t["household_size"][chosen] / (1 - t["secondary"][chosen] - t["vacancy"][chosen])
    )
    lam = dwellings * MUTATIONS_PER_DWELLING * VOLUME.get(year, 0.9) * scale
    count = rng.poisson(np.maximum(lam, 0))
    commune = np.repeat(chosen, count)
    n = len(commune)
    flats = t["apartments"][commune]
    urban = t["urban"][commune]
    p_land = 0.17 * (1 - 0.6 * urban)
    p_shop = np.full(n, 0.05)
    p_flat = (1 - p_land - p_shop) * np.clip(flats * 1.1, 0, 1)
    draw = rng.random(n)
    kind = np.where(
        draw < p_flat,
        FLAT,
        np.where(
            draw < p_flat + p_shop, SHOP, np.where(draw < p_flat + p_shop + p_land, LAND, HOUSE)
        ),
    )
    nature = np.full(n, "Vente", dtype=object)
    other = rng.random(n)
    future = ((kind == FLAT) & (other < 0.08 * urban + 0.01)) | ((kind == HOUSE) & (other < 0.02))
    nature[future] = "Vente en l'état futur d'achèvement"
    nature[(kind == LAND) & (other < 0.15)] = "Vente terrain à bâtir"
    nature[(kind == LAND) & (other > 0.97)] = "Echange"
    nature[(kind == LAND) & (other > 0.995)] = "Expropriation"
    nature[(kind != LAND) & (other > 0.994)] = "Adjudication"
    nature[(kind != LAND) & (other > 0.997)] = "Echange"
    start = np.datetime64(f"{year}-01-01")
    days = (np.datetime64(f"{year + 1}-01-01") - start).astype(int)
    date = start + rng.integers(0, days, n).astype("timedelta64[D]")
    weekday = (date.astype("datetime64[D]").astype(int) + 3) % 7  # 0 = Monday
    friday = date - np.where(weekday >= 5, weekday - 4, 0).astype("timedelta64[D]")
    monday = date + np.where(weekday >= 5, 7 - weekday, 0).astype("timedelta64[D]")
    date = np.where(friday < start, monday, friday)  # deeds are signed on working days
    frame = pd.DataFrame({"commune": commune, "kind": kind, "nature": nature, "date": date})
    frame["urban"] = urban
    frame["price"] = t["price"][commune] * PRICE.get(year, 1.0) * np.exp(rng.normal(0, 0.2, n))
    return frame.sort_values(["commune", "date"], kind="stable").reset_index(drop=True)


def _lines(frame: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Expand mutations into DVF lines (see the module docstring)."""
    n = len(frame)
    kind = frame["kind"].to_numpy()
    house, flat, shop, land = (kind == k for k in (HOUSE, FLAT, SHOP, LAND))
    # locals of the mutation: (type code, surface, rooms)
    second_flat = flat & (rng.random(n) < 0.08)
    annexes = np.where(house, rng.binomial(2, 0.35, n), 0) + np.where(
        flat, rng.binomial(3, 0.4, n), 0
    )
    annexes += np.where(shop, rng.binomial(1, 0.3, n), 0)
    main_locals = np.where(land, 0, 1 + second_flat)
    n_locals = main_locals + annexes
    cultures = np.where(house, 1 + (rng.random(n) < 0.5), np.where(flat, 1, 1))
    extra = np.where(house, rng.poisson(0.5, n), 0) + np.where(land, rng.poisson(1.4, n), 0)
    main = cultures * np.maximum(n_locals, 1)
    total = main + extra
    mutation = np.repeat(np.arange(n), total)
    position = np.arange(len(mutation)) - np.repeat(np.cumsum(total) - total, total)
    is_main = position < main[mutation]
    width = np.maximum(n_locals, 1)[mutation]
    local_index = np.where(is_main, position % width, -1)
    culture_index = np.where(is_main, position // width, -1)
    has_local = is_main & (n_locals[mutation] > 0)
    m_kind = kind[mutation]
    main_local = has_local & (local_index < main_locals[mutation])
    code_type = np.where(
        ~has_local,
        0,
        np.where(~main_local, 3, np.where(m_kind == HOUSE, 1, np.where(m_kind == FLAT, 2, 4))),
    )
    # surfaces per mutation (apartment, house, shop) and land
    area_main = np.where(
        flat,
        np.clip(rng.lognormal(np.log(55), 0.4, n), 12, 220),
        np.where(
            shop,
            np.clip(rng.lognormal(np.log(150), 0.8, n), 15, 3000),
            np.clip(rng.lognormal(np.log(100), 0.3, n), 30, 350),
        ),
    )
    area_main = np.round(area_main)
    rooms = np.clip(np.round(area_main / np.where(flat, 20, 24) + rng.normal(0, 0.6, n)), 1, 12)
    urban = frame["urban"].to_numpy()
    plot = np.round(np.clip(rng.lognormal(np.log(900 - 550 * urban), 0.6, n), 60, 20_000))
    garden = np.round(plot * rng.uniform(0.3, 0.8, n))
    parcels = np.round(np.clip(rng.lognormal(np.log(2500), 1.1, len(mutation)), 20, 200_000))
    building_land = frame["nature"].to_numpy() == "Vente terrain à bâtir"
    parcels = np.where(building_land[mutation], np.round(parcels / 4), parcels)
    # culture and land surface of each line
    culture = np.full(len(mutation), "", dtype=object)
    surface_land = np.full(len(mutation), np.nan)
    main_house = is_main & np.isin(m_kind, (HOUSE, SHOP))
    first = main_house & (culture_index == 0)
    second = main_house & (culture_index == 1)
    culture[first & ((m_kind == HOUSE) | (rng.random(len(mutation)) < 0.5))] = "S"
    surface_land[culture == "S"] = (plot - garden)[mutation][culture == "S"]
    culture[second] = np.where(rng.random(second.sum()) < 0.8, "J", "AG")
    surface_land[second] = garden[mutation][second]
    bare = ~is_main | (m_kind == LAND)
    rural = RURAL[rng.integers(0, len(RURAL), len(mutation))]
    culture[bare] = np.where(building_land[mutation][bare], "AB", rural[bare])
    surface_land[bare] = parcels[bare]
    # values
    price = frame["price"].to_numpy()
    value = np.where(house, area_main * price + plot * 4, 0.0)
    value = np.where(
        flat, area_main * price * (1.0 + 0.1 * urban) * (1 + second_flat) + annexes * 9000, value
    )
    value = np.where(shop, area_main * price * 0.7, value)
    land_value = pd.Series(np.where(bare, parcels, 0.0)).groupby(mutation).sum().to_numpy()
    per_m2 = np.where(building_land, 0.06 * price, 0.5 + 0.0003 * price)
    value = np.where(land, land_value * per_m2, value + np.where(house, land_value * 0.6, 0))
    future = frame["nature"].to_numpy() == "Vente en l'état futur d'achèvement"
    value = value * np.where(future, 1.25, 1.0)
    rounding = rng.random(n)
    value = np.where(
        rounding < 0.65,
        np.round(value, -3),
        np.where(rounding < 0.9, np.round(value, -2), np.round(value * 2) / 2),
    )
    value = np.clip(value, 1, 9.9e9)
    # lots (apartments and their annexes): numbers repeated on every line of the mutation
    lots = np.where(flat, n_locals, 0).clip(0, 5)
    lot_numbers = rng.integers(1, 600, (n, 5))
    carrez = np.where(rng.random(n) < 0.7, np.round(area_main * rng.uniform(0.92, 1, n), 2), np.nan)
    extra_disposition = (extra > 0) & (rng.random(n) < 0.05)
    disposition = np.where(~is_main & extra_disposition[mutation], 2, 1)
    return {
        "mutation": mutation,
        "is_main": is_main,
        "code_type": code_type,
        "surface": np.where(code_type == 3, 0, np.where(main_local, area_main[mutation], np.nan)),
        "rooms": np.where(code_type == 3, 0, np.where(main_local, rooms[mutation], np.nan)),
        "culture": culture,
        "surface_land": surface_land,
        "value": value[mutation],
        "lots": lots[mutation],
        "lot_numbers": lot_numbers[mutation],
        "carrez": np.where(flat[mutation], carrez[mutation], np.nan),
        "disposition": disposition,
        "local_index": local_index,
    }


def _places(
    world: World, frame: pd.DataFrame, lines: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Addresses, parcels and coordinates (one parcel per main part, one per extra line)."""
    n = len(frame)
    mutation = lines["mutation"]
    commune = frame["commune"].to_numpy()
    code = world.communes["code"].to_numpy()[commune].astype(object)
    for parent in ARRONDISSEMENTS:
        mask = code == parent
        if mask.any():
            arms, shares = split_weights(parent, world.seed)
            code[mask] = np.array(arms, dtype=object)[rng.choice(len(arms), mask.sum(), p=shares)]
    located = (frame["kind"].to_numpy() != LAND) & (rng.random(n) < 0.9)
    street = rng.choice(len(STREETS), n, p=STREET_WEIGHTS / STREET_WEIGHTS.sum())
    name = rng.integers(0, len(NAMES), n)
    place = rng.integers(0, len(PLACES), n)
    number = np.minimum(rng.geometric(0.04, n), 250)
    suffix = np.where(rng.random(n) < 0.03, "B", "")
    voie_code = np.where(
        located,
        np.char.zfill((name * 35 + 40).astype(str), 4),
        np.char.add("B", np.char.zfill((place * 7 + 5).astype(str), 3)),
    )
    parcel_key = np.where(lines["is_main"], mutation, -1 - np.arange(len(mutation)))
    _, parcel = np.unique(parcel_key, return_inverse=True)
    n_parcels = parcel.max() + 1 if len(parcel) else 0
    owner = np.zeros(n_parcels, dtype=int)
    owner[parcel] = commune[mutation]
    x, y = sample_points(owner, rng, crs="4326", decimals=6)
    missing = rng.random(n_parcels) < 0.01
    letters = np.array(list("ABCDEFGHIKLMNOPRSTUVWXYZ"), dtype=object)
    section = np.where(
        rng.random(n_parcels) < 0.5,
        letters[rng.integers(0, 24, n_parcels)],
        letters[rng.integers(0, 24, n_parcels)] + letters[rng.integers(0, 24, n_parcels)],
    )
    plan = rng.integers(1, 2500, n_parcels)
    return {
        "code": code,
        "located": located,
        "street": np.array(STREETS, dtype=object)[street],
        "name": np.where(
            located, np.array(NAMES, dtype=object)[name], np.array(PLACES, dtype=object)[place]
        ),
        "number": number,
        "suffix": suffix,
        "voie_code": voie_code,
        "parcel": parcel,
        "x": x[parcel],
        "y": y[parcel],
        "xy_missing": missing[parcel],
        "section": section[parcel],
        "plan": plan[parcel],
    }


def write_dvf(
    world: World,
    positions: np.ndarray,
    year: int,
    out_dir: Path,
    *,
    geo: bool,
    raw: bool,
    scale: float = 1.0,
) -> dict[str, Path]:
    """Write the geo-DVF and/or raw DGFiP file of ``year`` (the same simulated mutations)."""
    communes = world.communes
    deps = communes["dep"].to_numpy()
    written: dict[str, Path] = {}
    geo_sink = raw_sink = None
    if geo:
        written["dvf_geo"] = out_dir / f"geo-dvf-{year}-full.csv"
        geo_sink = tx.CsvSink(written["dvf_geo"], GEO_HEADER, separator=",", final_eol=False)
    if raw:
        written["dvf_dgfip"] = out_dir / f"ValeursFoncieres-{year}.txt.zip"
        raw_sink = tx.CsvSink(
            written["dvf_dgfip"],
            raw_header(year),
            separator="|",
            eol="\r\n",
            member=f"ValeursFoncieres-{year}.txt",
            zip_date=(min(year + 1, 2107), 4, 6, 0, 30, 43),
            compresslevel=1,
        )
    counter = 0
    names = communes["nom"].to_numpy()
    for dep in sorted({deps[p] for p in positions} - EXCLUDED_DEPS):
        chosen = np.sort(positions[deps[positions] == dep])
        rng = stream(world.seed, "dvf", year, dep)
        frame = _mutations(world, chosen, year, scale, rng)
        if frame.empty:
            continue
        lines = _lines(frame, rng)
        place = _places(world, frame, lines, rng)
        m = lines["mutation"]
        ids = counter + 1 + m
        counter += len(frame)
        cols = _common_columns(frame, lines, place, names)
        if geo_sink is not None:
            geo_sink.write(_geo_row(year, ids, cols, lines, place, dep))
        if raw_sink is not None:
            raw_sink.write(_raw_row(cols, lines, place, dep))
    for sink in (geo_sink, raw_sink):
        if sink is not None:
            sink.close()
    return written


def _common_columns(frame: pd.DataFrame, lines: dict, place: dict, names: np.ndarray) -> dict:
    m = lines["mutation"]
    located = place["located"][m]
    code = place["code"][m]
    unique, inverse = np.unique(code.astype(str), return_inverse=True)
    commune = frame["commune"].to_numpy()[m]
    return {
        "unique": (unique, inverse),
        "date": frame["date"].to_numpy()[m],
        "nature": tx.text(frame["nature"].to_numpy()[m]),
        "disposition": tx.padded(lines["disposition"], 6),
        "number": tx.integers(place["number"][m], ~located),
        "suffix": tx.blank(tx.text(place["suffix"][m]), ~located),
        "street": tx.blank(tx.text(place["street"][m]), ~located),
        "name": tx.text(place["name"][m]),
        "voie_code": tx.text(place["voie_code"][m]),
        "postal": postal_codes(unique)[inverse],
        "code": code,
        "commune": commune,
        "nom": names[commune],
        "lot_mask": [lines["lots"] <= k for k in range(5)],
        "type": tx.text(np.array(["", *LOCALS.values()], dtype=object)[lines["code_type"]]),
        "type_code": tx.integers(lines["code_type"], lines["code_type"] == 0),
        "culture": tx.text(lines["culture"]),
        "no_culture": lines["culture"] == "",
    }


def _lot_columns(cols: dict, lines: dict, comma: bool) -> list[pa.Array]:
    out = []
    for k in range(5):
        number = tx.integers(lines["lot_numbers"][:, k], cols["lot_mask"][k])
        carrez = lines["carrez"] if k == 0 else np.full(len(lines["carrez"]), np.nan)
        missing = np.isnan(carrez) | cols["lot_mask"][k]
        value = (
            tx.fixed(np.nan_to_num(carrez), 2, comma=True, mask=missing)
            if comma
            else tx.shortest(np.nan_to_num(carrez), missing)
        )
        out += [number, value]
    return out


def _geo_row(year: int, ids: np.ndarray, cols: dict, lines: dict, place: dict, dep: str) -> list:
    n = len(ids)
    empty = tx.constant("", n)
    code = tx.text(cols["code"])
    street = pa.array(
        np.where(place["located"][lines["mutation"]], place["street"][lines["mutation"]] + " ", ""),
        pa.string(),
    )
    parcel = pc.binary_join_element_wise(
        code,
        "000",
        pc.utf8_lpad(tx.text(place["section"]), 2, "0"),
        tx.padded(place["plan"], 4),
        "",
    )
    no_xy = place["xy_missing"]
    labels = pd.Series(lines["culture"]).map(CULTURES).fillna("").to_numpy(dtype=object)
    return [
        pc.binary_join_element_wise(f"{year}-", tx.integers(ids), ""),
        tx.dates(cols["date"]),
        cols["disposition"],
        cols["nature"],
        tx.shortest(lines["value"]),
        cols["number"],
        cols["suffix"],
        pc.binary_join_element_wise(street, cols["name"], ""),
        cols["voie_code"],
        tx.text(cols["postal"]),
        code,
        tx.text(cols["nom"]),
        tx.constant(dep, n),
        empty,
        empty,
        tx.text(parcel),
        empty,
        empty,
        *_lot_columns(cols, lines, comma=False),
        tx.integers(lines["lots"]),
        cols["type_code"],
        cols["type"],
        tx.integers(
            np.nan_to_num(lines["surface"]), np.isnan(lines["surface"]) | (lines["code_type"] == 3)
        ),
        tx.integers(np.nan_to_num(lines["rooms"]), np.isnan(lines["rooms"])),
        cols["culture"],
        tx.text(labels),
        empty,
        empty,
        tx.integers(np.nan_to_num(lines["surface_land"]), cols["no_culture"]),
        tx.shortest(place["x"], no_xy),
        tx.shortest(place["y"], no_xy),
    ]


def _raw_row(cols: dict, lines: dict, place: dict, dep: str) -> list:
    n = len(lines["mutation"])
    empty = tx.constant("", n)
    unique, inverse = cols["unique"]
    commune = pd.Series(unique).str[2:].str.lstrip("0").replace("", "0").to_numpy()[inverse]
    names, name_at = np.unique(cols["nom"].astype(str), return_inverse=True)
    upper = ascii_upper(pd.Series(names), apostrophe="'").to_numpy()[name_at]
    french = tx.dates(cols["date"], "%d/%m/%Y")
    postal = pd.Series(postal_codes(unique)).str.lstrip("0").to_numpy()[inverse]
    return [
        *[empty] * 7,
        cols["disposition"],
        french,
        cols["nature"],
        tx.fixed(lines["value"], 2, comma=True),
        cols["number"],
        cols["suffix"],
        cols["street"],
        cols["voie_code"],
        cols["name"],
        tx.text(postal),
        tx.text(upper),
        tx.constant(dep, n),
        tx.text(commune),
        empty,
        tx.text(place["section"]),
        tx.integers(place["plan"]),
        empty,
        *_lot_columns(cols, lines, comma=True),
        tx.integers(lines["lots"]),
        cols["type_code"],
        cols["type"],
        empty,
        tx.integers(np.nan_to_num(lines["surface"]), np.isnan(lines["surface"])),
        tx.integers(np.nan_to_num(lines["rooms"]), np.isnan(lines["rooms"])),
        cols["culture"],
        empty,
        tx.integers(np.nan_to_num(lines["surface_land"]), cols["no_culture"]),
    ]
