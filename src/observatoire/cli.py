"""Command line: thin wrappers, one call per stage, French help with an example each."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
import typer.rich_utils as rich_utils
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from observatoire import __version__
from observatoire.errors import ObservatoireError

# French labels for Typer's help screens.
rich_utils.OPTIONS_PANEL_TITLE = "Options"
rich_utils.ARGUMENTS_PANEL_TITLE = "Arguments"
rich_utils.COMMANDS_PANEL_TITLE = "Commandes"
rich_utils.ERRORS_PANEL_TITLE = "Erreur"
rich_utils.DEFAULT_STRING = "[défaut : {}]"
rich_utils.REQUIRED_LONG_STRING = "[obligatoire]"
rich_utils.ABORTED_TEXT = "Interrompu."


def _french_help_option() -> None:
    """Typer's help option says "Show this message and exit."; say it in French."""
    try:
        from typer._click.core import Command
    except ImportError:  # a future Typer without the vendored click: keep its wording
        return
    original = Command.get_help_option

    def get_help_option(self, ctx):  # type: ignore[no-untyped-def]
        option = original(self, ctx)
        if option is not None:
            option.help = "Afficher cette aide et quitter."
        return option

    Command.get_help_option = get_help_option  # type: ignore[method-assign]


_french_help_option()

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough for tables not to wrap names
    console = Console(width=140)
err_console = Console(stderr=True)
_STATE = {"debug": False}

