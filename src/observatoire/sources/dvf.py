"""DVF (demandes de valeurs foncières): Etalab geo-DVF CSV and the raw DGFiP ``ValeursFoncieres``.

Two readers feed one warehouse table, ``dvf``: one row per source line, typed, never filtered
(cleaning rules — §4.1 of the methods — belong to the analysis, not to the reader).

- ``dvf_geo``: Etalab "DVF géolocalisées" (40 columns ``id_mutation,date_mutation,…,longitude,
  latitude``) and the API/export variant (41st column ``section_prefixe``, ``numero_disposition``
  ``1`` instead of ``000001``, FANTOIR codes that lost their leading zeros, ``50.00``…).
- ``dvf_dgfip``: the raw national file ``ValeursFoncieres-YYYY.txt`` (``|`` separator, decimal
  comma, first column ``Code service CH`` up to the 2021 editions and ``Identifiant de document``
  since). Columns are renamed to the geo-DVF names; the raw-only columns are kept
  (``code_service_ch``, ``identifiant_document``, ``reference_document``, ``articles_cgi_1..5``,
  ``type_voie``, ``prefixe_section``, ``section``, ``numero_plan``, ``identifiant_local``).

Derivations for the raw file, as Etalab does: ``code_commune`` = ``Code departement`` (2 chars,
3 for the DOM) + ``Code commune`` zero-padded to 3 (2 for the DOM); ``adresse_nom_voie`` = type
+ name of the street; ``id_parcelle`` = commune + section prefix (3, ``000`` when empty) +
section (2) + plan number (4). The raw file has no mutation identifier: ``id_mutation`` is a
surrogate ``dgfip-N`` where N numbers the runs of consecutive lines sharing the same document
id (or Code service CH), document reference, date, nature, valeur foncière and commune. The
lines of one mutation are consecutive in DGFiP's files, so they share it; two mutations that
are adjacent and identical on all these columns get one id (the raw data cannot tell them
apart), and a mutation spanning several communes gets one id per commune. Like Etalab's, the
id is only meaningful within one file.

The vintage is read from the dates of the whole file: ``"2024"`` or ``"2019-2023"``.

Repairs are counted (``repaired``) and described: codes that lost their leading zeros (commune,
département, postal code, FANTOIR street code) and decimal commas. Bad input raises
``InputError`` with line and column: missing columns, unreadable dates or numbers, invalid
commune codes, a line with too few or too many fields (a truncated last line).

This module also holds the streaming text helpers shared by the other readers of the family
(``iter_text_batches``, ``parse_decimal``, ``parse_date``…).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import unicodedata
import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from observatoire.errors import InputError
from observatoire.sources import _arrow
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.registry import register

CHUNK_ROWS = 100_000
BLOCK_BYTES = 16 << 20
COMMUNE_PATTERN = r"(?:\d{2}|2[AB])\d{3}"
NUMBER_PATTERN = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"


# --------------------------------------------------------------------------------------------
# Shared helpers: streaming delimited text, typed conversions with line/column errors.
# --------------------------------------------------------------------------------------------


def _arrow_encoding(file: SniffedFile) -> str:
    return "utf8" if file.encoding in (None, "utf-8", "utf-8-sig") else file.encoding


def _line_of(file: SniffedFile, text: str) -> int | None:
    """Line number of a raw row (error path only: rescans the file)."""
    encoding = file.encoding or "utf-8"
    with file.open_binary() as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.decode(encoding, errors="replace").rstrip("\r\n") == text.rstrip("\r\n"):
                return number
    return None


def _bad_row(file: SniffedFile, row) -> InputError:
    line = _line_of(file, row.text)
    if row.actual_columns < row.expected_columns:
        message = (
            f"ligne incomplète (fichier tronqué ?) : {row.actual_columns} champ(s) au lieu "
            f"de {row.expected_columns}"
        )
    else:
        message = (
            f"{row.actual_columns} champs au lieu de {row.expected_columns} (séparateur "
            f"« {file.separator} » à l'intérieur d'une valeur ?)"
        )
    return InputError(message, path=file.label, line=line)


def iter_text_batches(
    file: SniffedFile,
    *,
    include: Sequence[str] | None = None,
    quoted: bool = True,
    strict: bool = True,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Stream a delimited text file as ``(line of the first row, frame of strings)``.

    Every value is a string (``""`` when empty); column names are ``file.columns``. With
    ``strict`` a line with too few or too many fields raises :class:`InputError` with its
    line number (a truncated last line, a separator inside a value); otherwise such lines are
    skipped (used to sniff vintages, never to read data).
    """
    names = [f"c{i}" for i in range(len(file.columns))]
    rename = dict(zip(names, file.columns, strict=True))
    included = None
    if include is not None:
        included = [names[file.columns.index(column)] for column in include]
    bad: list = []

    def on_invalid(row) -> str:
        bad.append(row)
        return "skip"

    options = {
        "read_options": pacsv.ReadOptions(
            column_names=names,
            skip_rows=1,
            block_size=BLOCK_BYTES,
            encoding=_arrow_encoding(file),
        ),
        "parse_options": pacsv.ParseOptions(
            delimiter=file.separator or ",",
            quote_char='"' if quoted else False,
            invalid_row_handler=on_invalid,
        ),
        "convert_options": pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            include_columns=included,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }
    line = 2
    with file.open_binary() as handle:
        try:
            reader = pacsv.open_csv(handle, **options)
            for batch in reader:
                if bad and strict:
                    raise _bad_row(file, bad[0])
                for start in range(0, batch.num_rows, chunk_rows):
                    piece = batch.slice(start, chunk_rows)
                    frame = piece.to_pandas()
                    frame.columns = [rename[c] for c in frame.columns]
                    yield line, frame
                    line += piece.num_rows
            if bad and strict:
                raise _bad_row(file, bad[0])
        except pa.ArrowInvalid as exc:
            raise InputError(
                f"lecture impossible vers la ligne {line} ({exc}) : fichier tronqué ou mal "
                "encodé ?",
                path=file.label,
            ) from exc
        except (EOFError, zlib.error) as exc:
            raise InputError(f"fichier compressé tronqué ({exc})", path=file.label) from exc


