"""Shared fixtures. Real official files are read in place from ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("OBSERVATOIRE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real official files; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"dossier de données réelles absent ({SHARED_DATA}) : test sur données réelles ignoré"
        )
    return SHARED_DATA


def shared_file(shared: Path, relative: str) -> Path:
    path = shared / relative
    if not path.is_file():
        pytest.skip(f"fichier réel absent : {path}")
    return path


@pytest.fixture(scope="session")
def demo_summary(tmp_path_factory: pytest.TempPathFactory):
    """The Artois demo project, built once per test session (tests must not modify it,
    except by running the demo again, which is idempotent)."""
    from observatoire.demo import run_demo

    return run_demo(tmp_path_factory.mktemp("demo") / "artois")


def territories_of(groups: dict[tuple[str, str], list[str]]):
    """Engine ``Territories`` for hand-made groups ``{(id, level): [commune codes]}``."""
    import pandas as pd

    from observatoire.indicators.engine import Territories

    frame = pd.DataFrame(
        [(tid, level, f"Territoire {tid}") for tid, level in groups],
        columns=["territory_id", "level", "territory_label"],
    )
    members = pd.DataFrame(
        [(tid, level, code) for (tid, level), codes in groups.items() for code in codes],
        columns=["territory_id", "level", "code"],
    )
    return Territories(frame=frame, members=members)


def value_row(table, tid: str, iid: str, period: str):
    """The one row of an indicator table for a territory, indicator and period."""
    rows = table[
        (table["territory_id"] == tid)
        & (table["indicator_id"] == iid)
        & (table["period"] == period)
    ]
    assert len(rows) == 1, (tid, iid, period, rows)
    return rows.iloc[0]


# --------------------------------------------------------------------------- reader helpers


def sniffed(path):
    """The one file ``sniff`` finds at ``path``."""
    from observatoire.sources import sniff as sniff_module

    (file,) = sniff_module.sniff(path)
    return file


def read_source(path):
    """``(detection, result, table)``: ``path`` recognised and read by its reader."""
    import pandas as pd

    from observatoire.sources.registry import detect

    file = sniffed(path)
    reader, detection = detect(file)
    result = reader.read(file, detection)
    return detection, result, pd.concat(list(result.frames()), ignore_index=True)


def write_workbook(path, rows, title: str = "Feuil1"):
    """An XLSX with ``rows`` in its first sheet."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path
