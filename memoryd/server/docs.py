"""``/docs``: Swagger UI from files shipped in a pip package (``fastapi-offline``'s copy of
Swagger UI 5), served by this server. FastAPI's own page loads them from a CDN, which a
self-hosted machine without internet cannot reach: the page stayed blank."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

__all__ = ["DOCS_FILES", "install_docs"]

DOCS_FILES = "/docs/files"  # Swagger UI's script, style sheet and icon


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (and its files) for ``app``, created with ``docs_url=None``."""
    folder = files("fastapi_offline") / "static"
    app.mount(DOCS_FILES, StaticFiles(directory=str(folder)), name="docs-files")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title}: API docs",
            swagger_js_url=f"{root}{DOCS_FILES}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_FILES}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_FILES}/favicon.png",
        )
