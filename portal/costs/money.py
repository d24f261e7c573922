"""Money as `Decimal`, end to end: parsed from text, stored as whole units, summed exactly.

SQLite keeps a DECIMAL column as a floating-point number and sums it in floating point, so
100,000 bill rows could drift off the bill by a cent. `MoneyField` stores every amount as a
whole number of 10⁻⁸ units (BIGINT): sums are integer sums on SQLite and PostgreSQL alike,
and Python only ever sees `Decimal`.
"""

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import models

PLACES = 8  # what is stored: bills carry up to 8 decimal places (token-priced lines)
API_PLACES = Decimal("0.000001")  # what the API returns: 6 places
SHARE_PLACES = Decimal("0.0001")  # shares and budget use, as fractions
# The largest amount a single row, price or budget may carry: far above any real figure, and
# low enough that the sums of a year of rows stay inside a 64-bit integer.
MAX_AMOUNT = Decimal(10**9)


class ExactDecimalField(models.DecimalField):
    """A `Decimal` stored as a whole number of its smallest unit (10^-decimal_places), so that
    the database never holds or sums it in floating point."""

    def get_internal_type(self):
        return "BigIntegerField"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        value = self.to_python(value)
        return int(value.scaleb(self.decimal_places).to_integral_value(rounding=ROUND_HALF_EVEN))

    def get_db_prep_save(self, value, connection):
        return self.get_db_prep_value(value, connection)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.decimal_places)


class MoneyField(ExactDecimalField):
    """An amount of money, exact to 10⁻⁸ (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", PLACES)
        super().__init__(*args, **kwargs)


def quantize(value: Decimal, places: int = PLACES) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def api_amount(value: Decimal | None) -> str | None:
    """Six decimal places, as the API promises ("12.345678")."""
    if value is None:
        return None
    return str(value.quantize(API_PLACES, rounding=ROUND_HALF_EVEN))


def fraction(part: Decimal, whole: Decimal | None) -> Decimal | None:
    """part / whole to four places ("0.4123"); None when there is no whole to divide by."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(SHARE_PLACES, rounding=ROUND_HALF_EVEN)


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_PLAIN = re.compile(r"-?\d{1,12}(\.\d{1,12})?\Z")
_DECORATION = re.compile(r"[\s,¥￥$]|CNY|USD|RMB", re.IGNORECASE)


def parse_amount(text, *, field: str = "amount", allow_negative: bool = True) -> Decimal:
    """A Decimal from text such as "1,234.56", "¥0.0012" or "-3"; ValidationError otherwise.

    Refuses what is not a plain decimal number (NaN, infinity, exponents, words), amounts
    beyond MAX_AMOUNT, and negatives where they make no sense. Never goes through float.
    """
    if type(text) is str and _PLAIN.match(text):  # the common case, fast: "0.00123457"
        value = Decimal(text)
        if abs(value) <= MAX_AMOUNT and (allow_negative or value >= 0):
            return value
    if isinstance(text, bool) or text is None:
        raise ValidationError(f"The {field} is missing.")
    if isinstance(text, float):
        raise ValidationError(f'Send the {field} as a decimal string, e.g. "0.80".')
    raw = str(text) if isinstance(text, int | Decimal) else _DECORATION.sub("", str(text))
    if not raw:
        raise ValidationError(f"The {field} is empty.")
    if not _NUMBER.match(raw):
        shown = str(text)[:40]
        raise ValidationError(f"The {field} '{shown}' is not a decimal number.")
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern above admits only valid literals
        raise ValidationError(f"The {field} '{raw[:40]}' is not a decimal number.") from None
    if abs(value) > MAX_AMOUNT:
        raise ValidationError(f"The {field} {raw[:40]} is larger than {MAX_AMOUNT:,}.")
    if value < 0 and not allow_negative:
        raise ValidationError(f"The {field} cannot be negative.")
    return value