HELP = """Observatoire territorial : des données publiques officielles aux chiffres clés publiés.

Étapes : sources officielles (fetch, load, simuler) → entrepôt DuckDB → référentiel,
COG et territoires du projet → indicateurs (build, indicators) → rapports et site (à venir).

Exemple : observatoire demo ./demo-artois
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)
territoires_app = typer.Typer(
    help="Territoires du projet : lister, vérifier, afficher.\n\n"
    "Exemple : observatoire territoires liste --projet ./demo-artois",
    no_args_is_help=True,
)
entrepot_app = typer.Typer(
    help="Entrepôt DuckDB du projet : contenu et lignage.\n\n"
    "Exemple : observatoire entrepot info --projet ./demo-artois",
    no_args_is_help=True,
)
cog_app = typer.Typer(
    help="Code officiel géographique : détecter le millésime d'un fichier, le recoder.\n\n"
    "Exemple : observatoire cog recoder base.csv --evenements v_mvt_commune_2025.csv "
    "--comptages P18_POP --sortie base_cog2025.csv",
    no_args_is_help=True,
)
catalogue_app = typer.Typer(
    help="Catalogues des indicateurs et des sources officielles : lister, détailler, "
    "vérifier.\n\nExemple : observatoire catalogue list --theme population",
    no_args_is_help=True,
)
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(territoires_app, name="territoires")
app.add_typer(entrepot_app, name="entrepot")
app.add_typer(cog_app, name="cog")

from observatoire.cli_diagnose import register_diagnose as _register_diagnose  # noqa: E402
from observatoire.cli_indicators import register as _register_indicators  # noqa: E402
from observatoire.cli_indicators import register_report as _register_report  # noqa: E402
from observatoire.cli_lettre import register_lettre as _register_lettre  # noqa: E402
from observatoire.cli_options import ProjectOption  # noqa: E402
from observatoire.cli_site import register_site as _register_site  # noqa: E402

_register_indicators(app, catalogue_app, console)
_register_report(app, console)
_register_site(app, console)
_register_diagnose(app, console)
_register_lettre(app, console)


def _version(value: bool) -> None:
    if value:
        console.print(f"observatoire {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Afficher la trace complète en cas d'erreur.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Afficher la version."),
    ] = False,
) -> None:
    _STATE["debug"] = debug


# ---------------------------------------------------------------------------- project


@app.command("init")
def init_cmd(
    dossier: Annotated[Path, typer.Argument(help="Dossier du projet à créer.")],
    nom: Annotated[str | None, typer.Option("--nom", help="Nom de l'observatoire.")] = None,
    exemple: Annotated[
        str | None,
        typer.Option("--exemple", help="Partir d'un exemple prêt à l'emploi : artois."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Écraser les réglages d'un projet existant.")
    ] = False,
) -> None:
    """Créer un projet d'observatoire (observatoire.toml et territoires.yaml).

    Exemple : observatoire init ./mon-observatoire --exemple artois
    """
    from observatoire.project import init_project

    folder = init_project(dossier, nom=nom, example=exemple, force=force)
    console.print(f"Projet créé dans [bold]{folder}[/] : observatoire.toml, territoires.yaml.")
    console.print(
        "Vérifiez les territoires avec : observatoire territoires verifier -p " + str(folder)
    )


@app.command("demo")
def demo_cmd(
    dossier: Annotated[
        Path, typer.Argument(help="Dossier où construire le projet de démonstration.")
    ] = Path("demo-artois"),
    force: Annotated[
        bool, typer.Option("--force", help="Reconstruire un projet de démonstration existant.")
    ] = False,
    evenements: Annotated[
        Path | None,
        typer.Option(
            "--evenements",
            "-e",
            help="Fichier INSEE des événements communaux (v_mvt_commune_AAAA.csv) pour recoder "
            "les populations ; défaut : table de passage du référentiel embarqué.",
        ),
    ] = None,
) -> None:
    """Construire un projet de démonstration complet pour l'Artois, hors ligne.

    Exemple : observatoire demo ./demo-artois
    """
    from observatoire.demo import print_summary, run_demo

    summary = run_demo(dossier, force=force, console=console, events_path=evenements)
    print_summary(summary, console)


# ---------------------------------------------------------------------------- sources


def _load_summary(loads: list, title: str) -> None:
    table = Table(title=title)
    for column in (
        "Fichier",
        "Jeu de données",
        "Millésime",
        "Lignes",
        "Communes",
        "Secrets",
        "Réparées",
        "Origine",
    ):
        table.add_column(column, overflow="fold")
    for load in loads:
        table.add_row(
            load.label.rsplit("/", 1)[-1],
            load.dataset_label,
            load.vintage,
            "déjà chargé" if load.skipped else _fr_int(load.rows),
            "" if load.skipped else _fr_int(load.communes),
            "" if load.skipped else _fr_int(load.secret_cells),
            "" if load.skipped else _fr_int(load.repaired),
            "réelle" if load.origin == "real" else "SIMULÉE",
        )
    console.print(table)
    for load in loads:
        for warning in load.warnings:
            console.print(f"  • {load.label.rsplit('/', 1)[-1]} : {warning}", highlight=False)


def _run_load(project, paths: list[Path]) -> list:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from observatoire.loading import load_paths

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} lignes"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        tasks: dict[str, int] = {}
        pending: dict[str, int] = {}
        lock = threading.Lock()

        def on_file(file, detection) -> None:
            # The next file is read ahead in a thread: its first rows can be counted before
            # its turn comes (pending), then shown in its bar.
            with lock:
                tasks[file.label] = progress.add_task(
                    f"{detection.label or detection.dataset} {detection.vintage}",
                    total=None,
                    completed=pending.pop(file.label, 0),
                )

        def on_rows(label: str, rows: int) -> None:
            with lock:
                if label in tasks:
                    progress.advance(tasks[label], rows)
                else:
                    pending[label] = pending.get(label, 0) + rows

        return load_paths(project, paths, progress=on_rows, on_file=on_file)


@app.command("load")
def load_cmd(
    fichiers: Annotated[
        list[Path], typer.Argument(help="Fichiers officiels à charger (CSV, TXT, XLSX, zip, gz).")
    ],
    projet: ProjectOption = None,
) -> None:
    """Charger des fichiers officiels dans l'entrepôt (tout ou rien), ramenés au COG du projet.

    Exemple : observatoire load base-cc-logement-2021_csv.zip cc_filosofi_2020_COM.csv
    -p ./demo-artois
    """
    from observatoire.project import open_project

    project = open_project(projet)
    loads = _run_load(project, fichiers)
    _load_summary(loads, "Chargement terminé")


@app.command("fetch")
def fetch_cmd(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Identifiants du catalogue (défaut : tous).")
    ] = None,
    millesime: Annotated[
        str | None,
        typer.Option("--millesime", help="Millésime à télécharger (défaut : le dernier)."),
    ] = None,
    departement: Annotated[
        str | None,
        typer.Option(
            "--departement", help="Département, pour les sources publiées par département."
        ),
    ] = None,
    miroir: Annotated[
        str | None,
        typer.Option(
            "--miroir",
            help="Adresse d'un miroir qui remplace les serveurs des éditeurs "
            "(ou variable OBSERVATOIRE_MIROIR).",
        ),
    ] = None,
    projet: ProjectOption = None,
) -> None:
    """Télécharger des sources du catalogue (cache par empreinte), puis les charger.

    Exemple : observatoire fetch cog_evenements filosofi_communes --millesime 2020 -p ./demo-artois
    """
    from observatoire import catalogue
    from observatoire.loading import fetch_paths
    from observatoire.project import open_project

    project = open_project(projet)
    ids = sources or [s.id for s in catalogue.sources().values() if not s.needs_departement()]
    paths = fetch_paths(project, ids, vintage=millesime, departement=departement, mirror=miroir)
    console.print(f"{len(paths)} fichier(s) téléchargé(s) ou repris du cache.")
    loads = _run_load(project, paths)
    _load_summary(loads, "Téléchargement et chargement terminés")


@app.command("simuler")
def simuler_cmd(
    dossier: Annotated[Path, typer.Argument(help="Dossier où écrire les fichiers simulés.")],
    departements: Annotated[
        str,
        typer.Option(
            "--departements",
            help="Départements couverts, séparés par des virgules "
            "(« tous » pour la France entière).",
        ),
    ] = "62",
    millesimes: Annotated[
        str, typer.Option("--millesimes", help="Millésimes, séparés par des virgules.")
    ] = "2020,2021",
    jeux: Annotated[
        str | None, typer.Option("--jeux", help="Jeux de données à simuler (défaut : tous).")
    ] = None,
    graine: Annotated[
        int, typer.Option("--graine", help="Graine du générateur (reproductible).")
    ] = 0,
    echelle: Annotated[
        float, typer.Option("--echelle", help="Facteur de volume (DVF, BPE, SIRENE).")
    ] = 1.0,
) -> None:
    """Écrire des fichiers SIMULÉS aux formats officiels exacts (démonstration, tests, mesures).

    Exemple : observatoire simuler ./simul --departements 62 --millesimes 2020,2021
    """
    from observatoire.sources.synthetic import simulate
    from observatoire.territories import referential

    com = referential.communes()
    if departements.strip().lower() != "tous":
        wanted = {d.strip() for d in departements.split(",") if d.strip()}
        unknown = wanted - set(com["dep"])
        if unknown:
            raise ObservatoireError(f"département(s) inconnu(s) : {', '.join(sorted(unknown))}")
        com = com[com["dep"].isin(wanted)]
    years = [int(y) for y in millesimes.split(",") if y.strip()]
    manifest = simulate(
        dossier,
        communes=com["code"].tolist(),
        vintages=years,
        seed=graine,
        datasets=[j.strip() for j in jeux.split(",")] if jeux else None,
        scale=echelle,
    )
    console.print(
        f"[bold]{len(manifest.files)} fichier(s) SIMULÉ(S)[/] écrits dans {dossier} "
        "(liste et empreintes dans SIMULATION.json) : ne pas publier comme des chiffres réels."
    )


# ---------------------------------------------------------------------------- territories


@territoires_app.command("liste")
def territoires_liste(projet: ProjectOption = None) -> None:
    """Lister les territoires personnalisés du projet et leur nombre de communes.

    Exemple : observatoire territoires liste --projet ./demo-artois
    """
    from observatoire.project import open_project

    project = open_project(projet)
    table = Table(title=f"Territoires de « {project.settings.nom} »")
    for col in ("Identifiant", "Nom", "Catégorie", "Communes", "Englobé par"):
        table.add_column(col)
    for t in project.territories:
        parents = project.territories.parents(t.id)
        table.add_row(t.id, t.nom, t.categorie, _fr_int(t.size), parents[0].nom if parents else "")
    console.print(table)


@territoires_app.command("verifier")
def territoires_verifier(projet: ProjectOption = None) -> None:
    """Valider observatoire.toml et territoires.yaml (codes, doublons, cycles…).

    Exemple : observatoire territoires verifier --projet ./demo-artois
    """
    from observatoire.project import open_project

    project = open_project(projet)
    console.print(
        f"[green]Projet valide[/] : {len(project.territories)} territoire(s) personnalisé(s), "
        f"COG {project.settings.cog}."
    )


@territoires_app.command("afficher")
def territoires_afficher(
    territoire: Annotated[
        str,
        typer.Argument(
            help="Identifiant : id de territoires.yaml, code INSEE, SIREN, dep:62, reg:32, FR."
        ),
    ],
    projet: ProjectOption = None,
) -> None:
    """Afficher un territoire : niveau, communes membres, territoires englobants.

    Exemple : observatoire territoires afficher pm-artois --projet ./demo-artois
    """
    from observatoire.project import open_project
    from observatoire.territories import referential

    project = open_project(projet)
    t = project.territories.get(territoire)
    names = referential.communes().set_index("code")["nom"]
    console.print(f"[bold]{t.nom}[/] ({t.key}) — niveau {t.level}, {_fr_int(t.size)} communes")
    if t.regle:
        console.print(f"Règle : {t.regle}")
    parents = project.territories.parents(t.id if t.level == "custom" else t.key)
    if parents:
        console.print("Englobé par : " + " → ".join(f"{p.nom} ({p.key})" for p in parents))
    if t.size <= 200:
        console.print(", ".join(f"{names.get(c, c)} ({c})" for c in t.communes))


# ---------------------------------------------------------------------------- warehouse


@entrepot_app.command("info")
def entrepot_info(projet: ProjectOption = None) -> None:
    """Afficher les tables de l'entrepôt et le lignage des chargements.

    Exemple : observatoire entrepot info --projet ./demo-artois
    """
    from observatoire.project import open_project
    from observatoire.warehouse import Warehouse, is_internal

    project = open_project(projet)
    path = project.settings.warehouse_path
    if not path.exists():
        raise ObservatoireError(
            f"l'entrepôt {path} n'existe pas encore : lancez « observatoire demo » ou un chargement"
        )
    with Warehouse(path, read_only=True) as wh:
        lineage = wh.lineage()
        tables = wh.tables()
    table = Table(title=f"Lignage de {path.name}")
    for col in ("Jeu de données", "Millésime", "COG", "Lignes", "Origine", "Chargé le", "Source"):
        table.add_column(col)
    for row in lineage.itertuples(index=False):
        table.add_row(
            row.dataset,
            row.vintage,
            "" if row.cog_vintage is None else str(row.cog_vintage),
            _fr_int(row.rows),
            "réelle" if row.origin == "real" else "SIMULÉE",
            f"{row.loaded_at:%d/%m/%Y %H:%M}",
            row.source,
        )
    console.print(table)
    console.print("Tables : " + ", ".join(t for t in tables if not is_internal(t)))


# ---------------------------------------------------------------------------- COG


@cog_app.command("detecter")
def cog_detecter(
    fichier: Annotated[Path, typer.Argument(help="Fichier CSV communal à examiner.")],
    evenements: Annotated[
        Path, typer.Option("--evenements", "-e", help="Fichier INSEE des événements communaux.")
    ],
    colonne: Annotated[str, typer.Option("--colonne-code", help="Colonne du code commune.")] = (
        "CODGEO"
    ),
    separateur: Annotated[str, typer.Option("--separateur", help="Séparateur du CSV.")] = ";",
) -> None:
    """Détecter le millésime du COG d'un fichier communal d'après son jeu de codes.

    Exemple : observatoire cog detecter base_cc_comparateur.CSV -e v_mvt_commune_2025.csv
    """
    from observatoire.territories.harmonise import detect_file_vintage

    year, share = detect_file_vintage(fichier, evenements, code_column=colonne, sep=separateur)
    console.print(
        f"COG détecté : [bold]{year}[/] ({_fr_pct(share)} des codes du fichier existent à ce "
        "millésime)"
    )


@cog_app.command("recoder")
def cog_recoder(
    fichier: Annotated[Path, typer.Argument(help="Fichier CSV communal à recoder.")],
    evenements: Annotated[
        Path, typer.Option("--evenements", "-e", help="Fichier INSEE des événements communaux.")
    ],
    comptages: Annotated[
        str,
        typer.Option(
            "--comptages", help="Colonnes de comptage à sommer, séparées par des virgules."
        ),
    ],
    sortie: Annotated[Path, typer.Option("--sortie", "-o", help="Fichier CSV recodé à écrire.")],
    colonne: Annotated[str, typer.Option("--colonne-code", help="Colonne du code commune.")] = (
        "CODGEO"
    ),
    millesime: Annotated[
        int | None,
        typer.Option("--millesime", help="COG du fichier ; détecté d'après les codes si absent."),
    ] = None,
    cible: Annotated[int, typer.Option("--cible", help="COG cible.")] = 2025,
    separateur: Annotated[str, typer.Option("--separateur", help="Séparateur du CSV.")] = ";",
) -> None:
    """Ramener un fichier communal au COG cible : comptages des communes fusionnées sommés,
    scissions signalées.

    Exemple : observatoire cog recoder base.csv -e v_mvt_commune_2025.csv
    --comptages P18_POP,P18_LOG -o base_2025.csv
    """
    from observatoire.territories.harmonise import recode_file

    report = recode_file(
        fichier,
        evenements,
        sortie,
        code_column=colonne,
        count_columns=[c.strip() for c in comptages.split(",") if c.strip()],
        source_year=millesime,
        target_year=cible,
        sep=separateur,
    )
    console.print(report)


# ---------------------------------------------------------------------------- entry point


def _fr_int(value: int | float) -> str:
    return f"{int(value):,}".replace(",", "\u202f")


def _fr_pct(share: float) -> str:
    return f"{share * 100:.1f}".replace(".", ",") + "\u00a0%"


def main() -> None:
    """Entry point: French one-line errors, no traceback unless --debug."""
    debug = "--debug" in sys.argv[1:]
    try:
        code = app(standalone_mode=False)
    except ObservatoireError as exc:
        if debug:
            raise
        err_console.print(f"[red]Erreur[/] : {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Interrompu.")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print(
            "Interrompu : l'entrepôt est resté dans son dernier état validé (un envoi de lettre "
            "reprend là où il s'est arrêté)."
        )
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        usage = _usage_message(exc)
        if usage is not None:
            err_console.print(f"[red]Erreur[/] : {escape(usage)}", highlight=False, soft_wrap=True)
            sys.exit(2)
        err_console.print(
            f"[red]Erreur inattendue[/] : {exc.__class__.__name__} : {escape(str(exc))} "
            "(relancez avec --debug pour la trace complète)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
    if isinstance(code, int) and code:  # typer.Exit(code) returns it without standalone mode
        sys.exit(code)


def _param_name(param: object) -> str:
    """Name of a command-line parameter as the user typed it (``--sortie``, ``DOSSIER``)."""
    opts = getattr(param, "opts", None) or []
    if opts and str(opts[0]).startswith("-"):
        return str(opts[0])
    name = getattr(param, "name", None)
    return str(name).upper() if name else "?"


def _usage_message(exc: Exception) -> str | None:
    """French sentence for command-line usage errors (unknown option, missing argument…)."""
    from typer._click import exceptions as click_exc

    if not isinstance(exc, click_exc.UsageError):
        return None
    hint = " (voir --help)"
    if isinstance(exc, click_exc.NoSuchOption):
        return f"option inconnue « {exc.option_name} »{hint}"
    if isinstance(exc, click_exc.MissingParameter):
        return f"paramètre obligatoire manquant : {_param_name(exc.param)}{hint}"
    if isinstance(exc, click_exc.BadParameter):
        return f"valeur invalide pour {_param_name(exc.param)} : {exc.message}{hint}"
    message = exc.format_message()
    if message.startswith("No such command"):
        name = message.split("'")[1] if "'" in message else message
        return f"commande inconnue « {name} »{hint}"
    return f"{message}{hint}"
