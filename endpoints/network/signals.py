"""Signals the network app sends; the probes app (above it) listens, so network imports it not."""

from django.dispatch import Signal

# Sent on commit when endpoints were registered, edited or deleted, or something they depend
# on changed (their VPC's records, resolver, connections or prober; their workspace's keys or
# grants). Arguments: endpoint_ids (a list). The probes app answers by bringing the endpoints'
# schedules in line and probing them at the next dispatch.
endpoints_changed = Signal()

# Sent by the endpoints API with endpoint_ids (one page of them): a receiver in an app above
# (the status app: uptime) answers {endpoint_id: {field: value}}, computed for the whole page
# at once. Fields nobody answers stay null.
describe_endpoints = Signal()
