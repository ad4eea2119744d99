"""Editorial contents: validation with French errors, figures from the indicator table, the
audience store (tokens, double opt-in, capacity), the [lettre] settings."""

from __future__ import annotations

import shutil
import threading
from datetime import date
from pathlib import Path

import duckdb
import pytest

from observatoire.errors import ConfigError, InputError
from observatoire.project import init_project, open_project
from observatoire.publish.audience import Audience, RegistrationError
from observatoire.publish.contents import load_contents, quarter_bounds, resolve
from observatoire.settings import parse_settings


@pytest.fixture()
def project(tmp_path: Path):
    init_project(tmp_path / "p", example="artois")
    return open_project(tmp_path / "p")


def _write(project, kind: str, name: str, text: str) -> Path:
    path = project.settings.contents_dir / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_contents_are_valid(project) -> None:
    contents = load_contents(project)
    assert [len(contents.of(k)) for k in ("etudes", "actualites", "evenements")] == [4, 2, 2]
    studies = contents.of("etudes")
    assert [s.date for s in studies] == sorted((s.date for s in studies), reverse=True)
    event = contents.get("evenements", "conference-centralites")
    assert event.capacity == 80 and event.registration_open and event.place
    assert contents.quarter_figure("2026T4").figure.indicator == "taux_chomage_1564"


@pytest.mark.parametrize(
    ("kind", "text", "where", "message"),
    [
        (
            "etudes",
            "---\ntitre: X\ndate: 2026-01-01\nresume: R\nstatut: finie\n---\n",
            "ligne 5, colonne « statut »",
            "programmee, en_cours ou livree",
        ),
        (
            "etudes",
            "---\ntitre: X\ndate: 2026-13-01\nresume: R\nstatut: livree\n---\n",
            "ligne 3, colonne « date »",
            "AAAA-MM-JJ",
        ),
        (
            "actualites",
            "---\ntitre: X\ndate: 2026-01-01\n---\n",
            "colonne « resume »",
            "obligatoire",
        ),
        (
            "actualites",
            "---\ntitre: X\ndate: 2026-01-01\nresume: R\nauteur: moi\n---\n",
            "ligne 5, colonne « auteur »",
            "inconnu",
        ),
        (
            "actualites",
            "---\ntitre: X\ndate: 2026-01-01\nresume: a : b\n---\n",
            "ligne 4",
            "entre guillemets",
        ),
        (
            "actualites",
            "---\ntitre: X\ndate: 2026-01-01\nresume: R\nterritoires: [nulle]\n---\n",
            "ligne 5, colonne « territoires »",
            "inconnu",
        ),
        (
            "actualites",
            "---\ntitre: X\ndate: 2026-01-01\nresume: R\nthemes: [meteo]\n---\n",
            "ligne 5, colonne « themes »",
            "thèmes du catalogue",
        ),
        (
            "evenements",
            "---\ntitre: X\ndate: 2026-01-01\nlieu: L\nresume: R\ncapacite: 0\n---\n",
            "ligne 6, colonne « capacite »",
            "entier ≥ 1",
        ),
        (
            "chiffres",
            "---\ntitre: X\ntrimestre: 2026T5\nindicateur: emplois\nterritoire: FR\n---\n",
            "ligne 3, colonne « trimestre »",
            "AAAAT1",
        ),
        (
            "pages",
            "---\ntitre: X\n---\nVoir [[chiffre inexistant FR]].\n",
            "ligne 4",
            "absent du catalogue",
        ),
        ("pages", "titre: X\n", "ligne 1", "commencer par une ligne « --- »"),
        (
            "actualites",
            "---\ntitre: X\ndate: 2026-01-01\nresume: R\nlien: javascript:alert(1)\n---\n",
            "ligne 5, colonne « lien »",
            "adresse http(s)",
        ),
        (
            "pages",
            "---\ntitre: X\n---\nVacance : [[chiffre part_vacants_parc_prive 62]].\n",
            "ligne 4",
            "diffusion restreinte",
        ),
    ],
)
def test_validation_errors_name_file_line_and_field(
    project, kind: str, text: str, where: str, message: str
) -> None:
    shutil.rmtree(project.settings.contents_dir)
    path = _write(project, kind, "essai.md", text)
    with pytest.raises(ConfigError) as error:
        load_contents(project)
    assert str(path) in str(error.value)
    assert where in str(error.value) and message in str(error.value)


