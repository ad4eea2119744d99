"""INSEE census bases: communal ``base-cc-*``, ``base_cc_comparateur``, IRIS ``base-ic-*``.

Recognised from the header only: census columns ``P21_…``, ``C21_…``, ``D99_…`` with codes in
``CODGEO`` (communes) or ``IRIS`` (9 characters; descriptive columns such as ``COM``,
``TYP_IRIS``, ``LAB_IRIS`` are not read). Vintage = the latest year of the ``P``/``C`` columns.
Theme, from the column set and the vintage-free dictionary ``catalogue/rp_dictionary.yaml``
(built from INSEE's ``meta_*`` files by ``scripts/build_rp_dictionary.py``): ``D``-prefixed
columns make the historical series; Filosofi (``MED19``), établissements (``ETTOT18``) or
domiciled births (``NAISD20``) beside census columns make the comparateur; otherwise the theme
whose variables cover at least half of the columns. A dossier complet (every theme at once)
and INSEE's dictionaries (``COD_VAR;LIB_VAR;…``) are not claimed.

Output: one long table ``insee_rp`` (see :func:`read_long`, shared with Filosofi). Geography:
a communal base of census year N is in the COG of 1 January N+3 (checked: RP 2018 → 2021,
RP 2020 → 2023, RP 2021 → 2024); IRIS bases: ``None`` (IRIS codes are kept as published).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from itertools import chain

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.registry import register

BATCH_ROWS = 50_000
_GROUP_CELLS = 2_000_000  # cells converted at once (bounds the memory of one batch)
SECRET_MARKERS = ("", "s", "nd", "ns", "so")  # lower-cased, after trimming
_MARKERS = pa.array(sorted({v for m in SECRET_MARKERS for v in (m, m.upper(), m.title())}))
LONG_COLUMNS = ("code", "variable", "period", "value", "secret", "source_column")
# Descriptive (non-numeric) columns of INSEE bases: read neither as codes nor as values.
DESCRIPTIVE = re.compile(
    r"^(LIBGEO|LIBCOM|LIBIRIS|COM|REG|DEP|ARR|EPCI|TRIRIS|GRD_QUART|TYP_IRIS|MODIF_IRIS|"
    r"LAB_IRIS|UU\d{4}|)$"
)
CODE_PATTERNS = {  # level -> (valid code, code that lost its leading zero, padded width)
    "commune": (r"^(?:\d{5}|2[AB]\d{3})$", r"^\d{4}$", 5),
    "iris": (r"^(?:\d{5}|2[AB]\d{3})\d{4}$", r"^\d{8}$", 9),
    "epci": (r"^\d{9}$", r"^\d{8}$", 9),
    "departement": (r"^(?:\d{2}|2[AB]|97\d)$", r"^\d$", 2),
    "region": (r"^\d{2}$", r"^\d$", 2),
}
_NUMBER = {  # what Arrow's strict cast accepts, written out to locate errors precisely
    ".": r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$",
    ",": r"^[+-]?(?:[0-9]+,?[0-9]*|,[0-9]+)$",
}
_RP = re.compile(r"^([PCD])(\d{2})_([\w-]+)$")  # C21_MEN-FAM exists
_FLOW = re.compile(r"^(NAIS|DECE)(\d{2})(\d{2})$")


def full_year(yy: str) -> int:
    """Two-digit census year → four digits (68…99 → 19xx, 00…49 → 20xx)."""
    value = int(yy)
    return 1900 + value if value >= 50 else 2000 + value


# --------------------------------------------------------------------------- dictionary


@dataclass(frozen=True)
class Dictionary:
    """The vintage-free variable dictionary (``catalogue/rp_dictionary.yaml``)."""

    themes: dict[str, dict]
    additive: dict[str, bool]  # variable -> additive (False wins across themes)
    stems: dict[int, frozenset[str]]  # year-key length -> non-census variable names

    def variables(self, theme: str) -> set[str]:
        return {row["var"] for row in self.themes[theme]["variables"]}

    def expected(self, theme: str, vintage: str) -> list[tuple[str, str]] | None:
        """(variable, year key) of the (theme, vintage) edition; None when not documented."""
        content = self.themes.get(theme, {})
        if vintage not in content.get("editions", {}):
            return None
        return [
            (row["var"], key) for row in content["variables"] for key in row["in"].get(vintage, [])
        ]


def column_name(variable: str, key: str) -> str:
    """The INSEE column of a generic variable: P_LOG + "21" → P21_LOG, NAIS + "1520" → NAIS1520."""
    if len(variable) > 2 and variable[0] in "PCD" and variable[1] == "_":
        return f"{variable[0]}{key}{variable[1:]}"
    return f"{variable}{key}"


@cache
def rp_dictionary() -> Dictionary:
    """The variable dictionary shipped with the package (labels, additivity, editions)."""
    text = files("observatoire.catalogue").joinpath("rp_dictionary.yaml").read_text("utf-8")
    themes = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["themes"]
    additive: dict[str, bool] = {}
    stems: dict[int, set[str]] = {2: set(), 4: set()}
    for content in themes.values():
        for row in content["variables"]:
            var = row["var"]
            additive[var] = additive.get(var, True) and bool(row["additive"])
            if not _RP.match(column_name(var, "00")) and not _FLOW.match(var + "0000"):
                for keys in row["in"].values():
                    for key in keys:
                        if len(key) in stems:
                            stems[len(key)].add(var)
    return Dictionary(themes, additive, {k: frozenset(v) for k, v in stems.items()})


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """One header column understood: generic variable, year key and kind."""

    name: str  # as in the file
    variable: str
    key: str  # "21", "1520", "" (SUPERF)
    kind: str  # "census" (P/C/D), "flow" (NAIS/DECE), "annual", "fixed"


def parse_column(name: str, dictionary: Dictionary) -> Column | None:
    """The generic variable of a column, or None when the name follows no known rule."""
    upper = name.upper()
    if match := _RP.match(upper):
        return Column(name, f"{match.group(1)}_{match.group(3)}", match.group(2), "census")
    if match := _FLOW.match(upper):
        return Column(name, match.group(1), match.group(2) + match.group(3), "flow")
    if upper == "SUPERF":
        return Column(name, upper, "", "fixed")
    for width in (2, 4):
        stem, key = upper[:-width], upper[-width:]
        if key.isdigit() and stem in dictionary.stems[width]:
            return Column(name, stem, key, "annual")
    return None


def period_of(column: Column, census_years: set[int], vintage: str) -> str:
    """The period of a column: "2021"; for flows, the two census years ("2015-2021": INSEE
    writes NAIS1520 for the births of 1 January 2015 to 31 December 2020); SUPERF: the vintage."""
    if column.kind == "fixed":
        return vintage
    if column.kind == "flow":
        start, end = full_year(column.key[:2]), full_year(column.key[2:])
        if end not in census_years and end + 1 in census_years:
            end += 1
        return f"{start}-{end}"
    if len(column.key) == 4:
        return column.key
    return str(full_year(column.key))


@dataclass(frozen=True)
class ColumnSpec:
    """A numeric column to read and how it appears in the long table."""

    source: str
    variable: str
    period: str
    additive: bool


# --------------------------------------------------------------------------- reading engine


def _csv_stream(file: SniffedFile, names: list[str], bad: list[tuple]):
    def on_invalid(row) -> str:
        bad.append((row.number, row.actual_columns, row.expected_columns))
        return "skip"

    encoding = "utf8" if (file.encoding or "utf-8").startswith("utf-8") else file.encoding
    return pacsv.open_csv(
        file.open_binary(),
        read_options=pacsv.ReadOptions(
            column_names=names,
            skip_rows=1,
            encoding=encoding,
            block_size=1 << 20,
            use_threads=False,  # keeps physical line numbers for invalid rows
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=file.separator or ";",
            ignore_empty_lines=False,  # a blank line is a row of empty fields (line numbers)
            invalid_row_handler=on_invalid,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _tables(file: SniffedFile, names: list[str]) -> Iterator[pa.Table]:
    """Tables of about BATCH_ROWS rows; a row with a wrong number of fields is an error."""
    bad: list[tuple] = []
    pending: list[pa.RecordBatch] = []
    try:
        for batch in chain(_csv_stream(file, names, bad), [None]):
            if bad:
                line, actual, expected = bad[0]
                message = f"{actual} champ(s) au lieu de {expected} (ligne tronquée ?)"
                raise InputError(message, path=file.label, line=line)
            if batch is None:
                break
            pending.append(batch)
            if sum(b.num_rows for b in pending) >= BATCH_ROWS:
                yield pa.Table.from_batches(pending)
                pending = []
        if pending:
            yield pa.Table.from_batches(pending)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        message = "fichier CSV illisible (guillemets non fermés, encodage ou octets invalides)"
        raise InputError(message, path=file.label) from exc


def _fast_table(
    file: SniffedFile, names: list[str], code_column: str, specs: list[ColumnSpec]
) -> pa.Table | None:
    """The whole file parsed straight to numbers by Arrow's CSV reader (all cores), or None.

    Only for a clean file: every value a plain number with a decimal point or blank (the
    census bases' secret marker), every line with its fields, no blank line, no empty code.
    Anything else (``s`` markers, decimal commas, spaces, a truncated line…) returns None and
    the file is read by the checked path (:func:`_tables`), which repairs, counts and reports
    line and column — so the outcome never depends on the path taken.
    """
    bad: list[object] = []

    def on_invalid(row: object) -> str:
        bad.append(row)
        return "skip"

    types: dict[str, pa.DataType] = dict.fromkeys(names, pa.string())
    types.update({s.source: pa.float64() for s in specs})
    encoding = "utf8" if (file.encoding or "utf-8").startswith("utf-8") else file.encoding
    try:
        table = pacsv.read_csv(
            file.open_binary(),
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, encoding=encoding, block_size=8 << 20
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=file.separator or ";",
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=False,
                decimal_point=".",
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if bad or table.num_rows == 0:
        return None
    for s in specs:  # "nan", "inf": not a count, checked precisely
        column = table.column(s.source)
        finite = pc.is_finite(column)
        if pc.sum(finite).as_py() != len(column) - column.null_count:
            return None
    if pc.any(pc.equal(table.column(code_column), "")).as_py():
        return None  # an empty code: maybe a blank line, read precisely
    return table


def _fast_numbers(
    table: pa.Table, specs: list[ColumnSpec], state: _State
) -> tuple[np.ndarray, np.ndarray]:
    """Values (columns x rows, NaN when secret) and secret flags of a table read by
    :func:`_fast_table` (its only secret marker is the blank cell)."""
    values = np.empty((len(specs), table.num_rows))
    for row, spec in enumerate(specs):
        values[row] = table.column(spec.source).to_numpy()  # NULL → NaN
    secret = np.isnan(values)
    blanks = int(secret.sum())
    if blanks:
        state.markers[""] += blanks
    return values, secret


def _slices(table: pa.Table) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, BATCH_ROWS):
        yield table.slice(start, BATCH_ROWS)


def _drop_blank_rows(table: pa.Table, code: str, lines: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Blank lines (every field empty) are not data: dropped, line numbers kept."""
    suspects = np.flatnonzero(pc.equal(table.column(code), "").to_numpy(zero_copy_only=False))
    blank = [i for i in suspects if all(c[int(i)].as_py() == "" for c in table.columns)]
    if not blank:
        return table, lines
    keep = np.ones(table.num_rows, dtype=bool)
    keep[blank] = False
    return table.filter(pa.array(keep)), lines[keep]


@dataclass(frozen=True)
class WideBlock:
    """Rows of a wide table as read: codes, values (columns x rows, NaN when secret), flags."""

    codes: pa.Array
    values: np.ndarray
    secret: np.ndarray


@dataclass
class _State:
    """What a read has seen so far (duplicates, decimal mark, repairs)."""

    seen: dict[str, tuple[int, tuple[int, int]]] = field(default_factory=dict)  # code ->
    # (line, (block, row)): where its first row is, to compare a repeat with it
    blocks: list[np.ndarray] = field(default_factory=list)  # the value blocks read so far
    decimal: str | None = None
    padded: int = 0
    padded_example: str = ""
    duplicates: list[str] = field(default_factory=list)
    markers: Counter[str] = field(default_factory=Counter)


def _codes(
    table: pa.Table, column: str, level: str, lines: np.ndarray, label: str, state: _State
) -> pa.Array:
    """The codes, trimmed; a code that lost its leading zero is padded (counted)."""
    valid, lost_zero, width = CODE_PATTERNS[level]
    codes = pc.utf8_trim_whitespace(table.column(column).combine_chunks())
    ok = pc.match_substring_regex(codes, valid)
    if not pc.all(ok).as_py():
        lost = pc.match_substring_regex(codes, lost_zero)
        if not pc.all(pc.or_(ok, lost)).as_py():
            index = pc.index(pc.or_(ok, lost), False).as_py()
            value = codes[index].as_py()
            raise InputError(
                f"code géographique invalide « {value} » (attendu : {level}, {width} caractères)",
                path=label,
                line=int(lines[index]),
                column=column,
            )
        count = pc.sum(lost).as_py()
        example = codes.filter(lost)[0].as_py()
        codes = pc.if_else(lost, pc.utf8_lpad(codes, width, "0"), codes)
        state.padded += count
        state.padded_example = state.padded_example or f"{example} → {example.zfill(width)}"
    return codes


def _masked(text: pa.Array, secret: np.ndarray) -> pa.Array:
    """``text`` with the secret cells set to null (a new validity bitmap, no copy)."""
    if text.offset or text.null_count:
        return pc.if_else(pa.array(secret), pa.scalar(None, text.type), text)
    bitmap = pa.py_buffer(np.packbits(~secret, bitorder="little"))
    return pa.Array.from_buffers(text.type, len(text), [bitmap, *text.buffers()[1:]])


def _convert(text: pa.Array, secret: np.ndarray, decimal: str | None) -> np.ndarray | None:
    """Fast path: Arrow's strict cast; None when some cell needs the precise (slow) check."""
    if decimal == ",":
        if pc.any(pc.match_substring_regex(text, "[.eE]")).as_py():
            return None  # a point or an exponent in a comma-decimal file: checked precisely
        text = pc.replace_substring(text, ",", ".")
    try:
        number = pc.cast(_masked(text, secret), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not np.isfinite(number[~secret]).all():  # "nan", "inf" or an overflow: not a count
        return None
    return number


def _numbers(
    table: pa.Table, specs: list[ColumnSpec], lines: np.ndarray, label: str, state: _State
) -> tuple[np.ndarray, np.ndarray]:
    """Values (NaN when secret) and secret flags, column after column (long order)."""
    n = table.num_rows
    values, secrets = [], []
    step = max(1, _GROUP_CELLS // max(n, 1))
    for start in range(0, len(specs), step):
        group = specs[start : start + step]
        text = pa.chunked_array(
            [chunk for s in group for chunk in table.column(s.source).chunks], type=pa.string()
        ).combine_chunks()
        secret = pc.is_in(text, value_set=_MARKERS).to_numpy(zero_copy_only=False)
        if state.decimal is None:
            commas = pc.sum(pc.match_substring(text, ",")).as_py() or 0
            dots = pc.sum(pc.match_substring(text, ".")).as_py() or 0
            if commas or dots:
                state.decimal = "," if commas > dots else "."
        number = _convert(text, secret, state.decimal)
        if number is None:  # spaces around values, or an error to locate precisely
            text = pc.utf8_trim_whitespace(text)
            secret = pc.is_in(pc.utf8_lower(text), value_set=_MARKERS).to_numpy(
                zero_copy_only=False
            )
            good = secret | pc.match_substring_regex(text, _NUMBER[state.decimal or "."]).to_numpy(
                zero_copy_only=False
            )
            if not good.all():
                index = int(np.flatnonzero(~good)[0])
                mark = "à la virgule" if state.decimal == "," else "au point"
                raise InputError(
                    f"valeur non numérique « {text[index].as_py()} » (ni nombre avec décimales "
                    f"{mark}, ni marque de secret : vide, s, nd, ns, so)",
                    path=label,
                    line=int(lines[index % n]),
                    column=group[index // n].source,
                )
            number = _convert(text, secret, state.decimal)
            if number is None:  # well-formed but beyond the float range (400 digits)
                dotted = _masked(pc.replace_substring(text, ",", "."), secret)
                flat = pc.cast(dotted, pa.float64()).to_numpy(zero_copy_only=False)
                index = int(np.flatnonzero(~np.isfinite(flat) & ~secret)[0])
                raise InputError(
                    f"valeur hors limites « {text[index].as_py()} »",
                    path=label,
                    line=int(lines[index % n]),
                    column=group[index // n].source,
                )
        if secret.any():
            marks = pc.utf8_lower(pc.utf8_trim_whitespace(text.filter(pa.array(secret))))
            for item in pc.value_counts(marks).to_pylist():
                state.markers[item["values"]] += item["counts"]
        values.append(number)
        secrets.append(secret)
    if not values:
        return np.empty(0), np.empty(0, dtype=bool)
    return np.concatenate(values), np.concatenate(secrets)


def _deduplicate(
    codes: np.ndarray, values: np.ndarray, lines: np.ndarray, column: str, label: str, state: _State
) -> np.ndarray:
    """Rows to keep: an exact repeat of a row is dropped (counted), a conflicting one is refused.

    ``values`` is the block (columns x rows); rows are compared cell by cell (NaN equal to
    NaN), and only those whose code was seen twice.
    """
    keep = np.ones(len(codes), dtype=bool)
    block = len(state.blocks)
    state.blocks.append(values)
    series = pd.Series(codes, dtype=object)
    suspects = series.duplicated(keep=False).to_numpy()
    if state.seen:
        suspects = suspects | series.isin(list(state.seen)).to_numpy()
    for index in np.flatnonzero(suspects):
        code = codes[index]
        if code in state.seen:
            first, (other, row) = state.seen[code]
            if not np.array_equal(state.blocks[other][:, row], values[:, index], equal_nan=True):
                raise InputError(
                    f"code « {code} » en double (lignes {first} et {lines[index]}) avec des "
                    "valeurs différentes : impossible de choisir",
                    path=label,
                    line=int(lines[index]),
                    column=column,
                )
            keep[index] = False
            state.duplicates.append(f"{code} (ligne {lines[index]})")
        else:
            state.seen[code] = (int(lines[index]), (block, int(index)))
    clean = np.flatnonzero(~suspects)
    where = zip(lines[clean].tolist(), ((block, i) for i in clean.tolist()), strict=True)
    state.seen.update(zip(codes[clean], where, strict=True))
    return keep


def code_column_of(file: SniffedFile, code_column: str) -> str:
    """The code column as written in the header; a repeated or missing column is refused."""
    names = list(file.columns)
    doubles = sorted(n for n, c in Counter(n.upper() for n in names).items() if c > 1)
    if doubles:
        raise InputError(f"colonne(s) en double : {', '.join(doubles)}", path=file.label, line=1)
    found = next((n for n in names if n.upper() == code_column.upper()), None)
    if found is None:
        message = f"colonne « {code_column} » absente : impossible d'identifier les territoires"
        raise InputError(message, path=file.label, line=1)
    return found


def read_long(
    file: SniffedFile,
    detection: Detection,
    *,
    table: str,
    code_column: str,
    specs: list[ColumnSpec],
    warnings: Iterable[str] = (),
) -> ReadResult:
    """A wide INSEE table (one row per territory, one column per variable and year) as
    batches of the long table :data:`LONG_COLUMNS`, converted in bulk with Arrow.

    Secret markers (blank, ``s``, ``nd``, ``ns``, ``so``) give NULL, ``secret`` true, counted,
    never 0. Decimal mark: the file's (majority of the first decimal cells); the other mark or
    any other text is an error naming the line and column. Codes that lost their leading zero
    are padded, exact repeats of a row dropped (both counted in ``repaired``, warned); a code
    repeated with other values is refused.
    """
    names, found = list(file.columns), code_column_of(file, code_column)
    result = ReadResult(
        detection=detection,
        table=table,
        batches=(),
        code_column="code",
        count_columns=tuple(s.source for s in specs if s.additive),
        keep_columns=tuple(s.source for s in specs if not s.additive),
        warnings=list(warnings),
    )
    result.wide_blocks = _generate(file, result, detection.level, found, specs, names)
    result.wide_specs = tuple(specs)
    result.batches = long_frames(result.wide_blocks, specs)
    return result


def long_frames(blocks: Iterable[WideBlock], specs: list[ColumnSpec]) -> Iterator[pd.DataFrame]:
    """Wide blocks as frames of the long table :data:`LONG_COLUMNS` (column after column)."""
    labels = {
        "variable": pa.array([s.variable for s in specs], pa.string()),
        "period": pa.array([s.period for s in specs], pa.string()),
        "source_column": pa.array([s.source for s in specs], pa.string()),
    }
    width = len(specs)
    for block in blocks:
        n = len(block.codes)
        # Built with Arrow (repeated strings without Python objects), then one conversion.
        index = np.repeat(np.arange(width, dtype=np.int32), n)
        columns = {
            "code": block.codes.take(pa.array(np.tile(np.arange(n), width))),
            "variable": labels["variable"].take(index),
            "period": labels["period"].take(index),
            "value": pa.array(block.values.ravel(), pa.float64()),
            "secret": pa.array(block.secret.ravel(), pa.bool_()),
            "source_column": labels["source_column"].take(index),
        }
        yield pa.table(columns).to_pandas()


def _generate(
    file: SniffedFile,
    result: ReadResult,
    level: str,
    code_column: str,
    specs: list[ColumnSpec],
    names: list[str],
) -> Iterator[WideBlock]:
    """The file as wide blocks (codes, values, secret flags), checked and counted."""
    state, first = _State(), 0
    width = len(specs)
    fast = _fast_table(file, names, code_column, specs)
    for table in _tables(file, names) if fast is None else _slices(fast):
        lines = np.arange(first + 2, first + 2 + table.num_rows)  # header = line 1
        first += table.num_rows
        n = table.num_rows
        if fast is None:
            table, lines = _drop_blank_rows(table, code_column, lines)
            n = table.num_rows
        codes = _codes(table, code_column, level, lines, file.label, state)
        if fast is None:
            flat, flags = _numbers(table, specs, lines, file.label, state)
            values, secret = flat.reshape(width, n), flags.reshape(width, n)
        else:
            values, secret = _fast_numbers(table, specs, state)
        text_codes = codes.to_numpy(zero_copy_only=False)
        kept = np.flatnonzero(
            _deduplicate(text_codes, values, lines, code_column, file.label, state)
        )
        if len(kept) < n:
            values, secret = np.take(values, kept, axis=1), np.take(secret, kept, axis=1)
            codes = codes.take(pa.array(kept))  # np.take: rows stay C-contiguous
        result.secret_cells += int(secret.sum())
        yield WideBlock(codes, values, secret)
    result.repaired = state.padded + len(state.duplicates)
    if state.padded:
        result.warnings.append(
            f"{state.padded} code(s) sans zéro initial complété(s) (ex. {state.padded_example})"
        )
    if state.duplicates:
        result.warnings.append(
            f"{len(state.duplicates)} ligne(s) répétée(s) à l'identique ignorée(s) : "
            + ", ".join(state.duplicates[:5])
        )
    if state.markers:
        shown = ", ".join(
            f"« {m or 'vide'} » {c}" for m, c in sorted(state.markers.items(), key=lambda i: -i[1])
        )
        result.warnings.append(f"cellules non diffusées (secret, vide, non disponible) : {shown}")


# --------------------------------------------------------------------------- census reader

# Thematic bases (the comparateur and the historical series are recognised otherwise).
CENSUS_THEMES = ("evol_struct_pop", "logement", "couples_familles_menages")
CENSUS_THEMES += ("diplomes_formation", "emploi_pop_active", "activite_residents")
_IRIS_HINTS = {"TYP_IRIS", "LAB_IRIS", "LIBIRIS", "MODIF_IRIS", "TRIRIS", "GRD_QUART"}


@dataclass(frozen=True)
class Header:
    """A header as the census reader understands it."""

    code: str | None  # the code column as written in the file (CODGEO, IRIS)
    level: str  # "commune" or "iris"
    columns: tuple[Column, ...]  # recognised data columns
    unknown: tuple[str, ...]  # other non-descriptive columns


def analyse(names: Iterable[str], dictionary: Dictionary) -> Header:
    """Code column, level and understood columns of a header (descriptive ones left out)."""
    names = list(names)
    upper = [n.upper() for n in names]
    code = next((n for n, u in zip(names, upper, strict=True) if u == "IRIS"), None)
    code = code or next((n for n, u in zip(names, upper, strict=True) if u == "CODGEO"), None)
    if code is not None:
        level = "iris" if code.upper() == "IRIS" else "commune"
    else:
        level = "iris" if _IRIS_HINTS & set(upper) else "commune"
    columns, unknown = [], []
    for name in names:
        if name == code or DESCRIPTIVE.match(name.upper()):
            continue
        parsed = parse_column(name, dictionary)
        if parsed is None:
            unknown.append(name)
        else:
            columns.append(parsed)
    return Header(code, level, tuple(columns), tuple(unknown))


def census_theme(header: Header, dictionary: Dictionary) -> str | None:
    """The dictionary theme of a census header (None: not a single census base)."""
    variables = {c.variable for c in header.columns}
    owners = {t: dictionary.variables(t) for t in CENSUS_THEMES}
    exclusive = Counter(
        next(iter(hits))
        for v in variables
        if len(hits := [t for t in CENSUS_THEMES if v in owners[t]]) == 1
    )
    if sum(count >= 10 for count in exclusive.values()) >= 3:
        return None  # a dossier complet (every theme at once): not one base
    if any(c.kind == "census" and c.variable.startswith("D_") for c in header.columns):
        return "serie_historique"
    if any(c.kind == "annual" for c in header.columns):
        return "comparateur"
    best = max(CENSUS_THEMES, key=lambda t: len(variables & owners[t]))
    share = len(variables & owners[best]) / max(len(variables) + len(header.unknown), 1)
    if share >= 0.5 or (header.level == "iris" and share > 0):
        return best
    return None


def census_vintage(header: Header) -> str:
    years = [
        full_year(c.key) for c in header.columns if c.kind == "census" and c.variable[0] in "PC"
    ]
    years = years or [full_year(c.key) for c in header.columns if c.kind == "census"]
    return str(max(years))


class InseeRpReader:
    """Reader of INSEE census bases (communes and IRIS), see the module docstring."""

    name = "insee_rp"

    def sniff(self, file: SniffedFile) -> Detection | None:
        if file.kind != "csv" or not file.columns:
            return None
        dictionary = rp_dictionary()
        header = analyse(file.columns, dictionary)
        census = [c for c in header.columns if c.kind == "census"]
        if not census or (header.code is None and len(census) < 3):
            return None
        theme = census_theme(header, dictionary)
        if theme is None:
            return None
        vintage, content = census_vintage(header), dictionary.themes[theme]
        label = f"Recensement {vintage} — {content['label']}"
        if header.level == "iris":
            return Detection(f"rp_iris_{theme}", vintage, "iris", None, f"{label} (IRIS)")
        if theme == "comparateur":
            label = f"Comparateur de territoires (recensement {vintage}, Filosofi, Sirene…)"
        else:
            label += " (communes)"
        return Detection(content["dataset"], vintage, "commune", int(vintage) + 3, label)

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        dictionary = rp_dictionary()
        header = analyse(file.columns, dictionary)
        code = code_column_of(file, "IRIS" if header.level == "iris" else "CODGEO")
        theme = census_theme(header, dictionary)
        if theme is None:
            raise InputError("base du recensement non reconnue", path=file.label, line=1)
        vintage = census_vintage(header)
        warnings = check_columns(file, header, dictionary, theme, vintage)
        census_years = {full_year(c.key) for c in header.columns if c.kind == "census"}
        specs = [
            ColumnSpec(
                source=c.name,
                variable=c.variable,
                period=period_of(c, census_years, vintage),
                additive=dictionary.additive.get(c.variable, c.kind != "annual"),
            )
            for c in header.columns
        ]
        specs += [ColumnSpec(n, n.upper(), vintage, False) for n in header.unknown]
        return read_long(
            file, detection, table="insee_rp", code_column=code, specs=specs, warnings=warnings
        )


def check_columns(
    file: SniffedFile, header: Header, dictionary: Dictionary, theme: str, vintage: str
) -> list[str]:
    """Refuse a file that lacks expected columns (named); the warnings of the check."""
    warnings = []
    present = {n.upper() for n in file.columns}
    expected = dictionary.expected(theme, vintage)
    variables = {c.variable for c in header.columns}
    if header.level == "iris":  # IRIS bases differ from the communal ones: no layout check
        missing = []
    elif expected is not None:  # census columns exactly; other sources' (état civil,
        # Filosofi, Sirene: their year varies between editions) at any year
        missing = [
            column_name(v, key)
            for v, key in expected
            if (
                column_name(v, key) not in present
                if _RP.match(column_name(v, key))
                else v not in variables
            )
        ]
    else:  # core variables: P_/C_ ones at the main year, the others at any year
        core = [(v, column_name(v, vintage[2:])) for v in dictionary.themes[theme]["core"]]
        missing = [
            name
            for v, name in core
            if (name not in present if v[:2] in ("P_", "C_") else v not in variables)
        ]
        warnings.append(
            f"millésime {vintage} absent du dictionnaire des variables : seules les colonnes "
            "essentielles ont été vérifiées"
        )
    if missing:
        shown = ", ".join(missing[:12]) + ("…" if len(missing) > 12 else "")
        raise InputError(
            f"{len(missing)} colonne(s) attendue(s) absente(s) : {shown}", path=file.label, line=1
        )
    if header.unknown:
        warnings.append(
            f"{len(header.unknown)} colonne(s) inconnue(s) du dictionnaire lue(s) telle(s) "
            f"quelle(s), non additive(s) : {', '.join(header.unknown[:8])}"
        )
    return warnings


register(InseeRpReader())
