"""The project warehouse: one DuckDB file, transactional and idempotent loads, lineage.

Every load runs in one transaction: the rows of a (dataset, vintage) are replaced and a
lineage row is written, or nothing happens at all. A load that raises (bad last line,
interrupted batch) is rolled back; a process killed midway leaves only an uncommitted
transaction in DuckDB's write-ahead log, which DuckDB discards when the file is reopened.
Loading a file whose checksum is already in the lineage for that dataset is a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
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
class SqlBatch:
    """Rows computed by DuckDB: ``select`` reads the Arrow tables or frames of ``relations``.

    A loader hands it to :meth:`Warehouse.load` beside plain frames when the rows are cheaper
    to build in SQL (wide → long); ``rows`` is how many rows ``select`` yields.
    """

    select: str
    relations: dict[str, object]
    rows: int


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
        batches: pd.DataFrame | Iterable[pd.DataFrame | pa.Table | SqlBatch],
        *,
        dataset: str,
        vintage: str | int,
        table: str,
        sha256: str,
        origin: str,
        source: str,
        cog_vintage: int | None = None,
        part: str = "",
    ) -> LoadResult:
        """Replace the rows of ``(dataset, vintage, part)`` in ``table`` by ``batches``, atomically.

        ``part`` separates files that share a dataset and vintage (one DVF file per
        département and year, several geometry files): each replaces only its own rows.

        ``batches`` is one frame or an iterable of frames (a streaming reader); the table gets
        ``dataset`` and ``vintage`` columns. Nothing is visible until every batch was read and
        inserted: an exception from the reader on its last batch rolls everything back.
        """
        _check_ident(dataset, "jeu de données")
        _check_ident(table, "table")
        if origin not in ORIGINS:
            raise WarehouseError(f"origine « {origin} » invalide : real ou simulated")
        vintage = str(vintage)
        if self.has_loaded(dataset, sha256):
            return LoadResult(dataset, vintage, table, 0, skipped=True)
        frames = [batches] if isinstance(batches, pd.DataFrame) else batches
        rows = 0
        with self.transaction() as con, self._unordered():
            exists = table in self.tables()
            first = True
            for frame in frames:
                if isinstance(frame, SqlBatch):
                    names = list(frame.relations)
                    for name, relation in frame.relations.items():
                        con.register(name, relation)
                    select_sql = (
                        f"SELECT *, {_literal(dataset)} AS dataset, {_literal(vintage)} AS vintage"
                        f", {_literal(part)} AS part FROM ({frame.select})"
                    )
                    count = frame.rows
                elif isinstance(frame, pa.Table):
                    names = ["_batch"]
                    con.register("_batch", frame)
                    select_sql = (
                        f"SELECT *, {_literal(dataset)} AS dataset, {_literal(vintage)} AS vintage"
                        f", {_literal(part)} AS part FROM _batch"
                    )
                    count = frame.num_rows
                else:
                    names = ["_batch"]
                    con.register(
                        "_batch", frame.assign(dataset=dataset, vintage=vintage, part=part)
                    )
                    select_sql = "SELECT * FROM _batch"
                    count = len(frame)
                try:
                    if not exists:
                        con.execute(f'CREATE TABLE "{table}" AS {select_sql}')
                        exists = True
                    else:
                        if first:
                            con.execute(
                                f'DELETE FROM "{table}" WHERE dataset = ? AND vintage = ? '
                                "AND part = ?",
                                [dataset, vintage, part],
                            )
                            # once per file: a reader's batches share one schema
                            self._add_missing_columns(table, select_sql)
                        con.execute(f'INSERT INTO "{table}" BY NAME {select_sql}')
                except duckdb.Error as exc:
                    raise WarehouseError(
                        f"chargement de « {dataset} » {vintage} refusé par l'entrepôt : {exc} ; "
                        "l'entrepôt est resté inchangé"
                    ) from exc
                finally:
                    for name in names:
                        _unregister(con, name)
                first = False
                rows += count
            if first:
                raise InputError(f"aucune ligne à charger pour « {dataset} » {vintage}")
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

    def _add_missing_columns(self, table: str, select_sql: str) -> None:
        """Columns a new file brings to an existing table (an IRIS-only load has no COG status,
        a communal one has): added as NULL for the rows already there."""
        have = {
            r[0].lower()
            for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [table],
            ).fetchall()
        }
        for name, kind, *_ in self.con.execute(f"DESCRIBE {select_sql}").fetchall():
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
        with self.transaction() as con:
            for name in (table, "lineage"):
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
