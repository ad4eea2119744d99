"""Simulated INSEE census communal bases (``base-cc-*``) in INSEE's CSV layout.

Format (as INSEE publishes the communal bases): a zip holding one ``.CSV`` file, ``;``
separator, CRLF line ends, ASCII; header ``CODGEO`` then vintage-suffixed columns
(``P21_LOG``, ``C21_MENPSEUL``, ``P15_RP_ACH12``…); one row per commune (Mayotte excluded, as
in INSEE's bases) plus the arrondissements municipaux of Paris, Lyon and Marseille, sorted by
code; weighted counts written with up to 15 significant digits (``353.730434782608``), the
population and the dénombrements of 1968-1999 as whole numbers.

Column names come from the variable dictionary ``catalogue/rp_dictionary.yaml`` (built from
INSEE's ``meta_*`` files): a vintage documented there is written exactly; another vintage is
shifted from the nearest edition (main year, then the comparison censuses 6 and 11 years
earlier from RP 2019 on, 5 and 10 before; construction bands such as ``ACH18`` follow).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import yaml

from observatoire.errors import InputError
from observatoire.sources.synthetic import _textio as tx
from observatoire.sources.synthetic._common import ARRONDISSEMENTS, World, split_weights, stream
from observatoire.sources.synthetic.census_model import CensusYear

THEMES = {  # dataset id -> (dictionary theme, INSEE file stem)
    "rp_evol_struct_pop": ("evol_struct_pop", "base-cc-evol-struct-pop"),
    "rp_logement": ("logement", "base-cc-logement"),
    "rp_emploi_pop_active": ("emploi_pop_active", "base-cc-emploi-pop-active"),
    "rp_diplomes_formation": ("diplomes_formation", "base-cc-diplomes-formation"),
    "rp_couples_familles_menages": ("couples_familles_menages", "base-cc-coupl-fam-men"),
    "rp_serie_historique": ("serie_historique", "base-cc-serie-historique"),
}
COUNT_YEARS = (1999, 1990, 1982, 1975, 1968)  # dénombrements of the historical series
_FALLBACK = {  # used only when the dictionary cannot be read
    "evol_struct_pop": [
        "P_POP",
        "P_POP0014",
        "P_POP1529",
        "P_POP3044",
        "P_POP4559",
        "P_POP6074",
        "P_POP75P",
        "P_POPH",
        "P_POPF",
    ],
    "logement": [
        "P_LOG",
        "P_RP",
        "P_RSECOCC",
        "P_LOGVAC",
        "P_MAISON",
        "P_APPART",
        "P_RP_PROP",
        "P_MEN",
        "P_PMEN",
    ],
    "emploi_pop_active": ["P_POP1564", "P_ACT1564", "P_ACTOCC1564", "P_CHOM1564", "P_EMPLT"],
    "diplomes_formation": ["P_NSCOL15P", "P_NSCOL15P_DIPLMIN", "P_NSCOL15P_BAC"],
    "couples_familles_menages": ["C_MEN", "C_MENPSEUL", "C_MENFAM", "C_PMEN"],
}
_CENSUS_NAME = re.compile(r"^([PCD])(\d\d)_(.+)$")
_ACH = re.compile(r"ACH(\d\d)")


def census_years(vintage: int) -> tuple[int, int, int]:
    """The census years of a base: main year and the two comparison censuses."""
    gap = (6, 11) if vintage >= 2019 else (5, 10)
    return vintage, vintage - gap[0], vintage - gap[1]


def two(year: int) -> str:
    return f"{year % 100:02d}"


def _year_of_key(key: str) -> int:
    return 1900 + int(key) if int(key) >= 50 else 2000 + int(key)


@cache
def dictionary() -> dict:
    """INSEE's variable dictionary shipped with the package (``{}`` when unreadable)."""
    try:
        path = files("observatoire.catalogue").joinpath("rp_dictionary.yaml")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader).get("themes", {})
    except (OSError, yaml.YAMLError, AttributeError):
        return {}


