from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from todostream.domain.deadline import (
    DEADLINE_FORMS,
    Deadline,
    InvalidDeadline,
    InvalidTimeZone,
    day_start,
    parse_time_zone,
)

PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")
ZONES = [UTC, PARIS, TOKYO, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")]


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# Parsing


def test_a_date_is_a_whole_day_deadline() -> None:
    deadline = Deadline.parse("2026-01-15")

    assert deadline.day == date(2026, 1, 15)
    assert deadline.instant is None


def test_white_space_around_a_deadline_is_ignored() -> None:
    assert Deadline.parse("  2026-01-15 \n") == Deadline(day=date(2026, 1, 15))


def test_a_date_time_with_an_offset_is_stored_as_the_same_instant_in_utc() -> None:
    deadline = Deadline.parse("2026-01-15T17:00:00+01:00")

    assert deadline.day is None
    assert deadline.instant == utc(2026, 1, 15, 16)
    assert deadline.instant is not None
    assert deadline.instant.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-15T16:00:00Z",
        "2026-01-15t16:00:00z",
        "2026-01-15T16:00:00+00:00",
        "2026-01-15T21:30:00+05:30",
        "2026-01-15T11:00:00-05:00",
    ],
)
def test_every_spelling_of_one_instant_parses_to_the_same_deadline(text: str) -> None:
    assert Deadline.parse(text) == Deadline(instant=utc(2026, 1, 15, 16))


def test_date_and_aware_datetime_objects_are_accepted() -> None:
    assert Deadline.parse(date(2026, 1, 15)) == Deadline(day=date(2026, 1, 15))
    paris_evening = datetime(2026, 1, 15, 17, tzinfo=PARIS)
    assert Deadline.parse(paris_evening) == Deadline(instant=utc(2026, 1, 15, 16))


@pytest.mark.parametrize("value", ["2026-01-15T17:00:00", datetime(2026, 1, 15, 17)])
def test_a_date_time_without_a_time_zone_is_refused_naming_both_forms(
    value: str | datetime,
) -> None:
    with pytest.raises(InvalidDeadline) as caught:
        Deadline.parse(value)

    message = str(caught.value)
    assert DEADLINE_FORMS in message
    assert "2026-01-15" in message
    assert "2026-01-15T17:00:00+01:00" in message
    assert "no time zone" in message


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "2025-02-29", "2026-04-31"])
def test_a_date_that_does_not_exist_is_refused(text: str) -> None:
    with pytest.raises(InvalidDeadline, match=f"deadline '{text}' is not a real date"):
        Deadline.parse(text)


def test_the_leap_day_of_a_leap_year_is_accepted() -> None:
    assert Deadline.parse("2028-02-29").day == date(2028, 2, 29)


@pytest.mark.parametrize(
    "text",
    ["2026-02-30T10:00:00Z", "2026-01-15T24:00:00Z", "2026-01-15T17:00:00+25:00"],
)
def test_a_date_time_that_does_not_exist_is_refused(text: str) -> None:
    with pytest.raises(InvalidDeadline, match="deadline must be"):
        Deadline.parse(text)


@pytest.mark.parametrize("text", ["tomorrow", "", "2026-1-5", "15/01/2026"])
def test_text_in_neither_form_is_refused_naming_both_forms(text: str) -> None:
    with pytest.raises(InvalidDeadline) as caught:
        Deadline.parse(text)

    assert DEADLINE_FORMS in str(caught.value)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_instant_outside_the_utc_calendar_is_refused_as_a_bad_deadline(text: str) -> None:
    with pytest.raises(InvalidDeadline):
        Deadline.parse(text)


def test_a_deadline_is_either_a_day_or_an_instant_never_both_or_neither() -> None:
    with pytest.raises(InvalidDeadline, match="either a day or an instant"):
        Deadline()
    with pytest.raises(InvalidDeadline, match="either a day or an instant"):
        Deadline(day=date(2026, 1, 15), instant=utc(2026, 1, 15))


def test_a_deadline_instant_must_carry_a_time_zone() -> None:
    with pytest.raises(InvalidDeadline, match="no time zone"):
        Deadline(instant=datetime(2026, 1, 15, 17))


# Bounds


