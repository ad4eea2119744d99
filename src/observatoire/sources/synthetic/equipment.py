"""Simulated Base permanente des équipements (BPE, INSEE): geolocated equipments and counts.

- ``bpe_xy``: ``bpeYY_ensemble_xy_csv.zip`` holding ``bpeYY_ensemble_xy.csv``, the layout of
  INSEE's geolocated file (``REG;DEP;DEPCOM;DCIRIS;AN;TYPEQU;LAMBERT_X;LAMBERT_Y;QUALITE_XY``),
  ``;`` separator, UTF-8, one row per equipment. Coordinates are drawn inside the commune's
  shape in Lambert 93 (EPSG:2154; UTM in the overseas départements, as INSEE does: see
  :data:`~observatoire.sources.synthetic._common.EPSG_BY_DEP`), 2 decimals; about 1 % are not
  geolocated (empty coordinates, ``QUALITE_XY`` = ``Non géolocalisé``).
- ``bpe_com``: ``bpeYY_ensemble_csv.zip`` with ``bpeYY_ensemble.csv``
  (``REG;DEP;DEPCOM;DCIRIS;AN;TYPEQU;NB_EQUIP``), the same equipments counted by IRIS and type.
- ``bpe_gammes``: ``BPE_gammes_AAAA.xlsx``, the gamme workbook of the vintage, one sheet
  ``Gammes``: two title lines (``Gammes d'équipements de la base permanente des équipements``,
  ``Millésime AAAA — données simulées``), a warning line, an empty line, then the header
  ``TYPEQU_REGROUPEMENT, LIBELLE_TYPEQU_REGROUPEMENT, TYPEQU, LIBELLE_TYPEQU, GAMME,
  LIBELLE_SDOM`` and one row per simulated type. The composition follows each type's location
  logic (:func:`gamme_table`): proximity, communal and rural logics (``p``, ``c``, ``r``) →
  ``Gamme de proximité``, ``i`` → ``Gamme intermédiaire``, ``s`` → ``Gamme supérieure``;
  tourism types (``t``) belong to no gamme and are not listed (as in INSEE's tables). As INSEE
  does, some types are merged before the gammes are computed: écoles maternelles ``C101`` +
  ``C102`` (regroupement ``C1_MAT``) and élémentaires ``C104`` + ``C105`` (``C1_ELE``); every
  other type is its own regroupement. No label is invented: ``LIBELLE_TYPEQU`` and
  ``LIBELLE_TYPEQU_REGROUPEMENT`` are filled only from the shipped dictionary
  (``catalogue/bpe_types.yaml``: the four school types and their two regroupements), and
  ``LIBELLE_SDOM`` is empty. The simulated composition is the same every vintage (the logics
  are fixed); INSEE's real one is recomputed every vintage.

Paris, Lyon and Marseille equipments carry arrondissement codes (``75108``), as in INSEE's
files. Volumes: about 2.5 million equipments for France at ``scale=1``; each type follows its
own logic (proximity types everywhere in proportion to the population, intermediate and
superior types in larger communes and employment poles, tourism types where secondary homes
are many). The type list is a representative subset of the BPE nomenclature (before the 2023
overhaul): it is not the complete list of a vintage.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from observatoire.sources.synthetic import _textio as tx
from observatoire.sources.synthetic._common import (
    ARRONDISSEMENTS,
    World,
    sample_points,
    sigmoid,
    split_weights,
    stream,
)

NATIONAL_EQUIPMENTS = 2_500_000
# TYPEQU, national count (thousands, order of magnitude), location logic
TYPES = """
A101 3 s A104 3.1 i A105 .04 s A106 .2 s A107 .3 s A108 .2 s A109 .3 s A120 .3 s A121 1 i
A122 .5 s A123 .1 s A124 .3 s A125 .1 s A203 33 i A205 .5 s A206 7 i A207 7 p A208 6 p
A301 60 p A302 7 i A303 10 i A304 12 i A401 160 p A402 70 p A403 60 p A404 60 p A405 60 p
A406 25 p A501 85 p A502 8 i A503 8 s A504 170 p A505 40 i A506 4 i A507 60 p B101 2.2 s
B102 10 i B103 4 s B201 6 i B202 20 p B203 48 p B204 18 i B205 1.5 s B206 3 i B301 10 i
B302 60 s B303 20 i B304 10 s B305 10 i B306 12 i B307 8 s B308 4 s B309 8 i B310 8 s
B311 10 s B312 15 i B313 12 i B315 11 i B316 3 i C101 14 c C102 1.2 r C104 31 c C105 3 r
C201 7 i C301 2.5 s C302 1.5 s C303 .2 r C304 .3 s C305 .3 s C401 1.5 s C402 .5 s C403 .5 s
C409 1 s C501 .5 s C502 .3 s C503 .3 s C504 .3 s C509 1 s C601 3 s C602 1 s C603 1 s
C604 2 s C605 1 s C609 1 s D101 1.3 s D102 1.5 s D103 .7 s D104 .6 s D106 .7 s D107 .5 s
D108 2.5 s D109 3 s D111 1 s D112 .3 s D113 2 i D201 60 p D202 3 s D203 5 s D204 3 s
D205 2 s D206 6 s D207 4 s D208 6 s D209 3 s D210 4 s D211 5 s D212 3 s D213 3 s D214 3 s
D221 37 i D231 7 i D232 100 p D233 70 p D235 20 i D236 3 s D237 13 i D238 5 s D239 4 s
D240 3 s D242 5 s D243 10 s D301 21 i D302 4 s D303 6 i D304 1 s D305 6 s D401 8 i D402 1 s
D403 1.5 s D404 2 s D405 1 s D502 10 i D503 2 s D504 1 s D601 2 s D602 1 s D603 1.5 s
D604 1.5 s D605 1 s D606 1 s D701 2 s D702 1 s D703 1 s D709 1 s E101 25 i E102 .2 s
E103 .3 s E107 .3 s E108 1.5 i E109 1.5 i F101 4 s F102 20 p F103 30 p F104 4 i F105 .4 t
F106 6 r F107 4 i F108 .7 t F109 5 i F110 .4 s F111 40 p F112 8 i F113 50 p F114 10 i
F116 20 i F117 5 i F118 3 t F119 .5 s F120 9 s F121 15 i F201 2 t F202 .5 t F203 25 r
F303 2 s F304 1.5 s F305 2 s F307 16 c F308 1 s G101 4 s G102 17 t G103 8 t G104 3 t
"""
QUALITY = ("Bonne", "Acceptable", "Mauvaise")
NOT_LOCATED = "Non géolocalisé"
# Gamme of each location logic (tourism types, ``t``, are in no gamme).
GAMME_OF_LOGIC = {
    "p": "Gamme de proximité",
    "c": "Gamme de proximité",
    "r": "Gamme de proximité",
    "i": "Gamme intermédiaire",
    "s": "Gamme supérieure",
}
GAMME_ORDER = ("Gamme de proximité", "Gamme intermédiaire", "Gamme supérieure")
# Types merged before the gammes are computed (INSEE: écoles maternelles, élémentaires).
REGROUPEMENTS = {"C1_MAT": ("C101", "C102"), "C1_ELE": ("C104", "C105")}
GAMME_HEADER = (
    "TYPEQU_REGROUPEMENT",
    "LIBELLE_TYPEQU_REGROUPEMENT",
    "TYPEQU",
    "LIBELLE_TYPEQU",
    "GAMME",
    "LIBELLE_SDOM",
)
GAMME_TITLE = "Gammes d'équipements de la base permanente des équipements"


def equipment_types() -> pd.DataFrame:
    """The simulated types: ``typequ, national (thousands), logic``."""
    words = TYPES.split()
    return pd.DataFrame(
        {
            "typequ": words[0::3],
            "national": np.array(words[1::3], dtype=float),
            "logic": words[2::3],
        }
    )


def _weights(world: World, pop: np.ndarray) -> dict[str, np.ndarray]:
    t = world.traits
    size = np.log10(pop + 1.0)
    area = np.maximum(world.communes["superficie_km2"].to_numpy(float), 0.1)
    return {
        "p": pop,
        "i": pop * sigmoid(2.5 * (size - 3.2)),
        "s": pop * t["jobs_ratio"] * sigmoid(3.0 * (size - 3.9)),
        "t": pop * (0.2 + 8.0 * t["secondary"]),
        "r": np.sqrt(area) * (1.0 - t["urban"]) * sigmoid(2.0 * (size - 2.0)),
        "c": sigmoid(3.0 * (size - 2.4)) * pop**0.6,
    }


def expected_counts(world: World, vintage: int, scale: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Expected number of equipments of each type (columns) in every commune (rows)."""
    types = equipment_types()
    pop = world.pop(vintage)
    weights = _weights(world, pop)
    factor = NATIONAL_EQUIPMENTS / (types["national"].sum() * 1000.0) * scale
    lam = np.empty((world.size, len(types)))
    for j, (national, logic) in enumerate(zip(types["national"], types["logic"], strict=True)):
        w = weights[logic]
        lam[:, j] = national * 1000.0 * factor * w / max(w.sum(), 1e-9)
    return types, lam


