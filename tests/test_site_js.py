"""Browser-side scripts of the web observatory, run in Debian's Chromium through Playwright.

- ``static/classify.js`` gives, on many generated series, every scheme and 2 to 7 classes, the
  bounds, counts and French labels of the Python :func:`observatoire.publish.maps.classify`, and
  ``assign`` agrees with :meth:`Classification.assign`; ``frNumber`` agrees with
  :func:`observatoire.publish.fmt.fr_number`;
- ``static/xlsx.js`` writes workbooks that openpyxl reads back (values, types, empty cells,
  sheet names) and CSV that Python's ``csv`` module reads back;
- the vendored libraries match ``vendor/MANIFEST.json`` (``scripts/vendor_web_assets.py
  --verifier``) and load from a ``file://`` page without any network request.

One browser for the whole module; its tests are skipped when Chromium is absent.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import http.server
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pytest

import observatoire
from observatoire.errors import InputError
from observatoire.publish.fmt import fr_number
from observatoire.publish.maps import SCHEMES, classify
from observatoire.publish.report import CHROMIUM_ARGS, chromium_path

ROOT = Path(__file__).resolve().parents[1]
STATIC = Path(observatoire.__file__).parent / "publish" / "site" / "static"
VENDOR = STATIC / "vendor"
VENDOR_SCRIPT = ROOT / "scripts" / "vendor_web_assets.py"
BROWSER_ARGS = CHROMIUM_ARGS
GLOBALS = {
    "leaflet": "L",
    "vega": "vega",
    "vega-lite": "vegaLite",
    "vega-embed": "vegaEmbed",
    "fflate": "fflate",
}


def _chromium_or_skip() -> str:
    try:
        return chromium_path()
    except Exception as exc:
        pytest.skip(f"Chromium absent ({exc}) : .ci/run l'installe")


@pytest.fixture(scope="module")
def browser():
    path = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser):
    """A blank page with fflate, classify.js and xlsx.js loaded."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("about:blank")
    page.add_script_tag(path=str(VENDOR / "fflate" / "fflate.umd.js"))
    page.add_script_tag(path=str(STATIC / "classify.js"))
    page.add_script_tag(path=str(STATIC / "xlsx.js"))
    yield page
    page.close()
    assert not errors, errors


# --------------------------------------------------------------------------- classify.js


