"""Loading real INSEE files end to end: COG recoding keeps totals, sums mergers, keeps secrets."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from conftest import shared_file
from observatoire.loading import load_paths
from observatoire.project import init_project, open_project
from observatoire.territories import cog
from observatoire.warehouse import Warehouse


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    events = shared_file(shared_data, "cog/v_mvt_commune_2025_from_COGiter.csv")
    comparateur = shared_file(shared_data, "insee_rp/base_cc_comparateur_RP2018_csv.zip")
    filosofi = shared_file(shared_data, "filosofi/cc_filosofi_2020_COM.csv")
    project = open_project(init_project(tmp_path_factory.mktemp("p") / "p"))
    loads = load_paths(project, [comparateur, filosofi, events])
    return project, loads, events, comparateur


def _raw_comparateur(path: Path) -> dict[str, dict[str, str]]:
    with zipfile.ZipFile(path) as archive, archive.open("base_cc_comparateur.CSV") as handle:
        reader = csv.DictReader(io.TextIOWrapper(handle, "latin-1"), delimiter=";")
        return {row["CODGEO"]: row for row in reader}


def test_events_are_loaded_first_and_used(loaded) -> None:
    _, loads, _, _ = loaded
    assert loads[0].dataset == "cog_events"
    rp = next(x for x in loads if x.dataset == "rp_comparateur")
    assert rp.cog_source == 2021
    assert any("événements INSEE" in w for w in rp.warnings)


def test_national_total_is_kept_and_mergers_are_summed(loaded) -> None:
    project, _, events_path, comparateur = loaded
    raw = _raw_comparateur(comparateur)
    communes = {c: r for c, r in raw.items() if c not in cog.ARM_TO_COMMUNE}
    # Blank cells (the uninhabited « communes mortes pour la France ») are missing, not 0.
    total = sum(float(r["P18_POP"]) for r in communes.values() if r["P18_POP"])
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        got = wh.query(
            "SELECT code, value, cog_status FROM insee_rp WHERE variable = 'P_POP' "
            "AND period = '2018'"
        ).set_index("code")
    assert got["value"].sum() == pytest.approx(total, rel=1e-12)
    assert len(got) == 34_875  # every commune of COG 2025, once
    # A real commune nouvelle: its 2018 population is the sum of its members'.
    events = cog.read_events(events_path)
    passage = cog.build_passage(events, 2021, 2025, got.index)
    merged = passage[passage["kind"] == "fusion"].groupby("code_cible")["code_source"].apply(list)
    target, members = next((t, m) for t, m in merged.items() if all(raw[c]["P18_POP"] for c in m))
    assert got.loc[target, "value"] == pytest.approx(sum(float(raw[m]["P18_POP"]) for m in members))
    assert got.loc[target, "cog_status"] == "fusion"
    # An untouched commune keeps its value.
    assert got.loc["62119", "value"] == pytest.approx(25193)
    assert got.loc["62119", "cog_status"] == "ok"


def test_secret_and_non_additive_values_are_never_invented(loaded) -> None:
    project, _, _, _ = loaded
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        rows = wh.query(
            "SELECT code, variable, value, secret, cog_status FROM filosofi "
            "WHERE variable IN ('MED', 'TP60')"
        )
    assert not ((rows["value"] == 0) & rows["secret"]).any()
    secret = rows[(rows["code"] == "01001") & (rows["variable"] == "TP60")].iloc[0]
    assert secret["secret"] and secret["value"] != secret["value"]  # NULL, never 0
    merged = rows[(rows["cog_status"] == "fusion") & (rows["variable"] == "MED")]
    assert len(merged) > 0
    assert merged["value"].isna().all()  # a median of merged communes is not recomputable
