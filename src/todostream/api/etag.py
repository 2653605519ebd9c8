"""Pure ASGI middleware giving every complete GET response an ETag, and honouring
If-None-Match with 304.

Todo responses carry their version as a strong tag already and keep it; other bodies (lists,
stats, exports) get a weak tag from a hash of their bytes. Only responses that announce a
Content-Length are held back to hash; streaming ones pass straight through.
"""

from __future__ import annotations

import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def weak_etag(body: bytes) -> str:
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


class ETagMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if_none_match = dict(scope.get("headers", ())).get(b"if-none-match", b"").decode("latin-1")
        held: list[Message] = []

        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] != 200 or not _header(message, b"content-length"):
                    await send(message)
                    return
                held.append(message)
                return
            if not held:
                await send(message)
                return
            held.append(message)
            if not message.get("more_body", False):
                await _send_tagged(held, if_none_match, send)
                held.clear()

        await self.app(scope, receive, send_tagged)


def _header(message: Message, name: bytes) -> bytes:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return b""


async def _send_tagged(held: list[Message], if_none_match: str, send: Send) -> None:
    start, bodies = held[0], held[1:]
    body = b"".join(message.get("body", b"") for message in bodies)
    etag = _header(start, b"etag").decode("latin-1") or weak_etag(body)
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"etag"]
    headers.append((b"etag", etag.encode("latin-1")))
    if if_none_match and _matches(if_none_match, etag):
        kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})
