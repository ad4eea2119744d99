"""INSEE Code officiel géographique tables: commune events, commune list, table d'appartenance.

Three readers, three warehouse tables (level ``table``: these files *define* a COG vintage, so
they are stored as published and never recoded to the project's COG):

- ``cog_events`` (``v_mvt_commune_YYYY.csv``): validated by
  :func:`observatoire.territories.cog.read_events` (called, not duplicated); columns ``mod``,
  ``date_eff``, ``typecom_av``, ``com_av``, ``libelle_av``, ``typecom_ap``, ``com_ap``,
  ``libelle_ap`` — what the loader reads back to recode other files. Vintage: the year of the
  latest ``DATE_EFF``.
- ``cog_communes`` (``v_commune_YYYY.csv``): ``typecom, com, reg, dep, ctcd, arr, tncc, ncc,
  nccenr, libelle, can, comparent`` as strings (``ctcd`` is NULL before the 2022 layout). The
  file carries no date: the vintage is the COG year whose commune set (outside Mayotte) equals
  the file's ``COM`` codes exactly, among the sets of the embedded referential (COG 2021, 2022,
  2024, 2025); otherwise ``sans millésime`` (and a warning).
- ``cog_appartenance`` (table d'appartenance géographique, xlsx, sheets ``COM`` and ``ARM``,
  5 title lines then the header): long table ``codgeo, libgeo, niveau, variable, value``, one row
  per commune (or arrondissement municipal) and attribute (``DEP``, ``EPCI``, ``AAV2020``,
  ``BV2012``…, ``COM`` for the commune of an arrondissement). Long because the attribute columns
  change with the vintage (``BV2012`` → ``BV2022``). Vintage from the title lines ("Liste des
  communes au 1er janvier 2022", "Découpage communal au 1er janvier 2022", "Géographie au
  01/01/2022").

The xlsx helpers here are shared with the other readers of workbooks (zonage, BPE).
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pandas as pd

from observatoire.errors import InputError, _where
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.dvf import COMMUNE_PATTERN, iter_text_batches, parse_date
from observatoire.sources.registry import register
from observatoire.territories import cog

# --------------------------------------------------------------------------------------------
# Shared workbook helpers.
# --------------------------------------------------------------------------------------------

_TITLE_DATE = re.compile(
    r"(?:au|du)\s+(?:1er|premier|01)\s+janvier\s+(\d{4})|(?:au|du)\s+01/01/(\d{4})", re.I
)


def title_vintage(lines: list[str] | tuple[str, ...]) -> str | None:
    """The year of "… au 1er janvier 2022" / "… au 01/01/2022" in title lines."""
    for line in lines:
        match = _TITLE_DATE.search(line)
        if match:
            return match.group(1) or match.group(2)
    return None


def head_rows(file: SniffedFile) -> list[list[str]]:
    """The sniffed first rows of the first sheet, as lists of stripped cells."""
    return [[cell.strip() for cell in line.split("\t")] for line in file.head]


def _cell(value: object) -> tuple[str, bool]:
    """Text of a cell and whether it was stored as a number."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else repr(value)), True
    if hasattr(value, "date") and hasattr(value, "year"):
        return value.date().isoformat(), False
    return str(value).strip(), False


