"""The editorial sections of the web observatory: studies, news, agenda, work programme,
pages, chiffre du trimestre, Atom feeds and social posts.

The demo project (its example contents) is built once per session (``demo_summary``); tests
that need other contents work on a copy of its project files sharing its warehouse (a
symbolic link, read only) and render the pages without recomputing the API."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import duckdb
import pytest
from markupsafe import escape

from observatoire.errors import ConfigError
from observatoire.indicators.catalogue import indicator_catalogue
from observatoire.project import Project, open_project
from observatoire.publish.contents import STUDY_STATUSES, Content, load_contents, parse_content
from observatoire.publish.fmt import fr_value
from observatoire.publish.site.api import SiteData
from observatoire.publish.site.editorial import (
    fr_event,
    load_site_contents,
    resolve_site_contents,
)
from observatoire.publish.site.feeds import render_feeds
from observatoire.publish.site.server import create_app
from observatoire.publish.site.social import LIMIT, social_post
from observatoire.publish.site.static_site import write_pages

ATOM = "{http://www.w3.org/2005/Atom}"
SOCIAL = "{urn:observatoire:reseaux}publication"
SITE_URL = "https://observatoire.exemple.fr"
PDF = b"%PDF-1.4\n% etude de test\n"


# --------------------------------------------------------------------------- fixtures


@dataclasses.dataclass
class Demo:
    project: Project
    site: Path


@pytest.fixture(scope="module")
def demo(demo_summary) -> Demo:
    project = open_project(demo_summary.root)
    return Demo(project, project.settings.output_dir / "site")


@pytest.fixture(scope="module")
def client(demo: Demo):
    from starlette.testclient import TestClient

    return TestClient(create_app(demo.project))


@pytest.fixture(scope="module")
def site_data(client) -> SiteData:
    """The demo's site data, read once (reused for the copies: same warehouse)."""
    return client.app.state.public.data


def _copy_project(demo: Demo, target: Path, *, site_url: str = "") -> Path:
    """The demo's project files in ``target``, its warehouse linked (read only)."""
    target.mkdir(parents=True)
    root = demo.project.settings.root
    toml = (root / "observatoire.toml").read_text(encoding="utf-8")
    if site_url:
        toml += f'\n[lettre]\nadresse_site = "{site_url}"\n'
    (target / "observatoire.toml").write_text(toml, encoding="utf-8")
    shutil.copy2(root / "territoires.yaml", target / "territoires.yaml")
    shutil.copytree(root / "contenus", target / "contenus")
    (target / "entrepot.duckdb").symlink_to(demo.project.settings.warehouse_path)
    (target / "sorties").mkdir()
    return target


def _write(folder: Path, kind: str, slug: str, text: str) -> Path:
    path = folder / "contenus" / kind / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def agency(demo: Demo, tmp_path_factory) -> Project:
    """A copy with more contents: a study with its PDF, a past event, a tricky news item, an
    attendee file the site must never publish."""
    folder = _copy_project(demo, tmp_path_factory.mktemp("agence") / "projet", site_url=SITE_URL)
    (folder / "contenus" / "fichiers").mkdir()
    (folder / "contenus" / "fichiers" / "habitat.pdf").write_bytes(PDF)
    _write(
        folder,
        "etudes",
        "habitat-indigne",
        """
---
titre: Habitat indigne dans le bassin minier
date: 2025-03-01
resume: Repérage du parc privé potentiellement indigne des communes du Pôle.
statut: livree
themes: [logement]
territoires: [pm-artois, "62119", "200072460"]
partenaires: [CA de Lens-Liévin, État]
pdf: fichiers/habitat.pdf
livraison: 2025-06-30
---
Le Pôle compte [[chiffre population_legale pm-artois]].
""",
    )
    _write(
        folder,
        "evenements",
        "atelier-2025",
        """
---
titre: Atelier des partenaires 2025
date: 2025-05-20 14:00
fin: 2025-05-20 17:30
lieu: Lens, Louvre-Lens
resume: Restitution des travaux de l'année.
capacite: 40
inscriptions: ouvertes
---
Atelier passé.
""",
    )
    _write(
        folder,
        "actualites",
        "balises",
        """
---
titre: "Un titre <script>alert(1)</script> & des « guillemets »"
date: 2026-11-20
resume: "Résumé avec <b>balise</b> et un lien javascript:alert(2)"
lien: "https://exemple.fr/?q=<script>alert(5)</script>"
---
Corps avec <script>alert(3)</script> et <img src=x onerror=alert(4)>.
""",
    )
    (folder / "contenus" / "inscriptions").mkdir()
    (folder / "contenus" / "inscriptions" / "atelier.csv").write_text(
        "nom,courriel\nDupont,jean.dupont@exemple.fr\n", encoding="utf-8"
    )
    return open_project(folder)


