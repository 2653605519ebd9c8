"""todo.txt syntax: lines to fields and tokens, with no meaning attached yet.

Real files are messy (see tests/data/todotxt), so every non-blank line either becomes a
`ParsedTask` or a `SkippedLine` that says why; nothing is dropped silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, time
from typing import NamedTuple

from todostream.domain.deadline import FIRST_YEAR, LAST_YEAR
from todostream.domain.todo import TITLE_MAX, has_control_characters

# Only these three are line breaks; str.splitlines would also split on \x0b, \x1c, \x85, ...
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"
_COMPLETE = re.compile(r"x(?: +|$)")
_PRIORITY = re.compile(r"\(([A-Z])\)(?: +|$)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE = re.compile(rf"({_ISO_DATE.pattern})(?: +|$)")
_CLOCK = re.compile(r"(([01]?[0-9]|2[0-3]):([0-5][0-9]))(?: +|$)")
_MARKER_PREFIXES = ("<<<<<<<", ">>>>>>>", "|||||||")
_MARKER_ALONE = "======="


@dataclass(frozen=True, slots=True)
class ParsedTask:
    """One task line split into its fixed leading fields and the tokens of its description.

    `completion_time` is the clock time some clients (todo.txt_clr) write after the completion
    date; `words` is the description without tags, and `title` joins them.
    """

    line_number: int
    raw: str
    completed: bool
    completion_date: date | None
    completion_time: time | None
    priority_letter: str | None
    creation_date: date | None
    description: str
    projects: tuple[str, ...]
    contexts: tuple[str, ...]
    key_values: tuple[tuple[str, str], ...]
    words: tuple[str, ...]

    @property
    def title(self) -> str:
        """The words without tags, or the whole description when only tags remain."""
        return " ".join(self.words) or " ".join(_tokens(self.description))


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """A non-blank line that is not imported, with the reason in one human sentence."""

    line_number: int
    reason: str
    text: str


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """The tasks and skipped lines of one file, each in line order, and its blank-line count."""

    tasks: tuple[ParsedTask, ...]
    skipped: tuple[SkippedLine, ...]
    blank_lines: int

    @property
    def entries(self) -> list[ParsedTask | SkippedLine]:
        """Tasks and skipped lines merged back into file order."""
        merged: list[ParsedTask | SkippedLine] = [*self.tasks, *self.skipped]
        return sorted(merged, key=lambda entry: entry.line_number)


def parse_document(text: str) -> ParsedDocument:
    """Parse a whole todo.txt text; every non-blank line becomes a task or a skipped line."""
    entries: list[ParsedTask | SkippedLine] = []
    accepted: dict[str, int] = {}
    blank_lines = 0
    for number, raw in enumerate(physical_lines(text), start=1):
        line = clean_line(raw)
        if line:
            entries.append(_parse_entry(number, raw, line, accepted))
        else:
            blank_lines += 1
    tasks = tuple(entry for entry in entries if isinstance(entry, ParsedTask))
    skipped = tuple(entry for entry in entries if isinstance(entry, SkippedLine))
    return ParsedDocument(tasks, skipped, blank_lines)


def physical_lines(text: str) -> list[str]:
    """Split on CRLF, CR or LF (mixed is fine); a final line break does not start a new line."""
    text = text.removeprefix(_BOM)
    if not text:
        return []
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines[-1] == "" else lines


def clean_line(raw: str) -> str:
    """Control characters and line separators become spaces (so words they separated stay
    apart), lone surrogates are dropped, and trailing whitespace goes."""
    if has_control_characters(raw) or any(unicodedata.category(c) in _ODD for c in raw):
        raw = "".join(_clean_char(char) for char in raw)
    return raw.rstrip()


_ODD = frozenset({"Zl", "Zp", "Cs"})


def _clean_char(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cs":
        return ""
    return " " if category in ("Cc", "Zl", "Zp") else char


def parse_date(text: str) -> date | None:
    """A real calendar date written exactly YYYY-MM-DD in the years the service stores
    (1900-9998), else None: such a "date" is read as text."""
    if _ISO_DATE.fullmatch(text) is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def is_key_value(token: str) -> bool:
    """True for `key:value` tags; URLs, clock times, verses and `ex:` stay plain text."""
    key, colon, value = token.partition(":")
    if not colon or not value or ":" in value or " " in value or value.startswith("/"):
        return False
    return key[:1].isalpha() and all(char.isalnum() or char in "_-" for char in key)


def _parse_entry(
    number: int, raw: str, line: str, accepted: dict[str, int]
) -> ParsedTask | SkippedLine:
    """Skip markers, duplicates and unusable lines; remember accepted lines for duplicates."""
    normalised = " ".join(_tokens(line))
    reason = _marker_or_duplicate(line, normalised, accepted)
    if reason is not None:
        return SkippedLine(number, reason, raw)
    task = _parse_task(number, raw, line)
    reason = _content_problem(task)
    if reason is not None:
        return SkippedLine(number, reason, raw)
    accepted[normalised] = number
    return task


def _marker_or_duplicate(line: str, normalised: str, accepted: dict[str, int]) -> str | None:
    if _is_conflict_marker(line):
        return "git conflict marker"
    if normalised in accepted:
        return f"duplicate of line {accepted[normalised]}"
    return None


def _is_conflict_marker(line: str) -> bool:
    """`=======` alone, or seven `<`, `>` or `|` followed by a space (and a label) or nothing."""
    if line == _MARKER_ALONE:
        return True
    return line.startswith(_MARKER_PREFIXES) and line[7:8] in ("", " ")


def _content_problem(task: ParsedTask) -> str | None:
    if not task.description:
        return "only a date or priority, no description"
    if len(task.title) > TITLE_MAX:
        return f"title longer than {TITLE_MAX} characters"
    return None


def _parse_task(number: int, raw: str, line: str) -> ParsedTask:
    """Read the fixed fields left to right, then the tokens of the description."""
    marker, rest = _match(_COMPLETE, line)
    completed = marker is not None
    fields = _completed_fields(rest) if completed else _open_fields(line)
    return _build_task(number, raw, completed, fields)


class _Fields(NamedTuple):
    """The fixed leading fields of a line and the description text after them."""

    completion: date | None
    clock: time | None
    letter: str | None
    creation: date | None
    rest: str


def _completed_fields(rest: str) -> _Fields:
    """`x` [completion date [clock time]] [(A)] [creation date], as real files write them."""
    completion, rest = _date_field(rest)
    clock = None
    if completion is not None:
        clock, rest = _clock_field(rest)
    letter, rest = _match(_PRIORITY, rest)
    creation, rest = _date_field(rest)
    return _Fields(completion, clock, letter, creation, rest)


def _open_fields(line: str) -> _Fields:
    """[(A)] [creation date], both anchored at column 0; anything later is description."""
    letter, rest = _match(_PRIORITY, line)
    creation, rest = _date_field(rest)
    return _Fields(None, None, letter, creation, rest)


def _build_task(number: int, raw: str, completed: bool, fields: _Fields) -> ParsedTask:
    description = fields.rest.strip(" ")
    projects, contexts, key_values, words = _scan(description)
    return ParsedTask(
        line_number=number,
        raw=raw,
        completed=completed,
        completion_date=fields.completion,
        completion_time=fields.clock,
        priority_letter=fields.letter,
        creation_date=fields.creation,
        description=description,
        projects=projects,
        contexts=contexts,
        key_values=key_values,
        words=words,
    )


_Tokens = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]


def _scan(description: str) -> _Tokens:
    """Sort each space-separated token into projects, contexts, key:value pairs or words."""
    projects: list[str] = []
    contexts: list[str] = []
    key_values: list[tuple[str, str]] = []
    words: list[str] = []
    for token in _tokens(description):
        if len(token) > 1 and token[0] in "+@":
            (projects if token[0] == "+" else contexts).append(token[1:])
        elif is_key_value(token):
            key, _, value = token.partition(":")
            key_values.append((key, value))
        else:
            words.append(token)
    return tuple(projects), tuple(contexts), tuple(key_values), tuple(words)


def _tokens(text: str) -> list[str]:
    # Only the ASCII space separates tokens; str.split() would also split on \xa0, \x1c, ...
    return [token for token in text.split(" ") if token]


def _match(pattern: re.Pattern[str], text: str) -> tuple[str | None, str]:
    """One fixed field at the start of `text` and the text after its spaces, or (None, text)."""
    match = pattern.match(text)
    if match is None:
        return None, text
    return match.group(1 if pattern.groups else 0), text[match.end() :]


def _date_field(text: str) -> tuple[date | None, str]:
    found, rest = _match(_DATE, text)
    day = parse_date(found) if found is not None else None
    return (day, rest) if day is not None else (None, text)


def _clock_field(text: str) -> tuple[time | None, str]:
    found, rest = _match(_CLOCK, text)
    if found is None:
        return None, text
    hour, minute = found.split(":")
    return time(int(hour), int(minute)), rest
