"""``observatoire serve``: the web observatory served from the warehouse (read-only).

A Starlette application: the pages, the vendored assets, the PDF reports already built, the
JSON API of :mod:`observatoire.publish.site.api` and the editorial sections of ``contenus/``
(pages, the studies' PDF, Atom feeds, ``reseaux.csv``). Each API response is computed once and
kept in memory (the warehouse and the contents are only read at start-up: rebuild or edit,
then restart the server). Other modules add their routes (forms…) with ``create_app(…,
routes=[…])``; they find the project and its resolved contents in ``app.state``.

Restricted datasets are served only when the server was started with an access token
(``--jeton`` or ``OBSERVATOIRE_JETON``) and the request carries it
(``Authorization: Bearer JETON``); a wrong token is refused (401), never ignored.
"""

from __future__ import annotations

import hmac
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from observatoire.project import Project
from observatoire.publish.site.api import NotFound, SiteData, encode, openapi
from observatoire.publish.site.editorial import (
    attachments,
    load_site_contents,
    resolve_site_contents,
)
from observatoire.publish.site.feeds import render_feeds
from observatoire.publish.site.pages import STATIC, render_pages
from observatoire.publish.site.static_site import render_all
from observatoire.warehouse import Warehouse

_PDF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.pdf$")
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/atom+xml; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
}


@dataclass
class _Cache:
    data: SiteData
    responses: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, path: str) -> bytes:
        body = self.responses.get(path)
        if body is None:
            with self.lock:  # one computation per path, pandas is not thread-safe for writes
                body = self.responses.get(path)
                if body is None:
                    body = encode(self.data.respond(path))
                    self.responses[path] = body
        return body


def security_headers(tiles: str | None) -> dict[str, str]:
    """Headers of every response: no framing, no sniffing, only our own resources."""
    img = "'self' data: blob:"
    if tiles:  # the tile host ({s}.tile.example.org: any subdomain)
        match = re.match(r"^(https?://[^/]+)", tiles.replace("{s}", "*"))
        img += f" {match.group(1)}" if match else ""
    return {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        # Vega compiles its expressions with new Function: 'unsafe-eval' is needed for charts.
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self' 'unsafe-eval'; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"
        ),
    }


def create_app(
    project: Project,
    *,
    token: str | None = None,
    warm: bool = False,
    quiet: bool = True,
    routes: Sequence[BaseRoute] = (),
    mailer_factory=None,
) -> Starlette:
    """The application for ``project``; ``token`` enables restricted datasets (and the
    organiser's attendee lists); ``warm`` computes every public response before serving (as
    the static build does); ``routes``: more routes, matched before the pages. The forms
    (newsletter sign-up, event registration: :mod:`.forms`) are always mounted;
    ``mailer_factory`` replaces their SMTP session (tests)."""
    from observatoire.publish.site.forms import form_routes

    routes = [*form_routes(project, token=token, mailer_factory=mailer_factory), *routes]
    contents = load_site_contents(project)
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        public = _Cache(SiteData.load(warehouse, project))
        private = _Cache(SiteData.load(warehouse, project, restricted=True)) if token else None
    if contents is not None:
        contents = resolve_site_contents(project, contents)
    if warm:
        public.responses.update(render_all(public.data, public.data.paths(), quiet=quiet))
    texts = {
        **render_pages(public.data, contents, served=True),
        **render_feeds(project, contents, today=public.data.today),
    }
    pages = {name: text.encode("utf-8") for name, text in texts.items()}
    files = attachments(contents)
    headers = security_headers(public.data.project.settings.tiles)
    reports = project.settings.output_dir / "rapports"

    def authorised(request: Request) -> _Cache | Response:
        given = request.headers.get("authorization")
        scheme, _, value = (given or "").partition(" ")
        if scheme.lower() != "bearer":  # none, or another scheme (a proxy's Basic): public
            return public
        if (
            private is None
            or token is None
            or not hmac.compare_digest(value.strip().encode(), token.encode())
        ):
            return JSONResponse(
                {"erreur": "jeton d'accès invalide"}, status_code=401, headers=headers
            )
        return private

    async def api(request: Request) -> Response:
        cache = authorised(request)
        if isinstance(cache, Response):
            return cache
        path = request.url.path
        if path == "/api/openapi.json":
            return Response(encode(openapi()), media_type="application/json", headers=headers)
        try:
            body = cache.responses.get(path)
            if body is None:
                body = await run_in_threadpool(cache.get, path)
        except NotFound as error:
            return JSONResponse({"erreur": str(error)}, status_code=404, headers=headers)
        caching = "private, no-store" if cache is private else "public, max-age=300"
        return Response(
            body,
            media_type="application/json",
            # The same address answers differently with a token: caches must key on it.
            headers={**headers, "Cache-Control": caching, "Vary": "Authorization"},
        )

    async def page(request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        folder = request.path_params.get("folder")
        if folder is not None:
            name = f"{folder}/{name}"
        if name in files:
            return FileResponse(files[name], media_type="application/pdf", headers=headers)
        if name not in pages:
            return HTMLResponse(_not_found(), status_code=404, headers=headers)
        media = MEDIA_TYPES.get(name[name.rfind(".") :], MEDIA_TYPES[".html"])
        return Response(pages[name], media_type=media, headers=headers)

    async def report(request: Request) -> Response:
        name = request.path_params["name"]
        path = reports / name
        if not _PDF.match(name) or not path.is_file():
            return HTMLResponse(_not_found(), status_code=404, headers=headers)
        return FileResponse(path, media_type="application/pdf", headers=headers)

    routes = [
        Route("/", page),
        Route("/api/{rest:path}", api, methods=["GET", "HEAD"]),
        Route("/rapports/{name}", report),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        *routes,
        Route("/{name}", page),
        Route("/{folder}/{name}", page),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        """Unmatched paths (a newline in a segment…): a French 404, JSON under /api/."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"erreur": "adresse inconnue"}, status_code=404)
        return HTMLResponse(_not_found(), status_code=404)

    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.add_middleware(_Headers, headers=headers)
    app.state.public = public
    app.state.private = private
    app.state.project = project
    app.state.contents = contents  # resolved, None without a contenus/ folder
    app.state.headers = headers
    return app


class _Headers:
    """ASGI middleware: the security headers on every response (static files included)."""

    def __init__(self, app, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = {k for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.raw if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _not_found() -> str:
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Page introuvable'
        '</title></head><body><main><h1>Page introuvable</h1><p><a href="/">Retour à '
        "l'accueil</a></p></main></body></html>"
    )


def serve(
    project: Project, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None
) -> None:
    """Run the server until interrupted."""
    import uvicorn

    app = create_app(project, token=token, warm=True, quiet=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
