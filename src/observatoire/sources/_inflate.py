"""Decompressed blocks of a zip member or a ``.gz`` file, with ISA-L when available.

National INSEE files come zipped (≈ 2 GB of text for the census bases of two vintages):
inflating them with zlib was the largest single cost of a load. ISA-L (``isal``) inflates
the same deflate streams about 1,6 times faster; without it, zlib does the work. A zip
member is checked as :mod:`zipfile` checks it (CRC-32 and size at the end): a corrupt or
truncated archive raises :class:`zipfile.BadZipFile`, a truncated ``.gz`` :class:`EOFError`.
"""

from __future__ import annotations

import gzip
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

try:
    from isal import igzip
    from isal import isal_zlib as _zlib

    ERRORS: tuple[type[BaseException], ...] = (zlib.error, _zlib.error)
    _gzip_open = igzip.open
except ImportError:  # pragma: no cover - isal is a dependency; zlib keeps things working
    _zlib = zlib  # type: ignore[assignment]
    ERRORS = (zlib.error,)
    _gzip_open = gzip.open

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, …, name length, extra length
_BLOCK = 4 << 20


def member_blocks(path: Path, member: str, size: int = _BLOCK) -> Iterator[bytes]:
    """The decompressed bytes of ``member`` in ``path``, block after block, then checked."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
        if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 0x1:
            with archive.open(member) as handle:  # stored, encrypted…: zipfile itself
                while block := handle.read(size):
                    yield block
            return
    with open(path, "rb") as raw:
        raw.seek(info.header_offset)
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(raw.read(30))
        if signature != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"en-tête local du membre « {member} » invalide")
        raw.seek(info.header_offset + 30 + name_length + extra_length)
        inflater = _zlib.decompressobj(-15)
        remaining, crc, length = info.compress_size, 0, 0
        while remaining > 0:
            chunk = raw.read(min(size, remaining))
            if not chunk:
                raise zipfile.BadZipFile(f"membre « {member} » tronqué")
            remaining -= len(chunk)
            block = inflater.decompress(chunk)
            if block:
                crc, length = _zlib.crc32(block, crc), length + len(block)
                yield block
        block = inflater.flush()
        if block:
            crc, length = _zlib.crc32(block, crc), length + len(block)
            yield block
    if not inflater.eof or crc != info.CRC or length != info.file_size:
        raise zipfile.BadZipFile(f"membre « {member} » corrompu (CRC ou taille)")


def gzip_blocks(path: Path, size: int = _BLOCK) -> Iterator[bytes]:
    """The decompressed bytes of a ``.gz`` file, block after block (checked by the reader)."""
    with _gzip_open(path, "rb") as handle:
        while block := handle.read(size):
            yield block
