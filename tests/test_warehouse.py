"""Warehouse: transactional, idempotent loads and lineage."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from observatoire.errors import InputError, WarehouseError
from observatoire.warehouse import Warehouse, sha256_file, sha256_frame


def _frame(n: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {"code": [f"{62000 + offset + i:05d}" for i in range(n)], "population": range(n)}
    )


def _snapshot(path: Path) -> tuple[list[tuple], list[tuple], list[str]]:
    with Warehouse(path, read_only=True) as wh:
        tables = wh.tables()
        data = (
            wh.con.execute("SELECT * FROM pop ORDER BY ALL").fetchall() if "pop" in tables else []
        )
        lineage = wh.con.execute(
            "SELECT sha256, dataset, vintage, rows, origin FROM lineage ORDER BY ALL"
        ).fetchall()
    return data, lineage, tables


def _load(wh: Warehouse, frame, sha: str, vintage: str = "2021", origin: str = "real"):
    return wh.load(
        frame,
        dataset="population_legale",
        vintage=vintage,
        table="pop",
        sha256=sha,
        origin=origin,
        source="test",
        cog_vintage=2025,
    )


def test_load_writes_rows_and_lineage(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    frame = _frame(5)
    with Warehouse(path) as wh:
        result = _load(wh, frame, sha256_frame(frame))
        assert not result.skipped and result.rows == 5
        got = wh.query("SELECT code, population, dataset, vintage FROM pop ORDER BY code")
        lineage = wh.lineage()
    assert got["code"].tolist() == frame["code"].tolist()
    assert got["code"].dtype != "int64"  # codes stay strings
    assert set(got["vintage"]) == {"2021"}
    assert lineage.loc[0, "rows"] == 5
    assert lineage.loc[0, "origin"] == "real"
    assert lineage.loc[0, "cog_vintage"] == 2025


def test_same_content_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    frame = _frame(3)
    sha = sha256_frame(frame)
    with Warehouse(path) as wh:
        _load(wh, frame, sha)
        again = _load(wh, frame, sha)
        count = wh.query("SELECT count(*) AS n FROM pop")["n"].iloc[0]
        lineage_rows = len(wh.lineage())
    assert again.skipped
    assert count == 3
    assert lineage_rows == 1


def test_new_file_for_same_vintage_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    with Warehouse(path) as wh:
        _load(wh, _frame(3), "a" * 64)
        _load(wh, _frame(2, offset=100), "b" * 64, vintage="2020")
        _load(wh, _frame(4, offset=10), "c" * 64)
        per_vintage = wh.query(
            "SELECT vintage, count(*) AS n FROM pop GROUP BY vintage ORDER BY vintage"
        )
        lineage = wh.lineage()
    assert per_vintage.set_index("vintage")["n"].to_dict() == {"2020": 2, "2021": 4}
    assert sorted(lineage["sha256"].str[0]) == ["b", "c"]


def test_failure_on_last_batch_leaves_warehouse_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    with Warehouse(path) as wh:
        _load(wh, _frame(3), "a" * 64)
    before = _snapshot(path)

    def reader():
        yield _frame(1000, offset=1000)
        yield _frame(1000, offset=2000)
        raise InputError("ligne 2001 : valeur illisible", path="pop.csv", line=2001)

    with Warehouse(path) as wh, pytest.raises(InputError, match="ligne 2001"):
        _load(wh, reader(), "d" * 64)
    assert _snapshot(path) == before


def test_malformed_last_csv_line_rolls_back(tmp_path: Path) -> None:
    """A chunked CSV read that breaks on the file's last line loads nothing."""
    path = tmp_path / "e.duckdb"
    with Warehouse(path) as wh:
        _load(wh, _frame(3), "a" * 64)
    before = _snapshot(path)
    lines = ["code;population"] + [f"{62000 + i:05d};{i}" for i in range(500)] + ["62999;1;extra"]
    text = "\n".join(lines) + "\n"
    chunks = pd.read_csv(io.StringIO(text), sep=";", dtype={"code": str}, chunksize=100)
    with Warehouse(path) as wh, pytest.raises(pd.errors.ParserError):
        _load(wh, chunks, "e" * 64)
    assert _snapshot(path) == before


def test_type_error_inside_database_is_reported_and_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    with Warehouse(path) as wh:
        _load(wh, _frame(3), "a" * 64)
    before = _snapshot(path)
    bad = pd.DataFrame({"code": ["62001"], "population": ["beaucoup"]})
    with Warehouse(path) as wh, pytest.raises(WarehouseError, match="inchangé"):
        _load(wh, [_frame(2, offset=50), bad], "f" * 64, vintage="2019")
    assert _snapshot(path) == before


