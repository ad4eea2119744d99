"""The loader's fast paths give exactly what the reference (pandas) readers give.

Census and Filosofi bases go long inside DuckDB (``sources/_wide.py``); DGFiP DVF and BPE
géolocalisée files are converted with Arrow kernels (``sources/_arrow.py``), batch by batch,
a batch that is not plainly valid being converted by the reference code. Same rows, counts,
warnings and errors.
"""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from observatoire.errors import InputError
from observatoire.loading import load_paths
from observatoire.project import init_project, open_project
from observatoire.sources import _arrow
from observatoire.sources.registry import detect
from observatoire.sources.sniff import sniff
from observatoire.sources.synthetic import simulate
from observatoire.territories import referential
from observatoire.warehouse import Warehouse

COMMUNES = [*referential.communes()["code"].tolist()[::700], "75056", "13055", "2A004"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("simule")
    found = {}
    for dataset in ("dvf_dgfip", "bpe_xy", "rp_logement", "filosofi_com"):
        manifest = simulate(
            root / dataset, communes=COMMUNES, vintages=[2021], datasets=[dataset], seed=3
        )
        found[dataset] = [f.path for f in manifest.files]
    return found


def _both(path: Path) -> tuple[pa.Table, pa.Table]:
    """The reference frames and the Arrow batches of one file, as tables of one schema."""
    (file,) = sniff(path)
    reader, detection = detect(file)
    reference = reader.read(file, detection)
    expected = pd.concat(list(reference.frames()), ignore_index=True)
    fast = reader.read(file, detection)
    got = pa.concat_tables(list(fast.arrow_batches))
    assert (reference.repaired, reference.warnings) == (fast.repaired, fast.warnings)
    expected = pa.Table.from_pandas(expected, preserve_index=False).cast(got.schema)
    return expected, got


@pytest.mark.parametrize("dataset", ["dvf_dgfip", "bpe_xy"])
def test_arrow_conversion_equals_the_reference(simulated, dataset: str) -> None:
    for path in simulated[dataset]:
        expected, got = _both(path)
        assert got.num_rows > 1000 and got.equals(expected)


def _dgfip_lines(simulated) -> list[str]:
    with zipfile.ZipFile(simulated["dvf_dgfip"][0]) as archive:
        (name,) = archive.namelist()
        return archive.read(name).decode("utf-8").splitlines()


def test_a_batch_the_fast_path_refuses_is_converted_by_the_reference(
    simulated, tmp_path: Path
) -> None:
    lines = _dgfip_lines(simulated)
    header = lines[0].split("|")
    date = header.index("Date mutation")
    cells = lines[5].split("|")
    day, month, year = cells[date].split("/")
    cells[date] = f"{year}-{month}-{day}"  # the other accepted format: Arrow falls back
    lines[5] = "|".join(cells)
    path = tmp_path / "ValeursFoncieres-mixte.txt"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    (file,) = sniff(path)
    reader, detection = detect(file)
    table = pa.concat_tables(list(reader.read(file, detection).arrow_batches))
    with pytest.raises(_arrow.Fallback):
        _arrow.date(_arrow.strip(pa.array([cells[date], "01/02/2021"])))
    expected, got = _both(path)
    assert got.equals(expected) and table.num_rows == len(lines) - 1


def test_mutation_ids_run_on_across_small_batches_and_reference_batches(
    simulated, tmp_path: Path, monkeypatch
) -> None:
    lines = _dgfip_lines(simulated)
    date = lines[0].split("|").index("Date mutation")
    middle = len(lines) // 2
    cells = lines[middle].split("|")
    day, month, year = cells[date].split("/")
    cells[date] = f"{year}-{month}-{day}"  # this line's batch takes the reference conversion
    lines[middle] = "|".join(cells)
    path = tmp_path / "ValeursFoncieres-lots.txt"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    (file,) = sniff(path)
    reader, detection = detect(file)
    expected = pd.concat(list(reader.read(file, detection).frames()), ignore_index=True)
    monkeypatch.setattr(_arrow, "BLOCK_BYTES", 2048)  # a few lines per Arrow block
    monkeypatch.setattr(_arrow, "BATCH_ROWS", 10)
    batches = list(reader.read(file, detection).arrow_batches)
    assert len(batches) > 20
    ids = [batch.column("id_mutation").to_pylist() for batch in batches]
    # some mutations straddle two batches: their numbering is carried across
    assert any(before[-1] == after[0] for before, after in itertools.pairwise(ids))
    assert [i for batch in ids for i in batch] == expected["id_mutation"].tolist()
    assert expected["id_mutation"].nunique() < len(expected)  # multi-line mutations exist


def test_errors_of_the_fast_path_are_the_reference_errors(simulated, tmp_path: Path) -> None:
    lines = _dgfip_lines(simulated)
    header = lines[0].split("|")
    price = header.index("Valeur fonciere")
    cells = lines[7].split("|")
    cells[price] = "12,3,4"
    lines[7] = "|".join(cells)
    path = tmp_path / "ValeursFoncieres-erreur.txt"
    path.write_text("\r\n".join(lines[:30]) + "\r\n" + lines[30][:25], encoding="utf-8")
    (file,) = sniff(path)
    reader, detection = detect(file)
    with pytest.raises(InputError) as reference:
        list(reader.read(file, detection).frames())
    with pytest.raises(InputError) as fast:
        list(reader.read(file, detection).arrow_batches)
    assert str(fast.value) == str(reference.value) and "ligne" in str(fast.value)
    path.write_text("\r\n".join(lines[:30]) + "\r\n", encoding="utf-8")
    with pytest.raises(InputError) as reference:
        list(reader.read(file, detection).frames())
    with pytest.raises(InputError) as fast:
        list(reader.read(file, detection).arrow_batches)
    assert str(fast.value) == str(reference.value)
    assert fast.value.line == 8 and "valeur_fonciere" in str(fast.value)


def _table(folder: Path, paths: list[Path], table: str) -> pd.DataFrame:
    project = open_project(init_project(folder, force=True))
    load_paths(project, paths)
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        frame = warehouse.query(f'SELECT * FROM "{table}"')
    return frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)


