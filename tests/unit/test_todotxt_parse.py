from datetime import date, time
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from todostream.todotxt.parse import (
    ParsedTask,
    SkippedLine,
    is_key_value,
    parse_document,
    physical_lines,
)

DATA = Path(__file__).parents[1] / "data" / "todotxt"


def read_sample(name: str) -> str:
    # read_bytes, not read_text: universal newlines would hide the CRLF and CR line endings.
    return (DATA / name).read_bytes().decode("utf-8")


def only_task(text: str) -> ParsedTask:
    document = parse_document(text)
    assert document.skipped == ()
    [task] = document.tasks
    return task


def task_on_line(text: str, line_number: int) -> ParsedTask:
    return next(task for task in parse_document(text).tasks if task.line_number == line_number)


def skipped_reasons(text: str) -> dict[int, str]:
    return {line.line_number: line.reason for line in parse_document(text).skipped}


# Lines, whitespace and control characters


def test_crlf_cr_and_lf_may_be_mixed_in_one_text() -> None:
    document = parse_document("one\r\ntwo\rthree\nfour")

    assert [task.description for task in document.tasks] == ["one", "two", "three", "four"]
    assert [task.line_number for task in document.tasks] == [1, 2, 3, 4]


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028"])
def test_only_cr_and_lf_end_a_line(separator: str) -> None:
    assert len(physical_lines(f"one{separator}two\n")) == 1


def test_a_final_line_break_does_not_add_a_line() -> None:
    assert physical_lines("a\nb\n") == ["a", "b"]
    assert physical_lines("a\nb") == ["a", "b"]
    assert physical_lines("") == []


def test_a_leading_byte_order_mark_is_stripped() -> None:
    task = only_task("\ufeffx 2020-01-02 water plants\n")

    assert task.completed
    assert task.completion_date == date(2020, 1, 2)


def test_tabs_become_spaces_and_other_control_characters_are_removed() -> None:
    task = only_task("(A)\t2020-01-02\tcall\x07 Sam\x00 @phone\n")

    assert task.priority_letter == "A"
    assert task.creation_date == date(2020, 1, 2)
    assert task.words == ("call", "Sam")
    assert task.contexts == ("phone",)


def test_raw_keeps_the_line_as_written() -> None:
    task = only_task("(A)\tcall Sam  \r\n")

    assert task.raw == "(A)\tcall Sam  "
    assert task.description == "call Sam"


def test_blank_and_whitespace_only_lines_are_counted_not_skipped() -> None:
    document = parse_document("\n  \n\t\nwater plants\n\x0c\n")

    assert document.blank_lines == 4
    assert document.skipped == ()
    assert [task.line_number for task in document.tasks] == [4]


def test_entries_merge_tasks_and_skipped_lines_in_file_order() -> None:
    document = parse_document("a\n=======\nb\na\n")

    entries = document.entries

    assert [entry.line_number for entry in entries] == [1, 2, 3, 4]
    assert [type(entry) for entry in entries] == [ParsedTask, SkippedLine, ParsedTask, SkippedLine]


# Completed lines


def test_completed_line_has_completion_and_creation_dates() -> None:
    task = only_task("x 2021-05-14 2021-05-13 @Remove commons.math3 dependency")

    assert task.completed
    assert task.completion_date == date(2021, 5, 14)
    assert task.creation_date == date(2021, 5, 13)
    assert task.description == "@Remove commons.math3 dependency"


def test_single_date_after_x_is_the_completion_date() -> None:
    task = only_task("x 2013-07-29 Go back to uni @uni")

    assert task.completion_date == date(2013, 7, 29)
    assert task.creation_date is None


def test_x_without_a_date_is_complete_with_no_completion_date() -> None:
    task = only_task("x Add linux support")

    assert task.completed
    assert task.completion_date is None
    assert task.description == "Add linux support"


