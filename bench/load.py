"""Load benchmark: simulated national files → warehouse, against a plain pandas baseline.

    python bench/load.py                 # national scale (≈35 000 communes, DVF ≈8,4 M lines)
    python bench/load.py --echelle 0.02  # smoke size (CI)

Two groups are measured separately, each in its own subprocess so that peak memory
(see ``_common.peak_mb``) belongs to that run alone:

- ``rp+filosofi+bpe``: every base-cc theme × 2 vintages, Filosofi, BPE xy;
- ``dvf``: DVF raw DGFiP files, two years (≈ 8,4 M lines, national volumes);

(« lignes lues » counts the rows the readers produced: long rows — one per commune and
variable — for the census and Filosofi tables, source lines for DVF and BPE), and for each,
the same files read by a straightforward baseline (``pandas.read_csv`` of
every file as text, ``concat`` of the files that have the same columns — the two DVF years,
the two BPE years; census bases differ by their vintage-suffixed columns —, ``to_parquet``).
Concatenating every file into one frame, whatever its columns, built a frame of thousands of
mostly empty columns over millions of rows, and was killed for lack of memory at national
scale: it measured nothing. The script prints rows/s, seconds, peak memory and the ratio
baseline / observatoire. Targets on the 2-core machine: RP + Filosofi + BPE under
20 s, DVF 5 M lines under 30 s, at least 3× the baseline.

A third measure, the « plancher DuckDB », loads the same files with DuckDB's own parallel CSV
reader, every column as text, one table per file, from copies decompressed beforehand: the
cost of storing the raw lines in the warehouse with nothing inflated, typed, checked, derived
or recoded. The census bases, stored as numeric cells, load faster than that; for DVF, whose
rows are mostly text (ids, addresses, parcels, codes), ``base / plancher`` bounds the ratio
a loader that keeps every line can reach on this machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import fr, measure, peak_mb  # bench/_common.py (scripts run from bench/)

GROUPS = {
    "rp+filosofi+bpe": [
        "rp_evol_struct_pop",
        "rp_logement",
        "rp_emploi_pop_active",
        "rp_diplomes_formation",
        "rp_couples_familles_menages",
        "rp_serie_historique",
        "filosofi_com",
        "bpe_xy",
    ],
    "dvf": ["dvf_dgfip"],
}


def run_observatoire(folder: Path, files: list[Path]) -> dict:
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project

    project = open_project(init_project(folder / "projet", force=True))
    start = time.perf_counter()
    loads = load_paths(project, files)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": sum(x.rows for x in loads), "peak_mb": peak_mb()}


def run_baseline(folder: Path, files: list[Path]) -> dict:
    import pandas as pd

    from observatoire.sources.sniff import sniff

    # Separators and encodings as a user would pass them by hand (taken from the sniffer,
    # outside the timed section).
    formats = {path: sniff(path)[0] for path in files}
    start = time.perf_counter()
    groups: dict[tuple[str, ...], list] = {}  # files with the same columns are concatenated
    for path in files:
        fmt = formats[path]
        frame = pd.read_csv(
            path, sep=fmt.separator, encoding=fmt.encoding, dtype=str, low_memory=False
        )
        groups.setdefault(tuple(frame.columns), []).append(frame)
    rows = sum(len(f) for frames in groups.values() for f in frames)
    folder.mkdir(parents=True, exist_ok=True)
    for number, frames in enumerate(groups.values()):
        pd.concat(frames, ignore_index=True).to_parquet(folder / f"baseline-{number}.parquet")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": rows, "peak_mb": peak_mb()}


def run_floor(folder: Path, files: list[Path]) -> dict:
    import shutil

    import duckdb

    from observatoire.sources.registry import detect
    from observatoire.sources.sniff import sniff

    # Outside the timed section: members decompressed, formats taken from the sniffer (the
    # raw DGFiP file has no quoting: its readers read it unquoted).
    folder.mkdir(parents=True, exist_ok=True)
    plain: list[tuple[Path, str, str]] = []
    for path in files:
        for number, file in enumerate(sniff(path)):
            _, detection = detect(file, quick=True)
            target = folder / f"{path.name}-{number}.txt"
            with file.open_binary() as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 4 << 20)
            plain.append((target, file.separator or ",", detection.dataset))
    con = duckdb.connect(str(folder / "plancher.duckdb"))
    start = time.perf_counter()
    for number, (target, separator, dataset) in enumerate(plain):
        quote = "" if dataset == "dvf_dgfip" else '"'
        con.execute(
            f"CREATE TABLE t{number} AS SELECT * FROM read_csv('{target}', delim='{separator}', "
            f"quote='{quote}', header=true, all_varchar=true)"
        )
    con.close()
    seconds = time.perf_counter() - start
    con = duckdb.connect(str(folder / "plancher.duckdb"), read_only=True)
    rows = sum(con.execute(f"SELECT count(*) FROM t{n}").fetchone()[0] for n in range(len(plain)))
    con.close()
    return {"seconds": seconds, "rows": rows, "peak_mb": peak_mb()}


RUNNERS = {"observatoire": run_observatoire, "baseline": run_baseline, "plancher": run_floor}


def _child(mode: str, folder: str, files: list[str]) -> None:
    paths = [Path(f) for f in files]
    runner = RUNNERS[mode]
    print(json.dumps(runner(Path(folder), paths)))


def _measure(mode: str, folder: Path, files: list[Path]) -> dict:
    return measure(__file__, mode, [str(folder), *map(str, files)])


def main() -> None:
    parser = argparse.ArgumentParser(description="Banc d'essai du chargement (données simulées).")
    parser.add_argument("--echelle", type=float, default=1.0, help="fraction du volume national")
    parser.add_argument("--enfant", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.enfant:
        _child(args.enfant[0], args.enfant[1], args.enfant[2:])
        return

    from observatoire.sources.synthetic import simulate
    from observatoire.territories import referential

    communes = referential.communes()["code"].tolist()
    if args.echelle < 1:
        step = max(1, round(1 / args.echelle))
        communes = communes[::step]
    print(f"Communes simulées : {len(communes)} ; échelle des volumes : {args.echelle}")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp)
        results = []
        for group, datasets in GROUPS.items():
            files_dir = root / group.replace("+", "_")
            start = time.perf_counter()
            manifest = simulate(
                files_dir,
                communes=communes,
                vintages=[2020, 2021],
                datasets=datasets,
                seed=1,
                scale=args.echelle if group == "dvf" else 1.0,
            )
            files = [f.path for f in manifest.files]
            print(f"{group} : {len(files)} fichiers simulés en {time.perf_counter() - start:.1f} s")
            ours = _measure("observatoire", root / f"{group}-o", files)
            base = _measure("baseline", root / f"{group}-b", files)
            floor = _measure("plancher", root / f"{group}-p", files)
            results.append((group, ours, base, floor))
    print()
    print(
        f"{'groupe':<18}{'lignes lues':>14}{'s':>8}{'lignes/s':>12}{'Mo pic':>9}"
        f"{'s base':>9}{'Mo base':>9}{'ratio':>8}{'s plancher':>12}{'base/plancher':>15}"
    )
    for group, ours, base, floor in results:
        print(
            f"{group:<18}{fr(ours['rows']):>14}{fr(ours['seconds'], 1):>8}"
            f"{fr(_ratio(ours['rows'], ours['seconds'])):>12}{fr(ours['peak_mb']):>9}"
            f"{fr(base['seconds'], 1):>9}{fr(base['peak_mb']):>9}"
            f"{fr(_ratio(base['seconds'], ours['seconds']), 2):>8}"
            f"{fr(floor['seconds'], 1):>12}{fr(_ratio(base['seconds'], floor['seconds']), 2):>15}"
        )
    print("ratio = durée de la base pandas / durée d'observatoire (plus grand = plus rapide)")
    print(
        "plancher = DuckDB seul : read_csv parallèle, toutes les colonnes en texte, fichiers"
        " décompressés d'avance (ni décompression, ni typage, ni contrôle, ni recodage)"
    )


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


if __name__ == "__main__":
    Path(tempfile.gettempdir()).mkdir(exist_ok=True)
    main()
