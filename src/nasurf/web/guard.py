"""The request guard every request passes: access token, cross-site checks, the CSRF
cookie, security headers and the ``Server-Timing`` header.

A plain ASGI middleware, not Starlette's ``@app.middleware("http")``: that one wraps the
request body's ``receive`` in a task group per message, and an upload of a few MB arrives
as dozens of messages -- under 20 concurrent uploads that wrapping was a fifth of the
server's event-loop time. Here the body passes through untouched; only the response's
start message is edited.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

CSRF_COOKIE = "nasurf_csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_COOKIE = "nasurf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "default-src 'self'; script-src 'self' 'unsafe-eval'; "
                                "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:"),
    ("x-frame-options", "DENY"),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _csrf_cookie_header(value: str) -> str:
    """The Set-Cookie value Starlette's ``set_cookie`` writes (one owner of the format)."""
    r = Response()
    r.set_cookie(CSRF_COOKIE, value, samesite="strict", httponly=False)
    return r.headers["set-cookie"]


class Guard:
    """ASGI middleware: ``app.add_middleware(Guard, check_token=..., require_token=...)``.

    ``check_token(token)`` returns something not None for a valid, unrevoked token; it is
    consulted only when ``require_token`` (the server listens off loopback).
    """

    def __init__(self, app: Callable, *, check_token: Callable[[str | None], Any],
                 require_token: bool) -> None:
        self.app = app
        self.check_token = check_token
        self.require_token = require_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope)
        sent_cookie = request.cookies.get(CSRF_COOKIE)
        csrf = sent_cookie or secrets.token_urlsafe(24)
        scope.setdefault("state", {})["csrf"] = csrf   # request.state.csrf in the routes
        refusal = self._refusal(request)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if sent_cookie != csrf:
                    headers.append("set-cookie", _csrf_cookie_header(csrf))
                for name, value in SECURITY_HEADERS:
                    if name not in headers:
                        headers.append(name, value)
                # time spent in the app (what the load benchmark reports as server time)
                headers["server-timing"] = (
                    f"app;dur={1e3 * (time.perf_counter() - started):.1f}")
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, send_wrapper)
            return
        await self.app(scope, receive, send_wrapper)

    def _refusal(self, request: Request) -> Response | None:
        """The response refusing this request, or None when it may proceed."""
        path = request.url.path
        if self.require_token and not path.startswith("/static/") and path != "/login":
            token = request.cookies.get(TOKEN_COOKIE)
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            if self.check_token(token) is None:
                if path.startswith("/api/"):
                    return JSONResponse({"error": "an access token is required"}, 401)
                return RedirectResponse("/login", 303)
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"):
                return JSONResponse({"error": "cross-site request refused"}, 403)
            bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
            sent = request.headers.get(CSRF_HEADER)
            cookie = request.cookies.get(CSRF_COOKIE)
            if path != "/login" and not bearer and (
                    not sent or not cookie or not secrets.compare_digest(sent, cookie)):
                return JSONResponse({"error": "missing or wrong CSRF token: reload the page"},
                                    403)
        return None
