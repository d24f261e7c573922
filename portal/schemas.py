"""API schemas derived from a model's field list, so each list of fields is written once.

A model names what a person edits (`EDITABLE_FIELDS`); the forms use that list, the audit
trail records it, and `input_schema`/`output_schema` build the API's pydantic schemas from
it: each Django field gives its type, its bounds (max_length, the validators' minimum and
maximum, so the OpenAPI document carries them), its default and its description. Related
rows travel by a natural key (a region's code, a VPC's ID, a workspace's slug), named in
`references`; JSON fields say their shape (with its bounds) in `json_types`. Every string,
number and list of an input schema has an upper bound.
"""

from typing import Annotated, Any

from django.core import validators as django_validators
from django.db import models
from ninja import Schema
from pydantic import Field, create_model

MAX_TEXT = 10_000  # a TextField without max_length still gets a bound
MAX_REFERENCE = 100  # a natural key (region code, VPC ID, slug, model name) is shorter
MAX_REFERENCES = 100  # rows in a many-to-many list


def _constraints(field) -> list:
    """Pydantic metadata for a plain field: its length bound, and its range checked by the
    model's own validators (so the message is the model's) and documented in the schema."""
    if isinstance(field, models.CharField | models.TextField):
        documented: dict[str, Any] = {}
        if field.choices:
            documented["enum"] = [value for value, _label in field.flatchoices]
        if not field.blank:
            documented["minLength"] = 1  # checked by the model: "This field cannot be blank."
        return [
            Field(max_length=field.max_length or MAX_TEXT, json_schema_extra=documented or None)
        ]
    if not isinstance(field, models.IntegerField | models.DecimalField | models.FloatField):
        return []
    bounds: dict[str, Any] = {}
    for validator in field.validators:
        if isinstance(validator, django_validators.MinValueValidator):
            bounds["minimum"] = validator.limit_value
        elif isinstance(validator, django_validators.MaxValueValidator):
            bounds["maximum"] = validator.limit_value
    if isinstance(field, models.PositiveIntegerField | models.PositiveSmallIntegerField):
        bounds.setdefault("minimum", 0)
        bounds.setdefault("maximum", 2_147_483_647)
    if isinstance(field, models.DecimalField):
        bounds.setdefault("maximum", 10 ** (field.max_digits - field.decimal_places) - 1)
    # Documented here, checked by the model's own validators (with every other problem at
    # once, in the model's words) when the service validates.
    return [Field(json_schema_extra=bounds)] if bounds else []


def _python_type(field, references, json_types):
    if field.name in references:
        key = Annotated[str, Field(max_length=MAX_REFERENCE)]
        if field.many_to_many or field.null:
            return list[key] if field.many_to_many else key
        return Annotated[key, Field(json_schema_extra={"minLength": 1})]  # a required row
    if field.name in json_types:
        return json_types[field.name]
    if isinstance(field, models.BooleanField):
        return bool
    if isinstance(field, models.IntegerField):
        return int
    if isinstance(field, models.DecimalField | models.FloatField):
        return float
    if isinstance(field, models.DateTimeField):
        from datetime import datetime

        return datetime
    if isinstance(field, models.DateField):
        from datetime import date

        return date
    return str


_REQUIRED = ...


def _input_default(field, nullable):
    """The field's default for a create request: its model default, or None/"" when it may be
    left empty, or `...` (required)."""
    if field.many_to_many:
        return Field(default_factory=list)
    if field.has_default():
        default = field.get_default()
        if isinstance(default, list | dict):
            return Field(default_factory=type(default))
        return default
    if nullable:
        return None
    if field.blank:
        return ""
    return _REQUIRED


def _definition(model, name, references, json_types, *, for_input: bool):
    """(annotation, default) of one field, for `pydantic.create_model`."""
    field = model._meta.get_field(name)
    python_type = _python_type(field, references, json_types)
    nullable = field.null
    if for_input and not field.is_relation and name not in json_types:
        constraints = _constraints(field)
        if constraints:
            python_type = Annotated[python_type, *constraints]
    if for_input and field.many_to_many:
        python_type = Annotated[python_type, Field(max_length=MAX_REFERENCES)]
    annotation = python_type | None if nullable else python_type
    description = str(field.help_text) or None
    if not for_input:
        return (annotation, Field(description=description))
    default = _input_default(field, nullable)
    if isinstance(default, type(Field())):
        default.description = description
        return (annotation, default)
    return (annotation, Field(default, description=description))


def input_schema(model, name, fields, *, references=(), json_types=None, extra=None):
    """A pydantic/ninja schema for creating a `model` from `fields` (PATCH: `PatchDict` of it)."""
    json_types = json_types or {}
    definitions = {
        field: _definition(model, field, set(references), json_types, for_input=True)
        for field in fields
    }
    definitions.update(extra or {})
    return create_model(name, __base__=Schema, **definitions)


def output_schema(model, name, fields, *, references=(), json_types=None, extra=None):
    """A schema for returning a `model`: the same fields, plus the computed `extra` ones."""
    json_types = json_types or {}
    definitions = {
        field: _definition(model, field, set(references), json_types, for_input=False)
        for field in fields
    }
    definitions.update(extra or {})
    return create_model(name, __base__=Schema, **definitions)
