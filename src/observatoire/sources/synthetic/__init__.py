"""``observatoire simuler``: SIMULATED files in the exact formats of the official publishers.

:func:`simulate` writes one file (or zip, as the publisher distributes it) per dataset and
vintage for the requested communes, plus a manifest ``SIMULATION.json`` listing every file
with its SHA-256; :func:`is_simulated` lets the loader mark what it loads from such a file with
``origin = "simulated"``. The numbers are invented (calibrated on the real legal populations
of the embedded referential, coherent across datasets, deterministic for a seed): they must
never be published as real figures.

Datasets (id → what is written; the formats are described in each module):

- census (:mod:`.census`): ``rp_evol_struct_pop``, ``rp_logement``, ``rp_emploi_pop_active``,
  ``rp_diplomes_formation``, ``rp_couples_familles_menages``, ``rp_serie_historique``;
- ``filosofi_com`` (:mod:`.income`);
- ``bpe_xy``, ``bpe_com``, ``bpe_gammes`` (:mod:`.equipment`: geolocated equipments, communal
  counts, the gamme workbook of the vintage);
- ``dvf_geo``, ``dvf_dgfip`` (:mod:`.land_values`);
- ``sirene`` (:mod:`.establishments`);
- ``lovac``, ``naf`` (:mod:`.housing_land`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from observatoire.errors import InputError
from observatoire.sources.synthetic._common import world

MANIFEST_NAME = "SIMULATION.json"
GENERATOR = "observatoire simuler"
WARNING = "Données simulées : ne pas publier comme des chiffres réels."


@dataclass(frozen=True)
class DatasetSpec:
    """A simulated dataset: French label, vintages that exist, the reader's dataset id."""

    id: str
    label: str
    first: int
    last: int
    reader_dataset: str
    group: str


_SPECS = (
    (
        "rp_evol_struct_pop",
        "Recensement — évolution et structure de la population",
        2016,
        2023,
        "rp_evol_struct_pop",
        "census",
    ),
    ("rp_logement", "Recensement — logement", 2016, 2023, "rp_logement", "census"),
    (
        "rp_emploi_pop_active",
        "Recensement — emploi, population active",
        2016,
        2023,
        "rp_emploi_pop_active",
        "census",
    ),
    (
        "rp_diplomes_formation",
        "Recensement — diplômes, formation",
        2016,
        2023,
        "rp_diplomes_formation",
        "census",
    ),
    (
        "rp_couples_familles_menages",
        "Recensement — couples, familles, ménages",
        2016,
        2023,
        "rp_couples_familles_menages",
        "census",
    ),
    (
        "rp_serie_historique",
        "Recensement — séries historiques",
        2016,
        2023,
        "rp_serie_historique",
        "census",
    ),
    (
        "filosofi_com",
        "Filosofi — revenus et pauvreté (communes)",
        2014,
        2021,
        "filosofi_com",
        "filosofi",
    ),
    ("bpe_xy", "BPE — équipements géolocalisés", 2014, 2024, "bpe_xy", "bpe"),
    ("bpe_com", "BPE — équipements par commune", 2014, 2024, "bpe_com", "bpe"),
    ("bpe_gammes", "BPE — gammes d'équipements", 2014, 2024, "bpe_gammes", "bpe"),
    ("dvf_geo", "DVF géolocalisées (Etalab)", 2014, 2025, "dvf_geo", "dvf"),
    ("dvf_dgfip", "DVF brut DGFiP (ValeursFoncieres)", 2014, 2025, "dvf_dgfip", "dvf"),
    ("sirene", "SIRENE — stock des établissements", 2017, 2026, "sirene_etablissements", "sirene"),
    ("lovac", "LOVAC — logements vacants du parc privé", 2020, 2026, "lovac_communes", "lovac"),
    ("naf", "Consommation d'espaces NAF (Cerema)", 2020, 2025, "naf_communes", "naf"),
)
DATASETS: dict[str, DatasetSpec] = {s[0]: DatasetSpec(*s) for s in _SPECS}
ALIASES = {spec.reader_dataset: key for key, spec in DATASETS.items()}


@dataclass(frozen=True)
class SimulatedFile:
    """One written file."""

    path: Path
    dataset: str
    vintage: int
    sha256: str