def _series() -> list[tuple[str, list[float | None], int]]:
    """(name, values, decimals of the labels): shapes a map meets, with its awkward cases."""
    out: list[tuple[str, list[float | None], int]] = []
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        with_gaps: list[float | None] = list(rng.normal(12, 4, 200))
        for i in range(0, 200, 17):
            with_gaps[i] = [math.nan, None, math.inf, -math.inf][i % 4]
        out += [
            (f"normale-{seed}", list(rng.normal(50, 12, 300)), 1),
            (f"lognormale-{seed}", list(rng.lognormal(3, 1.1, 500)), 1),
            (f"grands-{seed}", list(rng.lognormal(11, 2.0, 400)), 0),
            (f"lacunes-{seed}", with_gaps, 2),
            (f"negatifs-{seed}", list(rng.normal(-3, 5, 250)), 2),
            (f"entiers-{seed}", list(rng.integers(0, 12, 400).astype(float)), 0),
            (f"rangs-{seed}", list(rng.integers(-50, 50, 60).astype(float)), 0),
            (f"peu-{seed}", list(rng.choice([1.5, 2.5, 7.25], 50)), 1),
            (f"taux-{seed}", list(np.round(rng.uniform(0, 0.3, 150), 3)), 2),
            (f"jenks-2000+-{seed}", list(rng.lognormal(8, 1.5, 2200 + 1200 * seed)), 0),
        ]
    out += [
        ("constante", [4.2] * 20, 1),
        ("deux-valeurs", [1.0, 1.0, 1.0, 2.0], 1),
        ("une-valeur", [3.0], 1),
        ("vide", [math.nan, None], 1),
        ("demis", [0.05, 0.15, 0.25, 0.35, 0.45, 1.25, 2.5, 3.5, 10.05], 1),
    ]
    return out


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def test_classify_matches_python(page) -> None:
    series = _series()
    cases = [
        (index, scheme, k)
        for index in range(len(series))
        for scheme in SCHEMES
        for k in range(2, 8)
    ]
    results = page.evaluate(
        """([series, cases]) => cases.map(([index, scheme, k]) => {
            const [, values, decimals] = series[index];
            const c = ObsClassify.classify(values, scheme, k, decimals);
            const probes = values.concat(c.bins, [c.lower, c.lower - 1, Infinity, null]);
            return {c, assigned: probes.map((v) => ObsClassify.assign(c, v))};
        })""",
        [series, cases],
    )
    exact = 0
    for (index, scheme, k), result in zip(cases, results, strict=True):
        name, values, decimals = series[index]
        where = f"{name}, {scheme}, k={k}"
        expected = classify(values, scheme, k, decimals=decimals)
        got = result["c"]
        assert got["scheme"] == expected.scheme, where
        assert got["decimals"] == expected.decimals, where
        assert got["counts"] == list(expected.counts), where
        assert got["labels"] == list(expected.labels), where
        assert len(got["bins"]) == len(expected.bins), where
        assert all(_close(a, b) for a, b in zip(got["bins"], expected.bins, strict=True)), where
        assert _close(got["lower"], expected.lower), where
        exact += got["bins"] == list(expected.bins)
        probes = np.array(
            [np.nan if v is None else v for v in values]
            + [*expected.bins, expected.lower, expected.lower - 1, np.inf, np.nan],
            dtype=float,
        )
        assert result["assigned"] == expected.assign(probes).tolist(), where
    assert exact == len(cases)  # same floating-point operations: same bits, not only close


def test_classify_errors_and_defaults(page) -> None:
    out = page.evaluate(
        """() => {
            const message = (f) => { try { f(); return null; } catch (e) { return e.message; } };
            return {
                scheme: message(() => ObsClassify.classify([1, 2, 3], "kmeans", 3)),
                k: message(() => ObsClassify.classify([1, 2, 3], "quantiles", 0)),
                defaults: ObsClassify.classify([1, 2, 3, 4, 5, 6, 7, 8, 9, 10.5]),
                schemes: ObsClassify.SCHEMES,
                outside: ObsClassify.assign(ObsClassify.classify([]), 3),
                many: ObsClassify.assign(ObsClassify.classify([1, 2, 3, 4], "quantiles", 2),
                                         [0, 1, 2.5, 4, 5, NaN]),
            };
        }"""
    )
    for key, call in (("scheme", ("kmeans", 3)), ("k", ("quantiles", 0))):
        with pytest.raises(InputError) as error:
            classify([1, 2, 3], *call)
        assert out[key] == str(error.value)
    expected = classify([1, 2, 3, 4, 5, 6, 7, 8, 9, 10.5])
    assert out["defaults"]["labels"] == list(expected.labels)
    assert out["defaults"]["bins"] == list(expected.bins)
    assert out["schemes"] == SCHEMES
    assert out["outside"] == -1
    python = classify([1, 2, 3, 4], "quantiles", 2)
    assert out["many"] == python.assign(np.array([0, 1, 2.5, 4, 5, np.nan])).tolist()


