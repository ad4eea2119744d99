"""COG harmonisation: read INSEE commune change events, recode commune tables to a target COG.

Every source ships its own COG vintage (check it with :func:`detect_vintage`). This module
rebuilds the commune set of any vintage from INSEE's "événements sur les communes" table
(``v_mvt_commune_YYYY.csv``) and the commune list of a target vintage, builds a passage table
from a source vintage to the target vintage, and recodes commune-level count tables.

Vintage convention: "COG Y" is the situation on 1 January Y, *including* the events dated
1 January Y. Moving from COG S to COG T applies the events dated after 1 Jan S and up to
1 Jan T included, in date order.

Event codes (``MOD``) and how they are handled. Only ``COM -> COM`` rows carry statistics:
rows whose side is a commune associée (COMA), déléguée (COMD) or an arrondissement municipal
(ARM) are never statistical communes and are ignored.

- 10 name change: identity (``COM_AV == COM_AP``), no effect on codes.
- 20 creation: a commune is created from part of one or more communes (``A -> {A, new}``):
  one-to-many, treated as a split; a creation ex nihilo has an empty "before" side.
- 21 rétablissement: a merged commune is split again (``P -> {P, R1, R2...}``): split.
- 30 suppression: a commune disappears, its territory shared among neighbours
  (``X -> {Y, Z}``): one-to-many, treated as a split.
- 31 fusion simple, 32 création de commune nouvelle, 33 fusion-association: the absorbed
  communes map to the pole (``B -> A``); the pole row ``A -> A`` is kept as is.
- 34 transformation of a fusion-association into a fusion simple, 35 suppression de commune
  déléguée, 70 commune associée -> déléguée, 71 rétablissement de commune déléguée: they only
  change COMA/COMD rows (their ``COM -> COM`` rows are identities): no statistical effect.
- 41 code change after a change of département, 50 code change after a chef-lieu transfer:
  ``old -> new`` one-to-one.

Any other ``MOD`` with a non-identity ``COM -> COM`` row is rejected by :func:`read_events`.
Events of the same date are applied in dependency order (a code created by one event of the
day and consumed by another, e.g. a 41 code change followed by a 32 merger on 2018-01-01, is
created first), then by ``MOD``. Chaining runs step by step until the target date, so the
latest event wins and chains of mergers, code changes and splits compose.

Split rule. A source commune whose territory is divided among several target communes
(MOD 20, 21, 30 after the source vintage, not undone later) cannot have its figures divided
exactly. The whole figure goes to one target, its *main successor*, chosen at each event:
the successor bearing the source commune's own code (a commune merged then restored gets its
figures back), else the one keeping the current code, else, when that code disappears
(MOD 30), the successor with the smallest code (deterministic; the events table has no
population to do better). Every target commune involved in the split (the main successor
and the others) gets ``cog_status = 'incomplete'``; those that receive no figure get NULL
counts. Nothing is apportioned.

Unknown-code policy. A code of the recoded table that is not a commune of the source vintage
(nor an arrondissement municipal of Paris, Lyon, Marseille) raises :class:`InputError` listing
the codes (default ``on_unknown="raise"``). With ``on_unknown="report"`` those rows are left
out of the result and listed in ``RecodeReport.unknown_codes``: never silently dropped.

Arrondissements municipaux (75101-75120, 69381-69389, 13201-13216): if the table also holds
their commune (75056, 69123, 13055) they are duplicates, dropped and listed in the report;
otherwise they are summed into it (NULL rule below; a missing arrondissement: incomplete).

Sums. Counts of merged communes are summed; a NULL (secret, missing) member value, or a member
commune absent from the table, makes the sum NULL for that column and the target
``incomplete``: a missing value is never read as 0. A single-source target keeps its NULL as
is (status ``ok``: the value is secret or missing at source, not incomplete). Columns of
``keep_columns`` keep their value when all members agree, else become NULL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import pandas as pd

from observatoire.errors import InputError

REQUIRED_COLUMNS = (
    "MOD",
    "DATE_EFF",
    "TYPECOM_AV",
    "COM_AV",
    "LIBELLE_AV",
    "TYPECOM_AP",
    "COM_AP",
    "LIBELLE_AP",
)
EVENT_LABELS: dict[int, str] = {
    10: "Changement de nom",
    20: "Création",
    21: "Rétablissement",
    30: "Suppression",
    31: "Fusion simple",
    32: "Création de commune nouvelle",
    33: "Fusion association",
    34: "Transformation de fusion association en fusion simple",
    35: "Suppression de commune déléguée",
    41: "Changement de code dû à un changement de département",
    50: "Changement de code dû à un transfert de chef-lieu",
    70: "Transformation de commune associée en commune déléguée",
    71: "Rétablissement de commune déléguée",
}
FUSION_MODS = frozenset({31, 32, 33, 34})
TYPECOMS = frozenset({"COM", "COMA", "COMD", "ARM"})
KINDS = ("identique", "fusion", "changement_code", "scission")
STATUSES = ("ok", "fusion", "incomplete")
PASSAGE_COLUMNS = ("code_source", "code_cible", "kind", "n_sources", "split", "receives")

ARM_TO_COMMUNE: dict[str, str] = {
    **{f"751{i:02d}": "75056" for i in range(1, 21)},
    **{f"6938{i}": "69123" for i in range(1, 10)},
    **{f"132{i:02d}": "13055" for i in range(1, 17)},
}
_ARM_COUNT = {"75056": 20, "69123": 9, "13055": 16}
_CODE_PATTERN = r"^(?:\d{2}|2[AB])\d{3}$"
_EVENT_COLUMNS = ("mod", "date_eff", "typecom_av", "com_av", "typecom_ap", "com_ap")


def read_events(path: str | Path) -> pd.DataFrame:
    """Read INSEE's commune events table (``v_mvt_commune_YYYY.csv``).

    Returns one row per event line, sorted by date then ``MOD``, with columns ``mod`` (int),
    ``date_eff`` (datetime64, day precision), ``typecom_av``, ``com_av``, ``libelle_av``,
    ``typecom_ap``, ``com_ap``, ``libelle_ap`` (strings). Column names are matched without
    regard to case; extra columns are ignored. Dates may be ``YYYY-MM-DD`` or ``DD/MM/YYYY``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("fichier des événements communaux introuvable", path=path)
    raw = _read_csv(path)
    by_upper = {str(col).strip().upper(): col for col in raw.columns}
    missing = [col for col in REQUIRED_COLUMNS if col not in by_upper]
    if missing:
        header = ",".join(str(col) for col in raw.columns)
        hint = ""
        if ";" in header or "\t" in header:
            hint = " ; le séparateur doit être la virgule (fichier INSEE v_mvt_commune)"
        raise InputError(
            f"colonnes obligatoires absentes : {', '.join(missing)} (table INSEE des "
            f"événements sur les communes attendue){hint}",
            path=path,
            column=missing[0] if len(missing) == 1 else None,
        )
    raw = raw[[by_upper[col] for col in REQUIRED_COLUMNS]]
    raw.columns = [col.lower() for col in REQUIRED_COLUMNS]
    raw = raw.fillna("").astype(str).apply(lambda col: col.str.strip())

    def fail(mask: pd.Series, message: str, column: str) -> None:
        if mask.any():
            first = int(mask.to_numpy().argmax())  # raw has a RangeIndex
            value = raw[column.lower()].iloc[first]
            raise InputError(f"{message} : « {value} »", path=path, line=first + 2, column=column)

    fail(~raw["mod"].str.fullmatch(r"\d{1,3}"), "code d'événement invalide", "MOD")
    events = pd.DataFrame({"mod": raw["mod"].astype(int)})
    dates = pd.to_datetime(raw["date_eff"], format="%Y-%m-%d", errors="coerce")
    dates = dates.fillna(pd.to_datetime(raw["date_eff"], format="%d/%m/%Y", errors="coerce"))
    fail(dates.isna(), "date d'effet invalide (attendu AAAA-MM-JJ)", "DATE_EFF")
    events["date_eff"] = dates.astype("datetime64[ns]")
    for side in ("av", "ap"):
        typecom = raw[f"typecom_{side}"].str.upper()
        code = raw[f"com_{side}"].str.upper()
        # A creation ex nihilo (MOD 20, e.g. Guyane 1949) has an empty "before" side.
        empty = (typecom == "") & (code == "") if side == "av" else pd.Series(False, raw.index)
        fail(~typecom.isin(TYPECOMS) & ~empty, "type de commune inconnu", f"TYPECOM_{side.upper()}")
        bad = ~code.str.fullmatch(_CODE_PATTERN) & ~empty
        fail(
            bad & (code.str.len() == 4),
            "code commune sur 4 caractères (zéro initial perdu ?)",
            f"COM_{side.upper()}",
        )
        fail(bad, "code commune invalide", f"COM_{side.upper()}")
        events[f"typecom_{side}"] = typecom
        events[f"com_{side}"] = code
        events[f"libelle_{side}"] = raw[f"libelle_{side}"]
    effective = (
        (events["typecom_av"] == "COM")
        & (events["typecom_ap"] == "COM")
        & (events["com_av"] != events["com_ap"])
    )
    fail(effective & ~events["mod"].isin(EVENT_LABELS), "code d'événement inconnu", "MOD")
    events = events[[col.lower() for col in REQUIRED_COLUMNS]]
    return events.sort_values(["date_eff", "mod"], kind="stable").reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return pd.read_csv(path, sep=",", dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"lecture du fichier CSV impossible ({exc})", path=path) from exc
    raise InputError("encodage du fichier non reconnu (UTF-8 attendu)", path=path)


