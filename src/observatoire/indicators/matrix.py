"""Vectorised evaluation of a plan: communes × cells → territories × indicator-periods.

The chosen facts are scattered into dense commune × cell matrices (value, secret, uncertain);
each indicator-period's components (value, numerator, denominator, stocks, flow, threshold)
are sums of signed cells per commune; a commune counts for a territory only when every cell of
every component is known and none is secret. Official levels are partitions of the communes
(sum by sorted segments); custom territories are summed from their member indices. The
kinds' formulas then run on whole territory × indicator-period matrices, and the result is
handed to DuckDB as an Arrow table with integer keys (joined to small dimension tables
there), which keeps a national build to a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from observatoire.indicators.catalogue import Indicator

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


@dataclass
class Grid:
    """Territories (rows) and indicator-periods (columns) of a computation."""

    territories: pd.DataFrame  # territory_id, level (row order)
    columns: pd.DataFrame  # indicator_id, period_key, kind, measure, scale, years, threshold…


@dataclass
class Result:
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    status: np.ndarray  # int8 codes of STATUS_CODES
    members: np.ndarray  # int32 (per territory)
    with_value: np.ndarray  # int32 (territory × column)
    present: np.ndarray  # bool: some member has data (others are not written)


def _commune_index(con: duckdb.DuckDBPyConnection, members: pd.DataFrame) -> pd.Index:
    codes = pd.Index(sorted(set(members["code"])))
    return codes


def load_cells(
    con: duckdb.DuckDBPyConnection, cells: pd.DataFrame, communes: pd.Index
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense matrices (communes × cells): value (NaN unless known), secret (bool) and int8
    flags: 2 = uncertain COG recoding (split, incomplete merger), 4 = the source has a row
    for the cell (a known, secret or unknown value)."""
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
    try:
        got = con.execute(
            """
            SELECT c.row, k.cell, f.value, coalesce(f.secret, false) AS secret,
                   coalesce(f.cog_status IN ('incomplete', 'split', 'scission'), false) AS unc
            FROM _facts_all f
            JOIN _cells_df k ON k.variable = f.variable AND k.period = f.period
                            AND k.dataset = f.dataset AND k.vintage = f.vintage
            JOIN _communes_df c ON c.code = f.code
            """
        ).fetchnumpy()
    finally:
        con.unregister("_cells_df")
        con.unregister("_communes_df")
    rows = np.asarray(got["row"], dtype=np.int64)
    cols = np.asarray(got["cell"], dtype=np.int64)
    # fetchnumpy gives masked arrays where there are NULLs: a NULL is unknown, never 0.
    vals = np.ma.filled(np.ma.asarray(got["value"]).astype(float), np.nan)
    sec = np.ma.filled(np.ma.asarray(got["secret"]).astype(bool), False)
    values[rows, cols] = np.where(sec, np.nan, vals)
    secret[rows, cols] = sec
    unc = np.ma.filled(np.ma.asarray(got["unc"]).astype(bool), False)
    uncertain[rows, cols] = np.where(unc, 2, 0) + 4
    return values, secret, uncertain


@dataclass
class Components:
    """Per commune: the sums of every (column, component) used, and per column the flags."""

    keys: list[tuple[int, str]]  # (column, component) of each compact column
    values: np.ndarray  # communes × len(keys), NaN where a cell is unknown
    ok: np.ndarray  # communes × columns: every cell known, none secret
    secret: np.ndarray
    uncertain: np.ndarray
    exists: np.ndarray


def commune_components(
    plan: pd.DataFrame,
    columns: pd.DataFrame,
    values: np.ndarray,
    secret: np.ndarray,
    uncertain: np.ndarray,
) -> Components:
    """Per commune and column: component sums (compact), ok, secret, uncertain, exists."""
    n, k = values.shape[0], len(columns)
    groups = list(plan.groupby(["column", "component"], sort=True))
    compact = np.empty((n, len(groups)))
    known = np.ones((n, k), dtype=bool)
    any_secret = np.zeros((n, k), dtype=bool)
    any_unc = np.zeros((n, k), dtype=bool)
    exists = np.zeros((n, k), dtype=bool)
    present = np.zeros(k, dtype=bool)
    keys = []
    for position, ((col, component), group) in enumerate(groups):
        cells = group["cell"].to_numpy()
        signs = group["sign"].to_numpy(dtype=float)
        if len(cells) == 1:
            block = values[:, cells[0]]
            compact[:, position] = block * signs[0]
            known[:, col] &= ~np.isnan(block)
            any_secret[:, col] |= secret[:, cells[0]]
            flags = uncertain[:, cells[0]]
            any_unc[:, col] |= (flags & 2) > 0
            exists[:, col] |= (flags & 4) > 0
        else:
            block = values[:, cells]
            compact[:, position] = block @ signs
            known[:, col] &= ~np.isnan(block).any(axis=1)
            any_secret[:, col] |= secret[:, cells].any(axis=1)
            flags = uncertain[:, cells]
            any_unc[:, col] |= ((flags & 2) > 0).any(axis=1)
            exists[:, col] |= ((flags & 4) > 0).any(axis=1)
        present[col] = True
        keys.append((int(col), str(component)))
    ok = known & ~any_secret & present[None, :]
    return Components(keys, compact, ok, any_secret, any_unc, exists)


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


