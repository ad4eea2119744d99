"""``observatoire lettre``: the quarterly newsletter (prepare and preview, send)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from observatoire.cli_options import ProjectOption

QuarterOption = Annotated[
    str | None,
    typer.Option("--trimestre", "-t", help="Trimestre de la lettre : AAAAT1 à AAAAT4, ex. 2026T4."),
]


def _plural(n: int, one: str, many: str) -> str:
    from observatoire.publish.fmt import fr_number

    return f"{fr_number(n)} {one if n < 2 else many}"


def register_lettre(app: typer.Typer, console: Console) -> None:
    """Add the ``lettre`` group: ``lettre --trimestre …`` prepares, ``lettre envoyer`` sends."""
    lettre_app = typer.Typer(
        help="Lettre trimestrielle : préparer la lettre d'un trimestre (HTML pour les "
        "messageries et version texte, dans sorties/lettres/AAAATn/), la prévisualiser dans le "
        "navigateur, puis l'envoyer aux abonnés confirmés (commande « envoyer »).\n\n"
        "Contenu : les actualités du trimestre, les études livrées dans le trimestre, les "
        "événements à venir et le chiffre du trimestre (contenus/chiffres/AAAATn.md), lu dans "
        "la table des indicateurs avec sa source et son millésime.\n\n"
        "Exemple : observatoire lettre --trimestre 2026T4 --apercu -p ./demo-artois",
        invoke_without_command=True,
    )
    app.add_typer(lettre_app, name="lettre")

    @lettre_app.callback()
    def lettre_cmd(
        ctx: typer.Context,
        trimestre: QuarterOption = None,
        apercu: Annotated[
            bool,
            typer.Option("--apercu", help="Ouvrir la lettre dans le navigateur une fois écrite."),
        ] = False,
        projet: ProjectOption = None,
    ) -> None:
        from observatoire.errors import InputError

        if ctx.invoked_subcommand is not None:
            if trimestre is not None or apercu or projet is not None:
                raise InputError(
                    f"les options se placent après « {ctx.invoked_subcommand} » : observatoire "
                    f"lettre {ctx.invoked_subcommand} --trimestre 2026T4 -p DOSSIER"
                )
            return
        if trimestre is None:
            console.print(ctx.get_help())
            raise typer.Exit(0)
        _prepare(console, trimestre, apercu, projet)

    @lettre_app.command("envoyer")
    def envoyer_cmd(
        trimestre: QuarterOption = None,
        essai: Annotated[
            str | None,
            typer.Option(
                "--essai",
                help="Envoyer un seul message d'essai à cette adresse (objet « [Essai] … »), "
                "sans toucher à la campagne.",
            ),
        ] = None,
        projet: ProjectOption = None,
    ) -> None:
        """Envoyer la lettre du trimestre à chaque abonné confirmé.

        Le serveur SMTP est celui de la section \\[lettre] d'observatoire.toml
        (mot de passe : variable OBSERVATOIRE_SMTP_MOT_DE_PASSE), au rythme de
        envois_par_minute. Chaque abonné reçoit son propre lien de désinscription
        en un clic.

        L'envoi reprend où il s'est arrêté : relancé après une interruption, il
        saute les adresses déjà servies, renvoie celles dont l'envoi était en
        cours avec le même identifiant de message (Message-ID, que les
        messageries dédoublonnent) et réessaie les refus. Aucune adresse n'est
        affichée, seulement des nombres (sauf celle de --essai).

        Exemples : observatoire lettre envoyer --trimestre 2026T4 -p ./demo-artois
        observatoire lettre envoyer --trimestre 2026T4 --essai moi@agence.fr
        """
        from observatoire.errors import InputError
        from observatoire.project import open_project
        from observatoire.publish.mail import MailError, check_config
        from observatoire.publish.newsletter import quarter_label, send_letter, send_test

        if trimestre is None:
            raise InputError("trimestre manquant : --trimestre 2026T4")
        project = open_project(projet)
        label = quarter_label(trimestre)
        if essai is not None:
            address = send_test(project, trimestre, essai)
            console.print(
                f"Message d'essai de la lettre du {label} envoyé à {address} (hors campagne)."
            )
            return
        check_config(project.settings.mailing)  # before the progress bar shows
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        task = progress.add_task(f"Lettre du {label}", total=None, start=False)

        def started(total: int) -> None:
            progress.update(task, total=total)
            progress.start_task(task)
            progress.start()

        try:
            report = send_letter(
                project,
                trimestre,
                on_start=started,
                on_message=lambda: progress.advance(task),
            )
        finally:
            progress.stop()
        if report.confirmed == 0:
            console.print(
                f"Aucun abonné confirmé : la lettre du {label} n'a été envoyée à personne."
            )
            return
        lines = [
            f"Lettre du {label} : "
            f"{_plural(report.confirmed, 'abonné confirmé', 'abonnés confirmés')}.",
            f"- {_plural(report.sent, 'message accepté', 'messages acceptés')} par le serveur "
            "d'envoi lors de ce lancement",
        ]
        if report.resent:
            lines.append(
                f"  dont {_plural(report.resent, 'renvoi', 'renvois')} d'un envoi interrompu "
                "(même Message-ID : les messageries écartent un éventuel doublon)"
            )
        if report.retried:
            lines.append(
                "  dont "
                + _plural(report.retried, "refus précédent réessayé", "refus précédents réessayés")
            )
        if report.already:
            lines.append(
                f"- {_plural(report.already, 'adresse déjà servie', 'adresses déjà servies')} "
                "lors d'un lancement précédent, sans renvoi"
            )
        if report.failed:
            lines.append(
                f"- {_plural(report.failed, 'destinataire refusé', 'destinataires refusés')} par "
                "le serveur d'envoi, à réessayer au prochain lancement :"
            )
            for reason, count in report.reasons.most_common():
                lines.append(f"  {count} × {reason}")
        console.print("\n".join(lines), highlight=False)
        if report.failed:
            raise MailError(
                f"{_plural(report.failed, 'destinataire refusé', 'destinataires refusés')} : "
                f"relancez « observatoire lettre envoyer --trimestre {trimestre} » pour "
                "réessayer (les adresses déjà servies ne reçoivent rien de plus)"
            )


def _prepare(console: Console, quarter: str, preview: bool, projet: Path | None) -> None:
    import webbrowser

    from observatoire.project import open_project
    from observatoire.publish.newsletter import build_letter, quarter_label, write_letter

    project = open_project(projet)
    letter = build_letter(project, quarter)
    html_path, text_path = write_letter(project, letter)
    parts = [
        _plural(len(letter.news), "actualité", "actualités"),
        _plural(len(letter.studies), "étude livrée", "études livrées"),
        _plural(len(letter.events), "événement à venir", "événements à venir"),
    ]
    if letter.figure is not None and letter.figure.figure is not None:
        parts.append(f"chiffre du trimestre : {letter.figure.figure.text}")
    console.print(
        f"Lettre du {quarter_label(quarter)} écrite : {html_path} et {text_path.name} "
        f"({', '.join(parts)}).",
        highlight=False,
    )
    if not letter.absolute:
        console.print(
            "Liens relatifs vers le site statique (sorties/site) : indiquez adresse_site dans la "
            "section [lettre] d'observatoire.toml pour des liens absolus (obligatoire pour "
            "l'envoi).",
            highlight=False,
            markup=False,
        )
    if letter.simulated:
        console.print(
            "[yellow]Attention[/] : le chiffre du trimestre vient de données SIMULÉES "
            "(démonstration) ; la lettre le signale."
        )
    if preview:
        webbrowser.open(html_path.resolve().as_uri())
        console.print("Aperçu ouvert dans le navigateur.")
    else:
        console.print(f"Aperçu : observatoire lettre --trimestre {quarter} --apercu")
