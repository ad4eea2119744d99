"""The web observatory: API (served and static), security rules, and the pages in Chromium.

One demo project (embedded referential, real legal populations, simulated sources including a
restricted LOVAC file) is built per module; the static site is written once. Browser tests run
in Debian's Chromium through Playwright, over HTTP (``serve``) and from ``file://`` (static
build); screenshots go to ``tests/artefacts/site``."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from observatoire.indicators.catalogue import indicator_catalogue, restricted_indicator_ids
from observatoire.project import Project, open_project
from observatoire.publish.fmt import fr_number
from observatoire.publish.maps import classify
from observatoire.publish.report import CHROMIUM_ARGS, chromium_path
from observatoire.publish.site.api import ROUTES, openapi
from observatoire.publish.site.server import create_app
from observatoire.warehouse import Warehouse

ARTEFACTS = Path(__file__).parent / "artefacts" / "site"
TOKEN = "jeton-de-test-assez-long"
RESTRICTED = "logements_vacants_parc_prive"
CABBALR = "200072460"


@dataclass
class Demo:
    project: Project
    site: Path


@pytest.fixture(scope="module")
def demo(demo_summary) -> Demo:
    summary = demo_summary  # the demo writes the static site
    project = open_project(summary.root)
    site = project.settings.output_dir / "site"
    assert (site / "index.html") in [path for path, _ in summary.outputs]
    return Demo(project, site)


@pytest.fixture(scope="module")
def client(demo: Demo):
    from starlette.testclient import TestClient

    return TestClient(create_app(demo.project, token=TOKEN))


def _warehouse_rows(project: Project, sql: str, params: list | None = None) -> list[tuple]:
    with Warehouse(project.settings.warehouse_path, read_only=True) as w:
        return w.con.execute(sql, params or []).fetchall()


# --------------------------------------------------------------------------- API


def test_every_route_is_documented_and_answers(client) -> None:
    spec = client.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {template for template, _ in ROUTES}
    examples = {
        "/api/territoires/{niveau}/{id}.json": f"/api/territoires/epci/{CABBALR}.json",
        "/api/valeurs/{indicateur}/{niveau}.json": "/api/valeurs/part_65p/commune.json",
        "/api/geometries/{niveau}.json": "/api/geometries/epci.json",
    }
    for template, _ in ROUTES:
        response = client.get(examples.get(template, template))
        assert response.status_code == 200, template
        assert response.headers["content-type"].startswith("application/json")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"


def test_portrait_figures_are_the_warehouse_values(client, demo: Demo) -> None:
    portrait = client.get(f"/api/territoires/epci/{CABBALR}.json").json()
    assert portrait["territoire"]["nom"].startswith("CA de Béthune-Bruay")
    assert [p["niveau"] for p in portrait["parents"]] == ["departement", "region", "france"]
    (period, value), *_ = _warehouse_rows(
        demo.project,
        "SELECT period, value FROM indicator_values WHERE territory_id = ? AND level = 'epci' "
        "AND indicator_id = 'population' AND value IS NOT NULL ORDER BY period DESC LIMIT 1",
        [CABBALR],
    )
    line = next(r for r in portrait["chiffres_cles"]["lignes"] if r["libelle"].startswith("Pop"))
    assert line["valeur"] == fr_number(value, 0) + "\u00a0habitants" or line["valeur"].startswith(
        fr_number(value, 0)
    )
    raw = {p: v for p, v, *_ in portrait["valeurs"]["population"]}
    assert raw[period] == pytest.approx(value)
    assert len(portrait["membres"]) == 100  # the CA's communes
    kinds = {g["spec"]["usermeta"]["kind"] for c in portrait["chapitres"] for g in c["graphiques"]}
    assert {"evolution_line", "comparison_bars"} <= kinds
    assert all(g["alt"] for c in portrait["chapitres"] for g in c["graphiques"])


def test_values_match_the_warehouse_and_secrets_are_never_sent(client, demo: Demo) -> None:
    rng = np.random.default_rng(7)
    rows = _warehouse_rows(
        demo.project,
        "SELECT territory_id, indicator_id, period, value, status FROM indicator_values "
        "WHERE level = 'commune' AND territory_id LIKE '62%' AND indicator_id IN "
        "('part_65p', 'taux_chomage_1564', 'mediane_niveau_vie', 'population') "
        "ORDER BY territory_id, indicator_id, period",
    )
    for i in rng.choice(len(rows), size=40, replace=False):
        tid, iid, period, value, status = rows[i]
        payload = client.get(f"/api/valeurs/{iid}/commune.json").json()
        k = payload["territoires"].index(tid)
        assert payload["statuts"][period][k] == status
        if status == "secret" or value is None:
            assert payload["valeurs"][period][k] is None
        else:
            assert payload["valeurs"][period][k] == pytest.approx(value)
    restricted = sorted(restricted_indicator_ids(indicator_catalogue()))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for public in (True, False):  # public figures, then restricted ones (LOVAC) with the token
        secret = _warehouse_rows(
            demo.project,
            "SELECT territory_id, indicator_id, period FROM indicator_values WHERE level = "
            "'commune' AND territory_id LIKE '62%' AND status = 'secret' AND "
            f"{'NOT' if public else ''} list_contains(?, indicator_id) "
            "ORDER BY territory_id, indicator_id, period LIMIT 5",
            [restricted],
        )
        assert secret, "the demo has secret cells in the Pas-de-Calais"
        for tid, iid, period in secret:
            response = client.get(
                f"/api/valeurs/{iid}/commune.json", headers={} if public else auth
            )
            payload = response.json()
            k = payload["territoires"].index(tid)
            assert payload["valeurs"][period][k] is None
            assert payload["statuts"][period][k] == "secret"


@pytest.mark.parametrize(
    "path",
    [
        "/api/territoires/commune/62119'--.json",
        "/api/territoires/pays/62119.json",
        "/api/territoires/commune/75056.json",  # outside the observatory
        "/api/valeurs/part_65p/region.json",
        "/api/valeurs/inconnu/commune.json",
        "/api/geometries/iris.json",
        "/api/../observatoire.toml",
        "/api/meta",
    ],
)
def test_bad_parameters_are_refused(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    if response.headers["content-type"].startswith("application/json"):
        assert response.json()["erreur"]


def test_read_only(client) -> None:
    assert client.post("/api/meta.json").status_code == 405
    assert client.delete("/api/meta.json").status_code == 405


def test_restricted_datasets_need_the_token(client, demo: Demo) -> None:
    ids = {
        i["id"]
        for t in client.get("/api/indicateurs.json").json()["themes"]
        for i in t["indicateurs"]
    }
    assert RESTRICTED not in ids and "population" in ids
    assert client.get(f"/api/valeurs/{RESTRICTED}/commune.json").status_code == 404
    bad = client.get("/api/meta.json", headers={"Authorization": "Bearer mauvais-jeton-xxxxxxx"})
    assert bad.status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ids = {
        i["id"]
        for t in client.get("/api/indicateurs.json", headers=auth).json()["themes"]
        for i in t["indicateurs"]
    }
    assert RESTRICTED in ids
    response = client.get(f"/api/valeurs/{RESTRICTED}/commune.json", headers=auth)
    assert response.status_code == 200 and response.headers["cache-control"].startswith("private")
    assert any(v is not None for values in response.json()["valeurs"].values() for v in values)
    # The static build never holds them.
    for path in (demo.site / "api").rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert RESTRICTED not in text, path
        assert "lovac" not in text.lower(), path


def test_static_files_are_the_api_responses(client, demo: Demo) -> None:
    paths = [
        "/api/meta.json",
        "/api/territoires.json",
        "/api/indicateurs.json",
        f"/api/territoires/epci/{CABBALR}.json",
        "/api/territoires/custom/pm-artois.json",
        "/api/territoires/commune/62119.json",
        "/api/valeurs/taux_chomage_1564/epci.json",
        "/api/geometries/commune.json",
        "/api/openapi.json",
    ]
    for path in paths:
        static = (demo.site / path.lstrip("/")).read_bytes()
        assert static == client.get(path).content, path
        if path != "/api/openapi.json":
            script = (demo.site / path.lstrip("/")).with_suffix(".js").read_text(encoding="utf-8")
            assert script.startswith(f'OBS_DATA("{path}",')
    assert (demo.site / "index.html").read_text(encoding="utf-8") == client.get("/").text
    assert openapi()["paths"]


def test_portrait_ranks_are_the_peer_ranks(client, demo: Demo) -> None:
    from observatoire.indicators.select import peer_ranks

    for level, code in (("epci", CABBALR), ("commune", "62119")):
        portrait = client.get(f"/api/territoires/{level}/{code}.json").json()
        territory = demo.project.territories.get(code)
        with Warehouse(demo.project.settings.warehouse_path, read_only=True) as w:
            ranks = peer_ranks(w, territory)
        expected = {
            (r.indicator_id, r.period): f"{int(r.rank)}/{int(r.peers)}"
            for r in ranks.itertuples(index=False)
        }
        labels = {
            i["libelle"]: i["id"]
            for t in client.get("/api/indicateurs.json").json()["themes"]
            for i in t["indicateurs"]
        }
        checked = 0
        for chapter in portrait["chapitres"]:
            for row in chapter["tableau"]["rows"]:
                if row["rank"]:
                    period = row["period"].replace("\u2013", "-")
                    assert row["rank"] == expected[(labels[row["label"]], period)], row
                    checked += 1
        assert checked >= 10
        peers = {text.split("/")[1] for text in expected.values()}
        assert len(peers) > 1 or level == "epci"  # never "r/r" by construction


def test_values_cite_the_sources_of_each_period(client) -> None:
    payload = client.get("/api/valeurs/part_65p/commune.json").json()
    assert set(payload["sources"]) == set(payload["periodes"])
    assert all(payload["sources"][p] for p in payload["periodes"])


def test_paths_are_canonical_and_the_cache_stays_bounded(client) -> None:
    cache = client.app.state.public.responses
    client.get("/api/meta.json")
    size = len(cache)
    for path in ("/api/meta.json/", "/api//meta.json", "/api/meta.json//", "/api/meta.json/x"):
        assert client.get(path).status_code == 404, path
    assert len(cache) == size


def test_authorization_schemes_and_vary(client) -> None:
    basic = client.get("/api/meta.json", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 200 and basic.json()["restreint"] is False
    assert "Authorization" in basic.headers["vary"]


def test_reports_of_corsican_communes_are_served(client, demo: Demo) -> None:
    folder = demo.project.settings.output_dir / "rapports"
    folder.mkdir(exist_ok=True)
    pdf = folder / "chiffres-cles-commune-2A004.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    try:
        response = client.get("/rapports/chiffres-cles-commune-2A004.pdf")
        assert response.status_code == 200 and response.content == b"%PDF-1.4 test"
        assert client.get("/rapports/..%2Fobservatoire.toml").status_code == 404
    finally:
        pdf.unlink()


def test_site_build_never_wipes_a_foreign_folder(demo: Demo, tmp_path: Path) -> None:
    from observatoire.errors import InputError
    from observatoire.publish.site.static_site import build_site

    foreign = tmp_path / "www"
    foreign.mkdir()
    (foreign / "index.html").write_text("le site de l'agence", encoding="utf-8")
    with pytest.raises(InputError, match="pas un site de l'observatoire"):
        build_site(demo.project, foreign, quiet=True)
    assert (foreign / "index.html").read_text(encoding="utf-8") == "le site de l'agence"
    assert (demo.site / ".observatoire-site").is_file()


# --------------------------------------------------------------------------- browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(demo: Demo):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(demo.project), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    try:
        executable = chromium_path()
    except Exception as exc:
        pytest.skip(f"Chromium absent ({exc}) : .ci/run l'installe")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=[*CHROMIUM_ARGS, "--allow-file-access-from-files"],
        )
        yield browser
        browser.close()


def _journey(browser, base: str, name: str, tmp_path: Path) -> None:
    """Home → search → portrait → explorer → change indicator → classes → exports."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(base + "index.html")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.wait_for_selector("body[data-pret]")
    search = page.get_by_role("combobox")
    search.fill("Béthu")
    page.wait_for_selector("#suggestions [role=option]")
    options = page.locator("#suggestions [role=option]").all_inner_texts()
    assert any(o.startswith("Béthune") for o in options), options
    page.screenshot(path=str(ARTEFACTS / f"{name}-accueil.png"))
    # Keyboard: arrow to Béthune, Enter opens its portrait.
    index = next(
        i for i, o in enumerate(options) if o.startswith("Béthune\n") or o.startswith("Béthune")
    )
    for _ in range(index + 1):
        search.press("ArrowDown")
    search.press("Enter")
    page.wait_for_url("**territoire.html?t=commune%2F62119*")
    page.wait_for_selector("table.keyfigures tbody tr")
    assert page.locator("h1").inner_text() == "Béthune"
    page.wait_for_selector("figure.chart svg")
    assert page.locator("figure.chart [role=img][aria-label]").count() >= 4
    assert page.locator("table.keyfigures tbody tr").count() >= 8
    # The chapter maps show the commune outlined among the communes of its EPCI.
    page.wait_for_selector(".mapbox path.territoire")
    assert page.locator(".mapbox").first.locator("path.leaflet-interactive").count() == 100
    page.screenshot(path=str(ARTEFACTS / f"{name}-portrait.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#telecharger-xlsx")
    book = openpyxl.load_workbook(_saved(download.value, tmp_path))
    sheet = book.active
    assert sheet.cell(1, 1).value == "Indicateur" and sheet.max_row > 50

    # Explorer on the CA de Béthune-Bruay's communes.
    page.goto(base + f"explorateur.html?indicateur=part_65p&zone=epci%2F{CABBALR}")
    page.wait_for_selector("#carte path.leaflet-interactive")
    page.wait_for_selector("#tableau tbody tr")
    assert page.locator("#carte path.leaflet-interactive").count() == 100
    first_bins = json.loads(page.get_attribute("#carte", "data-classes"))
    first_legend = page.inner_text("#legende")
    # The classes are those of the Python classifier on the same values.
    payload = json.loads((Path(_site_of(base)) / "api/valeurs/part_65p/commune.json").read_text())
    period = payload["periodes"][-1]
    members = set(_members(base, CABBALR))
    values = [
        v
        for tid, v in zip(payload["territoires"], payload["valeurs"][period], strict=True)
        if tid in members and v is not None
    ]
    assert first_bins == pytest.approx(list(classify(values, "quantiles", 5, decimals=1).bins))
    page.screenshot(path=str(ARTEFACTS / f"{name}-explorateur.png"))
    # Change indicator: the map repaints with the new classes.
    page.select_option("#indicateur", "part_75p")
    page.wait_for_function(
        "bins => document.querySelector('#carte').getAttribute('data-classes') !== "
        "JSON.stringify(bins)",
        arg=first_bins,
    )
    assert page.inner_text("#legende") != first_legend
    fills = page.eval_on_selector_all(
        "#carte path.leaflet-interactive", "ps => ps.map(p => p.getAttribute('fill'))"
    )
    assert len(set(fills)) >= 4
    page.select_option("#methode", "jenks")
    page.select_option("#classes", "4")
    page.wait_for_function(
        "() => JSON.parse(document.querySelector('#carte').getAttribute('data-classes'))"
        ".length <= 4"
    )
    bins = json.loads(page.get_attribute("#carte", "data-classes"))
    payload = json.loads((Path(_site_of(base)) / "api/valeurs/part_75p/commune.json").read_text())
    period = payload["periodes"][-1]
    values = [
        v
        for tid, v in zip(payload["territoires"], payload["valeurs"][period], strict=True)
        if tid in members and v is not None
    ]
    assert bins == pytest.approx(list(classify(values, "jenks", 4, decimals=1).bins))
    # Sort the table by value (descending first): the first row holds the maximum.
    page.click("#tableau thead button[data-key=value]")
    top = page.locator("#tableau tbody tr").first.locator("td.num").inner_text()
    assert top.startswith(fr_number(max(values), 1))
    # Exports: CSV, XLSX, PNG.
    with page.expect_download() as download:
        page.click("#export-csv")
    assert download.value.suggested_filename == "part_75p-commune-2021.csv"
    text = _saved(download.value, tmp_path).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("Territoire;Code;")
    assert (
        len(
            [
                line
                for line in text.splitlines()
                if line.startswith(tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZÉ"))
            ]
        )
        >= 100
    )
    with page.expect_download() as download:
        page.click("#export-xlsx")
    sheet = openpyxl.load_workbook(_saved(download.value, tmp_path)).active
    assert sheet.max_row >= 101
    with page.expect_download() as download:
        page.click("#export-png")
    png = Path(download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    page.screenshot(path=str(ARTEFACTS / f"{name}-explorateur-jenks.png"))
    # Click on a commune → its portrait.
    page.locator("#tableau tbody tr th a").first.click()
    page.wait_for_selector("table.keyfigures tbody tr")

    # Comparison.
    page.goto(base + f"comparer.html?t=epci%2F{CABBALR},epci%2F246200364&ref=departement%2F62")
    page.wait_for_selector("#comparaison tbody tr")
    header = page.locator("#comparaison thead th").all_inner_texts()
    assert header[-1] == "Pas-de-Calais (référence)" and len(header) == 5
    page.screenshot(path=str(ARTEFACTS / f"{name}-comparer.png"))
    page.goto(base + "definitions.html")
    assert page.locator("dl.definitions dt").count() > 100
    context.close()
    assert not errors, errors


_SITES: dict[str, str] = {}


def _saved(download, folder: Path) -> Path:
    """The downloaded file under the name the page gave it."""
    target = folder / download.suggested_filename
    download.save_as(target)
    return target


def _site_of(base: str) -> str:
    return _SITES[base]


def _members(base: str, epci: str) -> list[str]:
    index = json.loads((Path(_site_of(base)) / "api/territoires.json").read_text())
    return next(t for t in index["territoires"] if t["id"] == epci)["communes"]


def test_journey_over_http(browser, server_url: str, demo: Demo, tmp_path: Path) -> None:
    _SITES[server_url] = str(demo.site)
    _journey(browser, server_url, "http", tmp_path)


def test_journey_from_file(browser, demo: Demo, tmp_path: Path) -> None:
    base = demo.site.as_uri() + "/"
    _SITES[base] = str(demo.site)
    _journey(browser, base, "file", tmp_path)


# --------------------------------------------------------------------------- robustness


def test_contrast_of_the_header_text() -> None:
    from observatoire.publish.site.pages import contrast, text_on

    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # WCAG's example
    for background in (
        "#1b4f72",
        "#ffeb3b",
        "#5dade2",
        "#000000",
        "#ffffff",
        "#e67e22",
        "#7c7c7c",
        "#f80810",
    ):
        chosen = text_on(background)
        other = "#000000" if chosen == "#ffffff" else "#ffffff"
        assert contrast(chosen, background) >= contrast(other, background)
        assert contrast(chosen, background) >= 4.5


def test_random_parameters_never_break_the_api(client) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    segment = st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="/?#\x00"), min_size=1, max_size=20
    )

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.sampled_from(["territoires", "valeurs", "geometries", "x"]),
        st.lists(segment, min_size=1, max_size=2),
    )
    def check(kind: str, parts: list[str]) -> None:
        from urllib.parse import quote

        path = "/api/" + "/".join(quote(p, safe="") for p in [kind, *parts]) + ".json"
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert response.headers["content-type"].startswith("application/json")

    check()


def test_keyboard_reaches_the_content_and_the_explorer_controls(browser, server_url: str) -> None:
    page = browser.new_page()
    page.goto(server_url + "explorateur.html?indicateur=part_65p")
    page.wait_for_selector("#tableau tbody tr")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "contenu"
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
    for control in ("theme", "indicateur", "niveau", "zone", "periode", "methode", "classes"):
        assert control in reached, (control, reached)
    # Changing the indicator from the keyboard repaints the table.
    page.focus("#indicateur")
    caption = page.inner_text("#tableau-titre")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        "t => document.querySelector('#tableau-titre').textContent !== t", arg=caption
    )
    page.close()
