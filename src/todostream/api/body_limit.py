"""Oversized request bodies answered in the JSON error shape of every other error."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class JsonTooLarge:
    """Rewrites the plain-text 413 that Starlette's body limit sends on its own, outside the
    app's exception handlers, when a declared Content-Length is over the limit."""

    def __init__(self, app: ASGIApp, detail: str) -> None:
        self.app = app
        self.detail = detail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def send_json(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and _plain_too_large(message):
                rewriting = True
                return
            if not rewriting:
                await send(message)
            elif not message.get("more_body", False):
                await JSONResponse({"detail": self.detail}, status_code=413)(scope, receive, send)

        await self.app(scope, receive, send_json)


def _plain_too_large(start: Message) -> bool:
    if start["status"] != 413:
        return False
    content_types = [value for name, value in start.get("headers", ()) if name == b"content-type"]
    return any(value.startswith(b"text/plain") for value in content_types)
