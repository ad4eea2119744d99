"""``observatoire load``: official files → readers → COG recoding → warehouse, atomically.

Every file handed to one ``load`` call (a zip may hold several data files) is read, recoded
to the project's COG and written in ONE warehouse transaction: if any file is unknown,
malformed or truncated, nothing at all is loaded and the warehouse stays as it was. Files
already loaded (same checksum for the same dataset) are skipped.

COG recoding. Commune-level tables are recoded with INSEE's commune events when the warehouse
holds them (``cog_events``, loaded from ``v_mvt_commune_YYYY.csv``, loaded first when given in
the same call), otherwise with the referential's derived passage (mergers only). Additive
columns are summed over merged communes; non-additive ones (medians, rates) are kept only
where no merger happened. Row-level tables (DVF lines, BPE equipments, SIRENE
establishments) keep their source code and gain ``code_commune_cog`` and ``cog_status``.
IRIS-level tables keep the IRIS geography of their vintage (documented limitation).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Full, Queue
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from observatoire.errors import InputError
from observatoire.project import Project
from observatoire.sources import _inflate
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.insee_rp import WideBlock, long_frames
from observatoire.sources.registry import detect
from observatoire.sources.sniff import sniff
from observatoire.territories import cog, referential
from observatoire.territories.harmonise import passage_from_referential, target_codes
from observatoire.warehouse import CellBlock, CellColumn, Warehouse

LONG_COLUMNS = ("code", "variable", "period", "value", "secret", "source_column")
Progress = Callable[[str, int], None]  # (message, rows just read)


@dataclass
class FileLoad:
    """What happened to one data file."""

    label: str
    dataset: str
    vintage: str
    dataset_label: str
    rows: int = 0
    communes: int = 0
    secret_cells: int = 0
    repaired: int = 0
    warnings: list[str] = field(default_factory=list)
    skipped: bool = False
    origin: str = "real"
    cog_source: int | None = None


def file_sha256(file: SniffedFile) -> str:
    """Checksum of the data itself (a zip member's decompressed bytes)."""
    digest = hashlib.sha256()
    with file.open_binary() as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _local_copy(file: SniffedFile, folder: Path) -> tuple[SniffedFile, str, Path | None]:
    """The file's checksum and, for a compressed text file, a plain copy to read it from.

    One decompression serves the checksum, the reader and the archive's integrity check (the
    member's CRC is verified when its end is reached): a zip member or ``.gz`` file is never
    inflated twice. Plain files are only hashed.
    """
    digest = hashlib.sha256()
    if (
        file.kind != "csv"
        or file.opener is None
        or (file.member is None and (file.path.suffix.lower() != ".gz"))
    ):
        return file, file_sha256(file), None
    descriptor, name = tempfile.mkstemp(suffix=".txt", dir=folder)
    os.close(descriptor)
    target = Path(name)
    if file.member is not None:
        blocks = _inflate.member_blocks(file.path, file.member)
    else:
        blocks = _inflate.gzip_blocks(file.path)
    try:
        with open(target, "wb") as out:
            for block in blocks:
                digest.update(block)
                out.write(block)
    except (zipfile.BadZipFile, EOFError, OSError, *_inflate.ERRORS) as exc:
        if file.member is not None:
            message = f"archive zip corrompue : le membre « {file.member} » est illisible"
        else:
            message = f"fichier gzip corrompu ou tronqué ({exc})"
        raise InputError(message, path=file.path) from exc
    local = dataclasses.replace(file, opener=lambda: open(target, "rb"))  # noqa: SIM115
    return local, digest.hexdigest(), target


class _Prepared:
    """Files decompressed, hashed and checked against a simulation manifest ahead, in a
    background thread (inflating and hashing release the GIL): while one file is loaded, the
    next one is being inflated."""

    def __init__(self, files: list[SniffedFile], folder: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._futures = [self._pool.submit(self._prepare, file, folder) for file in files]

    @staticmethod
    def _prepare(file: SniffedFile, folder: Path) -> tuple[SniffedFile, str, Path | None, str]:
        # also whether the file is simulated (its checksum against the simulation manifest)
        return (*_local_copy(file, folder), _origin(file))

    def origin(self, index: int) -> str:
        return self._futures[index].result()[3]

    def get(self, index: int) -> tuple[SniffedFile, str]:
        local, sha, *_ = self._futures[index].result()
        return local, sha

    def opener(self, index: int) -> Callable[[], object]:
        return lambda: self.get(index)[0].open_binary()

    def release(self, index: int) -> None:
        """The file is loaded: its decompressed copy (if any) is no longer needed."""
        copy = self._futures[index].result()[2]
        if copy is not None:
            with contextlib.suppress(OSError):
                copy.unlink()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _origin(file: SniffedFile) -> str:
    try:
        from observatoire.sources.synthetic import is_simulated
    except ImportError:  # the simulator is optional at import time
        return "real"
    return "simulated" if is_simulated(file.path) else "real"


def warehouse_events(warehouse: Warehouse) -> pd.DataFrame | None:
    """INSEE's commune events loaded in the warehouse (``cog_events``), or None."""
    if "cog_events" not in warehouse.tables():
        return None
    frame = warehouse.query(
        "SELECT mod, date_eff, typecom_av, com_av, libelle_av, typecom_ap, com_ap, "
        "libelle_ap FROM cog_events"
    )
    if frame.empty:
        return None
    frame["date_eff"] = pd.to_datetime(frame["date_eff"])
    return frame


class _Passages:
    """Passage tables to the target COG, built once per source vintage."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._events: pd.DataFrame | None = None
        self._checked = False  # events looked up (the batches thread never queries DuckDB)
        self._cache: dict[int, pd.DataFrame] = {}

    def events(self) -> pd.DataFrame | None:
        if self._checked:
            return self._events
        self._checked = True
        self._events = warehouse_events(self.warehouse)
        return self._events

    def reset(self) -> None:
        self._events, self._checked = None, False
        self._cache.clear()

    def method(self) -> str:
        return "événements INSEE" if self.events() is not None else "passage du référentiel"

    def vintage_of(self, codes: pd.Series, declared: int | None) -> int | None:
        if declared is not None:
            return declared
        events = self.events()
        if events is None:
            return None
        return cog.detect_vintage(codes, events, target_codes(), referential.REFERENTIAL_COG)

    def passage(self, codes: pd.Series, source_cog: int | None) -> pd.DataFrame:
        events = self.events()
        if events is None or source_cog is None:
            unique = pd.Series(pd.unique(codes), dtype=object)
            return passage_from_referential(cog.arm_to_commune_series(unique))
        if source_cog not in self._cache:
            self._cache[source_cog] = cog.build_passage(
                events, source_cog, referential.REFERENTIAL_COG, target_codes()
            )
        return self._cache[source_cog]


def _simple_codes(passage: pd.DataFrame) -> set[str]:
    """Source codes that stay themselves, alone, unsplit: their rows need no recoding."""
    simple = passage[
        (passage["kind"] == "identique") & (passage["n_sources"] == 1) & ~passage["split"]
    ]
    return set(simple["code_source"])


def _drop_duplicate_arm(frame: pd.DataFrame, codes: set[str], load: FileLoad) -> pd.DataFrame:
    """Arrondissements municipaux beside their commune (Paris, Lyon, Marseille) are duplicates."""
    parents = frame["code"].map(cog.ARM_TO_COMMUNE)
    has_parent = parents.notna().to_numpy()
    duplicate_arm = np.zeros(len(frame), dtype=bool)
    duplicate_arm[has_parent] = [p in codes for p in parents[has_parent]]
    if duplicate_arm.any():
        dropped = frame.loc[duplicate_arm, "code"].nunique()
        load.warnings.append(
            f"{dropped} arrondissements municipaux écartés (leur commune est dans le fichier)"
        )
        frame = frame[~duplicate_arm]
    return frame


def _recode_long(
    frame: pd.DataFrame, result: ReadResult, passages: _Passages, load: FileLoad
) -> pd.DataFrame:
    """Recode a whole long commune table (code, variable, period, value, secret, source_column).

    Only the communes touched by an event (merged, renamed, split) and unknown codes go
    through the wide recoding; the others keep their rows untouched — most of a national file.
    """
    frame = _drop_duplicate_arm(frame, set(frame["code"].unique()), load)
    codes = frame["code"].drop_duplicates()
    source_cog = passages.vintage_of(codes, result.detection.cog_vintage)
    load.cog_source = source_cog
    passage = passages.passage(codes, source_cog)
    simple = frame["code"].isin(_simple_codes(passage))
    untouched = frame[simple].assign(cog_status="ok")
    recoded = _recode_touched(frame[~simple], result, passage, source_cog, passages, load)
    columns = [*LONG_COLUMNS, "cog_status"]
    return pd.concat([untouched[columns], recoded], ignore_index=True)


def _recode_touched(
    touched: pd.DataFrame,
    result: ReadResult,
    passage: pd.DataFrame,
    source_cog: int | None,
    passages: _Passages,
    load: FileLoad,
) -> pd.DataFrame:
    """Wide recoding of the rows of communes touched by an event (and of unknown codes)."""
    columns = [*LONG_COLUMNS, "cog_status"]
    if touched.empty:
        return pd.DataFrame(columns=columns)
    try:
        wide = touched.pivot(index="code", columns="source_column", values="value")
    except ValueError as exc:
        raise InputError(
            f"valeurs en double pour une même commune et une même variable ({exc})",
            path=load.label,
        ) from exc
    wide = wide.reset_index()
    wide.columns.name = None
    counts = [c for c in result.count_columns if c in wide.columns]
    if result.absent_means_zero:  # e.g. BPE: a type absent from a commune is 0 equipments
        wide[counts] = wide[counts].fillna(0)
    keeps = [c for c in wide.columns if c != "code" and c not in counts]
    # Non-additive values of merged communes are not recomputable: recode keeps them only
    # when every member agrees, which in practice means unmerged communes.
    wanted = set(touched["code"]) | set(touched["code"].map(cog.ARM_TO_COMMUNE).dropna())
    recoded = cog.recode(
        wide,
        passage[passage["code_source"].isin(wanted)],
        code_column="code",
        count_columns=counts,
        keep_columns=keeps,
        on_unknown="report",
    )
    report = recoded.report
    if report.unknown_codes:
        load.warnings.append(
            f"{len(report.unknown_codes)} code(s) inconnu(s) du COG {source_cog or 'source'} "
            f"écarté(s) : {', '.join(report.unknown_codes[:8])}"
        )
    if report.merged_targets:
        load.warnings.append(
            f"{report.merged_sources} communes fusionnées en {report.merged_targets} "
            f"(COG {source_cog or '?'} → {referential.REFERENTIAL_COG}, {passages.method()})"
        )
    table = recoded.table
    status = table.set_index("code")["cog_status"]
    long = table.drop(columns=["n_sources", "cog_status"]).melt(
        id_vars="code", var_name="source_column", value_name="value"
    )
    meta = touched.drop_duplicates("source_column").set_index("source_column")[
        ["variable", "period"]
    ]
    long = long.join(meta, on="source_column")
    secret_before = touched.set_index(["code", "source_column"])["secret"]
    key = pd.MultiIndex.from_frame(long[["code", "source_column"]])
    was_secret = secret_before.reindex(key).fillna(False).to_numpy(dtype=bool)
    long["secret"] = was_secret & long["value"].isna().to_numpy()
    long["cog_status"] = long["code"].map(status)
    return long[columns]


def _stream_long(
    first: pd.DataFrame,
    rest: Iterator[pd.DataFrame],
    result: ReadResult,
    passages: _Passages,
    load: FileLoad,
) -> Iterator[pd.DataFrame]:
    """Recode a long commune table batch by batch when its COG is known (or no events exist).

    Rows of communes untouched by any event are written as they come; the few touched rows
    (and arrondissements municipaux, decided once every code has been seen) wait for the end.
    """
    events = passages.events()
    source_cog = result.detection.cog_vintage if events is not None else None
    load.cog_source = result.detection.cog_vintage
    fixed = passages.passage(first["code"], source_cog) if source_cog else None
    fixed_simple = _simple_codes(fixed) if fixed is not None else None
    seen: set[str] = set()
    waiting: list[pd.DataFrame] = []
    for frame in _chain(first, rest):
        codes = frame["code"]
        seen.update(codes.unique())
        is_arm = codes.isin(cog.ARM_TO_COMMUNE)
        simple_codes = (
            fixed_simple
            if fixed_simple is not None
            else _simple_codes(passages.passage(codes[~is_arm].drop_duplicates(), None))
        )
        simple = codes.isin(simple_codes) & ~is_arm
        waiting.append(frame[~simple])
        load.rows += len(frame)
        yield frame[simple].assign(cog_status="ok")
    touched = pd.concat(waiting, ignore_index=True)
    touched = _drop_duplicate_arm(touched, seen, load)
    passage = (
        fixed if fixed is not None else passages.passage(touched["code"].drop_duplicates(), None)
    )
    yield _recode_touched(touched, result, passage, source_cog, passages, load)


def _wide_batches(
    file: SniffedFile,
    result: ReadResult,
    passages: _Passages,
    load: FileLoad,
    communes: set[str],
) -> Iterator[pd.DataFrame | CellBlock]:
    """A wide INSEE table, recoded: untouched communes go long inside DuckDB (``UNPIVOT``),
    the few rows of communes touched by an event (and arrondissements) through the wide
    recoding. Same rows and warnings as the long path (:func:`_stream_long`, :func:`_recode_long`).
    """
    blocks = list(result.wide_blocks or ())  # one row per territory: small even nationally
    specs = list(result.wide_specs)
    if not blocks or not sum(len(b.codes) for b in blocks):
        raise InputError("aucune ligne de données", path=file.label)
    if len(blocks) == 1:  # a national file: one block, used as it is (no copy)
        codes, values, secret = blocks[0].codes, blocks[0].values, blocks[0].secret
    else:
        codes = pa.concat_arrays([b.codes for b in blocks])
        values = np.concatenate([b.values for b in blocks], axis=1)
        secret = np.concatenate([b.secret for b in blocks], axis=1)
    del blocks
    load.rows = values.size
    code_series = pd.Series(codes.to_numpy(zero_copy_only=False), dtype=object)
    is_arm = code_series.isin(cog.ARM_TO_COMMUNE).to_numpy()
    declared = result.detection.cog_vintage
    if declared is not None or passages.events() is None:
        source_cog = declared if passages.events() is not None else None
        load.cog_source = declared
    else:  # COG detected from the codes (duplicate arrondissements left out)
        parents = code_series.map(cog.ARM_TO_COMMUNE)
        kept = code_series[~(parents.notna() & parents.isin(set(code_series))).to_numpy()]
        source_cog = passages.vintage_of(kept.drop_duplicates(), None)
        load.cog_source = source_cog
    passage = passages.passage(code_series[~is_arm].drop_duplicates(), source_cog)
    simple = code_series.isin(_simple_codes(passage)).to_numpy() & ~is_arm
    rows = np.flatnonzero(simple)
    communes.update(code_series[simple])
    if len(rows) == len(simple):
        yield CellBlock(codes, values, "ok")
    else:
        # np.take keeps the rows C-contiguous (values[:, rows] is Fortran-ordered: every row
        # would then be a strided copy when the block is handed to DuckDB)
        yield CellBlock(codes.take(pa.array(rows)), np.take(values, rows, axis=1), "ok")
    rows = np.flatnonzero(~simple)
    if len(rows):
        block = WideBlock(codes.take(pa.array(rows)), values[:, rows], secret[:, rows])
        touched = next(long_frames([block], specs))
        touched = _drop_duplicate_arm(touched, set(code_series), load)
        if source_cog is None:
            passage = passages.passage(touched["code"].drop_duplicates(), None)
        recoded = _recode_touched(touched, result, passage, source_cog, passages, load)
        communes.update(recoded["code"].unique())
        yield recoded


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from rest


def _recode_rows(frame: pd.DataFrame, code_column: str, passage: pd.DataFrame) -> pd.DataFrame:
    """Row-level tables: add the target commune code and the status of the mapping."""
    receiving = passage.loc[passage["receives"], ["code_source", "code_cible", "split"]]
    mapping = receiving.set_index("code_source")
    source = cog.arm_to_commune_series(frame[code_column].astype("string"))
    frame = frame.copy()
    frame["code_commune_cog"] = source.map(mapping["code_cible"])
    split = source.map(mapping["split"]).astype("boolean")
    status = pd.Series("ok", index=frame.index, dtype=object)
    status[frame["code_commune_cog"] != source] = "fusion"
    status[split.fillna(False).astype(bool)] = "incomplete"
    status[frame["code_commune_cog"].isna()] = "inconnu"
    frame["cog_status"] = status
    return frame


def _recode_rows_arrow(table: pa.Table, code_column: str, passage: pd.DataFrame) -> pa.Table:
    """:func:`_recode_rows` for an Arrow table: computed once per distinct code."""
    encoded = pc.dictionary_encode(table.column(code_column).combine_chunks())
    distinct = pd.DataFrame({code_column: encoded.dictionary.to_pandas()})
    recoded = _recode_rows(distinct, code_column, passage)
    target = pa.array(recoded["code_commune_cog"], pa.string(), from_pandas=True)
    status = pa.array(recoded["cog_status"], pa.string())
    status = pc.fill_null(status.take(encoded.indices), "inconnu")  # NULL code: unknown
    table = table.append_column("code_commune_cog", target.take(encoded.indices))
    return table.append_column("cog_status", status)


def _batches(
    file: SniffedFile,
    result: ReadResult,
    passages: _Passages,
    load: FileLoad,
    progress: Progress | None,
) -> Iterator[pd.DataFrame]:
    """The frames to write, recoded; counts rows and communes as they go."""
    detection = result.detection
    level_commune = detection.level == "commune" and result.code_column is not None
    communes: set[str] = set()
    if level_commune and result.wide_blocks is not None:
        yield from _wide_batches(file, result, passages, load, communes)
        if progress:
            progress(file.label, load.rows)
    elif level_commune:
        frames = iter(result.frames())
        first = next(frames, None)
        if first is None or first.empty:
            raise InputError("aucune ligne de données", path=file.label)
        is_long = set(LONG_COLUMNS) <= set(first.columns)
        streamable = is_long and (detection.cog_vintage is not None or passages.events() is None)
        if streamable:
            for out in _stream_long(first, frames, result, passages, load):
                communes.update(out["code"].unique())
                if progress:
                    progress(file.label, len(out))
                yield out
        else:
            frame = pd.concat(_chain(first, frames), ignore_index=True)
            out = (
                _recode_long(frame, result, passages, load)
                if is_long
                else _recode_wide(frame, result, passages, load)
            )
            communes.update(out["code"].unique())
            load.rows = len(frame)
            if progress:
                progress(file.label, len(frame))
            yield out
    elif result.wide_blocks is not None:  # IRIS bases: cells as published, no recoding
        for block in result.wide_blocks:
            load.rows += block.values.size
            if progress:
                progress(file.label, block.values.size)
            if block.values.size:
                yield CellBlock(block.codes, block.values, None)
    else:
        passage = None
        fast = result.arrow_batches is not None
        for frame in result.arrow_batches if fast else result.frames():
            if result.code_column and detection.level in ("point", "mutation"):
                if fast:
                    column = pc.drop_null(frame.column(result.code_column))
                    codes = pd.Series(column.to_numpy(), dtype=object).astype(str)
                else:
                    codes = frame[result.code_column].dropna().astype(str)
                if passage is None:
                    source_cog = passages.vintage_of(codes, detection.cog_vintage)
                    load.cog_source = source_cog
                    passage = (
                        passages.passage(codes, source_cog)
                        if passages.events() is not None and source_cog
                        else None
                    )
                batch_passage = passage if passage is not None else passages.passage(codes, None)
                if fast:
                    frame = _recode_rows_arrow(frame, result.code_column, batch_passage)
                    found = pc.unique(pc.drop_null(frame.column("code_commune_cog")))
                    communes.update(found.to_pylist())
                else:
                    frame = _recode_rows(frame, result.code_column, batch_passage)
                    communes.update(frame["code_commune_cog"].dropna().unique())
            rows = frame.num_rows if fast else len(frame)
            load.rows += rows
            if progress:
                progress(file.label, rows)
            yield frame
    load.communes = len(communes)
    load.secret_cells = result.secret_cells
    load.repaired = result.repaired
    load.warnings.extend(result.warnings)


def _recode_wide(
    frame: pd.DataFrame, result: ReadResult, passages: _Passages, load: FileLoad
) -> pd.DataFrame:
    code = result.code_column
    assert code is not None
    codes = frame[code].astype(str)
    source_cog = passages.vintage_of(codes, result.detection.cog_vintage)
    load.cog_source = source_cog
    passage = passages.passage(codes, source_cog)
    counts = list(result.count_columns)
    keeps = [c for c in frame.columns if c != code and c not in counts]
    recoded = cog.recode(
        frame,
        passage,
        code_column=code,
        count_columns=counts,
        keep_columns=keeps,
        on_unknown="report",
    )
    if recoded.report.unknown_codes:
        load.warnings.append(
            f"{len(recoded.report.unknown_codes)} code(s) inconnu(s) écarté(s) : "
            + ", ".join(recoded.report.unknown_codes[:8])
        )
    return recoded.table.rename(columns={code: "code"})


_T = TypeVar("_T")


class _Prefetched(Iterator[_T]):
    """``items`` produced in a background thread, up to ``depth`` ahead of the consumer.

    Files are read and converted (Arrow, NumPy: the GIL is released) while DuckDB writes
    the previous batch, or the previous file: the two cores work at once. The thread starts
    at once; an exception of the producer is raised to the consumer, unchanged; ``close``
    (or the end of the items) stops it.
    """

    _END = object()

    def __init__(self, items: Iterator[_T], depth: int = 2) -> None:
        self._items = items
        self._queue: Queue = Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, name="observatoire-lecture")
        self._thread.daemon = True
        self._thread.start()

    def _put(self, entry: tuple) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
            self._put((self._END, None))
        except BaseException as exc:  # handed over to the consumer
            self._put((self._END, exc))

    def __next__(self) -> _T:
        if self._done:
            raise StopIteration
        item, error = self._queue.get()
        if error is not None or item is self._END:
            self.close()
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()


def _order(items: list[tuple[SniffedFile, Detection]]) -> list[tuple[SniffedFile, Detection]]:
    """COG events first: the other files of the same call are recoded with them."""
    return sorted(items, key=lambda item: item[1].dataset != "cog_events")


def load_paths(
    project: Project,
    paths: Iterable[Path],
    *,
    progress: Progress | None = None,
    on_file: Callable[[SniffedFile, Detection], None] | None = None,
) -> list[FileLoad]:
    """Load every data file found in ``paths`` into the project warehouse, all or nothing."""
    sniffed = [file for path in paths for file in sniff(Path(path))]
    if not sniffed:
        raise InputError("aucun fichier à charger")
    with tempfile.TemporaryDirectory(prefix="observatoire-") as folder:
        prepared = _Prepared(sniffed, Path(folder))
        try:
            return _load(project, sniffed, prepared, progress, on_file)
        finally:
            prepared.close()


def _load(
    project: Project,
    sniffed: list[SniffedFile],
    prepared: _Prepared,
    progress: Progress | None,
    on_file: Callable[[SniffedFile, Detection], None] | None,
) -> list[FileLoad]:
    found: list[tuple[SniffedFile, Detection]] = []
    readers, indexes = {}, {}
    for index, sniffed_file in enumerate(sniffed):
        # Readers that scan the whole file to recognise it read the decompressed copy.
        file = dataclasses.replace(sniffed_file, opener=prepared.opener(index))
        reader, detection = detect(file, quick=True)
        readers[id(file)], indexes[id(file)] = reader, index
        found.append((file, detection))
    loads: list[FileLoad] = []
    ordered = _order(found)
    with Warehouse(project.settings.warehouse_path) as warehouse, warehouse.transaction():
        passages = _Passages(warehouse)

        def start(position: int) -> _Job:
            """Read a file's batches (in a background thread) before its turn to be written."""
            file, detection = ordered[position]
            index = indexes[id(file)]
            local, sha = prepared.get(index)
            job = _Job(file, detection, index, sha)
            job.load = FileLoad(
                label=file.label,
                dataset=detection.dataset,
                vintage=detection.vintage,
                dataset_label=detection.label or detection.dataset,
                origin=prepared.origin(index),
            )
            if warehouse.has_loaded(detection.dataset, sha):
                return job
            job.result = readers[id(file)].read(local, detection)
            passages.events()  # looked up here: the batches are read in another thread
            job.batches = _Prefetched(_batches(file, job.result, passages, job.load, progress))
            return job

        ahead: dict[int, _Job] = {}
        job = None
        try:
            for position, (file, detection) in enumerate(ordered):
                job = ahead.pop(position, None) or start(position)
                if on_file:
                    on_file(file, detection)
                if job.batches is not None and warehouse.has_loaded(detection.dataset, job.sha):
                    job.batches.close()  # the same file given twice: loaded just before
                    job.batches = None
                if job.batches is None:
                    job.load.skipped = True
                    prepared.release(job.index)
                    loads.append(job.load)
                    continue
                # The next file is read while this one is written (not after COG events:
                # the files after them are recoded with the new events).
                if position + 1 < len(ordered) and detection.dataset != "cog_events":
                    ahead[position + 1] = start(position + 1)
                _write(warehouse, job, passages)
                prepared.release(job.index)
                loads.append(job.load)
        finally:  # a failed load stops the threads still reading
            for pending in [job, *ahead.values()]:
                if pending is not None and pending.batches is not None:
                    pending.batches.close()
    return loads


@dataclass
class _Job:
    """One file on its way to the warehouse."""

    file: SniffedFile
    detection: Detection
    index: int
    sha: str
    load: FileLoad = field(init=False)
    result: ReadResult | None = None
    batches: _Prefetched | None = None


def _write(warehouse: Warehouse, job: _Job, passages: _Passages) -> None:
    file, detection, result, load = job.file, job.detection, job.result, job.load
    assert result is not None and job.batches is not None
    # Files sharing a dataset and vintage (one DVF file per département, several geometry
    # files) each replace only their own rows.
    per_file = detection.level in ("point", "mutation") or result.table == "geometries"
    name = (file.member or file.path.name).rsplit("/", 1)[-1]
    part = name if per_file else ""
    warehouse.load(
        job.batches,
        dataset=detection.dataset,
        vintage=detection.vintage,
        table=result.table,
        sha256=job.sha,
        origin=load.origin,
        source=file.label,
        part=part,
        cog_vintage=referential.REFERENTIAL_COG if result.code_column else detection.cog_vintage,
        columns=[CellColumn(s.variable, s.period, s.source) for s in result.wide_specs] or None,
    )
    exact = result.detection
    if detection.vintage_pending and exact.vintage != detection.vintage:
        # Vintage guessed from the first lines, the rows span other years.
        warehouse.revintage(result.table, detection.dataset, part, detection.vintage, exact.vintage)
        load.vintage = exact.vintage
        load.dataset_label = exact.label or exact.dataset
    if detection.dataset == "cog_events":
        passages.reset()  # reload: later files use the new events


def fetch_paths(
    project: Project,
    source_ids: Iterable[str],
    *,
    vintage: str | None = None,
    departement: str | None = None,
    mirror: str | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> list[Path]:
    """Download the files of catalogue sources into the project's cache (by checksum)."""
    from observatoire import catalogue
    from observatoire.sources import _http

    cache_dir = project.settings.data_dir / "telechargements"
    paths: list[Path] = []
    for source_id in source_ids:
        entry = catalogue.source(source_id)
        chosen = vintage if vintage is not None else None
        for url in entry.resolve(chosen, departement):
            expected = entry.sha256.get(chosen or "") if entry.sha256 else None
            done = _http.download(
                url,
                cache_dir,
                mirror=mirror,
                sha256=expected,
                progress=(lambda got, total, u=url: progress(u, got, total)) if progress else None,
            )
            paths.append(done.path)
    return paths
