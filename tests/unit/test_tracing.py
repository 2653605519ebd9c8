import logging
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from todostream.observability.logging import RepeatLimiter
from todostream.observability.tracing import TraceContext, child_of, request_id_from

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
PARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def is_hex(text: str, length: int) -> bool:
    return re.fullmatch(f"[0-9a-f]{{{length}}}", text) is not None


# Trace context


def test_a_child_keeps_the_callers_trace_and_flags_with_a_new_span() -> None:
    child = child_of(f"00-{TRACE_ID}-{SPAN_ID}-00")

    assert child.trace_id == TRACE_ID
    assert child.flags == "00"
    assert child.span_id != SPAN_ID
    assert is_hex(child.span_id, 16)


def test_two_children_of_one_parent_get_different_spans() -> None:
    assert child_of(PARENT).span_id != child_of(PARENT).span_id


def test_a_header_in_capitals_or_with_surrounding_spaces_is_understood() -> None:
    assert child_of(f"  {PARENT.upper()} ").trace_id == TRACE_ID


def test_the_traceparent_of_a_context_is_in_w3c_form() -> None:
    context = TraceContext(TRACE_ID, SPAN_ID, "01")

    assert context.traceparent == PARENT


def test_a_child_can_be_passed_on_as_the_parent_of_the_next_hop() -> None:
    child = child_of(PARENT)

    grandchild = child_of(child.traceparent)

    assert grandchild.trace_id == TRACE_ID
    assert grandchild.span_id not in (SPAN_ID, child.span_id)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"ff-{TRACE_ID}-{SPAN_ID}-01",
        f"{PARENT}-extra",
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-0g",
        f"00-{'0' * 32}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
    ],
)
def test_a_missing_malformed_or_all_zero_traceparent_starts_a_new_sampled_trace(
    header: str | None,
) -> None:
    context = child_of(header)

    assert context.trace_id != TRACE_ID
    assert is_hex(context.trace_id, 32)
    assert is_hex(context.span_id, 16)
    assert context.flags == "01"


@given(st.one_of(st.none(), st.text()))
def test_any_header_gives_a_valid_traceparent(header: str | None) -> None:
    context = child_of(header)

    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", context.traceparent)
    assert set(context.trace_id) != {"0"}


# Request ids


@pytest.mark.parametrize("header", ["abc-123", "req_1.2:3", "A" * 128, "0"])
def test_a_sane_request_id_is_kept(header: str) -> None:
    assert request_id_from(header) == header


@pytest.mark.parametrize(
    "header",
    [None, "", "has space", "line\nbreak", "A" * 129, "a" * 200, "é", "a/b", "<script>"],
)
def test_an_unsafe_request_id_is_replaced_by_a_fresh_one(header: str | None) -> None:
    replaced = request_id_from(header)

    assert replaced != header
    assert is_hex(replaced, 32)


def test_fresh_request_ids_differ() -> None:
    assert request_id_from(None) != request_id_from(None)


@given(st.one_of(st.none(), st.text()))
@example("abc\n")
def test_every_request_id_given_out_is_safe_to_log_and_echo(header: str | None) -> None:
    assert SAFE_REQUEST_ID.fullmatch(request_id_from(header))


def test_a_chatty_library_gets_one_line_per_interval_and_the_count_of_the_rest() -> None:
    limiter = RepeatLimiter(("aiokafka",), interval_s=30)

    def record(name: str, created: float) -> logging.LogRecord:
        entry = logging.LogRecord(
            name, logging.ERROR, "x", 1, "Unable connect to node %s", (1,), None
        )
        entry.created = created
        return entry

    passed = [limiter.filter(record("aiokafka.conn", t)) for t in (0.0, 1.0, 2.0, 31.0)]
    last = record("aiokafka.conn", 62.0)
    ours = limiter.filter(record("todostream.relay", 1.0))

    assert passed == [True, False, False, True]
    assert limiter.filter(last)
    assert ours
    assert not hasattr(last, "suppressed")
