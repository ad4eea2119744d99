"""INSEE Filosofi (revenus, pauvreté, niveau de vie): key-figure bases and IRIS files.

Recognition (from the header only):

- ``cc_filosofi_YYYY_COM`` and the files of the same layout for EPCI, départements and régions:
  a code column ``CODGEO`` and the indicators ``NBMENFISC20``, ``MED20``, ``TP6020``…
  (2-digit year suffix), with no census column (``P20_…``: that is the comparateur, read by
  :mod:`observatoire.sources.insee_rp`). The level comes from the codes of the first rows:
  5 characters → commune (arrondissements municipaux kept as in the file), 9 digits → EPCI,
  the 18 region codes → région, other 1-3 character codes → département;
- ``BASE_TD_FILO_IRIS_YYYY_DEC`` / ``_DISP`` (déclaré / disponible): a code column ``IRIS`` and
  ``DEC_MED21``, ``DISP_MED21``… columns (decimal comma).

Vintage = the income year of the suffix (``MED20`` → "2020"). Geography: checked against
INSEE's commune events, Filosofi N is in the COG of 1 January N+2 for the files at hand
(communes 2019 → 2021, 2020 → 2022; IRIS 2021 → 2023); other vintages are left to the loader's
detection (``None``), as INSEE republished some vintages in later geographies.

Output: table ``filosofi``, long (code, variable, period, value, secret, source_column), see
:func:`observatoire.sources.insee_rp.read_long`. Variables lose their year (``MED20`` → ``MED``,
``DISP_MED21`` → ``DISP_MED``). Only the household and person counts (``NBMENFISC``,
``NBPERSMENFISC``) are additive; medians, deciles, rates and shares are kept, never summed.
Secret cells (blank, ``s``, ``nd``; ``ns``/``so`` in IRIS files) are NULL and counted.
"""

from __future__ import annotations

import csv
import re
from collections import Counter

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.insee_rp import (
    CODE_PATTERNS,
    DESCRIPTIVE,
    ColumnSpec,
    code_column_of,
    read_long,
)
from observatoire.sources.registry import register

COM_VARIABLES = (
    "NBMENFISC",
    "NBPERSMENFISC",
    "MED",
    "PIMP",
    "TP60",
    "TP60AGE1",
    "TP60AGE2",
    "TP60AGE3",
    "TP60AGE4",
    "TP60AGE5",
    "TP60AGE6",
    "TP60TOL1",
    "TP60TOL2",
    "PACT",
    "PTSA",
    "PCHO",
    "PBEN",
    "PPEN",
    "PPAT",
    "PPSOC",
    "PPFAM",
    "PPMINI",
    "PPLOGT",
    "PIMPOT",
    "D1",
    "D9",
    "RD",
)
COUNTS = {"NBMENFISC", "NBPERSMENFISC"}
ANCHORS = {"NBMENFISC", "NBPERSMENFISC", "MED", "TP60", "Q1", "Q3"}  # one is always there
_DECILES = ("Q1", "MED", "Q3", "EQ", "D1", "D2", "D3", "D4", "D6", "D7", "D8", "D9", "RD")
_SHARES = ("S80S20", "GI", "PACT", "PTSA", "PCHO", "PBEN", "PPEN")
IRIS_VARIABLES = {
    # As published for revenus 2021 (BASE_TD_FILO_IRIS_2021_DEC.csv).
    "DEC": ("PIMP", "TP60", "INCERT", *_DECILES, *_SHARES, "PAUT", "NOTE"),
    "DISP": (
        "TP60",
        *_DECILES,
        *_SHARES,
        *("PPAT", "PPSOC", "PPFAM", "PPMINI", "PPLOGT", "PIMPOT", "NOTE"),
    ),
}
IRIS_CORE = ("MED", "D1", "D9", "Q1", "Q3")  # required whatever the vintage
IRIS_FULL_LAYOUT = {"DEC": {"2021"}}  # vintages whose whole layout was checked on a real file
REGIONS = {"01", "02", "03", "04", "06", "11", "24", "27", "28", "32", "44", "52", "53", "75"}
REGIONS |= {"76", "84", "93", "94"}
COG = {("commune", "2019"): 2021, ("commune", "2020"): 2022, ("iris", "2021"): 2023}
_SUFFIX = re.compile(r"^(?:(DEC|DISP)_)?([A-Z0-9]+?)(\d{2})$")
_CENSUS = re.compile(r"^[PCD]\d{2}_")
LEVEL_LABELS = {
    "commune": "communes",
    "epci": "EPCI",
    "departement": "départements",
    "region": "régions",
}


def filosofi_columns(names: list[str]) -> dict[str, tuple[str, str, str]]:
    """Filosofi columns of a header: name → (family "COM"/"DEC"/"DISP", variable, year)."""
    found = {}
    for name in names:
        match = _SUFFIX.match(name.upper())
        if not match:
            continue
        family, variable, year = match.group(1) or "COM", match.group(2), match.group(3)
        known = COM_VARIABLES if family == "COM" else IRIS_VARIABLES[family]
        if variable in known:
            found[name] = (family, variable, year)
    return found