def test_fr_number_matches_python(page) -> None:
    rng = np.random.default_rng(7)
    values: list[float | None] = [
        0.0,
        -0.0,
        0.05,
        0.15,
        0.25,
        0.125,
        0.375,
        -0.04,
        -0.05,
        0.5,
        1.5,
        2.5,
        -2.5,
        1.005,
        2.675,
        999.5,
        999.95,
        9999.5,
        999999.95,
        12.0,
        1234.0,
        10000.0,
        -1234567.891,
        123456789.125,
        1e15 + 0.5,
        2.0**53,
        1e21,
        -1.5e22,
        1.23e25,
        1e300,
        2.0**100,
        2.0**95,
        9.999999999999999e28,
        123456789012345678901234567890.0,
        5e-324,
        1e-7,
        None,
        math.nan,
        math.inf,
        -math.inf,
        *rng.normal(0, 1000, 40).tolist(),
        *(rng.lognormal(5, 4, 40) * rng.choice([-1, 1], 40)).tolist(),
        *np.round(rng.uniform(-100, 100, 40), 3).tolist(),
    ]
    cases = [(value, decimals) for value in values for decimals in (0, 1, 2, 3)]
    cases += [(0.5, 30), (0.001, 30), (1234567.891, 25), (-0.3, 40), (2.5, 20), (-7.5e9, 20)]
    cases += [(value, 1.7) for value in (12.25, -0.05)]  # decimals truncated as int() does
    got = page.evaluate(
        "(cases) => cases.map(([v, d]) => ObsClassify.frNumber(v, d))", [list(c) for c in cases]
    )
    expected = [fr_number(value, decimals) for value, decimals in cases]
    mismatches = [(case, g, e) for case, g, e in zip(cases, got, expected, strict=True) if g != e]
    assert not mismatches, mismatches[:10]
    assert page.evaluate("ObsClassify.frNumber(-1234.5)") == fr_number(-1234.5)


# --------------------------------------------------------------------------- xlsx.js

LONG_NAME = "Indicateurs: population/logement [2021] — un nom beaucoup trop long"
SHEETS = [
    {
        "name": LONG_NAME,
        "rows": [
            ["Territoire", "Valeur", "Note", "Code"],
            ["Béthune", 1234.5, None, "62119"],
            ['<Lens> & "Liévin"', -0.25, "a < b & c > d", None],
            ["Œuvre « été » ’", 0, "ligne 1\nligne 2", "_x0041_"],
            [None, 1e-7, 12, "  espaces  "],
            ["Total", 25000000, None, None],
        ],
        "widths": [30, 12, None, 8],
    },
    {"name": "Sources", "rows": [["Source", "Licence"], ["INSEE", "Licence Ouverte"]]},
    {"name": "sources", "rows": [["Doublon"]]},
]


def _workbook(page, sheets) -> bytes:
    data = page.evaluate("(sheets) => Array.from(ObsXlsx.workbook(sheets))", sheets)
    return bytes(data)


def test_xlsx_read_back_by_openpyxl(page, tmp_path: Path) -> None:
    path = tmp_path / "classeur.xlsx"
    path.write_bytes(_workbook(page, SHEETS))

    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        assert {
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            "xl/worksheets/sheet1.xml",
            "xl/worksheets/sheet3.xml",
        } <= names
        for name in names:  # every part is well-formed XML
            ElementTree.fromstring(archive.read(name))
        sheet1 = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
    # Excel reads "_xHHHH_" as an escaped character: a literal one is protected by "_x005F_"
    assert "_x005F_x0041_" in sheet1
    assert 't="inlineStr"' in sheet1

    workbook = openpyxl.load_workbook(path)
    first, second, third = workbook.sheetnames
    assert len(first) <= 31 and first.startswith("Indicateurs")
    assert not set("[]:*?/\\") & set(first)
    assert second == "Sources"
    assert third.lower() != second.lower() and third.startswith("sources")

    sheet = workbook[first]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    expected = [list(row) for row in SHEETS[0]["rows"]]
    expected[3][3] = "_x005F_x0041_"  # openpyxl does not undo Excel's escape
    assert len(rows) == len(expected)
    for got_row, want_row in zip(rows, expected, strict=True):
        for got, want in zip(got_row, want_row, strict=True):
            if want is None:
                assert got is None
            elif isinstance(want, str):
                assert got == want
            else:
                assert isinstance(got, int | float) and not isinstance(got, bool)
                assert got == want
    assert sheet["A1"].font.b and sheet["D1"].font.b
    assert not sheet["A2"].font.b
    assert sheet.column_dimensions["A"].width == 30
    assert sheet.column_dimensions["D"].width == 8
    assert sheet.freeze_panes == "A2"
    assert [list(r) for r in workbook["Sources"].iter_rows(values_only=True)] == [
        ["Source", "Licence"],
        ["INSEE", "Licence Ouverte"],
    ]


