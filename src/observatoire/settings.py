"""Typed project settings: ``observatoire.toml`` read, validated and written.

The file uses French keys because analysts edit it by hand::

    [projet]
    nom = "Observatoire de l'Artois"
    cog = 2025                 # target COG vintage (1 January of that year)
    donnees = "donnees"        # folder of downloaded / simulated source files
    entrepot = "entrepot.duckdb"
    sorties = "sorties"

    [charte]
    titre = "Chiffres clés de l'Artois"
    logo = ""                  # path relative to the project folder, optional
    couleur_principale = "#1b4f72"
    couleur_secondaire = "#5dade2"
    couleur_accent = "#e67e22"

    [comparaisons]
    references = ["62", "32", "FR"]   # territories every portrait is compared with

    [site]                     # optional: the web observatory
    fond_de_carte = ""         # tile URL template (https://…/{z}/{x}/{y}.png); empty = none
    attribution = ""           # credit line of those tiles

    [lettre]                   # optional: newsletter, sign-ups, event registrations
    adresse_site = "https://observatoire.exemple.fr"   # public address used in e-mails, feeds
    expediteur = "Agence <lettre@exemple.fr>"
    smtp_hote = "smtp.exemple.fr"
    smtp_port = 587
    smtp_utilisateur = "lettre@exemple.fr"   # password: OBSERVATOIRE_SMTP_MOT_DE_PASSE
    smtp_securite = "starttls"               # starttls, ssl or aucune
    envois_par_minute = 60
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from observatoire.errors import ConfigError, ProjectNotFoundError

SETTINGS_FILE = "observatoire.toml"
TERRITORIES_FILE = "territoires.yaml"
SUPPORTED_COG = (2025,)
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Branding:
    """Publication branding (cover, headers, web pages)."""

    titre: str
    logo: str = ""
    couleur_principale: str = "#1b4f72"
    couleur_secondaire: str = "#5dade2"
    couleur_accent: str = "#e67e22"


SMTP_SECURITY = ("starttls", "ssl", "aucune")
SMTP_PASSWORD_ENV = "OBSERVATOIRE_SMTP_MOT_DE_PASSE"


@dataclass(frozen=True)
class Mailing:
    """``[lettre]``: where the newsletter and the confirmation e-mails come from."""

    site_url: str = ""
    sender: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_security: str = "starttls"
    rate_per_minute: int = 60

    @property
    def smtp_password(self) -> str:
        """From the environment only (never written in the project)."""
        return os.environ.get(SMTP_PASSWORD_ENV, "")


@dataclass(frozen=True)
class Settings:
    """The validated content of a project's ``observatoire.toml``."""

    root: Path
    nom: str
    cog: int
    donnees: str = "donnees"
    entrepot: str = "entrepot.duckdb"
    sorties: str = "sorties"
    charte: Branding = field(default_factory=lambda: Branding(titre="Observatoire"))
    references: tuple[str, ...] = ("FR",)
    tiles: str = ""  # [site] fond_de_carte: optional basemap tile URL template
    tiles_attribution: str = ""  # [site] attribution
    mailing: Mailing = field(default_factory=Mailing)

    @property
    def contents_dir(self) -> Path:
        return self.root / "contenus"

    @property
    def data_dir(self) -> Path:
        return self.root / self.donnees

    @property
    def warehouse_path(self) -> Path:
        return self.root / self.entrepot

    @property
    def output_dir(self) -> Path:
        return self.root / self.sorties

    @property
    def territories_path(self) -> Path:
        return self.root / TERRITORIES_FILE


_SECTIONS: dict[str, set[str]] = {
    "projet": {"nom", "cog", "donnees", "entrepot", "sorties"},
    "charte": {"titre", "logo", "couleur_principale", "couleur_secondaire", "couleur_accent"},
    "comparaisons": {"references"},
    "site": {"fond_de_carte", "attribution"},
    "lettre": {
        "adresse_site",
        "expediteur",
        "smtp_hote",
        "smtp_port",
        "smtp_utilisateur",
        "smtp_securite",
        "envois_par_minute",
    },
}


