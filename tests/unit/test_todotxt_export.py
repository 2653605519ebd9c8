from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from todostream.domain.deadline import Deadline, day_start
from todostream.domain.todo import Priority, Status
from todostream.todotxt.convert import ImportedTodo, to_imported
from todostream.todotxt.export import ExportableTodo, format_document, format_line
from todostream.todotxt.parse import is_key_value, parse_document

NOW = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
ZONES = [
    UTC,
    PARIS,
    ZoneInfo("America/Sao_Paulo"),
    ZoneInfo("America/St_Johns"),
    ZoneInfo("Pacific/Kiritimati"),
    ZoneInfo("Pacific/Pago_Pago"),
]


@dataclass(frozen=True)
class Todo:
    title: str = "call Sam"
    category: str = "other"
    priority: Priority = Priority.MEDIUM
    status: Status = Status.PENDING
    tags: Sequence[str] = ()
    deadline: Deadline | None = None
    created_at: datetime = datetime(2020, 1, 1, 12, tzinfo=UTC)
    completed_at: datetime | None = None


def reimported(todo: ExportableTodo, zone: tzinfo) -> ImportedTodo:
    [task] = parse_document(format_line(todo, zone)).tasks
    return to_imported(task, zone, NOW)


# Lines


def test_open_todo_line() -> None:
    todo = Todo(
        category="home",
        priority=Priority.HIGH,
        tags=["+garage", "phone", "size:5"],
        deadline=Deadline(day=date(2020, 2, 1)),
    )

    assert format_line(todo, UTC) == (
        "(A) 2020-01-01 call Sam +home +garage @phone size:5 due:2020-02-01"
    )


def test_completed_todo_line_keeps_the_priority_as_a_tag() -> None:
    todo = Todo(
        status=Status.COMPLETED,
        priority=Priority.HIGH,
        completed_at=datetime(2020, 1, 3, 9, tzinfo=UTC),
    )

    assert format_line(todo, UTC) == "x 2020-01-03 2020-01-01 call Sam pri:A"


@pytest.mark.parametrize(("priority", "letter"), [(Priority.HIGH, "A"), (Priority.LOW, "C")])
def test_priority_without_a_saved_letter_uses_a_or_c(priority: Priority, letter: str) -> None:
    assert format_line(Todo(priority=priority), UTC).startswith(f"({letter}) ")


def test_a_medium_todo_without_a_saved_letter_gets_none_so_it_reads_back_unchanged() -> None:
    line = format_line(Todo(priority=Priority.MEDIUM), UTC)

    assert line == "2020-01-01 call Sam"
    assert to_imported(parse_document(line).tasks[0], UTC, NOW).tags == []


def test_saved_pri_letter_is_used_when_it_still_means_the_priority() -> None:
    line = format_line(Todo(priority=Priority.LOW, tags=["pri:E", "size:5"]), UTC)

    assert line == "(E) 2020-01-01 call Sam size:5"


def test_a_saved_letter_the_priority_left_behind_stays_a_tag_not_the_priority() -> None:
    todo = Todo(priority=Priority.HIGH, tags=["pri:E"])

    line = format_line(todo, UTC)

    assert line == "(A) 2020-01-01 call Sam @pri:E"
    assert reimported(todo, UTC).priority is Priority.HIGH
    assert "pri:E" in reimported(todo, UTC).tags


def test_a_due_tag_is_written_so_that_it_reads_back_as_a_tag_not_the_deadline() -> None:
    todo = Todo(tags=["due:2020-01-01"], deadline=Deadline(day=date(2021, 5, 6)))

    back = reimported(todo, UTC)

    assert format_line(todo, UTC) == "2020-01-01 call Sam @due:2020-01-01 due:2021-05-06"
    assert back.tags == ["due:2020-01-01"]
    assert back.deadline == Deadline(day=date(2021, 5, 6))


def test_completed_todo_writes_its_saved_letter_once() -> None:
    todo = Todo(
        priority=Priority.LOW,
        status=Status.COMPLETED,
        tags=["pri:F", "moscow:must"],
        completed_at=datetime(2020, 1, 3, tzinfo=UTC),
    )

    assert format_line(todo, UTC) == "x 2020-01-03 2020-01-01 call Sam moscow:must pri:F"


def test_in_progress_and_flagged_todos_are_open_lines() -> None:
    for status in (Status.IN_PROGRESS, Status.FLAGGED):
        assert format_line(Todo(status=status), UTC) == "2020-01-01 call Sam"


def test_category_other_is_not_written() -> None:
    assert "+" not in format_line(Todo(category="other"), UTC)


def test_tags_are_grouped_projects_then_contexts_then_key_values() -> None:
    todo = Todo(category="home", tags=["size:5", "phone", "+garage", "plan:x", "+wood", "car"])

    assert format_line(todo, UTC).endswith("+home +garage +wood @phone @car size:5 plan:x")


def test_spaces_in_category_and_tag_names_become_underscores() -> None:
    todo = Todo(category="home office", tags=["+side project", "at home"])

    assert format_line(todo, UTC).endswith("call Sam +home_office +side_project @at_home")


def test_dates_are_written_in_the_zone() -> None:
    todo = Todo(
        created_at=datetime(2020, 1, 1, 23, 30, tzinfo=UTC),
        status=Status.COMPLETED,
        completed_at=datetime(2020, 3, 1, 22, 59, tzinfo=UTC),
    )

    assert format_line(todo, PARIS).startswith("x 2020-03-01 2020-01-02 ")
    assert format_line(todo, UTC).startswith("x 2020-03-01 2020-01-01 ")


