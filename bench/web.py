"""Web observatory benchmark: a bounded load on 127.0.0.1, latencies and errors.

    python bench/web.py                    # 50 concurrent clients for 20 s
    python bench/web.py --echelle 0.05     # smoke size (CI): 3 clients for 1 s
    python bench/web.py --projet DIR       # an existing project (built), instead of the demo

Setup (not timed): the Artois demo project (``observatoire demo``), which writes the static
build.

Two servers answer the same mix of API paths (portraits of random territories, values of
random indicators for communes and EPCI, the territory index, geometries, metadata), in
separate processes, one after the other:

- ``observatoire``: ``observatoire serve`` (uvicorn + Starlette, responses computed on first
  request and kept in memory);
- ``baseline``: the straightforward way to serve the same bytes, Python's ``http.server``
  (HTTP/1.1, threads) over the static build.

Each client keeps one connection open and sends its next request when the previous answer
is read. Prints p50 / p95 / p99 latencies, requests per second, errors, and the ratio of the
p95s. Target: API p95 under 50 ms, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from _common import fr  # bench/_common.py (scripts run from bench/)

TARGET_P95_MS = 50.0
TIMEOUT = 10.0  # seconds: a request without answer by then counts as an error


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"le serveur s'est arrêté (code {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"le serveur ne répond pas : {url}")


def _paths(site: Path, rng: np.random.Generator, n: int) -> list[str]:
    """A mix of API paths read from the static build's index files."""
    index = json.loads((site / "api" / "territoires.json").read_text(encoding="utf-8"))
    catalogue = json.loads((site / "api" / "indicateurs.json").read_text(encoding="utf-8"))
    territories = [f"/api/territoires/{t['niveau']}/{t['id']}.json" for t in index["territoires"]]
    indicators = [i["id"] for t in catalogue["themes"] for i in t["indicateurs"]]
    values = [f"/api/valeurs/{i}/{lv}.json" for i in indicators for lv in ("commune", "epci")]
    fixed = [
        "/api/meta.json",
        "/api/territoires.json",
        "/api/indicateurs.json",
        "/api/geometries/epci.json",
        "/api/geometries/commune.json",
    ]
    kinds = rng.choice(3, size=n, p=[0.5, 0.4, 0.1])
    out = []
    for kind in kinds:
        pool = (territories, values, fixed)[kind]
        out.append(pool[int(rng.integers(len(pool)))])
    return out


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, bool]:
    """One GET on an open connection: (status, the server closes the connection)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length, close = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    await reader.readexactly(length)
    return status, close


async def _client(
    port: int, paths: list[str], stop: float, latencies: list[float], errors: list[str]
) -> None:
    reader = writer = None
    i = 0
    while time.perf_counter() < stop:
        path = paths[i % len(paths)]
        i += 1
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), TIMEOUT
                )
            start = time.perf_counter()
            status, close = await asyncio.wait_for(_request(reader, writer, path), TIMEOUT)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"{status} {path}")
            if close:
                writer.close()
                writer = None
        except (
            OSError,
            ValueError,
            IndexError,
            TimeoutError,
            asyncio.IncompleteReadError,
        ) as error:
            errors.append(f"{type(error).__name__} {path}")
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


def _load(port: int, clients: int, seconds: float, paths: list[str]) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []

    async def run() -> None:
        stop = time.perf_counter() + seconds
        share = max(len(paths) // clients, 1)
        await asyncio.gather(
            *(
                _client(port, paths[c * share :] + paths[: c * share], stop, latencies, errors)
                for c in range(clients)
            )
        )

    start = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    if errors:
        print(f"  premières erreurs : {errors[:5]}")
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "errors": len(errors),
    }


def _print(name: str, r: dict[str, float]) -> None:
    print(
        f"{name:<13} {fr(r['requests']):>9} requêtes  {fr(r['rps']):>7} req/s  "
        f"p50 {fr(r['p50'], 1):>6} ms  p95 {fr(r['p95'], 1):>6} ms  "
        f"p99 {fr(r['p99'], 1):>6} ms  erreurs {r['errors']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Charge bornée sur l'observatoire web servi en local (latences p50/p95/p99, "
        "erreurs), comparée à un serveur de fichiers statiques sur le site construit.",
        epilog="Exemple : python bench/web.py --clients 50 --duree 20",
    )
    parser.add_argument("--clients", type=int, default=50, help="clients simultanés (50)")
    parser.add_argument("--duree", type=float, default=20.0, help="durée de chaque charge, s")
    parser.add_argument(
        "--echelle", type=float, default=1.0, help="part des clients et de la durée (défaut : 1)"
    )
    parser.add_argument("--projet", type=Path, help="projet existant, déjà calculé")
    args = parser.parse_args()
    clients = max(round(args.clients * args.echelle), 3)
    seconds = max(args.duree * args.echelle, 1.0)

    from observatoire.demo import run_demo
    from observatoire.project import open_project
    from observatoire.publish.site.static_site import build_site

    with tempfile.TemporaryDirectory() as tmp:
        root = args.projet or Path(tmp) / "artois"
        if args.projet is None:
            print("Préparation : projet de démonstration…", flush=True)
            run_demo(root)
        project = open_project(root)
        site = project.settings.output_dir / "site"  # the demo writes it
        if not (site / "api" / "territoires.json").is_file():
            site = build_site(project, Path(tmp) / "site", quiet=True).folder
        paths = _paths(site, np.random.default_rng(2026), 20_000)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        results = {}
        for name, command in (
            (
                "observatoire",
                [sys.executable, "-m", "observatoire", "serve", "-p", str(root), "--port"],
            ),
            (
                "baseline",
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    "--protocol",
                    "HTTP/1.1",
                    "--directory",
                    str(site),
                ],
            ),
        ):
            port = _port()
            process = subprocess.Popen(
                [*command, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            try:
                _wait(f"http://127.0.0.1:{port}/api/meta.json", process)
                results[name] = _load(port, clients, seconds, paths)
            finally:
                process.terminate()
                process.wait(timeout=30)
        print(
            f"\n{clients} clients simultanés, {fr(seconds, 1)} s par serveur, même mélange de "
            "requêtes (portraits, valeurs, index, contours)"
        )
        _print("observatoire", results["observatoire"])
        _print("baseline", results["baseline"])
        ratio = results["baseline"]["p95"] / results["observatoire"]["p95"]
        print(f"ratio p95 (baseline / observatoire) : {fr(ratio, 2)}")
        ours = results["observatoire"]
        met = ours["p95"] < TARGET_P95_MS and ours["errors"] == 0
        print(
            f"objectif p95 < {fr(TARGET_P95_MS)} ms sans erreur : "
            + ("atteint" if met else "NON atteint")
        )
        return 0 if ours["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