def test_killed_process_leaves_warehouse_unchanged(tmp_path: Path) -> None:
    """SIGKILL in the middle of a load: reopening shows the last committed state."""
    path = tmp_path / "e.duckdb"
    with Warehouse(path) as wh:
        _load(wh, _frame(3), "a" * 64)
    before = _snapshot(path)
    script = textwrap.dedent(
        f"""
        import os, signal
        import pandas as pd
        from observatoire.warehouse import Warehouse

        def reader():
            for k in range(3):
                yield pd.DataFrame({{"code": [f"{{k:05d}}"] * 50000, "population": range(50000)}})
            os.kill(os.getpid(), signal.SIGKILL)
            yield pd.DataFrame({{"code": ["x"], "population": [0]}})

        wh = Warehouse({str(path)!r})
        wh.load(reader(), dataset="population_legale", vintage="2021", table="pop",
                sha256="k" * 64, origin="real", source="test")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    assert _snapshot(path) == before


def test_invalid_origin_and_names_are_refused(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "e.duckdb") as wh:
        with pytest.raises(WarehouseError, match="origine"):
            _load(wh, _frame(1), "a" * 64, origin="fake")
        with pytest.raises(WarehouseError, match="nom de table"):
            wh.load(
                _frame(1),
                dataset="x",
                vintage="1",
                table="pop; DROP TABLE lineage",
                sha256="b" * 64,
                origin="real",
                source="t",
            )


def test_sha256_helpers(tmp_path: Path) -> None:
    file = tmp_path / "f.csv"
    file.write_bytes(b"code;population\n62119;24992\n")
    assert sha256_file(file) == hashlib.sha256(file.read_bytes()).hexdigest()
    a, b = _frame(3), _frame(3)
    assert sha256_frame(a) == sha256_frame(b)
    b.loc[0, "population"] = 99
    assert sha256_frame(a) != sha256_frame(b)


def test_several_loads_in_one_transaction_commit_together_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    with Warehouse(path) as wh:
        _load(wh, _frame(3), "a" * 64)
    before = _snapshot(path)
    with Warehouse(path) as wh, pytest.raises(InputError), wh.transaction():
        _load(wh, _frame(5, offset=10), "b" * 64, vintage="2019")
        _load(wh, _frame(5, offset=20), "c" * 64, vintage="2020")
        raise InputError("troisième fichier illisible")
    assert _snapshot(path) == before
    with Warehouse(path) as wh, wh.transaction():
        _load(wh, _frame(5, offset=10), "b" * 64, vintage="2019")
        _load(wh, _frame(5, offset=20), "c" * 64, vintage="2020")
    assert len(_snapshot(path)[1]) == 3


def test_parts_of_one_vintage_replace_only_themselves(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    with Warehouse(path) as wh:
        for part, sha, n in (("01.csv", "a", 3), ("62.csv", "b", 4), ("01.csv", "c", 2)):
            wh.load(
                _frame(n),
                dataset="dvf_geo",
                vintage="2024",
                table="dvf",
                sha256=sha * 64,
                origin="real",
                source=part,
                part=part,
            )
        counts = wh.query("SELECT part, count(*) AS n FROM dvf GROUP BY part ORDER BY part")
        lineage = wh.lineage()
    assert counts.set_index("part")["n"].to_dict() == {"01.csv": 2, "62.csv": 4}
    assert sorted(lineage["part"]) == ["01.csv", "62.csv"]


def test_lineage_keeps_the_source_of_every_kind_of_batch(tmp_path) -> None:
    import pyarrow as pa

    from observatoire.warehouse import Warehouse

    with Warehouse(tmp_path / "w.duckdb") as wh:
        frame = pd.DataFrame({"code": ["01001"], "value": [1.0]})
        wh.load(
            frame,
            dataset="a",
            vintage=2020,
            table="t",
            sha256="1",
            origin="real",
            source="fichier-a.csv",
        )
        wh.load(
            [pa.Table.from_pandas(frame)],
            dataset="b",
            vintage=2020,
            table="t",
            sha256="2",
            origin="real",
            source="fichier-b.csv",
        )
        sources = dict(zip(wh.lineage()["dataset"], wh.lineage()["source"], strict=True))
    assert sources == {"a": "fichier-a.csv", "b": "fichier-b.csv"}


def test_arrow_batches_streamed_in_one_statement_keep_errors_and_new_columns(
    tmp_path: Path,
) -> None:
    import pyarrow as pa

    def table(start: int, n: int, extra: bool = False) -> pa.Table:
        columns = {"code": [f"{62000 + start + i:05d}" for i in range(n)], "n": range(n)}
        if extra:
            columns["label"] = [f"commune {i}" for i in range(n)]
        return pa.table(columns)

    def failing():
        yield table(0, 1000)
        yield table(1000, 1000)
        raise InputError("valeur illisible « x »", line=2003, column="n")

    with Warehouse(tmp_path / "w.duckdb") as wh:
        _load(wh, [table(5000, 10)], "a")
        before = wh.con.execute("SELECT * FROM pop ORDER BY ALL").fetchall()
        with pytest.raises(InputError) as caught:
            _load(wh, failing(), "b", vintage="2022")
        assert (caught.value.line, caught.value.column) == (2003, "n")  # the reader's own error
        assert wh.con.execute("SELECT * FROM pop ORDER BY ALL").fetchall() == before
        # same schema streamed together; a new schema (an extra column) starts a new statement
        result = _load(
            wh, iter([table(0, 700), table(700, 700), table(1400, 5, extra=True)]), "c", "2023"
        )
        assert result.rows == 1405
        rows = wh.query("SELECT code, n, label FROM pop WHERE vintage = '2023' ORDER BY code")
        assert rows["code"].tolist() == [f"{62000 + i:05d}" for i in range(1405)]
        assert rows["label"].notna().sum() == 5 and rows["label"].iloc[-1] == "commune 4"
