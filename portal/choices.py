"""Django choices built from the probe engine's stdlib enums, so each list is written once."""

from enum import StrEnum

from django.db import models


def text_choices(enum: type[StrEnum]) -> type[models.TextChoices]:
    """A `TextChoices` with the same names, values and labels as `enum` (a `codes.Labeled`)."""
    return models.TextChoices(
        enum.__name__,
        [(member.name, (member.value, getattr(member, "label", member.value))) for member in enum],
    )
