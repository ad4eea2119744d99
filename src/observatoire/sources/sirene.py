"""SIRENE establishments (INSEE ``StockEtablissement``, and Etalab's geolocated "géo-SIRENE").

Table ``sirene_etablissements``, one row per establishment (level ``point``, commune code in
``code_commune``). Only the columns an observatory needs are read — never names, trade names
(``enseigne``, ``denominationUsuelle``) nor addresses, which identify individual
entrepreneurs:

``siret, siren, code_commune, activite_principale, nomenclature_activite,
activite_principale_naf25, etat_administratif, date_creation, date_debut,
date_dernier_traitement, tranche_effectifs, annee_effectifs, caractere_employeur,
statut_diffusion, siege, lambert_x, lambert_y, longitude, latitude, geo_score, geo_type``

(the last four from géo-SIRENE, ``lambert_x/y`` from INSEE's ``coordonneeLambert…`` columns;
NULL when the file lacks them). ``[ND]`` (non-diffusible value of an establishment in partial
diffusion) becomes NULL and is counted in ``secret_cells``. ``code_commune`` is NULL for
establishments abroad. Detection: ``siret``, ``codeCommuneEtablissement`` and
``etatAdministratifEtablissement`` in the header (any case). Vintage: the latest
``dateDernierTraitementEtablissement`` of the file (``YYYY-MM-DD``, the stock's date), read
over the whole file.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.dvf import (
    COMMUNE_PATTERN,
    blank_to_na,
    fail_first,
    iter_text_batches,
    pad_digits,
    parse_date,
    parse_decimal,
    parse_integer,
)
from observatoire.sources.registry import register

NOT_DISCLOSED = "[ND]"
# source column (lower case) → (output column, kind)
COLUMNS: dict[str, tuple[str, str]] = {
    "siret": ("siret", "siret"),
    "siren": ("siren", "str"),
    "codecommuneetablissement": ("code_commune", "commune"),
    "activiteprincipaleetablissement": ("activite_principale", "str"),
    "nomenclatureactiviteprincipaleetablissement": ("nomenclature_activite", "str"),
    "activiteprincipalenaf25etablissement": ("activite_principale_naf25", "str"),
    "etatadministratifetablissement": ("etat_administratif", "str"),
    "datecreationetablissement": ("date_creation", "date"),
    "datedebut": ("date_debut", "date"),
    "datederniertraitementetablissement": ("date_dernier_traitement", "date"),
    "trancheeffectifsetablissement": ("tranche_effectifs", "str"),
    "anneeeffectifsetablissement": ("annee_effectifs", "int"),
    "caractereemployeuretablissement": ("caractere_employeur", "str"),
    "statutdiffusionetablissement": ("statut_diffusion", "str"),
    "etablissementsiege": ("siege", "bool"),
    "coordonneelambertabscisseetablissement": ("lambert_x", "float"),
    "coordonneelambertordonneeetablissement": ("lambert_y", "float"),
    "longitude": ("longitude", "float"),
    "latitude": ("latitude", "float"),
    "geo_score": ("geo_score", "float"),
    "geo_type": ("geo_type", "str"),
}
REQUIRED = ("siret", "codecommuneetablissement", "etatadministratifetablissement")


def _latest_date(file: SniffedFile, column: str) -> str | None:
    """The latest ``YYYY-MM-DD`` of a column over the whole file."""
    latest = None
    try:
        for _, frame in iter_text_batches(file, include=[column], strict=False):
            days = frame[column].str.strip().str[:10]
            days = days[days.str.fullmatch(r"\d{4}-\d{2}-\d{2}")]
            if len(days):
                top = days.max()
                latest = top if latest is None or top > latest else latest
    except InputError:
        return latest
    return latest


class SireneReader:
    """SIRENE ``StockEtablissement`` and géo-SIRENE files."""

    name = "sirene"

    def sniff(self, file: SniffedFile) -> Detection | None:
        lower = {c.lower(): c for c in file.columns}
        if file.kind != "csv" or not set(REQUIRED) <= set(lower):
            return None
        treated = lower.get("datederniertraitementetablissement")
        latest = _latest_date(file, treated) if treated else None
        geo = "longitude" in lower and "latitude" in lower
        kind = "géolocalisé (géo-SIRENE)" if geo else "stock des établissements"
        return Detection(
            dataset="sirene_etablissements",
            vintage=latest or "sans millésime",
            level="point",
            label=f"SIRENE — {kind}, mis à jour le {latest or '?'}",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        lower = {c.lower(): c for c in file.columns}
        missing = [lower.get(c, c) for c in REQUIRED if c not in lower]
        if missing:  # pragma: no cover - sniff() requires them
            raise InputError(f"colonnes SIRENE absentes : {', '.join(missing)}", path=file.label)
        wanted = {lower[source]: spec for source, spec in COLUMNS.items() if source in lower}
        result = ReadResult(
            detection=detection,
            table="sirene_etablissements",
            batches=(),
            code_column="code_commune",
        )
        result.batches = self._batches(file, wanted, result)
        return result

    def _batches(
        self, file: SniffedFile, wanted: dict[str, tuple[str, str]], result: ReadResult
    ) -> Iterator[pd.DataFrame]:
        padded = commas = 0
        for line0, frame in iter_text_batches(file, include=list(wanted)):
            out = pd.DataFrame(index=frame.index)
            for source, (name, kind) in wanted.items():
                raw = frame[source].str.strip()
                hidden = raw == NOT_DISCLOSED
                result.secret_cells += int(hidden.sum())
                raw = raw.mask(hidden, "")
                if kind == "date":
                    out[name] = parse_date(raw.str[:10], file, line0, source)
                elif kind in ("float", "int"):
                    parse = parse_decimal if kind == "float" else parse_integer
                    out[name], count = parse(raw, file, line0, source)
                    commas += count
                elif kind == "bool":
                    flags = raw.str.lower()
                    known = flags.isin(["true", "false", ""])
                    fail_first(~known, raw, "valeur true/false attendue", file, line0, source)
                    out[name] = flags.map({"true": True, "false": False}).astype("boolean")
                elif kind == "commune":
                    codes, count = pad_digits(raw, 5)
                    padded += count
                    bad = (codes != "") & ~codes.str.fullmatch(COMMUNE_PATTERN)
                    fail_first(bad, raw, "code commune invalide", file, line0, source)
                    out[name] = blank_to_na(codes)
                elif kind == "siret":
                    fail_first(
                        ~raw.str.fullmatch(r"\d{14}"),
                        raw,
                        "SIRET invalide (14 chiffres attendus)",
                        file,
                        line0,
                        source,
                    )
                    out[name] = raw
                else:
                    out[name] = blank_to_na(raw)
            for name, kind in COLUMNS.values():
                if name in out:
                    continue
                if kind == "date":
                    empty = pd.Series("", index=frame.index, dtype="str")
                    out[name] = parse_date(empty, file, line0, name)
                else:
                    dtype = {"float": "Float64", "int": "Int64", "bool": "boolean"}.get(kind, "str")
                    out[name] = pd.Series(pd.NA, index=frame.index, dtype=dtype)
            yield out[[name for name, _ in COLUMNS.values()]]
        result.repaired = padded + commas
        if padded:
            result.warnings.append(f"{padded} codes commune complétés par des zéros")
        if commas:
            result.warnings.append(f"{commas} nombres à virgule décimale convertis")
        if result.secret_cells:
            result.warnings.append(
                f"{result.secret_cells} valeurs non diffusibles ([ND]) laissées vides"
            )


register(SireneReader())
