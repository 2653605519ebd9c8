import functools
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from todostream.config import DEFAULTS_DIR
from todostream.domain.constitution import (
    Constitution,
    ConstitutionError,
    Decision,
    Verdict,
)
from todostream.domain.text_folding import fold as normalise

ACADEMIC = "academic-outsourcing"
ILLEGAL = "illegal-activity"
HARM = "harm-to-others"
PRESSURE = "last-minute-pressure"
INVISIBLE = ["\u00ad", "\u200b", "\u200d", "\u2060"]


def full_width(text: str) -> str:
    """The look-alike full-width form of printable ASCII (U+FF01 to U+FF5E)."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


@functools.cache
def default_constitution() -> Constitution:
    return Constitution.from_file(DEFAULTS_DIR / "constitution.yaml")


def check(title: str, **fields: Any) -> Verdict:
    return default_constitution().check(title=title, **fields)


def rule_ids(verdict: Verdict) -> list[str]:
    return [rule.id for rule in verdict.rules]


def rule(rule_id: str, decision: str = "block", **terms: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": rule_id, "decision": decision, "reason": f"Reason {rule_id}."}
    return entry | (terms or {"words": [rule_id]})


def constitution_of(*rules: dict[str, Any]) -> Constitution:
    return Constitution.from_document({"rules": list(rules)}, source="rules.yaml")


# normalise()


def test_full_width_letters_fold_to_plain_letters() -> None:
    assert normalise(full_width("HOMEWORK")) == "homework"


def test_ligatures_fold_to_their_letters() -> None:
    assert normalise("ﬁnish") == "finish"


@pytest.mark.parametrize("invisible", INVISIBLE)
def test_invisible_format_characters_inside_a_word_are_removed(invisible: str) -> None:
    assert normalise(f"home{invisible}work") == "homework"


def test_capitals_fold_to_lower_case() -> None:
    assert normalise("HOMEWORK") == "homework"
    assert normalise("HoMeWoRk") == "homework"


def test_german_sharp_s_in_either_case_folds_to_ss() -> None:
    assert normalise("Straße") == "strasse"
    assert normalise("STRAẞE") == "strasse"
    assert normalise("STRASSE") == "strasse"


def test_whitespace_runs_collapse_to_one_space_and_the_ends_are_trimmed() -> None:
    assert normalise("  do\tmy \n\u00a0 homework\u3000 ") == "do my homework"


@given(st.text())
def test_normalising_twice_gives_the_same_text(text: str) -> None:
    once = normalise(text)

    assert normalise(once) == once


@given(st.text())
def test_normalised_text_has_no_format_characters_and_no_stray_spaces(text: str) -> None:
    folded = normalise(text)

    assert all(unicodedata.category(char) != "Cf" for char in folded)
    assert folded == " ".join(folded.split())


@given(st.text(), st.sampled_from(INVISIBLE), st.text())
def test_an_invisible_character_anywhere_does_not_change_the_folded_text(
    before: str, invisible: str, after: str
) -> None:
    assert normalise(before + invisible + after) == normalise(before + after)


# The default constitution: what it blocks and flags


@pytest.mark.parametrize(
    ("title", "rule_id"),
    [
        ("do my homework", ACADEMIC),
        ("write my essay", ACADEMIC),
        ("take my exam", ACADEMIC),
        ("plagiarize", ACADEMIC),
        ("hack into", ILLEGAL),
        ("forge documents", ILLEGAL),
        ("phishing", ILLEGAL),
        ("harass", HARM),
        ("stalk my ex", HARM),
        ("threaten", HARM),
    ],
)
def test_the_default_rules_block_harmful_requests(title: str, rule_id: str) -> None:
    verdict = check(title)

    assert verdict.decision is Decision.BLOCK
    assert not verdict.passed
    assert rule_ids(verdict) == [rule_id]


@pytest.mark.parametrize(
    "title",
    [
        "urgent finish assignment",
        "URGENT: need to finish the assignment",
        "Finish the essay - urgent!",
        "ﬁnish the essay, URGENT",
        "last minute homework",
        "homework, last-minute",
        "submit before midnight",
        "pull an all-nighter to finish the essay",
    ],
)
def test_the_default_rules_flag_last_minute_pressure(title: str) -> None:
    verdict = check(title)

    assert verdict.decision is Decision.FLAG
    assert not verdict.passed
    assert rule_ids(verdict) == [PRESSURE]


@pytest.mark.parametrize(
    "title",
    [
        "DO MY HOMEWORK",
        "do my home\u00adwork",
        full_width("WRITE MY ESSAY"),
        "do my home\u200bwork",
        "do my home\u200dwork",
        "pla\u2060giarize",
        "do my \u200bhomework",
        full_width("Phishing"),
        "hack\u00ad into",
    ],
)
def test_look_alike_spellings_are_still_blocked(title: str) -> None:
    assert check(title).decision is Decision.BLOCK


@given(
    phrase=st.sampled_from(["do my homework", "write my essay", "take my exam", "forge documents"]),
    position=st.integers(min_value=1, max_value=14),
    invisible=st.sampled_from(INVISIBLE),
    shout=st.booleans(),
)
def test_an_invisible_character_inside_a_word_never_hides_a_blocked_phrase(
    phrase: str, position: int, invisible: str, shout: bool
) -> None:
    assume(position < len(phrase) and " " not in phrase[position - 1 : position + 1])
    disguised = phrase[:position] + invisible + phrase[position:]

    assert check(disguised.upper() if shout else disguised).decision is Decision.BLOCK


def test_phrases_tolerate_extra_white_space_between_their_words() -> None:
    assert check("do    my\t\thomework").decision is Decision.BLOCK
    assert check("do my\nhomework").decision is Decision.BLOCK


def test_a_phrase_written_with_extra_spaces_still_matches_single_spaces() -> None:
    constitution = constitution_of(rule("spaced", phrases=["  take   my  exam "]))

    assert constitution.check(title="take my exam").decision is Decision.BLOCK


@pytest.mark.parametrize(
    ("blocked", "allowed"),
    [
        ("stalk", "the stalkingly quiet cat"),
        ("dox", "solve the paradox puzzle"),
        ("harass", "harassment awareness workshop"),
        ("plagiarize", "meet the plagiarizer detective"),
    ],
)
def test_words_match_whole_words_only(blocked: str, allowed: str) -> None:
    assert check(blocked).decision is Decision.BLOCK
    assert check(allowed).passed


@pytest.mark.parametrize(
    "fields",
    [
        {"description": "do my homework"},
        {"category": "plagiarize"},
        {"tags": ["school", "hack into"]},
    ],
)
def test_description_category_and_tags_are_checked_like_the_title(fields: dict[str, Any]) -> None:
    verdict = check("Tuesday", **fields)

    assert verdict.decision is Decision.BLOCK


def test_urgency_in_the_title_and_the_task_in_the_description_are_read_together() -> None:
    assert check("URGENT", description="finish the assignment").decision is Decision.FLAG


def test_a_rule_limited_to_the_title_ignores_the_description() -> None:
    constitution = constitution_of(rule("title-only", words=["secret"], fields=["title"]))

    assert constitution.check(title="plans", description="secret").passed
    assert constitution.check(title="secret plans").decision is Decision.BLOCK


@pytest.mark.parametrize(
    "title",
    [
        "buy celery stalks",
        "finish homework",
        "finish the assignment",
        "homework due friday",
        "urgent: call the plumber",
        "take my driving test",
        "forge ahead with the project",
        "return library books",
        "",
    ],
)
def test_everyday_todos_are_allowed(title: str) -> None:
    verdict = check(title)

    assert verdict.passed
    assert verdict.decision is Decision.ALLOW
    assert verdict.rules == ()


@pytest.mark.parametrize(
    "title",
    [
        "read about phishing-resistant keys",
        "complete phishing awareness training",
        "write a report on threatened species",
        "pay someone to do the gutters",
    ],
)
def test_everyday_todos_about_security_biology_and_chores_are_not_blocked(title: str) -> None:
    assert check(title).decision is not Decision.BLOCK


def test_block_wins_over_flag_and_the_block_rule_is_listed_first() -> None:
    verdict = check("urgent: finish the assignment, do my homework")

    assert verdict.decision is Decision.BLOCK
    assert rule_ids(verdict) == [ACADEMIC, PRESSURE]
    assert verdict.reason == verdict.rules[0].reason


def test_only_the_winning_rules_give_the_reason_and_the_others_follow_in_file_order() -> None:
    constitution = constitution_of(
        rule("flag-a", "flag"), rule("block-b", "block"), rule("flag-c", "flag")
    )

    verdict = constitution.check(title="flag-a block-b flag-c")

    assert rule_ids(verdict) == ["block-b", "flag-a", "flag-c"]
    assert verdict.reason == "Reason block-b."


def test_several_rules_of_the_same_decision_give_all_their_reasons() -> None:
    constitution = constitution_of(rule("flag-a", "flag"), rule("flag-b", "flag"))

    verdict = constitution.check(title="flag-b and flag-a")

    assert verdict.decision is Decision.FLAG
    assert verdict.reason == "Reason flag-a. Reason flag-b."


def test_an_allowed_verdict_as_a_dict_says_nothing_matched() -> None:
    assert check("buy milk").as_dict() == {
        "passed": True,
        "decision": "allow",
        "reason": "No rule matched.",
        "rules": [],
    }


def test_a_blocked_verdict_as_a_dict_names_each_rule_with_its_reason() -> None:
    reason = "Asking someone else to do assessed work is academic dishonesty."

    assert check("write my essay").as_dict() == {
        "passed": False,
        "decision": "block",
        "reason": reason,
        "rules": [{"id": ACADEMIC, "reason": reason}],
    }


# Reading rules


def test_the_default_file_holds_the_four_rules_in_order() -> None:
    assert [r.id for r in default_constitution().rules] == [ACADEMIC, ILLEGAL, HARM, PRESSURE]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"decision": "block", "reason": "r", "words": ["x"]}, "rule #1 needs a string 'id'"),
        (rule("r1", "deny"), "rule 'r1': decision must be flag or block"),
        (rule("r1", "allow"), "rule 'r1': decision must be flag or block"),
        (rule("r1") | {"decision": None}, "rule 'r1': decision must be flag or block"),
        (rule("r1") | {"reason": None}, "rule 'r1': needs a 'reason' sentence"),
        (rule("r1") | {"reason": "   "}, "rule 'r1': needs a 'reason' sentence"),
        (rule("r1", patterns=["(unclosed"]), "rule 'r1': bad pattern '(unclosed'"),
        (rule("r1", words=[]), "rule 'r1': needs at least one of words, phrases, patterns"),
        (rule("r1", phrases="do my homework"), "rule 'r1': phrases must be a list"),
        (rule("r1", words=["ok", " "]), "rule 'r1': words must be a list of non-empty strings"),
        (rule("r1") | {"fields": ["title", "body"]}, "rule 'r1': fields must be a non-empty"),
        (rule("r1") | {"fields": []}, "rule 'r1': fields must be a non-empty"),
    ],
)
def test_a_broken_rule_is_refused_with_a_message_naming_it(
    entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConstitutionError) as caught:
        constitution_of(entry)

    assert str(caught.value).startswith(f"rules.yaml: {message}")


def test_a_rule_without_an_id_is_named_by_its_position() -> None:
    with pytest.raises(ConstitutionError, match="rule #2 needs a string 'id'"):
        constitution_of(rule("first"), {"decision": "flag", "reason": "r", "words": ["x"]})


def test_duplicate_rule_ids_are_refused_naming_the_id() -> None:
    with pytest.raises(ConstitutionError, match=r"rules\.yaml: duplicate rule ids twice$"):
        constitution_of(rule("twice"), rule("once"), rule("twice"))


@pytest.mark.parametrize("document", [None, [], {"version": 1}, {"rules": "none"}])
def test_a_document_without_a_rules_list_is_refused(document: object) -> None:
    with pytest.raises(ConstitutionError, match="expected a mapping with a 'rules' list"):
        Constitution.from_document(document)


def test_a_term_made_only_of_invisible_characters_is_refused() -> None:
    # It folds to nothing, and an empty term would match next to any punctuation.
    with pytest.raises(ConstitutionError, match="rule 'r1'"):
        constitution_of(rule("r1", words=["\u00ad"]))


def test_a_misspelt_rule_key_is_refused_rather_than_ignored() -> None:
    with pytest.raises(ConstitutionError, match="rule 'r1'"):
        constitution_of(rule("r1", words=["cheat"], paterns=[r"\bcrib sheet\b"]))


def test_a_rules_file_is_read_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - id: no-spoilers\n    decision: flag\n    reason: Spoilers.\n"
        "    phrases: [the butler did it]\n",
        encoding="utf-8",
    )

    verdict = Constitution.from_file(path).check(title="The Butler did it")

    assert verdict.decision is Decision.FLAG
    assert rule_ids(verdict) == ["no-spoilers"]


def test_a_rules_file_that_is_not_yaml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [\n  - id: x\n", encoding="utf-8")

    with pytest.raises(ConstitutionError, match=re.escape(f"cannot read constitution {path}")):
        Constitution.from_file(path)


def test_a_missing_rules_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ConstitutionError, match=re.escape(f"cannot read constitution {path}")):
        Constitution.from_file(path)


def test_errors_in_a_rules_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - id: vague\n    decision: block\n", encoding="utf-8")

    with pytest.raises(
        ConstitutionError, match="^" + re.escape(f"{path}: rule 'vague': needs a 'reason'")
    ):
        Constitution.from_file(path)


@pytest.mark.parametrize(
    "text",
    [
        "do-my-homework",
        "do_my_homework",
        "do my home-work",
        "h a r a s s my neighbour",
        "h.a.r.a.s.s",
        "h4ck into the server",
        "wr1te my essay",
        "hac\u043a into",
        "ha\u0433ass",
        "h\u0251r\u0251ss",
        "do my home\u034fwork",
        "do my homework\ufe0f",
        "hack \u0130nto",
        "black-mail my boss",
        "phishing-awareness emails to steal passwords",
    ],
)
def test_spelling_tricks_reported_by_testers_are_still_blocked(text: str) -> None:
    assert check(text).decision is Decision.BLOCK


def test_a_phrase_split_across_fields_in_reverse_order_is_still_blocked() -> None:
    verdict = default_constitution().check(title="homework", description="do my")

    assert verdict.decision is Decision.BLOCK


@pytest.mark.parametrize(
    "text",
    [
        "Report the harassing phone calls to the police",
        "Ask lawyer about the threatening letter from landlord",
        "Apologise - I think I hurt someone's feelings",
        "Forward the phishing email to IT security",
        "Read up on DDoS mitigation",
        "Take my test results to the doctor",
        "Write my thesis introduction",
        "Write my paper for the conference",
        "Check my essay is not accidentally plagiarised",
        "Watch Stalker (Tarkovsky)",
        "Watch Hitchcock's Blackmail",
        "Parsnip stalk soup",
        "Buy drugs for grandma at the pharmacy",
        "Cyberbully awareness assembly",
        "Pull an all-nighter for the hackathon",
    ],
)
def test_everyday_todos_testers_found_blocked_or_flagged_are_allowed(text: str) -> None:
    assert check(text).passed
