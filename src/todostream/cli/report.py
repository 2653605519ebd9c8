"""The import report as a person reads it: counts, then line ranges with their reasons."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from todostream.cli.common import console

_DUPLICATE = re.compile(r"duplicate of line (\d+)")


def print_report(file: Path, report: dict[str, Any]) -> None:
    console.print(
        f"{file.name}: {report['created']} created, {report['flagged']} flagged, "
        f"{report['blocked']} blocked, {report['skipped']} skipped "
        f"({report['lines']} lines, {report['blank_lines']} blank)",
        highlight=False,
    )
    for label in ("flagged", "blocked", "skipped"):
        for line_range, reason in _runs(report[f"{label}_lines"]):
            console.print(f"  {line_range}: {label}: {reason}", highlight=False)
    for warning in report["warnings"]:
        console.print(f"  line {warning['line']}: note: {warning['message']}", highlight=False)
    if report.get("truncated"):
        console.print("  (only the first 1000 lines of each kind are listed)", highlight=False)


def _runs(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Consecutive lines with the same reason (or duplicating consecutive lines) as one run."""
    runs: list[list[dict[str, Any]]] = []
    for entry in entries:
        if runs and _continues(runs[-1][-1], entry):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return [(_line_range(run), _run_reason(run)) for run in runs]


def _continues(previous: dict[str, Any], entry: dict[str, Any]) -> bool:
    if entry["line"] != previous["line"] + 1:
        return False
    before, now = _DUPLICATE.fullmatch(previous["reason"]), _DUPLICATE.fullmatch(entry["reason"])
    if before and now:
        return int(now.group(1)) == int(before.group(1)) + 1
    return bool(entry["reason"] == previous["reason"])


def _line_range(run: list[dict[str, Any]]) -> str:
    first, last = run[0]["line"], run[-1]["line"]
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _run_reason(run: list[dict[str, Any]]) -> str:
    first, last = _DUPLICATE.fullmatch(run[0]["reason"]), _DUPLICATE.fullmatch(run[-1]["reason"])
    if len(run) > 1 and first and last:
        return f"duplicates of lines {first.group(1)}-{last.group(1)}"
    return str(run[0]["reason"])
