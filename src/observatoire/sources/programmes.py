"""ANCT lists of the communes of national programmes: Action Cœur de Ville (ACV) and Petites
villes de demain (PVD) → table ``programmes_communes`` (dataset ``programmes_anct``).

The lists are published by the ANCT as GeoJSON (points, e.g. ``coeurdeville.js`` of
``anct-carto/action_coeur_de_ville``: properties ``insee_com, id_acv, lib_com, …``), CSV or
XLSX (``insee_com, lib_com, id_pvd, date_signature…``). Detection, on the attribute names
whatever their case, accents, spaces or underscores: a commune code field (``insee_com``,
``code_insee``, ``code_commune``, ``codgeo``…) AND either an ``id_acv`` / ``id_pvd`` field or a
``programme`` field whose first values name a programme (``ACV``, ``Action Cœur de Ville``,
``ACV 2``, ``PVD``, ``Petites villes de demain``…). XLSX: the header may follow title lines.

Output, one row per commune and programme (level ``point``: rows, not commune aggregates —
the loader keeps the source code and adds ``code_commune_cog`` and ``cog_status``, it never
merges rows): ``code_commune`` (5 characters), ``programme`` (``acv`` or ``pvd``),
``identifiant`` (the programme's id for the commune, ``id_acv`` / ``id_pvd``, NULL when empty —
two communes of an ACV pair share one id) and ``libelle_commune`` (NULL when absent).

- Which programme: the ``programme`` field when present (the id is then read from the id field
  of that programme, if any); else the one id field; with both id fields and no ``programme``
  field, a row gives one row per filled id (neither filled is an error).
- Codes stored as numbers lost their leading zero (``1004`` in ANCT's GeoJSON for ``01004``):
  4-digit codes are zero-padded and counted as repairs; ``2A004`` / ``2B033`` are kept as
  they are. Any other code (empty, 3 or 6 characters…), an unknown programme or a commune
  listed twice for one programme raises :class:`InputError` with the file, the line (CSV: text
  line; XLSX: Excel row; GeoJSON and other geographic files: « entité N », the feature's rank)
  and the field.
- Vintage: the latest year of the date fields (``date_signature``…) when they hold one, else a
  year in the file name (``pvd_2024.csv``, ``liste_20200122.csv``), else ``sans millésime``
  (with a warning). Files of one vintage are stored per file name, like DVF or geometries.
"""

from __future__ import annotations

import csv
import numbers
import re
import warnings
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np
import pandas as pd

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.cog_tables import head_rows, read_sheet
from observatoire.sources.dvf import COMMUNE_PATTERN, fold, iter_text_batches
from observatoire.sources.registry import register

DATASET = "programmes_anct"
TABLE = "programmes_communes"
COLUMNS = ("code_commune", "programme", "identifiant", "libelle_commune")
PROGRAMMES = {"acv": "Action Cœur de Ville", "pvd": "Petites villes de demain"}
NO_VINTAGE = "sans millésime"

# Header keys (see ``_key``), in order of preference.
_CODE_NAMES = (
    "insee com",
    "code insee",
    "code commune",
    "code insee commune",
    "codgeo",
    "depcom",
    "insee",
)
_NAME_NAMES = ("lib com", "libelle commune", "nom commune", "libgeo", "commune", "nom", "libelle")
_ID_NAMES = {"acv": "id acv", "pvd": "id pvd"}
_PROGRAMME_NAME = "programme"
_EMPTY = {"", "na", "nan", "null", "none"}  # identifiers and labels: R / pandas exports
_ACV = re.compile(r"(?:programme )?(?:acv|action coeur de villes?)(?: ?[12])?")
_PVD = re.compile(r"(?:programme )?(?:pvd|petites? villes? de demain)")
_YEAR = re.compile(r"(?<!\d)(20\d{2})(?:[01]\d[0-3]\d)?(?!\d)")  # 2024, 2024-…, 20240131


def programme_of(value: object) -> str | None:
    """``acv`` / ``pvd`` for a programme's name or abbreviation, else None."""
    text = str(value).replace("œ", "oe").replace("Œ", "OE")
    key = re.sub(r"[^a-z0-9]+", " ", fold(text)).strip()
    if _ACV.fullmatch(key):
        return "acv"
    if _PVD.fullmatch(key):
        return "pvd"
    return None


