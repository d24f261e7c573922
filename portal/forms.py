"""Form helpers shared by every app: Bootstrap classes, and model errors shown on the form."""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class FieldErrorsToFormMixin:
    """Model rules may name fields this form does not show; keep those as form errors."""

    def _update_errors(self, errors):
        if hasattr(errors, "error_dict"):
            known, other = {}, []
            for field, messages in errors.error_dict.items():
                if field in self.fields or field == NON_FIELD_ERRORS:
                    known[field] = messages
                else:
                    label = field.replace("_", " ")
                    other.extend(ValidationError(f"{label}: {m.message}") for m in messages)
            if other:
                known.setdefault(NON_FIELD_ERRORS, []).extend(other)
            errors = ValidationError(known)
        super()._update_errors(errors)


def style_widgets(form):
    """Bootstrap classes for a plain form's widgets."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            widget.attrs.setdefault("class", "form-select form-select-sm")
        elif not isinstance(widget, forms.HiddenInput):
            css = widget.attrs.get("class", "")
            widget.attrs["class"] = f"form-control form-control-sm {css}".strip()
    return form
