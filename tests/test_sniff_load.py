"""Sniffing files (encodings, separators, archives) and the all-or-nothing load."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from observatoire.errors import InputError
from observatoire.loading import load_paths
from observatoire.project import init_project, open_project
from observatoire.sources.sniff import sniff
from observatoire.warehouse import Warehouse

META = (
    "COD_VAR;LIB_VAR;LIB_VAR_LONG;COD_MOD;LIB_MOD;TYPE_VAR;LONG_VAR\r\n"
    "P21_LOG;Logements en 2021 (princ);Nombre de logements en 2021;;;NUM;16\r\n"
    "P21_RP;Résidences principales en 2021 (princ);Nombre de résidences principales;;;NUM;16\r\n"
)


@pytest.mark.parametrize(
    ("encoding", "expected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")]
)
def test_encoding_and_separator_are_detected(tmp_path: Path, encoding: str, expected: str) -> None:
    path = tmp_path / "meta.csv"
    path.write_bytes(META.encode(encoding))
    (file,) = sniff(path)
    assert file.encoding == expected
    assert file.separator == ";"
    assert file.columns[:2] == ("COD_VAR", "LIB_VAR")
    assert len(file.head) == 2


def test_pipe_and_comma_separators(tmp_path: Path) -> None:
    pipe = tmp_path / "a.txt"
    pipe.write_text(
        "Identifiant de document|Date mutation|Valeur fonciere\r\n|02/01/2024|829530,00\r\n"
    )
    assert sniff(pipe)[0].separator == "|"
    comma = tmp_path / "b.csv"
    comma.write_text('id_mutation,date_mutation,nature_mutation\n2024-1,2024-01-02,"Vente"\n')
    assert sniff(comma)[0].separator == ","


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="fichier vide"):
        sniff(empty)
    single = tmp_path / "un.csv"
    single.write_text("CODGEO\n01001\n")
    with pytest.raises(InputError, match="séparateur"):
        sniff(single)
    zipped = tmp_path / "base.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.csv", META * 200)
    truncated = tmp_path / "tronque.zip"
    truncated.write_bytes(zipped.read_bytes()[:-60])
    with pytest.raises(InputError, match="zip corrompue ou tronquée"):
        sniff(truncated)
    gz = tmp_path / "f.csv.gz"
    gz.write_bytes(gzip.compress((META * 2000).encode())[:300])
    with pytest.raises(InputError, match="gzip corrompu ou tronqué"):
        sniff(gz)
    with pytest.raises(InputError, match="introuvable"):
        sniff(tmp_path / "absent.csv")


def test_zip_members_are_sniffed(tmp_path: Path) -> None:
    zipped = tmp_path / "base.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("meta_base.CSV", META)
        archive.writestr("__MACOSX/._meta_base.CSV", "x")
        archive.writestr("LISEZMOI.pdf", b"%PDF")
    (file,) = sniff(zipped)
    assert file.member == "meta_base.CSV"
    assert file.label.endswith("base.zip:meta_base.CSV")
    with file.open_binary() as handle:
        assert handle.read().decode() == META


def test_load_is_all_or_nothing_and_idempotent(tmp_path: Path) -> None:
    project = open_project(init_project(tmp_path / "p"))
    good = tmp_path / "meta_base-cc-logement-2021.CSV"
    good.write_text(META, encoding="utf-8")
    unknown = tmp_path / "inconnu.csv"
    unknown.write_text("ALPHA;BETA\n1;2\n", encoding="utf-8")
    with pytest.raises(InputError, match="jeu de données non reconnu : colonnes « ALPHA, BETA »"):
        load_paths(project, [good, unknown])
    if project.settings.warehouse_path.exists():
        with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
            assert "insee_metadata" not in wh.tables()
            assert wh.lineage().empty
    (load,) = load_paths(project, [good])
    assert load.dataset == "insee_metadata" and load.rows == 2 and not load.skipped
    assert load.vintage.endswith(":2021")
    (again,) = load_paths(project, [good])
    assert again.skipped
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        labels = wh.query("SELECT variable, label FROM insee_metadata ORDER BY variable")
    assert labels["variable"].tolist() == ["P21_LOG", "P21_RP"]
    assert labels["label"].iloc[1].startswith("Résidences principales")
