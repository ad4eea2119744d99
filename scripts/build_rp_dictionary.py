#!/usr/bin/env python3
"""Build ``src/observatoire/catalogue/rp_dictionary.yaml`` from INSEE's variable dictionaries.

INSEE ships a ``meta_*.CSV`` dictionary with every "base des chiffres clés" (COD_VAR, LIB_VAR,
LIB_VAR_LONG, COD_MOD, LIB_MOD, TYPE_VAR, LONG_VAR; the "dossier complet" one adds THEME and
SOURCE). This script reads those public dictionaries (never a data row) and writes a compact,
vintage-free dictionary: one row per generic variable per theme (``P_LOG``, ``C_MENPSEUL``,
``NAIS``, ``MED``…) with its French label, whether it is additive, and for each base edition
(main census year) the year codes under which the column exists (``P21_LOG`` → ``"21"``).

Usage::

    python scripts/build_rp_dictionary.py                       # reads ../shared/data
    python scripts/build_rp_dictionary.py --data DIR --out FILE

Column names are rebuilt from the dictionary with :func:`column_name` (the readers use the same
rule); the script checks the round trip for every dictionary entry before writing.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "observatoire" / "catalogue" / "rp_dictionary.yaml"
DATA = ROOT.parent / "shared" / "data"

# Theme id -> (dataset id of the communal base or None, French label, core variables).
# Core variables exist in every edition of the base: a file of the theme must have them (at
# its main census year for P_/C_ variables). Hand-chosen from the dictionaries below.
THEMES: dict[str, tuple[str | None, str, tuple[str, ...]]] = {
    "comparateur": (
        "rp_comparateur",
        "base du comparateur de territoires",
        ("P_POP", "SUPERF", "P_LOG", "P_RP", "NBMENFISC", "MED", "ETTOT"),
    ),
    "evol_struct_pop": (
        "rp_evol_struct_pop",
        "évolution et structure de la population",
        ("P_POP", "P_POP0014", "P_POP1529", "P_POP3044", "P_POP4559", "P_POPH", "P_POPF"),
    ),
    "logement": (
        "rp_logement",
        "logement",
        ("P_LOG", "P_RP", "P_RSECOCC", "P_LOGVAC", "P_MAISON", "P_APPART", "P_RP_PROP"),
    ),
    "couples_familles_menages": (
        "rp_couples_familles_menages",
        "couples, familles, ménages",
        ("C_MEN", "C_MENPSEUL", "C_MENFAM", "C_PMEN"),
    ),
    "diplomes_formation": (
        "rp_diplomes_formation",
        "diplômes, formation",
        ("P_NSCOL15P", "P_SCOL0610"),
    ),
    "emploi_pop_active": (
        "rp_emploi_pop_active",
        "emploi, population active",
        ("P_POP1564", "P_ACT1564", "P_ACTOCC1564", "P_CHOM1564", "P_EMPLT"),
    ),
    "activite_residents": (
        "rp_activite_residents",
        "activité des résidents",
        ("P_ACTOCC15P", "P_SAL15P", "P_NSAL15P"),
    ),
    "serie_historique": (
        "rp_serie_historique",
        "séries historiques",
        ("D_POP", "SUPERF"),
    ),
    # Non-census themes of the dossier complet and the comparateur (labels and additivity of
    # their columns; no standalone reader in insee_rp).
    "etat_civil": (None, "naissances et décès domiciliés (état civil)", ()),
    "filosofi_com": (None, "revenus et pauvreté des ménages (Filosofi)", ()),
    "etablissements": (None, "caractéristiques des établissements", ()),
    "demographie_entreprises": (None, "démographie des entreprises", ()),
    "salaires": (None, "salaires et revenus d'activité", ()),
    "tourisme": (None, "tourisme", ()),
    "elections": (None, "élections", ()),
}

DOSSIER_THEMES = {
    "Évolution et structure de la population": "evol_struct_pop",
    "Logement": "logement",
    "Couples - Familles - Ménages": "couples_familles_menages",
    "Diplômes - Formation": "diplomes_formation",
    "Caractéristiques de l'emploi au sens du recensement": "emploi_pop_active",
    "Population active, emploi et chômage au sens du recensement": "activite_residents",
    "Naissances et décès domiciliés": "etat_civil",
    "Revenus et pauvreté des ménages": "filosofi_com",
    "Caractéristiques des établissements": "etablissements",
    "Démographie des entreprises": "demographie_entreprises",
    "Salaires et revenus d'activité": "salaires",
    "Tourisme": "tourisme",
    "Élections": "elections",
}


@dataclass(frozen=True)
class Meta:
    """One INSEE dictionary file and the base edition it describes."""

    path: str  # relative to the data folder
    member: str | None  # member of a zip archive
    theme: str | None  # None: the dossier complet (THEME column)
    complete: bool  # True: the exact column list of the base; False: a subset (dossier)
    published: str  # INSEE file name, recorded in the YAML


METAS = (
    Meta("insee_rp/meta_dossier_complet.csv.gz", None, None, False, "meta_dossier_complet.csv"),
    Meta(
        "insee_rp/meta_base-cc-logement-2021.CSV.gz",
        None,
        "logement",
        True,
        "meta_base-cc-logement-2021.CSV",
    ),
    Meta(
        "insee_rp/meta_base-cc-emploi-pop-active-2020_v2.CSV.gz",
        None,
        "emploi_pop_active",
        True,
        "meta_base-cc-emploi-pop-active-2020_v2.CSV",
    ),
    Meta(
        "insee_rp/base_cc_comparateur_RP2018_csv.zip",
        "meta_base_cc_comparateur.CSV",
        "comparateur",
        True,
        "meta_base_cc_comparateur.CSV",
    ),
    Meta(
        "filosofi/meta_cc_filosofi_2019_COM.csv.gz",
        None,
        "filosofi_com",
        True,
        "meta_cc_filosofi_2019_COM.CSV",
    ),
)

# Geography of each edition (1 January of that year). Evidence: the SOURCE column of the dossier
# complet ("géographie au 01/01/2024"); for the other dictionaries, the list of CODGEO
# modalities (or the data file's codes for the comparateur) matched against INSEE's commune
# events with observatoire.territories.cog: logement 2021 → 2024, emploi 2020 → 2023,
# comparateur RP 2018 → 2021, Filosofi 2019 → 2021.
COG = {
    ("logement", "2021"): 2024,
    ("emploi_pop_active", "2020"): 2023,
    ("comparateur", "2018"): 2021,
    ("filosofi_com", "2019"): 2021,
}

_RP = re.compile(r"^([PCD])(\d{2})_([\w-]+)$")  # C21_MEN-FAM exists
_FLOW = re.compile(r"^(NAIS|DECE)(\d{4})$")
_YEAR_LABEL = re.compile(r"\b((?:19|20)\d{2})\b")
_NON_ADDITIVE = re.compile(r"(?i)(taux|\bpart\b|médiane|moyen|rapport|décile|quartile|indice|%|€)")
_LABEL_NOISE = (
    re.compile(r"\s*\((?:princ|compl|dnbt)\)"),
    re.compile(r"\s+(?:en|fin|au 31 décembre|entre (?:19|20)\d{2} et)\s+(?:19|20)\d{2}\b"),
    re.compile(r"\s+présents la dernière semaine de décembre (?:19|20)\d{2}"),
)


def column_name(variable: str, key: str) -> str:
    """The INSEE column of a generic variable under a year key: P_LOG + "21" → P21_LOG."""
    if len(variable) > 2 and variable[0] in "PCD" and variable[1] == "_":
        return f"{variable[0]}{key}{variable[1:]}"
    return f"{variable}{key}"


def split(name: str, label: str) -> tuple[str, str]:
    """(generic variable, year key) of an INSEE column name, using its label for the year."""
    match = _RP.match(name)
    if match:
        return f"{match.group(1)}_{match.group(3)}", match.group(2)
    match = _FLOW.match(name)
    if match:
        return match.group(1), match.group(2)
    if name == "SUPERF":
        return name, ""
    years = _YEAR_LABEL.findall(label)
    if years and name.endswith(years[-1]):
        # ELECTEURSLP2020 (year 2020) but ETAZ2022 = ETAZ20 ("20 à 49 salariés") + 22.
        two = name[-6:-4]
        if not re.search(rf"(?<!\d){two}(?!\d)", _YEAR_LABEL.sub("", label)):
            return name[:-4], years[-1]
    if re.search(r"\d{2}$", name):
        return name[:-2], name[-2:]
    return name, ""


def clean_label(label: str) -> str:
    for pattern in _LABEL_NOISE:
        label = pattern.sub("", label)
    return re.sub(r"\s+", " ", label).strip()


def read_meta(data: Path, meta: Meta) -> pd.DataFrame:
    path = data / meta.path
    if meta.member:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(meta.member)
    else:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    frame = pd.read_csv(io.BytesIO(raw), sep=";", dtype=str, keep_default_na=False)
    frame = frame[(frame["COD_MOD"] == "") & (frame["COD_VAR"] != "CODGEO")]
    return frame.drop_duplicates("COD_VAR")


def main_year(names: list[str]) -> str:
    years = [int(m.group(2)) for n in names if (m := _RP.match(n)) and m.group(1) in "PC"]
    return str(2000 + max(years)) if years else ""


def build(data: Path) -> tuple[dict, list[dict]]:
    themes: dict[str, dict] = {t: {"editions": {}, "variables": {}} for t in THEMES}
    sources = []
    for meta in METAS:
        frame = read_meta(data, meta)
        names = frame["COD_VAR"].tolist()
        if meta.theme is None:
            # The dossier complet: the census editions by theme; its "dénombrements" variables
            # are the historical series (a base of their own).
            vintage = main_year([n for n in names if n.startswith(("P", "C"))])
            source_text = frame["SOURCE"].iloc[0]
            cog = int(re.search(r"(\d{4})\s*$", source_text).group(1))
            theme_of = [
                "serie_historique" if "dénombrements" in src else DOSSIER_THEMES[theme]
                for theme, src in zip(frame["THEME"], frame["SOURCE"], strict=True)
            ]
        else:
            vintage = main_year(names) or _filosofi_vintage(names)
            cog = COG.get((meta.theme, vintage))
            theme_of = [meta.theme] * len(frame)
        sources.append({"file": meta.published, "vintage": vintage, "cog": cog})
        for name, label, theme in zip(names, frame["LIB_VAR"], theme_of, strict=True):
            variable, key = split(name, label)
            if column_name(variable, key) != name:
                sys.exit(f"aller-retour impossible pour la colonne {name}")
            entry = themes[theme]["variables"].setdefault(
                variable, {"label": clean_label(label), "additive": True, "in": {}}
            )
            entry["additive"] = entry["additive"] and not _NON_ADDITIVE.search(label)
            keys = entry["in"].setdefault(vintage, [])
            if key not in keys:
                keys.append(key)
            edition = themes[theme]["editions"].setdefault(
                vintage, {"cog": cog, "source": meta.published, "complete": meta.complete}
            )
            if meta.complete:  # a base's own dictionary wins over the dossier complet
                edition.update(source=meta.published, complete=True)
                edition["cog"] = cog or edition["cog"]
    return themes, sources


def _filosofi_vintage(names: list[str]) -> str:
    years = {n[-2:] for n in names if n.startswith("MED")}
    return f"20{years.pop()}" if len(years) == 1 else ""


def render(themes: dict, sources: list[dict]) -> str:
    lines = [
        "# Dictionnaire des variables des bases « chiffres clés » de l'INSEE (recensement, état",
        "# civil, Filosofi, établissements…), sans millésime : une ligne par variable générique",
        "# et par thème. GÉNÉRÉ par scripts/build_rp_dictionary.py : ne pas modifier à la main.",
        "#",
        "# Dérivé uniquement des dictionnaires de variables publiés par l'INSEE (fichiers meta_*,",
        "# documentation publique, Licence Ouverte) : noms, libellés et millésimes des variables,",
        "# aucune donnée. Fichiers lus au moment de la construction :",
        *(f"#   - {s['file']} (millésime {s['vintage']}, COG {s['cog']})" for s in sources),
        "#",
        "# var : nom générique (P21_LOG → P_LOG, NAIS1520 → NAIS, MED19 → MED) ;",
        "# in : pour chaque édition (année principale du recensement), les codes d'année sous",
        '#      lesquels la colonne existe (P_LOG + "21" → P21_LOG ; NAIS + "1520" → NAIS1520) ;',
        "# additive : true pour un effectif (sommé lors des fusions de communes), false pour une",
        "#      médiane, un taux, une part, un rapport (jamais sommés).",
        "# editions : complete = true quand la liste est exactement celle de la base (son propre",
        "#      dictionnaire), false quand elle vient du dossier complet (sous-ensemble).",
        "format: 1",
        "themes:",
    ]
    for theme, (dataset, label, core) in THEMES.items():
        content = themes[theme]
        lines.append(f"  {theme}:")
        lines.append(f"    label: {json.dumps(label, ensure_ascii=False)}")
        lines.append(f"    dataset: {dataset or 'null'}")
        lines.append(f"    core: [{', '.join(core)}]")
        lines.append("    editions:")
        for vintage, edition in sorted(content["editions"].items()):
            cog = edition["cog"] if edition["cog"] else "null"
            complete = "true" if edition["complete"] else "false"
            lines.append(
                f'      "{vintage}": {{cog: {cog}, complete: {complete}, '
                f"source: {json.dumps(edition['source'])}}}"
            )
        lines.append("    variables:")
        for variable, entry in content["variables"].items():
            years = ", ".join(
                f'"{v}": [{", ".join(json.dumps(k) for k in keys)}]'
                for v, keys in sorted(entry["in"].items())
            )
            label = json.dumps(entry["label"], ensure_ascii=False)
            lines.append(
                f"      - {{var: {variable}, label: {label}, "
                f"additive: {'true' if entry['additive'] else 'false'}, in: {{{years}}}}}"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="dossier des fichiers meta_*")
    parser.add_argument("--out", type=Path, default=OUT, help="fichier YAML à écrire")
    args = parser.parse_args(argv)
    themes, sources = build(args.data)
    args.out.write_text(render(themes, sources), encoding="utf-8")
    count = sum(len(t["variables"]) for t in themes.values())
    print(f"{args.out} : {count} variables génériques, {len(THEMES)} thèmes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