def test_a_day_in_utc_runs_from_midnight_to_midnight() -> None:
    bounds = Deadline.parse("2026-01-15").bounds(UTC)

    assert bounds == (utc(2026, 1, 15), utc(2026, 1, 16))


def test_a_day_in_tokyo_starts_nine_hours_before_utc_midnight() -> None:
    bounds = Deadline.parse("2026-01-15").bounds(TOKYO)

    assert bounds == (utc(2026, 1, 14, 15), utc(2026, 1, 15, 15))


def test_the_day_paris_moves_its_clocks_forward_lasts_23_hours() -> None:
    start, end = Deadline.parse("2026-03-29").bounds(PARIS)

    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert end - start == timedelta(hours=23)


def test_the_day_paris_moves_its_clocks_back_lasts_25_hours() -> None:
    start, end = Deadline.parse("2026-10-25").bounds(PARIS)

    assert end - start == timedelta(hours=25)


def test_bounds_are_given_in_utc() -> None:
    start, end = Deadline.parse("2026-07-01").bounds(PARIS)

    assert start.tzinfo is UTC
    assert end.tzinfo is UTC


def test_an_instant_is_its_own_start_and_end_in_every_zone() -> None:
    deadline = Deadline.parse("2026-01-15T17:00:00+01:00")

    for zone in ZONES:
        assert deadline.bounds(zone) == (utc(2026, 1, 15, 16), utc(2026, 1, 15, 16))


@given(
    day=st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 12, 30)),
    zone=st.sampled_from(ZONES),
)
def test_consecutive_days_tile_time_without_gaps_or_overlaps(day: date, zone: tzinfo) -> None:
    start, end = Deadline(day=day).bounds(zone)
    next_start, _ = Deadline(day=day + timedelta(days=1)).bounds(zone)

    assert end == next_start
    assert timedelta(hours=23) <= end - start <= timedelta(hours=25)
    assert start == day_start(day, zone)


def test_the_last_day_of_the_calendar_is_refused_rather_than_overflowing() -> None:
    with pytest.raises(InvalidDeadline, match="1900-9998"):
        Deadline.parse("9999-12-31")


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])
def test_the_last_supported_day_has_bounds_in_the_farthest_zones(zone: str) -> None:
    start, end = Deadline.parse("9998-12-31").bounds(ZoneInfo(zone))

    assert end - start == timedelta(days=1)


# JSON


def test_a_day_deadline_becomes_its_iso_date_in_json() -> None:
    assert Deadline.parse("2026-01-15").to_json() == "2026-01-15"


def test_an_instant_deadline_becomes_a_utc_time_ending_in_z_in_json() -> None:
    assert Deadline.parse("2026-01-15T17:00:00+01:00").to_json() == "2026-01-15T16:00:00Z"


def test_fractions_of_a_second_survive_in_json() -> None:
    deadline = Deadline.parse("2026-01-15T17:00:00.123456+05:30")

    assert deadline.to_json() == "2026-01-15T11:30:00.123456Z"


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3, minutes=-30)), PARIS]),
    )
)
def test_an_instant_read_back_from_its_json_is_the_same_deadline(moment: datetime) -> None:
    deadline = Deadline.parse(moment)

    assert Deadline.parse(deadline.to_json()) == deadline


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9998, 12, 31)))
def test_a_day_read_back_from_its_json_is_the_same_deadline(day: date) -> None:
    assert Deadline.parse(Deadline(day=day).to_json()) == Deadline(day=day)


# Time zones


def test_an_iana_zone_name_gives_that_zone() -> None:
    assert parse_time_zone("Asia/Tokyo") == TOKYO


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime"])
def test_an_unknown_zone_is_refused_naming_it_and_showing_a_good_one(name: str) -> None:
    with pytest.raises(InvalidTimeZone) as caught:
        parse_time_zone(name)

    assert f"unknown time zone {name!r}" in str(caught.value)
    assert "Europe/Paris" in str(caught.value)


@pytest.mark.parametrize("text", ["1899-12-31", "9999-01-01"])
def test_a_day_outside_the_supported_years_is_refused_naming_them(text: str) -> None:
    with pytest.raises(InvalidDeadline, match="1900-9998"):
        Deadline.parse(text)
