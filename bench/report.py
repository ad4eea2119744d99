"""Report benchmark: the « chiffres clés » PDF of every EPCI of a région, time per report.

    python bench/report.py                  # every EPCI of the Hauts-de-France
    python bench/report.py --echelle 0.05   # smoke size (CI): a few EPCI

Setup (not timed): an Artois project, simulated census (every base-cc theme, 2020 and
2021) and Filosofi files for the communes of the région, loaded and built.

Two measures on the same reports, same run:

- ``observatoire``: ``publish.report.make_reports(..., fmt="pdf")`` — data collection, charts
  (Vega-Lite → SVG), maps, HTML, and one Chromium kept open for the batch;
- ``baseline``: the straightforward way — the same HTML, then one ``chromium --headless
  --print-to-pdf`` process per report.

Prints the time per report of each and the ratio. Target: one territory's PDF under 2 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _common import fr  # bench/_common.py (scripts run from bench/)

TARGET_SECONDS = 2.0
REGION = "32"
DATASETS = [
    "rp_evol_struct_pop",
    "rp_logement",
    "rp_emploi_pop_active",
    "rp_diplomes_formation",
    "rp_couples_familles_menages",
    "filosofi_com",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Temps de production des rapports PDF « chiffres clés » des EPCI d'une "
        "région, comparé à un Chromium lancé par rapport.",
        epilog="Exemple : python bench/report.py --echelle 0.05",
    )
    parser.add_argument(
        "--echelle", type=float, default=1.0, help="part des EPCI de la région (défaut : 1)"
    )
    args = parser.parse_args()

    from observatoire.indicators.build import build
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project
    from observatoire.publish.report import (
        CHROMIUM_ARGS,
        chromium_path,
        collect,
        make_reports,
        render_html,
    )
    from observatoire.sources.synthetic import simulate
    from observatoire.territories import referential
    from observatoire.warehouse import Warehouse

    with tempfile.TemporaryDirectory(prefix="banc-rapport-") as tmp:
        root = Path(tmp)
        print("Préparation (non chronométrée) : fichiers simulés de la région, chargement…")
        init_project(root / "projet", example="artois")
        project = open_project(root / "projet")
        communes = referential.communes()
        region = communes[communes["reg"] == REGION]
        epcis = sorted(region["epci"].dropna().unique())
        count = max(2, round(len(epcis) * args.echelle))
        epcis = epcis[:count]
        codes = sorted(communes[communes["epci"].isin(epcis) | communes["dep"].eq("62")]["code"])
        files = simulate(root / "sim", communes=codes, vintages=[2020, 2021], datasets=DATASETS)
        load_paths(project, files.paths)
        build(project)
        territories = [project.territories.get(e) for e in epcis]
        print(f"{len(territories)} EPCI de la région {REGION}, {len(codes)} communes simulées.")

        started = time.perf_counter()
        paths = make_reports(
            project, territories, fmt="pdf", out_dir=root / "pdf", today=date(2026, 11, 25)
        )
        ours = time.perf_counter() - started

        started = time.perf_counter()
        with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
            for territory in territories:
                data = collect(warehouse, project, territory)
                html_path = root / "html" / f"{territory.id}.html"
                html_path.parent.mkdir(exist_ok=True)
                html_path.write_text(render_html(project, data), encoding="utf-8")
                subprocess.run(
                    [
                        chromium_path(),
                        "--headless",
                        *CHROMIUM_ARGS,
                        "--no-pdf-header-footer",
                        f"--print-to-pdf={root / 'html' / (territory.id + '.pdf')}",
                        html_path.as_uri(),
                    ],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
        baseline = time.perf_counter() - started

    n = len(paths)
    per_report, per_baseline = ours / n, baseline / n
    print(f"{'mesure':<14}{'rapports':>10}{'s':>10}{'s/rapport':>12}")
    print(f"{'observatoire':<14}{n:>10}{fr(ours, 1):>10}{fr(per_report, 2):>12}")
    print(f"{'chromium/pdf':<14}{n:>10}{fr(baseline, 1):>10}{fr(per_baseline, 2):>12}")
    print(f"ratio = durée de référence / durée observatoire = {fr(baseline / ours, 2)}")
    met = "atteint" if per_report < TARGET_SECONDS else "non atteint"
    print(f"Objectif < {fr(TARGET_SECONDS)} s par rapport : {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