def test_instant_deadline_is_written_as_its_day_in_the_zone() -> None:
    todo = Todo(deadline=Deadline(instant=datetime(2020, 1, 31, 23, 30, tzinfo=UTC)))

    assert format_line(todo, PARIS).endswith(" due:2020-02-01")
    assert format_line(todo, UTC).endswith(" due:2020-01-31")


def test_completed_todo_without_completed_at_uses_the_creation_date_twice() -> None:
    todo = Todo(status=Status.COMPLETED, completed_at=None)

    assert format_line(todo, UTC) == "x 2020-01-01 2020-01-01 call Sam"


def test_a_todo_completed_before_it_was_created_is_written_without_a_creation_date() -> None:
    """An imported done line without a creation date is created at import time, after it was
    completed; writing that date back would read as a creation after the completion."""
    todo = Todo(status=Status.COMPLETED, completed_at=datetime(2018, 9, 3, tzinfo=UTC))

    line = format_line(todo, UTC)

    assert line == "x 2018-09-03 call Sam"
    assert reimported(todo, UTC).warnings == []


def test_line_breaks_inside_fields_never_split_the_line() -> None:
    todo = Todo(title="call\nSam\r\x0bnow\u2028please", tags=["a\rb"])

    line = format_line(todo, UTC)

    assert len(parse_document(line).entries) == 1
    assert "\n" not in line
    assert line.endswith("@a_b")


# Documents


def test_document_has_lf_line_endings_and_a_final_newline() -> None:
    todos = [Todo(title="one"), Todo(title="two", priority=Priority.HIGH)]

    assert format_document(todos, UTC) == "2020-01-01 one\n(A) 2020-01-01 two\n"


def test_empty_document_is_empty() -> None:
    assert format_document([], UTC) == ""


def test_document_reads_back_as_the_same_number_of_tasks() -> None:
    todos = [Todo(title=f"task {number}") for number in range(20)]

    assert len(parse_document(format_document(todos, PARIS)).tasks) == 20


# Round trip


def test_todo_without_a_saved_letter_gains_one_on_the_way_back() -> None:
    back = reimported(Todo(category="home", priority=Priority.LOW, tags=["phone"]), UTC)

    assert (back.category, back.priority) == ("home", Priority.LOW)
    assert back.tags == ["phone", "pri:C"]


_SAFE_CHARS = st.characters(exclude_categories=["C", "Z"])
_NAMES = st.text(_SAFE_CHARS, min_size=1, max_size=20)
_WORDS = _NAMES.filter(lambda word: word[0] not in "+@" and not is_key_value(word))
_PLAIN_TAGS = _NAMES.filter(lambda name: name[0] != "+" and not is_key_value(name))
_KEYS = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True).filter(
    lambda key: key.casefold() not in ("pri", "due")
)
_VALUES = _NAMES.filter(lambda value: ":" not in value and not value.startswith("/"))
_KEY_VALUES = st.builds(lambda key, value: f"{key}:{value}", _KEYS, _VALUES)
_DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
_LOW_LETTERS = st.sampled_from("CDEFGHIJKLMNOPQRSTUVWXYZ")


@st.composite
def _representable(draw: st.DrawFn) -> tuple[Todo, tzinfo]:
    """A todo whose every field survives todo.txt, and the zone to write it in."""
    zone = draw(st.sampled_from(ZONES))
    priority = draw(st.sampled_from(Priority))
    status = draw(st.sampled_from([Status.PENDING, Status.COMPLETED]))
    category, tags = draw(_category_and_tags(priority))
    created = draw(_DAYS)
    later_days = st.dates(min_value=created, max_value=date(2100, 12, 31))
    completed = draw(later_days) if status is Status.COMPLETED else None
    todo = Todo(
        title=" ".join(draw(st.lists(_WORDS, min_size=1, max_size=8))),
        category=category,
        priority=priority,
        status=status,
        tags=tags,
        deadline=draw(st.none() | _DAYS.map(lambda day: Deadline(day=day))),
        created_at=day_start(created, zone),
        completed_at=day_start(completed, zone) if completed is not None else None,
    )
    return todo, zone


@st.composite
def _category_and_tags(draw: st.DrawFn, priority: Priority) -> tuple[str, list[str]]:
    """Tags in the order an import produces them; names unique regardless of case."""
    # "other" is the category of a line without projects, so it cannot lead the projects.
    names = draw(
        st.lists(_NAMES.filter(lambda name: name != "other"), max_size=5, unique_by=str.casefold)
    )
    plain = draw(st.lists(_PLAIN_TAGS, max_size=5, unique_by=str.casefold))
    key_values = draw(st.lists(_KEY_VALUES, max_size=5, unique_by=str.casefold))
    letter = {Priority.HIGH: "A", Priority.MEDIUM: "B"}.get(priority) or draw(_LOW_LETTERS)
    projects = [f"+{name}" for name in names[1:]]
    return names[0] if names else "other", [*projects, *plain, *key_values, f"pri:{letter}"]


@given(_representable())
def test_representable_todos_survive_export_and_import(case: tuple[Todo, tzinfo]) -> None:
    todo, zone = case

    back = reimported(todo, zone)

    assert back.title == todo.title
    assert back.category == todo.category
    assert back.priority == todo.priority
    assert back.status == todo.status
    assert back.tags == list(todo.tags)
    assert back.deadline == todo.deadline
    assert back.created_at == todo.created_at
    assert back.completed_at == todo.completed_at


@given(st.lists(_representable(), max_size=5))
def test_documents_survive_export_and_import(cases: list[tuple[Todo, tzinfo]]) -> None:
    todos = [
        replace(todo, title=f"{number} {todo.title}") for number, (todo, _) in enumerate(cases)
    ]

    document = parse_document(format_document(todos, UTC))

    assert [task.title for task in document.tasks] == [todo.title for todo in todos]
    assert document.skipped == ()
    assert document.blank_lines == 0
