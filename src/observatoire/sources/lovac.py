"""LOVAC open data (Cerema for DGALN: vacant dwellings of the private stock), communal file.

Layout (methods §2.3): ``CODGEO_YY``, ``LIBGEO_YY`` then one column set per year:
``pp_vacant_YY``, ``pp_vacant_plus_2ans_YY``, ``ff_pp_total_YY``… (``YY`` = 2-digit year).
Detection: a ``CODGEO_YY`` column and a ``pp_vacant_YY`` column (any case), CSV.

Output, table ``lovac_communes`` (level ``commune``), long: ``code, variable, period, value,
secret, source_column`` — ``pp_vacant_plus_2ans_25`` gives variable ``pp_vacant_plus_2ans``,
period ``2025``. Measures are the ``pp_…_YY`` and ``ff_…_YY`` columns; identifiers and labels
(``LIBGEO_YY``, ``EPCI``…) are not values and are left out. Counts are additive
(``count_columns``), except rates (a ``tx``, ``taux`` or ``part`` word in the name).

Statistical secrecy: LOVAC masks counts below 11 with ``s``: such a cell becomes NULL with
``secret = true`` and is counted in ``secret_cells`` — never 0. An empty cell is NULL with
``secret = false`` (missing). Any other non-numeric value raises ``InputError`` with its line
and column. The commune code is the ``CODGEO_YY`` column (the latest ``YY`` when several);
``YY`` is the COG vintage of the codes (``cog_vintage = 20YY``). Vintage: the range of the
measure years (``2020-2025``).

The dataset is open data but personal-data adjacent (counts of vacant dwellings): it is meant
to be marked restricted-friendly by the catalogue (``RESTRICTED_FRIENDLY``).

This module also holds the long-format helpers reused by the NAF consumption reader.
"""

from __future__ import annotations

import re

import pandas as pd

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.dvf import (
    COMMUNE_PATTERN,
    NUMBER_PATTERN,
    fail_first,
    iter_text_batches,
    pad_digits,
    year_span,
)
from observatoire.sources.registry import register

RESTRICTED_FRIENDLY = True
# Variables of the communal file read by the indicator catalogue (``pp_vacant_25`` → variable
# ``pp_vacant``, period ``2025``): vacant private dwellings at 1 January, those vacant for two
# years or more, and the private stock (``ff_pp_total``; ``pp_total`` in the editions up to 2025).
VARIABLES = ("pp_vacant", "pp_vacant_plus_2ans", "ff_pp_total", "pp_total")
SECRET_THRESHOLD = 11
SECRET_MARK = "s"
LONG_COLUMNS = ("code", "variable", "period", "value", "secret", "source_column")
_CODE = re.compile(r"^codgeo_(\d{2})$", re.I)
_MEASURE = re.compile(r"^((?:pp|ff)_[a-z0-9_]*?)_(\d{2})$", re.I)
_RATE_TOKENS = {"tx", "taux", "part"}


# --------------------------------------------------------------------------------------------
# Long-format helpers (shared with foncier.py).
# --------------------------------------------------------------------------------------------


def read_all(file: SniffedFile, columns: list[str]) -> pd.DataFrame:
    """The whole file (the given columns), as strings; line of row i = i + 2."""
    frames = [frame for _, frame in iter_text_batches(file, include=columns)]
    if not frames:
        raise InputError("aucune ligne de données", path=file.label)
    return pd.concat(frames, ignore_index=True)


def commune_codes(
    values: pd.Series, file: SniffedFile, column: str, result: ReadResult
) -> pd.Series:
    """5-character commune codes (lost zeros repaired and counted), unique, valid."""
    codes, repaired = pad_digits(values, 5)
    if repaired:
        result.repaired += repaired
        result.warnings.append(f"{repaired} codes commune complétés par des zéros")
    fail_first(codes == "", values, "code commune manquant", file, 2, column)
    fail_first(
        ~codes.str.fullmatch(COMMUNE_PATTERN),
        values,
        "code commune invalide (5 caractères attendus)",
        file,
        2,
        column,
    )
    fail_first(codes.duplicated(), values, "commune en double", file, 2, column)
    return codes


