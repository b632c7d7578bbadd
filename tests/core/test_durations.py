"""Durations as operators write them, and their compact display form."""

from __future__ import annotations

import pytest

from hotline_ops.core.durations import format_duration, parse_duration

HINT = "(use e.g. 30s, 5m, 2h, 1h30m)"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        (" 45s ", 45.0),
    ],
)
def test_it_parses_units_and_combinations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("value", "seconds"), [(30, 30.0), (2.5, 2.5)])
def test_it_takes_plain_numbers_as_seconds(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "1m30", "30S", "m5", "-5m"])
def test_it_names_an_unparseable_duration_with_a_hint(text):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == f"not a duration: {text!r} {HINT}"


def test_it_refuses_a_boolean():
    with pytest.raises(ValueError) as info:
        parse_duration(True)
    assert str(info.value) == "not a duration: True"


@pytest.mark.parametrize("value", [0, -5, "0s", "0m0s"])
def test_it_refuses_a_duration_that_is_not_positive(value):
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == f"duration must be positive: {value!r}"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45s"),
        (300, "5m"),
        (5400, "1h30m"),
        (7200, "2h"),
        (90061, "1d1h"),
        (3601, "1h1s"),
        (0, "0s"),
        (59.9, "59s"),
    ],
)
def test_it_formats_the_two_largest_units(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(-300, "-5m"), (-5400, "-1h30m")])
def test_it_formats_an_overdue_duration_with_a_minus(seconds, text):
    assert format_duration(seconds) == text


def test_it_takes_a_quoted_number_as_seconds():
    assert parse_duration("30") == 30.0


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_it_refuses_a_duration_that_is_not_finite(value):
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == f"duration must be finite: {value!r}"


def test_it_formats_an_overdue_fraction_of_a_second_without_a_minus():
    assert format_duration(-0.5) == "0s"