def _render(project: Project, data: SiteData, folder: Path, **changes) -> Path:
    """The editorial pages, feeds and attachments of ``project`` written into ``folder``."""
    contents = resolve_site_contents(project, load_site_contents(project))
    data = dataclasses.replace(data, project=project, **changes)
    write_pages(folder, data, contents)
    return folder


@pytest.fixture(scope="module")
def agency_site(agency: Project, site_data: SiteData, tmp_path_factory) -> Path:
    return _render(agency, site_data, tmp_path_factory.mktemp("site-agence"))


# --------------------------------------------------------------------------- HTML helpers


class _Page(HTMLParser):
    """Links, scripts, alternate links, ids and the text of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline_scripts = 0
        self.alternates: list[str] = []
        self.items: list[dict[str, str | None]] = []
        self.options: dict[str, list[str]] = {}
        self.lang: str | None = None
        self.h1 = 0
        self._select: str | None = None
        self._script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "script":
            self.scripts.append(a)
            self._script = True
        elif tag == "link" and a.get("rel") == "alternate":
            assert a.get("type") == "application/atom+xml"
            self.alternates.append(a["href"])
        elif tag == "li" and "data-statut" in a:
            self.items.append(a)
        elif tag == "select" and a.get("data-filtre"):
            self._select = a["data-filtre"]
            self.options[self._select] = []
        elif tag == "option" and self._select:
            self.options[self._select].append(a.get("value") or "")
        if any(k.startswith("on") for k in a):
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "script":
            self._script = False

    def handle_data(self, data):
        if self._script and data.strip():
            self.inline_scripts += 1


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _local_target(page: Path, href: str, site: Path) -> Path | None:
    """The file a relative link of ``page`` opens (None for other links)."""
    parts = urlsplit(href)
    if parts.scheme or href.startswith(("#", "/")) or "inscription" in parts.path:
        return None
    target = (page.parent / unquote(parts.path)).resolve()
    assert target.is_relative_to(site.resolve()), (page, href)
    return target


def _editorial_pages(site: Path) -> list[Path]:
    names = ["etudes.html", "actualites.html", "agenda.html", "programme.html", "chiffres.html"]
    folders = ["etudes", "actualites", "evenements", "pages", "chiffres"]
    return [site / n for n in names] + [p for f in folders for p in (site / f).glob("*.html")]


# --------------------------------------------------------------------------- pages


def test_every_content_has_its_page_with_the_site_layout(demo: Demo) -> None:
    contents = load_contents(demo.project)
    assert len(contents.all()) >= 9  # the example contents of the demo
    for item in contents.all():
        assert (demo.site / item.url).is_file(), item.url
    pages = _editorial_pages(demo.site)
    for path in [*pages, demo.site / "index.html"]:
        page = _parse(path)
        text = path.read_text(encoding="utf-8")
        assert page.lang == "fr" and page.h1 == 1, path
        assert 'class="skip" href="#contenu"' in text and 'id="contenu"' in text
        assert page.inline_scripts == 0 or path.name == "index.html", path  # CSP: no inline
        assert all(s.get("src") for s in page.scripts), path
        for href in page.links + page.alternates:
            target = _local_target(path, href, demo.site)
            if target is not None:
                assert target.is_file(), (path, href)
    for section in ("etudes.html", "actualites.html", "agenda.html"):
        assert f'href="{section}"' in (demo.site / "index.html").read_text(encoding="utf-8")
    footer = (demo.site / "definitions.html").read_text(encoding="utf-8")
    for item in contents.of("pages"):
        assert f'href="{item.url}"' in footer


def test_studies_list_and_filters(demo: Demo) -> None:
    studies = load_contents(demo.project).of("etudes")
    page = _parse(demo.site / "etudes.html")
    assert [i["data-statut"] for i in page.items] == [s.status for s in studies]
    for item, study in zip(page.items, studies, strict=True):
        assert item["data-theme"].split() == list(study.themes)
        assert item["data-territoire"].split() == list(study.territories)
        assert item["data-annee"] == str(study.date.year)
    assert page.options["statut"] == ["", *STUDY_STATUSES]
    assert set(page.options["theme"]) == {""} | {t for s in studies for t in s.themes}
    assert set(page.options["territoire"]) == {""} | {t for s in studies for t in s.territories}
    assert page.options["annee"] == ["", *sorted({str(s.date.year) for s in studies}, reverse=True)]
    assert [s["src"] for s in page.scripts] == ["static/editorial.js"]
    assert (demo.site / "static" / "editorial.js").is_file()
    text = (demo.site / "etudes.html").read_text(encoding="utf-8")
    assert 'id="filtres-etudes" class="controls" hidden' in text  # shown by the script only
    # Work programme: counts by status and by partner.
    programme = (demo.site / "programme.html").read_text(encoding="utf-8")
    for status in STUDY_STATUSES:
        count = sum(s.status == status for s in studies)
        assert f'data-statut="{status}">{count}</td>' in programme
    for partner in {p for s in studies for p in s.partners}:
        assert partner.replace("'", "&#39;") in programme


def test_study_page_links_the_portraits_and_its_pdf(agency: Project, agency_site: Path, demo: Demo):
    study = agency_site / "etudes" / "habitat-indigne.html"
    text = study.read_text(encoding="utf-8")
    assert (agency_site / "etudes" / "habitat-indigne.pdf").read_bytes() == PDF
    assert 'href="../etudes/habitat-indigne.pdf"' in text
    links = _parse(study).links
    for tid in ("pm-artois", "62119", "200072460"):
        t = agency.territories.get(tid)
        href = f"../territoire.html?t={t.level}%2F{t.id}"
        assert href in links, href
        # the portrait exists in the site: its API response was written
        assert (demo.site / "api" / "territoires" / t.level / f"{t.id}.json").is_file()
    assert "CA de Lens-Liévin, État" in text
    assert "Livrée le" in text and "30 juin 2025" in text
    assert 'class="chiffre"' in text and "habitants" in text  # the body's figure
    # the Atom entry points at the PDF
    feed = ET.parse(agency_site / "etudes.xml").getroot()
    enclosures = [
        link.get("href") for link in feed.iter(f"{ATOM}link") if link.get("rel") == "enclosure"
    ]
    assert enclosures == [f"{SITE_URL}/etudes/habitat-indigne.pdf"]


def test_agenda_coming_events_first_then_past_ones(
    agency: Project, site_data: SiteData, tmp_path: Path
) -> None:
    site = _render(agency, site_data, tmp_path, today=date(2027, 1, 1))
    text = (site / "agenda.html").read_text(encoding="utf-8")
    coming, past = text.split('id="h-passes"')
    assert "club-observatoire" in coming and "conference-centralites" not in coming
    assert past.index("conference-centralites") < past.index("atelier-2025")  # latest first
    site = _render(agency, site_data, tmp_path / "avant", today=date(2026, 11, 26))
    coming = (site / "agenda.html").read_text(encoding="utf-8").split('id="h-passes"')[0]
    assert coming.index("conference-centralites") < coming.index("club-observatoire")
    event = (site / "evenements" / "conference-centralites.html").read_text(encoding="utf-8")
    assert "jeudi 10 décembre 2026 de 18\u00a0h à 20\u00a0h" in event
    assert "Saint-Pol-sur-Ternoise, salle des fêtes" in event and "80 places" in event
    # registrations open, static site with adresse_site: the agency's form
    assert f'href="{SITE_URL}/evenements/conference-centralites/inscription"' in event
    past = (site / "evenements" / "atelier-2025.html").read_text(encoding="utf-8")
    assert "Événement passé" in past and '/inscription"' not in past
    closed = (site / "evenements" / "club-observatoire.html").read_text(encoding="utf-8")
    assert "Inscriptions fermées" in closed


def test_registration_links_static_and_served(demo: Demo, client) -> None:
    static = (demo.site / "evenements" / "conference-centralites.html").read_text(encoding="utf-8")
    assert demo.project.settings.mailing.site_url == ""
    assert "inscriptions sur le site de l'agence" in static.lower()
    assert "/inscription" not in static
    served = client.get("/evenements/conference-centralites.html")
    assert served.status_code == 200
    assert 'href="../evenements/conference-centralites/inscription"' in served.text


def test_home_chiffre_du_trimestre_is_the_indicator_table_value(demo: Demo) -> None:
    chiffre = load_contents(demo.project).quarter_figure("2026T4")
    assert chiffre is not None and chiffre.figure is not None
    indicator = indicator_catalogue().indicators[chiffre.figure.indicator]
    con = duckdb.connect(str(demo.project.settings.warehouse_path), read_only=True)
    try:
        value, period, source = con.execute(
            "SELECT value, period, source FROM indicator_values WHERE territory_id = ? "
            "AND level = 'custom' AND indicator_id = ? AND value IS NOT NULL "
            "AND status IN ('ok', 'incomplete') ORDER BY length(period) DESC, period DESC LIMIT 1",
            [chiffre.figure.territory, chiffre.figure.indicator],
        ).fetchone()
    finally:
        con.close()
    home = (demo.site / "index.html").read_text(encoding="utf-8")
    box = home[home.index('class="chiffre-trimestre"') :]
    box = box[: box.index("</section>")]
    expected = fr_value(value, indicator.unit, indicator.decimals)
    assert re.search(r'<p class="valeur"><strong>(.*?)</strong>', box).group(1) == expected
    assert f"millésime {period}" in box and str(escape(source)) in box
    assert "4<sup>e</sup> trimestre 2026" in box


def test_quarter_figure_falls_back_to_the_latest(agency: Project, site_data, tmp_path) -> None:
    site = _render(agency, site_data, tmp_path, today=date(2027, 8, 1))  # no 2027T3 entry
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "4<sup>e</sup> trimestre 2026" in home


def test_french_event_dates() -> None:
    def event(start: datetime, end: datetime | None = None) -> Content:
        return Content("evenements", "e", Path("e.md"), "Titre", "", date=start, end=end)

    assert fr_event(event(datetime(2027, 2, 4, 9, 30))) == "jeudi 4 février 2027 à 9\u00a0h\u00a030"
    assert fr_event(event(datetime(2026, 12, 10))) == "jeudi 10 décembre 2026"
    assert (
        fr_event(event(datetime(2027, 3, 1, 9), datetime(2027, 3, 2, 17)))
        == "du lundi 1er mars 2027 à 9\u00a0h au mardi 2 mars 2027 à 17\u00a0h"
    )
    assert (
        fr_event(event(datetime(2026, 12, 10, 18), datetime(2026, 12, 10, 20)))
        == "jeudi 10 décembre 2026 de 18\u00a0h à 20\u00a0h"
    )
    # an all-day start never reads « 0 h » (the newsletter used to write « 0 h – 20 h »)
    assert fr_event(event(datetime(2026, 12, 10), datetime(2026, 12, 10, 20))) == (
        "jeudi 10 décembre 2026"
    )


# --------------------------------------------------------------------------- feeds


def _feed(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()  # well-formed XML
    assert root.tag == f"{ATOM}feed"
    return root


def _check_atom(root: ET.Element, *, absolute: bool) -> list[ET.Element]:
    for tag in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{tag}") is not None and root.find(f"{ATOM}{tag}").text, tag
    assert root.find(f"{ATOM}author/{ATOM}name").text
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert set(links) == {"self", "alternate"}
    entries = root.findall(f"{ATOM}entry")
    stamps = []
    for entry in entries:
        assert entry.find(f"{ATOM}id").text.startswith("urn:uuid:")
        assert entry.find(f"{ATOM}title").text
        stamp = datetime.fromisoformat(entry.find(f"{ATOM}updated").text)
        assert stamp.tzinfo is not None
        stamps.append(stamp)
        alternate = next(
            link for link in entry.findall(f"{ATOM}link") if link.get("rel") == "alternate"
        )
        href = alternate.get("href")
        assert href.startswith(SITE_URL + "/") if absolute else not urlsplit(href).scheme
        assert entry.find(f"{ATOM}summary").text
        assert entry.find(f"{ATOM}content").get("type") == "html"
        post = entry.find(SOCIAL)
        if post is not None:
            assert len(post.text) <= LIMIT and post.text.endswith(href)
    if stamps:
        assert datetime.fromisoformat(root.find(f"{ATOM}updated").text) == max(stamps)
    ids = [e.find(f"{ATOM}id").text for e in entries] + [root.find(f"{ATOM}id").text]
    assert len(set(ids)) == len(ids)
    return entries


def test_atom_feeds(demo: Demo, agency: Project, agency_site: Path, site_data) -> None:
    contents = load_contents(demo.project)
    for file, kind in (("etudes.xml", "etudes"), ("actualites.xml", "actualites")):
        entries = _check_atom(_feed(demo.site / file), absolute=False)
        assert [e.find(f"{ATOM}title").text for e in entries] == [
            c.title for c in contents.of(kind)
        ]
    entries = _check_atom(_feed(demo.site / "agenda.xml"), absolute=False)
    assert len(entries) == len(contents.of("evenements"))
    for file in ("etudes.xml", "actualites.xml", "agenda.xml"):
        _check_atom(_feed(agency_site / file), absolute=True)
        root = _feed(agency_site / file)
        self_link = next(x for x in root.findall(f"{ATOM}link") if x.get("rel") == "self")
        assert self_link.get("href") == f"{SITE_URL}/{file}"
    # Only delivered studies are publications with a post.
    studies = _feed(demo.site / "etudes.xml").findall(f"{ATOM}entry")
    posted = [e.find(f"{ATOM}title").text for e in studies if e.find(SOCIAL) is not None]
    assert posted == [c.title for c in contents.of("etudes") if c.status == "livree"]
    # Stable identifiers: a second rendering gives the same feeds.
    resolved = resolve_site_contents(demo.project, load_site_contents(demo.project))
    again = render_feeds(demo.project, resolved, today=site_data.today)
    assert again["etudes.xml"] == (demo.site / "etudes.xml").read_text(encoding="utf-8")
    # Every section links its feed.
    for page, feed in (("etudes.html", "etudes.xml"), ("agenda.html", "agenda.xml")):
        assert _parse(demo.site / page).alternates == [feed]
    assert _parse(demo.site / "etudes" / "pre-diagnostic-opah-ru.html").alternates == [
        "../etudes.xml"
    ]
    assert len(_parse(demo.site / "index.html").alternates) == 3


# --------------------------------------------------------------------------- social posts


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


def test_social_posts_file(demo: Demo, agency_site: Path) -> None:
    contents = load_contents(demo.project)
    rows = list(csv.DictReader(io.StringIO((demo.site / "reseaux.csv").read_text("utf-8"))))
    assert list(rows[0]) == ["date", "type", "titre", "texte", "lien"]
    expected = (
        sum(s.status == "livree" for s in contents.of("etudes"))
        + len(contents.of("actualites"))
        + len(contents.of("evenements"))
    )
    assert len(rows) == expected
    by_link = {c.url: c for c in contents.all()}
    for row in rows:
        item = by_link[row["lien"]]
        assert len(row["texte"]) <= LIMIT and row["texte"].endswith(row["lien"])
        assert row["type"] in ("etude", "actualite", "evenement")
        date.fromisoformat(row["date"])
        # no figure typed by the post builder: every number comes from the content
        source = " ".join([item.title, item.summary, item.place or "", row["lien"]])
        source += " " + (item.date.strftime("%Y %d %H %M") if item.date else "")
        source += " " + (item.end.strftime("%Y %d %H %M") if item.end else "")
        allowed = _numbers(source) | {str(int(n)) for n in _numbers(source)}
        assert _numbers(row["texte"]) <= allowed, row["texte"]
    absolute = list(csv.DictReader(io.StringIO((agency_site / "reseaux.csv").read_text("utf-8"))))
    assert all(r["lien"].startswith(SITE_URL + "/") for r in absolute)


def test_social_post_limit_counts_the_whole_link(demo: Demo, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "actualites",
        "tres-longue",
        f"""