class _Step(NamedTuple):
    date: pd.Timestamp
    mod: int
    mapping: dict[str, tuple[str, ...]]  # code before -> codes after (COM -> COM only)


def _jan1(year: int) -> pd.Timestamp:
    return pd.Timestamp(year=int(year), month=1, day=1)


def _steps(events: pd.DataFrame, start_year: int, end_year: int) -> list[_Step]:
    """COM -> COM event steps dated after 1 Jan ``start_year`` up to 1 Jan ``end_year``."""
    missing = [col for col in _EVENT_COLUMNS if col not in events.columns]
    if missing:
        raise InputError(
            f"table des événements communaux invalide : colonnes absentes {', '.join(missing)} "
            "(lisez le fichier INSEE avec read_events)"
        )
    com = events[events["typecom_av"].isin(("COM", "")) & (events["typecom_ap"] == "COM")]
    com = com[(com["date_eff"] > _jan1(start_year)) & (com["date_eff"] <= _jan1(end_year))]
    steps: list[_Step] = []
    for date, day in com.groupby("date_eff", sort=True):
        day_steps = []
        for mod, group in day.groupby("mod", sort=True):
            mapping: dict[str, set[str]] = {}
            for before, after in zip(group["com_av"], group["com_ap"], strict=True):
                mapping.setdefault(before, set()).add(after)
            frozen = {key: tuple(sorted(value)) for key, value in mapping.items()}
            day_steps.append(_Step(pd.Timestamp(date), int(mod), frozen))
        steps.extend(_order_day(day_steps))
    return steps