def _edition(editions: dict, vintage: int) -> str:
    if str(vintage) in editions:
        return str(vintage)
    ranked = sorted(
        editions,
        key=lambda e: (not editions[e].get("complete", False), abs(int(e) - vintage), -int(e)),
    )
    return ranked[0]


def columns(dataset: str, vintage: int) -> list[tuple[str, str, int]]:
    """``(column, generic variable, census year)`` of a thematic base, in INSEE's order."""
    theme = THEMES[dataset][0]
    if theme == "serie_historique":
        return _historical_columns(vintage)
    content = dictionary().get(theme)
    years = census_years(vintage)
    if not content or not content.get("editions"):
        return [(_name(v, two(y)), v, y) for y in years for v in _FALLBACK[theme]]
    edition = _edition(content["editions"], vintage)
    keys = sorted(
        {k for row in content["variables"] for k in row["in"].get(edition, []) if len(k) == 2},
        key=lambda k: -_year_of_key(k),
    )
    shift = {k: two(y) for k, y in zip(keys, years, strict=False)}
    year_of = {two(y): y for y in years}
    late = _late_variables(content)
    out: list[tuple[str, str, int]] = []
    seen: set[str] = set()
    for target in years:
        block: list[tuple[str, str, int, str]] = []
        for row in [r for r in content["variables"] if r["var"] not in late] + [
            r for r in content["variables"] if r["var"] in late
        ]:
            var, keys_of = row["var"], row["in"].get(edition, [])
            for key in keys_of:
                if key == "" and (match := _CENSUS_NAME.match(var)) and target == vintage:
                    name = f"{match.group(1)}{two(target)}_{match.group(3)}"
                    generic = f"{match.group(1)}_{match.group(3)}"
                elif shift.get(key) == two(target):
                    generic = _rename_band(var, key, shift[key], len(keys_of))
                    name = _name(generic, two(target))
                else:
                    continue
                if name in seen:
                    continue
                seen.add(name)
                entry = (name, generic, year_of[two(target)], var)
                block.insert(_place(block, var) if var in late else len(block), entry)
        out.extend(entry[:3] for entry in block)
    return out


def _stem(var: str) -> str:
    return re.sub(r"\d\d(\d\d|P)?$", "", var)


def _place(block: list[tuple[str, str, int, str]], var: str) -> int:
    """Where INSEE puts a variable of a vintage-specific subset: after its peers of the same
    stem and width (``P15_RP_ACH12`` after ``P15_RP_ACH05``), else before the first variable
    of the same age band (``P20_POP15P`` before ``P20_ACT15P``), else after its stem's peers."""
    stem, suffix = _stem(var), var[len(_stem(var)) :]
    same = [i for i, e in enumerate(block) if _stem(e[3]) == stem and len(e[3]) == len(var)]
    if same:
        return same[-1] + 1
    if suffix:
        band = [i for i, e in enumerate(block) if e[3] != var and e[3].endswith(suffix)]
        if band:
            return band[0]
    peers = [i for i, e in enumerate(block) if _stem(e[3]) == stem]
    return peers[-1] + 1 if peers else len(block)


def _late_variables(content: dict) -> set[str]:
    """Variables the dictionary lists after the common ones (present in only some editions or
    comparison years): INSEE writes them beside their peers (``P15_RP_ACH12`` after
    ``P15_RP_ACH05``), so they are moved there."""
    rows = content["variables"]
    main = {}
    for edition in content["editions"]:
        keys = {k for r in rows for k in r["in"].get(edition, []) if len(k) == 2}
        main[edition] = max(keys, key=_year_of_key, default="")

    def common(row: dict) -> bool:
        return all(key in row["in"].get(edition, []) for edition, key in main.items())

    last = max((i for i, row in enumerate(rows) if common(row)), default=len(rows) - 1)
    return {row["var"] for row in rows[last + 1 :]}


