"""The project warehouse: one DuckDB file, transactional and idempotent loads, lineage.

Every load runs in one transaction: the rows of a (dataset, vintage) are replaced and a
lineage row is written, or nothing happens at all. A load that raises (bad last line,
interrupted batch) is rolled back; a process killed midway leaves only an uncommitted
transaction in DuckDB's write-ahead log, which DuckDB discards when the file is reopened.
Loading a file whose checksum is already in the lineage for that dataset is a no-op.

Wide INSEE tables (census bases, Filosofi: one row per territory, one column per variable
and year) are offered to readers as one long table — ``insee_rp``, ``filosofi``: ``code,
variable, period, value, secret, source_column, cog_status, dataset, vintage, part`` — but
stored as *cells*: ``<table>__columns`` holds one row per column of a loaded file (dataset,
vintage, part, variable, period, source column, number of cells), ``<table>__codes`` one row
per territory code (an integer id, ``tid``) and ``<table>__cells`` one row per territory and
column with only integers, the value and the secret flag: column id, ``tid``, value, secret,
COG-status code. The long table is a view joining the three. A national load writes five
narrow columns instead of ten strings and numbers (three times faster, a third smaller),
and what a table holds (variables, periods, editions) is read from the small column table.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from observatoire.errors import InputError, WarehouseError

ORIGINS = ("real", "simulated")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")

LINEAGE_DDL = """
CREATE TABLE IF NOT EXISTS lineage (
    sha256      VARCHAR NOT NULL,
    dataset     VARCHAR NOT NULL,
    vintage     VARCHAR NOT NULL,
    part        VARCHAR NOT NULL DEFAULT '',
    cog_vintage INTEGER,
    table_name  VARCHAR NOT NULL,
    rows        BIGINT  NOT NULL,
    loaded_at   TIMESTAMP NOT NULL,
    origin      VARCHAR NOT NULL CHECK (origin IN ('real', 'simulated')),
    source      VARCHAR NOT NULL,
    PRIMARY KEY (dataset, sha256)
)
"""


# COG statuses of the cells of a wide table, stored as their index (NULL: no status, IRIS)
CELL_STATUSES = ("ok", "fusion", "incomplete", "inconnu")
_STATUS_INDEX = {status: index for index, status in enumerate(CELL_STATUSES)}


def cell_status_code(status: str | None) -> int | None:
    """The stored code of a COG status (``None`` stays ``None``)."""
    if status is None:
        return None
    try:
        return _STATUS_INDEX[status]
    except KeyError:
        raise WarehouseError(f"statut COG inconnu « {status} »") from None


def cells_table(table: str) -> str:
    """The table holding the cells of the wide table ``table``."""
    return f"{table}__cells"


def columns_table(table: str) -> str:
    """The table describing the columns (variable, period, edition) of ``table``."""
    return f"{table}__columns"


def codes_table(table: str) -> str:
    """The territory codes of ``table``'s cells, by integer id (``tid``)."""
    return f"{table}__codes"


def is_internal(table: str) -> bool:
    """Storage tables behind a view, not meant to be read directly."""
    return "__" in table


def cell_rows_sql(table: str, columns: str | None = None) -> str:
    """The SELECT of the long rows of a table stored as cells (its view's definition).

    ``columns`` replaces the column table by a subquery of it (chosen variables, editions):
    the cells are then joined to a few rows instead of all of them.
    """
    status = " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(CELL_STATUSES))
    described = columns if columns is not None else f'"{columns_table(table)}"'
    return (
        "SELECT t.code, k.variable, k.period, c.value, c.secret, k.source_column, "
        f"CASE c.status {status} END AS cog_status, k.dataset, k.vintage, k.part "
        f'FROM "{cells_table(table)}" AS c JOIN {described} AS k ON c.col = k.col '
        f'JOIN "{codes_table(table)}" AS t ON c.tid = t.tid'
    )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_frame(frame: pd.DataFrame) -> str:
    """A stable checksum of a table's content, for data that does not come from one file."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadResult:
    """What a load did."""

    dataset: str
    vintage: str
    table: str
    rows: int
    skipped: bool  # True when the same content was already loaded


@dataclass(frozen=True)
class CellBlock:
    """Cells of a wide block for :meth:`Warehouse.load`: one row of ``values`` per column of
    the load (in its order), one column per territory of ``codes``; NaN is a secret cell.
    Every cell gets the COG ``status`` (None: no status, e.g. IRIS)."""

    codes: pa.Array
    values: np.ndarray
    status: str | None


@dataclass(frozen=True)
class CellColumn:
    """A column of a wide INSEE file, as stored for a cell load."""

    variable: str
    period: str
    source: str


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_ident(name: str, what: str) -> str:
    if not _IDENT.match(name):
        raise WarehouseError(f"nom de {what} invalide « {name} » (minuscules, chiffres, _)")
    return name


def _unregister(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a registered frame; inside an aborted transaction the rollback does it."""
    with contextlib.suppress(duckdb.Error):
        con.unregister(name)