def to_long(
    frame: pd.DataFrame,
    codes: pd.Series,
    measures: dict[str, tuple[str, str]],
    file: SniffedFile,
    result: ReadResult,
    *,
    secret_mark: str | None = None,
) -> pd.DataFrame:
    """Long table from measure columns ``{source_column: (variable, period)}``.

    Values are numbers (a decimal comma is repaired and counted); ``secret_mark`` cells are
    NULL with ``secret = true`` (counted in ``secret_cells``); empty cells are NULL.
    """
    parts, commas = [], 0
    for column, (variable, period) in measures.items():
        text = frame[column].str.strip()
        secret = (
            text.str.lower() == secret_mark if secret_mark else pd.Series(False, index=text.index)
        )
        empty = text == ""
        comma = text.str.contains(",", regex=False)
        numbers = text.str.replace(",", ".", regex=False)
        valid = numbers.str.fullmatch(NUMBER_PATTERN)
        expected = "nombre attendu" + (f" ou « {secret_mark} » (secret)" if secret_mark else "")
        fail_first(~(valid | secret | empty), text, expected, file, 2, column)
        commas += int(comma.sum())
        result.secret_cells += int(secret.sum())
        value = pd.to_numeric(numbers.where(valid), errors="coerce").astype("Float64")
        parts.append(
            pd.DataFrame(
                {
                    "code": codes,
                    "variable": variable,
                    "period": period,
                    "value": value,
                    "secret": secret.astype(bool),
                    "source_column": column,
                }
            )
        )
    if commas:
        result.repaired += commas
        result.warnings.append(f"{commas} nombres à virgule décimale convertis")
    if result.secret_cells:
        result.warnings.append(
            f"{result.secret_cells} cellules sous secret statistique (« {secret_mark} ») "
            "laissées vides"
        )
    long = pd.concat(parts, ignore_index=True)
    for column in ("code", "variable", "period", "source_column"):
        long[column] = long[column].astype("str")
    return long[list(LONG_COLUMNS)]


# --------------------------------------------------------------------------------------------
# LOVAC.
# --------------------------------------------------------------------------------------------


def _layout(file: SniffedFile) -> tuple[str | None, dict[str, tuple[str, str]]]:
    codes = sorted((m.group(1), c) for c in file.columns if (m := _CODE.match(c)))
    measures = {}
    for column in file.columns:
        match = _MEASURE.match(column)
        if match:
            measures[column] = (match.group(1).lower(), f"20{match.group(2)}")
    return (codes[-1][1] if codes else None), measures


class LovacReader:
    """LOVAC communal open data."""

    name = "lovac"

    def sniff(self, file: SniffedFile) -> Detection | None:
        code, measures = _layout(file)
        vacant = any(variable == "pp_vacant" for variable, _ in measures.values())
        if file.kind != "csv" or code is None or not vacant:
            return None
        years = sorted({int(period) for _, period in measures.values()})
        vintage = year_span(years)
        return Detection(
            dataset="lovac_communes",
            vintage=vintage,
            level="commune",
            cog_vintage=2000 + int(code[-2:]),
            label=f"LOVAC — logements vacants du parc privé par commune, {vintage}",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        code, measures = _layout(file)
        if code is None:  # pragma: no cover - sniff() requires it
            raise InputError("colonne CODGEO_AA absente", path=file.label, line=1)
        result = ReadResult(
            detection=detection, table="lovac_communes", batches=[], code_column="code"
        )
        frame = read_all(file, [code, *measures])
        codes = commune_codes(frame[code].str.strip(), file, code, result)
        result.batches = [to_long(frame, codes, measures, file, result, secret_mark=SECRET_MARK)]
        result.count_columns = tuple(
            column
            for column, (variable, _) in measures.items()
            if not set(variable.split("_")) & _RATE_TOKENS
        )
        return result


register(LovacReader())
