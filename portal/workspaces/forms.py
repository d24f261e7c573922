"""Forms for workspaces, keys and members. The rules are the models' and the services'."""

from django import forms
from django.core.exceptions import ValidationError

from portal.accounts.models import User
from portal.forms import FieldErrorsToFormMixin
from portal.inputs import text_problem

from .models import Region, Workspace
from .secrets import check_api_key_secret


class WorkspaceForm(FieldErrorsToFormMixin, forms.ModelForm):
    class Meta:
        model = Workspace
        fields = Workspace.EDITABLE_FIELDS
        widgets = {"monthly_budget": forms.NumberInput(attrs={"step": "0.01", "min": "0"})}
        error_messages = {
            "slug": {"unique": "A workspace with this slug already exists; pick another."}
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = Region.objects.filter(model_studio=True)
        region = self._current_region()
        if region is not None:
            self.fields["scope"].choices = [("", "---------"), *region.scope_choices()]
        if self.instance.pk:
            # The region binds the keys: moving a workspace would silently break them.
            self.fields["region"].disabled = True
            self.fields[
                "region"
            ].help_text = "A workspace's region is fixed: its keys work only there."

    def _current_region(self):
        region_id = self.data.get(self.add_prefix("region")) if self.is_bound else None
        region_id = region_id or self.initial.get("region") or self.instance.region_id
        if not region_id or not isinstance(region_id, str) or text_problem(region_id):
            return None  # a NUL cannot be looked up (PostgreSQL refuses it): the field says so
        return Region.objects.filter(pk=region_id).first()


class ApiKeyForm(forms.Form):
    """Add a key. The secret field is write-only: it is never rendered back."""

    label = forms.CharField(max_length=100, help_text="Which key this is, e.g. 'probe key 2026'.")
    secret = forms.CharField(
        strip=False,
        max_length=20_000,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}
        ),
        help_text="Pasted once, stored encrypted, never shown again.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.warnings: list[str] = []

    def clean_secret(self):
        secret = self.cleaned_data["secret"].strip()
        errors, self.warnings = check_api_key_secret(secret)
        if errors:
            raise ValidationError(errors)
        return secret


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    is_lead = forms.BooleanField(required=False, initial=True, label="Team lead")

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = User.objects.filter(username=username).first()
        if user is None:
            raise ValidationError(
                f"No user '{username}'. Create the user first (Admin → Users, or manage.py add_user)."
            )
        return user
