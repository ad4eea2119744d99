"""Vendor the browser libraries of the web observatory from the npm registry, pinned and checked.

The web observatory works offline (no CDN, pages opened from ``file://``): Leaflet, Vega,
Vega-Lite, vega-embed and fflate are copied into ``src/observatoire/publish/site/static/vendor/``
from their npm tarballs, with each package's licence, and listed in ``vendor/MANIFEST.json``
(package, version, licence, tarball integrity, and the size and SHA-256 of every file).

Each tarball is checked twice before anything is written: its SHA-512 must equal the registry's
``dist.integrity`` and the one pinned below. Only the UMD browser builds are kept (loaded by plain
``<script>`` tags), unmodified; files over 1 MiB are refused.

Versions: Vega 6 still ships a UMD build (``build/vega.min.js``), so the charts run on the same
Vega major as vl-convert, which renders the reports' charts; the reports' specs are Vega-Lite
v5, so Vega-Lite is the latest 5.x (vl-convert also compiles them with a 5.x on Vega 6), and
vega-embed the latest 7.x (vl-convert bundles 7.x too).

Usage::

    python scripts/vendor_web_assets.py                      # download, check, write
    python scripts/vendor_web_assets.py --registre URL       # through an npm mirror
    python scripts/vendor_web_assets.py --verifier           # only check the committed files

The registry is ``https://registry.npmjs.org``, or ``NPM_CONFIG_REGISTRY``, or ``--registre``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "src" / "observatoire" / "publish" / "site" / "static" / "vendor"
MANIFEST = "MANIFEST.json"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
MAX_FILE_SIZE = 1 << 20  # 1 MiB: each vendored file stays small enough for the repository
TIMEOUT = 60  # seconds per request
USER_AGENT = "observatoire-vendor-web-assets"


@dataclass(frozen=True)
class Package:
    """One npm package: pinned version and tarball SHA-512 (SRI form), files to keep.

    ``files`` maps a path inside the tarball to its name in ``vendor/<name>/``."""

    name: str
    version: str
    licence: str
    integrity: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def tarball_name(self) -> str:
        return f"{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"


PACKAGES: tuple[Package, ...] = (
    Package(
        "leaflet",
        "1.9.4",
        "BSD-2-Clause",
        "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
        {
            "package/dist/leaflet.js": "leaflet.js",
            "package/dist/leaflet.css": "leaflet.css",
            "package/LICENSE": "LICENSE",
        },
    ),
    Package(
        "vega",
        "6.4.0",
        "BSD-3-Clause",
        "sha512-rHXCq2LpEWCLMjXBEj7hocY9G0/i5TGYRayGGSj06VTF4+l2IG2Z7oeZKCjWbUh/7hTE/mVhbaOPB72wCElh6g==",
        {"package/build/vega.min.js": "vega.min.js", "package/LICENSE": "LICENSE"},
    ),
    Package(
        "vega-lite",
        "5.23.0",
        "BSD-3-Clause",
        "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
        {"package/build/vega-lite.min.js": "vega-lite.min.js", "package/LICENSE": "LICENSE"},
    ),
    Package(
        "vega-embed",
        "7.3.0",
        "BSD-3-Clause",
        "sha512-wQ8s5GaSzqoKgmRfbRolgBrjE2CP7ZKHXqH7NijxMqPjpdWxSs4Dn8tvp9g0giQvh2cK+3p56sxjWWM0wNngGw==",
        {"package/build/vega-embed.min.js": "vega-embed.min.js", "package/LICENSE": "LICENSE"},
    ),
    Package(
        "fflate",
        "0.8.3",
        "MIT",
        "sha512-tbZNuJrLwGUp3zshBtdy4W+ORxZuIh8a5ilyIEQDC5rY1f3U20JMry0Ll3WBzU58EZKsEuJFXhb5gwv8CsPvgA==",
        {"package/umd/index.js": "fflate.umd.js", "package/LICENSE": "LICENSE"},
    ),
)


class VendorError(Exception):
    """A download, a checksum or a committed file does not match: one French sentence."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- download


