"""Signals the status app sends; the alerts app (above it) listens."""

from django.dispatch import Signal

# Sent inside the transaction that wrote them, with events=[IncidentEvent, ...] (each with its
# `incident`, and the incident's `endpoint` or `vpc`, loaded): an incident opened, escalated,
# acknowledged or closed, a VPC whose agents fell silent. The alerts app writes one outbox row
# per event and channel in the same transaction, so a notification exists iff its event does.
incident_events = Signal()
