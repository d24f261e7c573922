"""The channel form (admin). The secret and the target are write-only once stored."""

from django import forms

from endpoints.network.models import Vpc
from portal.forms import style_widgets
from portal.workspaces.models import Workspace

from . import services
from .models import Channel, Event, Kind


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Kind.choices)
    target = forms.CharField(
        max_length=services.MAX_TARGET,
        required=False,
        label="URL or e-mail address",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted (the URL holds the robot's token) and shown masked.",
    )
    secret = forms.CharField(
        max_length=services.MAX_SECRET,
        required=False,
        label="Signing secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Webhook (HMAC-SHA256 header), DingTalk (SEC…) or Feishu signing secret.",
    )
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: all.",
    )
    vpcs = forms.ModelMultipleChoiceField(
        Vpc.objects.order_by("vpc_id"), required=False, label="Only VPCs"
    )
    workspaces = forms.ModelMultipleChoiceField(
        Workspace.objects.order_by("slug"), required=False, label="Only workspaces"
    )
    remind_every_min = forms.IntegerField(
        required=False,
        min_value=services.REMIND_MIN,
        max_value=services.REMIND_MAX,
        label="Remind every (minutes)",
        help_text="While an incident stays open and unacknowledged; empty: never.",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, channel: Channel | None = None, **kwargs):
        if channel is not None and not kwargs.get("data") and not args:
            kwargs["initial"] = {
                "name": channel.name,
                "kind": channel.kind,
                "events": channel.events,
                "vpcs": list(channel.vpcs.all()),
                "workspaces": list(channel.workspaces.all()),
                "remind_every_min": channel.remind_every_min,
                "enabled": channel.enabled,
            }
        super().__init__(*args, **kwargs)
        self.channel = channel
        if channel is None:
            self.fields["target"].required = True
        else:
            self.fields[
                "target"
            ].help_text = f"Stored: {channel.target_display}. Leave empty to keep it."
            if channel.has_secret:
                self.fields[
                    "secret"
                ].help_text = f"Stored: {channel.secret_display}. Leave empty to keep it."
        style_widgets(self)
        self.fields["events"].widget.attrs["class"] = "form-check-input"
