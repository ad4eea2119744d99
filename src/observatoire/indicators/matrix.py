"""Vectorised evaluation of a plan: communes × cells → territories × indicator-periods.

The chosen facts are scattered into dense commune × cell matrices (value, secret, uncertain);
each indicator-period's components (value, numerator, denominator, stocks, flow, threshold)
are sums of signed cells per commune; a commune counts for a territory only when every cell of
every component is known and none is secret. The communes are processed by blocks on all
cores (the commune level is evaluated inside each block); official levels are partitions of
the communes (sums of « atoms », runs of communes sharing every official territory); custom
territories are summed from their member rows. The kinds' formulas run on blocks of the
territory × indicator-period matrices, and the result is handed to DuckDB as an Arrow table
with integer keys (joined to small dimension tables there), which keeps a national build to
a few seconds.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from observatoire.indicators.catalogue import Indicator
from observatoire.warehouse import cell_status_code, cells_table, codes_table, columns_table

COMPONENTS = (
    "v",
    "d",
    "s0",
    "s1",
    "f",
    "t",
)  # value/numerator, denominator, stocks, flow, threshold
STATUS_CODES = ("ok", "secret", "incomplete", "non_additive", "missing")
OK, SECRET, INCOMPLETE, NON_ADDITIVE, MISSING = range(5)
MIN_COVERAGE = 0.95  # share of member communes a partial rate must cover to be given
# Worst-first order used by derived indicators: missing > secret > non_additive > incomplete.
_SEVERITY = np.array([0, 3, 1, 2, 4])  # by status code: ok 0, incomplete 1, non_add 2, …
_FETCH_ROWS = 1 << 20  # fact rows per Arrow batch read from DuckDB
_BLOCK_ROWS = 2048  # communes or territories per block: a few MB per matrix, cache-friendly


@dataclass
class Result:
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    status: np.ndarray  # int8 codes of STATUS_CODES
    members: np.ndarray  # int32 (per territory)
    with_value: np.ndarray  # int32 (territory × column)
    present: np.ndarray  # bool: some member has data (others are not written)


@contextmanager
def small_pages() -> Iterator[None]:
    """Large NumPy arrays on ordinary pages while the engine runs.

    NumPy asks the kernel for transparent huge pages for every large array; on a loaded
    machine the kernel then compacts memory at each allocation, which costs the engine's
    short-lived matrices more system time than the huge pages save (measured: −0,6 s of a
    9 s national build). The previous setting is restored afterwards; without the (private)
    switch, nothing changes.
    """
    switch = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(switch, "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    before = setter(False)
    try:
        yield
    finally:
        setter(before)


def load_cells(
    con: duckdb.DuckDBPyConnection,
    cells: pd.DataFrame,
    communes: pd.Index,
    cell_tables: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense matrices (communes × cells): value (NaN unless known), secret (bool) and int8
    flags: 2 = uncertain COG recoding (split, incomplete merger), 4 = the source has a row
    for the cell (a known, secret or unknown value).

    The facts are read from ``_facts_plain`` and from the ``cell_tables`` (sources stored as
    cells, see :mod:`observatoire.warehouse`), whose rows are chosen by column id.
    """
    n, m = len(communes), len(cells)
    values = np.full((n, m), np.nan)
    secret = np.zeros((n, m), dtype=bool)
    uncertain = np.zeros((n, m), dtype=np.int8)
    if m == 0:
        return values, secret, uncertain
    # The cells carry their chosen edition: one join selects the rows, no second filter.
    keyed = cells[["variable", "period", "cell"]].merge(
        con.execute("SELECT * FROM _editions").df(), on=["variable", "period"], how="left"
    )
    con.register("_cells_df", keyed)
    con.register("_communes_df", pd.DataFrame({"code": communes, "row": np.arange(n)}))
    # Each fact row as its flat position in the matrices, its value (NaN when secret or
    # unknown: a NULL is unknown, never 0) and its flags (1 secret, 2 uncertain recoding);
    # streamed in batches, each scattered at once.
    value_sql = (
        "CASE WHEN coalesce(f.secret, false) THEN 'NaN'::DOUBLE "
        "ELSE coalesce(f.value::DOUBLE, 'NaN'::DOUBLE) END AS value"
    )
    secret_sql = "CASE WHEN coalesce(f.secret, false) THEN 1 ELSE 0 END"
    parts = [
        f"""
        SELECT c.row * {m} + k.cell AS idx, {value_sql},
               ({secret_sql} + CASE WHEN f.cog_status IN ('incomplete', 'split', 'scission')
                                THEN 2 ELSE 0 END)::UTINYINT AS flags
        FROM _facts_plain f
        JOIN _cells_df k ON k.variable = f.variable AND k.period = f.period
                        AND k.dataset = f.dataset AND k.vintage = f.vintage
        JOIN _communes_df c ON c.code = f.code
        """
    ]
    incomplete = cell_status_code("incomplete")
    for table in cell_tables:  # the chosen columns first: then the cells by integer id
        parts.append(
            f"""
            SELECT c.row * {m} + k.cell AS idx, {value_sql},
                   ({secret_sql} + CASE WHEN f.status = {incomplete} THEN 2 ELSE 0 END)::UTINYINT
            FROM "{cells_table(table)}" f
            JOIN (SELECT d.col, x.cell FROM "{columns_table(table)}" d
                  JOIN _cells_df x ON x.variable = d.variable AND x.period = d.period
                                  AND x.dataset = d.dataset AND x.vintage = d.vintage) k
              ON k.col = f.col
            JOIN (SELECT t.tid, x.row FROM "{codes_table(table)}" t
                  JOIN _communes_df x ON x.code = t.code) c ON c.tid = f.tid
            """
        )
    sql = " UNION ALL ".join(parts)
    flat_values, flat_secret = values.reshape(-1), secret.reshape(-1)
    flat_uncertain = uncertain.reshape(-1)
    try:
        for batch in con.sql(sql).to_arrow_reader(_FETCH_ROWS):
            index = batch.column(0).to_numpy()
            flags = batch.column(2).to_numpy()
            flat_values[index] = batch.column(1).to_numpy()
            flat_secret[index] = (flags & 1) > 0
            flat_uncertain[index] = (flags & 2) + 4
    finally:
        con.unregister("_cells_df")
        con.unregister("_communes_df")
    return values, secret, uncertain


