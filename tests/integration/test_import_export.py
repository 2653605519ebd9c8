"""todo.txt import (API and CLI) and export: every line like an API create, bad lines reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.helpers import TEST_SECRET
from todostream.bootstrap import Runtime
from todostream.store.tables import OutboxRow, TodoRow

MESSY = (
    "\ufeff(A) 2026-01-10 Revise chapter 4 +maths @library due:2026-01-20\r\n"
    "x 2026-01-12 2026-01-02 Return books +library\n"
    "\n"
    "<<<<<<< HEAD\n"
    "(B) Plan revision timetable @home\n"
    "(B) Plan revision timetable @home\n"
    "(A)\n"
    f"{'very long title ' * 40}\n"
    "hack into the exam server +cs\n"
    "urgent: finish the assignment tonight +essay\r"
    "Call the dentist due:2d t:2026-02-01\n"
    "=======\n"
)


async def import_text(client: httpx.AsyncClient, text: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/api/import",
        content=text.encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", **headers},
    )


async def test_import_reports_each_line_and_creates_the_good_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await import_text(client, MESSY)

    assert response.status_code == 200
    report = response.json()
    assert (report["created"], report["flagged"], report["blocked"]) == (4, 1, 1)
    assert report["blank_lines"] == 1
    skipped = {entry["line"]: entry["reason"] for entry in report["skipped_lines"]}
    assert set(skipped) == {4, 6, 7, 8, 12}
    assert skipped[4] == skipped[12] == "git conflict marker"
    assert skipped[6] == "duplicate of line 5"
    assert "500" in skipped[8]
    assert report["skipped"] == 5
    assert [entry["line"] for entry in report["blocked_lines"]] == [9]
    assert [entry["line"] for entry in report["flagged_lines"]] == [10]
    assert any(w["line"] == 11 and "due:2d" in w["message"] for w in report["warnings"])


async def test_imported_lines_keep_their_meaning(client: httpx.AsyncClient) -> None:
    await import_text(client, MESSY)

    todos = {todo["title"]: todo for todo in (await client.get("/api/todos")).json()}

    revise = todos["Revise chapter 4"]
    assert revise["priority"] == "high"
    assert revise["category"] == "maths"
    assert revise["tags"] == ["library", "pri:A"]
    assert revise["deadline"] == "2026-01-20"
    assert revise["created_at"].startswith("2026-01-10")
    books = todos["Return books"]
    assert books["status"] == "completed"
    assert books["completed_at"].startswith("2026-01-12")
    assert todos["Call the dentist"]["tags"] == ["due:2d", "t:2026-02-01"]
    assert todos["urgent: finish the assignment tonight"]["status"] == "flagged"


async def test_each_imported_line_writes_its_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await import_text(client, MESSY)

    async with runtime.sessions() as session:
        query = select(OutboxRow.event_type).where(OutboxRow.topic == "todo-events")
        types = (await session.scalars(query)).all()
    assert sorted(types) == sorted(["todo_created"] * 4 + ["todo_flagged", "todo_blocked"])


async def test_import_streams_progress_as_ndjson_when_asked(client: httpx.AsyncClient) -> None:
    lines = "".join(f"task number {n}\n" for n in range(250))

    response = await import_text(client, lines, Accept="application/x-ndjson")

    items = [json.loads(line) for line in response.text.splitlines()]
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert items[-2] == {"done": 250, "total": 250}
    assert items[-1]["report"]["created"] == 250
    assert len(items) < 120


async def test_a_body_that_is_not_utf8_is_422_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/import",
        content="caf\xe9 au lait\n".encode("latin-1"),
        headers={"Content-Type": "text/plain"},
    )

    assert response.status_code == 422
    assert "UTF-8" in response.json()["detail"][0]["msg"]
    assert (await client.get("/api/todos")).json() == []


async def test_an_empty_file_imports_nothing(client: httpx.AsyncClient) -> None:
    report = (await import_text(client, "")).json()

    assert report["created"] == report["skipped"] == 0


async def test_export_writes_todotxt_that_imports_back_the_same(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await import_text(client, MESSY)
    exported = await client.get("/api/export?format=todotxt")
    other = {"Authorization": f"Bearer {runtime.authenticator.issue('other-user')}"}

    report = (await import_text(client, exported.text, **other)).json()

    assert exported.headers["content-type"].startswith("text/plain")
    assert "attachment" in exported.headers["content-disposition"]
    assert report["skipped"] == 0
    mine = (await client.get("/api/todos?sort=title")).json()
    theirs = (await client.get("/api/todos?sort=title", headers=other)).json()
    fields = ("title", "category", "priority", "tags", "deadline", "completed_at")

    def comparable(todos: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [tuple(todo[field] for field in fields) for todo in todos]

    assert comparable(theirs) == comparable(mine)
    assert [todo["status"] for todo in theirs] == [todo["status"] for todo in mine]


async def test_export_of_an_unknown_format_is_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/export?format=csv")).status_code == 422


def run_cli(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTH_JWT_SECRET": TEST_SECRET,
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "todostream", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


async def test_cli_import_goes_through_the_same_path_as_the_api(
    database_url: str, tmp_path: Path, runtime: Runtime
) -> None:
    source = tmp_path / "todo.txt"
    source.write_text(MESSY, encoding="utf-8")

    result = run_cli(database_url, "import", str(source), "--user", "cli-user", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "4 created, 1 flagged, 1 blocked, 5 skipped" in result.stdout
    assert "line 6: skipped: duplicate of line 5" in result.stdout
    async with runtime.sessions() as session:
        owners = (await session.scalars(select(TodoRow.owner_id))).all()
        events = (await session.execute(select(func.count()).select_from(OutboxRow))).scalar_one()
    assert set(owners) == {"cli-user"}
    assert len(owners) == 5
    assert events == 6


async def test_cli_import_of_a_missing_file_fails_with_one_clear_line(
    database_url: str, tmp_path: Path
) -> None:
    result = run_cli(database_url, "import", str(tmp_path / "nope.txt"), cwd=tmp_path)

    assert result.returncode == 2
    assert "nope.txt" in result.stderr


@pytest.mark.parametrize(
    "options",
    [
        ("--url", "http://127.0.0.1:9", "--user", "someone"),
        ("--token", "abc"),
    ],
    ids=["user-with-url", "token-without-url"],
)
async def test_cli_import_refuses_an_owner_option_its_mode_would_ignore(
    database_url: str, tmp_path: Path, runtime: Runtime, options: tuple[str, ...]
) -> None:
    source = tmp_path / "todo.txt"
    source.write_text("Call the dentist\n", encoding="utf-8")

    result = run_cli(database_url, "import", str(source), *options, cwd=tmp_path)

    assert result.returncode == 2
    assert "mode" in result.stderr
    async with runtime.sessions() as session:
        stored = (await session.execute(select(func.count()).select_from(TodoRow))).scalar_one()
    assert stored == 0


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x"])
async def test_an_import_that_is_not_text_plain_is_415_and_stores_nothing(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        "/api/import", content=b"buy milk\n", headers={"Content-Type": content_type}
    )

    assert response.status_code == 415
    assert "text/plain" in response.json()["detail"]
    assert (await client.get("/api/todos")).json() == []


async def test_dates_outside_the_stored_years_are_text_not_errors(
    client: httpx.AsyncClient,
) -> None:
    await client.patch("/api/me", json={"time_zone": "Asia/Tokyo"})

    report = (
        await import_text(client, "a due:9999-12-31\nx 0001-01-01 ancient\nlast one\n")
    ).json()

    assert (report["created"], report["skipped"]) == (3, 0)
    titles = {todo["title"]: todo for todo in (await client.get("/api/todos")).json()}
    assert titles["a"]["tags"] == ["due:9999-12-31"]
    assert titles["0001-01-01 ancient"]["status"] == "completed"
    assert (await client.get("/api/export")).status_code == 200


async def test_control_characters_in_a_line_separate_words_instead_of_gluing_them(
    client: httpx.AsyncClient,
) -> None:
    await import_text(client, "six\x85seven\x0beight\n")

    [todo] = (await client.get("/api/todos")).json()
    assert todo["title"] == "six seven eight"


async def test_a_huge_report_lists_the_first_lines_and_says_so(client: httpx.AsyncClient) -> None:
    text = "same line\n" * 1500

    report = (await import_text(client, text)).json()

    assert report["skipped"] == 1499
    assert len(report["skipped_lines"]) == 1000
    assert report["truncated"] is True
