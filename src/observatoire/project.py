"""Observatory projects: create one (``init``), open one (settings + territories)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from observatoire.errors import ConfigError, InputError
from observatoire.settings import (
    SETTINGS_FILE,
    TERRITORIES_FILE,
    Settings,
    load_settings,
    render_settings,
)
from observatoire.territories import referential
from observatoire.territories.perimeters import TerritorySet, load_territories

EXAMPLES = ("artois",)

# The Artois example: EPCI SIREN and commune codes at COG 2025.
ARTOIS_PM_EPCI = {
    "200072460": "CA de Béthune-Bruay Artois-Lys Romane",
    "246200364": "CA de Lens-Liévin",
    "246200299": "CA d'Hénin-Carvin",
}
ARTOIS_PETR_EPCI = {"200069672": "CC du Ternois", "200044030": "CC des 7 Vallées"}
ARTOIS_ACV = {"62119": "Béthune", "62178": "Bruay-la-Buissière", "62498": "Lens", "62510": "Liévin"}
SEVEN_VALLEYS = "200044030"
BOURG_CENTRE_MIN_POPULATION = 1500


@dataclass(frozen=True)
class Project:
    """An opened project: validated settings and territories."""

    settings: Settings
    territories: TerritorySet

    @property
    def root(self) -> Path:
        return self.settings.root


def open_project(folder: Path | None = None) -> Project:
    """Read and validate the project in ``folder`` (or the current folder)."""
    settings = load_settings(folder)
    territories = load_territories(settings.territories_path, cog=settings.cog)
    for ref in settings.references:
        try:
            territories.get(ref)
        except InputError as exc:
            raise ConfigError(
                f"territoire de référence invalide dans « comparaisons.references » : {exc}",
                path=settings.root / SETTINGS_FILE,
            ) from exc
    return Project(settings, territories)


def bourgs_centres_rule() -> tuple[list[str], str, int]:
    """Bourgs-centres of the CC des 7 Vallées by a documented, reproducible rule.

    Rule: the member communes whose latest embedded legal population (population
    municipale) is at least 1 500 inhabitants — the agglomerated centres that hold the
    area's services. A proxy until the equipment-based hierarchy (BPE gammes) is computed.
    Returns the codes, the rule text and the population vintage used.
    """
    com = referential.communes()
    pops = referential.populations()
    year = int(pops["annee"].max())
    latest = pops[pops["annee"] == year].set_index("code")["population"]
    members = com[com["epci"] == SEVEN_VALLEYS]["code"]
    chosen = sorted(c for c in members if latest.get(c, 0) >= BOURG_CENTRE_MIN_POPULATION)
    rule = (
        f"Communes de la CC des 7 Vallées ({SEVEN_VALLEYS}) comptant au moins "
        f"{_fr_thousands(BOURG_CENTRE_MIN_POPULATION)} habitants (population municipale "
        f"légale {year}) : "
        "centres agglomérés qui concentrent les services du territoire. Règle provisoire, "
        "à remplacer par la hiérarchie des équipements (gammes de la BPE) une fois chargée."
    )
    return chosen, rule, year


def _fr_thousands(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


def _quoted(codes: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{c}"' for c in codes) + "]"


def artois_territories_yaml() -> str:
    """The ready-made ``territoires.yaml`` of the Artois example."""
    com = referential.communes().set_index("code")
    bourgs, rule, _ = bourgs_centres_rule()
    bourg_names = ", ".join(f"{com.loc[c, 'nom']} ({c})" for c in bourgs)
    pm = "\n".join(f"      # {c} : {n}" for c, n in ARTOIS_PM_EPCI.items())
    petr = "\n".join(f"      # {c} : {n}" for c, n in ARTOIS_PETR_EPCI.items())
    acv = ", ".join(f"{n} ({c})" for c, n in ARTOIS_ACV.items())
    return f"""# Territoires du projet — exemple de l'Artois (COG 2025)
