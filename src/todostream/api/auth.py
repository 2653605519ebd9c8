"""Bearer tokens: signed JWTs naming the user in `sub`; the local user when anonymous."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from todostream.config import MIN_SECRET_BYTES, Settings
from todostream.domain.todo import text_problem

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
LOCAL_SECRET_FILE = Path(".todostream") / "jwt-secret"


class NotAuthenticated(Exception):
    """No usable credentials; the message says what was wrong with them."""


def resolve_secret(settings: Settings, secret_file: Path = LOCAL_SECRET_FILE) -> str:
    """AUTH_JWT_SECRET when set; otherwise a random secret kept in a local file, so tokens
    printed by `make run` and `todostream token` keep working across restarts."""
    if settings.auth_jwt_secret is not None:
        return settings.auth_jwt_secret.get_secret_value()
    if secret_file.is_file():
        return secret_file.read_text(encoding="utf-8").strip()
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return secret_file.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret)
    log.info("created a local token secret", extra={"path": str(secret_file)})
    return secret


class Authenticator:
    def __init__(self, secret: str, *, allow_anonymous: bool, local_user_id: str) -> None:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"AUTH_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._allow_anonymous = allow_anonymous
        self.local_user_id = local_user_id

    def user_id(self, authorization: str | None) -> str:
        """The user a request acts for; a bad token is refused even when anonymous is allowed."""
        if not authorization:
            if self._allow_anonymous:
                return self.local_user_id
            raise NotAuthenticated("send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
        try:
            claims = jwt.decode(
                token.strip(), self._secret, algorithms=[ALGORITHM], options={"require": ["sub"]}
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"invalid token: {exc}") from None
        subject = claims["sub"]
        if (
            not isinstance(subject, str)
            or not 0 < len(subject) <= 255
            or text_problem(subject, one_line=True)
            or subject.strip() != subject
        ):
            raise NotAuthenticated(
                "invalid token: sub must be a user id of 1-255 printable characters"
            )
        return subject

    def issue(self, user_id: str, ttl: timedelta | None = timedelta(days=30)) -> str:
        now = datetime.now(UTC)
        claims: dict[str, object] = {"sub": user_id, "iat": now}
        if ttl is not None:
            claims["exp"] = now + ttl
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)