@dataclass
class SimulationManifest:
    """What :func:`simulate` wrote (``files``) and where its manifest is."""

    directory: Path
    seed: int
    manifest_path: Path
    files: list[SimulatedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # French notes: combinations not written

    @property
    def paths(self) -> list[Path]:
        return [f.path for f in self.files]


def _resolve(datasets: Sequence[str] | None) -> list[str]:
    if datasets is None:
        return list(DATASETS)
    out = []
    for name in datasets:
        key = ALIASES.get(name.strip(), name.strip())
        if key not in DATASETS:
            known = ", ".join(DATASETS)
            raise InputError(f"jeu de données à simuler inconnu « {name} » ; jeux connus : {known}")
        if key not in out:
            out.append(key)
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def simulate(
    out_dir: Path | str,
    *,
    communes: Sequence[str],
    vintages: Sequence[int],
    seed: int = 0,
    datasets: Sequence[str] | None = None,
    scale: float = 1.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> SimulationManifest:
    """Write simulated files for ``communes`` (COG 2025 codes), each dataset and vintage.

    ``datasets`` defaults to all of :data:`DATASETS` (readers' ids such as
    ``sirene_etablissements`` are accepted); a vintage a dataset does not have (Filosofi after
    2021, LOVAC before 2020…) is skipped and noted in ``skipped``. ``scale`` multiplies the
    volumes of the record-level datasets (DVF, BPE, SIRENE). Same arguments, same bytes.
    ``progress(label, done, total)`` is called after each file."""
    from observatoire.sources.synthetic import (
        census,
        equipment,
        establishments,
        housing_land,
        income,
        land_values,
    )

    if not communes:
        raise InputError("aucune commune à simuler")
    if not scale > 0:
        raise InputError(f"facteur de volume invalide « {scale} » : un nombre positif est attendu")
    years = sorted({int(v) for v in vintages})
    if not years:
        raise InputError("aucun millésime à simuler")
    wanted = _resolve(datasets)
    truth = world(int(seed))
    positions = np.unique(truth.positions([str(c).strip() for c in communes]))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = SimulationManifest(out, int(seed), out / MANIFEST_NAME)
    tasks: list[tuple[str, int, list[str]]] = []
    for year in years:
        groups: dict[str, list[str]] = {}
        for key in wanted:
            spec = DATASETS[key]
            if spec.first <= year <= spec.last:
                groups.setdefault(spec.group, []).append(key)
            else:
                manifest.skipped.append(
                    f"{key} {year} : millésime inexistant (disponibles : {spec.first}-{spec.last})"
                )
        tasks.extend((group, year, keys) for group, keys in groups.items())
    if not tasks:
        raise InputError("rien à simuler : " + " ; ".join(manifest.skipped))
    total = sum(len(keys) for _, _, keys in tasks)
    writers = {
        "census": lambda y, k: census.write_census(truth, positions, k, y, out),
        "filosofi": lambda y, k: {k[0]: income.write_filosofi(truth, positions, y, out)},
        "bpe": lambda y, k: equipment.write_bpe(
            truth,
            positions,
            y,
            out,
            xy="bpe_xy" in k,
            counts="bpe_com" in k,
            gammes="bpe_gammes" in k,
            scale=scale,
        ),
        "dvf": lambda y, k: land_values.write_dvf(
            truth, positions, y, out, geo="dvf_geo" in k, raw="dvf_dgfip" in k, scale=scale
        ),
        "sirene": lambda y, k: {k[0]: establishments.write_sirene(truth, positions, y, out, scale)},
        "lovac": lambda y, k: {k[0]: housing_land.write_lovac(truth, positions, y, out)},
        "naf": lambda y, k: {k[0]: housing_land.write_naf(truth, positions, y, out)},
    }
    for group, year, keys in tasks:
        try:
            written = writers[group](year, keys)
        except BaseException:
            _record(manifest, seed)  # what was complete stays listed
            raise
        for key in keys:
            path = written[key]
            manifest.files.append(SimulatedFile(path, key, year, _sha256(path)))
            if progress is not None:
                progress(f"{DATASETS[key].label} {year}", len(manifest.files), total)
    _record(manifest, seed)
    return manifest


def _record(manifest: SimulationManifest, seed: int) -> None:
    """Write ``SIMULATION.json`` (earlier entries for files still present are kept)."""
    entries: dict[str, dict] = {}
    if manifest.manifest_path.is_file():
        try:
            previous = json.loads(manifest.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if previous.get("generator") == GENERATOR:
            for entry in previous.get("files", []):
                if (manifest.directory / str(entry.get("file", ""))).is_file():
                    entries[entry["file"]] = entry
    for item in manifest.files:
        entries[item.path.name] = {
            "file": item.path.name,
            "sha256": item.sha256,
            "dataset": item.dataset,
            "vintage": item.vintage,
            "reader_dataset": DATASETS[item.dataset].reader_dataset,
            "bytes": item.path.stat().st_size,
            "seed": int(seed),
        }
    document = {
        "generator": GENERATOR,
        "seed": int(seed),
        "files": [entries[name] for name in sorted(entries)],
        "avertissement": WARNING,
    }
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    manifest.manifest_path.write_text(text, encoding="utf-8")


@lru_cache(maxsize=64)
def _manifest_entries(path: str, mtime_ns: int) -> tuple[tuple[str, int | None], ...]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    if not isinstance(document, dict) or document.get("generator") != GENERATOR:
        return ()
    out = []
    for entry in document.get("files", []):
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
            size = entry.get("bytes")
            out.append((entry["sha256"], size if isinstance(size, int) else None))
    return tuple(out)


@lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return _sha256(Path(path))


def is_simulated(path: Path | str) -> bool:
    """True when a ``SIMULATION.json`` beside ``path`` (a file, or the zip holding the data)
    lists this file's SHA-256: a modified or unlisted file is not "simulated"."""
    path = Path(path)
    manifest = path.parent / MANIFEST_NAME
    try:
        stat = path.stat()
        manifest_stat = manifest.stat()
    except OSError:
        return False
    if not path.is_file():
        return False
    entries = _manifest_entries(str(manifest), manifest_stat.st_mtime_ns)
    sizes = {size for _, size in entries}
    if not entries or (None not in sizes and stat.st_size not in sizes):
        return False
    digest = _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return any(sha == digest for sha, _ in entries)


__all__ = [
    "DATASETS",
    "MANIFEST_NAME",
    "SimulatedFile",
    "SimulationManifest",
    "is_simulated",
    "simulate",
]