def _level_from_codes(file: SniffedFile, code: str) -> str:
    index = list(file.columns).index(code)
    codes = []
    for row in csv.reader(file.head, delimiter=file.separator or ";"):
        if len(row) > index:
            codes.append(row[index].strip().strip('"'))
    codes = [c for c in codes if c]
    if not codes or all(len(c) in (4, 5) for c in codes):
        return "commune"
    if all(re.fullmatch(r"\d{8,9}", c) for c in codes):
        return "epci"
    if all(c.zfill(2) in REGIONS for c in codes):
        return "region"
    if all(1 <= len(c) <= 3 for c in codes):
        return "departement"
    return "commune"  # the read names the first code that is not a commune code


class FilosofiReader:
    """Reader of Filosofi key-figure and IRIS files (see the module docstring)."""

    name = "filosofi"

    def sniff(self, file: SniffedFile) -> Detection | None:
        if file.kind != "csv" or not file.columns:
            return None
        upper = [c.upper() for c in file.columns]
        if any(_CENSUS.match(c) for c in upper):
            return None
        found = filosofi_columns(list(file.columns))
        # Distinct indicators sharing one year (BPE types such as D101, D102 are not three
        # indicators of a year); missing indicators are named by the read.
        groups = Counter((family, year) for family, _, year in set(found.values()))
        if not groups or groups.most_common(1)[0][1] < 3:
            return None
        family, year = groups.most_common(1)[0][0]
        present = {v for f, v, y in found.values() if (f, y) == (family, year)}
        if int(year) < 12 or not present & ANCHORS:  # Filosofi starts with revenus 2012
            return None
        vintage = f"20{year}"
        if family == "COM":
            code = next((c for c in file.columns if c.upper() == "CODGEO"), None)
            level = _level_from_codes(file, code) if code else "commune"
            dataset = {"commune": "filosofi_com", "epci": "filosofi_epci"}.get(
                level, "filosofi_dep" if level == "departement" else "filosofi_reg"
            )
            label = f"Filosofi {vintage} — revenus et pauvreté ({LEVEL_LABELS[level]})"
        else:
            level = "iris"
            dataset = f"filosofi_iris_{family.lower()}"
            kind = "déclarés" if family == "DEC" else "disponibles"
            label = f"Filosofi {vintage} — revenus {kind} (IRIS)"
        return Detection(
            dataset=dataset,
            vintage=vintage,
            level=level,
            cog_vintage=COG.get((level, vintage)),
            label=label,
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        names = list(file.columns)
        iris = detection.level == "iris"
        code = code_column_of(file, "IRIS" if iris else "CODGEO")
        if detection.level not in CODE_PATTERNS:
            raise InputError(f"niveau géographique inattendu : {detection.level}", path=file.label)
        found = filosofi_columns(names)
        year = detection.vintage[2:]
        other = [n for n, (_, _, y) in found.items() if y != year]
        if other:
            raise InputError(
                f"colonne(s) d'un autre millésime que {detection.vintage} : {', '.join(other)}",
                path=file.label,
                line=1,
            )
        family = "COM" if not iris else detection.dataset.rsplit("_", 1)[-1].upper()
        self._check_layout(file, family, detection.vintage, found)
        specs, unknown = [], []
        for name in names:
            if name == code or DESCRIPTIVE.match(name.upper()):
                continue
            if name in found:
                fam, variable, _ = found[name]
                generic = variable if fam == "COM" else f"{fam}_{variable}"
                additive = fam == "COM" and variable in COUNTS
                specs.append(ColumnSpec(name, generic, detection.vintage, additive))
            else:
                unknown.append(name)
                specs.append(ColumnSpec(name, name.upper(), detection.vintage, False))
        warnings = []
        if unknown:
            warnings.append(
                f"{len(unknown)} colonne(s) inconnue(s) lue(s) telle(s) quelle(s), non "
                f"additive(s) : {', '.join(unknown[:8])}"
            )
        return read_long(
            file, detection, table="filosofi", code_column=code, specs=specs, warnings=warnings
        )

    @staticmethod
    def _check_layout(
        file: SniffedFile, family: str, vintage: str, found: dict[str, tuple[str, str, str]]
    ) -> None:
        """Every indicator of the layout must be there (named when missing)."""
        present = {variable for fam, variable, _ in found.values() if fam == family}
        if family == "COM":
            expected = COM_VARIABLES
        elif vintage in IRIS_FULL_LAYOUT.get(family, set()):
            expected = IRIS_VARIABLES[family]
        else:
            expected = IRIS_CORE
        prefix = "" if family == "COM" else f"{family}_"
        missing = [f"{prefix}{v}{vintage[2:]}" for v in expected if v not in present]
        if missing:
            raise InputError(
                f"{len(missing)} colonne(s) attendue(s) absente(s) : {', '.join(missing)}",
                path=file.label,
                line=1,
            )


register(FilosofiReader())
