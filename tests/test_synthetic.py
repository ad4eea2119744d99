"""Simulated official files (``observatoire simuler``): formats, coherence, determinism.

Every written file is parsed with plain pandas (no project reader) to check the identities the
simulator promises; headers are compared with the real files of ``../shared/data`` when they
are there (read in place, skipped otherwise); the round trip through the readers is checked
last.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import shared_file
from observatoire.errors import InputError
from observatoire.sources.synthetic import (
    DATASETS,
    MANIFEST_NAME,
    SimulationManifest,
    is_simulated,
    simulate,
)
from observatoire.sources.synthetic._common import ARM_PARENT, EPSG_BY_DEP, METRO_EPSG
from observatoire.territories import referential

# Part of the Artois (Béthune, Lens, Liévin and their neighbours) plus communes that exercise
# the special cases: Paris (arrondissements), Ajaccio (2A), Pointe-à-Pitre (DOM), Metz (no DVF
# in Moselle) and Mamoudzou (Mayotte: not in the census nor Filosofi).
ARTOIS = [
    "62119",
    "62498",
    "62510",
    "62215",
    "62178",
    "62186",
    "62250",
    "62413",
    "62427",
    "62570",
    "62001",
    "62002",
    "62133",
    "62667",
    "62863",
]
SPECIAL = ["75056", "2A004", "97120", "57463", "97611"]
COMMUNES = ARTOIS + SPECIAL
SEED = 7


def _run(folder: Path, datasets: list[str], vintages: list[int], seed: int = SEED):
    return simulate(folder, communes=COMMUNES, vintages=vintages, seed=seed, datasets=datasets)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulationManifest:
    folder = tmp_path_factory.mktemp("simulation")
    census = [d for d in DATASETS if d.startswith("rp_")]
    _run(folder, census, [2021])
    _run(folder, ["filosofi_com"], [2019, 2020])
    _run(folder, ["dvf_geo", "dvf_dgfip"], [2021, 2024])
    others = ["bpe_xy", "bpe_com", "bpe_gammes", "sirene", "lovac", "naf"]
    calls: list[tuple[str, int, int]] = []
    manifest = _run(folder, others, [2021])
    manifest = simulate(
        folder,
        communes=COMMUNES,
        vintages=[2024],
        seed=SEED,
        datasets=["sirene", "lovac"],
        progress=lambda label, done, total: calls.append((label, done, total)),
    )
    assert calls and calls[-1][1:] == (2, 2)
    return manifest


def _file(folder: Path, dataset: str, vintage: int) -> Path:
    entries = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    names = [e["file"] for e in entries if e["dataset"] == dataset and e["vintage"] == vintage]
    assert len(names) == 1, (dataset, vintage, names)
    return folder / names[0]


def _raw(path: Path) -> bytes:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            (name,) = archive.namelist()
            return archive.read(name)
    return path.read_bytes()


def _frame(path: Path, sep: str, encoding: str = "utf-8", **options) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(_raw(path)),
        sep=sep,
        dtype=str,
        keep_default_na=False,
        encoding=encoding,
        **options,
    )


def _numbers(frame: pd.DataFrame, columns: list[str], comma: bool = False) -> pd.DataFrame:
    out = frame[columns]
    if comma:
        out = out.apply(lambda s: s.str.replace(",", ".", regex=False))
    return out.apply(pd.to_numeric, errors="coerce")


# ------------------------------------------------------------------ manifest and lineage


def test_manifest_lists_every_file_with_its_checksum(simulated: SimulationManifest) -> None:
    folder = simulated.directory
    document = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert document["generator"] == "observatoire simuler"
    assert document["seed"] == SEED
    assert (
        document["avertissement"] == "Données simulées : ne pas publier comme des chiffres réels."
    )
    files = document["files"]
    assert {f["dataset"] for f in files} == set(DATASETS)
    for entry in files:
        assert {"file", "sha256", "dataset", "vintage"} <= set(entry)
        path = folder / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert is_simulated(path)
    assert simulated.paths and all(p.parent == folder for p in simulated.paths)


def test_is_simulated_refuses_modified_or_unlisted_copies(
    simulated: SimulationManifest, tmp_path: Path
) -> None:
    source = _file(simulated.directory, "lovac", 2021)
    elsewhere = tmp_path / source.name
    shutil.copy(source, elsewhere)
    assert not is_simulated(elsewhere)  # no manifest beside it
    shutil.copy(simulated.directory / MANIFEST_NAME, tmp_path / MANIFEST_NAME)
    assert is_simulated(elsewhere)  # same bytes, listed checksum
    data = bytearray(elsewhere.read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")
    elsewhere.write_bytes(bytes(data))
    assert not is_simulated(elsewhere)
    assert not is_simulated(tmp_path / "absent.csv")


def test_same_seed_same_bytes_other_seed_other_bytes(
    simulated: SimulationManifest, tmp_path: Path
) -> None:
    datasets = ["rp_logement", "dvf_geo", "bpe_xy", "bpe_gammes", "sirene", "naf"]
    again = _run(tmp_path / "again", datasets, [2021])
    for item in again.files:
        original = _file(simulated.directory, item.dataset, 2021)
        assert item.path.read_bytes() == original.read_bytes(), item.dataset
    other = _run(tmp_path / "other", ["dvf_geo"], [2021], seed=SEED + 1)
    assert other.files[0].sha256 != _run(tmp_path / "third", ["dvf_geo"], [2021]).files[0].sha256


def test_bad_requests_are_refused_in_french(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="inconnu"):
        simulate(tmp_path, communes=["62119"], vintages=[2021], datasets=["dvf_bidon"])
    with pytest.raises(InputError, match="absente"):
        simulate(tmp_path, communes=["99999"], vintages=[2021], datasets=["lovac"])
    with pytest.raises(InputError, match="rien à simuler"):
        simulate(tmp_path, communes=["62119"], vintages=[2023], datasets=["filosofi_com"])
    manifest = simulate(tmp_path, communes=["62119"], vintages=[2019, 2021], datasets=["lovac"])
    assert [f.vintage for f in manifest.files] == [2021]
    assert manifest.skipped and "lovac 2019" in manifest.skipped[0]


# ------------------------------------------------------------------ census


def _census(folder: Path, dataset: str) -> tuple[pd.DataFrame, bytes]:
    path = _file(folder, dataset, 2021)
    raw = _raw(path)
    frame = pd.read_csv(io.BytesIO(raw), sep=";", dtype={"CODGEO": str})
    return frame.set_index("CODGEO"), raw


def test_census_format_and_dictionary_columns(simulated: SimulationManifest) -> None:
    from observatoire.sources.synthetic.census import dictionary

    for dataset in [d for d in DATASETS if d.startswith("rp_")]:
        path = _file(simulated.directory, dataset, 2021)
        with zipfile.ZipFile(path) as archive:
            (member,) = archive.namelist()
        assert member.endswith("-2021.CSV") and path.name.endswith("_csv.zip")
        frame, raw = _census(simulated.directory, dataset)
        raw.decode("ascii")
        assert raw.count(b"\r\n") == raw.count(b"\n") == len(frame) + 1
        assert raw.split(b"\r\n")[0].split(b";")[0] == b"CODGEO"
        assert "97611" not in frame.index  # Mayotte is not in INSEE's communal bases
        assert {"75056", "75101", "75120"} <= set(frame.index)
        theme = dataset[3:]
        content = dictionary().get(theme, {})
        if "2021" in content.get("editions", {}) and theme != "serie_historique":
            expected = {
                (v["var"][0] + k + v["var"][1:]) if v["var"][1] == "_" else v["var"] + k
                for v in content["variables"]
                for k in v["in"].get("2021", [])
                if k
            }
            assert expected <= set(frame.columns)
    series, _ = _census(simulated.directory, "rp_serie_historique")
    assert {
        "P21_POP",
        "P15_POP",
        "P10_POP",
        "D99_POP",
        "D68_POP",
        "SUPERF",
        "NAIS1520",
        "DECE1014",
        "NAIS9909",
        "D90_NPER_RP",
        "D99_PMEN",
    } <= set(series.columns)


def test_census_counts_are_coherent_and_calibrated(simulated: SimulationManifest) -> None:
    folder = simulated.directory
    housing, _ = _census(folder, "rp_logement")
    people, _ = _census(folder, "rp_evol_struct_pop")
    work, _ = _census(folder, "rp_emploi_pop_active")
    school, _ = _census(folder, "rp_diplomes_formation")
    families, _ = _census(folder, "rp_couples_familles_menages")
    for yy in ("21", "15", "10"):
        log = housing[f"P{yy}_LOG"]
        parts = housing[[f"P{yy}_RP", f"P{yy}_RSECOCC", f"P{yy}_LOGVAC"]].sum(axis=1)
        assert np.allclose(log, parts, rtol=1e-9)
        assert (housing[f"P{yy}_RP"] <= log).all()
        assert np.allclose(housing[f"P{yy}_MEN"], housing[f"P{yy}_RP"], rtol=1e-12)
        pop = people[f"P{yy}_POP"]
        assert (housing[f"P{yy}_PMEN"] <= pop.reindex(housing.index) + 1e-6).all()
        bands = [f"P{yy}_POP{b}" for b in ("0014", "1529", "3044", "4559", "6074")]
        assert np.allclose(
            people[bands].sum(axis=1)
            + people.filter(regex=f"^P{yy}_POP(7589|90P)$").sum(axis=1)
            + people.filter(regex=f"^P{yy}_POP75P$").sum(axis=1),
            pop,
            rtol=1e-9,
        )
        assert np.allclose(people[f"P{yy}_POPH"] + people[f"P{yy}_POPF"], pop, rtol=1e-9)
        assert (work[f"P{yy}_CHOM1564"] <= work[f"P{yy}_ACT1564"]).all()
        assert (work[f"P{yy}_ACT1564"] <= work[f"P{yy}_POP1564"]).all()
        assert np.allclose(
            work[f"P{yy}_ACTOCC1564"], work[f"P{yy}_ACT1564"] - work[f"P{yy}_CHOM1564"], rtol=1e-9
        )
    diplomas = [
        f"P21_NSCOL15P_{d}" for d in ("DIPLMIN", "BEPC", "CAPBEP", "BAC", "SUP2", "SUP34", "SUP5")
    ]
    assert np.allclose(school[diplomas].sum(axis=1), school["P21_NSCOL15P"], rtol=1e-9)
    alone = families[["C21_MENHSEUL", "C21_MENFSEUL"]].sum(axis=1)
    assert np.allclose(alone, families["C21_MENPSEUL"], rtol=1e-9)
    # weighted counts, written as INSEE does; the population is a whole number
    assert (people["P21_POP"] == people["P21_POP"].round()).all()
    assert (housing["P21_LOG"] != housing["P21_LOG"].round()).any()
    # calibrated: P21_POP is the legal population of 2021 where the codes are the same
    legal = referential.populations().query("annee == 2021").set_index("code")["population"]
    common = [c for c in ARTOIS if c in legal.index]
    assert np.allclose(people.loc[common, "P21_POP"], legal[common], rtol=0.01)
    arms = [c for c in people.index if c in ARM_PARENT]
    assert people.loc[arms, "P21_POP"].sum() == people.loc["75056", "P21_POP"]


def test_census_headers_follow_insee_dictionaries(
    simulated: SimulationManifest, shared_data: Path
) -> None:
    from observatoire.sources.synthetic.census import columns

    def variables(relative: str) -> list[str]:
        path = shared_file(shared_data, relative)
        listing = pd.read_csv(path, sep=";", dtype=str, usecols=["COD_VAR"])["COD_VAR"]
        return [c for c in listing.drop_duplicates() if c != "CODGEO"]

    housing, _ = _census(simulated.directory, "rp_logement")
    assert housing.columns.tolist() == variables("insee_rp/meta_base-cc-logement-2021.CSV.gz")
    jobs = variables("insee_rp/meta_base-cc-emploi-pop-active-2020_v2.CSV.gz")
    assert sorted(c for c, _, _ in columns("rp_emploi_pop_active", 2020)) == sorted(jobs)


def test_commune_values_do_not_depend_on_the_communes_requested(
    simulated: SimulationManifest, tmp_path: Path
) -> None:
    alone = simulate(
        tmp_path, communes=["62119"], vintages=[2021], seed=SEED, datasets=["rp_logement", "lovac"]
    )
    for item in alone.files:
        ours = _frame(item.path, ";", encoding="cp1252").iloc[0]
        full = _frame(_file(simulated.directory, item.dataset, 2021), ";", encoding="cp1252")
        row = full[full.iloc[:, 0] == "62119"].iloc[0]
        assert ours.equals(row), item.dataset


# ------------------------------------------------------------------ Filosofi


def test_filosofi_formats_secret_and_coherence(simulated: SimulationManifest) -> None:
    old = _raw(_file(simulated.directory, "filosofi_com", 2019))
    new = _raw(_file(simulated.directory, "filosofi_com", 2020))
    assert old.count(b"\r\n") == old.count(b"\n") and b"\r" not in new
    assert b";s" not in old and b";;" in old
    assert b";s;" in new and b";;" not in new
    for raw, year, comma in ((old, "19", False), (new, "20", True)):
        frame = pd.read_csv(io.BytesIO(raw), sep=";", dtype=str, keep_default_na=False)
        names = [c for c in frame.columns if c != "CODGEO"]
        values = _numbers(frame, names, comma=comma)
        values.columns = [c[: -len(year)] for c in names]
        full = values["TP60"].notna()
        assert full.any() and (~full).any()
        assert (values.loc[full, "D1"] < values.loc[full, "MED"]).all()
        assert (values.loc[full, "MED"] < values.loc[full, "D9"]).all()
        rates = values.filter(regex="^TP60")
        assert ((rates >= 0) & (rates <= 100) | rates.isna()).all().all()
        small = values["NBMENFISC"].notna() & ~full
        assert (
            small.any()
            and values.loc[small]
            .drop(columns=["NBMENFISC", "NBPERSMENFISC", "MED"])
            .isna()
            .all()
            .all()
        )
        assert (values["NBPERSMENFISC"].dropna() >= values["NBMENFISC"].dropna()).all()
        sums = values.loc[full, ["PACT", "PPEN", "PPAT", "PPSOC", "PIMPOT"]].sum(axis=1)
        assert np.allclose(sums, 100, atol=0.05)
        if comma:
            assert frame.loc[full, f"TP60{year}"].str.fullmatch(r"\d+,\d").all()
        else:
            assert frame.loc[full, f"TP60{year}"].str.fullmatch(r"\d+").all()


@pytest.mark.parametrize("year", [2019, 2020])
def test_filosofi_header_equals_the_real_file(
    simulated: SimulationManifest, shared_data: Path, year: int
) -> None:
    real = shared_file(shared_data, f"filosofi/cc_filosofi_{year}_COM.csv")
    with open(real, "rb") as handle:
        real_header = handle.readline()
    ours = _raw(_file(simulated.directory, "filosofi_com", year))
    assert ours.split(b"\n")[0] == real_header.rstrip(b"\n")  # CRLF / LF included


# ------------------------------------------------------------------ DVF


def test_dvf_headers_equal_the_real_files(simulated: SimulationManifest, shared_data: Path) -> None:
    real_raw = shared_file(shared_data, "dvf/ValeursFoncieres2024_06000.txt")
    with open(real_raw, "rb") as handle:
        raw_header = handle.readline()
    ours = _raw(_file(simulated.directory, "dvf_dgfip", 2024))
    assert ours.split(b"\n")[0] + b"\n" == raw_header  # "|" and CRLF as in the real file
    older = _raw(_file(simulated.directory, "dvf_dgfip", 2021)).split(b"\r\n")[0]
    assert older.split(b"|")[0] == b"Code service CH"
    assert older.split(b"|")[1:] == raw_header.rstrip(b"\r\n").split(b"|")[1:]
    real_geo = shared_file(shared_data, "dvf/geodvf_2024_dep01_head_example.csv")
    with open(real_geo, "rb") as handle:
        geo_header = handle.readline()
    geo = _file(simulated.directory, "dvf_geo", 2024).read_bytes()
    assert geo.split(b"\n")[0] + b"\n" == geo_header


def test_dvf_mutations_are_coherent_and_located(simulated: SimulationManifest) -> None:
    path = _file(simulated.directory, "dvf_geo", 2024)
    data = path.read_bytes()
    assert not data.endswith(b"\n") and b"\r" not in data  # as Etalab: LF, no final line end
    geo = _frame(path, ",")
    assert len(geo.columns) == 40
    per_mutation = geo.groupby("id_mutation").agg(
        dates=("date_mutation", "nunique"),
        values=("valeur_fonciere", "nunique"),
        natures=("nature_mutation", "nunique"),
        lines=("date_mutation", "size"),
    )
    assert (per_mutation[["dates", "values", "natures"]] == 1).all().all()
    assert (per_mutation["lines"] > 1).mean() > 0.3
    assert geo["date_mutation"].str.startswith("2024-").all()
    assert {"Maison", "Appartement", "Dépendance"} <= set(geo["type_local"])
    assert not geo["code_commune"].str[:2].isin(["57", "67", "68"]).any()
    houses = geo[geo["type_local"] == "Maison"].drop_duplicates("id_mutation")
    price = houses["valeur_fonciere"].astype(float) / houses["surface_reelle_bati"].astype(float)
    assert 500 < price.median() < 6000
    parent = geo["code_commune"].map(ARM_PARENT).fillna(geo["code_commune"])
    located = geo[geo["longitude"] != ""]
    shapes = referential.geometries("commune").set_index("code").geometry
    inside = shapely.contains_xy(
        shapes.reindex(parent[located.index]).to_numpy(),
        located["longitude"].astype(float).to_numpy(),
        located["latitude"].astype(float).to_numpy(),
    )
    assert inside.all()
    raw = _frame(_file(simulated.directory, "dvf_dgfip", 2024), "|")
    assert len(raw) == len(geo)
    assert raw["Valeur fonciere"].str.fullmatch(r"\d+,\d\d").all()
    assert raw["Date mutation"].str.fullmatch(r"\d\d/\d\d/2024").all()
    assert not raw["Code commune"].str.startswith("0").any()
    assert raw["Code postal"].str.len().le(5).all()


# ------------------------------------------------------------------ BPE, SIRENE, LOVAC, NAF


def _projected_shapes() -> tuple[pd.Series, dict[str, int]]:
    communes = referential.communes().set_index("code")
    shapes = referential.geometries("commune").set_index("code")
    out = {}
    for epsg in {METRO_EPSG, *EPSG_BY_DEP.values()}:
        deps = [d for d, e in EPSG_BY_DEP.items() if e == epsg]
        mask = (
            communes["dep"].isin(deps)
            if epsg != METRO_EPSG
            else ~communes["dep"].isin(list(EPSG_BY_DEP))
        )
        out.update(shapes.loc[communes.index[mask]].to_crs(epsg=epsg).geometry.to_dict())
    return pd.Series(out), EPSG_BY_DEP


def test_bpe_points_inside_their_commune_and_counts(simulated: SimulationManifest) -> None:
    xy = _frame(_file(simulated.directory, "bpe_xy", 2021), ";")
    assert list(xy.columns) == [
        "REG",
        "DEP",
        "DEPCOM",
        "DCIRIS",
        "AN",
        "TYPEQU",
        "LAMBERT_X",
        "LAMBERT_Y",
        "QUALITE_XY",
    ]
    assert (xy["AN"] == "2021").all() and xy["TYPEQU"].str.fullmatch(r"[A-G]\d{3}").all()
    assert (xy["DCIRIS"].str[:5] == xy["DEPCOM"]).all()
    shapes, _ = _projected_shapes()
    located = xy[xy["LAMBERT_X"] != ""]
    assert len(located) > 0.95 * len(xy)
    parent = located["DEPCOM"].map(ARM_PARENT).fillna(located["DEPCOM"])
    inside = shapely.contains_xy(
        shapes.reindex(parent).to_numpy(),
        located["LAMBERT_X"].astype(float).to_numpy(),
        located["LAMBERT_Y"].astype(float).to_numpy(),
    )
    assert inside.all()
    assert xy["DEPCOM"].isin(ARM_PARENT).any()
    counts = _frame(_file(simulated.directory, "bpe_com", 2021), ";")
    expected = xy.groupby(["DCIRIS", "TYPEQU"]).size().sort_index()
    got = counts.set_index(["DCIRIS", "TYPEQU"])["NB_EQUIP"].astype(int).sort_index()
    assert got.equals(expected)


def _luhn(number: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char) * (2 if i % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def test_sirene_identifiers_codes_and_activities(simulated: SimulationManifest) -> None:
    stock = _frame(_file(simulated.directory, "sirene", 2021), ",")
    assert stock.columns[:3].tolist() == ["siren", "nic", "siret"]
    assert stock["siret"].is_unique and stock["siret"].str.fullmatch(r"\d{14}").all()
    assert (stock["siret"].str[:9] == stock["siren"]).all()
    assert all(_luhn(s) for s in stock["siret"]) and all(_luhn(s) for s in stock["siren"])
    known = set(referential.communes()["code"]) | set(ARM_PARENT)
    assert stock["codeCommuneEtablissement"].isin(known).all()
    assert (stock["nomenclatureActivitePrincipaleEtablissement"] == "NAFRev2").all()
    activity = stock["activitePrincipaleEtablissement"]
    assert activity.str.fullmatch(r"\d\d\.\d\d[A-Z]").all() and activity.str.startswith("47.").any()
    assert set(stock["etatAdministratifEtablissement"]) == {"A", "F"}
    assert stock["dateDernierTraitementEtablissement"].max().startswith("2021-11-30T")
    assert (
        stock.loc[stock["statutDiffusionEtablissement"] == "P", "libelleVoieEtablissement"]
        == "[ND]"
    ).all()
    newer = _frame(_file(simulated.directory, "sirene", 2024), ",")
    assert newer.columns.tolist() == stock.columns.tolist()


def test_lovac_and_naf_layouts(simulated: SimulationManifest) -> None:
    path = _file(simulated.directory, "lovac", 2021)
    lovac = _frame(path, ";", encoding="cp1252")
    assert lovac.columns.tolist() == [
        "CODGEO_21",
        "LIBGEO_21",
        "pp_vacant_21",
        "pp_vacant_plus_2ans_21",
        "ff_pp_total_20",
        "pp_vacant_20",
        "pp_vacant_plus_2ans_20",
    ]
    counts = lovac.drop(columns=["CODGEO_21", "LIBGEO_21"])
    assert (counts == "s").any().any()
    numbers = counts.replace("s", np.nan).apply(pd.to_numeric)
    assert (numbers.stack().dropna() >= 11).all()
    both = numbers[["pp_vacant_21", "pp_vacant_plus_2ans_21"]].dropna()
    assert (both["pp_vacant_plus_2ans_21"] <= both["pp_vacant_21"]).all()
    naf = _frame(_file(simulated.directory, "naf", 2021), ",")
    assert naf.columns[0] == "idcom" and "naf09art21" in naf.columns
    values = naf.filter(regex=r"^(naf|art)\d").apply(pd.to_numeric)
    annual = [f"naf{y:02d}art{y + 1:02d}" for y in range(9, 21)]
    assert (values[annual].sum(axis=1) == values["naf09art21"]).all()
    parts = [f"art09{d}21" for d in ("act", "hab", "mix", "rou", "fer", "inc")]
    assert (values[parts].sum(axis=1) == values["naf09art21"]).all()


# ------------------------------------------------------------------ readers


def test_every_file_is_recognised_by_exactly_one_reader(simulated: SimulationManifest) -> None:
    registry = pytest.importorskip("observatoire.sources.registry")
    from observatoire.sources.sniff import sniff

    modules = ("insee_rp", "filosofi", "bpe", "dvf", "sirene", "lovac", "foncier")
    for module in modules:
        pytest.importorskip(f"observatoire.sources.{module}", reason=f"lecteur {module} absent")
    document = json.loads((simulated.directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    for entry in document["files"]:
        (file,) = sniff(simulated.directory / entry["file"])
        _reader, detection = registry.detect(file)
        assert detection.dataset == DATASETS[entry["dataset"]].reader_dataset, entry["file"]
        year = entry["vintage"]
        expected = {"lovac": f"2020-{year}" if year > 2020 else "2020", "naf": f"2009-{year}"}
        if entry["dataset"] == "sirene":  # the stock's date of last processing
            assert detection.vintage == f"{year}-11-30", entry["file"]
        else:
            assert detection.vintage == expected.get(entry["dataset"], str(year)), entry["file"]