def test_xlsx_sheet_names_and_errors(page) -> None:
    names = [
        "",
        "a/b",
        "'cité'",
        "History",
        "x" * 40,
        "x" * 40,
        "Données",
        "' '' x '",
        "y" * 30 + "'z",
    ]
    out = page.evaluate(
        """(names) => {
            let error = null;
            try { ObsXlsx.workbook([]); } catch (e) { error = e.message; }
            return {names: ObsXlsx.sheetNames(names), error};
        }""",
        names,
    )
    got = out["names"]
    assert len({n.lower() for n in got}) == len(got)
    for name in got:
        assert 0 < len(name) <= 31
        assert not set("[]:*?/\\") & set(name)
        assert not name.startswith("'") and not name.endswith("'")
        assert name.lower() != "history"
    assert got[2] == "cité" and got[6] == "Données"
    assert out["error"] and "feuille" in out["error"]


def test_csv_read_back(page) -> None:
    rows = [
        ["Territoire", "Valeur", "Note"],
        ["Béthune; Bruay", 1234.5, 'dit "le centre"'],
        ["Lens", -0.25, None],
        ["ligne\nsuivante", 0, 12],
    ]
    text = page.evaluate("(rows) => ObsXlsx.csv(rows)", rows)
    comma = page.evaluate("(rows) => ObsXlsx.csv(rows, ',')", rows)
    assert text.startswith("\ufeff") and text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=";"))
    assert parsed == [
        [
            "" if v is None else str(v).replace(".", ",") if isinstance(v, float) else str(v)
            for v in row
        ]
        for row in rows
    ]
    parsed = list(csv.reader(io.StringIO(comma[1:], newline=""), delimiter=","))
    assert parsed == [["" if v is None else str(v) for v in row] for row in rows]


# --------------------------------------------------------------------------- vendored libraries


def _verify(folder: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(VENDOR_SCRIPT), "--verifier"]
    if folder is not None:
        args += ["--dossier", str(folder)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_vendored_files_match_manifest(tmp_path: Path) -> None:
    done = _verify()
    assert done.returncode == 0, done.stderr
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text(encoding="utf-8"))
    assert {entry["package"] for entry in manifest["packages"]} == set(GLOBALS)
    for entry in manifest["packages"]:
        paths = {item["path"] for item in entry["files"]}
        assert f"{entry['package']}/LICENSE" in paths
        for item in entry["files"]:
            assert (VENDOR / item["path"]).stat().st_size < 1 << 20

    altered = tmp_path / "vendor"
    shutil.copytree(VENDOR, altered)
    target = altered / "vega-embed" / "vega-embed.min.js"
    data = bytearray(target.read_bytes())
    data[100] ^= 1
    target.write_bytes(bytes(data))
    done = _verify(altered)
    assert done.returncode != 0
    assert "vega-embed/vega-embed.min.js" in done.stderr and "modifié" in done.stderr

    (altered / "leaflet" / "LICENSE").unlink()
    (altered / "fflate" / "extra.js").write_text("// not vendored\n")
    done = _verify(altered)
    assert done.returncode != 0
    assert "absent : leaflet/LICENSE" in done.stderr
    assert "non déclaré" in done.stderr


