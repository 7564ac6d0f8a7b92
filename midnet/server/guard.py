"""The door of the server, as a plain ASGI middleware around the whole application: the access token and the
upload size, both checked before any route, form parser or file sees the request.

Starlette has no body limit of its own and parses a multipart form to the end before a route
runs, so the size is capped twice here: from ``Content-Length`` before anything is read, and
on the stream as it is read (a chunked upload announces no length). Past the cap the
application is told the client went away, and whatever it would answer is replaced by 413.

The token (when one is set) is taken from an ``Authorization: Bearer`` header (scripts), the
``midnet_token`` cookie (the page), or once from ``?token=`` in the address a facility hands
out: that sets the cookie and sends the browser on to the same address without it.
"""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

COOKIE = "midnet_token"


class Guard:
    def __init__(self, app, token: str | None, max_body: int):
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is not None:
            given, from_query = self._given_token(scope, headers)
            if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
                return await _reply(send, 401, "missing or wrong access token: open the address with ?token=... "
                                               "as given by whoever runs the server, or send 'Authorization: Bearer ...'")
            if from_query and scope["method"] in ("GET", "HEAD"):
                return await self._set_cookie_and_redirect(scope, send)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _reply(send, 413, self._too_large())
        await self._capped(scope, receive, send)

    def _given_token(self, scope, headers: dict) -> tuple[str | None, bool]:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is no token, not a server error
            cookie = SimpleCookie()
        if COOKIE in cookie:
            return cookie[COOKIE].value, False
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        return (query["token"], True) if "token" in query else (None, False)

    async def _set_cookie_and_redirect(self, scope, send) -> None:
        query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k != "token"]
        location = scope.get("root_path", "") + scope["path"] + (f"?{urlencode(query)}" if query else "")
        cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
                                (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def _too_large(self) -> str:
        return f"upload too large: at most {self.max_body / 2**20:.0f} MiB per request (the server's --max-upload-mb)"

    async def _capped(self, scope, receive, send) -> None:
        state = {"read": 0, "over": False, "replied": False}

        async def capped_receive():
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > self.max_body:  # the parser never sees the byte past the cap
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not state["over"]:
                return await send(message)
            if not state["replied"]:  # whatever the application answers to a cut-off body becomes one 413
                state["replied"] = True
                await _reply(send, 413, self._too_large())

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
            if not state["replied"]:
                await _reply(send, 413, self._too_large())


async def _reply(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