def iris_codes(code: np.ndarray, pop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An IRIS code for each item: ``CODE0000`` in small communes, else one of about
    pop/2 500 IRIS (``CODE0101``, ``CODE0102``…)."""
    count = np.where(pop >= 5000, np.maximum(np.round(pop / 2500), 2), 1).astype(int)
    pick = np.floor(rng.random(len(code)) * count).astype(int)
    suffix = np.char.add(
        np.char.zfill((pick // 9 + 1).astype(str), 2), np.char.zfill((pick % 9 + 1).astype(str), 2)
    )
    suffix = np.where(count == 1, "0000", suffix)
    return np.char.add(code.astype(str), suffix)


def _dictionary_labels() -> tuple[dict[str, str], dict[tuple[str, ...], str]]:
    """Type labels and regroupement labels (by member set) of the shipped dictionary."""
    from observatoire.sources.bpe import bpe_catalogue

    types: dict[str, str] = {}
    groups: dict[tuple[str, ...], str] = {}
    for _, entry in sorted(bpe_catalogue()["millesimes"].items()):
        for code, spec in (entry.get("types") or {}).items():
            types.setdefault(str(code), str(spec["libelle"]))
        for label, members in (entry.get("regroupements") or {}).items():
            groups.setdefault(tuple(sorted(members)), str(label))
    return types, groups


def gamme_table() -> pd.DataFrame:
    """The simulated gamme composition: one row per type of a gamme, columns of
    :data:`GAMME_HEADER` (lower case), ordered by gamme, then type (a regroupement's types
    together, at the place of its first type)."""
    types = equipment_types()
    types = types[types["logic"].isin(list(GAMME_OF_LOGIC))].copy()
    types["gamme"] = types["logic"].map(GAMME_OF_LOGIC)
    labels, group_labels = _dictionary_labels()
    group_of = {code: group for group, members in REGROUPEMENTS.items() for code in members}
    types["typequ_regroupement"] = types["typequ"].map(lambda code: group_of.get(code, code))
    for group, members in REGROUPEMENTS.items():
        gammes = set(types.loc[types["typequ"].isin(members), "gamme"])
        if len(gammes) != 1:  # pragma: no cover - a consistency check of TYPES
            raise ValueError(f"regroupement {group} : types de gammes différentes {gammes}")
    types["libelle_typequ_regroupement"] = types["typequ_regroupement"].map(
        lambda group: group_labels.get(tuple(sorted(REGROUPEMENTS.get(group, ()))), "")
    )
    types["libelle_typequ"] = types["typequ"].map(lambda code: labels.get(code, ""))
    types["libelle_sdom"] = ""
    types["rank"] = types["gamme"].map(GAMME_ORDER.index)
    types["first"] = types.groupby("typequ_regroupement")["typequ"].transform("min")
    types = types.sort_values(["rank", "first", "typequ"], kind="stable")
    return types[[c.lower() for c in GAMME_HEADER]].reset_index(drop=True)


def write_gammes(vintage: int, out_dir: Path) -> Path:
    """Write the SIMULATED ``BPE_gammes_AAAA.xlsx`` of a vintage (see the module docstring);
    byte-for-byte reproducible (fixed document and zip dates)."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    stamp = (min(vintage + 1, 2107), 9, 15, 12, 0, 0)
    book = Workbook()
    sheet = book.active
    sheet.title = "Gammes"
    sheet.append([GAMME_TITLE])
    sheet.append([f"Millésime {vintage} — données simulées"])
    sheet.append(["Données simulées (observatoire simuler) : ne pas publier comme réelles."])
    sheet.append([])
    sheet.append(list(GAMME_HEADER))
    table = gamme_table()
    for row in table.itertuples(index=False):
        sheet.append([value or None for value in row])
    book.properties.creator = "observatoire simuler"
    book.properties.title = f"Gammes d'équipements {vintage} (données simulées)"
    book.properties.created = book.properties.modified = datetime.datetime(*stamp)
    buffer = io.BytesIO()
    ExcelWriter(book, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    path = out_dir / f"BPE_gammes_{vintage}.xlsx"
    with (
        zipfile.ZipFile(buffer) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(member))
    return path


def write_bpe(
    world: World,
    positions: np.ndarray,
    vintage: int,
    out_dir: Path,
    *,
    xy: bool,
    counts: bool,
    gammes: bool = False,
    scale: float = 1.0,
) -> dict[str, Path]:
    """Write ``bpe_xy`` and/or ``bpe_com`` for one vintage (the same simulated equipments),
    and the vintage's gamme workbook ``bpe_gammes`` when asked."""
    written: dict[str, Path] = {}
    if gammes:
        written["bpe_gammes"] = write_gammes(vintage, out_dir)
    if not (xy or counts):
        return written
    types, lam = expected_counts(world, vintage, scale)
    communes = world.communes
    yy = f"{vintage % 100:02d}"
    xy_sink = com_sink = None
    date = (min(vintage + 1, 2107), 9, 15, 12, 0, 0)
    if xy:
        path = out_dir / f"bpe{yy}_ensemble_xy_csv.zip"
        header = [
            "REG",
            "DEP",
            "DEPCOM",
            "DCIRIS",
            "AN",
            "TYPEQU",
            "LAMBERT_X",
            "LAMBERT_Y",
            "QUALITE_XY",
        ]
        xy_sink = tx.CsvSink(
            path, header, separator=";", member=f"bpe{yy}_ensemble_xy.csv", zip_date=date
        )
        written["bpe_xy"] = path
    if counts:
        path = out_dir / f"bpe{yy}_ensemble_csv.zip"
        header = ["REG", "DEP", "DEPCOM", "DCIRIS", "AN", "TYPEQU", "NB_EQUIP"]
        com_sink = tx.CsvSink(
            path, header, separator=";", member=f"bpe{yy}_ensemble.csv", zip_date=date
        )
        written["bpe_com"] = path
    pop = world.pop(vintage)
    order = pd.Series(positions).groupby(communes["dep"].to_numpy()[positions], sort=True)
    for dep, group in order:
        chosen = np.sort(group.to_numpy())
        rng = stream(world.seed, "bpe", vintage, dep)
        number = rng.poisson(lam[chosen]).ravel()  # communes x types
        commune = np.repeat(np.repeat(chosen, len(types)), number)
        kind = np.repeat(np.tile(np.arange(len(types)), len(chosen)), number)
        if not len(commune):
            continue
        parent = communes["code"].to_numpy()[commune].astype(object)
        code = _arrondissements(world, parent.copy(), rng)
        size = np.where(code == parent, pop[commune], pop[commune] / 16.0)
        iris = iris_codes(code, size, rng)
        typequ = types["typequ"].to_numpy()[kind]
        sort = np.lexsort((typequ, iris, code))
        commune, code, iris, typequ = commune[sort], code[sort], iris[sort], typequ[sort]
        n = len(commune)
        reg = tx.text(communes["reg"].to_numpy()[commune])
        dep_col = tx.text(communes["dep"].to_numpy()[commune])
        year = tx.constant(str(vintage), n)
        if xy_sink is not None:
            x, y = sample_points(commune, rng, crs="projected", decimals=2)
            draw = rng.random(n)
            located = draw >= 0.01
            quality = np.where(
                draw < 0.88, QUALITY[0], np.where(draw < 0.96, QUALITY[1], QUALITY[2])
            )
            quality = np.where(located, quality, NOT_LOCATED)
            xy_sink.write(
                [
                    reg,
                    dep_col,
                    tx.text(code),
                    tx.text(iris),
                    year,
                    tx.text(typequ),
                    tx.fixed(x, 2, mask=~located),
                    tx.fixed(y, 2, mask=~located),
                    tx.text(quality),
                ]
            )
        if com_sink is not None:
            frame = pd.DataFrame({"commune": commune, "code": code, "iris": iris, "typequ": typequ})
            grouped = (
                frame.groupby(["code", "iris", "typequ"], sort=True)
                .agg(commune=("commune", "first"), count=("commune", "size"))
                .reset_index()
            )
            where = grouped["commune"].to_numpy()
            com_sink.write(
                [
                    tx.text(communes["reg"].to_numpy()[where]),
                    tx.text(communes["dep"].to_numpy()[where]),
                    tx.text(grouped["code"].to_numpy()),
                    tx.text(grouped["iris"].to_numpy()),
                    tx.constant(str(vintage), len(grouped)),
                    tx.text(grouped["typequ"].to_numpy()),
                    tx.integers(grouped["count"].to_numpy()),
                ]
            )
    for sink in (xy_sink, com_sink):
        if sink is not None:
            sink.close()
    return written


def _arrondissements(world: World, code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Equipments of Paris, Lyon and Marseille get the code of an arrondissement."""
    for parent in ARRONDISSEMENTS:
        mask = code == parent
        if mask.any():
            arms, shares = split_weights(parent, world.seed)
            code[mask] = np.array(arms, dtype=object)[rng.choice(len(arms), mask.sum(), p=shares)]
    return code
