"""Money in integer minor units: reading what people type, ISO 4217 codes, display, and
the split that makes the parts attributed to clients add up to the total to the cent."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aeplan.errors import Invalid
from aeplan.trips.money import check_currency, format_money, parse_amount, split

# --- parse_amount ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("149.90", "EUR", 14990),
    ("149.9", "EUR", 14990),
    ("12,50", "EUR", 1250),  # typed the German way
    ("  12.50 ", "EUR", 1250),
    ("1 234.50", "EUR", 123450),
    ("0.01", "EUR", 1),
    ("7", "USD", 700),
    ("1000", "JPY", 1000),
    ("1.234", "BHD", 1234),  # three decimal places: fils
    ("0.005", "BHD", 5),
    ("9999999999.99", "EUR", 999999999999),  # just under the cap
])
def test_parse_amount_reads_minor_units(text, currency, minor):
    value = parse_amount(text, currency)
    assert value == minor
    assert type(value) is int


@pytest.mark.parametrize(("text", "currency", "message"), [
    ("-5", "EUR", "more than zero"),
    ("-0.01", "EUR", "more than zero"),
    ("0", "EUR", "more than zero"),
    ("0.00", "EUR", "more than zero"),
    ("", "EUR", "as a number"),
    ("   ", "EUR", "as a number"),
    ("abc", "EUR", "as a number"),
    ("12abc", "EUR", "as a number"),
    ("€12", "EUR", "as a number"),
    ("NaN", "EUR", "as a number"),
    ("sNaN", "EUR", "as a number"),
    ("Infinity", "EUR", "as a number"),
    ("-Infinity", "EUR", "as a number"),
    ("1.234", "EUR", "EUR has 2 decimal places"),
    ("0.001", "EUR", "EUR has 2 decimal places"),
    ("1000.5", "JPY", "JPY has 0 decimal places"),
    ("1.2345", "BHD", "BHD has 3 decimal places"),
    ("10000000000", "EUR", "too large"),
    ("1e400", "EUR", "as a number"),  # exponents are not how people type amounts
    ("1e-999999999", "EUR", "as a number"),
    ("99999999999999999999999999999999", "JPY", "too large"),
])
def test_parse_amount_refuses_bad_input_on_the_amount_field(text, currency, message):
    with pytest.raises(Invalid) as caught:
        parse_amount(text, currency)
    assert caught.value.field == "amount"
    assert message in caught.value.message


def test_parse_amount_refuses_a_positive_number_too_small_to_be_a_cent():
    # 1e-999999999 is more than zero but underflows to 0 when scaled to cents; an
    # expense of zero must be refused like any other amount that is not more than zero.
    with pytest.raises(Invalid) as caught:
        parse_amount("1e-999999999", "EUR")
    assert caught.value.field == "amount"


NUMBERISH = st.from_regex(r"\A[+-]?\d{0,4}([.,]\d{0,4})?([eE][+-]?\d{1,10})?\Z")


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=30), NUMBERISH),
       st.sampled_from(["EUR", "JPY", "BHD", "USD"]))
def test_parse_amount_either_refuses_or_gives_a_positive_int(text, currency):
    """Whatever is typed: a clear refusal, or a positive whole number of minor units
    (never a float, never an exception other than Invalid)."""
    try:
        value = parse_amount(text, currency)
    except Invalid as error:
        assert error.field == "amount"
    else:
        assert type(value) is int and value > 0


# --- check_currency --------------------------------------------------------------------


@pytest.mark.parametrize(("code", "expected"), [
    ("EUR", "EUR"), ("eur", "EUR"), (" usd ", "USD"), ("JPY", "JPY"), ("BHD", "BHD"),
    ("GBP", "GBP"), ("chf", "CHF"),
])
def test_check_currency_accepts_iso_codes_in_any_case(code, expected):
    assert check_currency(code) == expected


@pytest.mark.parametrize("code", ["EUX", "", "   ", "XXX", "XAU", "XTS", "EURO", "E", "€",
                                  None])
def test_check_currency_refuses_unknown_and_non_money_codes(code):
    with pytest.raises(Invalid) as caught:
        check_currency(code)
    assert caught.value.field == "currency"
    assert "ISO 4217" in caught.value.message


# --- format_money ----------------------------------------------------------------------


@pytest.mark.parametrize(("minor", "currency", "locale", "shown"), [
    (14990, "EUR", "en", "€149.90"),
    (5, "EUR", "en", "€0.05"),
    (123456789, "EUR", "en", "€1,234,567.89"),
    (1000, "JPY", "en", "¥1,000"),
    (1234, "BHD", "en", "BHD1.234"),
    (14990, "EUR", "de", "149,90\u00a0€"),
    (2500, "USD", "en", "$25.00"),
])
def test_format_money(minor, currency, locale, shown):
    assert format_money(minor, currency, locale) == shown


# --- split -----------------------------------------------------------------------------


def test_split_exact_division():
    assert split(30000, {"a": 1, "b": 1, "c": 1}) == {"a": 10000, "b": 10000, "c": 10000}
    assert split(40000, {"a": 180, "b": 60}) == {"a": 30000, "b": 10000}


def test_split_gives_leftover_units_to_the_largest_remainders():
    # 1000 by 1:2:4 → 142.857…, 285.714…, 571.428… → floors 142+285+571 = 998; the two
    # units left go to the largest remainders (.857 and .714), not to the largest weight.
    assert split(1000, {"a": 1, "b": 2, "c": 4}) == {"a": 143, "b": 286, "c": 571}
    # 10001 by 3:1 → 7500.75 and 2500.25: the unit goes to the .75.
    assert split(10001, {"x": 3, "y": 1}) == {"x": 7501, "y": 2500}


def test_split_ties_are_stable_whatever_the_order_of_the_weights():
    forward = split(100, {"a": 1, "b": 1, "c": 1})
    backward = split(100, {"c": 1, "b": 1, "a": 1})
    assert forward == backward
    assert sorted(forward.values()) == [33, 33, 34]
    assert forward == {"a": 34, "b": 33, "c": 33}  # ties broken by key order
    for _ in range(5):
        assert split(100, {3: 1, 1: 1, 2: 1}) == split(100, {1: 1, 2: 1, 3: 1})


def test_split_with_all_zero_weights_falls_back_to_even():
    assert split(1001, {"a": 0, "b": 0}) == split(1001, {"a": 1, "b": 1})
    assert sum(split(1001, {"a": 0, "b": 0}).values()) == 1001
    assert sorted(split(1001, {"a": 0, "b": 0}).values()) == [500, 501]


def test_split_with_some_zero_weights_gives_those_nothing():
    assert split(999, {"a": 0, "b": 1}) == {"a": 0, "b": 999}


def test_split_of_zero_and_of_one_unit():
    assert split(0, {"a": 1, "b": 5}) == {"a": 0, "b": 0}
    assert sum(split(1, {"a": 1, "b": 1, "c": 1}).values()) == 1


def test_split_accepts_fractions():
    assert split(100, {"a": Fraction(1, 3), "b": Fraction(2, 3)}) == {"a": 33, "b": 67}


def test_split_refuses_what_cannot_be_split():
    with pytest.raises(ValueError):
        split(100, {})
    with pytest.raises(ValueError):
        split(-1, {"a": 1})
    with pytest.raises(ValueError):
        split(100, {"a": -1, "b": 2})


@settings(max_examples=400, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=10**12),
    weights=st.dictionaries(st.integers(min_value=1, max_value=10**6),
                            st.integers(min_value=0, max_value=10**7),
                            min_size=1, max_size=12),
)
def test_split_parts_are_non_negative_ints_summing_to_the_total(total, weights):
    parts = split(total, weights)
    assert set(parts) == set(weights)
    assert all(type(p) is int and p >= 0 for p in parts.values())
    assert sum(parts.values()) == total
    weight_sum = sum(weights.values())
    for key, part in parts.items():
        # Each part is within one unit of its exact share (even shares when all are 0).
        exact = (Fraction(total * weights[key], weight_sum) if weight_sum
                 else Fraction(total, len(weights)))
        assert abs(part - exact) < 1