@dataclass
class Membership:
    """How territories (rows of the grid) are made of communes (rows of the matrices).

    The commune level is a copy of the matrices (same order). The other official levels are
    partitions of the communes: the communes are cut once into « atoms », the longest runs
    (in the matrix order: département, EPCI, code) inside which no level changes territory;
    one pass sums the atoms, and each level sums its atoms (a few thousand rows). Custom and
    overlapping territories are summed from their member rows one by one."""

    copy: tuple[int, int] | None  # (first territory row, count) of the commune level
    atom_starts: np.ndarray  # start of each atom in commune order
    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (atom order, group starts, trows)
    custom: list[tuple[int, np.ndarray]]  # (territory row, commune rows)
    n_members: np.ndarray


def membership(territories: pd.DataFrame, members: pd.DataFrame, communes: pd.Index) -> Membership:
    """Plan the sums of every territory (see :class:`Membership`)."""
    keys = territories["level"].astype(str) + "|" + territories["territory_id"].astype(str)
    rows = pd.Series(np.arange(len(territories)), index=pd.Index(keys.to_numpy(dtype=object)))
    member_keys = members["level"].astype(str) + "|" + members["territory_id"].astype(str)
    members = pd.DataFrame(
        {
            "level": members["level"].to_numpy(dtype=object),
            "trow": rows.reindex(member_keys.to_numpy(dtype=object)).to_numpy(),
            "crow": communes.get_indexer(members["code"].to_numpy(dtype=object)),
        }
    )
    members = members[(members["crow"] >= 0) & members["trow"].notna()]
    members["trow"] = members["trow"].astype(int)
    n_members = np.zeros(len(territories), dtype=np.int32)
    counts = members.groupby("trow").size()
    n_members[counts.index.to_numpy(dtype=int)] = counts.to_numpy()
    n = len(communes)
    copy = None
    partitions: list[np.ndarray] = []  # territory row of each commune (−1: none)
    custom = []
    for level, group in members.groupby("level", sort=False):
        if level == "custom" or group["crow"].duplicated().any():
            for trow, sub in group.groupby("trow"):
                custom.append((int(trow), sub["crow"].to_numpy(dtype=int)))
            continue
        of_commune = np.full(n, -1, dtype=np.int64)
        of_commune[group["crow"].to_numpy(dtype=int)] = group["trow"].to_numpy(dtype=int)
        one_each = len(group) == n and group["trow"].nunique() == n
        if copy is None and one_each and bool(np.all(np.diff(of_commune) == 1)):
            copy = (int(of_commune[0]), n)
            continue
        partitions.append(of_commune)
    if partitions and n:
        stacked = np.vstack(partitions)
        change = np.r_[True, (stacked[:, 1:] != stacked[:, :-1]).any(axis=0)]
        atom_starts = np.flatnonzero(change)
    else:
        atom_starts = np.zeros(0, dtype=np.int64)
    levels = []
    for of_commune in partitions:
        atom_trows = of_commune[atom_starts]
        kept = np.flatnonzero(atom_trows >= 0)
        order = kept[np.argsort(atom_trows[kept], kind="stable")]
        sorted_trows = atom_trows[order]
        group_starts = np.flatnonzero(np.r_[True, sorted_trows[1:] != sorted_trows[:-1]])
        levels.append((order, group_starts, sorted_trows[group_starts]))
    return Membership(copy, atom_starts, levels, custom, n_members)


