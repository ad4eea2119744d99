"""Zonage A/B/C (ministère chargé du logement): the zone of every commune, table ``zonage_abc``.

The communal list is a workbook (``Zonage_abc_communes_2022.xlsx``: one sheet, header ``Code
Commune``, ``Nom Commune `` — with a trailing space — and ``Zone ABC``). Detection: a header
row (in the first rows of the first sheet) holding a commune code column (``Code Commune``,
``CODGEO``, ``Code INSEE``) and ``Zone ABC`` (or ``Zonage ABC``), whatever the case, accents,
spaces or underscores.

Vintage: the year written in the workbook — the sheet name (``Zonage ABC 2022``) or a title
line above the header —, else ``sans millésime`` with a warning (the file itself holds no
date). The zones are the ones of the arrêté in force when the list was published.

Output (wide, commune level): ``code`` (5 characters), ``nom``, ``zone`` in ``Abis, A, B1, B2,
C``. Spellings such as ``A bis`` or ``b1`` are normalised and counted as repairs; any other
value raises ``InputError`` with its Excel row. The zone is not additive: when communes merged
since the list, the loader keeps it only where every merged commune had the same zone.
"""

from __future__ import annotations

import re

import pandas as pd

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.cog_tables import (
    fail_sheet,
    head_rows,
    pad_sheet_codes,
    read_sheet,
    title_vintage,
)
from observatoire.sources.dvf import COMMUNE_PATTERN, fold
from observatoire.sources.registry import register

ZONES = ("Abis", "A", "B1", "B2", "C")
_YEAR = re.compile(r"\b(20\d{2})\b")


_CODE_NAMES = ("code commune", "codgeo", "code insee", "insee com")
_ZONE_NAMES = ("zone abc", "zonage abc")
_NAME_NAMES = ("nom commune", "libgeo", "commune", "nom")


def _key(cell: str) -> str:
    return fold(cell).replace("_", " ")


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    by_key = {_key(c): c for c in columns}
    return next((by_key[name] for name in names if name in by_key), None)


def _is_header(cells: list[str]) -> bool:
    return bool(_find(cells, _CODE_NAMES) and _find(cells, _ZONE_NAMES))


def _vintage(file: SniffedFile) -> str | None:
    for sheet in file.sheets[:1]:
        match = _YEAR.search(sheet)
        if match:
            return match.group(1)
    rows = head_rows(file)
    titles = []
    for row in rows:
        if _is_header(row):
            break
        titles.append(" ".join(row))
    dated = title_vintage(titles)
    if dated:
        return dated
    for title in titles:
        match = _YEAR.search(title)
        if match:
            return match.group(1)
    return None


class ZonageAbcReader:
    """Communal list of the zonage A/B/C."""

    name = "zonage_abc"

    def sniff(self, file: SniffedFile) -> Detection | None:
        if file.kind != "xlsx" or not any(_is_header(row) for row in head_rows(file)):
            return None
        year = _vintage(file)
        return Detection(
            dataset="zonage_abc",
            vintage=year or "sans millésime",
            level="commune",
            label=f"Zonage A/B/C des communes {year or '(millésime non indiqué)'}",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        values, numeric, header_row = read_sheet(file, file.sheets[0], _is_header)
        columns = list(values.columns)
        code_col, zone_col = _find(columns, _CODE_NAMES), _find(columns, _ZONE_NAMES)
        name_col = _find(columns, _NAME_NAMES)
        row0 = header_row + 1
        codes, repaired = pad_sheet_codes(values[code_col], numeric[code_col], 5)
        fail_sheet(codes == "", codes, "code commune manquant", file, row0, code_col)
        fail_sheet(
            ~codes.str.fullmatch(COMMUNE_PATTERN),
            codes,
            "code commune invalide (5 caractères attendus)",
            file,
            row0,
            code_col.strip(),
        )
        raw_zone = values[zone_col]
        canonical = {z.lower(): z for z in ZONES}
        key = raw_zone.str.replace(r"\s+", "", regex=True).str.lower()
        zone = key.map(canonical)
        fail_sheet(
            zone.isna(),
            raw_zone,
            "zone inconnue (attendu Abis, A, B1, B2 ou C)",
            file,
            row0,
            zone_col.strip(),
        )
        normalised = int((zone != raw_zone).sum())
        duplicated = codes.duplicated()
        if duplicated.any():
            position = int(duplicated.to_numpy().argmax())
            raise InputError(
                f"commune en double : « {codes.iloc[position]} »",
                path=file.label,
                line=row0 + position,
                column=code_col.strip(),
            )
        names = values[name_col] if name_col else pd.Series("", index=values.index)
        table = pd.DataFrame({"code": codes, "nom": names, "zone": zone}).astype("str")
        table["nom"] = table["nom"].mask(table["nom"] == "")
        result = ReadResult(
            detection=detection,
            table="zonage_abc",
            batches=[table],
            code_column="code",
            keep_columns=("nom", "zone"),
            repaired=repaired + normalised,
        )
        if repaired:
            result.warnings.append(f"{repaired} codes commune saisis comme nombres complétés")
        if normalised:
            result.warnings.append(f"{normalised} zones réécrites (ex. « A bis » → « Abis »)")
        if detection.vintage == "sans millésime":
            result.warnings.append("millésime du zonage introuvable dans le classeur")
        return result


register(ZonageAbcReader())