def registry_url(cli_value: str | None) -> str:
    """``--registre``, else ``NPM_CONFIG_REGISTRY``, else the public npm registry."""
    url = cli_value or os.environ.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY
    return url.rstrip("/")


def _get(url: str, accept: str | None = None) -> bytes:
    headers = {"User-Agent": USER_AGENT}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise VendorError(f"téléchargement refusé ({error.code}) : {url}") from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise VendorError(f"téléchargement impossible de {url} : {error}") from error


def _sha512_sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def _sha512_entries(integrity: str) -> set[str]:
    """The ``sha512-…`` entries of a Subresource Integrity string (may list several)."""
    return {entry for entry in integrity.split() if entry.startswith("sha512-")}


def version_metadata(registry: str, package: Package) -> dict:
    """The registry's metadata of the pinned version (``dist.tarball``, ``dist.integrity``)."""
    url = f"{registry}/{urllib.parse.quote(package.name, safe='@')}/{package.version}"
    try:
        metadata = json.loads(_get(url, accept="application/json"))
    except json.JSONDecodeError as error:
        raise VendorError(f"réponse illisible du registre pour {package.name} : {url}") from error
    dist = metadata.get("dist") if isinstance(metadata, dict) else None
    if not isinstance(dist, dict) or not dist.get("tarball") or not dist.get("integrity"):
        raise VendorError(
            f"le registre ne donne ni archive ni empreinte pour {package.name} "
            f"{package.version} : {url}"
        )
    return metadata


def download(registry: str, package: Package) -> bytes:
    """The tarball of ``package``, checked against the registry's and the pinned SHA-512."""
    dist = version_metadata(registry, package)["dist"]
    published = _sha512_entries(str(dist["integrity"]))
    if package.integrity not in published:
        raise VendorError(
            f"l'empreinte SHA-512 publiée par le registre pour {package.name} {package.version} "
            f"diffère de celle fixée dans le script : paquet republié ou registre altéré."
        )
    log(f"téléchargement de {package.name} {package.version}")
    data = _get(str(dist["tarball"]))
    actual = _sha512_sri(data)
    if actual not in published or actual != package.integrity:
        raise VendorError(
            f"l'archive de {package.name} {package.version} ne correspond pas à son empreinte "
            f"SHA-512 (reçu {actual})."
        )
    return data


