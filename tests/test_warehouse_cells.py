"""Wide INSEE tables stored as cells (``<table>__cells`` + ``<table>__columns``) behind a view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from observatoire.errors import InputError
from observatoire.loading import load_paths
from observatoire.project import init_project, open_project
from observatoire.sources import insee_rp
from observatoire.territories import referential
from observatoire.warehouse import (
    CellBlock,
    CellColumn,
    Warehouse,
    cells_table,
    codes_table,
    columns_table,
)

COLUMNS = [
    CellColumn("P_POP", "2021", "P21_POP"),
    CellColumn("P_LOG", "2021", "P21_LOG"),
    CellColumn("C_RP", "2021", "C21_RP"),
]
VIEW_COLUMNS = [
    "code",
    "variable",
    "period",
    "value",
    "secret",
    "source_column",
    "cog_status",
    "dataset",
    "vintage",
    "part",
]


def _values(seed: int, rows: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 5000, size=(len(COLUMNS), rows)).astype(float)
    values[rng.random(values.shape) < 0.2] = np.nan  # secret cells
    return values


def _codes(rows: int, start: int = 62001) -> pa.Array:
    return pa.array([f"{start + i:05d}" for i in range(rows)])


def _load(wh: Warehouse, batches, sha: str, vintage: str = "2021", dataset: str = "rp_logement"):
    return wh.load(
        batches,
        dataset=dataset,
        vintage=vintage,
        table="insee_rp",
        sha256=sha,
        origin="simulated",
        source="test",
        columns=COLUMNS,
    )


def _view(wh: Warehouse, where: str = "true") -> pd.DataFrame:
    return wh.query(f"SELECT * FROM insee_rp WHERE {where} ORDER BY code, source_column")


def _expected(codes: pa.Array, values: np.ndarray, status: str | None) -> pd.DataFrame:
    """The long rows of a wide block, written out cell by cell (independent of DuckDB)."""
    rows = [
        (code, column.source, None if np.isnan(v) else v, bool(np.isnan(v)), status)
        for k, column in enumerate(COLUMNS)
        for code, v in zip(codes.to_pylist(), values[k], strict=True)
    ]
    frame = pd.DataFrame(rows, columns=["code", "source_column", "value", "secret", "cog_status"])
    return frame.sort_values(["code", "source_column"]).reset_index(drop=True)


def test_cells_read_back_as_the_long_table(tmp_path: Path) -> None:
    codes, values = _codes(40), _values(1, 40)
    touched = pd.DataFrame(
        {
            "code": ["62999", "62999", "62999"],
            "source_column": ["P21_POP", "P21_LOG", "C21_RP"],
            "value": [10.0, np.nan, np.nan],
            "secret": [False, True, False],  # a non-recomputable value is missing, not secret
            "cog_status": ["fusion", "fusion", "fusion"],
        }
    )
    with Warehouse(tmp_path / "w.duckdb") as wh:
        result = _load(wh, [CellBlock(codes, values, "ok"), touched], "a")
        assert result.rows == 40 * 3 + 3
        view = _view(wh)
        assert list(view.columns) == VIEW_COLUMNS
        assert set(view["dataset"]) == {"rp_logement"} and set(view["part"]) == {""}
        assert set(view["vintage"]) == {"2021"}
        labels = {c.source: (c.variable, c.period) for c in COLUMNS}
        pairs = list(zip(view["variable"], view["period"], strict=True))
        assert pairs == [labels[s] for s in view["source_column"]]
        block = view[view["code"] != "62999"].reset_index(drop=True)
        expected = _expected(codes, values, "ok")
        pd.testing.assert_frame_equal(
            block[expected.columns], expected, check_dtype=False, check_exact=True
        )
        merged = view[view["code"] == "62999"].set_index("source_column")
        assert merged.loc["P21_POP", "value"] == 10.0
        assert bool(merged.loc["P21_LOG", "secret"]) and not bool(merged.loc["C21_RP", "secret"])
        assert set(merged["cog_status"]) == {"fusion"}
        counts = wh.query(
            f"SELECT source_column, cells FROM {columns_table('insee_rp')} ORDER BY ALL"
        )
        recount = view.groupby("source_column").size()
        assert dict(zip(counts["source_column"], counts["cells"], strict=True)) == recount.to_dict()


def test_reload_replaces_only_its_edition(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        _load(wh, [CellBlock(_codes(30), _values(1, 30), "ok")], "a", vintage="2020")
        _load(wh, [CellBlock(_codes(30), _values(2, 30), "ok")], "b", vintage="2021")
        before_2020 = _view(wh, "vintage = '2020'")
        codes, values = _codes(10, start=59001), _values(3, 10)
        _load(wh, [CellBlock(codes, values, None)], "c", vintage="2021")
        pd.testing.assert_frame_equal(_view(wh, "vintage = '2020'"), before_2020)
        now = _view(wh, "vintage = '2021'").reset_index(drop=True)
        expected = _expected(codes, values, None)
        pd.testing.assert_frame_equal(now[expected.columns], expected, check_dtype=False)
        (orphans,) = wh.con.execute(
            f"SELECT count(*) FROM {cells_table('insee_rp')} WHERE col NOT IN "
            f"(SELECT col FROM {columns_table('insee_rp')})"
        ).fetchall()[0]
        assert orphans == 0
        assert wh.lineage()["sha256"].tolist() == ["a", "c"]
        codes = wh.query(f"SELECT tid, code FROM {codes_table('insee_rp')}")
        assert codes["code"].is_unique and codes["tid"].is_unique  # each code once, reused
        assert set(codes["code"]) == {f"{62001 + i:05d}" for i in range(30)} | {
            f"{59001 + i:05d}" for i in range(10)
        }


def test_failed_cell_load_leaves_everything_as_it_was(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        _load(wh, [CellBlock(_codes(20), _values(1, 20), "ok")], "a")
        before = _view(wh), wh.lineage()

        def failing():
            yield CellBlock(_codes(20, start=59001), _values(2, 20), "ok")
            raise InputError("ligne tronquée", line=12)

        with pytest.raises(InputError):
            _load(wh, failing(), "b")
        pd.testing.assert_frame_equal(_view(wh), before[0])
        pd.testing.assert_frame_equal(wh.lineage(), before[1])
        unknown = pd.DataFrame(
            {"code": ["62001"], "source_column": ["P99_XX"], "value": [1.0], "secret": [False]}
        )
        with pytest.raises(Exception, match="P99_XX"):
            _load(wh, [unknown], "c")
        pd.testing.assert_frame_equal(_view(wh), before[0])


def test_long_table_of_an_earlier_version_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:  # the layout written before cells: one plain long table
        wh.con.execute(
            "CREATE TABLE insee_rp (code VARCHAR, variable VARCHAR, period VARCHAR, "
            "value DOUBLE, secret BOOLEAN, source_column VARCHAR, cog_status VARCHAR, "
            "dataset VARCHAR, vintage VARCHAR, part VARCHAR)"
        )
        wh.con.execute(
            "INSERT INTO insee_rp VALUES "
            "('62001', 'P_POP', '2015', 120, false, 'P15_POP', 'ok', 'rp_logement', '2015', ''),"
            "('62001', 'P_LOG', '2015', NULL, true, 'P15_LOG', 'ok', 'rp_logement', '2015', ''),"
            "('62002', 'P_POP', '2015', 80, false, 'P15_POP', 'fusion', 'rp_logement', '2015', ''),"
            "('620010101', 'P_POP', '2015', 40, false, 'P15_POP', NULL, 'rp_iris_x', '2015', '')"
        )
        old = _view(wh)
        codes, values = _codes(5), _values(4, 5)
        _load(wh, [CellBlock(codes, values, "ok")], "n")
        assert wh.table_kind("insee_rp") == "VIEW"
        pd.testing.assert_frame_equal(_view(wh, "vintage = '2015'"), old)
        assert len(_view(wh, "vintage = '2021'")) == 5 * len(COLUMNS)


def test_revintage_moves_a_cell_load(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "w.duckdb") as wh:
        _load(wh, [CellBlock(_codes(5), _values(1, 5), "ok")], "a", vintage="2021")
        _load(wh, [CellBlock(_codes(5), _values(2, 5), "ok")], "b", vintage="2022")
        moved = _view(wh, "vintage = '2021'").drop(columns="vintage")
        wh.revintage("insee_rp", "rp_logement", "", "2021", "2022")
        now = _view(wh).drop(columns="vintage")
        pd.testing.assert_frame_equal(now, moved)
        assert set(_view(wh)["vintage"]) == {"2022"}
        assert wh.lineage()[["sha256", "vintage"]].values.tolist() == [["a", "2022"]]


def _census_file(path: Path, rows: list[list[str]]) -> Path:
    header = ["CODGEO", "P22_NSCOL15P", "P22_SCOL0610", "P22_SCOL1114"]
    lines = [";".join(header)] + [";".join(r) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def test_fast_and_checked_reads_give_the_same_rows(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(7)
    rows = []
    communes = referential.communes()["code"].iloc[1000:1300].tolist()  # real codes
    for i, code in enumerate(communes):
        cells = [str(int(v)) for v in rng.integers(0, 9000, size=3)]
        if i % 7 == 0:
            cells[int(rng.integers(0, 3))] = ""  # secret
        rows.append([code, *cells])
    rows.append(rows[10])  # an exact repeat, in another block: line 302
    clean = _census_file(tmp_path / "propre" / "diplomes.csv", rows)
    # the same figures with spaces around them and « s » for secret cells
    marked_rows = [[r[0], *(f" {c} " if c else "s" for c in r[1:])] for r in rows]
    marked = _census_file(tmp_path / "marques" / "diplomes.csv", marked_rows)
    monkeypatch.setattr(insee_rp, "BATCH_ROWS", 64)  # several blocks
    fast_calls = []
    real_fast = insee_rp._fast_table

    def spy(*args, **kwargs):
        table = real_fast(*args, **kwargs)
        fast_calls.append(table is not None)
        return table

    monkeypatch.setattr(insee_rp, "_fast_table", spy)
    frames = {}
    for name, path in (("fast", clean), ("checked", marked)):
        project = open_project(init_project(tmp_path / f"p-{name}", force=True))
        (load,) = load_paths(project, [path])
        assert load.repaired == 1 and any("(ligne 302)" in w for w in load.warnings)
        assert load.secret_cells == 43  # rows 0, 7, …, 294
        with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
            frames[name] = wh.query(
                "SELECT code, source_column, value, secret FROM insee_rp ORDER BY ALL"
            )
    assert fast_calls == [True, False]  # « s » is read by the checked path
    assert len(frames["fast"]) == 300 * 3 and frames["fast"]["secret"].sum() == 43
    pd.testing.assert_frame_equal(frames["fast"], frames["checked"])


def test_indicators_from_cells_equal_those_from_plain_long_tables(tmp_path: Path) -> None:
    """The engine reads cell-stored sources by column and territory ids; a warehouse whose
    census and Filosofi tables are plain long tables (earlier layout, tests) goes through
    the generic path. Both must give the same figures, statuses and sources."""
    from observatoire.indicators.build import VALUE_TABLE, build
    from observatoire.sources.synthetic import simulate

    communes = referential.communes()
    communes = communes[communes["dep"] == "62"]["code"].tolist()
    datasets = ["rp_logement", "rp_evol_struct_pop", "rp_emploi_pop_active", "filosofi_com"]
    files = simulate(
        tmp_path / "fichiers", communes=communes, vintages=[2020, 2021], datasets=datasets, seed=5
    ).files
    init_project(tmp_path / "p", example="artois")
    project = open_project(tmp_path / "p")
    load_paths(project, [f.path for f in files])
    query = (
        f"SELECT territory_id, indicator_id, period, value, status, source FROM {VALUE_TABLE} "
        "ORDER BY ALL"
    )
    build(project)
    with Warehouse(project.settings.warehouse_path) as wh:
        from_cells = wh.query(query)
        for table in ("insee_rp", "filosofi"):
            wh.con.execute(f"CREATE TABLE {table}_plain AS SELECT * FROM {table}")
            wh.con.execute(f"DROP VIEW {table}")
            for storage in (cells_table(table), columns_table(table), codes_table(table)):
                wh.con.execute(f"DROP TABLE {storage}")
            wh.con.execute(f"ALTER TABLE {table}_plain RENAME TO {table}")
    build(project, force=True)
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        from_plain = wh.query(query)
    known = from_cells["value"].notna()
    assert known.sum() > 1000 and set(from_cells["status"]) >= {"ok", "non_additive"}
    pd.testing.assert_frame_equal(from_cells, from_plain)