@dataclass(frozen=True)
class _Layout:
    """Where each (column, component) and each column finds its cells.

    ``key_cells`` lists the cells of every key one after the other (``key_starts``: where
    each key begins, ``key_signs`` the signs); ``col_cells`` the cells of every column that
    has some (``col_starts``), for the flags: a column is known when all of its cells are.
    """

    keys: list[tuple[int, str]]
    key_cols: np.ndarray
    key_cells: np.ndarray
    key_signs: np.ndarray
    key_starts: np.ndarray
    col_ids: np.ndarray
    col_cells: np.ndarray
    col_starts: np.ndarray
    present: np.ndarray  # per column: it has cells


def _layout(plan: pd.DataFrame, k: int) -> _Layout:
    rows = plan[["column", "component", "cell", "sign"]].sort_values(
        ["column", "component"], kind="stable"
    )
    column = rows["column"].to_numpy(dtype=np.int64)
    component = rows["component"].astype(str).to_numpy(dtype=object)
    change = np.r_[True, (column[1:] != column[:-1]) | (component[1:] != component[:-1])]
    key_starts = np.flatnonzero(change)
    keys = [(int(column[i]), str(component[i])) for i in key_starts]
    cells = rows["cell"].to_numpy(dtype=np.int64)
    by_column = pd.DataFrame({"column": column, "cell": cells}).drop_duplicates()
    col_column = by_column["column"].to_numpy(dtype=np.int64)
    col_starts = np.flatnonzero(np.r_[True, col_column[1:] != col_column[:-1]])
    present = np.zeros(k, dtype=bool)
    present[col_column] = True
    return _Layout(
        keys=keys,
        key_cols=column[key_starts],
        key_cells=cells,
        key_signs=rows["sign"].to_numpy(dtype=float),
        key_starts=key_starts,
        col_ids=col_column[col_starts] if len(col_column) else np.zeros(0, dtype=np.int64),
        col_cells=by_column["cell"].to_numpy(dtype=np.int64),
        col_starts=col_starts,
        present=present,
    )


def _parallel(task: object, ranges: list[tuple[int, int]]) -> None:
    """Run ``task(start, stop)`` on every range, on all cores (NumPy releases the GIL)."""
    workers = min(len(ranges), os.cpu_count() or 1)
    if workers <= 1:
        for start, stop in ranges:
            task(start, stop)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(task, a, b) for a, b in ranges]:
            future.result()  # re-raises a task's exception


def _ranges(n: int, size: int, allowed: np.ndarray | None = None) -> list[tuple[int, int]]:
    """[0, n) cut into runs of about ``size`` rows, only at ``allowed`` starts if given."""
    if n == 0:
        return []
    cuts = np.arange(size, n, size)
    if allowed is not None and len(cuts):
        allowed = np.asarray(allowed)
        cuts = np.unique(allowed[np.clip(np.searchsorted(allowed, cuts), 0, len(allowed) - 1)])
        cuts = cuts[(cuts > 0) & (cuts < n)]
    bounds = [0, *cuts.tolist(), n]
    return list(itertools.pairwise(bounds))


