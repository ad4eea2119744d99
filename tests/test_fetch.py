"""Downloads: mirror, cache by checksum, errors — against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from conftest import shared_file
from observatoire import catalogue
from observatoire.errors import ConfigError, InputError
from observatoire.sources import _http


class _Handler(http.server.BaseHTTPRequestHandler):
    # Each test builds its own subclass with fresh containers (see the fixture).
    routes: ClassVar[dict[str, Path]] = {}
    truncate: ClassVar[set[str]] = set()
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        target = self.routes.get(self.path)
        if target is None:
            self.send_error(404)
            return
        data = target.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if self.path in self.truncate else data)

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"routes": {}, "truncate": set(), "hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_mirror_replaces_the_publisher_host() -> None:
    url = "https://www.insee.fr/fr/statistiques/fichier/8377162/v_mvt_commune_2025.csv"
    assert _http.effective_url(url, "http://127.0.0.1:9/miroir/") == (
        "http://127.0.0.1:9/miroir/www.insee.fr/fr/statistiques/fichier/8377162/v_mvt_commune_2025.csv"
    )
    assert _http.effective_url(url, "") == url


def test_download_cache_checksum_and_errors(tmp_path: Path, server) -> None:
    base, handler = server
    payload = tmp_path / "payload.csv"
    payload.write_text("a;b\n1;2\n", encoding="utf-8")
    handler.routes["/example.org/data/file.csv"] = payload
    handler.routes["/example.org/data/cut.csv"] = payload
    handler.truncate.add("/example.org/data/cut.csv")
    cache = tmp_path / "cache"
    first = _http.download("https://example.org/data/file.csv", cache, mirror=base)
    assert not first.from_cache
    assert first.path.read_bytes() == payload.read_bytes()
    again = _http.download("https://example.org/data/file.csv", cache, mirror=base)
    assert again.from_cache and len(handler.hits) == 1
    # A known checksum that does not match forces a new download, which then fails.
    with pytest.raises(_http.DownloadError, match="empreinte inattendue"):
        _http.download("https://example.org/data/file.csv", cache, mirror=base, sha256="0" * 64)
    with pytest.raises(_http.DownloadError, match="HTTP 404"):
        _http.download("https://example.org/absent.csv", cache, mirror=base)
    with pytest.raises(_http.DownloadError, match="tronqué"):
        _http.download("https://example.org/data/cut.csv", cache, mirror=base)
    assert not (cache / "example.org/data/cut.csv").exists()  # no half file in the cache
    assert not list(cache.rglob(".partiel-*"))


def test_catalogue_validation() -> None:
    entries = catalogue.sources()
    assert {"comparateur", "cog_evenements", "filosofi_communes", "dvf_geolocalisees"} <= set(
        entries
    )
    dvf = entries["dvf_geolocalisees"]
    assert dvf.resolve("2024", "62") == [
        "https://files.data.gouv.fr/geo-dvf/latest/csv/2024/departements/62.csv.gz"
    ]
    with pytest.raises(InputError, match="--departement"):
        dvf.resolve("2024")
    with pytest.raises(InputError, match="millésime « 1990 » indisponible"):
        entries["filosofi_communes"].resolve("1990")
    bad = (
        "sources:\n  - id: x\n    titre: X\n    editeur: E\n    licence: L\n    jeux: [a]\n"
        "    url: https://h/{mois}.csv\n"
    )
    with pytest.raises(ConfigError, match=r"variable.*mois"):
        catalogue.parse_sources(bad)


def _serve_shared(shared: Path, handler: type[_Handler], tmp_path: Path) -> None:
    events = shared_file(shared, "cog/v_mvt_commune_2025_from_COGiter.csv")
    filosofi = shared_file(shared, "filosofi/cc_filosofi_2020_COM.csv")
    # INSEE ships this file zipped: the test server zips the real file on the fly.
    zipped = tmp_path / "base-cc-filosofi-2020_CSV.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(filosofi, "cc_filosofi_2020_COM.csv")
    for source_id, vintage, path in (
        ("cog_evenements", "2025", events),
        ("filosofi_communes", "2020", zipped),
    ):
        url = catalogue.source(source_id).resolve(vintage)[0]
        handler.routes["/" + url.split("://", 1)[1]] = path


def test_fetch_end_to_end_through_a_local_mirror(tmp_path: Path, server, shared_data: Path) -> None:
    from observatoire.loading import fetch_paths, load_paths
    from observatoire.project import init_project, open_project
    from observatoire.warehouse import Warehouse

    base, handler = server
    _serve_shared(shared_data, handler, tmp_path)
    project = open_project(init_project(tmp_path / "p", example="artois"))
    paths = fetch_paths(project, ["cog_evenements"], vintage="2025", mirror=base)
    paths += fetch_paths(project, ["filosofi_communes"], vintage="2020", mirror=base)
    assert all(p.is_relative_to(project.settings.data_dir) for p in paths)
    loads = load_paths(project, paths)
    assert {load.dataset for load in loads} >= {"cog_events"}
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        lineage = wh.lineage()
        med = wh.query("SELECT value FROM filosofi WHERE code = '01004' AND variable = 'MED'")
    assert set(lineage["origin"]) == {"real"}
    assert med["value"].iloc[0] == 21070
    # Fetching again reuses the cache and loading again is a no-op.
    again = fetch_paths(project, ["filosofi_communes"], vintage="2020", mirror=base)
    assert again == paths[1:]
    assert all(load.skipped for load in load_paths(project, paths))
