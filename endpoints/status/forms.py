"""Forms of the status pages: acknowledging an incident, planning maintenance."""

from django import forms
from django.utils import timezone as dj_timezone

from endpoints.network.models import Endpoint, Vpc
from portal.forms import FieldErrorsToFormMixin, style_widgets

from .maintenance import zone
from .models import MAX_NOTE, MaintenanceWindow

LOCAL_TIMES = ("starts_at", "ends_at", "repeat_until")


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
            "starts_at": "Wall-clock time in the window's time zone (above); a recurring window "
            "repeats at that local time.",
        }

    field_order = ("name", "endpoint", "vpc", "timezone", "starts_at", "ends_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].queryset = Endpoint.objects.order_by("name")
        self.fields["vpc"].queryset = Vpc.objects.order_by("vpc_id")
        # A stored window is shown in its own time zone, as it was entered.
        if self.instance.pk:
            tz = zone(self.instance.timezone)
            for name in LOCAL_TIMES:
                value = getattr(self.instance, name)
                if value is not None:
                    self.initial[name] = value.astimezone(tz).replace(tzinfo=None)
        style_widgets(self)

    def full_clean(self):
        """The times typed are wall-clock times in the chosen time zone (02:00 in Shanghai is
        18:00 UTC the day before), not in the portal's; a time that does not exist there or
        is ambiguous (a DST change) is refused by the field. An unknown zone reads as UTC
        here, and check_window names it."""
        name = self.data.get(self.add_prefix("timezone")) if self.is_bound else None
        with dj_timezone.override(zone(name or "UTC")):
            super().full_clean()

    def _post_clean(self):
        super()._post_clean()
        from django.core.exceptions import ValidationError

        from .services import check_window

        if not self.errors:
            try:
                check_window(self.instance)
            except ValidationError as exc:
                self._update_errors(exc)
