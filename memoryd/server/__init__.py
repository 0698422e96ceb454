"""memoryd's REST server: FastAPI under uvicorn.

>>> from memoryd.server import create_app, serve
>>> app = create_app()           # an ASGI app, e.g. for `uvicorn --factory`
>>> serve(load_settings())       # or run it: blocks until SIGINT/SIGTERM

Routes: ``/v1/...`` (memoryd's API), mem0-compatible ``/memories``, ``/search``
and ``/reset``, health probes under ``/health``, OpenAPI docs at ``/docs``.
"""

from memoryd.server.app import create_app
from memoryd.server.run import serve

__all__ = ["create_app", "serve"]
