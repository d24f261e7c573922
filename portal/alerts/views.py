"""Alert channels in the browser (admin): list, add, change, test, delete; each channel's
page shows its state, its last error and its recent notifications."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from endpoints.network.access import pk_or_404
from portal.roles import Perm, require

from . import services
from .forms import ChannelForm
from .models import Channel


def _save(request, form, channel):
    data = form.cleaned_data
    channel.name = data["name"].strip()
    channel.kind = data["kind"]
    channel.remind_every_min = data["remind_every_min"]
    channel.enabled = data["enabled"]
    try:
        services.save_channel(
            channel,
            actor=request.user,
            target=data["target"] or (None if channel.pk else ""),
            secret=data["secret"] or None,
            events=data["events"] or None,
            vpcs=list(data["vpcs"]),
            workspaces=list(data["workspaces"]),
        )
    except ValidationError as exc:
        for field, problems in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
        return False
    return True


@require(Perm.MANAGE_ENDPOINTS)
def channel_list(request):
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        channel = Channel()
        if _save(request, form, channel):
            messages.success(request, f"Channel '{channel.name}' added. Send a test to check it.")
            return redirect(channel)
    channels = Channel.objects.prefetch_related("vpcs", "workspaces")
    return render(
        request,
        "alerts/channel_list.html",
        {"channels": channels, "form": form},
        status=422 if form.errors else 200,
    )


@require(Perm.MANAGE_ENDPOINTS)
def channel_detail(request, pk):
    channel = get_object_or_404(Channel, pk=pk_or_404(pk))
    form = ChannelForm(request.POST or None, channel=channel)
    if request.method == "POST" and form.is_valid() and _save(request, form, channel):
        messages.success(request, f"Channel '{channel.name}' saved.")
        return redirect(channel)
    return render(
        request,
        "alerts/channel_detail.html",
        {"channel": channel, "form": form, "notifications": channel.notifications.all()[:50]},
        status=422 if form.errors else 200,
    )


@require(Perm.MANAGE_ENDPOINTS)
@require_POST
def channel_test(request, pk):
    channel = get_object_or_404(Channel, pk=pk_or_404(pk))
    notification = services.send_test(channel, actor=request.user)
    if notification.state == notification.State.SENT:
        messages.success(request, "Test message sent.")
    else:
        messages.error(request, f"The test failed: {notification.last_error or notification.state}")
    return redirect(channel)


@require(Perm.MANAGE_ENDPOINTS)
@require_POST
def channel_delete(request, pk):
    channel = get_object_or_404(Channel, pk=pk_or_404(pk))
    services.delete_channel(channel, actor=request.user)
    messages.success(request, f"Channel '{channel.name}' deleted.")
    return redirect("channel-list")