class _Formulas:
    """Statuses and the kinds' formulas of every column, for any block of territories, from
    the block's component sums and member counts."""

    def __init__(self, columns: pd.DataFrame, keys: list[tuple[int, str]]) -> None:
        k = self.k = len(columns)
        position = {key: n for n, key in enumerate(keys)}
        kinds = columns["kind"].to_numpy()
        measures = columns["measure"].to_numpy()
        self.scale = columns["scale"].to_numpy(dtype=float)
        self.years = columns["years"].to_numpy(dtype=float)
        self.threshold = columns["threshold_min"].to_numpy(dtype=float)
        growth = kinds == "growth"
        self.groups = {
            "count": np.flatnonzero(np.isin(kinds, ("count", "non_additive"))),
            "ratio": np.flatnonzero(kinds == "ratio"),
            "rate": np.flatnonzero(growth & (measures == "rate")),
            "change": np.flatnonzero(growth & (measures == "change")),
            "flow_rate": np.flatnonzero(growth & (measures == "flow_rate")),
            "threshold": np.flatnonzero(~np.isnan(self.threshold)),
        }
        needs = {
            "count": ("v",),
            "ratio": ("v", "d"),
            "rate": ("s0", "s1"),
            "change": ("s0", "s1"),
            "flow_rate": ("s0", "s1", "f"),
            "threshold": ("t",),
        }
        # Positions in the summed block of each group's components.
        self.index = {
            (name, comp): np.array([position[(int(c), comp)] for c in self.groups[name]], int)
            for name, comps in needs.items()
            for comp in comps
        }
        self.total = np.zeros(k, dtype=bool)
        self.total[self.groups["count"]] = True
        self.total[self.groups["change"]] = True
        self.na_cols = np.flatnonzero(kinds == "non_additive")

    def __call__(
        self,
        summed: np.ndarray,
        counted: np.ndarray,
        members: np.ndarray,
        not_commune: np.ndarray,
        out: tuple[np.ndarray, ...],
    ) -> None:
        """Fill ``out`` (value, numerator, denominator, status, with_value, present rows)."""
        k, groups, years, scale = self.k, self.groups, self.years, self.scale
        rows = summed.shape[0]
        n_ok, n_secret, n_unc, n_exists = (counted[:, i * k : (i + 1) * k] for i in range(4))
        members = members[:, None]
        val, num, den, st, with_value, present = out  # filled in place
        st[...] = np.where(
            n_ok == 0,
            np.where(n_secret > 0, SECRET, MISSING),
            np.where((n_ok == members) & (n_unc == 0), OK, INCOMPLETE),
        )
        val.fill(np.nan)
        num.fill(np.nan)
        den.fill(np.nan)

        def part(name: str, comp: str) -> np.ndarray:
            return summed[:, self.index[(name, comp)]]

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            cols = groups["count"]
            if len(cols):
                v = part("count", "v")
                val[:, cols], num[:, cols] = v, v
            cols = groups["ratio"]
            if len(cols):
                v, d = part("ratio", "v"), part("ratio", "d")
                val[:, cols] = np.where(d != 0, v / d * scale[cols], np.nan)
                num[:, cols], den[:, cols] = v, d
            cols = groups["rate"]
            if len(cols):
                s0, s1 = part("rate", "s0"), part("rate", "s1")
                ok = (s0 > 0) & (s1 >= 0)
                tcam = (np.power(s1 / s0, 1.0 / years[cols]) - 1) * 100
                val[:, cols] = np.where(ok, tcam, np.nan)
                num[:, cols], den[:, cols] = s1, s0
            cols = groups["change"]
            if len(cols):
                s0, s1 = part("change", "s0"), part("change", "s1")
                val[:, cols], num[:, cols], den[:, cols] = s1 - s0, s1, s0
            cols = groups["flow_rate"]
            if len(cols):
                s0, s1 = part("flow_rate", "s0"), part("flow_rate", "s1")
                f = part("flow_rate", "f")
                log_mean = np.where(
                    (s0 > 0) & (s1 > 0) & (s0 != s1), (s1 - s0) / np.log(s1 / s0), s0
                )
                person_years = log_mean * years[cols]
                val[:, cols] = np.where(person_years > 0, f / person_years * scale[cols], np.nan)
                num[:, cols], den[:, cols] = f, person_years
        cols = groups["threshold"]
        if len(cols):
            t = np.nan_to_num(part("threshold", "t"))
            below = (t < self.threshold[cols]) & (st[:, cols] != MISSING)
            st[:, cols] = np.where(below, SECRET, st[:, cols])
        non_additive = np.zeros((rows, k), dtype=bool)
        if len(self.na_cols):
            non_additive[np.ix_(not_commune, self.na_cols)] = True
            st[non_additive] = NON_ADDITIVE
        # A partial sum is an under-count: totals of incomplete territories are withheld,
        # while rates of the covered members are kept (status ``incomplete``, with the
        # coverage) — given only when nearly all its communes count (a « France » made of
        # two loaded départements is not France).
        kept = (st == OK) | (st == INCOMPLETE)
        thin = (st == INCOMPLETE) & (n_ok < MIN_COVERAGE * members)
        hide = ~kept | (self.total[None, :] & (st == INCOMPLETE)) | thin
        # A ratio with a zero denominator (0/0 shares) has no value: never "ok" without one.
        undefined = ~hide & ~np.isfinite(val) & ~self.total[None, :]
        st[undefined] = MISSING
        hide |= undefined
        val[hide] = np.nan
        hidden = hide | non_additive
        num[hidden] = np.nan
        den[hidden] = np.nan
        with_value[...] = np.where(non_additive, 0, n_ok)
        present[...] = n_exists > 0


