"""Template filters for amounts with their currency and fractions as percentages (Decimal
only: no float on the way to the page)."""

from decimal import ROUND_HALF_EVEN, Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def money(value, currency=""):
    """1234.5 → "1,234.50 CNY" (the exact figure is in the cell's title)."""
    if value is None or value == "":
        return "—"
    amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    text = intcomma(f"{amount:f}")
    return f"{text} {currency}".strip()


@register.filter
def exact(value):
    """The amount as stored, without trailing zeros: "0.00012345"."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value).normalize():f}"


@register.filter
def percent(value, places=1):
    """A fraction ("0.4123") as a percentage: "41.2 %"."""
    if value is None or value == "":
        return "—"
    scaled = (Decimal(value) * 100).quantize(
        Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_EVEN
    )
    return f"{scaled:f} %"


@register.filter
def percent_of(fraction_value, threshold):
    """Whether a fraction is at or past a percentage (`>=`, the one rule of budgets)."""
    if fraction_value is None:
        return False
    return Decimal(fraction_value) * 100 >= Decimal(threshold)
