"""The reader contract: every official dataset reader recognises its file and yields tidy tables.

A reader is a small object with two methods:

- ``sniff(file: SniffedFile) -> Detection | None``: recognise the dataset and vintage from the
  file itself (header, vintage-suffixed columns, first rows), never from the file name; return
  ``None`` when the file is not one of its datasets.
- ``read(file: SniffedFile, detection: Detection) -> ReadResult``: a tidy, typed table
  (commune codes as strings, numbers as numbers, secret cells as NULL and counted, never 0),
  streamed as batches of DataFrames so that large files are not held twice in memory.

Readers raise :class:`observatoire.errors.InputError` with the file, line and column for bad
input, and count every repair they make (``repaired``) instead of repairing silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

LEVELS = ("commune", "iris", "epci", "departement", "region", "point", "mutation", "table")


@dataclass(frozen=True)
class SniffedFile:
    """One data file as the sniffer saw it (a plain file or a member of a zip archive)."""

    path: Path  # the file on disk (the archive for a zip member)
    member: str | None  # the member name inside a zip archive, else None
    kind: str  # "csv" (any delimited text), "xlsx", "geo" (GeoJSON, GeoPackage, shapefile)
    encoding: str | None  # text files: "utf-8", "utf-8-sig", "cp1252"…
    separator: str | None  # text files: ";", ",", "|", "\t"
    columns: tuple[str, ...]  # header as read (stripped of quotes and BOM)
    head: tuple[str, ...]  # up to 20 raw lines after the header (text files)
    sheets: tuple[str, ...] = ()  # xlsx: sheet names
    opener: Callable[[], object] | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """The name shown to users: ``archive.zip:member.csv`` or the file path."""
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    @property
    def upper_columns(self) -> tuple[str, ...]:
        return tuple(c.upper() for c in self.columns)

    def open_binary(self):
        """A fresh binary stream of the data (decompressed member for a zip)."""
        if self.opener is not None:
            return self.opener()
        return open(self.path, "rb")


@dataclass(frozen=True)
class Detection:
    """What a reader recognised in a file."""

    dataset: str  # catalogue id, e.g. "rp_logement", "filosofi_com", "dvf_geo"
    vintage: str  # "2021"; several years in one file: "2019-2023"
    level: str  # one of LEVELS
    cog_vintage: int | None = None  # COG of the codes, when known from the file or the source
    label: str = ""  # French description for summaries: "Recensement 2021 — logement"
    # The vintage was guessed from the first lines (``sniff_quick``, for the loader): the
    # reader sets the exact one on ``ReadResult.detection`` once every row has been read.
    vintage_pending: bool = False


@dataclass
class ReadResult:
    """A reader's output: batches of a tidy table plus what the reader observed."""

    detection: Detection
    table: str  # warehouse table name (one table per dataset family)
    batches: Iterable[pd.DataFrame]
    code_column: str | None = None  # commune code column (COG recoding), if any
    count_columns: tuple[str, ...] = ()  # additive columns, summed when communes merge
    keep_columns: tuple[str, ...] = ()  # non-additive columns kept when not merged
    absent_means_zero: bool = False  # long counts: a missing (code, variable) pair is 0
    secret_cells: int = 0  # filled while batches are consumed
    repaired: int = 0  # values repaired (and counted), e.g. codes that lost a leading zero
    warnings: list[str] = field(default_factory=list)
    # Wide INSEE tables also offer their rows unconverted (``insee_rp.WideBlock``), which the
    # loader turns long inside the warehouse; consume either these or ``batches``, not both.
    wide_blocks: Iterable | None = None
    wide_specs: tuple = ()
    # Line-level readers may offer the same rows as Arrow tables (the loader's fast path).
    arrow_batches: Iterable | None = None

    def frames(self) -> Iterator[pd.DataFrame]:
        yield from self.batches


class Reader(Protocol):
    """What every reader provides (see the module docstring)."""

    name: str  # short id of the reader, e.g. "insee_rp"

    def sniff(self, file: SniffedFile) -> Detection | None: ...

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult: ...