def evaluate(
    plan: pd.DataFrame,
    columns: pd.DataFrame,
    values: np.ndarray,
    secret: np.ndarray,
    uncertain: np.ndarray,
    ms: Membership,
    is_commune_level: np.ndarray,
    spare: int = 0,
) -> Result:
    """Every territory × column: component sums over the members that count, statuses and
    the kinds' formulas; ``spare`` more columns are left unset for the derived indicators.

    A commune counts for a column when every cell of every component of the column is known
    and none is secret. The communes are processed in blocks cut at atom boundaries (a few
    MB each, on all cores): each block evaluates its own communes (the commune level), sums
    its atoms and keeps aside the member rows of custom territories. The other territories
    are then summed — official levels from the atoms, custom ones from their member rows in
    member order — and evaluated.
    """
    k = len(columns)
    lay = _layout(plan, k)
    formulas = _Formulas(columns, lay.keys)
    n, nk, n_territories = values.shape[0], len(lay.keys), len(is_commune_level)
    width = k + spare
    value = np.empty((n_territories, width))
    numerator = np.empty((n_territories, width))
    denominator = np.empty((n_territories, width))
    status = np.empty((n_territories, width), dtype=np.int8)
    with_value = np.empty((n_territories, width), dtype=np.int32)
    present = np.empty((n_territories, width), dtype=bool)
    outputs = (value, numerator, denominator, status, with_value, present)
    not_commune = ~is_commune_level
    atoms_summed = np.zeros((len(ms.atom_starts), nk))
    atoms_counts = np.zeros((len(ms.atom_starts), 4 * k), dtype=np.float32)
    custom_rows = np.unique(np.concatenate([c for _, c in ms.custom])) if ms.custom else None
    kept_summed = np.zeros((0 if custom_rows is None else len(custom_rows), nk))
    kept_counts = np.zeros((len(kept_summed), 4 * k), dtype=np.float32)

    def column_any(flags: np.ndarray) -> np.ndarray:
        out = np.zeros((flags.shape[0], k), dtype=bool)
        if len(lay.col_ids):
            out[:, lay.col_ids] = np.logical_or.reduceat(
                flags[:, lay.col_cells], lay.col_starts, axis=1
            )
        return out

    def commune_block(start: int, stop: int) -> None:
        vals = values[start:stop]
        known = ~column_any(np.isnan(vals))
        any_secret = column_any(secret[start:stop])
        flags = uncertain[start:stop]
        any_unc = column_any((flags & 2) > 0)
        exists = column_any((flags & 4) > 0)
        ok = known & ~any_secret & lay.present[None, :]
        if nk:
            signed = vals[:, lay.key_cells]
            signed *= lay.key_signs
            usable = np.add.reduceat(signed, lay.key_starts, axis=1)
            del signed
            usable[~ok[:, lay.key_cols]] = 0.0
        else:
            usable = np.zeros((stop - start, 0))
        flags32 = np.empty((stop - start, 4 * k), dtype=np.float32)
        for i, flag in enumerate((ok, any_secret, ok & any_unc, exists)):
            flags32[:, i * k : (i + 1) * k] = flag
        if ms.copy is not None:
            at = slice(ms.copy[0] + start, ms.copy[0] + stop)
            formulas(
                usable,
                flags32,
                ms.n_members[at],
                not_commune[at],
                tuple(matrix[at, :k] for matrix in outputs),
            )
        if len(ms.atom_starts):
            a0, a1 = np.searchsorted(ms.atom_starts, [start, stop])
            local = ms.atom_starts[a0:a1] - start
            if len(local):
                atoms_summed[a0:a1] = np.add.reduceat(usable, local, axis=0)
                atoms_counts[a0:a1] = np.add.reduceat(flags32, local, axis=0)
        if custom_rows is not None:
            r0, r1 = np.searchsorted(custom_rows, [start, stop])
            kept_summed[r0:r1] = usable[custom_rows[r0:r1] - start]
            kept_counts[r0:r1] = flags32[custom_rows[r0:r1] - start]

    _parallel(
        commune_block, _ranges(n, _BLOCK_ROWS, ms.atom_starts if len(ms.atom_starts) else None)
    )
    # The other territories (all of them when the commune level is not a plain copy).
    others = np.ones(n_territories, dtype=bool)
    if ms.copy is not None:
        others[ms.copy[0] : ms.copy[0] + ms.copy[1]] = False
    rows = np.flatnonzero(others)
    where = np.full(n_territories, -1, dtype=np.int64)
    where[rows] = np.arange(len(rows))
    summed = np.zeros((len(rows), nk))
    counts = np.zeros((len(rows), 4 * k), dtype=np.float32)
    for order, group_starts, trows in ms.levels:
        if len(order):
            summed[where[trows]] = np.add.reduceat(atoms_summed[order], group_starts, axis=0)
            counts[where[trows]] = np.add.reduceat(atoms_counts[order], group_starts, axis=0)
    for trow, crows in ms.custom:
        at = np.searchsorted(custom_rows, crows)
        summed[where[trow]] = kept_summed[at].sum(axis=0)
        counts[where[trow]] = kept_counts[at].sum(axis=0)

    def other_block(start: int, stop: int) -> None:
        trows = rows[start:stop]
        out = tuple(np.empty((len(trows), k), dtype=m.dtype) for m in outputs)
        formulas(
            summed[start:stop], counts[start:stop], ms.n_members[trows], not_commune[trows], out
        )
        for matrix, block in zip(outputs, out, strict=True):
            matrix[trows, :k] = block

    _parallel(other_block, _ranges(len(rows), _BLOCK_ROWS))
    return Result(value, numerator, denominator, status, ms.n_members, with_value, present)