@pytest.mark.parametrize("line", ["X 2020-01-01 call", "xylophone lesson", "(A) x call Sam"])
def test_only_a_lowercase_x_and_a_space_at_column_0_complete_a_line(line: str) -> None:
    assert not only_task(line).completed


def test_priority_kept_between_the_dates_of_a_completed_line() -> None:
    task = only_task("x 2016-03-16 (A) 2016-03-10 @job Globex")

    assert task.priority_letter == "A"
    assert task.completion_date == date(2016, 3, 16)
    assert task.creation_date == date(2016, 3, 10)


def test_clock_time_after_the_completion_date_is_part_of_the_completion() -> None:
    task = only_task("x 2018-09-05 20:39 2018-09-06 @habit charge phone daily")

    assert task.completion_time == time(20, 39)
    assert task.creation_date == date(2018, 9, 6)
    assert task.words == ("charge", "phone", "daily")


@pytest.mark.parametrize("line", ["x 18:44 required update", "x 2018-09-04 24:10 required update"])
def test_clock_time_without_a_date_or_out_of_range_is_text(line: str) -> None:
    task = only_task(line)

    assert task.completion_time is None
    assert task.words[-2:] == ("required", "update")
    assert task.words[0] in ("18:44", "24:10")


def test_runs_of_spaces_between_fixed_fields_are_tolerated() -> None:
    task = only_task("x 2016-03-16 2016-03-16   2016-03-16  @appointments Taylor")

    assert task.creation_date == date(2016, 3, 16)
    assert task.words == ("2016-03-16", "Taylor")


# Open lines


def test_priority_at_column_0_then_creation_date() -> None:
    task = only_task("(B) 2021-02-12 @Add suggestion")

    assert not task.completed
    assert task.priority_letter == "B"
    assert task.creation_date == date(2021, 2, 12)


@pytest.mark.parametrize(
    "line", ["(b) lowercase", "(B)->arrow", "call (A) later", " (A) indented", "(AB) two"]
)
def test_priority_in_middle_of_line_or_malformed_is_plain_text(line: str) -> None:
    task = only_task(line)

    assert task.priority_letter is None
    assert task.description == line.strip()


def test_date_before_priority_is_the_creation_date_and_the_priority_is_text() -> None:
    task = only_task("2014-10-02 (A) Push pour recevoir +todo")

    assert task.creation_date == date(2014, 10, 2)
    assert task.priority_letter is None
    assert task.words == ("(A)", "Push", "pour", "recevoir")


def test_date_after_a_context_is_text() -> None:
    task = only_task("@habit 2018-08-20 DO gtd every day +gtd")

    assert task.creation_date is None
    assert task.words[0] == "2018-08-20"


@pytest.mark.parametrize("text", ["2016-02-30", "2016-13-01", "0000-01-01", "2016-3-10"])
def test_impossible_or_malformed_dates_are_text(text: str) -> None:
    task = only_task(f"{text} call Sam")

    assert task.creation_date is None
    assert task.words[0] == text


def test_impossible_completion_date_is_text_on_a_completed_line() -> None:
    task = only_task("x 2016-02-30 call Sam")

    assert task.completed
    assert task.completion_date is None
    assert task.words == ("2016-02-30", "call", "Sam")


# Tokens of the description


def test_projects_and_contexts_in_order_without_sigils() -> None:
    task = only_task("+home +garage rack under tabel @woodwork @shop")

    assert task.projects == ("home", "garage")
    assert task.contexts == ("woodwork", "shop")
    assert task.words == ("rack", "under", "tabel")


@pytest.mark.parametrize(
    "line",
    ["be a doer + ss", "mail user@example.com today", "use t+todotxt now", "un @ seul"],
)
def test_lone_sigils_and_sigils_inside_words_are_text(line: str) -> None:
    task = only_task(line)

    assert task.projects == ()
    assert task.contexts == ()
    assert " ".join(task.words) == line


