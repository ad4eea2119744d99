"""INSEE Base permanente des équipements (BPE): equipments, communal counts, gamme tables.

No real BPE file was available offline: the layouts below follow INSEE's documented files and
are tested on generated files (see the report of the change for what could not be verified).

Readers and tables:

- ``bpe_xy`` → ``bpe_equipements`` (level ``point``, one row per equipment): the geolocated
  files ``bpeAA_ensemble_xy.csv`` (``AN, DEPCOM, DCIRIS, TYPEQU, LAMBERT_X, LAMBERT_Y,
  QUALITE_XY``…, ``;``) and the detailed files of the 2023 overhaul (``BPE23.csv``…: also
  ``DOM, SDOM, LONGITUDE, LATITUDE, EPSG, QUALITE_GEOLOC``…). Detection: ``DEPCOM`` and
  ``TYPEQU`` plus coordinates or ``QUALITE_XY``, and no ``NB_EQUIP``. Kept columns: ``an, reg,
  dep, depcom, dciris, dom, sdom, typequ, lambert_x, lambert_y, longitude, latitude, epsg,
  qualite_xy, qualite_geoloc`` (names, addresses and SIRET of the establishments are dropped).
  ``dom``/``sdom`` are the first one/two characters of ``TYPEQU`` when the file lacks them
  (INSEE's coding of the nomenclature). Coordinates stay in the file's system (Lambert 93 in
  métropole, UTM in the DOM; ``epsg`` when the file gives it).
- ``bpe_com`` → ``bpe_communes`` (level ``commune``, long: ``code, variable, period, value,
  secret, source_column``; ``variable`` = ``source_column`` = ``TYPEQU``, ``value`` = number of
  equipments, additive). Three layouts: long ``DEPCOM``/``CODGEO`` + ``TYPEQU`` + ``NB_EQUIP``
  (IRIS rows, ``DCIRIS``, are summed per commune); INSEE's "dénombrement" file (Melodi layout
  ``GEO, GEO_OBJECT, FACILITY_TYPE, OBS_VALUE, TIME_PERIOD``: rows with ``GEO_OBJECT = COM``,
  ``BPE_MEASURE = FACILITIES`` when present, and a TYPEQU-shaped ``FACILITY_TYPE``; other
  geographies and totals are left out and counted in a warning); wide ``CODGEO`` + one column
  per type (CSV or xlsx). A type absent from a commune is not listed: its count is 0, not
  unknown.
- ``bpe_gammes`` → ``bpe_gammes`` (level ``table``): INSEE's gamme workbook
  (``BPE_gammes_…xlsx``): the header row holding ``TYPEQU`` and ``GAMME``; columns ``typequ,
  libelle_typequ, gamme, typequ_regroupement, libelle_regroupement, libelle_sdom``.

The type dictionary shipped with the package (``catalogue/bpe_types.yaml``, see
:func:`bpe_types`) holds the structure only and no gamme (not verifiable offline).

Vintage: the ``AN``/``TIME_PERIOD`` of the first rows, or a year in the workbook's title lines
or sheet name, else ``sans millésime``.
"""

from __future__ import annotations

import copy
import csv
import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from importlib.resources import files

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from observatoire.errors import ConfigError, InputError
from observatoire.sources import _arrow
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.cog_tables import (
    fail_sheet,
    head_rows,
    pad_sheet_codes,
    read_sheet,
)
from observatoire.sources.dvf import (
    COMMUNE_PATTERN,
    NUMBER_PATTERN,
    blank_to_na,
    check_communes,
    fail_first,
    fold,
    iter_text_batches,
    pad_digits,
    parse_decimal,
)
from observatoire.sources.registry import register