def worst_status(statuses: list[np.ndarray]) -> np.ndarray:
    """The most severe status of several (missing > secret > non_additive > incomplete > ok)."""
    severity = np.max([_SEVERITY[s] for s in statuses], axis=0)
    back = np.argsort(_SEVERITY)  # severity → status code
    return back[severity].astype(np.int8)


def derived_plan(indicators: list[Indicator], columns: pd.DataFrame) -> list[tuple[Indicator, str]]:
    """The (derived indicator, period) columns computable from ``columns``, inputs first."""
    known = set(zip(columns["indicator_id"], columns["period_key"], strict=True))
    planned: list[tuple[Indicator, str]] = []
    for ind in indicators:  # in evaluation order: inputs first
        periods = None
        for dep in ind.inputs:
            have = {p for (i, p) in known if i == dep}
            periods = have if periods is None else periods & have
        for period in sorted(periods or ()):
            planned.append((ind, period))
            known.add((ind.id, period))
    return planned


def derived_columns(
    planned: list[tuple[Indicator, str]],
    columns: pd.DataFrame,
    result: Result,
) -> tuple[pd.DataFrame, Result]:
    """Fill the ``planned`` columns of derived indicators (:func:`derived_plan`) — the room
    :func:`evaluate` left after the base columns (``spare``) — from their inputs' values.

    Expressions were validated on load (indicator ids, numbers, + - * / and parentheses):
    they are evaluated on NumPy arrays with no builtins available."""
    position = {(r.indicator_id, r.period_key): i for i, r in enumerate(columns.itertuples())}
    if not planned:
        return columns, result
    k = len(columns)
    if result.value.shape[1] != k + len(planned):
        raise ValueError("evaluate() must leave one spare column per planned derived column")
    value, status, with_value, present = (
        result.value,
        result.status,
        result.with_value,
        result.present,
    )
    for matrix, fill in ((result.numerator, np.nan), (result.denominator, np.nan)):
        matrix[:, k:] = fill  # the other outputs of a derived column are all set below
    rows = []
    sources = columns["source"].astype(str).tolist()
    origins = columns["origin"].astype(str).tolist()
    flags = columns["flags"].astype(str).tolist()
    for offset, (ind, period) in enumerate(planned):
        col = k + offset
        cols = {dep: position[(dep, period)] for dep in ind.inputs}
        env = {dep: value[:, c] for dep, c in cols.items()}
        with np.errstate(divide="ignore", invalid="ignore"):
            computed = eval(compile(ind.expression, ind.id, "eval"), {"__builtins__": {}}, env)
        worst = worst_status([status[:, c] for c in cols.values()])
        # Inputs computed over different members (partial rates) do not combine.
        counts = np.array([with_value[:, c] for c in cols.values()])
        same_members = (counts == counts[0]).all(axis=0)
        good = np.isin(worst, (OK, INCOMPLETE)) & np.isfinite(computed) & same_members
        value[:, col] = np.where(good, computed, np.nan)
        status[:, col] = worst
        with_value[:, col] = np.min([with_value[:, c] for c in cols.values()], axis=0)
        present[:, col] = np.all([present[:, c] for c in cols.values()], axis=0)
        position[(ind.id, period)] = col
        first = next(iter(cols.values()))
        source = " ; ".join(
            sorted({x for c in cols.values() for x in sources[c].split(" ; ") if x})
        )
        origin = "simulated" if any(origins[c] == "simulated" for c in cols.values()) else "real"
        flag = next((flags[c] for c in cols.values() if flags[c]), "")
        sources.append(source)
        origins.append(origin)
        flags.append(flag)
        rows.append(
            {
                **columns.iloc[first].to_dict(),
                "indicator_id": ind.id,
                "period_key": period,
                "kind": "derived",
                "source": source,
                "origin": origin,
                "flags": flag,
            }
        )
    columns = pd.concat([columns, pd.DataFrame(rows)], ignore_index=True)
    return columns, result


