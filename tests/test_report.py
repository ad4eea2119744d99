"""The « chiffres clés » report: PDF structure, French figures, sources, accessibility,
commentary consistent with the figures, statuses shown as such, simulated-data mention.

Real files of ../shared/data (comparateur RP 2018, Filosofi 2019 and 2020) feed an Artois
project once per module; the first pages of each PDF are rendered to PNG in
``tests/artefacts/report/`` for anyone to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from observatoire.indicators.build import build
from observatoire.loading import load_paths
from observatoire.project import Project, init_project, open_project
from observatoire.publish.fmt import fr_number
from observatoire.publish.report import chromium_path, make_reports
from observatoire.warehouse import Warehouse

ARTEFACTS = Path(__file__).parent / "artefacts" / "report"
NNBSP = "\u202f"


def _chromium_or_skip() -> None:
    try:
        chromium_path()
    except Exception as exc:
        pytest.skip(f"Chromium absent ({exc}) : .ci/run l'installe")


@dataclass
class Built:
    project: Project
    html: Path
    pdf: Path
    commune_pdf: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Built:
    from conftest import shared_file

    _chromium_or_skip()
    root = tmp_path_factory.mktemp("report") / "artois"
    init_project(root, example="artois")
    project = open_project(root)
    load_paths(
        project,
        [
            shared_file(shared_data, "insee_rp/base_cc_comparateur_RP2018_csv.zip"),
            shared_file(shared_data, "filosofi/cc_filosofi_2019_COM.csv"),
            shared_file(shared_data, "filosofi/cc_filosofi_2020_COM.csv"),
        ],
    )
    build(project)
    epci = project.territories.get("200072460")
    out = root / "rapports"
    (html,) = make_reports(project, [epci], fmt="html", out_dir=out, today=date(2026, 11, 25))
    pdf, commune_pdf = make_reports(
        project,
        [epci, project.territories.get("62720")],
        fmt="pdf",
        out_dir=out,
        today=date(2026, 11, 25),
    )
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    if shutil.which("pdftoppm"):
        for path in (pdf, commune_pdf):
            subprocess.run(
                ["pdftoppm", "-r", "60", "-l", "4", "-png", str(path), str(ARTEFACTS / path.stem)],
                check=True,
            )
    return Built(project, html, pdf, commune_pdf)


def _pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(str(path)).pages]


def _value(project: Project, territory: str, level: str, indicator: str, period: str) -> float:
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        rows = wh.query(
            "SELECT value FROM indicator_values WHERE territory_id = ? AND level = ? "
            "AND indicator_id = ? AND period = ?",
            [territory, level, indicator, period],
        )
    return float(rows["value"].iloc[0])


def test_pdf_structure_figures_and_sources(built: Built) -> None:
    pages = _pages(built.pdf)
    assert 8 <= len(pages) <= 16
    text = "\n".join(pages)
    assert "CA de Béthune-Bruay" in pages[0] and "Chiffres clés" in pages[0]
    population = _value(built.project, "200072460", "epci", "population", "2018")
    assert population == 276759
    # French typography: narrow no-break space between thousands, decimal comma.
    assert f"276{NNBSP}759" in text or "276 759" in text
    unemployment = _value(built.project, "200072460", "epci", "taux_chomage_1564", "2018")
    assert fr_number(unemployment, 1) in text
    assert "," in fr_number(unemployment, 1)
    assert "Source : INSEE, recensement 2018" in text
    assert "Définitions, sources et licences" in text
    assert "Licence Ouverte" in text
    assert all("Béthune" in page for page in pages[1:])  # the footer on every page
    for chapter in ("Population et vieillissement", "Ménages et logement", "Emploi et activité"):
        assert chapter in text


def test_html_is_accessible_and_has_its_images(built: Built) -> None:
    document = built.html.read_text(encoding="utf-8")
    assert '<html lang="fr">' in document
    images = re.findall(
        r'<img class="(chart|map|cover-map)" src="data:image/svg\+xml;base64,[^"]+" alt="([^"]+)"',
        document,
    )
    kinds = {kind for kind, _ in images}
    assert {"chart", "map"} <= kinds
    assert len(images) >= 10
    assert all(len(alt) > 20 for _, alt in images)
    # The alternative texts state the data: the population chart names its values.
    assert any(f"276{NNBSP}759" in alt for _, alt in images)
    headings = re.findall(r"<h([1-3])", document)
    assert headings[0] == "1" and "2" in headings
    assert headings.index("2") < headings.index("3")
    assert '<th scope="col">' in document and '<th scope="row">' in document
    assert "<caption>" in document


def test_commentary_follows_the_sign_of_the_figures(built: Built) -> None:
    text = " ".join(" ".join(_pages(built.pdf)).split())
    own = _value(built.project, "200072460", "epci", "tcam_population", "2013-2018")
    dep = _value(built.project, "62", "departement", "tcam_population", "2013-2018")
    verb = "baisse" if own < 0 else "progresse"
    dep_verb = "baisse" if dep < 0 else "progresse"
    expected = f"La population {verb} de {fr_number(abs(own), 2)}"
    assert expected.replace(NNBSP, " ") in text.replace(NNBSP, " ")
    assert f"quand elle {dep_verb} de {fr_number(abs(dep), 2)}" in text
    assert "entre 2013 et 2018" in text


def test_secret_and_non_additive_values_are_shown_as_such(built: Built) -> None:
    epci = " ".join(_pages(built.pdf))
    # The EPCI's median standard of living cannot be aggregated: « n.a. » and its note.
    assert "n.a." in epci and "non additif" in epci
    commune = " ".join(_pages(built.commune_pdf))
    # Rombly (62720): Filosofi does not publish its median (fewer than 50 households).
    assert "Rombly" in commune
    assert "secret statistique" in commune
    assert " 0 €" not in commune.replace(NNBSP, " ").replace("\u00a0", " ")


def test_artefacts_are_written(built: Built) -> None:
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm absent (paquet poppler-utils) : pas d'images des pages")
    pngs = sorted(ARTEFACTS.glob(f"{built.pdf.stem}-*.png"))
    assert len(pngs) >= 3
    assert all(p.stat().st_size > 5000 for p in pngs)


def test_simulated_data_are_marked_on_every_page(tmp_path: Path) -> None:
    _chromium_or_skip()
    from observatoire.sources.synthetic import simulate
    from observatoire.territories import referential

    init_project(tmp_path / "p", example="artois")
    project = open_project(tmp_path / "p")
    communes = sorted(referential.communes().query("epci == '200072460'")["code"])
    files = simulate(
        tmp_path / "sim", communes=communes, vintages=[2021], datasets=["rp_evol_struct_pop"]
    )
    load_paths(project, files.paths)
    build(project)
    (pdf,) = make_reports(project, [project.territories.get("200072460")], out_dir=tmp_path / "r")
    pages = _pages(pdf)
    assert len(pages) >= 3
    assert all("DONNÉES SIMULÉES" in page or "Données simulées" in page for page in pages)