def read_sheet(
    file: SniffedFile, sheet: str | int, is_header: Callable[[list[str]], bool], *, scan: int = 30
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """A sheet as strings below its header row.

    Returns ``(values, numeric, header_row)``: ``values`` has the header's names (stripped) as
    columns and every cell as text (``""`` when empty); ``numeric`` flags cells stored as
    numbers (codes that may have lost leading zeros); ``header_row`` is the Excel row number of
    the header, so the Excel row of ``values.iloc[i]`` is ``header_row + 1 + i``.
    """
    with file.open_binary() as handle:
        data = io.BytesIO(handle.read())
    try:
        raw = pd.read_excel(data, sheet_name=sheet, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise InputError(
            f"feuille « {sheet} » illisible ({exc.__class__.__name__})", path=file.label
        ) from exc
    cells = raw.map(_cell)
    text = cells.map(lambda pair: pair[0])
    numeric = cells.map(lambda pair: pair[1])
    for row in range(min(scan, len(text))):
        header = text.iloc[row].tolist()
        if is_header(header):
            values = text.iloc[row + 1 :].reset_index(drop=True)
            flags = numeric.iloc[row + 1 :].reset_index(drop=True)
            names = [name if name else f"colonne_{i + 1}" for i, name in enumerate(header)]
            values.columns = flags.columns = names
            # Trailing empty rows of a worksheet are not data.
            filled = (values != "").any(axis=1).to_numpy()
            last = int(filled.nonzero()[0].max()) + 1 if filled.any() else 0
            return values.iloc[:last], flags.iloc[:last], row + 1
    raise InputError(f"ligne d'en-tête introuvable dans la feuille « {sheet} »", path=file.label)


def pad_sheet_codes(values: pd.Series, numeric: pd.Series, width: int) -> tuple[pd.Series, int]:
    """Zero-pad codes stored as numbers (``1001`` → ``01001``); count the repairs."""
    short = numeric & values.str.fullmatch(r"\d+") & (values.str.len() < width)
    return values.where(~short, values.str.zfill(width)), int(short.sum())


def fail_sheet(
    mask: pd.Series, values: pd.Series, message: str, file: SniffedFile, row0: int, column: str
) -> None:
    """Raise for the first flagged row of a sheet whose first data row is Excel row ``row0``."""
    if mask.any():
        position = int(mask.to_numpy(dtype=bool).argmax())
        raise InputError(
            f"{message} : « {values.iloc[position]} »",
            path=file.label,
            line=row0 + position,
            column=column,
        )


# --------------------------------------------------------------------------------------------
# v_mvt_commune: the commune events.
# --------------------------------------------------------------------------------------------


def _relabel(error: InputError, label: str) -> InputError:
    """The same error, naming the user's file instead of a temporary copy."""
    prefix = _where(error.path, error.line, error.column)
    message = error.message
    if prefix and message.startswith(f"{prefix} : "):
        message = message[len(prefix) + 3 :]
    return InputError(message, path=label, line=error.line, column=error.column)


class CogEventsReader:
    """INSEE ``v_mvt_commune_YYYY.csv``."""

    name = "cog_events"

    def sniff(self, file: SniffedFile) -> Detection | None:
        upper = set(file.upper_columns)
        if file.kind != "csv" or not set(cog.REQUIRED_COLUMNS) <= upper:
            return None
        column = next(c for c in file.columns if c.upper() == "DATE_EFF")
        years: set[int] = set()
        try:
            for line0, frame in iter_text_batches(file, include=[column], strict=False):
                dates = parse_date(
                    frame[column], file, line0, column, formats=("%Y-%m-%d", "%d/%m/%Y")
                )
                years.update(int(d.year) for d in dates.dropna().unique())
        except InputError:
            pass  # read() reports it with its line
        year = max(years) if years else None
        return Detection(
            dataset="cog_events",
            vintage=str(year) if year else "sans millésime",
            level="table",
            cog_vintage=year,
            label=f"COG {year or '?'} — événements sur les communes",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        plain = file.member is None and file.path.suffix.lower() != ".gz"
        try:
            if plain:
                events = cog.read_events(file.path)
            else:
                with tempfile.TemporaryDirectory() as folder:
                    copy = Path(folder) / "v_mvt_commune.csv"
                    with file.open_binary() as source, open(copy, "wb") as target:
                        shutil.copyfileobj(source, target)
                    events = cog.read_events(copy)
        except InputError as exc:
            raise _relabel(exc, file.label) from exc
        return ReadResult(detection=detection, table="cog_events", batches=[events])


# --------------------------------------------------------------------------------------------
# v_commune: the commune list of a vintage.
# --------------------------------------------------------------------------------------------

COMMUNE_COLUMNS = (
    "TYPECOM",
    "COM",
    "REG",
    "DEP",
    "CTCD",
    "ARR",
    "TNCC",
    "NCC",
    "NCCENR",
    "LIBELLE",
    "CAN",
    "COMPARENT",
)
_COMMUNE_REQUIRED = ("TYPECOM", "COM", "REG", "DEP", "TNCC", "NCC", "NCCENR", "LIBELLE")


@cache
def _known_commune_sets() -> dict[int, frozenset[str]]:
    """Commune sets (Mayotte excluded) of the COG vintages the embedded referential holds."""
    from observatoire.territories import referential

    populations = referential.populations()
    populations = populations[~populations["code"].str.startswith("976")]
    sets = {int(year): frozenset(group["code"]) for year, group in populations.groupby("cog")}
    current = referential.communes()["code"]
    sets[referential.REFERENTIAL_COG] = frozenset(current[~current.str.startswith("976")])
    return sets


class CogCommunesReader:
    """INSEE ``v_commune_YYYY.csv``."""

    name = "cog_communes"

    def _frame(self, file: SniffedFile) -> pd.DataFrame:
        upper = {c.upper(): c for c in file.columns}
        missing = [c for c in _COMMUNE_REQUIRED if c not in upper]
        if missing:
            raise InputError(
                f"colonnes de la liste des communes absentes : {', '.join(missing)}",
                path=file.label,
                line=1,
            )
        wanted = [upper[c] for c in COMMUNE_COLUMNS if c in upper]
        frames = [frame for _, frame in iter_text_batches(file, include=wanted)]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=wanted)
        frame.columns = [c.upper() for c in frame.columns]
        return frame

    def sniff(self, file: SniffedFile) -> Detection | None:
        upper = set(file.upper_columns)
        if file.kind != "csv" or not set(_COMMUNE_REQUIRED) <= upper or "MOD" in upper:
            return None
        year = None
        try:
            frame = self._frame(file)
            codes = frame.loc[frame["TYPECOM"].str.strip() == "COM", "COM"].str.strip()
            observed = frozenset(codes[~codes.str.startswith("976")])
            matches = [y for y, known in _known_commune_sets().items() if known == observed]
            year = max(matches) if matches else None
        except InputError:
            pass  # read() reports it
        return Detection(
            dataset="cog_communes",
            vintage=str(year) if year else "sans millésime",
            level="table",
            cog_vintage=year,
            label=f"COG {year or '(millésime non reconnu)'} — liste des communes",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        frame = self._frame(file)
        out = pd.DataFrame(index=frame.index)
        for column in COMMUNE_COLUMNS:
            values = frame[column].str.strip() if column in frame else pd.Series("", frame.index)
            out[column.lower()] = values.astype("str").mask(values == "")
        typecom = out["typecom"].fillna("")
        bad = ~typecom.isin(sorted(cog.TYPECOMS))
        if bad.any():
            position = int(bad.to_numpy().argmax())
            raise InputError(
                f"type de commune inconnu : « {typecom.iloc[position]} »",
                path=file.label,
                line=position + 2,
                column="TYPECOM",
            )
        code = out["com"].fillna("")
        bad = ~code.str.fullmatch(COMMUNE_PATTERN)
        if bad.any():
            position = int(bad.to_numpy().argmax())
            raise InputError(
                f"code commune invalide : « {code.iloc[position]} »",
                path=file.label,
                line=position + 2,
                column="COM",
            )
        result = ReadResult(detection=detection, table="cog_communes", batches=[out])
        if detection.cog_vintage is None:
            result.warnings.append(
                "millésime du COG non reconnu : l'ensemble des communes ne correspond à aucun "
                "millésime connu du référentiel (2021, 2022, 2024, 2025)"
            )
        return result


# --------------------------------------------------------------------------------------------
# Table d'appartenance géographique des communes.
# --------------------------------------------------------------------------------------------


def _appartenance_header(cells: list[str]) -> bool:
    return cells[:2] == ["CODGEO", "LIBGEO"] and {"DEP", "REG"} <= set(cells)


class CogAppartenanceReader:
    """INSEE table d'appartenance géographique des communes (xlsx)."""

    name = "cog_appartenance"

    def sniff(self, file: SniffedFile) -> Detection | None:
        if file.kind != "xlsx" or not any(_appartenance_header(r) for r in head_rows(file)):
            return None
        year = title_vintage(file.head)
        return Detection(
            dataset="cog_appartenance",
            vintage=year or "sans millésime",
            level="table",
            cog_vintage=int(year) if year else None,
            label=f"Table d'appartenance géographique des communes (COG {year or '?'})",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        sheets = [s for s in ("COM", "ARM") if s in file.sheets] or [file.sheets[0]]
        frames, repaired = [], 0
        for sheet in sheets:
            values, numeric, header_row = read_sheet(file, sheet, _appartenance_header)
            codes, count = pad_sheet_codes(values["CODGEO"], numeric["CODGEO"], 5)
            repaired += count
            fail_sheet(
                ~codes.str.fullmatch(COMMUNE_PATTERN),
                codes,
                f"code commune invalide (feuille {sheet})",
                file,
                header_row + 1,
                "CODGEO",
            )
            attributes = [c for c in values.columns if c not in ("CODGEO", "LIBGEO")]
            wide = values[attributes].assign(codgeo=codes, libgeo=values["LIBGEO"])
            long = wide.melt(id_vars=["codgeo", "libgeo"], var_name="variable", value_name="value")
            long["niveau"] = "ARM" if sheet == "ARM" else "COM"
            frames.append(long)
        columns = ["codgeo", "libgeo", "niveau", "variable", "value"]
        table = pd.concat(frames, ignore_index=True)[columns].astype("str")
        table["value"] = table["value"].mask(table["value"] == "")
        result = ReadResult(detection=detection, table="cog_appartenance", batches=[table])
        if repaired:
            result.repaired = repaired
            result.warnings.append(f"{repaired} codes commune saisis comme nombres complétés")
        return result


register(CogEventsReader())
register(CogCommunesReader())
register(CogAppartenanceReader())