def _order_day(steps: list[_Step]) -> list[_Step]:
    """Order the steps of one date: a step creating a code consumed by another comes first."""
    produced = [{a for b, afters in s.mapping.items() for a in afters if a != b} for s in steps]
    remaining = list(range(len(steps)))
    ordered: list[_Step] = []
    while remaining:
        ready = [
            i
            for i in remaining
            if not any(produced[j] & steps[i].mapping.keys() for j in remaining if j != i)
        ]
        chosen = ready[0] if ready else remaining[0]  # cycle: fall back to MOD order
        ordered.append(steps[chosen])
        remaining.remove(chosen)
    return ordered


def _code_set(codes: Iterable[str], what: str) -> set[str]:
    result = {str(code).strip().upper() for code in codes if not pd.isna(code)}
    if not result:
        raise InputError(f"liste de codes commune vide ({what})")
    return result


def _vintage_sets(
    events: pd.DataFrame, years: Iterable[int], targets: set[str], target_year: int
) -> dict[int, set[str]]:
    """Commune sets on 1 Jan of each year, undoing events backwards from the target set."""
    wanted = sorted(set(int(y) for y in years), reverse=True)
    if not wanted:
        raise InputError("aucun millésime du COG demandé")
    if wanted[0] > target_year:
        raise InputError(
            f"millésime {wanted[0]} postérieur au COG cible {target_year} : impossible de le "
            "reconstruire"
        )
    steps = _steps(events, wanted[-1], target_year)
    current = set(targets)
    result: dict[int, set[str]] = {}
    position = len(steps)
    for year in wanted:
        limit = _jan1(year)
        while position > 0 and steps[position - 1].date > limit:
            position -= 1
            step = steps[position]
            afters = {a for values in step.mapping.values() for a in values}
            absent = sorted(afters - current)
            if absent:
                raise InputError(
                    f"la liste des communes cible ne correspond pas au COG {target_year} : "
                    f"{', '.join(absent[:10])} absente(s) alors que l'événement {step.mod} du "
                    f"{step.date:%Y-%m-%d} les produit"
                )
            if step.mod not in FUSION_MODS:  # fusion poles existed before the event
                current -= afters
            current |= step.mapping.keys() - {""}  # "": creation ex nihilo
        result[year] = set(current)
    return result