def fail_first(
    mask: pd.Series, values: pd.Series, message: str, file: SniffedFile, line0: int, column: str
) -> None:
    """Raise for the first row of ``mask`` (a batch starting at line ``line0``)."""
    if mask.any():
        position = int(np.argmax(mask.to_numpy(dtype=bool)))
        raise InputError(
            f"{message} : « {values.iloc[position]} »",
            path=file.label,
            line=line0 + position,
            column=column,
        )


def blank_to_na(values: pd.Series) -> pd.Series:
    """Stripped strings, ``""`` → missing (pandas ``str`` dtype)."""
    stripped = values.astype("str").str.strip()
    return stripped.mask(stripped == "")


def parse_decimal(
    values: pd.Series, file: SniffedFile, line0: int, column: str
) -> tuple[pd.Series, int]:
    """Float64 values; decimal commas are repaired and counted; empty → NULL."""
    text = values.astype("str").str.strip()
    empty = text == ""
    comma = text.str.contains(",", regex=False)
    if comma.any():
        text = text.str.replace(",", ".", regex=False)
    valid = text.str.fullmatch(NUMBER_PATTERN)
    fail_first(~empty & ~valid, values, "nombre illisible", file, line0, column)
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    return numbers.astype("Float64"), int(comma.sum())


def parse_integer(
    values: pd.Series, file: SniffedFile, line0: int, column: str
) -> tuple[pd.Series, int]:
    """Int64 values (``000001`` → 1, ``3.00`` → 3); a fractional value is an error."""
    numbers, repaired = parse_decimal(values, file, line0, column)
    fractional = numbers.notna() & (numbers.fillna(0) % 1 != 0)
    fail_first(fractional.astype(bool), values, "nombre entier attendu", file, line0, column)
    return numbers.round().astype("Int64"), repaired


def parse_date(
    values: pd.Series,
    file: SniffedFile,
    line0: int,
    column: str,
    *,
    formats: Sequence[str] = ("%Y-%m-%d",),
    required: bool = False,
) -> pd.Series:
    """Dates (DuckDB DATE) from the first of ``formats`` each value matches."""
    text = values.astype("str").str.strip()
    empty = text == ""
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in formats:
        missing = parsed.isna() & ~empty
        if not missing.any():
            break
        parsed = parsed.fillna(pd.to_datetime(text.where(missing), format=fmt, errors="coerce"))
    fail_first(parsed.isna() & ~empty, values, "date illisible", file, line0, column)
    if required:
        fail_first(empty, values, "date manquante", file, line0, column)
    days = parsed.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    array = pa.array(days, type=pa.date32(), from_pandas=True)
    return pd.Series(pd.arrays.ArrowExtensionArray(array), index=values.index)


