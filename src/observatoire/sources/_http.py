"""The only module that opens network connections: downloads with a mirror and a cache.

``mirror`` (``--miroir URL`` or ``OBSERVATOIRE_MIROIR``) replaces the publisher's scheme and
host: ``https://www.insee.fr/fr/statistiques/fichier/…`` is fetched from
``{mirror}/www.insee.fr/fr/statistiques/fichier/…``. Downloads go to a temporary file, are
checked against a known SHA-256 when the catalogue gives one, then moved into the cache —
an interrupted download never leaves a half file in the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from observatoire import __version__
from observatoire.errors import InputError, ObservatoireError

MIRROR_ENV = "OBSERVATOIRE_MIROIR"
USER_AGENT = f"observatoire/{__version__} (observatoire territorial)"
CHUNK = 1 << 16
Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class DownloadError(ObservatoireError):
    """A download failed (network, HTTP status, checksum)."""

    exit_code = 3


@dataclass(frozen=True)
class Downloaded:
    url: str  # the URL actually fetched (mirror applied)
    path: Path  # the file in the cache
    sha256: str
    from_cache: bool


def effective_url(url: str, mirror: str | None = None) -> str:
    """The URL to fetch: the publisher's, or the same path under the mirror."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if not mirror:
        return url
    parts = urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}" + (
        f"?{parts.query}" if parts.query else ""
    )


def cache_path(cache_dir: Path, url: str) -> Path:
    """Where the file of ``url`` lives in the cache: host and path, as published."""
    parts = urlsplit(url)
    relative = Path(parts.netloc) / parts.path.lstrip("/")
    if any(part in ("..", "") for part in relative.parts):
        raise InputError(f"adresse de téléchargement invalide : {url}")
    return cache_dir / relative


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    cache_dir: Path,
    *,
    mirror: str | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> Downloaded:
    """Fetch ``url`` into ``cache_dir`` (or reuse the cached copy when its checksum is right)."""
    target = cache_path(cache_dir, url)
    if target.is_file():
        digest = _sha256(target)
        if sha256 is None or digest == sha256:
            return Downloaded(
                url=effective_url(url, mirror), path=target, sha256=digest, from_cache=True
            )
    fetched = effective_url(url, mirror)
    request = urllib.request.Request(fetched, headers={"User-Agent": USER_AGENT})
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".partiel-")
    temp = Path(temp_name)
    digest = hashlib.sha256()
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(request, timeout=timeout) as resp,
        ):
            total = resp.headers.get("Content-Length")
            total_bytes = int(total) if total and total.isdigit() else None
            done = 0
            while block := resp.read(CHUNK):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total_bytes)
        if total_bytes is not None and done != total_bytes:
            raise DownloadError(
                f"téléchargement tronqué de {fetched} : {done} octets reçus sur {total_bytes}"
            )
        hexdigest = digest.hexdigest()
        if sha256 is not None and hexdigest != sha256:
            raise DownloadError(
                f"empreinte inattendue pour {fetched} : {hexdigest[:12]}… au lieu de "
                f"{sha256[:12]}… (fichier modifié par l'éditeur ou corrompu)"
            )
        shutil.move(temp, target)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"échec du téléchargement de {fetched} : HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"échec du téléchargement de {fetched} : {reason}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return Downloaded(url=fetched, path=target, sha256=hexdigest, from_cache=False)