# Chaque territoire personnalisé est une union de communes, d'EPCI, de départements,
# de régions ou d'autres territoires de ce fichier. Écrivez les codes entre guillemets.
# Les communes, EPCI (SIREN), départements, régions et la France (« FR ») existent déjà :
# inutile de les déclarer.

territoires:
  - id: pm-artois
    nom: Pôle Métropolitain de l'Artois
    categorie: Pôle métropolitain
    epci: {_quoted(list(ARTOIS_PM_EPCI))}
{pm}

  - id: petr-ternois-7-vallees
    nom: PETR Ternois / 7 Vallées
    categorie: PETR
    epci: {_quoted(list(ARTOIS_PETR_EPCI))}
{petr}

  - id: perimetre-agence
    nom: Périmètre d'intervention de l'agence
    categorie: Périmètre d'étude
    territoires: ["pm-artois", "petr-ternois-7-vallees"]

  - id: acv-artois
    nom: Villes Action Cœur de Ville de l'Artois
    categorie: Action Cœur de Ville
    description: "{acv}"
    communes: {_quoted(list(ARTOIS_ACV))}

  - id: bourgs-centres-7-vallees
    nom: Bourgs-centres des 7 Vallées
    categorie: Bourgs-centres
    regle: "{rule}"
    description: "{bourg_names}"
    communes: {_quoted(bourgs)}
"""


TEMPLATE_TERRITORIES = """# Territoires du projet
# Chaque territoire personnalisé est une union de communes, d'EPCI, de départements,
# de régions ou d'autres territoires de ce fichier. Écrivez les codes entre guillemets
# (« "01001" », jamais 1001). Les niveaux officiels existent déjà : inutile de les déclarer.
#
# Exemple :
# territoires:
#   - id: mon-scot
#     nom: SCoT de mon territoire
#     categorie: SCoT
#     epci: ["200072460"]
#     communes: ["62119"]

territoires: []
"""


def init_project(
    folder: Path,
    *,
    nom: str | None = None,
    example: str | None = None,
    force: bool = False,
) -> Path:
    """Create a project folder with ``observatoire.toml`` and ``territoires.yaml``."""
    if example is not None and example not in EXAMPLES:
        raise InputError(
            f"exemple « {example} » inconnu ; exemples disponibles : {', '.join(EXAMPLES)}"
        )
    folder = folder.resolve()
    settings_path = folder / SETTINGS_FILE
    if settings_path.exists() and not force:
        raise InputError(
            f"un projet existe déjà dans {folder} ; ajoutez --force pour écraser ses réglages"
        )
    folder.mkdir(parents=True, exist_ok=True)
    if example == "artois":
        settings_text = render_settings(
            nom=nom or "Observatoire territorial de l'Artois",
            titre="Chiffres clés de l'Artois",
            references=("dep:62", "reg:32", "FR"),
        )
        territories_text = artois_territories_yaml()
    else:
        settings_text = render_settings(nom=nom or folder.name, references=("FR",))
        territories_text = TEMPLATE_TERRITORIES
    settings_path.write_text(settings_text, encoding="utf-8")
    (folder / TERRITORIES_FILE).write_text(territories_text, encoding="utf-8")
    for sub in ("donnees", "sorties"):
        (folder / sub).mkdir(exist_ok=True)
    if example == "artois":
        _copy_example_contents(folder)
    open_project(folder)  # the files we wrote must validate
    return folder


def _copy_example_contents(folder: Path) -> None:
    """The example's editorial contents (studies, news, events, page, chiffre du trimestre)
    into ``contenus/``, without overwriting a file the agency wrote."""
    source = files("observatoire") / "data" / "exemple_artois" / "contenus"
    for kind in source.iterdir():
        if not kind.is_dir():
            continue
        target = folder / "contenus" / kind.name
        target.mkdir(parents=True, exist_ok=True)
        for item in kind.iterdir():
            path = target / item.name
            if item.name.endswith(".md") and not path.exists():
                path.write_text(item.read_text(encoding="utf-8"), encoding="utf-8")
