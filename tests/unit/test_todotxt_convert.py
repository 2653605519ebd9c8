from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from todostream.domain.deadline import Deadline
from todostream.domain.todo import Priority, Status
from todostream.todotxt.convert import ImportedTodo, priority_for_letter, to_imported
from todostream.todotxt.parse import parse_document

DATA = Path(__file__).parents[1] / "data" / "todotxt"
NOW = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def imported(line: str, zone: tzinfo = UTC, now: datetime = NOW) -> ImportedTodo:
    [task] = parse_document(line).tasks
    return to_imported(task, zone, now)


def imported_sample(name: str, zone: tzinfo = PARIS) -> dict[int, ImportedTodo]:
    text = (DATA / name).read_bytes().decode("utf-8")
    return {task.line_number: to_imported(task, zone, NOW) for task in parse_document(text).tasks}


# Priority


@pytest.mark.parametrize(
    ("letter", "priority"),
    [("A", Priority.HIGH), ("B", Priority.MEDIUM), ("C", Priority.LOW), ("Z", Priority.LOW)],
)
def test_priority_letter_maps_to_priority_and_is_kept_as_a_tag(
    letter: str, priority: Priority
) -> None:
    todo = imported(f"({letter}) call Sam")

    assert todo.priority is priority
    assert todo.tags == [f"pri:{letter}"]


def test_no_priority_letter_is_medium_with_no_tag() -> None:
    todo = imported("call Sam")

    assert todo.priority is Priority.MEDIUM
    assert todo.tags == []
    assert priority_for_letter(None) is Priority.MEDIUM


def test_saved_pri_tag_gives_a_completed_line_its_priority() -> None:
    todo = imported("x 2020-01-02 2020-01-01 call Sam pri:A")

    assert todo.priority is Priority.HIGH
    assert todo.tags == ["pri:A"]


def test_priority_field_wins_over_a_saved_pri_tag() -> None:
    todo = imported("x 2020-01-02 (C) call Sam pri:A")

    assert todo.priority is Priority.LOW
    assert todo.tags == ["pri:A", "pri:C"]


def test_lowercase_pri_value_is_an_ordinary_tag() -> None:
    todo = imported("call Sam pri:a")

    assert todo.priority is Priority.MEDIUM
    assert todo.tags == ["pri:a"]


# Category and tags


def test_first_project_is_the_category_and_later_projects_are_plus_tags() -> None:
    todo = imported("rack under tabel +home +garage +wood")

    assert todo.category == "home"
    assert todo.tags == ["+garage", "+wood"]


def test_no_project_means_category_other() -> None:
    assert imported("call Sam @phone").category == "other"


def test_repeated_project_is_not_also_a_tag() -> None:
    todo = imported("+exercise +health cut back +exercise +Health +fit")

    assert todo.category == "exercise"
    assert todo.tags == ["+health", "+fit"]


def test_project_longer_than_50_characters_is_a_tag_and_category_is_other() -> None:
    long_name = "p" * 51

    todo = imported(f"plan +{long_name} +short")

    assert todo.category == "other"
    assert todo.tags == [f"+{long_name}", "+short"]
    assert todo.warnings == [
        f"project +{long_name} is longer than 50 characters, "
        "so it is kept as a tag and the category is 'other'"
    ]


def test_project_of_exactly_50_characters_is_the_category() -> None:
    name = "p" * 50

    assert imported(f"plan +{name}").category == name


def test_contexts_become_plain_tags_and_key_values_keep_their_form() -> None:
    todo = imported("(E) review stale todos @Add moscow:should plan:strategic +backlog")

    assert todo.tags == ["Add", "moscow:should", "plan:strategic", "pri:E"]


def test_tags_repeated_in_another_case_are_dropped() -> None:
    assert imported("tidy @Cleaning @cleaning h:1 h:1").tags == ["Cleaning", "h:1"]


def test_tag_longer_than_100_characters_is_dropped_with_a_warning() -> None:
    long_context = "c" * 101

    todo = imported(f"tidy @{long_context} @ok")

    assert todo.tags == ["ok"]
    assert todo.warnings == [f"tag {'c' * 20}... is over 100 characters long; dropped"]


def test_more_than_50_tags_keeps_the_first_50_with_a_warning() -> None:
    contexts = " ".join(f"@c{number}" for number in range(53))

    todo = imported(f"tidy {contexts}")

    assert todo.tags == [f"c{number}" for number in range(50)]
    assert todo.warnings == ["more than 50 tags; dropped c50, c51, c52"]


