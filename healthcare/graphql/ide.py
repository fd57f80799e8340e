"""GraphiQL, served by this process: the page at `GET /graphql` (from a browser) and its
files at `/graphql/assets/<digest>/<name>`, so that it works on a network without the
Internet and runs no third party's script on a page that holds access tokens.

The files are exact copies of npm packages (`graphiql/manifest.json`, fetched and checked
by scripts/vendor_graphiql.py), plus the page's own script and styles
(`graphiql/graphiql-page.*`). Each URL carries the file's digest: the files are cached for
a year, and a new version is a new URL. The page is under a Content-Security-Policy that
allows this origin only (see `content_security_policy`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

FOLDER = Path(__file__).parent / "graphiql"
MANIFEST = FOLDER / "manifest.json"
# Relative to the page (`/graphql`), so that the page also works under a path prefix.
ASSETS = "graphql/assets"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# In the order the page loads them: React before GraphiQL, GraphiQL before its plugin,
# the page's own script last.
STYLESHEETS = ("graphiql.min.css", "plugin-explorer.css", "graphiql-page.css")
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "graphiql-page.js",
)
ASSET_HEADERS = {
    # The URL changes with the content, so a browser may keep a file for good.
    "cache-control": "public, max-age=31536000, immutable",
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "same-origin",
}
# A Host header fit to be named in the policy (a name or an address, and a port).
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class Asset:
    name: str
    path: Path
    sha256: str  # hexadecimal

    @property
    def digest(self) -> str:
        return self.sha256[:16]

    @property
    def url(self) -> str:
        return f"{ASSETS}/{self.digest}/{self.name}"

    @property
    def integrity(self) -> str:
        """For the tag's `integrity` attribute: the browser refuses other bytes."""
        return "sha256-" + base64.b64encode(bytes.fromhex(self.sha256)).decode()

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.path.suffix]


def load_assets() -> dict[str, Asset]:
    """The vendored files with the checksums their manifest records (a file changed
    without the manifest is refused by the browser, and fails tests/test_graphiql.py),
    and the page's own files with theirs."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]
    assets = {name: Asset(name, FOLDER / name, entry["sha256"]) for name, entry in manifest.items()}
    for own in ("graphiql-page.css", "graphiql-page.js"):
        digest = hashlib.sha256((FOLDER / own).read_bytes()).hexdigest()
        assets[own] = Asset(own, FOLDER / own, digest)
    return assets


def content_security_policy(request: Request) -> str:
    """This origin only. `connect-src` names the page's own host for WebSockets as well:
    CSP 3 lets 'self' cover ws: and wss: on the same host, but older browsers (Safari
    before 15.4, for one) apply it to http: and https: only. A Host header that is not a
    plain host and port is left out (it cannot add a directive). GraphiQL's fonts and
    icons are data: URLs.

    No 'unsafe-inline' for styles: GraphiQL 3 styles elements through the CSSOM
    (element.style), which style-src does not govern. The one inline style it tries is
    a <style> element that Radix's modal dialogs (settings, shortcuts) add to lock the
    page's scrolling (react-remove-scroll); blocking it changes nothing visible (this
    page never scrolls, and Radix stops clicks outside the dialog by itself), and its
    content varies, so no hash can allow it. web/e2e/browser.test.js opens a dialog and
    accepts that violation only."""
    connect = ["'self'"]
    host = request.headers.get("host", "")
    if _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        "connect-src": " ".join(connect),
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class GraphiQLPage:
    """The page and the route for its files."""

    def __init__(self) -> None:
        self.assets = load_assets()
        self.html = self._render()

    def _render(self) -> str:
        def attributes(asset: Asset) -> str:
            return f'"{html.escape(asset.url)}" integrity="{asset.integrity}"'

        links = "\n".join(
            f'    <link rel="stylesheet" href={attributes(self.assets[name])} />'
            for name in STYLESHEETS
        )
        scripts = "\n".join(
            f"    <script src={attributes(self.assets[name])}></script>" for name in SCRIPTS
        )
        return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>GraphiQL: Healthcare API</title>
    <link rel="icon" href="data:," />
{links}
  </head>
  <body>
    <div id="graphiql" class="graphiql-container">Loading...</div>
{scripts}
  </body>
</html>
"""

    def page(self, request: Request) -> Response:
        return HTMLResponse(
            self.html, headers={"content-security-policy": content_security_policy(request)}
        )

    async def asset(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["name"])
        if asset is None or request.path_params["digest"] != asset.digest:
            return PlainTextResponse("Not Found", status_code=404)  # no-store: ops.middleware
        return FileResponse(asset.path, media_type=asset.media_type, headers=ASSET_HEADERS)

    def routes(self) -> list[Route]:
        return [
            Route(f"/{ASSETS}/{{digest}}/{{name}}", self.asset, methods=["GET"], name="graphiql")
        ]
