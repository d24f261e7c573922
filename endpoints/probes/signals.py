"""Signals the probes app sends; apps above it (status, alerts) listen."""

from django.dispatch import Signal

# Sent by the recorder inside its transaction, after a batch of results is stored, with
# changes=[recorder.Recorded, ...]: per result, the endpoint, the location, the new status,
# the one before, the streaks (consecutive bad / good results there), whether it flipped, and
# whether it is the newest result (an older one, delivered late, is history only). A
# receiver's writes (incidents, notifications to send) commit or roll back with the results.
results_recorded = Signal()

# Sent on commit when a VPC probed by agents falls silent (none of its agents heard from for
# three lease periods: its endpoints turn `unknown`, diagnosis `no_agent`) or is heard again.
# Arguments: vpc_id (the VPC's row id), silent (bool), since (when the last agent was heard
# from; None if none ever was). One signal per VPC, never one per endpoint.
agents_silent = Signal()