@pytest.fixture
def fake_registry():
    """A local npm registry whose metadata and tarballs the test chooses (no internet)."""
    responses: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = responses.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", responses
    server.shutdown()
    server.server_close()


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_download_checks_integrity(fake_registry, tmp_path: Path) -> None:
    url, responses = fake_registry
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text(encoding="utf-8"))
    first = manifest["packages"][0]
    name, version, pinned = first["package"], first["version"], first["integrity"]
    forged = _tarball({"package/LICENSE": b"forged\n"})
    forged_sri = "sha512-" + base64.b64encode(hashlib.sha512(forged).digest()).decode()
    out = tmp_path / "vendor"

    def run(published: str) -> subprocess.CompletedProcess[str]:
        metadata = {"dist": {"tarball": f"{url}/t.tgz", "integrity": published}}
        responses[f"/{name}/{version}"] = json.dumps(metadata).encode()
        responses["/t.tgz"] = forged
        return subprocess.run(
            [sys.executable, str(VENDOR_SCRIPT), "--registre", url, "--dossier", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"},
        )

    done = run(forged_sri)  # the registry vouches for the forged tarball: the pin refuses it
    assert done.returncode == 1
    assert "diffère de celle fixée dans le script" in done.stderr
    done = run(pinned)  # the registry gives the pinned hash, the tarball does not match it
    assert done.returncode == 1
    assert "ne correspond pas à son empreinte" in done.stderr
    assert not out.exists()


def test_vendored_libraries_load_offline(browser, tmp_path: Path) -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text(encoding="utf-8"))
    versions = {entry["package"]: entry["version"] for entry in manifest["packages"]}
    scripts = [
        "leaflet/leaflet.js",
        "vega/vega.min.js",
        "vega-lite/vega-lite.min.js",
        "vega-embed/vega-embed.min.js",
        "fflate/fflate.umd.js",
    ]
    tags = "".join(f'<script src="{(VENDOR / s).as_uri()}"></script>' for s in scripts)
    html = tmp_path / "page.html"
    html.write_text(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f'<link rel="stylesheet" href="{(VENDOR / "leaflet" / "leaflet.css").as_uri()}">'
        f"{tags}</head><body>"
        '<div id="carte" style="width:400px;height:300px"></div><div id="graphique"></div>'
        "</body></html>",
        encoding="utf-8",
    )
    page = browser.new_page()
    errors: list[str] = []
    remote: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda r: None if r.url.startswith("file:") else remote.append(r.url))
    try:
        page.goto(html.as_uri())
        kinds = page.evaluate(
            "(names) => names.map((n) => typeof window[n])", list(GLOBALS.values())
        )
        assert kinds == ["object", "object", "object", "function", "object"]
        loaded = page.evaluate("[L.version, vega.version, vegaLite.version, vegaEmbed.version]")
        assert loaded == [versions[p] for p in ("leaflet", "vega", "vega-lite", "vega-embed")]
        spec = {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": "Population des communes",
            "data": {
                "values": [
                    {"commune": "Béthune", "population": 25000},
                    {"commune": "Lens", "population": 31000},
                    {"commune": "Liévin", "population": 30000},
                ]
            },
            "mark": "bar",
            "encoding": {
                "x": {"field": "commune", "type": "nominal"},
                "y": {"field": "population", "type": "quantitative"},
            },
        }
        drawn = page.evaluate(
            """async (spec) => {
                await vegaEmbed("#graphique", spec, {renderer: "svg", actions: false});
                const svg = document.querySelector("#graphique svg");
                return {
                    bars: svg.querySelectorAll(".mark-rect path").length,
                    text: svg.textContent,
                };
            }""",
            spec,
        )
        assert drawn["bars"] == 3
        assert "Population des communes" in drawn["text"] and "Liévin" in drawn["text"]
        paths = page.evaluate(
            """() => {
                const map = L.map("carte", {zoomControl: false});
                const layer = L.geoJSON({type: "Polygon",
                    coordinates: [[[2.6, 50.5], [2.9, 50.5], [2.9, 50.7], [2.6, 50.5]]]});
                layer.addTo(map);
                map.fitBounds(layer.getBounds());
                return document.querySelectorAll("#carte path.leaflet-interactive").length;
            }"""
        )
        assert paths == 1
        zipped = page.evaluate("fflate.unzipSync(fflate.zipSync({'a.txt': fflate.strToU8('é')}))")
        assert list(zipped) == ["a.txt"]
    finally:
        page.close()
    assert not errors, errors
    assert not remote, remote