def pad_digits(values: pd.Series, width: int) -> tuple[pd.Series, int]:
    """Zero-pad all-digit codes shorter than ``width`` (lost leading zeros); count them."""
    text = values.astype("str").str.strip()
    short = text.str.fullmatch(r"\d+") & (text.str.len() < width)
    return text.where(~short, text.str.zfill(width)), int(short.sum())


def check_communes(
    codes: pd.Series, raw: pd.Series, file: SniffedFile, line0: int, column: str
) -> None:
    """Every code is a 5-character commune code (``01004``, ``2A004``, ``97101``)."""
    fail_first(codes.fillna("") == "", raw, "code commune manquant", file, line0, column)
    bad = ~codes.fillna("").str.fullmatch(COMMUNE_PATTERN)
    fail_first(bad, raw, "code commune invalide (5 caractères attendus)", file, line0, column)


def scan_years(file: SniffedFile, column: str, year: slice, *, quoted: bool = True) -> list[int]:
    """Distinct years of a date column over the whole file (vintage detection)."""
    years: set[int] = set()
    try:
        for _, frame in iter_text_batches(file, include=[column], quoted=quoted, strict=False):
            found = frame[column].str.strip().str[year]
            years.update(int(y) for y in found[found.str.fullmatch(r"\d{4}")].unique())
    except InputError:
        return sorted(years)
    return sorted(years)


def year_span(years: Sequence[int]) -> str:
    if not years:
        return "sans millésime"
    low, high = min(years), max(years)
    return str(low) if low == high else f"{low}-{high}"