class Warehouse:
    """A project's DuckDB warehouse. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self._depth = 0
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise WarehouseError(f"impossible d'ouvrir l'entrepôt {self.path} : {exc}") from exc
        if not read_only:
            self.con.execute(LINEAGE_DDL)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------------ queries

    def tables(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows]

    def lineage(self) -> pd.DataFrame:
        return self.con.execute(
            "SELECT dataset, vintage, part, cog_vintage, table_name, rows, origin, loaded_at, "
            "source, sha256 FROM lineage ORDER BY loaded_at, dataset, vintage, part"
        ).df()

    def query(self, sql: str, params: Iterable[object] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, list(params) if params is not None else None).df()

    def has_loaded(self, dataset: str, sha256: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM lineage WHERE dataset = ? AND sha256 = ?", [dataset, sha256]
        ).fetchone()
        return bool(row and row[0])

    # ------------------------------------------------------------------ loads

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction committed on success, rolled back on any exception.

        Nested use joins the outer transaction: a command that loads several files in one
        ``with warehouse.transaction():`` block commits all of them or none.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.con
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield self.con
        except BaseException:
            self._depth = 0
            self.con.execute("ROLLBACK")
            raise
        self._depth = 0
        self.con.execute("COMMIT")

    def table_kind(self, table: str) -> str | None:
        """``BASE TABLE``, ``VIEW`` or None when there is no such table."""
        row = self.con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name = ?",
            [table],
        ).fetchall()
        return row[0][0] if row else None

    @contextmanager
    def _unordered(self) -> Iterator[None]:
        """Bulk inserts without keeping the row order (rows have none in SQL): DuckDB then
        writes a large insert with all its threads."""
        (before,) = self.con.execute(
            "SELECT current_setting('preserve_insertion_order')"
        ).fetchone()
        self.con.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:  # refused inside an aborted transaction: the setting then stays (harmless)
            with contextlib.suppress(duckdb.Error):
                self.con.execute(f"SET preserve_insertion_order = {bool(before)}")

    def load(
        self,
        batches: pd.DataFrame | Iterable[pd.DataFrame | pa.Table | CellBlock],
        *,
        dataset: str,
        vintage: str | int,
        table: str,
        sha256: str,
        origin: str,
        source: str,
        cog_vintage: int | None = None,
        part: str = "",
        columns: Sequence[CellColumn] | None = None,
    ) -> LoadResult:
        """Replace the rows of ``(dataset, vintage, part)`` in ``table`` by ``batches``, atomically.

        ``part`` separates files that share a dataset and vintage (one DVF file per
        département and year, several geometry files): each replaces only its own rows.

        ``batches`` is one frame or an iterable of frames (a streaming reader); the table gets
        ``dataset`` and ``vintage`` columns. Nothing is visible until every batch was read and
        inserted: an exception from the reader on its last batch rolls everything back.

        With ``columns`` (a wide INSEE file), ``table`` is stored as cells (see the module's
        documentation): each batch is a :class:`CellBlock` (turned long inside DuckDB), or a
        long frame (``code, source_column, value, secret`` and optionally ``cog_status``).
        """
        _check_ident(dataset, "jeu de données")
        _check_ident(table, "table")
        if origin not in ORIGINS:
            raise WarehouseError(f"origine « {origin} » invalide : real ou simulated")
        vintage = str(vintage)
        if self.has_loaded(dataset, sha256):
            return LoadResult(dataset, vintage, table, 0, skipped=True)
        frames = [batches] if isinstance(batches, pd.DataFrame) else batches
        with self.transaction() as con, self._unordered():
            try:
                if columns is None:
                    rows = self._insert_rows(frames, table, dataset, vintage, part)
                else:
                    rows = self._insert_cells(frames, table, columns, dataset, vintage, part)
            except duckdb.Error as exc:
                raise WarehouseError(
                    f"chargement de « {dataset} » {vintage} refusé par l'entrepôt : {exc} ; "
                    "l'entrepôt est resté inchangé"
                ) from exc
            # The lineage describes what the warehouse holds now: a replaced vintage's old
            # file is no longer there, so reloading it later is a real load, not a no-op.
            con.execute(
                "DELETE FROM lineage WHERE dataset = ? AND vintage = ? AND part = ?",
                [dataset, vintage, part],
            )
            con.execute(
                "INSERT INTO lineage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    sha256,
                    dataset,
                    vintage,
                    part,
                    cog_vintage,
                    table,
                    rows,
                    datetime.now(UTC).replace(tzinfo=None),
                    origin,
                    source,
                ],
            )
        return LoadResult(dataset, vintage, table, rows, skipped=False)

    def _insert_rows(
        self,
        frames: Iterable[pd.DataFrame | pa.Table],
        table: str,
        dataset: str,
        vintage: str,
        part: str,
    ) -> int:
        """Insert a plain load's batches (the old rows of the load deleted first).

        Consecutive Arrow batches with the same schema go in with ONE statement, streamed to
        DuckDB as they are read: many small inserts left DuckDB many partial row groups to
        merge at commit (measured: 8,4 M DVF lines 23 s in batches of 200 000, 9 s streamed).
        """
        con, rows = self.con, 0
        kind = self.table_kind(table)
        if kind == "VIEW":
            raise WarehouseError(f"« {table} » est une vue de l'entrepôt : chargement impossible")
        exists, deleted = kind is not None, False
        checked: object = None  # the schema whose columns the table is known to have
        constants = (
            f"{_literal(dataset)} AS dataset, {_literal(vintage)} AS vintage, "
            f"{_literal(part)} AS part"
        )
        batches = iter(frames)
        pending: list[pd.DataFrame | pa.Table] = []
        while True:
            frame = pending.pop() if pending else next(batches, None)
            if frame is None:
                break
            error: list[BaseException] = []
            if isinstance(frame, pa.Table):
                schema = frame.schema
                count = [0]
                relation: object = pa.RecordBatchReader.from_batches(
                    schema, _same_schema_run(frame, batches, pending, count, error)
                )
                sample: object = schema.empty_table()
                select_sql = f"SELECT *, {constants} FROM _batch"
            else:
                relation = frame.assign(dataset=dataset, vintage=vintage, part=part)
                sample, schema, count = relation, tuple(relation.dtypes.items()), [len(frame)]
                select_sql = "SELECT * FROM _batch"
            con.register("_batch", relation)
            try:
                if not exists:
                    con.execute(f'CREATE TABLE "{table}" AS {select_sql}')
                    exists, deleted, checked = True, True, schema
                else:
                    if not deleted:
                        con.execute(
                            f'DELETE FROM "{table}" WHERE dataset = ? AND vintage = ? AND part = ?',
                            [dataset, vintage, part],
                        )
                        deleted = True
                    if checked is None or checked != schema:
                        self._add_missing_columns(table, sample, select_sql)
                        checked = schema
                    con.execute(f'INSERT INTO "{table}" BY NAME {select_sql}')
            finally:
                _unregister(con, "_batch")
            if error:  # the reader's own error, raised as it is (the transaction rolls back)
                raise error[0]
            rows += count[0]
        if not deleted:
            raise InputError(f"aucune ligne à charger pour « {dataset} » {vintage}")
        return rows

    def _insert_cells(
        self,
        frames: Iterable[pd.DataFrame | CellBlock],
        table: str,
        columns: Sequence[CellColumn],
        dataset: str,
        vintage: str,
        part: str,
    ) -> int:
        """Insert a wide file's cells and describe its columns (old ones of the load deleted)."""
        con = self.con
        self._ensure_cells(table)
        cells, described = cells_table(table), columns_table(table)
        con.execute(
            f'DELETE FROM "{cells}" WHERE col IN (SELECT col FROM "{described}" '
            "WHERE dataset = ? AND vintage = ? AND part = ?)",
            [dataset, vintage, part],
        )
        con.execute(
            f'DELETE FROM "{described}" WHERE dataset = ? AND vintage = ? AND part = ?',
            [dataset, vintage, part],
        )
        ((base,),) = con.execute(f'SELECT coalesce(max(col) + 1, 0) FROM "{described}"').fetchall()
        index = {column.source: k for k, column in enumerate(columns)}
        if len(index) != len(columns):
            raise WarehouseError(f"colonnes en double dans le chargement de « {dataset} »")
        ids = _TerritoryIds(con, codes_table(table))
        rows, first = 0, True
        for frame in frames:
            if isinstance(frame, CellBlock):
                relations, select = _unpivot(frame, ids)
                count = frame.values.size
            else:
                relations = {"_batch": _cell_frame(frame, index, ids)}
                select = "SELECT k, tid, value, secret, status FROM _batch"
                count = len(frame)
            for name, relation in relations.items():
                con.register(name, relation)
            try:
                con.execute(
                    f'INSERT INTO "{cells}" SELECT ({int(base)} + k)::INTEGER, tid, value, '
                    f"secret, status::TINYINT FROM ({select})"
                )
            finally:
                for name in relations:
                    _unregister(con, name)
            first = False
            rows += count
        if first:
            raise InputError(f"aucune ligne à charger pour « {dataset} » {vintage}")
        described_frame = pa.table(
            {
                "col": pa.array(np.arange(base, base + len(columns)), pa.int32()),
                "variable": [c.variable for c in columns],
                "period": [c.period for c in columns],
                "source_column": [c.source for c in columns],
            }
        )
        con.register("_described", described_frame)
        try:
            con.execute(
                f'INSERT INTO "{described}" SELECT d.col, ?, ?, ?, d.variable, d.period, '
                "d.source_column, coalesce(n.cells, 0) FROM _described d LEFT JOIN "
                f'(SELECT col, count(*) AS cells FROM "{cells}" WHERE col >= ? GROUP BY col) n '
                "USING (col)",
                [dataset, vintage, part, int(base)],
            )
        finally:
            _unregister(con, "_described")
        return rows

    def _ensure_cells(self, table: str) -> None:
        """Create the cell storage of ``table`` (and its view); a long table written by an
        earlier version is converted in place, in the current transaction."""
        cells, described, codes = cells_table(table), columns_table(table), codes_table(table)
        kind = self.table_kind(table)
        if kind == "VIEW" and self.table_kind(cells):
            return
        con = self.con
        con.execute(
            f'CREATE TABLE IF NOT EXISTS "{described}" (col INTEGER NOT NULL, dataset VARCHAR '
            "NOT NULL, vintage VARCHAR NOT NULL, part VARCHAR NOT NULL, variable VARCHAR, "
            "period VARCHAR, source_column VARCHAR, cells BIGINT NOT NULL)"
        )
        con.execute(
            f'CREATE TABLE IF NOT EXISTS "{codes}" (tid INTEGER NOT NULL, code VARCHAR NOT NULL)'
        )
        con.execute(
            f'CREATE TABLE IF NOT EXISTS "{cells}" (col INTEGER NOT NULL, tid INTEGER NOT NULL, '
            "value DOUBLE, secret BOOLEAN, status TINYINT)"
        )
        if kind == "BASE TABLE":
            self._convert_long_table(table)
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {cell_rows_sql(table)}')

    def _convert_long_table(self, table: str) -> None:
        """Move the rows of a plain long table (earlier layout) into the cell storage."""
        con = self.con
        have = {
            r[0].lower()
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
            ).fetchall()
        }
        part = "coalesce(t.part, '')" if "part" in have else "''"
        status = "t.cog_status" if "cog_status" in have else "NULL::VARCHAR"
        statuses = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(CELL_STATUSES))
        con.execute(
            f'INSERT INTO "{columns_table(table)}" SELECT (row_number() OVER () - 1)::INTEGER, '
            "dataset, vintage, p, variable, period, source_column, n FROM (SELECT dataset, "
            f"CAST(vintage AS VARCHAR) AS vintage, {part} AS p, variable, period, source_column, "
            f'count(*) AS n FROM "{table}" AS t GROUP BY ALL ORDER BY ALL)'
        )
        con.execute(
            f'INSERT INTO "{codes_table(table)}" SELECT (row_number() OVER () - 1)::INTEGER, '
            f'code FROM (SELECT DISTINCT code FROM "{table}" WHERE code IS NOT NULL ORDER BY code)'
        )
        con.execute(
            f'INSERT INTO "{cells_table(table)}" SELECT k.col, c.tid, t.value, t.secret, '
            f'CASE {status} {statuses} END FROM "{table}" AS t '
            f'JOIN "{codes_table(table)}" AS c ON c.code = t.code '
            f'JOIN "{columns_table(table)}" AS k '
            "ON k.dataset = t.dataset AND k.vintage = CAST(t.vintage AS VARCHAR) "
            f"AND k.part = {part} "
            "AND k.variable IS NOT DISTINCT FROM t.variable "
            "AND k.period IS NOT DISTINCT FROM t.period "
            "AND k.source_column IS NOT DISTINCT FROM t.source_column"
        )
        con.execute(f'DROP TABLE "{table}"')

    def _add_missing_columns(self, table: str, sample: object, select_sql: str) -> None:
        """Columns a new file brings to an existing table (an IRIS-only load has no COG status,
        a communal one has): added as NULL for the rows already there. ``sample`` is an
        empty table (or a frame) with the batch's columns, read as ``_batch`` by
        ``select_sql``."""
        have = {
            r[0].lower()
            for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [table],
            ).fetchall()
        }
        self.con.register("_batch_sample", sample)
        try:
            described = self.con.execute(
                f"DESCRIBE {select_sql.replace('_batch', '_batch_sample')}"
            ).fetchall()
        finally:
            _unregister(self.con, "_batch_sample")
        for name, kind, *_ in described:
            if name.lower() not in have:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise WarehouseError(f"nom de colonne invalide « {name} »")
                self.con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {kind}')

    def revintage(self, table: str, dataset: str, part: str, old: str, new: str) -> None:
        """Move the rows (and lineage) of a load from vintage ``old`` to ``new``, atomically.

        For a loader that learnt the exact vintage only after reading every row: the rows of
        ``new`` already present for the same part are replaced, as :meth:`load` does.
        """
        _check_ident(table, "table")
        moved = [table, "lineage"]
        with self.transaction() as con:
            if self.table_kind(columns_table(table)):  # cells: the column table has the vintage
                moved[0] = columns_table(table)
                con.execute(
                    f'DELETE FROM "{cells_table(table)}" WHERE col IN (SELECT col FROM '
                    f'"{moved[0]}" WHERE dataset = ? AND vintage = ? AND part = ?)',
                    [dataset, new, part],
                )
            for name in moved:
                con.execute(
                    f'DELETE FROM "{name}" WHERE dataset = ? AND vintage = ? AND part = ?',
                    [dataset, new, part],
                )
                con.execute(
                    f'UPDATE "{name}" SET vintage = ? WHERE dataset = ? AND vintage = ? '
                    "AND part = ?",
                    [new, dataset, old, part],
                )

    def replace_table(self, table: str, frame: pd.DataFrame) -> None:
        """Atomically replace a derived table (referential, territory memberships…)."""
        _check_ident(table, "table")
        with self.transaction() as con:
            con.register("_frame", frame)
            try:
                con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM _frame')
            finally:
                _unregister(con, "_frame")


