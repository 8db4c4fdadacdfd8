"""Budget parsing: units as people write them, round trips, clear errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ofa_deploy.search import UnitError, format_count, format_ms, parse_count, parse_latency, parse_list


@pytest.mark.parametrize("text, ms", [("22ms", 22.0), ("22 ms", 22.0), ("0.022s", 22.0), ("22000us", 22.0),
                                      ("22", 22.0), ("1.5e1ms", 15.0), ("22MS", 22.0)])
def test_latency_units(text, ms):
    assert math.isclose(parse_latency(text), ms)


@pytest.mark.parametrize("text, n", [("300M", 3e8), ("0.3G", 3e8), ("5M", 5e6), ("450k", 4.5e5), ("3e8", 3e8),
                                     ("300MFLOPs", 3e8), ("1200000", 1.2e6), ("4.5 M", 4.5e6)])
def test_count_units(text, n):
    assert math.isclose(parse_count(text), n)


@pytest.mark.parametrize("bad", ["22 parsecs", "ms", "", "-5ms", "0ms", "22m s"])
def test_bad_latency_says_how_to_write_it(bad):
    with pytest.raises(UnitError):
        parse_latency(bad)


@pytest.mark.parametrize("bad", ["300X", "M", "-1M", "0"])
def test_bad_count(bad):
    with pytest.raises(UnitError):
        parse_count(bad)


def test_lists_keep_order_and_reject_empty_entries():
    assert parse_list("15ms,20ms, 0.025s", parse_latency) == [15.0, 20.0, 25.0]
    with pytest.raises(UnitError, match="empty entry"):
        parse_list("15ms,,20ms", parse_latency)


@given(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False))
def test_format_ms_round_trips(ms):
    assert math.isclose(parse_latency(format_ms(ms)), ms, rel_tol=1e-5)


@given(st.floats(min_value=1.0, max_value=1e13, allow_nan=False))
def test_format_count_round_trips(n):
    assert math.isclose(parse_count(format_count(n)), n, rel_tol=1e-5)
