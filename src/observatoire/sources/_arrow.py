"""Arrow fast paths for the line-level readers (DVF, BPE géolocalisée).

The readers' pandas code (:mod:`observatoire.sources.dvf`) is the reference: it types every
column and raises precise errors (line, column, value). National files (millions of lines)
are converted here with Arrow kernels instead, batch by batch, for the loader. A batch whose
values are not all plainly valid raises :class:`Fallback`: the reader then converts that batch
with the pandas code, which repairs what it repairs and raises the precise error otherwise —
so both paths give the same rows, counts and messages.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from observatoire.errors import InputError
from observatoire.sources.base import SniffedFile

BLOCK_BYTES = 1 << 20  # small blocks parse faster (cache) than dvf.BLOCK_BYTES
BATCH_ROWS = 200_000
_NUMBER = r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$"  # dvf.NUMBER_PATTERN, anchored
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_FR_DATE = r"^\d{2}/\d{2}/\d{4}$"


class Fallback(Exception):
    """This batch needs the reference (pandas) conversion."""


def iter_arrow_batches(
    file: SniffedFile, *, include: Sequence[str], quoted: bool = True
) -> Iterator[tuple[int, pa.Table]]:
    """``(line of the first row, a table of string columns named as in the header)``.

    Same reading options as :func:`observatoire.sources.dvf.iter_text_batches`; a line with a
    wrong number of fields, or unreadable bytes, raise :class:`Fallback` so that the reference
    reader reports them.
    """
    names = [f"c{i}" for i in range(len(file.columns))]
    included = [names[file.columns.index(column)] for column in include]
    rename = dict(zip(names, file.columns, strict=True))
    bad: list = []

    def on_invalid(row) -> str:
        bad.append(row)
        return "skip"

    encoding = "utf8" if file.encoding in (None, "utf-8", "utf-8-sig") else file.encoding
    line = 2
    with file.open_binary() as handle:
        try:
            reader = pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(
                    column_names=names,
                    skip_rows=1,
                    block_size=BLOCK_BYTES,
                    encoding=encoding,
                    use_threads=False,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=file.separator or ",",
                    quote_char='"' if quoted else False,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    include_columns=included,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            pending: list[pa.RecordBatch] = []
            for batch in chain(reader, [None]):
                if bad:
                    raise Fallback
                if batch is not None:
                    pending.append(batch)
                    if sum(b.num_rows for b in pending) < BATCH_ROWS:
                        continue
                if not pending:
                    break
                table = pa.Table.from_batches(pending).rename_columns(
                    [rename[c] for c in pending[0].schema.names]
                )
                pending = []
                yield line, table
                line += table.num_rows
        except (pa.ArrowInvalid, EOFError, zlib.error, UnicodeDecodeError) as exc:
            raise Fallback from exc


def strip(values: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(values)


def blank_to_null(text: pa.Array) -> pa.Array:
    """Stripped strings in, ``""`` → NULL (``dvf.blank_to_na``)."""
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def pad_digits(text: pa.Array, width: int) -> tuple[pa.Array, int]:
    """``dvf.pad_digits`` on stripped strings: all-digit codes shorter than ``width`` padded."""
    short = pc.less(pc.utf8_length(text), width)
    if not pc.any(short).as_py():
        return text, 0
    short = pc.and_(short, pc.match_substring_regex(text, r"^\d+$"))
    count = pc.sum(short).as_py() or 0
    if count:
        text = pc.if_else(short, pc.utf8_lpad(text, width, "0"), text)
    return text, count


def zfill(values: pa.Array, width: int) -> pa.Array:
    """``str.zfill`` for values without a sign (checked by the callers)."""
    return pc.utf8_lpad(values, width, "0")


def decimal(text: pa.Array) -> tuple[pa.Array, int]:
    """Float64 from stripped strings (``dvf.parse_decimal``): empty → NULL, commas counted.

    Arrow's strict cast accepts what ``dvf.NUMBER_PATTERN`` accepts, plus ``inf`` and ``nan``
    (refused below): anything else is left to the reference conversion.
    """
    comma = pc.match_substring(text, ",")
    commas = pc.sum(comma).as_py() or 0
    if commas:
        text = pc.replace_substring(text, ",", ".")
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        numbers = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Fallback from exc
    finite = pc.is_finite(numbers)
    if pc.count(numbers).as_py() != (pc.sum(finite).as_py() or 0):
        raise Fallback
    return numbers, commas


def integer(text: pa.Array) -> tuple[pa.Array, int]:
    """Int64 (``dvf.parse_integer``): ``000001`` → 1, ``3.00`` → 3; a fraction: Fallback."""
    numbers, commas = decimal(text)
    array = numbers.to_numpy(zero_copy_only=False)
    present = ~np.isnan(array)
    if (array[present] % 1 != 0).any() or (np.abs(array[present]) >= 2**53).any():
        raise Fallback
    return pc.cast(pc.round(numbers), pa.int64()), commas


def date(text: pa.Array) -> pa.Array:
    """Date32 from stripped ``AAAA-MM-JJ`` or ``JJ/MM/AAAA``, none missing (``dvf.parse_date``
    with ``required``); else Fallback. Arrow's cast to date refuses impossible dates
    (2021-02-30), as pandas does."""
    french = pc.match_substring_regex(text, _FR_DATE)
    if pc.all(french).as_py():
        iso = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(text, 6, 10),
            pc.utf8_slice_codeunits(text, 3, 5),
            pc.utf8_slice_codeunits(text, 0, 2),
            "-",
        )
    elif pc.all(pc.match_substring_regex(text, _ISO_DATE)).as_py():
        iso = text
    else:  # mixed formats or blanks: the reference conversion
        raise Fallback
    try:
        days = pc.cast(iso, pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Fallback from exc
    low, high = pc.min(days).as_py(), pc.max(days).as_py()
    if low is not None and (low.year < 1678 or high.year > 2261):  # pandas' datetime range
        raise Fallback
    return days


def check_communes(codes: pa.Array) -> None:
    """Every code a 5-character commune code (``dvf.check_communes``); else Fallback."""
    if not pc.all(pc.match_substring_regex(codes, r"^(?:\d{2}|2[AB])\d{3}$")).as_py():
        raise Fallback


def signed(*columns: pa.Array) -> bool:
    """Any value starting with a sign (``str.zfill`` keeps the sign first: not an lpad)."""
    return any(pc.any(pc.starts_with(c, "+")).as_py() for c in columns) or any(
        pc.any(pc.starts_with(c, "-")).as_py() for c in columns
    )


def unexplained(file: SniffedFile) -> InputError:
    """The fast reading refused the file but the reference reading did not: never silent."""
    return InputError("fichier illisible (lecture interrompue)", path=file.label)
