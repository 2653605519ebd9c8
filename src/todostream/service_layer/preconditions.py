"""Entity tags and If-Match: a write based on a stale read is refused."""

from __future__ import annotations

from todostream.domain.errors import VersionMismatch


def etag_for(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """Raise unless `if_match` is absent, `*`, or lists the current version's tag.

    Weak tags (W/"3") are compared like strong ones: clients copy whatever they were given.
    """
    if if_match is None:
        return
    candidates = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" in candidates or etag_for(version) in candidates:
        return
    raise VersionMismatch(if_match, version)