def _line_of(text: str, section: str, key: str | None = None) -> int | None:
    """Best-effort line number of ``[section]`` or of ``key`` inside it (1-based)."""
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line.strip("[] ")
            if key is None and current == section:
                return number
            continue
        if current == section and key is not None and re.match(rf"{re.escape(key)}\s*=", line):
            return number
    return None


def _expect_str(value: Any, path: Path, text: str, section: str, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(
            f"la clé « {section}.{key} » doit être un texte entre guillemets, pas {value!r}",
            path=path,
            line=_line_of(text, section, key),
        )
    return value


def parse_settings(text: str, *, root: Path, path: Path | None = None) -> Settings:
    """Validate the TOML text of a project; errors name the file, line and key in French."""
    path = path or root / SETTINGS_FILE
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"fichier TOML illisible ({exc})", path=path) from exc

    for section, content in raw.items():
        if section not in _SECTIONS:
            raise ConfigError(
                f"section inconnue [{section}] ; sections attendues : "
                + ", ".join(f"[{s}]" for s in _SECTIONS),
                path=path,
                line=_line_of(text, section),
            )
        if not isinstance(content, dict):
            raise ConfigError(f"« {section} » doit être une section [{section}]", path=path)
        for key in content:
            if key not in _SECTIONS[section]:
                raise ConfigError(
                    f"clé inconnue « {section}.{key} » ; clés possibles : "
                    + ", ".join(sorted(_SECTIONS[section])),
                    path=path,
                    line=_line_of(text, section, key),
                )

    projet = raw.get("projet")
    if projet is None:
        raise ConfigError("la section [projet] est obligatoire", path=path)
    if "nom" not in projet:
        raise ConfigError("la clé « projet.nom » est obligatoire", path=path)
    nom = _expect_str(projet["nom"], path, text, "projet", "nom")
    cog = projet.get("cog", SUPPORTED_COG[-1])
    if not isinstance(cog, int) or isinstance(cog, bool) or cog not in SUPPORTED_COG:
        raise ConfigError(
            f"millésime du COG « {cog} » non pris en charge : le référentiel embarqué est au "
            f"COG {', '.join(map(str, SUPPORTED_COG))}",
            path=path,
            line=_line_of(text, "projet", "cog"),
        )
    folders = {}
    for key in ("donnees", "entrepot", "sorties"):
        if key in projet:
            folders[key] = _expect_str(projet[key], path, text, "projet", key)

    charte_raw = raw.get("charte", {})
    charte_values: dict[str, str] = {}
    for key, value in charte_raw.items():
        charte_values[key] = _expect_str(value, path, text, "charte", key)
        if key.startswith("couleur_") and not _COLOUR.match(value):
            raise ConfigError(
                f"couleur « {value} » invalide pour « charte.{key} » : "
                'écrivez-la en hexadécimal, par exemple "#1b4f72"',
                path=path,
                line=_line_of(text, "charte", key),
            )
    charte = Branding(titre=charte_values.pop("titre", nom), **charte_values)

    refs_raw = raw.get("comparaisons", {}).get("references", ["FR"])
    if not isinstance(refs_raw, list) or not all(isinstance(r, str) for r in refs_raw):
        raise ConfigError(
            "« comparaisons.references » doit être une liste de codes entre guillemets, "
            'par exemple ["62", "32", "FR"]',
            path=path,
            line=_line_of(text, "comparaisons", "references"),
        )
    site = {
        key: _expect_str(value, path, text, "site", key)
        for key, value in raw.get("site", {}).items()
    }
    tiles = site.get("fond_de_carte", "").strip()
    if tiles and not (re.match(r"^https?://", tiles) and all(f"{{{c}}}" in tiles for c in "zxy")):
        raise ConfigError(
            f"adresse de fond de carte « {tiles} » invalide : une adresse http(s) contenant "
            '{z}, {x} et {y} est attendue, par exemple "https://tuiles.exemple.fr/{z}/{x}/{y}.png"',
            path=path,
            line=_line_of(text, "site", "fond_de_carte"),
        )
    return Settings(
        root=root,
        nom=nom,
        cog=cog,
        charte=charte,
        references=tuple(refs_raw),
        tiles=tiles,
        tiles_attribution=site.get("attribution", ""),
        mailing=_mailing(raw.get("lettre", {}), path, text),
        **folders,
    )


