"""Forms for the browser. The rules live in rules.py; the services validate and save."""

from django import forms
from django.core.exceptions import ValidationError

from endpoints.engine.hosts import KIND_HOST_HINT, parse_override
from portal.forms import FieldErrorsToFormMixin, style_widgets
from portal.workspaces.models import CatalogModel, EasToken, Region, Workspace
from portal.workspaces.secrets import check_eas_token

from . import rules, services
from .choices import PRIVATE_KINDS, Kind
from .models import Endpoint, Vpc


class HostOverridesField(forms.CharField):
    """One 'name = address' (or 'name = cname.target') per line."""

    widget = forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{k} = {v}" for k, v in value.items())
        return value

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        overrides: dict[str, str] = {}
        for number, line in enumerate((value or "").splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, target = line.partition("=")
            if not sep or not name.strip() or not target.strip():
                raise ValidationError(
                    f"Line {number}: write 'name = address' (or 'name = target.domain')."
                )
            overrides[name.strip().lower()] = target.strip()
        for name, target in overrides.items():
            try:
                parse_override(target)
            except ValueError as exc:
                raise ValidationError(f"{name} → {target}: {exc}") from None
        return overrides


class VpcForm(FieldErrorsToFormMixin, forms.ModelForm):
    host_overrides = HostOverridesField(
        required=False,
        help_text="Static records, one per line: 'name = 10.0.1.5, 10.0.2.5' or, for a Private DNS "
        "CNAME, 'vpc-cn-beijing.dashscope.aliyuncs.com = ep-….privatelink.aliyuncs.com'.",
    )

    class Meta:
        model = Vpc
        fields = Vpc.EDITABLE_FIELDS
        widgets = {"connected_vpcs": forms.SelectMultiple(attrs={"size": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        others = Vpc.objects.select_related("region")
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        self.fields["connected_vpcs"].queryset = others
        self.fields["connected_vpcs"].required = False

    def clean(self):
        return _check_connections(self, super().clean())


def _check_connections(form, cleaned):
    """CEN joins only VPCs whose CIDR blocks do not overlap."""
    connected, cidr = cleaned.get("connected_vpcs"), cleaned.get("cidr")
    if connected and cidr:
        vpc = Vpc(pk=form.instance.pk, vpc_id=cleaned.get("vpc_id") or "this VPC", cidr=cidr)
        problems = vpc.connection_problems(list(connected))
        if problems:
            form.add_error("connected_vpcs", problems)
    return cleaned


class VpcAdminForm(forms.ModelForm):
    """The Django admin's VPC form: the same CEN overlap check as the portal's."""

    class Meta:
        model = Vpc
        fields = Vpc.EDITABLE_FIELDS

    def clean(self):
        return _check_connections(self, super().clean())


PRIVATELINK_FIELDS = [
    "vpc",
    "endpoint_vpc",
    "zones",
    "security_group",
    "allows_80_443",
    "workspace",
    "check_model",
    "model_call_check",
]
KIND_FIELDS = {
    Kind.PUBLIC: ["vpc", "workspace", "check_model", "model_call_check"],
    Kind.PRIVATELINK_DEFAULT: PRIVATELINK_FIELDS,
    Kind.PRIVATELINK_CUSTOM: PRIVATELINK_FIELDS,
    # Cross-region: a service region, and no CEN endpoint VPC; finance cloud: neither.
    Kind.CROSS_REGION: ["service_region", *(f for f in PRIVATELINK_FIELDS if f != "endpoint_vpc")],
    Kind.FINANCE_PRIVATELINK: [f for f in PRIVATELINK_FIELDS if f != "endpoint_vpc"],
    Kind.EAS_PUBLIC: ["vpc", "eas_token_secret"],
    Kind.EAS_VPC: ["vpc", "eas_token_secret"],
}
COMMON_FIELDS = [
    "kind",
    "name",
    "url",
    "region",
    "api_style",
    "interval_s",
    "latency_threshold_ms",
    "failure_threshold",
    "success_threshold",
    "enabled",
]
# A field the chosen kind hides is reset to its default, so a kind change leaves no stale value.
CLEARED_WHEN_HIDDEN = {
    name: Endpoint._meta.get_field(name).get_default()
    for name in Endpoint.EDITABLE_FIELDS
    if name not in COMMON_FIELDS
}


class ZonesField(forms.CharField):
    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        return [z.strip().lower() for z in (value or "").replace(";", ",").split(",") if z.strip()]


class AllowsSelect(forms.NullBooleanSelect):
    """Yes / No / Not confirmed; NullBooleanSelect maps a saved True/False back to its option."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "Not confirmed"), ("true", "Yes"), ("false", "No")]


class EndpointForm(FieldErrorsToFormMixin, forms.ModelForm):
    zones = ZonesField(
        required=False,
        help_text="The vSwitch zones of the endpoint ENIs, e.g. cn-beijing-a, cn-beijing-b.",
    )
    allows_80_443 = forms.NullBooleanField(
        required=False,
        label="Security group allows 80/443",
        widget=AllowsSelect(),
        help_text="Inbound TCP 80 and 443 from the callers' CIDR.",
    )
    eas_token_secret = forms.CharField(
        label="EAS token",
        required=False,
        strip=False,
        max_length=20_000,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}
        ),
        help_text="From the service's 'View invocation information'. Stored encrypted, never shown again.",
    )

    class Meta:
        model = Endpoint
        fields = Endpoint.EDITABLE_FIELDS
        labels = {"endpoint_vpc": "Endpoint's VPC (CEN)", "url": "Base URL"}

    def __init__(self, *args, kind=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.pending_eas_token, self.warnings = None, []
        # Not `self.kind`: a template's form.kind finds the field form["kind"] first.
        chosen = kind or self.data.get("kind") or self.initial.get("kind") or self.instance.kind
        self.chosen_kind = chosen if chosen in Kind.values else None
        # No kind yet (or an unknown one): the page asks for the kind alone, so only it is checked.
        visible = (
            (set(COMMON_FIELDS) | set(KIND_FIELDS[self.chosen_kind]))
            if self.chosen_kind
            else {"kind"}
        )
        for name in list(self.fields):
            if name not in visible:
                del self.fields[name]
        self.fields["kind"].widget = forms.HiddenInput()  # the kind buttons set it
        if "url" in self.fields and self.chosen_kind:
            self.fields["url"].help_text = f"Expected: {KIND_HOST_HINT[self.chosen_kind]}"
            self.fields["url"].widget.attrs.update({"spellcheck": "false", "class": "mono"})
        if "region" in self.fields:
            self.fields["region"].queryset = Region.objects.all()
        if "service_region" in self.fields:
            self.fields["service_region"].queryset = Region.objects.filter(
                code__in=["cn-beijing", "ap-southeast-1"]
            )
            self.fields["service_region"].required = True
        if "workspace" in self.fields:
            self.fields["workspace"].queryset = Workspace.objects.select_related("region")
            self.fields["workspace"].label_from_instance = lambda w: f"{w.name} ({w.region_id})"
            self.fields[
                "workspace"
            ].help_text = "Its newest active key is used by the probes. Keys are region-bound."
        for name in ("vpc", "endpoint_vpc"):
            if name in self.fields:
                self.fields[name].queryset = Vpc.objects.select_related("region")
                self.fields[name].label_from_instance = lambda v: (
                    f"{v.name} ({v.vpc_id}, {v.region_id})"
                )
        if "check_model" in self.fields:
            self.fields["check_model"].queryset = CatalogModel.objects.filter(active=True)
        if self.instance.eas_token_id and "eas_token_secret" in self.fields:
            self.fields[
                "eas_token_secret"
            ].help_text = f"Stored: {self.instance.eas_token.fingerprint}. Leave empty to keep it; paste a new one to replace it."
        self._mark_required_by_kind()
        style_widgets(self)

    def _mark_required_by_kind(self):
        """What the chosen kind cannot do without, marked required with the rule's own words."""
        required = {
            "vpc": (
                self.chosen_kind in PRIVATE_KINDS,
                "A private endpoint is reachable only from inside a "
                "VPC: choose the VPC its callers sit in.",
            ),
            "workspace": (
                True,
                "Choose the workspace whose API key the probes use (keys are region-bound).",
            ),
            "eas_token_secret": (
                not self.instance.eas_token_id,
                "A PAI-EAS service needs its EAS token (from 'View invocation information').",
            ),
        }
        for name, (needed, message) in required.items():
            if name in self.fields and needed:
                self.fields[name].required = True
                self.fields[name].error_messages["required"] = message

    def enable_live_validation(self, url: str):
        """Validate each field when the user leaves it (htmx swaps that field's wrapper)."""
        for name, field in self.fields.items():
            if name in {"kind", "eas_token_secret"}:
                continue  # a swapped password input would lose what was pasted
            field.widget.attrs.update(
                {
                    "hx-post": f"{url}?field={name}",
                    "hx-trigger": "change",
                    "hx-target": f"#field-{name}",
                    "hx-swap": "outerHTML",
                    "hx-include": "closest form",
                    # A newer change of the same field aborts the older check: its answer
                    # would put back the value the user has since changed (arrow keys in a
                    # select fire one change per key).
                    "hx-sync": "this:replace",
                }
            )
        return self

    def clean_eas_token_secret(self):
        secret = (self.cleaned_data.get("eas_token_secret") or "").strip()
        if not secret:
            return ""
        errors, _ = check_eas_token(secret)
        if errors:
            raise ValidationError(errors)
        return secret

    def _post_clean(self):
        if not self.chosen_kind:
            return  # the kind's own error says what to do first
        for name, empty in CLEARED_WHEN_HIDDEN.items():
            if name not in self.fields:
                setattr(self.instance, name, empty)
        self.pending_eas_token = None
        secret = self.cleaned_data.get("eas_token_secret")
        if secret and self.cleaned_data.get("region"):
            token = EasToken(
                region=self.cleaned_data["region"],
                label=f"{self.cleaned_data.get('name', '')} token"[:100],
            )
            token.set_secret(secret)
            self.pending_eas_token = token
        if self.chosen_kind not in (Kind.EAS_PUBLIC, Kind.EAS_VPC):
            self.instance.eas_token = None
        super()._post_clean()
        # The docs' rules, on the endpoint as the form would save it (the services check again).
        self.warnings = []
        try:
            self.warnings = rules.validate(
                services.rule_context(self.instance, self.pending_eas_token)
            )
        except ValidationError as exc:
            self._update_errors(exc)


class EndpointAdminForm(FieldErrorsToFormMixin, forms.ModelForm):
    """The Django admin's endpoint form: every field, checked by the same rules."""

    class Meta:
        model = Endpoint
        fields = (*Endpoint.EDITABLE_FIELDS, "eas_token")

    def _post_clean(self):
        super()._post_clean()
        try:
            rules.validate(services.rule_context(self.instance))
        except ValidationError as exc:
            self._update_errors(exc)