def test_plus_inside_a_project_name_belongs_to_the_name() -> None:
    assert only_task("outline +note+install page").projects == ("note+install",)


def test_key_value_tokens_are_collected_in_order() -> None:
    task = only_task("velocity moscow:must link:1.1 t:2018-09-06 h:1")

    assert task.key_values == (
        ("moscow", "must"),
        ("link", "1.1"),
        ("t", "2018-09-06"),
        ("h", "1"),
    )
    assert task.words == ("velocity",)


@pytest.mark.parametrize(
    "token",
    [
        "https://example.com/a",
        "http://plaintext-productivity.net/x.html",
        "t:due:11-20-2018",
        "ex:",
        "issue:",
        ":value",
        "timing-screen#:~:text=Lead",
        "18:44",
        "1:30",
        "3:5-6",
        "a/b:c",
        "note:/etc/passwd",
        "_key:value",
    ],
)
def test_colon_tokens_that_are_not_key_value_tags(token: str) -> None:
    assert not is_key_value(token)
    assert only_task(f"see {token} now").key_values == ()


@pytest.mark.parametrize("token", ["due:2016-03-10", "note:Zfc.md", "size:13", "plan_b-2:x/y"])
def test_key_value_tags(token: str) -> None:
    assert is_key_value(token)


def test_title_is_the_description_without_tags_and_with_single_spaces() -> None:
    task = only_task("x 2018-09-02 @switch to +todo.sh  find the repeating   for habits")

    assert task.title == "to find the repeating for habits"


def test_title_falls_back_to_the_whole_description_when_only_tags_remain() -> None:
    task = only_task("(B) +health  +nutritionStudies")

    assert task.words == ()
    assert task.title == "+health +nutritionStudies"


# Skipped lines


def test_git_conflict_markers_are_skipped() -> None:
    text = "<<<<<<< HEAD\na\n||||||| base\nb\n=======\nc\n>>>>>>> origin/master\n<<<<<<<\n"

    assert skipped_reasons(text) == {
        1: "git conflict marker",
        3: "git conflict marker",
        5: "git conflict marker",
        7: "git conflict marker",
        8: "git conflict marker",
    }


@pytest.mark.parametrize("line", ["======= not alone", "<<<<<<<< eight", "==== short"])
def test_lines_that_only_resemble_conflict_markers_are_tasks(line: str) -> None:
    assert only_task(line).description == line


def test_exact_duplicate_after_whitespace_normalisation_is_skipped() -> None:
    text = "x 2020-01-01 call Sam\nother\nx 2020-01-01  call   Sam \nx 2020-01-01 call Sam\n"

    assert skipped_reasons(text) == {3: "duplicate of line 1", 4: "duplicate of line 1"}


def test_lines_differing_only_in_case_are_not_duplicates() -> None:
    assert skipped_reasons("call Sam\nCall Sam\n") == {}


def test_a_repeat_of_a_skipped_line_is_judged_on_its_own() -> None:
    long_title = "word " * 101

    assert skipped_reasons(f"{long_title}\n{long_title}\n") == {
        1: "title longer than 500 characters",
        2: "title longer than 500 characters",
    }


def test_title_of_exactly_500_characters_is_accepted() -> None:
    title = "a" * 500

    assert only_task(f"(A) 2020-01-01 {title} +project").title == title
    assert skipped_reasons(f"{title}b\n") == {1: "title longer than 500 characters"}


@pytest.mark.parametrize("line", ["x", "x 2020-01-01", "(A)", "(A) 2020-01-01", "x 2020-01-02 (B)"])
def test_line_with_only_dates_or_priority_is_skipped(line: str) -> None:
    assert skipped_reasons(line) == {1: "only a date or priority, no description"}


def test_skipped_line_keeps_the_raw_text() -> None:
    [skipped] = parse_document("a\n>>>>>>> origin/master\t\r\n").skipped

    assert skipped == SkippedLine(2, "git conflict marker", ">>>>>>> origin/master\t")


