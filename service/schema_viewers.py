"""The `/schema` viewers, served with everything they load: no CDN, no web fonts, the page works offline.

Litestar's render plugins load their scripts, styles and favicon from CDNs by default. The files come from
the `openapi-ui-bundles` package instead (Swagger UI 5 and ReDoc 2: static files, no dependencies)
and are served by `schema_asset` under /schema/assets, from a fixed list (nothing else in the package
directories is reachable). ReDoc's Google fonts are off, and the one CDN URL inside its script (its logo) is
rewritten to the logo the package ships. A headless Chromium that can reach no other host renders each
viewer in the tests, and no request leaves for another host. Left out: RapiDoc (its script loads Open Sans
from Google's font CDN, and no package ships the fonts), Stoplight Elements and Scalar (no package ships
them). `/schema` itself is Swagger UI; `/schema/openapi.json` and `.yaml` are the document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import openapi_ui_bundles
from litestar import Response, get
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.params import PathParameter

from service.errors import CodedHTTPException

ASSETS_PATH = "/schema/assets"
_SWAGGER = openapi_ui_bundles.swagger_ui.static_path
_REDOC = openapi_ui_bundles.redoc.static_path
_JS, _CSS, _PNG, _SVG = "text/javascript", "text/css", "image/png", "image/svg+xml"
# name -> (file, media type); nothing else is served
_ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_SWAGGER / "swagger-ui-bundle.js", _JS),
    "swagger-ui-standalone-preset.js": (_SWAGGER / "swagger-ui-standalone-preset.js", _JS),
    "swagger-ui.css": (_SWAGGER / "swagger-ui.css", _CSS),
    "favicon-32x32.png": (_SWAGGER / "favicon-32x32.png", _PNG),
    "redoc.standalone.js": (_REDOC / "redoc.standalone.js", _JS),
    "redoc-logo-mini.svg": (_REDOC / "logo-mini.svg", _SVG),
}
# ReDoc's menu shows its logo from its CDN (hard-coded, no option): the same file, from here instead.
_REWRITES: dict[str, tuple[bytes, bytes]] = {
    "redoc.standalone.js": (b"https://cdn.redoc.ly/redoc/logo-mini.svg", f"{ASSETS_PATH}/redoc-logo-mini.svg".encode()),
}
# The files change only with the package's version: browsers may keep them a day.
_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


def _url(name: str) -> str:
    return f"{ASSETS_PATH}/{name}"


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema and /schema/swagger, ReDoc at /schema/redoc; the document as JSON and YAML."""
    favicon = f"<link rel='icon' type='image/png' href='{_url('favicon-32x32.png')}'>"
    return [
        SwaggerRenderPlugin(
            js_url=_url("swagger-ui-bundle.js"),
            css_url=_url("swagger-ui.css"),
            standalone_preset_js_url=_url("swagger-ui-standalone-preset.js"),
            path=["/", "/swagger"],
            favicon=favicon,
        ),
        RedocRenderPlugin(js_url=_url("redoc.standalone.js"), google_fonts=False, favicon=favicon),
        JsonRenderPlugin(),
        YamlRenderPlugin(),
    ]


@get(f"{ASSETS_PATH}/{{name:str}}", sync_to_thread=True, include_in_schema=False)
def schema_asset(name: Annotated[str, PathParameter(max_length=64)]) -> Response[bytes]:
    """One file of the viewers, from the installed package."""
    if name not in _ASSETS:
        raise CodedHTTPException(404, "not_found", f"no schema viewer file {name!r}")
    path, media_type = _ASSETS[name]
    body = path.read_bytes()
    if name in _REWRITES:
        body = body.replace(*_REWRITES[name])
    return Response(body, media_type=media_type, headers=_HEADERS)