def fold(name: str) -> str:
    """Header comparison key: lower case, no accents, single spaces."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", text).strip().lower()


# --------------------------------------------------------------------------------------------
# The ``dvf`` table.
# --------------------------------------------------------------------------------------------

LOTS = range(1, 6)
STRING, DATE, INTEGER, FLOAT = "str", "date", "int", "float"
SCHEMA: dict[str, str] = {
    "id_mutation": STRING,
    "date_mutation": DATE,
    "numero_disposition": INTEGER,
    "nature_mutation": STRING,
    "valeur_fonciere": FLOAT,
    "adresse_numero": STRING,
    "adresse_suffixe": STRING,
    "adresse_nom_voie": STRING,
    "adresse_code_voie": STRING,
    "code_postal": STRING,
    "code_commune": STRING,
    "nom_commune": STRING,
    "code_departement": STRING,
    "ancien_code_commune": STRING,
    "ancien_nom_commune": STRING,
    "id_parcelle": STRING,
    "ancien_id_parcelle": STRING,
    "numero_volume": STRING,
    **{
        name: kind
        for lot in LOTS
        for name, kind in ((f"lot{lot}_numero", STRING), (f"lot{lot}_surface_carrez", FLOAT))
    },
    "nombre_lots": INTEGER,
    "code_type_local": STRING,
    "type_local": STRING,
    "surface_reelle_bati": FLOAT,
    "nombre_pieces_principales": INTEGER,
    "code_nature_culture": STRING,
    "nature_culture": STRING,
    "code_nature_culture_speciale": STRING,
    "nature_culture_speciale": STRING,
    "surface_terrain": FLOAT,
    "longitude": FLOAT,
    "latitude": FLOAT,
    "section_prefixe": STRING,
    "code_service_ch": STRING,
    "identifiant_document": STRING,
    "reference_document": STRING,
    **{f"articles_cgi_{i}": STRING for i in range(1, 6)},
    "type_voie": STRING,
    "prefixe_section": STRING,
    "section": STRING,
    "numero_plan": STRING,
    "identifiant_local": STRING,
    "source_format": STRING,
}
_ARROW_TYPES = {STRING: pa.string(), DATE: pa.date32(), INTEGER: pa.int64(), FLOAT: pa.float64()}
GEO_COLUMNS = tuple(list(SCHEMA)[: list(SCHEMA).index("latitude") + 1])  # the 40 Etalab columns
_REPAIRS = {
    "code_commune": "codes commune complétés par des zéros",
    "code_departement": "codes département complétés par un zéro",
    "code_postal": "codes postaux complétés par un zéro",
    "adresse_code_voie": "codes voie FANTOIR complétés par des zéros",
    "decimal": "nombres à virgule décimale convertis",
}


class _Counter:
    """Repairs counted while batches are consumed, reported into the ReadResult."""

    def __init__(self, result: ReadResult) -> None:
        self.result = result
        self.counts: dict[str, int] = {}

    def add(self, kind: str, count: int) -> None:
        if count:
            self.counts[kind] = self.counts.get(kind, 0) + count
            self.result.repaired += count

    def report(self) -> None:
        for kind, count in self.counts.items():
            self.result.warnings.append(f"{count:_} {_REPAIRS[kind]}".replace("_", " "))


def _typed(frame: pd.DataFrame, file: SniffedFile, line0: int, counter: _Counter) -> pd.DataFrame:
    """Convert a frame holding SCHEMA columns as strings (missing ones added as NULL)."""
    out = {}
    for name, kind in SCHEMA.items():
        raw = frame[name] if name in frame else pd.Series("", index=frame.index, dtype="str")
        if kind == STRING:
            out[name] = blank_to_na(raw)
        elif kind == DATE:
            formats = ("%Y-%m-%d", "%d/%m/%Y")
            out[name] = parse_date(raw, file, line0, name, formats=formats, required=True)
        else:
            parse = parse_integer if kind == INTEGER else parse_decimal
            out[name], commas = parse(raw, file, line0, name)
            counter.add("decimal", commas)
    return pd.DataFrame(out, index=frame.index)


def _typed_arrow(
    columns: dict[str, pa.Array], rows: int, counts: list[tuple[str, int]]
) -> pa.Table:
    """:func:`_typed` with Arrow kernels (stripped string columns in, SCHEMA columns out)."""
    out = {}
    for name, kind in SCHEMA.items():
        raw = columns.get(name)
        if raw is None:
            out[name] = pa.nulls(rows, _ARROW_TYPES[kind])
        elif kind == STRING:
            out[name] = _arrow.blank_to_null(raw)
        elif kind == DATE:
            out[name] = _arrow.date(raw)
        else:
            parse = _arrow.integer if kind == INTEGER else _arrow.decimal
            out[name], commas = parse(raw)
            counts.append(("decimal", commas))
    return pa.table(out)


class _Runs:
    """Mutation numbering carried across batches (see the module docstring)."""

    def __init__(self) -> None:
        self.last_key: tuple[str, ...] | None = None  # the key columns of the last line
        self.run = 0


def _pad(frame: pd.DataFrame, column: str, width: int, counter: _Counter) -> None:
    frame[column], count = pad_digits(frame[column], width)
    counter.add(column, count)


class GeoDvfReader:
    """Etalab geo-DVF files (and the 41-column API variant)."""

    name = "dvf_geo"

    def sniff(self, file: SniffedFile) -> Detection | None:
        columns = {c.lower() for c in file.columns}
        if file.kind != "csv" or not {"id_mutation", "date_mutation", "valeur_fonciere"} <= columns:
            return None
        date = next(c for c in file.columns if c.lower() == "date_mutation")
        vintage = year_span(scan_years(file, date, slice(0, 4)))
        variant = " (variante API, 41 colonnes)" if "section_prefixe" in columns else ""
        return Detection(
            dataset="dvf_geo",
            vintage=vintage,
            level="mutation",
            label=f"DVF géolocalisées (Etalab) {vintage}{variant}",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        lower = {c.lower(): c for c in file.columns}
        missing = [c for c in GEO_COLUMNS if c not in lower]
        if missing:
            raise InputError(
                f"colonnes DVF absentes : {', '.join(missing)}", path=file.label, line=1
            )
        wanted = [lower[c] for c in (*GEO_COLUMNS, "section_prefixe") if c in lower]
        result = ReadResult(
            detection=detection, table="dvf", batches=(), code_column="code_commune"
        )
        result.batches = self._batches(file, wanted, result)
        return result

    def _batches(
        self, file: SniffedFile, wanted: list[str], result: ReadResult
    ) -> Iterator[pd.DataFrame]:
        counter = _Counter(result)
        for line0, frame in iter_text_batches(file, include=wanted):
            frame.columns = [c.lower() for c in frame.columns]
            _pad(frame, "code_commune", 5, counter)
            _pad(frame, "code_departement", 2, counter)
            _pad(frame, "code_postal", 5, counter)
            _pad(frame, "adresse_code_voie", 4, counter)
            check_communes(
                frame["code_commune"], frame["code_commune"], file, line0, "code_commune"
            )
            frame["source_format"] = "geo-dvf"
            yield _typed(frame, file, line0, counter)
        counter.report()


_DGFIP_NAMES = {
    "code service ch": "code_service_ch",
    "identifiant de document": "identifiant_document",
    "reference document": "reference_document",
    **{f"{i} articles cgi": f"articles_cgi_{i}" for i in range(1, 6)},
    "no disposition": "numero_disposition",
    "date mutation": "date_mutation",
    "nature mutation": "nature_mutation",
    "valeur fonciere": "valeur_fonciere",
    "no voie": "adresse_numero",
    "b/t/q": "adresse_suffixe",
    "type de voie": "type_voie",
    "code voie": "adresse_code_voie",
    "voie": "voie",
    "code postal": "code_postal",
    "commune": "nom_commune",
    "code departement": "code_departement",
    "code commune": "code_commune_dgfip",
    "prefixe de section": "prefixe_section",
    "section": "section",
    "no plan": "numero_plan",
    "no volume": "numero_volume",
    "nombre de lots": "nombre_lots",
    "code type local": "code_type_local",
    "type local": "type_local",
    "identifiant local": "identifiant_local",
    "surface reelle bati": "surface_reelle_bati",
    "nombre pieces principales": "nombre_pieces_principales",
    "nature culture": "code_nature_culture",
    "nature culture speciale": "code_nature_culture_speciale",
    "surface terrain": "surface_terrain",
}
_MUTATION_KEY = (
    "reference_document",
    "date_mutation",
    "nature_mutation",
    "valeur_fonciere",
    "code_commune",
)
_LOT = re.compile(r"^(surface carrez du )?([1-5])(?:er|e|eme|ème) lot$")
_DGFIP_REQUIRED = tuple(
    name
    for name in _DGFIP_NAMES.values()
    if name not in ("code_service_ch", "identifiant_document")
) + tuple(f"lot{lot}_{part}" for lot in LOTS for part in ("numero", "surface_carrez"))


def _dgfip_name(header: str) -> str | None:
    key = fold(header)
    match = _LOT.match(key)
    if match:
        return f"lot{match.group(2)}_{'surface_carrez' if match.group(1) else 'numero'}"
    return _DGFIP_NAMES.get(key)


class DgfipDvfReader:
    """Raw DGFiP ``ValeursFoncieres-YYYY.txt`` files."""

    name = "dvf_dgfip"

    def sniff(self, file: SniffedFile) -> Detection | None:
        folded = {fold(c): c for c in file.columns}
        if file.kind != "csv" or not {"date mutation", "valeur fonciere"} <= set(folded):
            return None
        years = scan_years(file, folded["date mutation"], slice(-4, None), quoted=False)
        return self._detection(file, year_span(years))

    def sniff_quick(self, file: SniffedFile) -> Detection | None:
        """:meth:`sniff` with the vintage of the first lines (exact one set while reading)."""
        folded = {fold(c): c for c in file.columns}
        if file.kind != "csv" or not {"date mutation", "valeur fonciere"} <= set(folded):
            return None
        index = list(file.columns).index(folded["date mutation"])
        years = set()
        for line in file.head:
            cells = line.split(file.separator or "|")
            if len(cells) > index and re.fullmatch(r"\d{4}", year := cells[index].strip()[-4:]):
                years.add(int(year))
        detection = self._detection(file, year_span(sorted(years)))
        return dataclasses.replace(detection, vintage_pending=True)

    @staticmethod
    def _detection(file: SniffedFile, vintage: str) -> Detection:
        folded = {fold(c) for c in file.columns}
        edition = "Code service CH" if "code service ch" in folded else "Identifiant de document"
        return Detection(
            dataset="dvf_dgfip",
            vintage=vintage,
            level="mutation",
            label=f"DVF brut DGFiP (ValeursFoncieres) {vintage}, 1re colonne « {edition} »",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        mapping = {c: _dgfip_name(c) for c in file.columns}
        present = {name for name in mapping.values() if name}
        missing = [name for name in _DGFIP_REQUIRED if name not in present]
        if not present & {"code_service_ch", "identifiant_document"}:
            missing.insert(0, "Code service CH / Identifiant de document")
        if missing:
            originals = {v: k for k, v in _DGFIP_NAMES.items()}
            shown = [originals.get(name, name) for name in missing]
            raise InputError(
                f"colonnes du fichier DGFiP absentes : {', '.join(shown)}",
                path=file.label,
                line=1,
            )
        result = ReadResult(
            detection=detection, table="dvf", batches=(), code_column="code_commune"
        )
        result.batches = self._batches(file, mapping, result)
        result.arrow_batches = self._arrow_batches(file, mapping, result)
        return result

    def _batches(
        self, file: SniffedFile, mapping: dict[str, str | None], result: ReadResult
    ) -> Iterator[pd.DataFrame]:
        counter, runs = _Counter(result), _Runs()
        wanted = [c for c, name in mapping.items() if name]
        for line0, raw in iter_text_batches(file, include=wanted, quoted=False):
            yield self._convert(raw, mapping, file, line0, counter, runs)
        counter.report()

    def _arrow_batches(
        self, file: SniffedFile, mapping: dict[str, str | None], result: ReadResult
    ) -> Iterator[pa.Table]:
        """The loader's path: :meth:`_batches` with Arrow kernels (see ``_arrow``)."""
        counter, runs = _Counter(result), _Runs()
        wanted = [c for c, name in mapping.items() if name]
        years: set[int] = set()
        try:
            for line0, table in _arrow.iter_arrow_batches(file, include=wanted, quoted=False):
                if not table.num_rows:
                    continue
                try:
                    out = self._fast(table, mapping, counter, runs)
                except _arrow.Fallback:
                    raw = table.to_pandas()
                    frame = self._convert(raw, mapping, file, line0, counter, runs)
                    out = pa.Table.from_pandas(frame, preserve_index=False)
                bounds = pc.min_max(out.column("date_mutation")).as_py()
                years.update(d.year for d in bounds.values() if d is not None)
                yield out
        except _arrow.Fallback:  # a malformed line: the reference reading names it
            for _ in self._batches(file, mapping, copy.copy(result)):
                pass
            raise _arrow.unexplained(file) from None
        counter.report()
        if result.detection.vintage_pending:  # the span of every date, as ``sniff`` scans it
            result.detection = self._detection(file, year_span(sorted(years)))

    def _convert(
        self,
        raw: pd.DataFrame,
        mapping: dict[str, str | None],
        file: SniffedFile,
        line0: int,
        counter: _Counter,
        runs: _Runs,
    ) -> pd.DataFrame:
        frame = raw.rename(columns=mapping)
        for column in frame.columns:
            frame[column] = frame[column].str.strip()
        self._commune(frame, file, line0, counter)
        _pad(frame, "code_postal", 5, counter)
        _pad(frame, "adresse_code_voie", 4, counter)
        frame["adresse_nom_voie"] = (frame["type_voie"] + " " + frame["voie"]).str.strip()
        prefix = frame["prefixe_section"].where(frame["prefixe_section"] != "", "000")
        frame["id_parcelle"] = (
            frame["code_commune"]
            + prefix.str.zfill(3)
            + frame["section"].str.zfill(2)
            + frame["numero_plan"].str.zfill(4)
        )
        document = frame.get("identifiant_document", frame.get("code_service_ch"))
        parts = [document, *(frame[column] for column in _MUTATION_KEY)]
        key = document.str.cat(parts[1:], sep="\x1f")
        change = key.ne(key.shift())
        change.iloc[0] = tuple(part.iloc[0] for part in parts) != runs.last_key
        numbers = runs.run + change.astype(int).cumsum()
        frame["id_mutation"] = "dgfip-" + numbers.astype(str)
        runs.last_key = tuple(part.iloc[-1] for part in parts)
        runs.run = int(numbers.iloc[-1])
        frame["source_format"] = "dgfip"
        return _typed(frame, file, line0, counter)

    @staticmethod
    def _fast(
        table: pa.Table, mapping: dict[str, str | None], counter: _Counter, runs: _Runs
    ) -> pa.Table:
        """:meth:`_convert` with Arrow kernels; counts and runs change only on success."""
        columns = {mapping[name]: _arrow.strip(table.column(name)) for name in table.column_names}
        department, commune = columns["code_departement"], columns["code_commune_dgfip"]
        if _arrow.signed(
            department,
            commune,
            columns["prefixe_section"],
            columns["section"],
            columns["numero_plan"],
        ):
            raise _arrow.Fallback
        counts: list[tuple[str, int]] = []
        overseas = pc.starts_with(department, "97")
        padded_department, count = _arrow.pad_digits(pc.if_else(overseas, "00", department), 2)
        department = pc.if_else(overseas, department, padded_department)
        counts.append(("code_departement", count))
        first = pc.utf8_slice_codeunits(commune, 0, 1)
        three = pc.and_(
            pc.and_(overseas, pc.equal(pc.utf8_length(commune), 3)),
            pc.equal(first, pc.utf8_slice_codeunits(department, 2, 3)),
        )
        dom_commune = pc.if_else(three, pc.utf8_slice_codeunits(commune, 1), commune)
        width = pc.if_else(overseas, 2, 3)
        short = pc.and_(
            pc.match_substring_regex(commune, r"^\d+$"),
            pc.less(pc.utf8_length(dom_commune), width),
        )
        counts.append(("code_commune", pc.sum(short).as_py() or 0))
        padded = pc.if_else(overseas, _arrow.zfill(dom_commune, 2), _arrow.zfill(commune, 3))
        code_commune = pc.if_else(
            pc.equal(commune, ""), "", pc.binary_join_element_wise(department, padded, "")
        )
        _arrow.check_communes(code_commune)
        columns["code_departement"], columns["code_commune"] = department, code_commune
        for name, width in (("code_postal", 5), ("adresse_code_voie", 4)):
            columns[name], count = _arrow.pad_digits(columns[name], width)
            counts.append((name, count))
        columns["adresse_nom_voie"] = _arrow.strip(
            pc.binary_join_element_wise(columns["type_voie"], columns["voie"], " ")
        )
        prefix = columns["prefixe_section"]
        prefix = pc.if_else(pc.equal(prefix, ""), "000", prefix)
        columns["id_parcelle"] = pc.binary_join_element_wise(
            code_commune,
            _arrow.zfill(prefix, 3),
            _arrow.zfill(columns["section"], 2),
            _arrow.zfill(columns["numero_plan"], 4),
            "",
        )
        document = columns.get("identifiant_document", columns.get("code_service_ch"))
        # a new mutation where any key column differs from the line before (compared column
        # by column: cheaper than joining the columns into one key)
        parts = [document, *(columns[column] for column in _MUTATION_KEY)]
        rows = len(document)
        change = np.zeros(rows, dtype=np.int64)
        change[0] = tuple(part[0].as_py() for part in parts) != runs.last_key
        for part in parts:
            change[1:] |= pc.not_equal(part[1:], part[:-1]).to_numpy(zero_copy_only=False)
        numbers = runs.run + np.cumsum(change)
        columns["id_mutation"] = pc.binary_join_element_wise(
            "dgfip-", pa.array(numbers).cast(pa.string()), ""
        )
        columns["source_format"] = pa.array(np.full(rows, "dgfip", dtype=object), pa.string())
        out = _typed_arrow(columns, rows, counts)
        for kind, count in counts:
            counter.add(kind, count)
        runs.last_key = tuple(part[-1].as_py() for part in parts)
        runs.run = int(numbers[-1])
        return out

    @staticmethod
    def _commune(frame: pd.DataFrame, file: SniffedFile, line0: int, counter: _Counter) -> None:
        """``code_commune`` from ``Code departement`` + ``Code commune`` (see module doc)."""
        department, commune = frame["code_departement"], frame["code_commune_dgfip"]
        overseas = department.str.startswith("97")
        padded_department, count = pad_digits(department.where(~overseas, "00"), 2)
        department = department.where(overseas, padded_department)
        counter.add("code_departement", count)
        # DOM: 3-character département and 2-digit commune (97101 = 971 + 01); a 3-digit
        # commune repeating the département's last digit (971 + 101) is accepted as such.
        three = overseas & (commune.str.len() == 3) & (commune.str[0] == department.str[2])
        dom_commune = commune.where(~three, commune.str[1:])
        width = pd.Series(np.where(overseas, 2, 3), index=frame.index)
        short = commune.str.fullmatch(r"\d+") & (dom_commune.str.len() < width)
        padded = dom_commune.str.zfill(2).where(overseas, commune.str.zfill(3))
        counter.add("code_commune", int(short.sum()))
        frame["code_departement"] = department
        frame["code_commune"] = (department + padded).where(commune != "", "")
        shown = frame["code_departement"] + " / " + frame["code_commune_dgfip"]
        check_communes(frame["code_commune"], shown, file, line0, "Code commune")


register(GeoDvfReader())
register(DgfipDvfReader())