# Properties


@given(st.text())
def test_every_physical_line_is_a_task_a_skipped_line_or_blank(text: str) -> None:
    document = parse_document(text)

    numbers = [entry.line_number for entry in document.entries]
    assert len(numbers) + document.blank_lines == len(physical_lines(text))
    assert numbers == sorted(set(numbers))


_LINE_TEXT = st.text(alphabet=st.characters(exclude_characters="\r\n\ufeff"))


@given(st.lists(st.tuples(_LINE_TEXT, st.sampled_from(["\n", "\r\n", "\r"])), max_size=8))
def test_lines_joined_with_any_mix_of_line_breaks_come_back(lines: list[tuple[str, str]]) -> None:
    # A CR ending one line and the LF ending an empty next line read as one CRLF: not a case.
    pairs = pairwise(lines)
    assume(not any(first[1] == "\r" and second == ("", "\n") for first, second in pairs))
    text = "".join(line + line_break for line, line_break in lines)

    assert physical_lines(text) == [line for line, _ in lines]


# The sample files


def test_sample_01_conflict_markers_and_duplicated_merge_block_are_skipped() -> None:
    reasons = skipped_reasons(read_sample("01-gtd-home-done-crlf.txt"))

    markers = [number for number, reason in reasons.items() if reason == "git conflict marker"]
    assert markers == [213, 247, 248, 249, 250, 251, 252, 253]
    assert reasons[52] == "duplicate of line 51"
    assert reasons[119] == "duplicate of line 118"
    assert {number: reasons[number] for number in range(214, 240)} == {
        number: f"duplicate of line {number - 27}" for number in range(214, 240)
    }
    assert len(reasons) == 36


def test_sample_01_is_a_done_file_of_267_completed_lines_after_a_blank_first_line() -> None:
    document = parse_document(read_sample("01-gtd-home-done-crlf.txt"))

    assert document.blank_lines == 1
    assert document.tasks[0].line_number == 2
    assert len(document.tasks) + 28 == 267
    assert all(task.completed for task in document.tasks)
    assert not any(task.raw.endswith("\r") for task in document.tasks)


def test_sample_01_has_50_projects_and_29_contexts() -> None:
    tasks = parse_document(read_sample("01-gtd-home-done-crlf.txt")).tasks

    assert len({project for task in tasks for project in task.projects}) == 50
    assert len({context for task in tasks for context in task.contexts}) == 29


def test_sample_01_completed_lines_without_a_date() -> None:
    tasks = parse_document(read_sample("01-gtd-home-done-crlf.txt")).tasks

    undated = [task.line_number for task in tasks if task.completion_date is None]
    assert undated == [159, 166, 170]


def test_sample_01_awkward_lines() -> None:
    text = read_sample("01-gtd-home-done-crlf.txt")

    assert task_on_line(text, 10).words[0] == "03/10/2016"
    assert task_on_line(text, 37).priority_letter == "A"
    assert "1:30" in task_on_line(text, 37).words
    assert task_on_line(text, 137).projects == ("note+install", "todo.sh")
    assert task_on_line(text, 155).key_values == (("h", "1"), ("h", "1"))
    assert "Contexts:" in task_on_line(text, 155).words
    assert task_on_line(text, 165).completion_time == time(18, 44)
    assert task_on_line(text, 200).words[0] == "08:42"
    assert "subscriptionx" in task_on_line(text, 143).words


def test_sample_01_counts_of_key_value_tags() -> None:
    text = read_sample("01-gtd-home-done-crlf.txt")
    document = parse_document(text)
    skipped_tasks = [only_task(line.text) for line in document.skipped if line.text.startswith("x")]

    keys = [key for task in (*document.tasks, *skipped_tasks) for key, _ in task.key_values]
    assert keys.count("t") == 31
    assert keys.count("due") == 14