def test_wide_tables_go_long_in_duckdb_as_in_pandas(simulated, tmp_path: Path, monkeypatch) -> None:
    paths = simulated["rp_logement"] + simulated["filosofi_com"]
    fast = {t: _table(tmp_path / "rapide", paths, t) for t in ("insee_rp", "filosofi")}
    from observatoire.sources import insee_rp

    real_read_long = insee_rp.read_long

    def long_only(*args, **kwargs):
        result = real_read_long(*args, **kwargs)
        result.wide_blocks = None  # the loader takes the long frames (the reference)
        return result

    monkeypatch.setattr(insee_rp, "read_long", long_only)
    import observatoire.sources.filosofi as filosofi

    monkeypatch.setattr(filosofi, "read_long", long_only)
    for table, frame in fast.items():
        reference = _table(tmp_path / "reference", paths, table)
        assert len(frame) > 1000 and (frame["secret"].any() or table == "insee_rp")
        pd.testing.assert_frame_equal(frame, reference)


def test_dgfip_vintage_read_from_every_line(simulated, tmp_path: Path) -> None:
    lines = _dgfip_lines(simulated)
    header = lines[0].split("|")
    date = header.index("Date mutation")
    cells = lines[-1].split("|")
    cells[date] = cells[date][:-4] + "2022"  # beyond the first lines read by the sniffer
    lines[-1] = "|".join(cells)
    path = tmp_path / "ValeursFoncieres-2021.txt"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    (file,) = sniff(path)
    assert detect(file)[1].vintage == "2021-2022"
    assert detect(file, quick=True)[1].vintage == "2021"
    project = open_project(init_project(tmp_path / "projet", force=True))
    (load,) = load_paths(project, [path])
    assert load.vintage == "2021-2022" and "2021-2022" in load.dataset_label
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        vintages = warehouse.query("SELECT DISTINCT vintage FROM dvf")["vintage"].tolist()
        lineage = warehouse.lineage()
    assert vintages == ["2021-2022"] and lineage["vintage"].tolist() == ["2021-2022"]
    (again,) = load_paths(project, [path])
    assert again.skipped


def test_a_corrupt_zip_member_is_named_and_nothing_is_loaded(simulated, tmp_path: Path) -> None:
    lines = _dgfip_lines(simulated)
    archive = tmp_path / "ValeursFoncieres-2021.txt.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("ValeursFoncieres-2021.txt", "\r\n".join(lines) + "\r\n")
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(255 - b for b in data[middle : middle + 8])
    archive.write_bytes(bytes(data))
    project = open_project(init_project(tmp_path / "projet", force=True))
    with pytest.raises(
        InputError, match=r"zip corrompue : le membre « ValeursFoncieres-2021\.txt »"
    ):
        load_paths(project, [archive])
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        assert "dvf" not in warehouse.tables() and warehouse.lineage().empty