def aggregate(matrix: np.ndarray, ms: Membership, n_territories: int) -> np.ndarray:
    """Σ over member communes for every territory (rows) and column."""
    out = np.zeros((n_territories, matrix.shape[1]), dtype=matrix.dtype)
    if ms.copy is not None:
        first, count = ms.copy
        out[first : first + count] = matrix
    if len(ms.atom_starts):
        atoms = np.add.reduceat(matrix, ms.atom_starts, axis=0)  # the one pass over communes
        for order, group_starts, trows in ms.levels:
            if len(order):
                out[trows] = np.add.reduceat(atoms[order], group_starts, axis=0)
    for trow, crows in ms.custom:
        out[trow] = matrix[crows].sum(axis=0)
    return out


def evaluate(
    columns: pd.DataFrame,
    comps: Components,
    ms: Membership,
    n_territories: int,
    is_commune_level: np.ndarray,
) -> Result:
    """Sums over members, statuses and the kinds' formulas, for every territory × column."""
    k = len(columns)
    key_cols = np.array([c for c, _ in comps.keys], dtype=int)
    usable = np.where(comps.ok[:, key_cols], comps.values, 0.0)
    summed = aggregate(usable, ms, n_territories)
    del usable
    # Member counts as float32: exact up to 16 million, and NumPy's fastest reduceat here.
    flags = np.concatenate(
        [comps.ok, comps.secret, comps.ok & comps.uncertain, comps.exists], axis=1
    ).astype(np.float32)
    counted = aggregate(flags, ms, n_territories)
    del flags
    n_ok, n_secret, n_unc, n_exists = (counted[:, i * k : (i + 1) * k] for i in range(4))
    position = {key: n for n, key in enumerate(comps.keys)}
    n_members = ms.n_members[:, None]
    status = np.where(
        n_ok == 0,
        np.where(n_secret > 0, SECRET, MISSING),
        np.where((n_ok == n_members) & (n_unc == 0), OK, INCOMPLETE),
    ).astype(np.int8)
    value = np.full((n_territories, k), np.nan)
    numerator = np.full((n_territories, k), np.nan)
    denominator = np.full((n_territories, k), np.nan)
    total = np.zeros(k, dtype=bool)

    def part(cols: np.ndarray, component: str) -> np.ndarray:
        return summed[:, [position[(int(c), component)] for c in cols]]

    kinds = columns["kind"].to_numpy()
    measures = columns["measure"].to_numpy()
    scale = columns["scale"].to_numpy(dtype=float)
    years = columns["years"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = np.flatnonzero(np.isin(kinds, ("count", "non_additive")))
        if len(cols):
            v = part(cols, "v")
            value[:, cols], numerator[:, cols] = v, v
            total[cols] = True
        cols = np.flatnonzero(kinds == "ratio")
        if len(cols):
            v, d = part(cols, "v"), part(cols, "d")
            value[:, cols] = np.where(d != 0, v / d * scale[cols], np.nan)
            numerator[:, cols], denominator[:, cols] = v, d
        growth = kinds == "growth"
        cols = np.flatnonzero(growth & (measures == "rate"))
        if len(cols):
            s0, s1 = part(cols, "s0"), part(cols, "s1")
            ok = (s0 > 0) & (s1 >= 0)
            value[:, cols] = np.where(ok, (np.power(s1 / s0, 1.0 / years[cols]) - 1) * 100, np.nan)
            numerator[:, cols], denominator[:, cols] = s1, s0
        cols = np.flatnonzero(growth & (measures == "change"))
        if len(cols):
            s0, s1 = part(cols, "s0"), part(cols, "s1")
            value[:, cols], numerator[:, cols], denominator[:, cols] = s1 - s0, s1, s0
            total[cols] = True
        cols = np.flatnonzero(growth & (measures == "flow_rate"))
        if len(cols):
            s0, s1, f = part(cols, "s0"), part(cols, "s1"), part(cols, "f")
            log_mean = np.where((s0 > 0) & (s1 > 0) & (s0 != s1), (s1 - s0) / np.log(s1 / s0), s0)
            person_years = log_mean * years[cols]
            value[:, cols] = np.where(person_years > 0, f / person_years * scale[cols], np.nan)
            numerator[:, cols], denominator[:, cols] = f, person_years
    threshold = columns["threshold_min"].to_numpy(dtype=float)
    cols = np.flatnonzero(~np.isnan(threshold))
    if len(cols):
        t = np.nan_to_num(part(cols, "t"))
        below = (t < threshold[cols]) & (status[:, cols] != MISSING)
        status[:, cols] = np.where(below, SECRET, status[:, cols])
    na_cols = np.flatnonzero(kinds == "non_additive")
    if len(na_cols):
        sub = status[:, na_cols]
        sub[~is_commune_level] = NON_ADDITIVE
        status[:, na_cols] = sub
    non_additive = np.zeros((n_territories, k), dtype=bool)
    non_additive[np.ix_(~is_commune_level, na_cols)] = True
    # A partial sum is an under-count: totals of incomplete territories are withheld, while
    # rates of the covered members are kept (status ``incomplete``, with the coverage).
    kept = (status == OK) | (status == INCOMPLETE)
    # A rate of a partly covered territory is given only when nearly all its communes count
    # (a « France » made of two loaded départements is not France).
    thin = (status == INCOMPLETE) & (n_ok < MIN_COVERAGE * n_members)
    hide = ~kept | (total[None, :] & (status == INCOMPLETE)) | thin
    # A ratio with a zero denominator (0/0 shares) has no value: never "ok" without one.
    undefined = ~hide & ~np.isfinite(value) & ~total[None, :]
    status[undefined] = MISSING
    hide |= undefined
    value[hide] = np.nan
    numerator[hide | non_additive] = np.nan
    denominator[hide | non_additive] = np.nan
    with_value = np.where(non_additive, 0, n_ok).astype(np.int32)
    present = n_exists > 0
    return Result(value, numerator, denominator, status, ms.n_members, with_value, present)


def worst_status(statuses: list[np.ndarray]) -> np.ndarray:
    """The most severe status of several (missing > secret > non_additive > incomplete > ok)."""
    severity = np.max([_SEVERITY[s] for s in statuses], axis=0)
    back = np.argsort(_SEVERITY)  # severity → status code
    return back[severity].astype(np.int8)


def derived_columns(
    indicators: list[Indicator],
    columns: pd.DataFrame,
    result: Result,
) -> tuple[pd.DataFrame, Result]:
    """Append the columns of derived indicators, evaluated on their inputs' values.

    Expressions were validated on load (indicator ids, numbers, + - * / and parentheses):
    they are evaluated on NumPy arrays with no builtins available."""
    position = {(r.indicator_id, r.period_key): i for i, r in enumerate(columns.itertuples())}
    planned: list[tuple[Indicator, str]] = []
    known = set(position)
    for ind in indicators:  # in evaluation order: inputs first
        periods = None
        for dep in ind.inputs:
            have = {p for (i, p) in known if i == dep}
            periods = have if periods is None else periods & have
        for period in sorted(periods or ()):
            planned.append((ind, period))
            known.add((ind.id, period))
    if not planned:
        return columns, result
    n, k = result.value.shape
    extra = len(planned)

    def grow(matrix: np.ndarray, fill: object) -> np.ndarray:
        out = np.empty((n, k + extra), dtype=matrix.dtype)
        out[:, :k] = matrix
        out[:, k:] = fill
        return out

    value = grow(result.value, np.nan)
    status = grow(result.status, MISSING)
    with_value = grow(result.with_value, 0)
    present = grow(result.present, False)
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
    nan_block = np.full((n, extra), np.nan)
    result = Result(
        value,
        np.concatenate([result.numerator, nan_block], axis=1),
        np.concatenate([result.denominator, nan_block], axis=1),
        status,
        result.members,
        with_value,
        present,
    )
    return columns, result


def _nullable(values: np.ndarray) -> pa.Array:
    """NaN → NULL (SQL semantics: an unknown value is NULL, never NaN nor 0)."""
    return pa.array(values, mask=np.isnan(values))


def to_arrow(grid: Grid, result: Result, keep_columns: np.ndarray | None = None) -> pa.Table:
    """Long Arrow table with integer keys: trow, col, value, numerator, denominator, status,
    members, members_with_value — only where some member has data (a territory none of whose
    communes is covered by a source gets no row for it, rather than millions of « missing »)."""
    n, k = result.value.shape
    cols = np.arange(k) if keep_columns is None else keep_columns
    keep = result.present[:, cols].ravel()
    trow = np.repeat(np.arange(n, dtype=np.int32), len(cols))[keep]
    col = np.tile(cols.astype(np.int32), n)[keep]
    return pa.table(
        {
            "trow": trow,
            "col": col,
            "value": _nullable(np.round(result.value[:, cols], 6).ravel()[keep]),
            "numerator": _nullable(result.numerator[:, cols].ravel()[keep]),
            "denominator": _nullable(result.denominator[:, cols].ravel()[keep]),
            "status": result.status[:, cols].ravel()[keep],
            "members": np.repeat(result.members.astype(np.int32), len(cols))[keep],
            "members_with_value": result.with_value[:, cols].ravel()[keep],
        }
    )