def _same_schema_run(
    first: pa.Table,
    batches: Iterator[pd.DataFrame | pa.Table],
    pending: list[pd.DataFrame | pa.Table],
    count: list[int],
    error: list[BaseException],
) -> Iterator[pa.RecordBatch]:
    """The record batches of ``first`` and of the next Arrow tables of the same schema; the
    first other batch is left in ``pending``. An exception of the reader ends the run and
    is kept in ``error`` (DuckDB, pulling the batches, would replace it by its own)."""
    table: pa.Table | None = first
    while table is not None:
        count[0] += table.num_rows
        yield from table.to_batches()
        try:
            following = next(batches, None)
        except BaseException as exc:  # handed back to the caller as it is
            error.append(exc)
            return
        if following is None:
            return
        if not isinstance(following, pa.Table) or not following.schema.equals(first.schema):
            pending.append(following)
            return
        table = following


class _TerritoryIds:
    """Integer ids of territory codes in a cell table (``<table>__codes``), new ones added."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        self.con, self.table = con, table
        known = con.execute(f'SELECT code, tid FROM "{table}"').fetchnumpy()
        self.index = pd.Index(np.asarray(known["code"], dtype=object))
        self.ids = np.asarray(known["tid"], dtype=np.int32)

    def of(self, codes: np.ndarray) -> np.ndarray:
        """The ids of ``codes`` (strings), in their order."""
        if pd.isna(codes).any():
            raise WarehouseError("cellule sans code de territoire : chargement refusé")
        position = self.index.get_indexer(codes)
        new = position < 0
        if new.any():
            fresh = pd.unique(codes[new])
            start = int(self.ids.max()) + 1 if len(self.ids) else 0
            added = np.arange(start, start + len(fresh), dtype=np.int32)
            self.con.register("_new_codes", pa.table({"tid": added, "code": fresh.astype(str)}))
            try:
                self.con.execute(f'INSERT INTO "{self.table}" SELECT tid, code FROM _new_codes')
            finally:
                _unregister(self.con, "_new_codes")
            self.index = self.index.append(pd.Index(fresh, dtype=object))
            self.ids = np.concatenate([self.ids, added])
            position = self.index.get_indexer(codes)
        return self.ids[position]


_CHUNK_ROWS = 1024  # record batches: DuckDB's parallel scan hands them out to its threads


def _unpivot(block: CellBlock, ids: _TerritoryIds) -> tuple[dict[str, object], str]:
    """A wide block as relations and the SELECT of its cells (``UNPIVOT`` inside DuckDB:
    the long rows are never built in Python). NaN becomes NULL and secret."""
    codes = np.asarray(block.codes.to_numpy(zero_copy_only=False), dtype=object)
    columns: dict[str, pa.Array] = {"tid": pa.array(ids.of(codes))}
    for index, row in enumerate(block.values):  # NaN kept (no copy), NULL in DuckDB
        columns[f"c{index}"] = pa.array(np.ascontiguousarray(row, dtype=np.float64))
    wide = pa.table(columns)
    wide = pa.Table.from_batches(wide.to_batches(max_chunksize=_CHUNK_ROWS), wide.schema)
    labels = pa.table(
        {
            "name": pa.array([f"c{i}" for i in range(len(block.values))], pa.string()),
            "k": pa.array(np.arange(len(block.values)), pa.int32()),
        }
    )
    code = cell_status_code(block.status)
    select = (
        "SELECT l.k, u.tid, CASE WHEN isnan(u.value) THEN NULL ELSE u.value END AS value, "
        f"isnan(u.value) AS secret, {'NULL' if code is None else code}::TINYINT AS status "
        "FROM _wide UNPIVOT INCLUDE NULLS (value FOR name IN (COLUMNS(* EXCLUDE (tid)))) AS u "
        "JOIN _labels AS l USING (name)"
    )
    return {"_wide": wide, "_labels": labels}, select


def _cell_frame(frame: pd.DataFrame, index: dict[str, int], ids: _TerritoryIds) -> pa.Table:
    """A long frame as cells: ``k`` (column index), tid, value, secret, status code."""
    k = frame["source_column"].map(index)
    if k.isna().any():
        unknown = frame.loc[k.isna(), "source_column"].iloc[0]
        raise WarehouseError(f"colonne « {unknown} » absente de la description du chargement")
    if "cog_status" in frame:
        statuses = frame["cog_status"].astype(object)
        codes = {s: cell_status_code(s) for s in statuses.dropna().unique()}
        status = pa.array(statuses.map(codes), pa.int8(), from_pandas=True)
    else:
        status = pa.nulls(len(frame), pa.int8())
    return pa.table(
        {
            "k": pa.array(k.to_numpy(dtype=np.int32)),
            "tid": pa.array(ids.of(frame["code"].to_numpy(dtype=object))),
            "value": pa.array(frame["value"].to_numpy(dtype=float), pa.float64(), from_pandas=True),
            "secret": pa.array(frame["secret"].to_numpy(dtype=bool)),
            "status": status,
        }
    )