def communes_at(
    events: pd.DataFrame, year: int, target_codes: Iterable[str], target_year: int
) -> set[str]:
    """Commune codes in force on 1 January ``year`` (COG ``year``).

    Rebuilt from the commune list of COG ``target_year`` by undoing, most recent first, the
    events dated after 1 Jan ``year`` up to 1 Jan ``target_year``.
    """
    targets = _code_set(target_codes, f"COG {target_year}")
    return _vintage_sets(events, [year], targets, target_year)[int(year)]


def build_passage(
    events: pd.DataFrame, source_year: int, target_year: int, target_codes: Iterable[str]
) -> pd.DataFrame:
    """Passage table from COG ``source_year`` to COG ``target_year``.

    One row per (``code_source``, ``code_cible``) with ``kind`` (``identique``, ``fusion``,
    ``changement_code``, ``scission``), ``n_sources`` (source communes reaching that target),
    ``split`` (the source commune was split: its figures cannot be apportioned) and
    ``receives`` (this target receives the source's figures: exactly one per source, the main
    successor for a split commune, see the module docstring).
    """
    targets = _code_set(target_codes, f"COG {target_year}")
    if source_year > target_year:
        raise InputError(
            f"COG source {source_year} postérieur au COG cible {target_year} : recodage impossible"
        )
    sources = _vintage_sets(events, [source_year], targets, target_year)[int(source_year)]
    holders: dict[str, set[str]] = {code: {code} for code in sources}  # code -> sources
    main: dict[str, set[str]] = {code: {code} for code in sources}  # main successor -> sources
    for step in _steps(events, source_year, target_year):
        moved = {b: holders.pop(b) for b in step.mapping if b in holders}
        moved_main = {b: main.pop(b) for b in step.mapping if b in main}
        for before, srcs in moved.items():
            for after in step.mapping[before]:
                holders.setdefault(after, set()).update(srcs)
        for before, srcs in moved_main.items():
            afters = step.mapping[before]
            for src in srcs:
                chosen = src if src in afters else before if before in afters else afters[0]
                main.setdefault(chosen, set()).add(src)
    outside = sorted(set(holders) - targets)
    if outside:
        raise InputError(
            f"les événements mènent à des codes absents du COG {target_year} : "
            f"{', '.join(outside[:10])}"
        )
    rows = [(src, code) for code, srcs in holders.items() for src in srcs]
    passage = pd.DataFrame(rows, columns=["code_source", "code_cible"])
    receiving = {(src, code) for code, srcs in main.items() for src in srcs}
    passage["receives"] = [
        pair in receiving
        for pair in zip(passage["code_source"], passage["code_cible"], strict=True)
    ]
    passage["split"] = passage.groupby("code_source")["code_cible"].transform("size") > 1
    passage["n_sources"] = (
        passage.groupby("code_cible")["code_source"].transform("size").astype("int64")
    )
    kind = pd.Series("identique", index=passage.index)
    kind[passage["code_source"] != passage["code_cible"]] = "changement_code"
    kind[passage["n_sources"] > 1] = "fusion"
    passage["kind"] = kind.where(~passage["split"], "scission")
    passage = passage[list(PASSAGE_COLUMNS)].sort_values(["code_source", "code_cible"])
    return passage.reset_index(drop=True)