def _nullable(values: np.ndarray) -> pa.Array:
    """NaN → NULL (SQL semantics: an unknown value is NULL, never NaN nor 0)."""
    return pa.array(values, mask=np.isnan(values))


def to_arrow(result: Result) -> pa.Table:
    """Long Arrow table with integer keys: trow, col, value, numerator, denominator, status,
    members_with_value (a territory's member count is in its dimension table) — only where
    some member has data (a territory none of whose communes is covered by a source gets no
    row for it, rather than millions of « missing »).

    Rows come column after column (indicator-period, then territory): DuckDB stores the
    values of one indicator side by side, which compresses them (the national table is 40 %
    smaller than in territory order) and writes faster. Built by blocks of columns on all
    cores."""
    n, k = result.value.shape
    width = max(1, (_BLOCK_ROWS * max(k, 1)) // max(n, 1))
    ranges = _ranges(k, width)
    batches: list[pa.RecordBatch | None] = [None] * len(ranges)
    starts = {start: i for i, (start, _) in enumerate(ranges)}
    trows = np.arange(n, dtype=np.int32)

    def block(start: int, stop: int) -> None:
        def flat(matrix: np.ndarray) -> np.ndarray:
            return matrix[:, start:stop].T.ravel()

        keep = flat(result.present)
        batches[starts[start]] = pa.record_batch(
            {
                "trow": np.tile(trows, stop - start)[keep],
                "col": np.repeat(np.arange(start, stop, dtype=np.int32), n)[keep],
                "value": _nullable(np.round(flat(result.value), 6)[keep]),
                "numerator": _nullable(flat(result.numerator)[keep]),
                "denominator": _nullable(flat(result.denominator)[keep]),
                "status": flat(result.status)[keep],
                "members_with_value": flat(result.with_value)[keep],
            }
        )

    _parallel(block, ranges)
    if not batches:
        return _empty_cells()
    return pa.Table.from_batches(batches)


def _empty_cells() -> pa.Table:
    return pa.table(
        {
            "trow": pa.array([], pa.int32()),
            "col": pa.array([], pa.int32()),
            "value": pa.array([], pa.float64()),
            "numerator": pa.array([], pa.float64()),
            "denominator": pa.array([], pa.float64()),
            "status": pa.array([], pa.int8()),
            "members_with_value": pa.array([], pa.int32()),
        }
    )