def _name(var: str, key: str) -> str:
    if len(var) > 2 and var[0] in "PCD" and var[1] == "_":
        return f"{var[0]}{key}{var[1:]}"
    return f"{var}{key}"


def _rename_band(var: str, key: str, target: str, n_keys: int) -> str:
    """``P_RP_ACH18`` (RP 2021: built 2006-2018) becomes ``P_RP_ACH17`` for RP 2020."""
    match = _ACH.search(var)
    if not match or n_keys != 1 or int(match.group(1)) != (int(key) - 3) % 100:
        return var
    return var[: match.start(1)] + f"{(int(target) - 3) % 100:02d}" + var[match.end(1) :]


def flow_keys(vintage: int) -> list[tuple[str, int, int]]:
    """Births/deaths periods of the historical series: (key, first year, number of years)."""
    main, first, second = census_years(vintage)
    if vintage >= 2021:  # INSEE writes NAIS1520 for 1 Jan 2015 - 31 Dec 2020 (RP 2021)
        recent = [(first, main - 1), (second, first - 1), (1999, second - 1)]
        spans = [(f"{two(a)}{two(b)}", a, b - a + 1) for a, b in recent]
    else:
        recent = [(first, main), (second, first), (1999, second)]
        spans = [(f"{two(a)}{two(b)}", a, b - a) for a, b in recent]
    older = [(1990, 1999), (1982, 1990), (1975, 1982), (1968, 1975)]
    return spans + [(f"{two(a)}{two(b)}", a, b - a) for a, b in older]


def _historical_columns(vintage: int) -> list[tuple[str, str, int]]:
    years = census_years(vintage)
    out: list[tuple[str, str, int]] = []

    def series(var: str, old: Callable[[int], str]) -> None:
        out.extend((_name(var, two(y)), var, y) for y in years)
        out.extend((_name(old(y), two(y)), var, y) for y in COUNT_YEARS)

    series("P_POP", lambda y: "D_POP")
    out.append(("SUPERF", "SUPERF", vintage))
    for kind in ("NAIS", "DECE"):
        out.extend((f"{kind}{key}", kind, start) for key, start, _ in flow_keys(vintage))
    for var in ("P_LOG", "P_RP", "P_RSECOCC", "P_LOGVAC"):
        series(var, lambda y, var=var: "D" + var[1:])
    series("P_PMEN", lambda y: "D_PMEN" if y == 1999 else "D_NPER_RP")
    return out


# ------------------------------------------------------------------ rows and values


def rows(world: World, positions: np.ndarray) -> tuple[list[str], np.ndarray, list[tuple]]:
    """Codes of the rows (communes and arrondissements, sorted), the position of each row's
    commune, and for arrondissement rows (row index, parent position, share index)."""
    codes = world.communes["code"].to_numpy()
    keep = [p for p in positions if not codes[p].startswith("976")]
    entries = [(codes[p], p, None) for p in keep]
    for p in keep:
        if codes[p] in ARRONDISSEMENTS:
            arms, _ = split_weights(codes[p], world.seed)
            entries.extend((arm, p, i) for i, arm in enumerate(arms))
    entries.sort(key=lambda e: e[0])
    return [e[0] for e in entries], np.array([e[1] for e in entries], dtype=int), entries


def _arm_factors(world: World, entries: list[tuple], totals: np.ndarray) -> np.ndarray:
    """Multiplier of each row: 1 for communes, the arrondissement's share of the commune for
    arrondissement rows (chosen so that arrondissement populations are whole numbers)."""
    factor = np.ones(len(entries))
    for row, (_, position, arm) in enumerate(entries):
        if arm is None:
            continue
        parent = world.communes["code"].iat[position]
        _, shares = split_weights(parent, world.seed)
        total = totals[position]
        whole = _largest_remainder(total, shares)
        factor[row] = whole[arm] / total if total > 0 else shares[arm]
    return factor


def _largest_remainder(total: float, shares: np.ndarray) -> np.ndarray:
    raw = total * shares
    whole = np.floor(raw)
    left = round(float(total - whole.sum()))
    if left > 0:
        whole[np.argsort(-(raw - whole), kind="stable")[:left]] += 1
    return whole