def _mailing(raw: dict[str, Any], path: Path, text: str) -> Mailing:
    values: dict[str, Any] = {}
    for key in ("adresse_site", "expediteur", "smtp_hote", "smtp_utilisateur", "smtp_securite"):
        if key in raw:
            values[key] = _expect_str(raw[key], path, text, "lettre", key).strip()
    for key, low, high in (("smtp_port", 1, 65535), ("envois_par_minute", 1, 100000)):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(
                    f"« lettre.{key} » doit être un entier entre {low} et {high}, pas {value!r}",
                    path=path,
                    line=_line_of(text, "lettre", key),
                )
            values[key] = value
    site_url = values.get("adresse_site", "").rstrip("/")
    if site_url and not re.match(r"^https?://[^\s/]+", site_url):
        raise ConfigError(
            f"adresse du site « {site_url} » invalide : une adresse http(s) est attendue",
            path=path,
            line=_line_of(text, "lettre", "adresse_site"),
        )
    security = values.get("smtp_securite", "starttls")
    if security not in SMTP_SECURITY:
        raise ConfigError(
            f"« lettre.smtp_securite » vaut « {security} » : valeurs possibles "
            + ", ".join(SMTP_SECURITY),
            path=path,
            line=_line_of(text, "lettre", "smtp_securite"),
        )
    sender = values.get("expediteur", "")
    if sender and "@" not in sender:
        raise ConfigError(
            f"expéditeur « {sender} » invalide : une adresse e-mail est attendue",
            path=path,
            line=_line_of(text, "lettre", "expediteur"),
        )
    return Mailing(
        site_url=site_url,
        sender=sender,
        smtp_host=values.get("smtp_hote", ""),
        smtp_port=values.get("smtp_port", 587),
        smtp_user=values.get("smtp_utilisateur", ""),
        smtp_security=security,
        rate_per_minute=values.get("envois_par_minute", 60),
    )


def find_project(start: Path | None = None) -> Path:
    """The project folder: ``start`` (or ``OBSERVATOIRE_PROJET``, or the current folder)."""
    if start is None:
        env = os.environ.get("OBSERVATOIRE_PROJET")
        start = Path(env) if env else Path.cwd()
    start = start.resolve()
    if (start / SETTINGS_FILE).is_file():
        return start
    raise ProjectNotFoundError(
        f"aucun projet d'observatoire dans {start} (fichier {SETTINGS_FILE} absent) : "
        "créez-en un avec « observatoire init DOSSIER » ou indiquez-le avec --projet DOSSIER"
    )


def load_settings(project: Path | None = None) -> Settings:
    """Read and validate the settings of the project in ``project`` (or the current folder)."""
    root = find_project(project)
    path = root / SETTINGS_FILE
    return parse_settings(path.read_text(encoding="utf-8"), root=root, path=path)


def render_settings(
    *,
    nom: str,
    cog: int = SUPPORTED_COG[-1],
    titre: str | None = None,
    references: tuple[str, ...] = ("FR",),
    couleurs: tuple[str, str, str] = ("#1b4f72", "#5dade2", "#e67e22"),
) -> str:
    """The text of a fresh ``observatoire.toml`` with comments for the analyst."""
    refs = ", ".join(f'"{r}"' for r in references)
    title = titre or nom
    return f"""# Projet d'observatoire territorial — réglages
# Référence des clés : docs/projet.md du paquet observatoire.

[projet]
nom = "{_escape(nom)}"
# Millésime du Code officiel géographique cible : toutes les sources y sont ramenées.
cog = {cog}
# Dossiers relatifs au dossier du projet.
donnees = "donnees"
entrepot = "entrepot.duckdb"
sorties = "sorties"

[charte]
titre = "{_escape(title)}"
# Chemin d'un logo (PNG ou SVG) relatif au dossier du projet ; vide = pas de logo.
logo = ""
couleur_principale = "{couleurs[0]}"
couleur_secondaire = "{couleurs[1]}"
couleur_accent = "{couleurs[2]}"

[comparaisons]
# Territoires de référence auxquels chaque portrait est comparé
# (codes INSEE, SIREN d'EPCI, « FR » ou identifiants de territoires.yaml).
references = [{refs}]
"""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