def test_a_missing_pdf_and_a_bad_file_name_are_refused(project) -> None:
    shutil.rmtree(project.settings.contents_dir)
    head = "---\ntitre: X\ndate: 2026-01-01\nresume: R\nstatut: livree\n"
    _write(project, "etudes", "etude.md", head + "pdf: docs/absent.pdf\n---\n")
    with pytest.raises(ConfigError, match="colonne « pdf »"):
        load_contents(project)
    (project.settings.contents_dir / "docs").mkdir()
    (project.settings.contents_dir / "docs" / "absent.pdf").write_bytes(b"%PDF-1.4\n")
    assert load_contents(project).of("etudes")[0].pdf.name == "absent.pdf"
    _write(project, "etudes", "Étude finale.md", head + "---\n")
    with pytest.raises(ConfigError, match="nom de fichier"):
        load_contents(project)


def test_unpublished_contents_are_left_out(project) -> None:
    _write(
        project,
        "actualites",
        "brouillon.md",
        "---\ntitre: X\ndate: 2026-01-01\nresume: R\npublie: false\n---\n",
    )
    assert load_contents(project).get("actualites", "brouillon") is None


def test_quarter_bounds() -> None:
    assert quarter_bounds("2026T4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert quarter_bounds("2027T1") == (date(2027, 1, 1), date(2027, 3, 31))
    with pytest.raises(ConfigError):
        quarter_bounds("2026-4")


def test_figures_are_read_from_the_indicator_table(demo_summary, tmp_path: Path) -> None:
    project = open_project(demo_summary.root)
    contents = resolve(project, load_contents(project))
    figure = contents.quarter_figure("2026T4").figure
    con = duckdb.connect(str(project.settings.warehouse_path), read_only=True)
    try:
        period, value, source = con.execute(
            "SELECT period, value, source FROM indicator_values WHERE territory_id = 'pm-artois' "
            "AND indicator_id = 'taux_chomage_1564' AND status IN ('ok', 'incomplete') "
            "AND value IS NOT NULL ORDER BY length(period) DESC, period DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert figure.value == pytest.approx(value)
    assert figure.found_period == str(period) and figure.source == source
    assert figure.text.replace("\u202f", "").replace("\xa0", " ") == (
        f"{value:.1f} %".replace(".", ",")
    )
    study = contents.get("etudes", "chiffres-cles-pole-metropolitain")
    assert len(study.figures) == 2 and figure.text in study.html
    assert "[[chiffre" not in study.html and "<script" not in study.html


def test_tokens_cannot_be_forged_and_purposes_do_not_mix(tmp_path: Path) -> None:
    audience = Audience(tmp_path, secret=b"s" * 32)
    alice, due = audience.subscribe(" Alice@Exemple.fr ")
    bob, _ = audience.subscribe("bob@exemple.fr")
    assert due and alice.email == "alice@exemple.fr" and alice.status == "en_attente"
    confirm = audience.token("confirmer", alice.id, alice.email)
    assert audience.unsubscribe(confirm) is None  # a confirmation token cannot unsubscribe
    forged = f"{bob.id}.{confirm.split('.')[1]}"
    assert audience.confirm(forged) is None  # Alice's signature on Bob's id
    other = Audience(tmp_path, secret=b"t" * 32)
    assert audience.confirm(other.token("confirmer", bob.id, bob.email)) is None  # other secret
    assert audience.confirm(confirm).status == "confirme"
    assert [s.email for s in audience.confirmed()] == ["alice@exemple.fr"]
    _, again = audience.subscribe("alice@exemple.fr")
    assert not again  # already confirmed: no new confirmation e-mail
    assert audience.unsubscribe(audience.token("desinscrire", alice.id, alice.email))
    assert audience.confirmed() == []
    with pytest.raises(InputError, match="adresse e-mail invalide"):
        audience.subscribe("pas-une-adresse")


def test_the_project_secret_is_created_once_and_private(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OBSERVATOIRE_SECRET", raising=False)
    first = Audience(tmp_path)
    token = first.token("confirmer", 1, "a@b.fr")
    assert Audience(tmp_path).token("confirmer", 1, "a@b.fr") == token
    assert (tmp_path / ".observatoire-secret").stat().st_mode & 0o077 == 0


def test_capacity_holds_under_concurrent_registrations(tmp_path: Path) -> None:
    audience = Audience(tmp_path, secret=b"s" * 32)
    outcomes: list[str] = []
    lock = threading.Lock()

    def register(i: int) -> None:
        try:
            Audience(tmp_path, secret=b"s" * 32).register(
                "conference", email=f"p{i}@exemple.fr", name=f"P {i}", consent=True, capacity=7
            )
            result = "ok"
        except RegistrationError:
            result = "complet"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 7 and outcomes.count("complet") == 23
    assert audience.taken("conference") == 7
    with pytest.raises(RegistrationError, match="consentement"):
        audience.register("autre", email="x@exemple.fr", name="X", consent=False, capacity=None)


def test_lettre_settings_are_validated(tmp_path: Path) -> None:
    base = '[projet]\nnom = "x"\n[lettre]\n'
    settings = parse_settings(
        base + 'adresse_site = "https://obs.exemple.fr/"\nexpediteur = "Agence <l@exemple.fr>"\n',
        root=tmp_path,
    )
    assert settings.mailing.site_url == "https://obs.exemple.fr"
    with pytest.raises(ConfigError, match=r"ligne 4.*smtp_securite"):
        parse_settings(base + 'smtp_securite = "tls"\n', root=tmp_path)
    with pytest.raises(ConfigError, match=r"ligne 4.*smtp_port"):
        parse_settings(base + "smtp_port = 0\n", root=tmp_path)
    with pytest.raises(ConfigError, match="adresse du site"):
        parse_settings(base + 'adresse_site = "obs.exemple.fr"\n', root=tmp_path)


def test_pdf_outside_contents_markers_bom_and_control_characters(project, tmp_path: Path) -> None:
    shutil.rmtree(project.settings.contents_dir)
    outside = tmp_path / "secret.pdf"
    outside.write_bytes(b"%PDF-1.4\n")
    head = "---\ntitre: X\ndate: 2026-01-01\nresume: R\nstatut: livree\n"
    _write(project, "etudes", "etude.md", head + f"pdf: ../../{outside.name}\n---\n")
    with pytest.raises(ConfigError, match="dossier contenus/"):
        load_contents(project)
    shutil.rmtree(project.settings.contents_dir)
    page = "---\ntitre: X\n---\nLe chiffre [[chiffre taux_chomage_1564]] manque.\n"
    _write(project, "pages", "page.md", page)
    with pytest.raises(ConfigError, match=r"ligne 4.*chiffre cité illisible"):
        load_contents(project)
    path = _write(
        project, "pages", "page.md", "---\ntitre: Y\n---\nA\x0bB [[chiffre emplois dep:62]]\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # a BOM, as Windows editors write
    item = load_contents(project).get("pages", "page")
    assert item.title == "Y" and "\x0b" not in item.body


def test_a_figure_inside_a_link_stays_valid_html(demo_summary) -> None:
    from html.parser import HTMLParser

    from observatoire.publish.contents import Content, Contents

    project = open_project(demo_summary.root)
    figure = "[[chiffre emplois pm-artois]]"
    body = f"[voir](https://exemple.fr/?v={figure}) et {figure}\n"
    item = Content(kind="pages", slug="p", path=Path("p.md"), title="P", body=body)
    contents = Contents(root=Path("."))
    contents.items["pages"].append(item)
    rendered = resolve(project, contents).of("pages")[0].html
    href = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "a":
                href.append(dict(attrs)["href"])

    Links().feed(rendered)
    assert len(href) == 1 and "<" not in href[0] and "span" not in href[0]
    assert rendered.count('<span class="chiffre"') == 1
