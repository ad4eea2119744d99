"""Zip members and .gz files inflated with ISA-L, checked as zipfile and gzip check them."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest

from observatoire.errors import InputError
from observatoire.loading import _local_copy
from observatoire.sources import _inflate
from observatoire.sources.sniff import sniff


def _text(lines: int = 20_000) -> bytes:
    rng = np.random.default_rng(3)
    rows = [f"{62001 + i:05d};{v};{w}" for i, (v, w) in enumerate(rng.integers(0, 999, (lines, 2)))]
    return ("CODGEO;P21_POP;P21_LOG\r\n" + "\r\n".join(rows) + "\r\n").encode()


def _zip(path: Path, data: bytes, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        archive.writestr("base.csv", data)
    return path


def test_members_and_gzip_read_back_exactly(tmp_path: Path) -> None:
    data = _text()
    for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        path = _zip(tmp_path / f"m{method}.zip", data, method)
        assert b"".join(_inflate.member_blocks(path, "base.csv", size=4096)) == data
    gz = tmp_path / "base.csv.gz"
    gz.write_bytes(gzip.compress(data))
    assert b"".join(_inflate.gzip_blocks(gz, size=4096)) == data


def test_corrupt_member_is_refused_with_its_name(tmp_path: Path) -> None:
    data = _text()
    path = _zip(tmp_path / "base.zip", data)
    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("base.csv")
    start = info.header_offset + 30 + len("base.csv")
    middle = start + info.compress_size // 2
    raw[middle : middle + 64] = bytes(64)  # damaged deflate stream (CRC or inflate error)
    path.write_bytes(bytes(raw))
    with pytest.raises((zipfile.BadZipFile, *_inflate.ERRORS)):
        b"".join(_inflate.member_blocks(path, "base.csv"))
    with pytest.raises(InputError, match=r"membre « base\.csv » est illisible"):
        sniff(path)  # a small member: its sample is the whole member


def test_corrupt_end_of_a_large_member_is_found_when_it_is_inflated(tmp_path: Path) -> None:
    data = _text(400_000)  # larger than the sniffer's sample
    path = _zip(tmp_path / "base.zip", data)
    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("base.csv")
    end = info.header_offset + 30 + len("base.csv") + info.compress_size
    raw[end - 400 : end - 336] = bytes(64)
    path.write_bytes(bytes(raw))
    (file,) = sniff(path)
    with pytest.raises(InputError, match=r"membre « base\.csv » est illisible"):
        _local_copy(file, tmp_path)


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    gz = tmp_path / "base.csv.gz"
    gz.write_bytes(gzip.compress(_text())[:-200])
    with pytest.raises(EOFError):
        b"".join(_inflate.gzip_blocks(gz))
