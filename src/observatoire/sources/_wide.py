"""Wide INSEE tables turned long inside DuckDB.

The census and Filosofi readers (:func:`observatoire.sources.insee_rp.read_long`) check and
convert a wide file (one row per territory, one column per variable and year) with Arrow; a
national file is small in that form (≈ 35 000 rows). Expanding it to the long layout
(``code, variable, period, value, secret, source_column``: one row per territory and
variable, ≈ 10 M rows per base) is left to DuckDB, which ``UNPIVOT``s and inserts in parallel
without building the long rows in Python. A cell is secret exactly when its value is NULL:
every other cell of these files is a finite number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from observatoire.warehouse import SqlBatch

_CHUNK_ROWS = 1024  # record batches: DuckDB's parallel scan hands them out to its threads


def long_batch(codes: pa.Array, values: np.ndarray, specs: Sequence, status: str) -> SqlBatch:
    """The long rows of a wide block (``values``: columns x rows, NaN when secret)."""
    columns: dict[str, pa.Array] = {"code": codes.cast(pa.string())}
    for index, row in enumerate(values):
        columns[f"c{index}"] = pa.array(row, pa.float64(), from_pandas=True)  # NaN → NULL
    wide = pa.table(columns)
    wide = pa.Table.from_batches(wide.to_batches(max_chunksize=_CHUNK_ROWS), wide.schema)
    labels = pa.table(
        {
            "k": pa.array([f"c{i}" for i in range(len(specs))], pa.string()),
            "variable": pa.array([s.variable for s in specs], pa.string()),
            "period": pa.array([s.period for s in specs], pa.string()),
            "source_column": pa.array([s.source for s in specs], pa.string()),
        }
    )
    quoted = status.replace("'", "''")
    select = (
        "SELECT u.code, l.variable, l.period, u.value, u.value IS NULL AS secret, "
        f"l.source_column, '{quoted}' AS cog_status "
        "FROM _wide UNPIVOT INCLUDE NULLS (value FOR k IN (COLUMNS(* EXCLUDE (code)))) AS u "
        "JOIN _labels AS l USING (k)"
    )
    return SqlBatch(
        select=select,
        relations={"_wide": wide, "_labels": labels},
        rows=len(codes) * len(specs),
    )
