"""INSEE variable dictionaries (``meta_*.CSV``): labels of every variable of a base.

They ship inside INSEE's zips beside the data. Loading them keeps the official French labels
of each variable (and of its modalities) in the warehouse, table ``insee_metadata``.
"""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.registry import register

COLUMNS = ("COD_VAR", "LIB_VAR", "LIB_VAR_LONG", "COD_MOD", "LIB_MOD", "TYPE_VAR", "LONG_VAR")
_YEAR = re.compile(r"^[A-Z]+(\d{2})_")
_NAMES = {
    "COD_VAR": "variable",
    "LIB_VAR": "label",
    "LIB_VAR_LONG": "long_label",
    "COD_MOD": "modality",
    "LIB_MOD": "modality_label",
    "TYPE_VAR": "type",
    "LONG_VAR": "length",
    "THEME": "theme",
    "SOURCE": "source_text",
}


class InseeMetadataReader:
    """Reader of INSEE's variable dictionaries."""

    name = "insee_meta"

    def sniff(self, file: SniffedFile) -> Detection | None:
        if file.kind != "csv" or file.upper_columns[:3] != COLUMNS[:3]:
            return None
        years = Counter()
        for line in file.head:
            match = _YEAR.match(line.split(file.separator or ";", 1)[0].strip('"'))
            if match:
                years[match.group(1)] += 1
        vintage = f"20{years.most_common(1)[0][0]}" if years else "sans millésime"
        name = (file.member or file.path.name).rsplit("/", 1)[-1]
        base = re.sub(r"\.(csv|CSV)(\.gz)?$", "", name)
        return Detection(
            dataset="insee_metadata",
            vintage=f"{base}:{vintage}",
            level="table",
            label=f"Dictionnaire des variables INSEE ({base})",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        with file.open_binary() as handle:
            frame = pd.read_csv(
                handle,
                sep=file.separator,
                dtype=str,
                encoding=file.encoding,
                keep_default_na=False,
            )
        frame.columns = [c.strip().upper() for c in frame.columns]
        missing = [c for c in COLUMNS[:3] if c not in frame.columns]
        if missing:
            raise InputError(f"colonnes absentes : {', '.join(missing)}", path=file.label)
        frame = frame[[c for c in frame.columns if c in _NAMES]].rename(columns=_NAMES)
        frame["source_file"] = (file.member or file.path.name).rsplit("/", 1)[-1]
        return ReadResult(detection=detection, table="insee_metadata", batches=[frame])


register(InseeMetadataReader())
