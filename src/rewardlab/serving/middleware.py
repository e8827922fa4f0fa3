"""Pure ASGI middleware for the server: request-size limit (413) and per-request metrics.

Pure ASGI rather than Starlette's BaseHTTPMiddleware because the size limit must act before anything reads
the body, and both must see every response, including the ones they or the framework produce themselves.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import HTTPException

from rewardlab.serving.metrics import ServerMetrics

Scope = dict[str, Any]


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Answer 413 to bodies over `max_bytes`: by the Content-Length header when given, else while reading.

    The body is read here (at most `max_bytes`) and replayed to the app, so a chunked upload without a
    Content-Length cannot slip past the limit.
    """

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _send_json(send, 400, "invalid Content-Length header")
                return
            if length > self.max_bytes:
                await _send_json(send, 413, f"request body of {length} bytes exceeds the limit of "
                                            f"{self.max_bytes} bytes (max_body_bytes); split the request")
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_json(send, 413, f"request body exceeds the limit of {self.max_bytes} bytes "
                                            "(max_body_bytes); split the request")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class MetricsMiddleware:
    """Count every HTTP response by endpoint and status code and time it (until the response starts)."""

    def __init__(self, app: Any, metrics: ServerMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        recorded = False

        async def send_and_record(message: dict[str, Any]) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                self.metrics.observe_request(scope["path"], message["status"], time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            if not recorded:  # the server will answer 500 itself
                self.metrics.observe_request(scope["path"], 500, time.perf_counter() - start)
            raise


class Refused(HTTPException):
    """400 for a well-formed request that this model does not serve (kept 400: only the framework's own bare 400
    for an unparsable body is answered as 422)."""

    def __init__(self, detail: str):
        super().__init__(400, detail)