TYPEQU_PATTERN = r"[A-G]\d{3}"
_TYPEQU = re.compile(TYPEQU_PATTERN)
_YEAR = re.compile(r"\b((?:19|20)\d{2})\b")
MIN_WIDE_TYPES = 5
XY_COLUMNS = (
    "an",
    "reg",
    "dep",
    "depcom",
    "dciris",
    "dom",
    "sdom",
    "typequ",
    "lambert_x",
    "lambert_y",
    "longitude",
    "latitude",
    "epsg",
    "qualite_xy",
    "qualite_geoloc",
)
_XY_FLOATS = ("lambert_x", "lambert_y", "longitude", "latitude")
_LONG = ("code", "variable", "period", "value", "secret", "source_column")


# --------------------------------------------------------------------------------------------
# The type dictionary shipped with the package.
# --------------------------------------------------------------------------------------------


@cache
def bpe_catalogue() -> dict:
    """``catalogue/bpe_types.yaml``, checked: domains, vintages, types, regroupements."""
    origin = "catalogue/bpe_types.yaml"
    text = (files("observatoire") / "catalogue" / "bpe_types.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("millesimes"), dict):
        raise ConfigError("table « millesimes » attendue", path=origin)
    domains, gammes = raw.get("domaines") or {}, raw.get("gammes") or []
    for vintage, entry in raw["millesimes"].items():
        for code, spec in (entry.get("types") or {}).items():
            where = f"millésime {vintage}, type {code}"
            if not _TYPEQU.fullmatch(str(code)) or spec.get("domaine") != str(code)[0]:
                raise ConfigError(f"{where} : code ou domaine incohérent", path=origin)
            if spec.get("domaine") not in domains:
                raise ConfigError(f"{where} : domaine inconnu", path=origin)
            if spec.get("gamme") is not None and spec["gamme"] not in gammes:
                raise ConfigError(f"{where} : gamme inconnue « {spec['gamme']} »", path=origin)
        for group, members in (entry.get("regroupements") or {}).items():
            unknown = [m for m in members if m not in (entry.get("types") or {})]
            if unknown:
                raise ConfigError(
                    f"millésime {vintage}, regroupement « {group} » : types inconnus "
                    + ", ".join(unknown),
                    path=origin,
                )
    return raw


def bpe_types(vintage: str) -> pd.DataFrame:
    """Types of a BPE vintage from the shipped dictionary: ``typequ, libelle, domaine,
    libelle_domaine, gamme`` (``gamme`` is NULL: see the YAML header)."""
    catalogue = bpe_catalogue()
    entry = catalogue["millesimes"].get(str(vintage))
    if entry is None:
        known = ", ".join(sorted(catalogue["millesimes"]))
        raise InputError(f"millésime BPE « {vintage} » absent du dictionnaire ({known})")
    rows = [
        {
            "typequ": code,
            "libelle": spec["libelle"],
            "domaine": spec["domaine"],
            "libelle_domaine": catalogue["domaines"][spec["domaine"]],
            "gamme": spec.get("gamme"),
        }
        for code, spec in (entry.get("types") or {}).items()
    ]
    return pd.DataFrame(rows, columns=["typequ", "libelle", "domaine", "libelle_domaine", "gamme"])


# --------------------------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------------------------


def _head_values(file: SniffedFile, column: str) -> list[str]:
    """Values of ``column`` in the sniffed first rows of a delimited file."""
    index = file.upper_columns.index(column)
    rows = csv.reader(file.head, delimiter=file.separator or ";")
    return [row[index].strip() for row in rows if len(row) > index and row[index].strip()]


def _year_of(values: list[str]) -> str | None:
    years = Counter(v[:4] for v in values if re.fullmatch(r"\d{4}", v[:4]))
    return years.most_common(1)[0][0] if years else None


def _upper_map(file: SniffedFile) -> dict[str, str]:
    return {c.upper(): c for c in file.columns}


def _title_year(file: SniffedFile, is_header: Callable[[list[str]], bool]) -> str | None:
    """A year in the first sheet's name or in the title lines above its header row."""
    titles = [*file.sheets[:1]]
    for row in head_rows(file):
        if is_header(row):
            break
        titles.append(" ".join(row))
    found = [match.group(1) for title in titles if (match := _YEAR.search(title))]
    return found[0] if found else None


def _fail_lines(
    mask: pd.Series,
    values: pd.Series,
    lines: pd.Series,
    message: str,
    file: SniffedFile,
    column: str,
) -> None:
    if mask.any():
        position = int(mask.to_numpy(dtype=bool).argmax())
        raise InputError(
            f"{message} : « {values.iloc[position]} »",
            path=file.label,
            line=int(lines.iloc[position]),
            column=column,
        )


# --------------------------------------------------------------------------------------------
# Equipments (one row each).
# --------------------------------------------------------------------------------------------


class BpeEquipmentReader:
    """Geolocated BPE files (one row per equipment)."""

    name = "bpe_xy"

    def sniff(self, file: SniffedFile) -> Detection | None:
        upper = set(file.upper_columns)
        located = upper & {"LAMBERT_X", "LONGITUDE", "QUALITE_XY"}
        if file.kind != "csv" or not {"DEPCOM", "TYPEQU"} <= upper or not located:
            return None
        if "NB_EQUIP" in upper:
            return None
        year = _year_of(_head_values(file, "AN")) if "AN" in upper else None
        return Detection(
            dataset="bpe_xy",
            vintage=year or "sans millésime",
            level="point",
            label=f"Base permanente des équipements {year or '?'} — équipements géolocalisés",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        upper = _upper_map(file)
        wanted = [upper[c.upper()] for c in XY_COLUMNS if c.upper() in upper]
        result = ReadResult(
            detection=detection, table="bpe_equipements", batches=(), code_column="depcom"
        )
        if not {"DOM", "SDOM"} <= set(upper):
            result.warnings.append("domaine et sous-domaine déduits du code TYPEQU")
        result.batches = self._batches(file, wanted, result)
        result.arrow_batches = self._arrow_batches(file, wanted, result)
        return result

    def _batches(
        self, file: SniffedFile, wanted: list[str], result: ReadResult
    ) -> Iterator[pd.DataFrame]:
        counts = [0, 0]  # decimal commas, padded codes
        for line0, frame in iter_text_batches(file, include=wanted):
            yield self._convert(frame, file, line0, counts)
        self._report(result, *counts)

    def _arrow_batches(
        self, file: SniffedFile, wanted: list[str], result: ReadResult
    ) -> Iterator[pa.Table]:
        """The loader's path: :meth:`_batches` with Arrow kernels (see ``_arrow``)."""
        counts = [0, 0]
        try:
            for line0, table in _arrow.iter_arrow_batches(file, include=wanted):
                if not table.num_rows:
                    continue
                try:
                    yield self._fast(table, counts)
                except _arrow.Fallback:
                    frame = self._convert(table.to_pandas(), file, line0, counts)
                    yield pa.Table.from_pandas(frame, preserve_index=False)
        except _arrow.Fallback:  # a malformed line: the reference reading names it
            for _ in self._batches(file, wanted, copy.copy(result)):
                pass
            raise _arrow.unexplained(file) from None
        self._report(result, *counts)

    @staticmethod
    def _convert(frame: pd.DataFrame, file: SniffedFile, line0: int, counts: list[int]):
        frame.columns = [c.lower() for c in frame.columns]
        out = pd.DataFrame(index=frame.index)
        codes, count = pad_digits(frame["depcom"], 5)
        counts[1] += count
        check_communes(codes, frame["depcom"], file, line0, "DEPCOM")
        typequ = frame["typequ"].str.strip()
        fail_first(
            ~typequ.str.fullmatch(TYPEQU_PATTERN),
            frame["typequ"],
            "type d'équipement invalide",
            file,
            line0,
            "TYPEQU",
        )
        for column in XY_COLUMNS:
            if column in _XY_FLOATS:
                raw = frame.get(column, pd.Series("", index=frame.index, dtype="str"))
                out[column], repaired = parse_decimal(raw, file, line0, column.upper())
                counts[0] += repaired
            elif column in frame:
                out[column] = blank_to_na(frame[column])
            else:
                out[column] = pd.Series(pd.NA, index=frame.index, dtype="str")
        out["depcom"], out["typequ"] = codes, typequ
        out["dom"] = out["dom"].fillna(typequ.str[0])
        out["sdom"] = out["sdom"].fillna(typequ.str[:2])
        return out

    @staticmethod
    def _fast(table: pa.Table, counts: list[int]) -> pa.Table:
        """:meth:`_convert` with Arrow kernels; counts change only on success."""
        columns = {c.lower(): _arrow.strip(table.column(c)) for c in table.column_names}
        rows = table.num_rows
        codes, padded = _arrow.pad_digits(columns["depcom"], 5)
        _arrow.check_communes(codes)
        typequ = columns["typequ"]
        if not pc.all(pc.match_substring_regex(typequ, f"^(?:{TYPEQU_PATTERN})$")).as_py():
            raise _arrow.Fallback
        out, commas = {}, 0
        for column in XY_COLUMNS:
            if column in _XY_FLOATS:
                raw = columns.get(column)
                if raw is None:
                    out[column] = pa.nulls(rows, pa.float64())
                else:
                    out[column], repaired = _arrow.decimal(raw)
                    commas += repaired
            elif column in columns:
                out[column] = _arrow.blank_to_null(columns[column])
            else:
                out[column] = pa.nulls(rows, pa.string())
        out["depcom"], out["typequ"] = codes, typequ
        out["dom"] = pc.coalesce(out["dom"], pc.utf8_slice_codeunits(typequ, 0, 1))
        out["sdom"] = pc.coalesce(out["sdom"], pc.utf8_slice_codeunits(typequ, 0, 2))
        counts[0] += commas
        counts[1] += padded
        return pa.table(out)

    @staticmethod
    def _report(result: ReadResult, commas: int, padded: int) -> None:
        result.repaired = commas + padded
        if padded:
            result.warnings.append(f"{padded} codes commune complétés par des zéros")
        if commas:
            result.warnings.append(f"{commas} coordonnées à virgule décimale converties")


# --------------------------------------------------------------------------------------------
# Communal counts.
# --------------------------------------------------------------------------------------------


def _counts_layout(file: SniffedFile) -> str | None:
    upper = set(file.upper_columns)
    if file.kind == "csv":
        if {"TYPEQU", "NB_EQUIP"} <= upper and upper & {"DEPCOM", "CODGEO"}:
            return "long"
        if {"GEO", "GEO_OBJECT", "FACILITY_TYPE", "OBS_VALUE"} <= upper:
            return "melodi"
        types = [c for c in upper if _TYPEQU.fullmatch(c)]
        if "CODGEO" in upper and len(types) >= MIN_WIDE_TYPES:
            return "wide"
        return None
    if file.kind == "xlsx" and any(_wide_header(row) for row in head_rows(file)):
        return "wide"
    return None


def _wide_header(cells: list[str]) -> bool:
    upper = [c.upper() for c in cells]
    return "CODGEO" in upper and sum(bool(_TYPEQU.fullmatch(c)) for c in upper) >= MIN_WIDE_TYPES


class BpeCountsReader:
    """Communal counts of equipments by type."""

    name = "bpe_com"

    def sniff(self, file: SniffedFile) -> Detection | None:
        layout = _counts_layout(file)
        if layout is None:
            return None
        year = None
        if layout == "long" and "AN" in file.upper_columns:
            year = _year_of(_head_values(file, "AN"))
        elif layout == "melodi" and "TIME_PERIOD" in file.upper_columns:
            year = _year_of(_head_values(file, "TIME_PERIOD"))
        elif file.kind == "xlsx":
            year = _title_year(file, _wide_header)
        return Detection(
            dataset="bpe_com",
            vintage=year or "sans millésime",
            level="commune",
            label=f"Base permanente des équipements {year or '?'} — équipements par commune",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        layout = _counts_layout(file)
        result = ReadResult(
            detection=detection,
            table="bpe_communes",
            batches=[],
            code_column="code",
            absent_means_zero=True,
        )
        wide = layout == "wide"
        counts = self._wide(file, result) if wide else self._long(file, layout, result)
        if counts.empty:
            raise InputError("aucun dénombrement d'équipements par commune", path=file.label)
        period = detection.vintage if detection.vintage != "sans millésime" else None
        if "period" not in counts:
            counts["period"] = period
        counts = counts.groupby(["code", "typequ", "period"], dropna=False, as_index=False)[
            "value"
        ].sum(min_count=1)
        source = counts["typequ"].astype("str")
        if counts["period"].nunique(dropna=False) > 1:  # one source column per type and year
            source = source + "_" + counts["period"].astype("str")
        table = pd.DataFrame(
            {
                "code": counts["code"].astype("str"),
                "variable": counts["typequ"].astype("str"),
                "period": counts["period"].astype("str"),
                "value": counts["value"].astype("Float64"),
                "secret": False,
                "source_column": source,
            }
        )
        result.batches = [table[list(_LONG)]]
        result.count_columns = tuple(sorted(table["source_column"].unique()))
        return result

    def _long(self, file: SniffedFile, layout: str | None, result: ReadResult) -> pd.DataFrame:
        upper = _upper_map(file)
        if layout == "long":
            code = upper.get("DEPCOM") or upper["CODGEO"]
            names = {code: "code", upper["TYPEQU"]: "typequ", upper["NB_EQUIP"]: "value"}
            if "AN" in upper:
                names[upper["AN"]] = "period"
        else:
            names = {
                upper["GEO"]: "code",
                upper["GEO_OBJECT"]: "geo_object",
                upper["FACILITY_TYPE"]: "typequ",
                upper["OBS_VALUE"]: "value",
            }
            for extra, target in (("TIME_PERIOD", "period"), ("BPE_MEASURE", "measure")):
                if extra in upper:
                    names[upper[extra]] = target
        code_name = next(k for k, v in names.items() if v == "code")
        value_name = next(k for k, v in names.items() if v == "value")
        frames, left_out, padded = [], 0, 0
        for line0, frame in iter_text_batches(file, include=list(names)):
            frame = frame.rename(columns=names).apply(lambda column: column.str.strip())
            lines = pd.Series(range(line0, line0 + len(frame)), index=frame.index)
            if layout == "melodi":  # only commune rows of a type: checked on those only
                keep = (frame["geo_object"] == "COM") & frame["typequ"].str.fullmatch(
                    TYPEQU_PATTERN
                )
                if "measure" in frame:
                    keep &= frame["measure"] == "FACILITIES"
                left_out += int((~keep).sum())
                frame, lines = frame[keep], lines[keep]
            text = frame["value"].str.replace(",", ".", regex=False)
            _fail_lines(
                ~text.str.fullmatch(NUMBER_PATTERN) & (text != ""),
                frame["value"],
                lines,
                "nombre illisible",
                file,
                value_name,
            )
            values = pd.to_numeric(text.mask(text == ""), errors="coerce").astype("Float64")
            codes, count = pad_digits(frame["code"], 5)
            padded += count
            _fail_lines(
                ~codes.str.fullmatch(COMMUNE_PATTERN),
                frame["code"],
                lines,
                "code commune invalide",
                file,
                code_name,
            )
            _fail_lines(
                ~frame["typequ"].str.fullmatch(TYPEQU_PATTERN),
                frame["typequ"],
                lines,
                "type d'équipement invalide",
                file,
                "TYPEQU",
            )
            part = pd.DataFrame({"code": codes, "typequ": frame["typequ"], "value": values})
            if "period" in frame:
                part["period"] = frame["period"].str[:4]
            frames.append(part)
        if left_out:
            result.warnings.append(
                f"{left_out} lignes d'autres niveaux géographiques ou de totaux écartées"
            )
        if padded:
            result.repaired += padded
            result.warnings.append(f"{padded} codes commune complétés par des zéros")
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _wide(self, file: SniffedFile, result: ReadResult) -> pd.DataFrame:
        if file.kind == "xlsx":
            values, numeric, header_row = read_sheet(file, file.sheets[0], _wide_header)
            row0 = header_row + 1
        else:
            frames = [frame for _, frame in iter_text_batches(file)]
            values = pd.concat(frames, ignore_index=True)
            numeric = pd.DataFrame(False, index=values.index, columns=values.columns)
            row0 = 2
        upper = {c.upper(): c for c in values.columns}
        code_column = upper["CODGEO"]
        if file.kind == "xlsx":
            codes, padded = pad_sheet_codes(values[code_column], numeric[code_column], 5)
        else:
            codes, padded = pad_digits(values[code_column], 5)
        fail_sheet(
            ~codes.str.fullmatch(COMMUNE_PATTERN),
            codes,
            "code commune invalide",
            file,
            row0,
            code_column,
        )
        types = [c for c in values.columns if _TYPEQU.fullmatch(c.upper())]
        parsed = {}
        for column in types:
            parsed[column.upper()], _ = parse_decimal(values[column], file, row0, column)
        wide = pd.DataFrame(parsed).assign(code=codes)
        long = wide.melt(id_vars="code", var_name="typequ", value_name="value")
        if padded:
            result.repaired += padded
            result.warnings.append(f"{padded} codes commune complétés par des zéros")
        return long[long["value"].notna()]


# --------------------------------------------------------------------------------------------
# INSEE's gamme workbook.
# --------------------------------------------------------------------------------------------

_GAMME_COLUMNS = {
    "typequ": "typequ",
    "libelle_typequ": "libelle_typequ",
    "gamme": "gamme",
    "typequ_regroupement": "typequ_regroupement",
    "libelle_typequ_regroupement": "libelle_regroupement",
    "libelle_sdom": "libelle_sdom",
}


def _gamme_header(cells: list[str]) -> bool:
    folded = {fold(c).replace(" ", "_") for c in cells}
    return {"typequ", "gamme"} <= folded


class BpeGammesReader:
    """INSEE's table of the gammes of a BPE vintage (``BPE_gammes_…xlsx``)."""

    name = "bpe_gammes"

    def sniff(self, file: SniffedFile) -> Detection | None:
        rows = head_rows(file)
        if file.kind != "xlsx" or not any(_gamme_header(row) for row in rows):
            return None
        year = _title_year(file, _gamme_header)
        return Detection(
            dataset="bpe_gammes",
            vintage=year or "sans millésime",
            level="table",
            label=f"BPE {year or '?'} — composition des gammes d'équipements",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        values, _, header_row = read_sheet(file, file.sheets[0], _gamme_header)
        by_key = {fold(c).replace(" ", "_"): c for c in values.columns}
        table = pd.DataFrame(index=values.index)
        for key, target in _GAMME_COLUMNS.items():
            source = by_key.get(key)
            column = values[source] if source else pd.Series("", index=values.index)
            table[target] = column.astype("str").str.strip()
        table = table[table["typequ"] != ""]
        fail_sheet(
            ~table["typequ"].str.fullmatch(TYPEQU_PATTERN),
            table["typequ"],
            "type d'équipement invalide",
            file,
            header_row + 1,
            by_key["typequ"],
        )
        table = table.apply(lambda column: column.mask(column == ""))
        return ReadResult(detection=detection, table="bpe_gammes", batches=[table])


register(BpeEquipmentReader())
register(BpeCountsReader())
register(BpeGammesReader())
