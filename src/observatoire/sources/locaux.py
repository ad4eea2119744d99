"""Relevé de locaux commerciaux: an agency's field survey of commercial cells (methods §6).

Input: the CSV (any separator the sniffer knows: ``;``, ``,``…) or XLSX (first sheet; title
lines above the header are allowed) an agency writes after a field survey, one row per
commercial cell (« local »). Headers are compared without case, accents, spaces or
punctuation (``Code INSEE`` = ``code_insee``); for each role the first listed name present is
used:

- commune (required): ``code_commune``, ``codgeo``, ``code_insee``, ``insee``, ``depcom``;
- status (required): ``vacant``, ``vacance``, ``local_vacant``, ``etat``, ``statut``,
  ``etat_local``, ``statut_local``, ``occupation``, ``occupe``;
- optional: perimeter (``perimetre``, ``id_perimetre``, ``code_perimetre``,
  ``nom_perimetre``…), identifier (``identifiant``, ``id_local``, ``id``…), activity
  (``activite``, ``libelle_activite``…), NAF code (``naf``, ``code_naf``, ``ape``…), floor area
  (``surface_m2``, ``surface``…), survey date (``date_releve``, ``date``, ``annee``…),
  coordinates ``longitude`` / ``latitude`` (``lon``, ``lat``) and ``x`` / ``y`` (``coord_x``,
  ``x_l93``…).

Status → ``vacant`` (boolean). Words mean the same in any status column: ``vacant``,
``vacante``, ``inoccupé``, ``non occupé``, ``vide``, ``libre``, ``inactif`` → true; ``occupé``,
``occupée``, ``actif``, ``active``, ``en activité``, ``exploité``, ``ouvert`` → false (case,
accents, ``-``/``_`` ignored). Yes/no values (``oui``/``non``, ``1``/``0``, ``vrai``/``faux``,
``true``/``false``) take their meaning from the column: yes = vacant in a ``vacant`` /
``vacance`` / ``local_vacant`` column, yes = occupied in an ``occupation`` / ``occupe``
column; in an ``etat`` / ``statut`` column they are ambiguous and refused. Any other value
raises :class:`InputError` naming the file, the line (Excel row for a workbook), the column and
the expected values. An empty status is kept as NULL (vacancy unknown, counted in a warning),
never guessed.

Output, table ``locaux_commerciaux`` (level ``point``, dataset ``releve_locaux``), one row per
local: ``code_commune`` (5 characters as in the file; the loader adds ``code_commune_cog`` and
``cog_status``), ``identifiant``, ``perimetre``, ``vacant`` (boolean), ``etat_releve`` (the
status as written), ``activite``, ``code_naf``, ``surface_m2`` (float), ``date_releve``
(DATE when the value is a full date, else NULL), ``annee_releve`` (integer year), ``longitude``,
``latitude``, ``x``, ``y`` (floats, in the file's system), ``ligne_source`` (line of the CSV
or Excel row, to find the local back in the agency's file). Rows whose read cells are all
empty are skipped. Codes that lost their leading zero are padded and counted; decimal commas
are converted and counted.

Detection: a commune column AND a status column, and no column that identifies another
source (SIRENE, DVF, BPE, LOVAC, census, Filosofi, COG events, ANCT programme lists…): such
files stay with their own reader. Vintage: the survey year(s) of the date column (``2024``,
or ``2023-2024`` when the survey spans two years); without a date, the year in the file name
(``releve_2024.csv``: a field survey has no other place for it; a warning says so); else
``sans millésime``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

import pandas as pd

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.cog_tables import head_rows, pad_sheet_codes, read_sheet
from observatoire.sources.dvf import (
    COMMUNE_PATTERN,
    blank_to_na,
    fail_first,
    fold,
    iter_text_batches,
    pad_digits,
    parse_date,
    parse_decimal,
    year_span,
)
from observatoire.sources.registry import register

DATASET = "releve_locaux"
TABLE = "locaux_commerciaux"
NO_VINTAGE = "sans millésime"

# Role → accepted header keys (see :func:`_key`), in order of preference.
COMMUNE_KEYS = ("code_commune", "codgeo", "code_insee", "insee", "depcom")
STATUS_KEYS = (
    "vacant",
    "vacance",
    "local_vacant",
    "etat",
    "statut",
    "etat_local",
    "statut_local",
    "occupation",
    "occupe",
)
OPTIONAL_KEYS: dict[str, tuple[str, ...]] = {
    "identifiant": ("identifiant", "id_local", "identifiant_local", "numero_local", "id"),
    "perimetre": (
        "perimetre",
        "id_perimetre",
        "perimetre_id",
        "code_perimetre",
        "nom_perimetre",
        "libelle_perimetre",
    ),
    "activite": ("activite", "libelle_activite", "type_activite", "activite_exercee"),
    "code_naf": ("naf", "code_naf", "naf_rev2", "ape", "code_ape"),
    "surface_m2": ("surface_m2", "surface", "surface_totale", "surface_de_vente"),
    "date_releve": (
        "date_releve",
        "date_du_releve",
        "date_enquete",
        "date",
        "annee_releve",
        "annee_enquete",
        "annee",
    ),
    "longitude": ("longitude", "lon", "lng"),
    "latitude": ("latitude", "lat"),
    "x": ("x", "coord_x", "x_l93", "lambert_x"),
    "y": ("y", "coord_y", "y_l93", "lambert_y"),
}
# Meaning of "yes" in a status column: True = vacant, False = occupied, None = ambiguous.
_YES_MEANS = {
    "vacant": True,
    "vacance": True,
    "local_vacant": True,
    "occupation": False,
    "occupe": False,
}
VACANT_WORDS = frozenset(
    {"vacant", "vacante", "vacants", "vacantes", "inoccupe", "inoccupee", "non occupe"}
    | {"non occupee", "vide", "libre", "inactif", "inactive"}
)
OCCUPIED_WORDS = frozenset(
    {"occupe", "occupee", "occupes", "occupees", "actif", "active", "en activite"}
    | {"exploite", "exploitee", "ouvert", "ouverte"}
)
YES = frozenset({"oui", "1", "vrai", "true"})
NO = frozenset({"non", "0", "faux", "false"})
EXPECTED = (
    "valeurs attendues : vacant, inoccupé, vide, libre (local vacant) ou occupé, actif, "
    "en activité, exploité (local occupé) ; oui / non ou 1 / 0 seulement dans une colonne "
    "« vacant » ou « vacance » (oui = vacant) ou « occupation » (oui = occupé)"
)
# Header keys (or key patterns) that identify another source's file.
_FOREIGN_KEYS = frozenset(
    {
        "codecommuneetablissement",  # SIRENE
        "etatadministratifetablissement",
        "activiteprincipaleetablissement",
        "id_mutation",  # DVF (Etalab, DGFiP)
        "date_mutation",
        "nature_mutation",
        "valeur_fonciere",
        "no_disposition",
        "code_service_ch",
        "identifiant_de_document",
        "typequ",  # BPE
        "nb_equip",
        "facility_type",
        "com_av",  # COG events and lists
        "typecom",
        "date_eff",
        "id_acv",  # ANCT programme lists (Action Cœur de Ville, Petites villes de demain)
        "id_pvd",
        "programme",
    }
)
_FOREIGN_PATTERN = re.compile(
    r"^(?:(?:pp|ff)_\w+|codgeo_\d{2}|[pc]\d{2}_\w+|(?:nbmenfisc|med|tp60)\d{2})$"
)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_DATE_PART = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})(?:[ T].*)?$")
COLUMNS = (
    "code_commune",
    "identifiant",
    "perimetre",
    "vacant",
    "etat_releve",
    "activite",
    "code_naf",
    "surface_m2",
    "date_releve",
    "annee_releve",
    "longitude",
    "latitude",
    "x",
    "y",
    "ligne_source",
)
_TEXT = ("identifiant", "perimetre", "activite", "code_naf")
_FLOATS = ("surface_m2", "longitude", "latitude", "x", "y")


def _key(name: str) -> str:
    """Header comparison key: lower case, no accents, words joined by ``_`` (``m²`` → ``m2``)."""
    return re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")


def _value_key(value: str) -> str:
    """Status comparison key: lower case, no accents, ``-``/``_`` as spaces, single spaces."""
    return " ".join(fold(value).replace("-", " ").replace("_", " ").split())


def _layout(names: list[str] | tuple[str, ...]) -> dict[str, str] | None:
    """Role → header name as written, when ``names`` is a survey header; else None."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(_key(name), name)
    if any(k in _FOREIGN_KEYS or _FOREIGN_PATTERN.match(k) for k in by_key):
        return None
    commune = next((by_key[k] for k in COMMUNE_KEYS if k in by_key), None)
    status = next((by_key[k] for k in STATUS_KEYS if k in by_key), None)
    if commune is None or status is None:
        return None
    layout = {"code_commune": commune, "etat": status}
    for role, keys in OPTIONAL_KEYS.items():
        found = next((by_key[k] for k in keys if k in by_key), None)
        if found is not None and found not in layout.values():
            layout[role] = found
    return layout