---
titre: "{"Un titre très long " * 12}"
date: 2026-11-01
resume: "{"Un résumé qui n'en finit pas, " * 20}"
---
Corps.
""",
    )
    item = parse_content(path, "actualites")
    base = "https://www.agence-d-urbanisme-de-l-artois.example.fr/observatoire/territorial"
    post = social_post(item, base)
    assert len(post) <= LIMIT
    assert post.endswith(f"{base}/actualites/tres-longue.html")
    assert "…" in post and "  " not in post
    short = social_post(load_contents(demo.project).of("actualites")[0], base)
    assert "…" not in short and len(short) <= LIMIT


# --------------------------------------------------------------------------- security, errors


def test_everything_is_escaped_and_no_attendee_data_is_published(agency_site: Path) -> None:
    news = (agency_site / "actualites" / "balises.html").read_text(encoding="utf-8")
    assert "<script>alert" not in news and "<img src=x" not in news and "<b>balise" not in news
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in news
    assert 'href="javascript' not in news  # a link with another scheme is never written
    for path in agency_site.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".xml", ".csv"):
            text = path.read_text(encoding="utf-8")
            assert "jean.dupont@exemple.fr" not in text, path
            if path.suffix != ".csv":  # the CSV holds the title as written (plain text)
                assert "<script>alert" not in text, path
    assert not (agency_site / "inscriptions").exists()
    feed = ET.parse(agency_site / "actualites.xml").getroot()  # still well-formed
    titles = [e.find(f"{ATOM}title").text for e in feed.iter(f"{ATOM}entry")]
    assert "Un titre <script>alert(1)</script> & des « guillemets »" in titles


def test_served_sections_feeds_and_extra_routes(demo: Demo, client) -> None:
    for path, media in (
        ("/etudes.html", "text/html"),
        ("/programme.html", "text/html"),
        ("/etudes/chiffres-cles-pole-metropolitain.html", "text/html"),
        ("/pages/a-propos.html", "text/html"),
        ("/etudes.xml", "application/atom+xml"),
        ("/agenda.xml", "application/atom+xml"),
        ("/reseaux.csv", "text/csv"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(media), path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        if media != "text/html":
            assert response.content == (demo.site / path.lstrip("/")).read_bytes(), path
    assert client.get("/etudes.html").text == (demo.site / "etudes.html").read_text("utf-8")
    for path in ("/etudes/inconnue.html", "/contenus/etudes/x.md", "/etudes/../observatoire.toml"):
        assert client.get(path).status_code == 404, path

    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def form(request):
        return PlainTextResponse("formulaire " + request.path_params["slug"])

    # the forms are mounted by create_app itself; extra routes come before the pages
    served = TestClient(create_app(demo.project))
    registration = served.get("/evenements/conference-centralites/inscription")
    assert registration.status_code == 200  # the form, or « closed » once the event began
    assert "<form" in registration.text or "Inscriptions fermées" in registration.text
    extended = create_app(demo.project, routes=[Route("/essai/{slug}/page", form)])
    response = TestClient(extended).get("/essai/conference-centralites/page")
    assert response.text == "formulaire conference-centralites"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert extended.state.contents.get("evenements", "conference-centralites") is not None


def test_restricted_figures_are_refused(agency: Project, tmp_path: Path, demo: Demo) -> None:
    folder = _copy_project(demo, tmp_path / "projet")
    _write(
        folder,
        "actualites",
        "vacance",
        """
