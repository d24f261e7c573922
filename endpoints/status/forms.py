"""Forms of the status pages: acknowledging an incident, planning maintenance."""

from django import forms

from endpoints.network.models import Endpoint, Vpc
from portal.forms import FieldErrorsToFormMixin, style_widgets

from .models import MAX_NOTE, MaintenanceWindow


class AckForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=MAX_NOTE,
        widget=forms.TextInput(attrs={"placeholder": "What you found or are doing (optional)"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_widgets(self)


class MaintenanceForm(FieldErrorsToFormMixin, forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = MaintenanceWindow.EDITABLE_FIELDS
        widgets = {
            "starts_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "ends_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "repeat_until": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
        }
        help_texts = {
            "endpoint": "Leave both endpoint and VPC empty for everything.",
            "starts_at": "In UTC (the portal's time zone); a recurring window repeats in its own time zone.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].queryset = Endpoint.objects.order_by("name")
        self.fields["vpc"].queryset = Vpc.objects.order_by("vpc_id")
        style_widgets(self)

    def _post_clean(self):
        super()._post_clean()
        from django.core.exceptions import ValidationError

        from .services import check_window

        if not self.errors:
            try:
                check_window(self.instance)
            except ValidationError as exc:
                self._update_errors(exc)
