"""Cerema NAF consumption, communal file (Fichiers fonciers, "consommation d'espaces").

Layout (methods §5.1): ``idcom`` (commune code), ``nafAAartBB`` = m² of natural, agricultural
and forest land consumed between 1 January 20AA and 1 January 20BB, ``artAA{act,hab,mix,rou,
fer,inc}BB`` = the same by destination (activity, housing, mixed, roads, rail, unknown),
``artcomAABB``, and context counts ``pop``/``men``/``emp`` + ``AA`` (level) or ``AABB``
(change between the two years). Detection: ``idcom`` and at least one ``nafAAartBB`` column
(any case), CSV.

Output, table ``naf_communes`` (level ``commune``), long like LOVAC: ``code, variable, period,
value, secret, source_column`` — ``naf11art12`` gives variable ``nafart``, period
``2011-2012``; ``art09hab23`` → ``arthab``, ``2009-2023``; ``pop20`` → ``pop``, ``2020``;
``pop1420`` → ``pop``, ``2014-2020`` (a change). Values in m² (divide by 10 000 for hectares);
all of them are additive counts. Other columns (labels, identifiers, ratios such as
``artpop1420``) are not read and are listed in a warning. No secret in this file: empty cells
are NULL (missing). Vintage: the span of the ``naf`` columns (``2009-2023``).
"""

from __future__ import annotations

import re

from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.dvf import year_span
from observatoire.sources.lovac import commune_codes, read_all, to_long
from observatoire.sources.registry import register

_FLOWS = (
    (re.compile(r"^(naf)(\d{2})(art)(\d{2})$", re.I), True),
    (re.compile(r"^(art)(\d{2})(act|hab|mix|rou|fer|inc)(\d{2})$", re.I), True),
    (re.compile(r"^(artcom)(\d{2})()(\d{2})$", re.I), True),
    (re.compile(r"^(pop|men|emp)(\d{2})()(\d{2})$", re.I), True),
    (re.compile(r"^(pop|men|emp)(\d{2})()()$", re.I), False),
)
_NAF = re.compile(r"^naf(\d{2})art(\d{2})$", re.I)


def _measures(file: SniffedFile) -> dict[str, tuple[str, str]]:
    measures = {}
    for column in file.columns:
        for pattern, interval in _FLOWS:
            match = pattern.match(column.strip())
            if match:
                stem, start, middle, end = match.groups()
                variable = (stem + middle).lower()
                period = f"20{start}-20{end}" if interval else f"20{start}"
                measures[column] = (variable, period)
                break
    return measures


def _code_column(file: SniffedFile) -> str | None:
    return next((c for c in file.columns if c.strip().lower() == "idcom"), None)


class NafConsumptionReader:
    """Cerema communal file of NAF land consumption."""

    name = "naf_conso"

    def sniff(self, file: SniffedFile) -> Detection | None:
        if file.kind != "csv" or _code_column(file) is None:
            return None
        spans = [m.groups() for c in file.columns if (m := _NAF.match(c.strip()))]
        if not spans:
            return None
        years = [2000 + int(y) for pair in spans for y in pair]
        vintage = year_span(years)
        return Detection(
            dataset="naf_communes",
            vintage=vintage,
            level="commune",
            label=f"Consommation d'espaces naturels, agricoles et forestiers {vintage} (Cerema)",
        )

    def read(self, file: SniffedFile, detection: Detection) -> ReadResult:
        code = _code_column(file)
        measures = _measures(file)
        result = ReadResult(
            detection=detection, table="naf_communes", batches=[], code_column="code"
        )
        frame = read_all(file, [code, *measures])
        codes = commune_codes(frame[code].str.strip(), file, code, result)
        result.batches = [to_long(frame, codes, measures, file, result)]
        result.count_columns = tuple(measures)
        ignored = [c for c in file.columns if c != code and c not in measures]
        if ignored:
            shown = ", ".join(ignored[:12]) + ("…" if len(ignored) > 12 else "")
            result.warnings.append(f"{len(ignored)} colonnes non reprises : {shown}")
        return result


register(NafConsumptionReader())