def _flows(world: World, kind: str, start: int, years: int) -> np.ndarray:
    rate = world.traits["birth" if kind == "NAIS" else "death"]
    mean = np.sqrt(np.maximum(world.pop(start), 1) * np.maximum(world.pop(start + years), 1))
    lam = mean * rate * years * np.exp(0.2 * (2000 - start) / 30)
    return stream(world.seed, "census", "flows", kind, start).poisson(np.maximum(lam, 0))


def write_census(
    world: World,
    positions: np.ndarray,
    datasets: list[str],
    vintage: int,
    out_dir: Path,
) -> dict[str, Path]:
    """Write the census bases ``datasets`` of one vintage; returns dataset -> file."""
    for dataset in datasets:
        if dataset not in THEMES:
            raise InputError(f"jeu du recensement inconnu « {dataset} »")
    codes, where, entries = rows(world, positions)
    layout = {d: columns(d, vintage) for d in datasets}
    needed: dict[int, dict[str, set[str]]] = {}
    for cols in layout.values():
        for _, var, year in cols:
            if var not in ("SUPERF", "NAIS", "DECE"):
                needed.setdefault(year, {}).setdefault(var, set())
    for variables in needed.values():
        present = set(variables)
        for var in variables:
            variables[var] = present
    values: dict[tuple[str, int], np.ndarray] = {}
    factors: dict[int, np.ndarray] = {}
    dom_only: dict[str, bool] = {}
    unique = np.unique(where)
    index = np.searchsorted(unique, where)
    for year in sorted(needed, reverse=True):
        model = CensusYear(world, year, unique)
        totals = np.zeros(world.size)
        totals[unique] = model.pop
        factors[year] = _arm_factors(world, entries, totals)
        for var, present in needed[year].items():
            values[(var, year)] = model.value(var, present)[index] * factors[year]
            dom_only[var] = model.is_dom_only(var)
        del model
    dom = np.array([c.startswith("97") for c in codes])
    area = world.communes["superficie_km2"].to_numpy(float)
    written = {}
    for dataset in datasets:
        stem = THEMES[dataset][1]
        path = out_dir / f"{stem}-{vintage}_csv.zip"
        header = ["CODGEO", *[c for c, _, _ in layout[dataset]]]
        arrays = [tx.text(codes)]
        for name, var, year in layout[dataset]:
            if var == "SUPERF":
                arrays.append(tx.shortest(np.round(area[where] * _superf_factor(entries), 2)))
            elif var in ("NAIS", "DECE"):
                span = next(n for k, s, n in flow_keys(vintage) if name.endswith(k))
                flows = _flows(world, var, year, span)[where] * factors[vintage]
                arrays.append(tx.integers(np.round(flows)))
            elif year in COUNT_YEARS or var == "P_POP":
                arrays.append(tx.integers(np.round(values[(var, year)])))
            else:
                mask = ~dom if dom_only.get(var) else None
                arrays.append(tx.significant(values[(var, year)], 15, mask))
        with tx.CsvSink(
            path,
            header,
            separator=";",
            eol="\r\n",
            member=f"{stem}-{vintage}.CSV",
            zip_date=(min(vintage + 3, 2107), 6, 27, 12, 0, 0),
            compresslevel=1,
        ) as sink:
            sink.write(arrays)
        written[dataset] = path
    return written


def _superf_factor(entries: list[tuple]) -> np.ndarray:
    """Arrondissements get a share of the commune's area (their shares of population)."""
    factor = np.ones(len(entries))
    for row, (code, _, arm) in enumerate(entries):
        if arm is not None:
            parent = next(p for p, arms in ARRONDISSEMENTS.items() if code in arms)
            weights = np.array(list(ARRONDISSEMENTS[parent].values()), dtype=float)
            factor[row] = weights[arm] / weights.sum()
    return factor