def _key(name: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", fold(str(name))).strip()


@dataclass(frozen=True)
class _Layout:
    code: str
    name: str | None
    ids: dict[str, str] = field(default_factory=dict)  # programme → id field
    programme: str | None = None
    dates: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        wanted = (self.code, self.name, self.programme, *self.ids.values(), *self.dates)
        return list(dict.fromkeys(c for c in wanted if c))


def _layout(columns: list[str] | tuple[str, ...]) -> _Layout | None:
    by_key: dict[str, str] = {}
    for column in columns:
        if str(column).strip():
            by_key.setdefault(_key(column), column)
    code = next((by_key[n] for n in _CODE_NAMES if n in by_key), None)
    ids = {p: by_key[k] for p, k in _ID_NAMES.items() if k in by_key}
    programme = by_key.get(_PROGRAMME_NAME)
    if code is None or not (ids or programme):
        return None
    name = next((by_key[n] for n in _NAME_NAMES if n in by_key and by_key[n] != code), None)
    dates = tuple(c for k, c in by_key.items() if k.startswith("date"))
    return _Layout(code=code, name=name, ids=ids, programme=programme, dates=dates)


def _find(file: SniffedFile) -> tuple[_Layout, int] | None:
    """The layout and, for a workbook, the index of its header row in the sniffed head."""
    if file.kind in ("csv", "geo"):
        layout = _layout(file.columns)
        return (layout, 0) if layout else None
    if file.kind == "xlsx":
        for index, row in enumerate(head_rows(file)):
            layout = _layout(row)
            if layout:
                return layout, index
    return None


# --------------------------------------------------------------------------------------------
# Reading any of the three formats as text, with the place of every row.
# --------------------------------------------------------------------------------------------


@dataclass
class _Rows:
    values: pd.DataFrame  # every cell as stripped text, "" when empty
    first: int  # line (text), Excel row (xlsx) or feature rank (geo) of the first row
    features: bool = False  # geographic file: places are feature ranks, not lines


def _text(value: object) -> str:
    """A geographic attribute as text (codes stored as numbers without ``.0``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if np.isnan(number):
            return ""
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value).strip()


def _read_geo(file: SniffedFile, columns: list[str], limit: int | None = None) -> pd.DataFrame:
    import pyogrio

    layer = file.sheets[0] if file.sheets else None
    try:
        with warnings.catch_warnings():
            # GDAL types a field of mixed numbers and strings as JSON text: it warns, and the
            # values are what we want (text).
            warnings.simplefilter("ignore")
            frame = pyogrio.read_dataframe(
                file.path, layer=layer, columns=columns, read_geometry=False, max_features=limit
            )
    except Exception as exc:  # pyogrio raises DataSourceError and others
        raise InputError(f"attributs illisibles ({exc})", path=file.label) from exc
    return pd.DataFrame({c: frame[c].map(_text).astype("str") for c in columns})


def _rows(file: SniffedFile) -> tuple[_Layout, _Rows]:
    found = _find(file)
    if found is None:  # the file changed since it was sniffed
        raise InputError("liste de communes d'un programme non reconnue", path=file.label)
    layout = found[0]
    if file.kind == "xlsx":
        values, _, header_row = read_sheet(file, file.sheets[0], lambda c: _layout(c) is not None)
        layout = _layout(list(values.columns)) or layout
        rows = _Rows(values[layout.columns], first=header_row + 1)
    elif file.kind == "geo":
        rows = _Rows(_read_geo(file, layout.columns), first=1, features=True)
    else:
        frames = [f for _, f in iter_text_batches(file, include=layout.columns)]
        values = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        rows = _Rows(values.apply(lambda s: s.str.strip()) if len(values) else values, first=2)
    if rows.values.empty:
        raise InputError("aucune ligne de données", path=file.label)
    return layout, rows


def _fail_at(
    rows: _Rows, position: int, message: str, shown: object, file: SniffedFile, column: str
) -> None:
    place = rows.first + position
    if rows.features:
        raise InputError(
            f"{message} : « {shown} » (entité {place})", path=file.label, column=column
        )
    raise InputError(f"{message} : « {shown} »", path=file.label, line=place, column=column)


def _fail(
    rows: _Rows, mask: pd.Series, shown: pd.Series, message: str, file: SniffedFile, column: str
) -> None:
    """Raise for the first flagged row."""
    if mask.any():
        position = int(np.argmax(mask.to_numpy(dtype=bool)))
        _fail_at(rows, position, message, shown.iloc[position], file, column)


def _head_programmes(file: SniffedFile, layout: _Layout, header: int) -> set[str]:
    """Programmes named in the first values of the ``programme`` field."""
    assert layout.programme is not None
    if file.kind == "csv":
        index = file.columns.index(layout.programme)
        lines = csv.reader(file.head, delimiter=file.separator or ",")
        values = [row[index] for row in lines if len(row) > index]
    elif file.kind == "xlsx":
        rows = head_rows(file)
        index = rows[header].index(layout.programme)
        values = [row[index] for row in rows[header + 1 :] if len(row) > index]
    else:
        values = _read_geo(file, [layout.programme], limit=20)[layout.programme].tolist()
    return {p for p in map(programme_of, values) if p}


def _vintage(file: SniffedFile, layout: _Layout, rows: _Rows | None) -> str | None:
    years = []
    if rows is not None:
        for column in layout.dates:
            for value in rows.values[column].unique():
                years += [int(match.group(1)) for match in _YEAR.finditer(value)]
    if not years:
        name = PurePath(file.member or file.path.name).name
        years = [int(match.group(1)) for match in _YEAR.finditer(name)]
    return str(max(years)) if years else None


def _label(programmes: set[str], vintage: str | None) -> str:
    names = [PROGRAMMES[p] for p in PROGRAMMES if p in programmes] or list(PROGRAMMES.values())
    if len(names) == 1:
        text = f"ANCT — communes du programme {names[0]}"
    else:
        text = f"ANCT — communes des programmes {' et '.join(names)}"
    return f"{text}, {vintage}" if vintage else text


def _blank_to_na(values: pd.Series) -> pd.Series:
    text = values.astype("str").str.strip()
    return text.mask(text.str.lower().isin(_EMPTY))


class ProgrammesReader:
    """ANCT lists of the communes of Action Cœur de Ville and Petites villes de demain."""

    name = "programmes"

    def sniff(self, file: SniffedFile) -> Detection | None:
        found = _find(file)
        if found is None:
            return None
        layout, header = found
        head = set()
        if not layout.ids:
            head = _head_programmes(file, layout, header)
            if not head:  # a « programme » field of another kind of list
                return None
        try:
            rows: _Rows | None = _rows(file)[1]
        except InputError:  # read() will say what is wrong, with its line
            rows = None
        if layout.programme and rows is not None:
            present = {p for p in map(programme_of, rows.values[layout.programme].unique()) if p}
        else:
            present = set(layout.ids) | head
        vintage = _vintage(file, layout, rows)
        return Detection(
            dataset=DATASET,
            vintage=vintage or NO_VINTAGE,
            level="point",
            label=_label(present, vintage),
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        layout, rows = _rows(file)
        values = rows.values
        raw = values[layout.code]
        short = raw.str.fullmatch(r"\d{4}")
        codes = raw.where(~short, "0" + raw)
        _fail(rows, raw == "", raw, "code commune manquant", file, layout.code)
        bad = ~codes.str.fullmatch(COMMUNE_PATTERN)
        _fail(rows, bad, raw, "code commune invalide (5 caractères attendus)", file, layout.code)
        names = (
            _blank_to_na(values[layout.name])
            if layout.name
            else pd.Series(pd.NA, index=values.index, dtype="str")
        )
        ids = {p: _blank_to_na(values[c]) for p, c in layout.ids.items()}
        parts = self._programmes(layout, rows, ids, file)
        out = pd.concat(
            [
                pd.DataFrame(
                    {
                        "row": rows_index,
                        "code_commune": codes.loc[rows_index].to_numpy(),
                        "programme": programme,
                        "identifiant": identifiant.loc[rows_index].to_numpy(),
                        "libelle_commune": names.loc[rows_index].to_numpy(),
                    }
                )
                for programme, rows_index, identifiant in parts
            ],
            ignore_index=True,
        ).sort_values(["row", "programme"], kind="stable")
        twice = out.duplicated(["code_commune", "programme"])
        if twice.any():
            first = out[twice].iloc[0]
            _fail_at(
                rows,
                int(first["row"]),
                f"commune en double dans la liste du programme {PROGRAMMES[first['programme']]}",
                raw.iloc[int(first["row"])],
                file,
                layout.code,
            )
        table = out[list(COLUMNS)].reset_index(drop=True)
        for column in COLUMNS:
            table[column] = table[column].astype("str")
        result = ReadResult(
            detection=detection,
            table=TABLE,
            batches=[table],
            code_column="code_commune",
            repaired=int(short.sum()),
        )
        if result.repaired:
            result.warnings.append(
                f"{result.repaired} codes commune à 4 chiffres complétés par un zéro initial"
            )
        if detection.vintage == NO_VINTAGE:
            result.warnings.append(
                "millésime de la liste introuvable (ni date dans le fichier, ni année dans son "
                "nom) : chargée « sans millésime »"
            )
        return result

    @staticmethod
    def _programmes(
        layout: _Layout, rows: _Rows, ids: dict[str, pd.Series], file: SniffedFile
    ) -> list[tuple[str, pd.Index, pd.Series]]:
        """``(programme, rows of that programme, identifiants)`` for each programme found."""
        values = rows.values
        empty = pd.Series(pd.NA, index=values.index, dtype="str")
        if layout.programme:
            text = values[layout.programme]
            programme = text.map(programme_of)
            _fail(rows, text == "", text, "programme manquant", file, layout.programme)
            _fail(
                rows,
                programme.isna(),
                text,
                "programme inconnu (attendu ACV ou « Action Cœur de Ville », PVD ou « Petites "
                "villes de demain »)",
                file,
                layout.programme,
            )
            return [
                (p, values.index[(programme == p).to_numpy()], ids.get(p, empty))
                for p in PROGRAMMES
                if (programme == p).any()
            ]
        if len(ids) == 1:
            ((p, identifiant),) = ids.items()
            return [(p, values.index, identifiant)]
        neither = ids["acv"].isna() & ids["pvd"].isna()
        columns = f"{layout.ids['acv']} / {layout.ids['pvd']}"
        message = "programme indéterminé (ni id_acv ni id_pvd renseigné) pour la commune"
        _fail(rows, neither, values[layout.code], message, file, columns)
        return [(p, values.index[ids[p].notna().to_numpy()], ids[p]) for p in PROGRAMMES]


register(ProgrammesReader())