def test_sample_02_repeated_tasks_are_skipped_as_duplicates() -> None:
    document = parse_document(read_sample("02-personal-done-2013.txt"))

    assert skipped_reasons(read_sample("02-personal-done-2013.txt")) == {
        52: "duplicate of line 48",
        99: "duplicate of line 95",
    }
    assert len(document.tasks) == 111
    assert all(task.completed and task.completion_date for task in document.tasks)
    assert sum(task.creation_date is not None for task in document.tasks) == 40


def test_sample_02_stamps_hashtags_and_urls_are_text() -> None:
    text = read_sample("02-personal-done-2013.txt")

    assert task_on_line(text, 102).words[:5] == ("September", "17,", "2013", "at", "08:49PM")
    assert task_on_line(text, 102).creation_date is None
    assert "#waiting" in task_on_line(text, 14).words
    assert task_on_line(text, 16).words[0] == "555-0100"
    assert task_on_line(text, 31).title == "http://www.cs.fit.edu/~wds/guides/howto/howto.html"
    assert task_on_line(text, 57).key_values == ()


def test_sample_03_priorities_dates_and_private_key_values() -> None:
    text = read_sample("03-dev-backlog-custom-tags.txt")
    tasks = parse_document(text).tasks

    assert [task.priority_letter for task in tasks[:5]] == ["A", "B", "E", "F", None]
    assert all(task.creation_date is not None for task in tasks)
    assert task_on_line(text, 27).key_values == (
        ("moscow", "must"),
        ("link", "1.1"),
        ("plan", "strategic"),
        ("size", "5"),
    )
    assert task_on_line(text, 31).key_values[:2] == (("plan", "tactical"), ("moscow", "must"))
    assert task_on_line(text, 34).key_values[-1] == ("plan", "strategic")
    assert [task.line_number for task in tasks if task.completed] == [35]


def test_sample_04_dates_after_a_context_and_x_after_a_date_are_text() -> None:
    text = read_sample("04-dropbox-conflicted-copy-crlf.txt")
    tasks = parse_document(text).tasks

    assert len(tasks) == 52
    assert sum(task.priority_letter is not None for task in tasks) == 13
    assert [task.line_number for task in tasks if task.completed] == [11]
    assert task_on_line(text, 13).creation_date is None
    line_48 = task_on_line(text, 48)
    assert (line_48.completed, line_48.creation_date) == (False, date(2018, 8, 31))
    assert line_48.words[:2] == ("x", "2018-08-31")
    assert task_on_line(text, 6).key_values == ()
    assert task_on_line(text, 8).projects == ("home", "GTD", "james")
    assert task_on_line(text, 4).contexts == ("_project",)


def test_sample_05_french_text_and_dates_before_priorities() -> None:
    text = read_sample("05-french-project-list.txt")
    tasks = parse_document(text).tasks

    assert len(tasks) == 33
    assert [task.line_number for task in tasks if task.priority_letter] == [4]
    line_5 = task_on_line(text, 5)
    assert (line_5.creation_date, line_5.priority_letter) == (date(2014, 9, 29), None)
    assert line_5.title == "(A) Todo éditable en ligne !"
    assert task_on_line(text, 14).words[:2] == ("(C)", "2014-07-31")
    assert task_on_line(text, 2).projects == ("todo",)
    assert task_on_line(text, 13).key_values == ()
    assert len(task_on_line(text, 17).raw) == 278
    assert sum(ord(char) > 127 for task in tasks for char in task.title) == 37


def test_sample_06_blank_lines_and_missing_final_newline() -> None:
    text = read_sample("06-tool-roadmap-blank-lines.txt")
    document = parse_document(text)

    assert not text.endswith("\n")
    assert document.blank_lines == 5
    assert [task.priority_letter for task in document.tasks[:4]] == ["N", "E", "G", "H"]
    last = document.tasks[-1]
    assert (last.line_number, last.completed, last.completion_date) == (16, True, None)
    assert last.title == "Add linux support"
