"""ASGI middleware: request ids, body-size limit, security headers."""

import json
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEM_JSON, problem_body

SECURITY_HEADERS = [
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]


class BodyTooLarge(Exception):
    pass


async def send_problem(send: Send, status: int, title: str, detail: str, slug: str,
                       headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(problem_body(status, title, detail, slug)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class ArxMiddleware:
    """Assigns a server-generated request id, refuses oversized bodies (413) before reading them
    whole, and adds security headers to every response. TRACE needs nothing here: no route accepts it, so the router answers 405
    with the `Allow` header RFC 9110 requires (or 404), and never echoes the request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        # Always ours: a client-chosen X-Request-Id would land in the audit log and the logs as typed
        # (it could carry a name). The response tells the client which id its request got.
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        extra = [*SECURITY_HEADERS, (b"x-request-id", rid.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(k, v) for k, v in extra if k not in present]]
            await send(message)

        length = headers.get(b"content-length")
        try:
            declared = int(length) if length is not None else None
        except ValueError:
            await send_problem(send_with_headers, 400, "Bad request", "Invalid Content-Length.",
                               "bad-request")
            return
        if declared is not None and declared > self.max_body_bytes:
            await send_problem(send_with_headers, 413, "Payload too large",
                               f"Request bodies are limited to {self.max_body_bytes} bytes.",
                               "payload-too-large")
            return

        received = 0
        response_started = False
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if too_large and not response_started:
                # The app may catch BodyTooLarge while parsing (FastAPI answers 400 "error parsing the
                # body"); whatever it says about a truncated body is replaced by the 413 below.
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send_with_headers(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not response_started:
            await send_problem(send_with_headers, 413, "Payload too large",
                               f"Request bodies are limited to {self.max_body_bytes} bytes.",
                               "payload-too-large")