# Deadline


def test_due_date_becomes_the_deadline_and_not_a_tag() -> None:
    todo = imported("Gérer les due +todo due:2014-10-01")

    assert todo.deadline == Deadline(day=date(2014, 10, 1))
    assert todo.tags == []
    assert todo.warnings == []


def test_relative_due_stays_a_tag_with_a_warning() -> None:
    todo = imported("x 2018-09-03 reCheck spark people due:2d")

    assert todo.deadline is None
    assert todo.tags == ["due:2d"]
    assert todo.warnings == ["due:2d is not a date written YYYY-MM-DD, so it is kept as a tag"]


def test_impossible_due_date_stays_a_tag_with_a_warning() -> None:
    todo = imported("pay rent due:2016-02-30")

    assert todo.deadline is None
    assert todo.tags == ["due:2016-02-30"]
    assert len(todo.warnings) == 1


def test_second_due_date_stays_a_tag_with_a_warning() -> None:
    todo = imported("pay rent due:2020-01-01 due:2020-02-01")

    assert todo.deadline == Deadline(day=date(2020, 1, 1))
    assert todo.tags == ["due:2020-02-01"]
    assert todo.warnings == ["due:2020-02-01 is a second due date, so it is kept as a tag"]


# Title


def test_title_drops_tags_and_collapses_spaces() -> None:
    todo = imported("(A) 2016-03-10 @job @appointments Globex  due:2016-03-15 1:30 telephone")

    assert todo.title == "Globex 1:30 telephone"


def test_title_is_the_whole_description_when_only_tags_remain() -> None:
    assert imported("2018-08-31 +learnTodoCLI").title == "+learnTodoCLI"


# Status and dates


def test_open_line_is_pending_with_no_completion() -> None:
    todo = imported("(A) 2020-01-15 call Sam")

    assert todo.status is Status.PENDING
    assert todo.completed_at is None


def test_dates_are_midnight_in_the_zone_expressed_in_utc() -> None:
    todo = imported("x 2020-01-15 2020-07-01 call Sam", zone=PARIS)

    assert todo.status is Status.COMPLETED
    assert todo.completed_at == datetime(2020, 1, 14, 23, 0, tzinfo=UTC)
    assert todo.created_at == datetime(2020, 6, 30, 22, 0, tzinfo=UTC)
    assert todo.completed_at.tzinfo is UTC


def test_line_without_creation_date_has_no_created_at() -> None:
    assert imported("call Sam").created_at is None


def test_completed_line_without_a_date_uses_now_and_warns() -> None:
    eastern_now = NOW.astimezone(timezone(timedelta(hours=-5)))

    todo = imported("x Add linux support", now=eastern_now)

    assert todo.status is Status.COMPLETED
    assert todo.completed_at == NOW
    assert todo.completed_at.tzinfo is UTC
    assert todo.warnings == ["completed without a completion date, so the import time is used"]


def test_creation_date_after_completion_date_warns_and_keeps_both() -> None:
    todo = imported("x 2018-09-05 20:39 2018-09-06 @habit charge phone daily")

    assert todo.completed_at == datetime(2018, 9, 5, tzinfo=UTC)
    assert todo.created_at == datetime(2018, 9, 6, tzinfo=UTC)
    assert todo.warnings == [
        "creation date 2018-09-06 is after completion date 2018-09-05; both are kept"
    ]


def test_naive_now_is_refused() -> None:
    [task] = parse_document("call Sam").tasks

    with pytest.raises(ValueError, match="timezone-aware"):
        to_imported(task, UTC, datetime(2026, 1, 1))


# The sample files


