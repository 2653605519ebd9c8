"""`todostream import`: straight into the database, or through a running service."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.progress import Progress

from todostream.cli import common
from todostream.config import Settings

PROGRESS_THRESHOLD_LINES = 200
Advance = Callable[[int, int], None]


def read_file(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        common.fail(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start})")


async def import_direct(settings: Settings, user: str, text: str, lines: int) -> dict[str, Any]:
    """Through the service layer on this machine; a running service relays the events."""
    from todostream.bootstrap import Role
    from todostream.service_layer.importer import TodoTxtImporter
    from todostream.service_layer.todos import Caller

    await common.require_current_schema(settings)
    runtime = common.build(settings, frozenset({Role.API}))
    try:
        importer = TodoTxtImporter(runtime.todos, runtime.uow)
        with ProgressBar(lines) as advance:
            report = await importer.import_text(Caller(user_id=user), text, advance)
    finally:
        await runtime.engine.dispose()
    return asdict(report)


def import_over_http(url: str, token: str | None, text: str, lines: int) -> dict[str, Any]:
    """POST the file; the service streams progress lines and then its report."""
    import httpx

    headers = {"Content-Type": "text/plain; charset=utf-8", "Accept": "application/x-ndjson"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    endpoint = url.rstrip("/") + "/api/import"
    try:
        request = httpx.stream(
            "POST", endpoint, content=text.encode(), headers=headers, timeout=300
        )
        with request as response, ProgressBar(lines) as advance:
            if response.status_code != 200:
                response.read()
                common.fail(f"{endpoint} answered {response.status_code}: {response.text}")
            return _read_progress(response.iter_lines(), advance)
    except httpx.HTTPError as exc:
        common.fail(f"cannot reach {endpoint}: {exc}")


def _read_progress(lines: Any, advance: Advance) -> dict[str, Any]:
    for line in lines:
        item = json.loads(line)
        if "done" in item:
            advance(item["done"], item["total"])
        elif "error" in item:
            common.fail(item["error"], code=1)
        elif "report" in item:
            report: dict[str, Any] = item["report"]
            return report
    common.fail("the service closed the connection before reporting")


class ProgressBar:
    """A progress bar for long files on a terminal; nothing otherwise."""

    def __init__(self, lines: int) -> None:
        shown = lines > PROGRESS_THRESHOLD_LINES and common.errors.is_terminal
        self._bar = Progress(console=common.errors, transient=True) if shown else None
        self._task: Any = None

    def __enter__(self) -> Advance:
        if self._bar is None:
            return lambda done, total: None
        self._bar.start()
        self._task = self._bar.add_task("importing", total=None)
        bar = self._bar
        return lambda done, total: bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
