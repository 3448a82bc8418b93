"""Money as integer minor units (cents, yen, fils) with ISO 4217 codes; no floats."""
from __future__ import annotations

import math
import re
from collections.abc import Hashable, Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

from aeplan.errors import Invalid

# Codes in ISO 4217 that are not money one spends on a trip (metals, test, units).
NOT_SPENDABLE = {"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XDR", "XBA", "XBB", "XBC", "XBD",
                 "XSU", "XUA"}
MAX_AMOUNT = Decimal("10000000000")  # ten billion of any currency is a typing error
AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")


@lru_cache(maxsize=1)
def currencies() -> frozenset[str]:
    return frozenset(c for c in list_currencies() if len(c) == 3 and c not in NOT_SPENDABLE)


def precision(currency: str) -> int:
    return get_currency_precision(currency)


def check_currency(code: str) -> str:
    code = (code or "").strip().upper()
    if code not in currencies():
        raise Invalid(f"{code or 'That'} is not an ISO 4217 currency code (e.g. EUR, USD, GBP).",
                      field="currency")
    return code


def parse_amount(text: str, currency: str) -> int:
    """'1234.5' in EUR → 123450 (cents). Refuses negatives, junk and too many decimals."""
    raw = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if "," in raw and "." not in raw:
        raw = raw.replace(",", ".")  # 12,50 typed the German way
    if not AMOUNT.fullmatch(raw):  # plain digits: no exponents, signs or other scripts
        if raw.startswith("-") and AMOUNT.fullmatch(raw[1:]):
            raise Invalid("The amount must be more than zero.", field="amount")
        raise Invalid("Enter the amount as a number, e.g. 149.90.", field="amount")
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise Invalid("Enter the amount as a number, e.g. 149.90.", field="amount") from None
    if value <= 0:
        raise Invalid("The amount must be more than zero.", field="amount")
    if value >= MAX_AMOUNT:
        raise Invalid("That amount is too large.", field="amount")
    places = precision(currency)
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        raise Invalid(f"{currency} has {places} decimal places.", field="amount")
    if int(minor) <= 0:
        raise Invalid("The amount must be more than zero.", field="amount")
    return int(minor)


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-precision(currency))


def format_money(minor: int, currency: str, locale: str = "en") -> str:
    return format_currency(to_decimal(minor, currency), currency, locale=locale)


def split(total: int, weights: Mapping[Hashable, int | Fraction]) -> dict:
    """Divide `total` minor units in proportion to `weights` so that the parts add up to
    `total` exactly: each gets its floor, and the units left over go to the largest
    remainders (ties broken by key order, so the result is stable)."""
    if total < 0:
        raise ValueError("total must not be negative")
    keys = sorted(weights, key=repr)
    if not keys:
        raise ValueError("nothing to split across")
    if any(weights[k] < 0 for k in keys):
        raise ValueError("weights must not be negative")
    if not all(type(weights[k]) is int for k in keys):  # fractions: scale to integers
        common = 1
        for k in keys:
            common = common * Fraction(weights[k]).denominator // \
                math.gcd(common, Fraction(weights[k]).denominator)
        weights = {k: int(Fraction(weights[k]) * common) for k in keys}
    weight_sum = sum(weights[k] for k in keys)
    if weight_sum == 0:
        weights, weight_sum = dict.fromkeys(keys, 1), len(keys)
    # Integer arithmetic: each part is floor(total * w / sum); every remainder shares the
    # denominator `weight_sum`, so comparing the integer remainders compares the fractions.
    parts, remainders = {}, {}
    for k in keys:
        parts[k], remainders[k] = divmod(total * weights[k], weight_sum)
    left = total - sum(parts.values())
    by_remainder = sorted(keys, key=lambda k: remainders[k], reverse=True)
    for k in by_remainder[:left]:
        parts[k] += 1
    return parts
