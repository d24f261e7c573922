"""Signals the workspaces app sends; apps above it (network) listen, so it imports none of them."""

from django.dispatch import Signal

# Sent on commit after a change that could alter a probe's verdict: a key added or revoked,
# grants changed, a workspace edited. Arguments: workspace.
probe_inputs_changed = Signal()