def _header_layout(file: SniffedFile) -> tuple[dict[str, str] | None, int | None]:
    """The layout and, for a workbook, the index of its header among the first rows."""
    if file.kind == "csv":
        return _layout(file.columns), None
    if file.kind == "xlsx":
        for index, row in enumerate(head_rows(file)):
            layout = _layout([cell for cell in row if cell])
            if layout is not None:
                return layout, index
    return None, None


def _is_header(cells: list[str]) -> bool:
    return _layout([cell for cell in cells if cell]) is not None


def _raw_batches(
    file: SniffedFile, layout: dict[str, str], *, strict: bool = True
) -> Iterator[tuple[int, pd.DataFrame, pd.DataFrame | None]]:
    """``(line of the first row, frame of strings, numeric flags or None)`` per batch."""
    wanted = list(dict.fromkeys(layout.values()))
    if file.kind == "xlsx":
        values, numeric, header_row = read_sheet(file, file.sheets[0], _is_header)
        yield header_row + 1, values[wanted], numeric[wanted]
        return
    for line0, frame in iter_text_batches(file, include=wanted, strict=strict):
        yield line0, frame, None


def _survey_years(file: SniffedFile, layout: dict[str, str]) -> list[int]:
    """Years found in the date column (lenient: the reading itself reports bad values)."""
    column = layout.get("date_releve")
    if column is None:
        return []
    years: set[int] = set()
    try:
        for _, frame, _ in _raw_batches(file, {"date_releve": column}, strict=False):
            found = frame[column].astype("str").str.extract(_YEAR, expand=False).dropna()
            years.update(int(y) for y in found.unique())
    except InputError:
        return sorted(years)
    return sorted(years)


