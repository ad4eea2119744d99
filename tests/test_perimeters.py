"""Territories: official levels, custom perimeters of territoires.yaml, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from observatoire.errors import ConfigError, InputError
from observatoire.project import (
    ARTOIS_ACV,
    ARTOIS_PETR_EPCI,
    ARTOIS_PM_EPCI,
    BOURG_CENTRE_MIN_POPULATION,
    SEVEN_VALLEYS,
    artois_territories_yaml,
    init_project,
    open_project,
)
from observatoire.territories import referential
from observatoire.territories.perimeters import (
    official_territories,
    official_territory,
    parse_territories,
)

PATH = Path("territoires.yaml")


def parse(text: str):
    return parse_territories(text, path=PATH, cog=2025)


def _epci_members(siren: str) -> set[str]:
    com = referential.communes()
    return set(com.loc[com["epci"] == siren, "code"])


def test_artois_example_resolves_to_member_communes() -> None:
    territories = parse(artois_territories_yaml())
    pm = territories.get("pm-artois")
    expected = set().union(*(_epci_members(s) for s in ARTOIS_PM_EPCI))
    assert set(pm.communes) == expected
    assert len(_epci_members("200072460")) == 100
    petr = territories.get("petr-ternois-7-vallees")
    assert set(petr.communes) == set().union(*(_epci_members(s) for s in ARTOIS_PETR_EPCI))
    agency = territories.get("perimetre-agence")
    assert set(agency.communes) == set(pm.communes) | set(petr.communes)
    acv = territories.get("acv-artois")
    names = referential.communes().set_index("code")["nom"]
    assert {names[c] for c in acv.communes} == set(ARTOIS_ACV.values())
    # parents: the Pôle métropolitain lies in the Pas-de-Calais, Hauts-de-France, France
    assert [p.key for p in territories.parents("pm-artois")] == ["dep:62", "reg:32", "fr:FR"]


def test_bourgs_centres_follow_their_documented_rule() -> None:
    territories = parse(artois_territories_yaml())
    bourgs = territories.get("bourgs-centres-7-vallees")
    pops = referential.populations()
    latest = pops[pops["annee"] == pops["annee"].max()].set_index("code")["population"]
    members = _epci_members(SEVEN_VALLEYS)
    expected = {c for c in members if latest.get(c, 0) >= BOURG_CENTRE_MIN_POPULATION}
    assert set(bourgs.communes) == expected
    assert 1 <= len(expected) < len(members)
    assert str(BOURG_CENTRE_MIN_POPULATION) in bourgs.regle.replace("\u202f", "")


def test_official_levels_and_ambiguous_codes() -> None:
    territories = parse("territoires: []\n")
    assert territories.get("62119").nom == "Béthune"
    assert territories.get("dep:32").nom == "Gers"
    assert territories.get("reg:32").nom == "Hauts-de-France"
    with pytest.raises(InputError, match=r"ambigu.*dep:32.*reg:32"):
        territories.get("32")
    # Béthune → its EPCI → Pas-de-Calais → Hauts-de-France → France
    assert [p.key for p in territories.parents("62119")] == [
        "epci:200072460",
        "dep:62",
        "reg:32",
        "fr:FR",
    ]
    france = official_territory("FR", "france")
    assert france.size == len(referential.communes())
    deps = official_territories("departement")
    assert sum(d.size for d in deps) == france.size  # every commune in exactly one département


def test_unquoted_leading_zero_code_is_not_read_as_octal() -> None:
    # YAML 1.1 reads 01001 as the octal number 513: codes must come from the raw text.
    territories = parse("territoires:\n  - id: t\n    nom: T\n    communes: [01001]\n")
    assert territories.get("t").communes == ("01001",)


@pytest.mark.parametrize(
    ("text", "pattern", "line"),
    [
        (
            "territoires:\n  - id: t\n    nom: T\n    communes: [1001]\n",
            r"« 1001 » a perdu son zéro initial : écrivez \"01001\"",
            4,
        ),
        (
            'territoires:\n  - id: t\n    nom: T\n    communes:\n      - "62119"\n'
            '      - "62999"\n',
            r"commune « 62999 » inconnu",
            6,
        ),
        (
            'territoires:\n  - id: t\n    nom: T\n    communes: ["62119"]\n'
            '  - id: t\n    nom: U\n    communes: ["62119"]\n',
            r"« t » en double \(déjà défini ligne 2\)",
            5,
        ),
        ("territoires:\n  - id: t\n    nom: T\n", r"« t » est vide", 2),
        (
            "territoires:\n  - id: a\n    nom: A\n    territoires: [b]\n"
            "  - id: b\n    nom: B\n    territoires: [a]\n",
            r"cycle entre territoires : a → b → a",
            2,
        ),
        (
            'territoires:\n  - id: t\n    nom: T\n    epci: ["200000000"]\n',
            r"EPCI « 200000000 » n'existe pas au 1er janvier 2025",
            4,
        ),
        (
            "territoires:\n  - id: t\n    nom: T\n    territoires: [absent]\n",
            r"« absent », qui n'est pas défini",
            4,
        ),
        ("territoires:\n  - id: 62\n    nom: T\n", r"identifiant « 62 » invalide", 2),
        (
            'territoires:\n  - id: t\n    nom: T\n    quartiers: ["x"]\n',
            r"clé inconnue « quartiers »",
            4,
        ),
        ("territoires:\n  - id: t\n    nom: [T\n", r"YAML illisible", None),
    ],
)
def test_validation_errors_name_line_and_value(text: str, pattern: str, line: int | None) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        parse(text)
    assert str(info.value).startswith("territoires.yaml")
    if line is not None:
        assert info.value.line == line
        assert f"ligne {line}" in str(info.value)


def test_merged_commune_code_points_to_its_successor() -> None:
    passage = referential.derived_passage()
    current = set(referential.communes()["code"])
    old = passage[~passage["code_ancien"].isin(current)].iloc[0]
    text = f'territoires:\n  - id: t\n    nom: T\n    communes: ["{old.code_ancien}"]\n'
    with pytest.raises(ConfigError, match=rf"fusionné dans « {old.code} »"):
        parse(text)


def test_init_and_open_project(tmp_path: Path) -> None:
    folder = init_project(tmp_path / "artois", example="artois")
    project = open_project(folder)
    assert project.settings.references == ("dep:62", "reg:32", "FR")
    assert {t.id for t in project.territories} >= {"pm-artois", "acv-artois"}
    with pytest.raises(InputError, match="existe déjà"):
        init_project(folder)
    blank = init_project(tmp_path / "vide")
    assert len(open_project(blank).territories) == 0
    (blank / "observatoire.toml").write_text(
        (blank / "observatoire.toml")
        .read_text()
        .replace('references = ["FR"]', 'references = ["32"]')
    )
    with pytest.raises(ConfigError, match="ambigu"):
        open_project(blank)