def arm_to_commune(code: str) -> str:
    """Parent commune of an arrondissement municipal code; any other code is returned as is."""
    code = str(code).strip()
    return ARM_TO_COMMUNE.get(code, code)


def arm_to_commune_series(codes: pd.Series) -> pd.Series:
    """Vectorised :func:`arm_to_commune` for a Series of string codes."""
    stripped = codes.astype(str).str.strip()
    return stripped.map(ARM_TO_COMMUNE).fillna(stripped).where(codes.notna(), codes)


@dataclass(frozen=True)
class RecodeReport:
    """What :func:`recode` did: counts and the codes concerned."""

    rows_in: int
    rows_out: int
    unknown_codes: tuple[str, ...]
    arm_dropped: tuple[str, ...]
    arm_aggregated: tuple[str, ...]
    merged_targets: int
    merged_sources: int
    code_changes: int
    split_sources: tuple[str, ...]
    incomplete_targets: tuple[str, ...]

    def summary(self) -> str:
        """One French paragraph for users."""
        parts = [
            f"{self.rows_in} lignes lues, {self.rows_out} communes en sortie",
            f"{self.merged_sources} communes fusionnées en {self.merged_targets} communes",
            f"{self.code_changes} changements de code",
            f"{len(self.split_sources)} communes scindées depuis (valeurs non réparties)",
            f"{len(self.incomplete_targets)} communes au statut « incomplete »",
        ]
        if self.arm_dropped:
            parts.append(f"{len(self.arm_dropped)} arrondissements écartés (commune présente)")
        if self.arm_aggregated:
            parts.append(f"arrondissements sommés dans {', '.join(self.arm_aggregated)}")
        if self.unknown_codes:
            shown = ", ".join(self.unknown_codes[:10])
            parts.append(f"{len(self.unknown_codes)} codes inconnus écartés ({shown})")
        return " ; ".join(parts) + "."


@dataclass(frozen=True)
class RecodeResult:
    """The recoded table and its report."""

    table: pd.DataFrame
    report: RecodeReport


def _sum_groups(
    frame: pd.DataFrame, key: str, counts: Sequence[str], keeps: Sequence[str]
) -> pd.DataFrame:
    """Sum counts per ``key`` (NULL if any member is NULL); keep columns if members agree.

    Adds ``_n`` (members), ``_na`` (some member value NULL) and ``_flag`` (any member flagged).
    """
    grouped = frame.groupby(key, sort=True)
    out = grouped[list(counts)].sum(min_count=1) if counts else grouped.size().to_frame("_n")
    nulls = frame[list(counts)].isna()
    any_null = nulls.groupby(frame[key]).any().reindex(out.index)
    if counts:
        out = out.mask(any_null[list(counts)])
    extra: dict[str, pd.Series] = {}
    if keeps:
        # Vectorised over every keep column at once (wide census tables have hundreds).
        agree = grouped[list(keeps)].nunique(dropna=False) == 1
        extra.update(grouped[list(keeps)].first().where(agree).items())
    extra["_n"] = grouped.size()
    extra["_na"] = any_null.any(axis=1) if counts else pd.Series(False, index=out.index, dtype=bool)
    extra["_flag"] = grouped["_flag"].any()
    extra_frame = pd.DataFrame(extra, index=out.index)
    if not counts:
        out = out.drop(columns=["_n"])
    return pd.concat([out, extra_frame], axis=1)


