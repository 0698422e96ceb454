"""A tiny OpenAI-compatible ``/v1/embeddings`` server on loopback, written for these tests.

Each request takes the next queued answer (a function of the request's inputs returning
``(status, body, headers)``, or ``"hang"`` for silence until the server stops), else the
default: one 4-d vector per input, numbered by ``index``. Every request's JSON is recorded.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[list[str]], tuple[int, Any, dict[str, str]]] | str

__all__ = ["EmbeddingsServer", "rows", "serving"]


def rows(vectors: list[list[float]]) -> dict[str, Any]:
    """An OpenAI embeddings body holding ``vectors`` in order."""
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {"object": "list", "data": data, "model": "m"}


def plain(texts: list[str], dim: int = 4) -> list[list[float]]:
    return [[float(len(t) + 1), *([1.0] * (dim - 1))] for t in texts]


class EmbeddingsServer:
    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.requests: list[Any] = []
        self.dim = 4
        self.stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                owner.requests.append(body)
                texts = list(body.get("input") or [])
                answer: Answer = owner.answers.popleft() if owner.answers else owner.default
                if answer == "hang":
                    owner.stopping.wait(120)
                    return
                assert callable(answer)
                status, out, headers = answer(texts)
                raw = out.encode() if isinstance(out, str) else json.dumps(out).encode()
                self.send_response(status)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def default(self, texts: list[str]) -> tuple[int, Any, dict[str, str]]:
        return 200, rows(plain(texts, self.dim)), {}

    def then(self, answer: Answer, times: int = 1) -> EmbeddingsServer:
        self.answers.extend([answer] * times)
        return self

    def start(self) -> None:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self._http.shutdown()
        self._http.server_close()


@contextmanager
def serving() -> Iterator[EmbeddingsServer]:
    server = EmbeddingsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
