"""Bring commune tables to the project's COG: INSEE events when given, else the referential.

Two passage sources, in this order of preference:

1. INSEE's commune change events (``v_mvt_commune_YYYY.csv``), read by
   :mod:`observatoire.territories.cog`: exact chaining, mergers and splits.
2. The passage derived from the embedded referential packages (old code → commune of the
   referential's COG, through the communes déléguées / associées of later package
   versions). It knows mergers only — splits are invisible to it — and cannot resolve
   communes absorbed without becoming déléguées; such codes are reported, never guessed.
   It makes the offline demo possible; real projects should give the INSEE events file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from observatoire.errors import InputError
from observatoire.territories import cog, referential


def target_codes() -> list[str]:
    """Commune codes of the referential (the project's target COG)."""
    return referential.communes()["code"].tolist()


def passage_from_referential(source_codes: pd.Series | list[str]) -> pd.DataFrame:
    """A :func:`cog.build_passage`-shaped table for ``source_codes`` from the derived passage.

    Codes that are communes of the target COG map to themselves; older codes follow the
    referential's derived passage; the others are left out (the recode reports them).
    """
    codes = pd.Series(pd.unique(pd.Series(source_codes, dtype=object)), dtype=object)
    current = set(target_codes())
    derived = referential.derived_passage().drop_duplicates("code_ancien")
    mapping = dict(zip(derived["code_ancien"], derived["code"], strict=True))
    target = codes.map(lambda c: c if c in current else mapping.get(c))
    passage = pd.DataFrame({"code_source": codes, "code_cible": target}).dropna()
    passage["n_sources"] = passage.groupby("code_cible")["code_source"].transform("size")
    passage["split"] = False
    passage["receives"] = True
    kind = pd.Series("identique", index=passage.index, dtype=object)
    kind[passage["code_source"] != passage["code_cible"]] = "changement_code"
    kind[passage["n_sources"] > 1] = "fusion"
    passage["kind"] = kind
    return passage[list(cog.PASSAGE_COLUMNS)].reset_index(drop=True)


@dataclass(frozen=True)
class HarmonisedPopulations:
    """Legal populations of every embedded vintage at the target COG, and how they got there."""

    table: pd.DataFrame  # code, annee, population, n_sources, cog_status, cog_source, source
    reports: dict[int, cog.RecodeReport]
    method: str  # "insee" or "referentiel"


MAYOTTE_CENSUS_YEAR = 2017


def _with_mayotte_in_force(pops: pd.DataFrame) -> pd.DataFrame:
    """Give every legal-population vintage since 2017 the Mayotte figures in force.

    Mayotte's legal populations are those of its 2017 census (the embedded packages keep them
    apart, labelled 2017). A national vintage without them would make France incomplete; with
    them, each vintage holds the populations legally in force, as INSEE's tables do. The
    rows keep their own source text, so the mixture is visible.
    """
    mayotte = pops["code"].str.startswith("976")
    census = pops[mayotte & (pops["annee"] == MAYOTTE_CENSUS_YEAR)]
    national = pops[~(mayotte & (pops["annee"] == MAYOTTE_CENSUS_YEAR))]
    if census.empty:
        return pops
    frames = [national]
    for (annee, cog_year), group in national.groupby(["annee", "cog"]):
        if annee < MAYOTTE_CENSUS_YEAR or group["code"].str.startswith("976").any():
            continue
        frames.append(census.assign(annee=annee, cog=cog_year))
    return pd.concat(frames, ignore_index=True)


def harmonised_populations(events_path: Path | None = None) -> HarmonisedPopulations:
    """Recode each embedded legal-population vintage to the referential's COG."""
    pops = _with_mayotte_in_force(referential.populations())
    events = cog.read_events(events_path) if events_path is not None else None
    targets = target_codes()
    frames, reports = [], {}
    for (annee, cog_year), group in pops.groupby(["annee", "cog"], sort=True):
        if events is not None:
            passage = cog.build_passage(events, int(cog_year), referential.REFERENTIAL_COG, targets)
        else:
            passage = passage_from_referential(group["code"])
        result = cog.recode(
            group,
            passage,
            code_column="code",
            count_columns=["population"],
            keep_columns=["source"],
            on_unknown="report",
        )
        table = result.table.assign(annee=int(annee), cog_source=int(cog_year))
        frames.append(table)
        reports[int(annee)] = result.report
    table = pd.concat(frames, ignore_index=True)
    table["population"] = table["population"].astype("Int64")
    columns = ["code", "annee", "population", "n_sources", "cog_status", "cog_source", "source"]
    return HarmonisedPopulations(
        table[columns], reports, "insee" if events is not None else "referentiel"
    )


def _read_codes_table(path: Path, code_column: str, sep: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("fichier introuvable", path=path)
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"CSV illisible ({exc})", path=path) from exc
    if code_column not in frame.columns:
        raise InputError(
            f"colonne de code « {code_column} » absente ; colonnes lues : "
            + ", ".join(frame.columns[:12])
            + (" (mauvais séparateur ?)" if len(frame.columns) == 1 else ""),
            path=path,
            column=code_column,
        )
    return frame


def detect_file_vintage(
    path: Path, events_path: Path, *, code_column: str = "CODGEO", sep: str = ";"
) -> tuple[int, float]:
    """COG vintage of a commune file and the share of its codes that exist at that vintage."""
    frame = _read_codes_table(path, code_column, sep)
    events = cog.read_events(events_path)
    codes = frame[code_column].dropna().str.strip()
    year = cog.detect_vintage(codes, events, target_codes(), referential.REFERENTIAL_COG)
    at_year = cog.communes_at(events, year, target_codes(), referential.REFERENTIAL_COG)
    observed = set(cog.arm_to_commune_series(codes))
    return year, len(observed & at_year) / max(len(observed), 1)


def recode_file(
    path: Path,
    events_path: Path,
    output: Path,
    *,
    code_column: str = "CODGEO",
    count_columns: list[str],
    source_year: int | None = None,
    target_year: int = referential.REFERENTIAL_COG,
    sep: str = ";",
) -> str:
    """Recode a commune CSV to the target COG and write it; returns a French summary."""
    if target_year != referential.REFERENTIAL_COG:
        raise InputError(
            f"COG cible {target_year} non pris en charge : le référentiel embarqué est au COG "
            f"{referential.REFERENTIAL_COG}"
        )
    frame = _read_codes_table(path, code_column, sep)
    missing = [c for c in count_columns if c not in frame.columns]
    if missing:
        raise InputError(f"colonnes de comptage absentes : {', '.join(missing)}", path=path)
    events = cog.read_events(events_path)
    targets = target_codes()
    if source_year is None:
        source_year = cog.detect_vintage(frame[code_column], events, targets, target_year)
    for column in count_columns:
        values = frame[column].str.replace(",", ".", regex=False)
        # INSEE secret markers ("s", blank) become missing values, never 0.
        values = values.where(values.str.lower() != "s")
        try:
            frame[column] = pd.to_numeric(values)
        except ValueError as exc:
            raise InputError(f"valeur non numérique ({exc})", path=path, column=column) from exc
    passage = cog.build_passage(events, source_year, target_year, targets)
    result = cog.recode(frame, passage, code_column=code_column, count_columns=count_columns)
    output.parent.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(output, index=False)
    return f"COG {source_year} → {target_year} : {result.report.summary()} Fichier écrit : {output}"
