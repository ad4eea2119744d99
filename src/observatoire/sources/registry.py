"""The readers known to ``observatoire load``, and how a file finds its reader."""

from __future__ import annotations

from observatoire.errors import InputError
from observatoire.sources.base import Detection, Reader, SniffedFile

READERS: list[Reader] = []
_LOADED = False


def register(reader: Reader) -> Reader:
    """Add a reader (modules call this at import time)."""
    READERS.append(reader)
    return reader


def _load_reader_modules() -> None:
    # Imported here so that the registry module itself stays import-light.
    import importlib

    for module in (
        "insee_meta",
        "insee_rp",
        "filosofi",
        "bpe",
        "dvf",
        "sirene",
        "lovac",
        "locaux",
        "foncier",
        "cog_tables",
        "zonage",
        "programmes",
        "geo",
    ):
        try:
            importlib.import_module(f"observatoire.sources.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"observatoire.sources.{module}":
                raise


def readers() -> list[Reader]:
    """Every registered reader (all reader modules are imported on first use)."""
    global _LOADED
    if not _LOADED:
        _load_reader_modules()
        _LOADED = True
    return READERS


def detect(file: SniffedFile, *, quick: bool = False) -> tuple[Reader, Detection]:
    """The one reader that recognises ``file``; a French error that shows what it looked like.

    ``quick``: readers that scan a whole file to find its vintage (``sniff_quick``) guess it
    from the first lines instead, and give the exact one while reading (the loader's case).
    """
    hits = []
    for reader in readers():
        sniff = getattr(reader, "sniff_quick", None) if quick else None
        detection = (sniff or reader.sniff)(file)
        if detection is not None:
            hits.append((reader, detection))
    if len(hits) == 1:
        return hits[0]
    if not hits:
        shown = ", ".join(file.columns[:8]) if file.columns else " | ".join(file.head[:2])
        more = "…" if len(file.columns) > 8 else ""
        raise InputError(
            f"jeu de données non reconnu : colonnes « {shown}{more} » "
            f"(séparateur « {file.separator or '?'} », encodage {file.encoding or '?'}) ; "
            "voir « observatoire catalogue list » pour les sources prises en charge",
            path=file.label,
        )
    names = ", ".join(f"{r.name} ({d.dataset})" for r, d in hits)
    raise InputError(f"fichier reconnu par plusieurs lecteurs : {names}", path=file.label)
