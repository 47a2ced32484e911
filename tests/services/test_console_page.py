"""GET /console: the page's own files are served without credentials, nothing else is."""

from __future__ import annotations

import re

from services.console_page import FILES


def test_the_index_and_its_files_are_public_static_content(client):
    index = client.get("/console/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert index.headers["cache-control"] == "no-cache"
    for src in re.findall(r'(?:src|href)="(/console/[^"]+)"', index.text):
        assert client.get(src).status_code == 200, src
    vendor = client.get("/console/vendor/d3-geo.min.js")
    assert vendor.status_code == 200 and "max-age=86400" in vendor.headers["cache-control"]
    assert client.get("/console/vendor/states-albers-10m.json").json()["type"] == "Topology"


def test_bare_console_redirects_to_the_index(client):
    response = client.get("/console", follow_redirects=False)
    assert response.status_code == 308 and response.headers["location"] == "/console/"


def test_only_shipped_files_are_served(client):
    for path in (
        "/console/../config.py",
        "/console/%2e%2e/config.py",
        "/console/vendor/d3-geo.LICENSE",
        "/consoleapp.js",
        "/console/missing.js",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert "console_page.py" not in " ".join(FILES)
    assert {"index.html", "app.js", "vendor/topojson-client.min.js"} <= set(FILES)


def test_every_console_file_carries_a_strict_csp(client):
    """No inline script or style, no other origin: the page runs only its own files."""
    for path in ("/console/", "/console/app.js", "/console/vendor/d3-geo.min.js"):
        policy = client.get(path).headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'", path
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["connect-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy
    index = client.get("/console/").text
    assert "<script>" not in index and " style=" not in index
    assert not re.search(r"\son[a-z]+=", index)  # no inline event handlers