def extract(package: Package, tarball: bytes) -> dict[str, bytes]:
    """The wanted files of a tarball, by their name in ``vendor/<package>/``."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        members = {member.name: member for member in archive.getmembers() if member.isfile()}
        for source, target in package.files.items():
            member = members.get(source)
            if member is None:
                raise VendorError(
                    f"fichier « {source} » absent de l'archive de {package.name} {package.version}."
                )
            if member.size > MAX_FILE_SIZE:
                raise VendorError(
                    f"fichier « {source} » de {package.name} trop gros "
                    f"({member.size} octets, limite {MAX_FILE_SIZE})."
                )
            handle = archive.extractfile(member)
            if handle is None:
                raise VendorError(f"fichier « {source} » illisible dans {package.name}.")
            out[target] = handle.read()
    return out


def vendor(registry: str, folder: Path) -> dict:
    """Download, check and write every package into ``folder``; return the manifest."""
    contents = {package.name: extract(package, download(registry, package)) for package in PACKAGES}
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for package in PACKAGES:
        target_dir = folder / package.name
        if target_dir.exists():
            shutil.rmtree(target_dir)  # files of an older version must not linger
        target_dir.mkdir(parents=True)
        files = []
        for source, target in package.files.items():
            data = contents[package.name][target]
            (target_dir / target).write_bytes(data)
            files.append(
                {
                    "path": f"{package.name}/{target}",
                    "source": source,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        entries.append(
            {
                "package": package.name,
                "version": package.version,
                "licence": package.licence,
                "tarball": package.tarball_name,
                "integrity": package.integrity,
                "files": files,
            }
        )
    manifest = {
        "generated_by": "scripts/vendor_web_assets.py",
        "registry": "npm",
        "packages": entries,
    }
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    return manifest


# --------------------------------------------------------------------------- verification


def verify(folder: Path) -> list[str]:
    """Problems of the vendored files of ``folder`` against its manifest (empty: all good)."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        entries = manifest["packages"]
    except FileNotFoundError:
        return [f"manifeste absent : {path}"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        return [f"manifeste illisible : {path} ({error})"]
    problems: list[str] = []
    pinned = {package.name: package for package in PACKAGES}
    declared: set[str] = set()
    for entry in entries:
        name, version = entry.get("package"), entry.get("version")
        package = pinned.get(name)
        if package is None:
            problems.append(f"paquet « {name} » du manifeste inconnu du script")
        elif package.version != version or package.integrity != entry.get("integrity"):
            problems.append(
                f"« {name} » {version} dans le manifeste, {package.version} fixé dans le "
                f"script : relancez le script"
            )
        for item in entry.get("files", []):
            relative = str(item.get("path", ""))
            declared.add(relative)
            file = folder / relative
            if not file.is_file():
                problems.append(f"fichier absent : {relative}")
                continue
            data = file.read_bytes()
            if len(data) != item.get("size") or hashlib.sha256(data).hexdigest() != item.get(
                "sha256"
            ):
                problems.append(f"fichier modifié (SHA-256 différent) : {relative}")
    for name in sorted(set(pinned) - {entry.get("package") for entry in entries}):
        problems.append(f"paquet « {name} » absent du manifeste : relancez le script")
    for entry in entries:
        package_dir = folder / str(entry.get("package"))
        if package_dir.is_dir():
            for file in sorted(package_dir.rglob("*")):
                relative = file.relative_to(folder).as_posix()
                if file.is_file() and relative not in declared:
                    problems.append(f"fichier non déclaré dans le manifeste : {relative}")
    return problems


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Copie depuis npm, vérifiées, les bibliothèques du navigateur de l'observatoire web "
            "(Leaflet, Vega, Vega-Lite, vega-embed, fflate)."
        ),
        epilog="Exemple : python scripts/vendor_web_assets.py --verifier",
    )
    parser.add_argument(
        "--registre",
        metavar="URL",
        help=f"registre npm ou miroir (défaut : NPM_CONFIG_REGISTRY, sinon {DEFAULT_REGISTRY})",
    )
    parser.add_argument(
        "--dossier",
        type=Path,
        default=VENDOR,
        metavar="DOSSIER",
        help="dossier des fichiers copiés (défaut : static/vendor de l'observatoire web)",
    )
    parser.add_argument(
        "--verifier",
        action="store_true",
        help="vérifie seulement les fichiers présents contre MANIFEST.json (aucun téléchargement)",
    )
    args = parser.parse_args(argv)
    folder: Path = args.dossier
    if args.verifier:
        problems = verify(folder)
        if problems:
            for problem in problems:
                log(f"erreur : {problem}")
            log(f"Les bibliothèques copiées dans {folder} ne correspondent pas à {MANIFEST}.")
            return 1
        log(f"Bibliothèques copiées conformes à {MANIFEST} dans {folder}.")
        return 0
    try:
        manifest = vendor(registry_url(args.registre), folder)
    except VendorError as error:
        log(f"erreur : {error}")
        return 1
    for entry in manifest["packages"]:
        sizes = ", ".join(f"{item['path']} ({item['size']} octets)" for item in entry["files"])
        log(f"{entry['package']} {entry['version']} ({entry['licence']}) : {sizes}")
    log(f"Manifeste écrit : {folder / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