def _name_year(file: SniffedFile) -> str | None:
    name = PurePosixPath(file.member).name if file.member else file.path.name
    found = _YEAR.findall(name)
    return found[-1] if found else None


def _vintage(file: SniffedFile, layout: dict[str, str]) -> tuple[str, bool]:
    """The vintage and whether it came from the file name."""
    years = _survey_years(file, layout)
    if years:
        return year_span(years), False
    from_name = _name_year(file)
    return (from_name, True) if from_name else (NO_VINTAGE, False)


class LocauxReader:
    """An agency's field survey of commercial cells (relevé de locaux commerciaux)."""

    name = "locaux"

    def sniff(self, file: SniffedFile) -> Detection | None:
        layout, _ = _header_layout(file)
        if layout is None:
            return None
        vintage, _ = _vintage(file, layout)
        return Detection(
            dataset=DATASET,
            vintage=vintage,
            level="point",
            label=f"Relevé de locaux commerciaux (enquête de terrain) {vintage}",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        layout, _ = _header_layout(file)
        if layout is None:  # pragma: no cover - sniff() requires it
            raise InputError("colonnes commune et état du local introuvables", path=file.label)
        result = ReadResult(
            detection=detection, table=TABLE, batches=[], code_column="code_commune"
        )
        counts = {"padded": 0, "commas": 0, "unknown": 0}
        frames = [
            self._convert(frame, numeric, line0, file, layout, counts)
            for line0, frame, numeric in _raw_batches(file, layout)
        ]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if table.empty:
            raise InputError("aucun local dans le relevé", path=file.label)
        result.batches = [table[list(COLUMNS)]]
        result.repaired = counts["padded"] + counts["commas"]
        if counts["padded"]:
            result.warnings.append(f"{counts['padded']} codes commune complétés par des zéros")
        if counts["commas"]:
            result.warnings.append(f"{counts['commas']} nombres à virgule décimale convertis")
        if counts["unknown"]:
            result.warnings.append(
                f"{counts['unknown']} locaux sans état renseigné (vacance inconnue, laissée vide)"
            )
        duplicated = table["identifiant"].dropna()
        duplicated = int(duplicated.duplicated().sum())
        if duplicated:
            result.warnings.append(f"{duplicated} identifiants de local en double")
        if _vintage(file, layout)[1]:
            result.warnings.append(
                f"millésime {detection.vintage} lu dans le nom du fichier (aucune date de relevé)"
            )
        return result

    @staticmethod
    def _convert(
        frame: pd.DataFrame,
        numeric: pd.DataFrame | None,
        line0: int,
        file: SniffedFile,
        layout: dict[str, str],
        counts: dict[str, int],
    ) -> pd.DataFrame:
        frame = frame.astype("str").apply(lambda column: column.str.strip())
        filled = (frame != "").any(axis=1)
        lines = pd.Series(range(line0, line0 + len(frame)), index=frame.index)

        def check(mask: pd.Series, column: str, message: str) -> None:
            # empty rows are skipped: never an error
            fail_first(mask & filled, frame[column], message, file, line0, column)

        out = pd.DataFrame(index=frame.index)
        commune = layout["code_commune"]
        if numeric is not None:
            codes, padded = pad_sheet_codes(frame[commune], numeric[commune], 5)
        else:
            codes, padded = pad_digits(frame[commune], 5)
        counts["padded"] += padded
        check(codes == "", commune, "code commune manquant")
        check(
            (codes != "") & ~codes.str.fullmatch(COMMUNE_PATTERN),
            commune,
            "code commune invalide (5 caractères attendus)",
        )
        out["code_commune"] = codes
        out["vacant"], unknown = _status(frame, layout["etat"], check)
        counts["unknown"] += int((unknown & filled).sum())
        out["etat_releve"] = blank_to_na(frame[layout["etat"]])
        for role in _TEXT:
            column = layout.get(role)
            out[role] = blank_to_na(frame[column]) if column else _nulls(frame, "str")
        for role in _FLOATS:
            column = layout.get(role)
            if column is None:
                out[role] = _nulls(frame, "Float64")
                continue
            text = frame[column].where(filled, "")
            out[role], commas = parse_decimal(text, file, line0, column)
            counts["commas"] += commas
        if "surface_m2" in layout:
            check(out["surface_m2"].fillna(0) < 0, layout["surface_m2"], "surface négative")
        for role, limit in (("longitude", 180), ("latitude", 90)):
            if role in layout:
                check(
                    out[role].abs().fillna(0) > limit,
                    layout[role],
                    f"{role} hors de [-{limit}, {limit}] (coordonnées projetées ? utilisez les "
                    "colonnes « x » et « y »)",
                )
        column = layout.get("date_releve")
        text = frame[column] if column else pd.Series("", index=frame.index, dtype="str")
        years = text.str.extract(_YEAR, expand=False)
        if column:
            check(
                (text != "") & years.isna(),
                column,
                "date de relevé illisible (une année est attendue : 2024, 15/06/2024, 2024-06-15)",
            )
        day = text.str.extract(_DATE_PART, expand=False).fillna("").where(filled, "")
        formats = ("%Y-%m-%d", "%d/%m/%Y")
        out["date_releve"] = parse_date(day, file, line0, column or "date", formats=formats)
        out["annee_releve"] = pd.to_numeric(years, errors="coerce").astype("Int64")
        out["ligne_source"] = lines.astype("Int64")
        return out[filled].reset_index(drop=True)


def _nulls(frame: pd.DataFrame, dtype: str) -> pd.Series:
    return pd.Series(pd.NA, index=frame.index, dtype=dtype)


def _status(frame: pd.DataFrame, column: str, check) -> tuple[pd.Series, pd.Series]:
    """``vacant`` (boolean, NULL when empty) and the mask of empty statuses."""
    keys = frame[column].map(_value_key)
    yes_means = _YES_MEANS.get(_key(column))
    vacant = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    vacant[keys.isin(VACANT_WORDS)] = True
    vacant[keys.isin(OCCUPIED_WORDS)] = False
    yes, no = keys.isin(YES), keys.isin(NO)
    if yes_means is None:
        check(
            yes | no,
            column,
            f"valeur oui / non ambiguë dans la colonne « {column} » (vacant ou occupé ?) ; "
            "écrivez vacant / occupé, ou nommez la colonne « vacant » (oui = vacant) ou "
            "« occupation » (oui = occupé)",
        )
    else:
        vacant[yes] = yes_means
        vacant[no] = not yes_means
    empty = keys == ""
    check(vacant.isna() & ~empty, column, f"état du local non reconnu ({EXPECTED})")
    return vacant, empty


register(LocauxReader())
