"""``GET /``: a search page for people, over ``POST /v1/search`` (no build step, no CDN).

The page is three static files shipped as package data in ``ragsift/service/static/``:
``page.html`` (served at ``/``), ``page.js`` and ``page.css`` (served at ``/static/NAME``). The
script calls ``/v1/search`` from the browser: once without ``rerank`` (the first stage) and, when
the rerank box is ticked, once with it, and shows both lists side by side with their scores and
``timings_ms``, the ``route`` of ``mode: auto`` and the ``validation`` verdict when the answer
carries one.

These routes are left out of the OpenAPI schema (they are not part of the API) and need no API
key: they hold no data. With keys configured the page asks for one and sends it as
``Authorization: Bearer`` on its ``/v1/search`` calls. A Content-Security-Policy keeps the page
to its own origin (``default-src 'self'``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

__all__ = ["router", "PATHS"]

router = APIRouter(include_in_schema=False)

PAGE = "page.html"
ASSETS = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}
PATHS = frozenset({"/", *(f"/static/{name}" for name in ASSETS)})
"""Every path these routes answer (open without an API key)."""

_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return (resources.files("ragsift.service") / "static" / name).read_bytes()


@router.get("/")
async def page() -> Response:
    """The search page."""
    return Response(_read(PAGE), media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    """The page's script and style sheet; any other name is a 404."""
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}; the page has {sorted(ASSETS)}")
    return Response(_read(name), media_type=ASSETS[name], headers=_HEADERS)