def recode(
    table: pd.DataFrame,
    passage: pd.DataFrame,
    *,
    code_column: str = "code",
    count_columns: Sequence[str],
    keep_columns: Sequence[str] = (),
    on_unknown: Literal["raise", "report"] = "raise",
) -> RecodeResult:
    """Recode a commune-level table to the target COG of ``passage`` (see module docstring).

    The result holds ``code_column`` (target codes), the summed ``count_columns``, the
    ``keep_columns``, ``n_sources`` (source communes summed) and ``cog_status`` (``ok``,
    ``fusion`` or ``incomplete``), one row per target commune, sorted by code.
    """
    count_columns = list(count_columns)
    keep_columns = list(keep_columns)
    missing = [c for c in (code_column, *count_columns, *keep_columns) if c not in table.columns]
    if missing:
        raise InputError(
            f"colonnes absentes de la table à recoder : {', '.join(missing)}",
            column=missing[0],
        )
    absent = [c for c in PASSAGE_COLUMNS if c not in passage.columns]
    if absent:
        raise InputError(
            f"table de passage invalide : colonnes absentes {', '.join(absent)} "
            "(construisez-la avec build_passage)"
        )
    frame = table[[code_column, *count_columns, *keep_columns]].copy()
    if frame[code_column].isna().any():
        count = int(frame[code_column].isna().sum())
        raise InputError(f"{count} ligne(s) sans code commune", column=code_column)
    frame[code_column] = frame[code_column].astype(str).str.strip().str.upper()
    for column in count_columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            try:
                frame[column] = pd.to_numeric(frame[column])
            except (ValueError, TypeError) as exc:
                raise InputError(
                    f"colonne de comptage non numérique ({exc}) : remplacez les valeurs "
                    "secrètes par des valeurs manquantes avant le recodage",
                    column=column,
                ) from exc
    duplicated = frame[code_column][frame[code_column].duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"codes commune en double : {', '.join(sorted(duplicated)[:10])}", column=code_column
        )
    frame = frame.rename(columns={code_column: "_code"})
    frame["_code"] = frame["_code"].astype(object)  # object keys: fast isin / merge
    passage = passage.astype({"code_source": object, "code_cible": object})
    frame["_flag"] = False

    # Arrondissements municipaux: duplicates of their parent, or summed into it.
    is_arm = frame["_code"].isin(ARM_TO_COMMUNE)
    parents = frame["_code"].map(ARM_TO_COMMUNE).astype(object)
    duplicate_arm = is_arm & parents.isin(frame["_code"])
    arm_dropped = tuple(sorted(frame.loc[duplicate_arm, "_code"]))
    to_sum = is_arm & ~duplicate_arm
    arm_aggregated: tuple[str, ...] = ()
    if to_sum.any():
        arms = frame[to_sum].assign(_code=parents[to_sum])
        summed = _sum_groups(arms, "_code", count_columns, keep_columns)
        short = summed["_n"] < summed.index.map(_ARM_COUNT)
        summed["_flag"] = summed["_flag"] | summed["_na"] | short
        arm_aggregated = tuple(summed.index)
        frame = pd.concat(
            [frame[~is_arm], summed.drop(columns=["_n", "_na"]).reset_index()],
            ignore_index=True,
        )
    else:
        frame = frame[~is_arm]

    # Unknown codes.
    known = frame["_code"].isin(pd.Index(passage["code_source"]))
    unknown = tuple(sorted(frame.loc[~known, "_code"]))
    if unknown and on_unknown == "raise":
        short = any(len(code) == 4 for code in unknown)
        raise InputError(
            f"{len(unknown)} code(s) commune inconnu(s) dans le COG source de la table de "
            f"passage : {', '.join(unknown[:10])}{'…' if len(unknown) > 10 else ''}"
            + (" ; codes à 4 caractères : zéro initial perdu (lire en texte)" if short else ""),
            column=code_column,
        )
    frame = frame[known]

    # Sum into target communes.
    receiving = passage.loc[passage["receives"], ["code_source", "code_cible", "split"]]
    merged = frame.merge(receiving, left_on="_code", right_on="code_source", how="left")
    merged["_flag"] = merged["_flag"] | merged["split"]
    out = _sum_groups(merged, "code_cible", count_columns, keep_columns)

    # Targets of split communes present in the table that receive no figure.
    split_rows = passage[passage["split"] & passage["code_source"].isin(frame["_code"])]
    extra = pd.Index(split_rows["code_cible"].unique()).difference(out.index)
    if len(extra):
        out = out.reindex(out.index.union(extra))
        out.loc[extra, "_n"] = 0
        out.loc[extra, ["_na", "_flag"]] = True
    out["_n"] = out["_n"].astype("int64")

    expected = receiving.groupby("code_cible").size().reindex(out.index, fill_value=0)
    lacking = out["_n"] < expected
    if count_columns:
        out.loc[lacking, count_columns] = pd.NA
    split_targets = set(passage.loc[passage["split"], "code_cible"])
    incomplete = (
        out["_flag"].astype(bool)
        | lacking
        | ((out["_n"] > 1) & out["_na"].astype(bool))
        | out.index.isin(split_targets)
    )
    status = pd.Series("ok", index=out.index)
    status[out["_n"] > 1] = "fusion"
    status[incomplete] = "incomplete"

    result = out[[*count_columns, *keep_columns]].copy()
    result.insert(0, code_column, out.index.astype(str))
    result["n_sources"] = out["_n"]
    result["cog_status"] = status
    result = result.reset_index(drop=True)

    moved = merged[merged["code_source"] != merged["code_cible"]]
    single = moved["code_cible"].map(out["_n"]) == 1
    report = RecodeReport(
        rows_in=len(table),
        rows_out=len(result),
        unknown_codes=unknown,
        arm_dropped=arm_dropped,
        arm_aggregated=arm_aggregated,
        merged_targets=int((out["_n"] > 1).sum()),
        merged_sources=int(out.loc[out["_n"] > 1, "_n"].sum()),
        code_changes=int((single & ~moved["split"]).sum()),
        split_sources=tuple(sorted(split_rows["code_source"].unique())),
        incomplete_targets=tuple(out.index[incomplete]),
    )
    return RecodeResult(table=result, report=report)


def _department(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def detect_vintage(
    codes: Iterable[str],
    events: pd.DataFrame,
    target_codes: Iterable[str],
    target_year: int,
    candidates: Iterable[int] | None = None,
) -> int:
    """The COG year whose commune set best matches ``codes`` (ties: the latest year).

    Codes of arrondissements municipaux count as their commune. The score is the Jaccard
    index between the codes and each candidate's commune set restricted to the départements
    present in the codes (so that a one-département table is judged on its département).
    Default candidates: 2008 to ``target_year``.
    """
    observed = {arm_to_commune(code) for code in _code_set(codes, "table à dater")}
    targets = _code_set(target_codes, f"COG {target_year}")
    years = list(candidates) if candidates is not None else list(range(2008, target_year + 1))
    sets = _vintage_sets(events, years, targets, target_year)
    departments = {_department(code) for code in observed}

    def score(year: int) -> tuple[float, int]:
        restricted = {code for code in sets[year] if _department(code) in departments}
        return len(observed & restricted) / len(observed | restricted), year

    return max(sets, key=score)
