"""The audit trail: who changed what, when, with a before/after of the non-secret fields."""
