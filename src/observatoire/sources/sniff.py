"""Open what a user hands to ``observatoire load``: files, zip archives, encodings, separators.

The sniffer never trusts a file name for the dataset (readers look at the content) but it does
use the extension to choose between delimited text, Excel and geographic formats.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from observatoire.errors import InputError
from observatoire.sources.base import SniffedFile

TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".dat"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
GEO_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp"}
SEPARATORS = (";", ",", "|", "\t")
SAMPLE_BYTES = 1 << 20
HEAD_LINES = 20


def detect_encoding(sample: bytes, label: str) -> str:
    """UTF-8 (with or without BOM) when the sample decodes, else Windows-1252 (INSEE's older
    files); an undecodable sample is an error that says so."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is not an error.
        if exc.start >= len(sample) - 3:
            return "utf-8"
    try:
        sample.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InputError(
            "encodage non reconnu (ni UTF-8 ni Windows-1252) : réenregistrez le fichier en UTF-8",
            path=label,
        ) from exc
    return "cp1252"


def detect_separator(header: str, lines: list[str], label: str) -> str:
    """The delimiter that splits the header and the first lines into the same number of
    fields (the most frequent one in the header when several do)."""
    best, best_count = None, 0
    for sep in SEPARATORS:
        count = header.count(sep)
        if count == 0:
            continue
        widths = {len(next(csv.reader([line], delimiter=sep))) for line in lines if line.strip()}
        consistent = not widths or widths <= {count + 1}
        if consistent and count > best_count:
            best, best_count = sep, count
    if best is None:
        if any(sep in header for sep in SEPARATORS):
            # Fields disagree with the header whatever the separator: report it precisely.
            raise InputError(
                "le nombre de champs des premières lignes ne correspond pas à l'en-tête "
                "(séparateur ou guillemets incohérents)",
                path=label,
                line=2,
            )
        raise InputError(
            "séparateur de colonnes introuvable (attendu « ; », « , », « | » ou tabulation)",
            path=label,
            line=1,
        )
    return best


def _clean(name: str) -> str:
    return name.strip().strip('"').strip("\ufeff").strip()


def sniff_text(data: bytes, *, path: Path, member: str | None, opener) -> SniffedFile:
    label = f"{path}:{member}" if member else str(path)
    if not data.strip():
        raise InputError("fichier vide", path=label)
    encoding = detect_encoding(data, label)
    text = data.decode(encoding, errors="ignore")
    lines = text.splitlines()
    header, rest = lines[0], lines[1 : 1 + HEAD_LINES]
    if len(data) >= SAMPLE_BYTES and rest:
        rest = rest[:-1]  # the last sampled line may be cut
    separator = detect_separator(header, rest, label)
    columns = tuple(_clean(c) for c in next(csv.reader([header], delimiter=separator)))
    return SniffedFile(
        path=path,
        member=member,
        kind="csv",
        encoding=encoding,
        separator=separator,
        columns=columns,
        head=tuple(rest),
        opener=opener,
    )


def _sniff_xlsx(path: Path, member: str | None, opener) -> SniffedFile:
    from openpyxl import load_workbook

    label = f"{path}:{member}" if member else str(path)
    try:
        with opener() as handle:
            workbook = load_workbook(io.BytesIO(handle.read()), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise InputError(
            f"classeur Excel illisible ({exc.__class__.__name__})", path=label
        ) from exc
    sheets = tuple(workbook.sheetnames)
    rows: list[str] = []
    for row in workbook[sheets[0]].iter_rows(max_row=HEAD_LINES, values_only=True):
        rows.append("\t".join("" if v is None else str(v) for v in row))
    workbook.close()
    return SniffedFile(
        path=path,
        member=member,
        kind="xlsx",
        encoding=None,
        separator=None,
        columns=(),
        head=tuple(rows),
        sheets=sheets,
        opener=opener,
    )


def _sniff_geo(path: Path) -> SniffedFile:
    import pyogrio

    try:
        info = pyogrio.read_info(path)
    except Exception as exc:  # pyogrio raises DataSourceError and others
        raise InputError(f"fichier géographique illisible ({exc})", path=path) from exc
    return SniffedFile(
        path=path,
        member=None,
        kind="geo",
        encoding=None,
        separator=None,
        columns=tuple(str(f) for f in info["fields"]),
        head=(),
        sheets=tuple(name for name, _ in pyogrio.list_layers(path)),
    )


def sniff(path: Path) -> list[SniffedFile]:
    """Every data file found at ``path`` (a file, or the data members of a zip archive)."""
    path = Path(path)
    if not path.exists():
        raise InputError("fichier introuvable", path=path)
    if path.is_dir():
        raise InputError("c'est un dossier : donnez les fichiers à charger", path=path)
    suffix = path.suffix.lower()
    if suffix == ".gz":
        try:
            with gzip.open(path, "rb") as handle:
                data = handle.read(SAMPLE_BYTES)
        except (OSError, EOFError) as exc:
            raise InputError(f"fichier gzip corrompu ou tronqué ({exc})", path=path) from exc
        return [sniff_text(data, path=path, member=None, opener=lambda: gzip.open(path, "rb"))]
    if suffix in XLSX_SUFFIXES:  # an xlsx is a zip too: test it first
        return [_sniff_xlsx(path, None, lambda: open(path, "rb"))]
    if suffix == ".zip" or zipfile.is_zipfile(path):
        return list(_sniff_zip(path))
    if suffix in GEO_SUFFIXES and not _looks_delimited(path):
        return [_sniff_geo(path)]
    with open(path, "rb") as handle:
        data = handle.read(SAMPLE_BYTES)
    return [sniff_text(data, path=path, member=None, opener=lambda: open(path, "rb"))]


def _looks_delimited(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    with open(path, "rb") as handle:
        return not handle.read(64).lstrip().startswith((b"{", b"["))


def _sniff_zip(path: Path) -> Iterator[SniffedFile]:
    try:
        archive = zipfile.ZipFile(path)
        names = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InputError(f"archive zip corrompue ou tronquée ({exc})", path=path) from exc
    # Members are not test-read here (a national file would be inflated once more): their
    # checksum is verified when the loader decompresses them, see ``loading._local_copy``.
    found = False
    for info in names:
        name = info.filename
        suffix = Path(name).suffix.lower()
        if Path(name).name.startswith((".", "__MACOSX")) or "__MACOSX" in name:
            continue

        def opener(name: str = name):
            return zipfile.ZipFile(path).open(name)

        if suffix in TEXT_SUFFIXES:
            try:  # a small member is read to its end: its CRC is checked here already
                with archive.open(name) as handle:
                    data = handle.read(SAMPLE_BYTES)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                message = f"archive zip corrompue : le membre « {name} » est illisible"
                raise InputError(message, path=path) from exc
            found = True
            yield sniff_text(data, path=path, member=name, opener=opener)
        elif suffix in XLSX_SUFFIXES:
            found = True
            yield _sniff_xlsx(path, name, opener)
    if not found:
        raise InputError(
            "l'archive ne contient aucun fichier de données (CSV, TXT ou XLSX)", path=path
        )
