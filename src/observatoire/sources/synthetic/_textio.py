"""Vectorised text output: numbers formatted as each publisher writes them, rows joined with
Arrow kernels and written in blocks (plain file or zip member), byte-for-byte reproducible."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BLOCK_ROWS = 200_000


def names(listing: str) -> list[str]:
    """Column names from a comma-separated listing (newlines and spaces ignored)."""
    return [name.strip() for name in listing.split(",") if name.strip()]


def text(values: Sequence[str] | np.ndarray | pa.Array) -> pa.Array:
    """A string array (no nulls)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        array = values
    else:
        array = pa.array(np.asarray(values, dtype=object), type=pa.string())
    return pc.fill_null(array.cast(pa.string()), "")


def dates(values: np.ndarray, template: str = "%Y-%m-%d") -> pa.Array:
    """Calendar dates (numpy ``datetime64``) formatted with ``template``."""
    return pc.strftime(pa.array(np.asarray(values).astype("datetime64[D]")), format=template)


def constant(value: str, n: int) -> pa.Array:
    return pa.array([value], pa.string()).take(np.zeros(n, dtype=np.int32))


def blank(array: pa.Array, mask: np.ndarray | None, marker: str = "") -> pa.Array:
    """``array`` with the cells of ``mask`` replaced by ``marker`` (secret, missing)."""
    if mask is None or not mask.any():
        return array
    return pc.if_else(pa.array(mask), pa.scalar(marker), array)


def integers(values: np.ndarray, mask: np.ndarray | None = None, marker: str = "") -> pa.Array:
    """Whole numbers, no decimal part."""
    array = pc.cast(pa.array(np.asarray(values).astype(np.int64)), pa.string())
    return blank(array, mask, marker)


def padded(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative whole numbers zero-padded to ``width`` (``000001``)."""
    return pc.utf8_lpad(integers(values), width, "0")


def shortest(values: np.ndarray, mask: np.ndarray | None = None, marker: str = "") -> pa.Array:
    """The shortest decimal that reads back as the value (``346.5``, ``329500``), point mark.
    Values must stay below 1e10 (Arrow switches to exponents beyond)."""
    data = np.asarray(values, dtype=float) + 0.0  # no negative zero
    return blank(pc.cast(pa.array(data), pa.string()), mask, marker)


def significant(values: np.ndarray, digits: int = 15, mask: np.ndarray | None = None) -> pa.Array:
    """At most ``digits`` significant digits, trailing zeros dropped (INSEE's weighted
    census counts: ``353.730434782608``)."""
    data = np.asarray(values, dtype=float)
    data = np.where(np.abs(data) < 1e-9, 0.0, data)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exponent = np.floor(np.log10(np.abs(data)))
        exponent = np.where(np.isfinite(exponent), exponent, 0.0)
        scale = 10.0 ** (digits - 1 - exponent)
        rounded = np.where(data == 0, 0.0, np.round(data * scale) / scale)
    return shortest(rounded, mask)


def fixed(
    values: np.ndarray,
    decimals: int,
    *,
    comma: bool = False,
    mask: np.ndarray | None = None,
    marker: str = "",
) -> pa.Array:
    """Exactly ``decimals`` decimals (``829530,00``, ``48,0``), with a point or a comma."""
    data = np.asarray(values, dtype=float)
    factor = 10**decimals
    scaled = np.round(np.abs(data) * factor).astype(np.int64)
    whole = pc.cast(pa.array(scaled // factor), pa.string())
    if decimals:
        part = pc.utf8_lpad(pc.cast(pa.array(scaled % factor), pa.string()), decimals, "0")
        whole = pc.binary_join_element_wise(whole, part, "," if comma else ".")
    sign = np.where((data < 0) & (scaled > 0), "-", "")
    array = pc.binary_join_element_wise(text(sign), whole, "")
    return blank(array, mask, marker)


def quoted(array: pa.Array, separator: str) -> pa.Array:
    """CSV quoting of the cells that hold the separator or a quote."""
    needs = pc.or_(pc.match_substring(array, separator), pc.match_substring(array, '"'))
    if not pc.any(needs).as_py():
        return array
    escaped = pc.replace_substring(array, '"', '""')
    wrapped = pc.binary_join_element_wise(pa.scalar('"'), escaped, pa.scalar('"'), "")
    return pc.if_else(needs, wrapped, array)


class CsvSink:
    """A delimited text file written block by block, plain or as the only member of a zip.

    ``eol`` is the line end (``"\\r\\n"`` or ``"\\n"``); ``final_eol=False`` leaves no line
    end after the last row (as Etalab's geo-DVF files). Zip entries get a fixed date so
    archives are reproducible. ``encoding`` other than UTF-8 transcodes each block."""

    def __init__(
        self,
        path: Path,
        header: Sequence[str],
        *,
        separator: str,
        eol: str = "\n",
        final_eol: bool = True,
        member: str | None = None,
        encoding: str = "utf-8",
        zip_date: tuple[int, int, int, int, int, int] = (2024, 1, 1, 0, 0, 0),
        compresslevel: int = 6,
    ) -> None:
        self.path = Path(path)
        self.separator = separator
        self.eol = eol
        self.final_eol = final_eol
        self.encoding = encoding
        self.rows = 0
        self._archive = None
        if member is None:
            self._handle = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        else:
            self._archive = zipfile.ZipFile(
                self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
            )
            info = zipfile.ZipInfo(member, date_time=zip_date)
            info.compress_type = zipfile.ZIP_DEFLATED
            # The level of a member opened for writing is read from the ZipInfo itself
            # (``_compresslevel`` before Python 3.13, ``compress_level`` after).
            level = "compress_level" if hasattr(info, "compress_level") else "_compresslevel"
            setattr(info, level, compresslevel)
            info.external_attr = 0o644 << 16
            self._handle = self._archive.open(info, "w", force_zip64=True)
        self._put(separator.join(header).encode(encoding))

    def _put(self, data: bytes | memoryview) -> None:
        if self.encoding not in ("utf-8", "utf8"):
            data = bytes(data).decode("utf-8").encode(self.encoding, errors="replace")
        self._handle.write(data)

    def write(self, columns: Sequence[pa.Array]) -> None:
        """Append rows given as one string array per column (all of the same length)."""
        if not len(columns) or not len(columns[0]):
            return
        n = len(columns[0])
        for start in range(0, n, BLOCK_ROWS):
            block = [c.slice(start, BLOCK_ROWS) for c in columns]
            rows = pc.binary_join_element_wise(*block, self.separator)
            lines = pc.binary_join_element_wise(pa.scalar(self.eol), rows, "")
            lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
            first = offsets[lines.offset]
            last = offsets[lines.offset + len(lines)]
            self._put(memoryview(lines.buffers()[2])[first:last])
            self.rows += len(lines)

    def close(self) -> None:
        if self.final_eol:
            self._put(self.eol.encode("ascii"))
        self._handle.close()
        if self._archive is not None:
            self._archive.close()

    def __enter__(self) -> CsvSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