@pytest.mark.parametrize("path", sorted(DATA.glob("*.txt")), ids=lambda path: path.name[:2])
def test_every_sample_line_converts_within_the_domain_limits(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")

    for task in parse_document(text).tasks:
        todo = to_imported(task, PARIS, NOW)
        assert 0 < len(todo.title) <= 500
        assert len(todo.category) <= 50
        assert len(todo.tags) <= 50
        assert all(0 < len(tag) <= 100 for tag in todo.tags)
        assert (todo.status is Status.COMPLETED) == (todo.completed_at is not None)


def test_sample_01_conversions() -> None:
    todos = imported_sample("01-gtd-home-done-crlf.txt")

    assert todos[144].tags == ["due:2d"]
    assert todos[144].warnings == [
        "due:2d is not a date written YYYY-MM-DD, so it is kept as a tag"
    ]
    assert [number for number, todo in todos.items() if todo.completed_at == NOW] == [
        159,
        166,
        170,
    ]
    assert todos[25].priority is Priority.HIGH
    assert todos[25].category == "end-to-end"
    assert todos[25].tags == ["WCF", "study", "pri:A"]
    assert todos[25].deadline == Deadline(day=date(2016, 3, 10))
    assert todos[37].title == "Globex 1:30 telephone"
    assert todos[2].category == "exercise"
    assert todos[2].tags == ["+health", "+Name", "+fit", "+helth"]
    assert todos[137].category == "note+install"
    assert todos[178].created_at == datetime(2018, 9, 5, 22, 0, tzinfo=UTC)
    assert todos[178].completed_at == datetime(2018, 9, 4, 22, 0, tzinfo=UTC)
    assert len(todos[178].warnings) == 1


def test_sample_01_due_dates_become_deadlines_except_the_relative_one() -> None:
    todos = imported_sample("01-gtd-home-done-crlf.txt")

    assert sum(todo.deadline is not None for todo in todos.values()) == 13
    assert [n for n, todo in todos.items() if any(t.startswith("due:") for t in todo.tags)] == [144]


def test_sample_01_warnings_are_only_the_known_problems() -> None:
    todos = imported_sample("01-gtd-home-done-crlf.txt")

    warned = {number for number, todo in todos.items() if todo.warnings}
    assert warned == {144, 159, 166, 170, 178, 179}


def test_sample_03_priorities_and_private_tags() -> None:
    todos = imported_sample("03-dev-backlog-custom-tags.txt")

    assert [todos[n].priority for n in (1, 2, 3, 4, 5)] == [
        Priority.HIGH,
        Priority.MEDIUM,
        Priority.LOW,
        Priority.LOW,
        Priority.MEDIUM,
    ]
    assert todos[3].tags == ["Add", "moscow:should", "plan:strategic", "pri:E"]
    assert todos[4].tags == ["Add", "moscow:must", "plan:strategic", "pri:F"]
    assert todos[27].category == "DoneEstimate"
    assert todos[27].tags == ["Add", "moscow:must", "link:1.1", "plan:strategic", "size:5"]
    assert todos[35].status is Status.COMPLETED
    assert todos[35].created_at == datetime(2021, 5, 12, 22, 0, tzinfo=UTC)
    assert all(not todo.warnings for todo in todos.values())


def test_sample_04_open_list() -> None:
    todos = imported_sample("04-dropbox-conflicted-copy-crlf.txt")

    assert todos[29].tags == ["Notes", "h:1"]
    assert todos[32].deadline == Deadline(day=date(2018, 11, 1))
    assert todos[6].title == "swith on the brain t:due:11-20-2018"
    assert todos[8].title == "be a doer of the word + ss"
    assert todos[48].status is Status.PENDING
    assert todos[51].title == "+learnTodoCLI"
    assert todos[51].category == "learnTodoCLI"


def test_sample_05_creation_date_before_priority_and_accents() -> None:
    todos = imported_sample("05-french-project-list.txt")

    assert todos[5].created_at == datetime(2014, 9, 28, 22, 0, tzinfo=UTC)
    assert todos[5].priority is Priority.MEDIUM
    assert todos[5].title == "(A) Todo éditable en ligne !"
    assert todos[4].priority is Priority.HIGH
    assert todos[3].deadline == Deadline(day=date(2014, 1, 1))
    assert todos[3].created_at is None
    assert todos[14].deadline == Deadline(day=date(2014, 9, 15))
    assert todos[14].category == "BBip"
    assert todos[30].title.startswith("(A) Faire le ménage dans la configuration")


def test_sample_06_uncommon_letters_are_low_and_undated_x_is_completed_now() -> None:
    todos = imported_sample("06-tool-roadmap-blank-lines.txt")

    assert [todos[n].priority for n in (1, 9, 10, 12)] == [
        Priority.LOW,
        Priority.HIGH,
        Priority.MEDIUM,
        Priority.MEDIUM,
    ]
    assert todos[16].status is Status.COMPLETED
    assert todos[16].completed_at == NOW
    assert todos[16].warnings == ["completed without a completion date, so the import time is used"]
