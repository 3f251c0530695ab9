"""`GET /dashboard`: one HTML page, its script and style sheet, and plotly.js from the installed plotly package.

No build step and no CDN: the files are package data (`service/dashboard/`) and the chart library is the
`plotly.min.js` that the `plotly` wheel ships. The page is public (it holds no data); the data it shows
comes from `/v1`, so with INSTRUCTFORGE_API_KEYS set the page asks for a key and keeps it in the tab's
sessionStorage.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Annotated

from litestar import Response, get
from litestar.params import PathParameter

from service.errors import CodedHTTPException

# name -> (where it lives, media type); nothing else is served
_ASSETS: dict[str, tuple[tuple[str, str], str]] = {
    "dashboard.js": (("service.dashboard", "dashboard.js"), "text/javascript"),
    "dashboard.css": (("service.dashboard", "dashboard.css"), "text/css"),
    "plotly.min.js": (("plotly", "package_data/plotly.min.js"), "text/javascript"),
}
AssetName = Annotated[str, PathParameter(min_length=1, max_length=64)]
_CACHE = {"Cache-Control": "no-cache"}  # revalidate: a service upgrade changes the files under the same names
_PAGE_HEADERS = _CACHE | {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}


def _asset(package: str, path: str) -> Traversable:
    return files(package).joinpath(*path.split("/"))


@get("/dashboard", sync_to_thread=True, include_in_schema=False)
def dashboard_page() -> Response[bytes]:
    page = _asset("service.dashboard", "index.html").read_bytes()
    return Response(page, media_type="text/html", headers=_PAGE_HEADERS)


@get("/dashboard/static/{name:str}", sync_to_thread=True, include_in_schema=False)
def dashboard_asset(name: AssetName) -> Response[bytes]:
    if name not in _ASSETS:
        raise CodedHTTPException(404, "not_found", f"no dashboard file {name!r}")
    (package, path), media_type = _ASSETS[name]
    body = _asset(package, path).read_bytes()
    return Response(body, media_type=media_type, headers=_CACHE | {"X-Content-Type-Options": "nosniff"})