---
titre: Vacance
date: 2026-11-01
resume: Les logements vacants.
---
[[chiffre logements_vacants_parc_prive pm-artois]]
""",
    )
    project = open_project(folder)
    with pytest.raises(ConfigError, match="diffusion restreinte"):
        resolve_site_contents(project, load_site_contents(project))


def test_content_error_is_a_french_sentence_from_site_build(demo: Demo, tmp_path: Path) -> None:
    folder = _copy_project(demo, tmp_path / "projet")
    _write(
        folder,
        "etudes",
        "mauvaise",
        """
---
titre: Étude au statut inconnu
date: 2026-01-10
resume: Un statut mal écrit.
statut: terminee
---
Corps.
""",
    )
    result = subprocess.run(
        [sys.executable, "-m", "observatoire", "site", "build", "-p", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "Erreur" in message and "Traceback" not in result.stderr
    assert "mauvaise.md" in message and "statut" in message
    assert "programmee, en_cours ou livree" in message
    assert not (folder / "sorties" / "site").exists()  # stopped before any work


# --------------------------------------------------------------------------- browser


def test_study_filters_in_chromium_under_the_security_policy(demo: Demo) -> None:
    import socket
    import threading
    import time

    import uvicorn

    from observatoire.publish.report import CHROMIUM_ARGS, chromium_path

    try:
        executable = chromium_path()
    except Exception as exc:
        pytest.skip(f"Chromium absent ({exc}) : .ci/run l'installe")
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(demo.project), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    studies = load_contents(demo.project).of("etudes")
    delivered = sum(s.status == "livree" for s in studies)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for base in (f"http://127.0.0.1:{port}/", (demo.site / "x").as_uri()[:-1]):
                page.goto(base + "etudes.html")
                page.wait_for_selector("#filtres-etudes:not([hidden])")
                assert page.locator("#etudes-liste li.item:visible").count() == len(studies)
                page.select_option("#filtre-statut", "livree")
                assert page.locator("#etudes-liste li.item:visible").count() == delivered
                compte = page.inner_text("#etudes-compte")
                assert compte.endswith(f"sur {len(studies)}"), compte
                page.goto(base + "etudes.html?statut=programmee")
                page.wait_for_selector("#filtres-etudes:not([hidden])")
                assert page.input_value("#filtre-statut") == "programmee"
                page.goto(base + "agenda.html")
                assert page.locator("#a-venir li").count() >= 1
            assert errors == []
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
