"""French typography for published figures.

Pure functions, no locale dependency (``locale.setlocale`` is never called):

- thousands separator: U+202F NARROW NO-BREAK SPACE (``1 234``), decimal comma (``12,3``);
- minus sign: U+2212 MINUS SIGN (``−0,4``), never the hyphen;
- a unit is separated from its number by U+00A0 NO-BREAK SPACE (``12,3 %``, ``18 320 €``);
- a missing value (``None``, NaN) is written ``—`` (em dash).

Rounding is "half away from zero" on the exact binary value of the float, which is what
JavaScript's ``toFixed`` and d3-format do: the numbers of an alt text (:func:`fr_number`) and
those drawn by Vega in a chart are the same.

Statuses of the indicator table (see ``docs/moteur-indicateurs.md``) have a footnote text
(:func:`status_note`) and a short mark for table cells (:data:`STATUS_MARKS`):

=================  =====  ==========================================================
status             mark   note
=================  =====  ==========================================================
``ok``             (none) (none)
``secret``         ``s``  valeur non diffusée (secret statistique)
``incomplete``     ``*``  valeur partielle : au moins une commune membre sans donnée
``non_additive``   n.a.   non additif : médiane non calculable par agrégation
``missing``        ``—``  donnée non disponible
=================  =====  ==========================================================
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from numbers import Real

NNBSP = "\u202f"  # narrow no-break space: thousands separator, "10 000"
NBSP = "\u00a0"  # no-break space: between a number and its unit
MINUS = "\u2212"  # minus sign
EN_DASH = "\u2013"
MISSING = "—"

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

STATUS_MARKS: dict[str, str] = {
    "ok": "",
    "secret": "s",
    "incomplete": "*",
    "withheld": "n.p.",
    "non_additive": "n.a.",
    "missing": MISSING,
}
"""Short mark per status for a table cell (``s`` is INSEE's own mark for secret cells)."""

STATUS_NOTES: dict[str, str] = {
    "secret": "valeur non diffusée (secret statistique)",
    "incomplete": "valeur partielle : au moins une commune membre sans donnée",
    "non_additive": (
        "non additif (médiane, décile, taux de pauvreté) : non calculable par agrégation"
    ),
    "withheld": "total non publié : au moins une commune membre sans donnée (pas de sous-compte)",
    "missing": "donnée non disponible",
}
"""Footnote text per status (``ok`` has none)."""

STATUS_LABELS: dict[str, str] = {
    "secret": "non diffusé (secret statistique)",
    "incomplete": "valeur partielle",
    "non_additive": "non calculable (non additif)",
    "missing": "non disponible",
}
"""Short French label per status, written in a chart in place of a bar."""


def is_missing(value: object) -> bool:
    """True for ``None``, NaN, pandas' ``NA``/``NaT`` or anything that is not a number."""
    if value is None or isinstance(value, bool):
        return value is None
    if isinstance(value, Decimal):
        return not value.is_finite()
    if isinstance(value, Real):
        return not math.isfinite(float(value))
    try:
        return not math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def _rounded(value: float | int | Decimal, decimals: int) -> Decimal:
    if isinstance(value, Decimal):
        exact = value
    elif isinstance(value, int):
        exact = Decimal(value)
    else:
        exact = Decimal(float(value))  # exact binary value, as toFixed sees it
    quantum = Decimal(1).scaleb(-decimals) if decimals > 0 else Decimal(1)
    try:
        return exact.quantize(quantum, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the default context holds
        return exact.to_integral_value(rounding=ROUND_HALF_UP)


def _digits(value: float | int | Decimal, decimals: int) -> tuple[bool, str]:
    """(is negative, French digits of the absolute value) after rounding."""
    decimals = max(int(decimals), 0)
    rounded = _rounded(value, decimals)
    negative = rounded < 0  # "-0,0" after rounding is written "0,0"
    text = f"{abs(rounded):,.{decimals}f}"
    return negative, text.replace(",", NNBSP).replace(".", ",")


def fr_number(value: float | int | Decimal | None, decimals: int = 0) -> str:
    """``1234.5`` → ``"1 234,5"`` (U+202F, decimal comma, U+2212 minus); missing → ``"—"``."""
    if is_missing(value):
        return MISSING
    negative, text = _digits(value, decimals)  # type: ignore[arg-type]
    return f"{MINUS}{text}" if negative else text


def fr_unit(unit: str | None) -> str:
    """A unit as printed: digit groups in it get U+202F (``pour 10 000 hab.``)."""
    if not unit:
        return ""
    unit = unit.strip()
    return re.sub(r"(?<=\d) (?=\d{3}\b)", NNBSP, unit)


def _with_unit(number: str, unit: str | None) -> str:
    unit = fr_unit(unit)
    return f"{number}{NBSP}{unit}" if unit else number


def fr_value(value: float | int | Decimal | None, unit: str | None = "", decimals: int = 0) -> str:
    """Number and unit: ``"12,3 %"``, ``"1 234 habitants"``, ``"−0,08 %/an"`` (U+00A0 before
    the unit); a missing value is ``"—"`` without unit."""
    if is_missing(value):
        return MISSING
    return _with_unit(fr_number(value, decimals), unit)


def fr_signed(value: float | int | Decimal | None, decimals: int = 0, unit: str | None = "") -> str:
    """With an explicit sign: ``"+0,35 %"``, ``"−1 132 habitants"``; zero after rounding has
    no sign (``"0,0 %"``)."""
    if is_missing(value):
        return MISSING
    negative, text = _digits(value, decimals)  # type: ignore[arg-type]
    if negative:
        sign = MINUS
    elif _rounded(value, max(int(decimals), 0)) == 0:  # type: ignore[arg-type]
        sign = ""
    else:
        sign = "+"
    return _with_unit(sign + text, unit)


def fr_points(diff: float | int | Decimal | None, decimals: int = 1) -> str:
    """A difference of rates in points: ``"+1,8 point"``, ``"−0,4 point"``, ``"+2,0 points"``
    (plural from 2 in absolute value, French rule)."""
    if is_missing(diff):
        return MISSING
    magnitude = abs(_rounded(diff, max(int(decimals), 0)))  # type: ignore[arg-type]
    return fr_signed(diff, decimals, "points" if magnitude >= 2 else "point")


def fr_date(d: date) -> str:
    """``date(2026, 11, 25)`` → ``"25 novembre 2026"``; the first of a month is ``"1er"``."""
    day = "1er" if d.day == 1 else str(d.day)
    return f"{day} {MONTHS[d.month - 1]} {d.year}"


WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def has_time(moment: datetime) -> bool:
    """Whether a moment carries a time of day (midnight means « the whole day »)."""
    return bool(moment.hour or moment.minute)


def fr_time(moment: datetime) -> str:
    """``18 h``, ``9 h 30`` (no-break spaces)."""
    text = f"{moment.hour}{NBSP}h"
    return f"{text}{NBSP}{moment.minute:02d}" if moment.minute else text


def fr_day(moment: datetime | date) -> str:
    """``jeudi 10 décembre 2026``."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return f"{WEEKDAYS[day.weekday()]} {fr_date(day)}"


def fr_when(start: datetime, end: datetime | None = None) -> str:
    """When an event takes place: ``jeudi 10 décembre 2026 de 18 h à 20 h``,
    ``du lundi 1er mars 2027 à 9 h au mardi 2 mars 2027 à 17 h``."""
    at = f" à {fr_time(start)}" if has_time(start) else ""
    if end is None or end == start:
        return fr_day(start) + at
    if end.date() == start.date():
        if has_time(start) and has_time(end):
            return f"{fr_day(start)} de {fr_time(start)} à {fr_time(end)}"
        return fr_day(start) + at
    until = f" à {fr_time(end)}" if has_time(end) else ""
    return f"du {fr_day(start)}{at} au {fr_day(end)}{until}"


def fr_month_year(d: date) -> str:
    """``date(2026, 11, 25)`` → ``"novembre 2026"``."""
    return f"{MONTHS[d.month - 1]} {d.year}"


def _bounds(period: str) -> tuple[str, str] | None:
    match = re.fullmatch(r"\s*(\d{4})\s*[-–—]\s*(\d{4})\s*", str(period))
    return (match.group(1), match.group(2)) if match else None


def fr_period(period: str | int) -> str:
    """``"2013-2018"`` → ``"2013–2018"`` (en dash); a single year is returned as is."""
    bounds = _bounds(str(period))
    return f"{bounds[0]}{EN_DASH}{bounds[1]}" if bounds else str(period).strip()


def fr_between(period: str | int) -> str:
    """``"2013-2018"`` → ``"entre 2013 et 2018"``; ``"2021"`` → ``"en 2021"``."""
    bounds = _bounds(str(period))
    if bounds:
        return f"entre {bounds[0]} et {bounds[1]}"
    return f"en {str(period).strip()}"


def status_note(status: str | None) -> str | None:
    """The French footnote of a status (``None`` for ``ok`` or no status)."""
    if not status:
        return None
    return STATUS_NOTES.get(status)
