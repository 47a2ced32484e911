"""The dispatch console: the static page at `/console` (HTML, ES modules, vendored libraries).

Public by design: the files hold no data; every figure on the page comes from the authenticated
API with the user's own token. Only files shipped in `services/console/` are served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

from helpers.errors import NotFound

ROOT = Path(__file__).parent / "console"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
# Strict: the page runs only its own files (no inline script or style), talks only to this
# origin, and shows images it drew itself (charts arrive as blobs).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Name -> file, fixed at import: a request can only name a shipped file, never a path.
FILES = {
    str(path.relative_to(ROOT)): path
    for path in ROOT.rglob("*")
    if path.is_file() and path.suffix in _TYPES
}

router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/console{asset:path}")
def console_file(asset: str) -> Response:
    """A file of the console page (`/console/` is its index)."""
    if asset == "":
        return RedirectResponse("/console/", status_code=308)
    path = FILES.get(asset.removeprefix("/") or "index.html")
    if path is None or not asset.startswith("/"):
        raise NotFound("no such console file")
    # Vendored libraries are pinned (make vendor-console), the page's own files change with it.
    cache = "public, max-age=86400" if asset.startswith("/vendor/") else "no-cache"
    headers = {"Cache-Control": cache, "Content-Security-Policy": CSP}
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=headers)
