"""The Django choices of endpoints, built from the engine's codes (which stay Django-free)."""

from django.db import models

from endpoints import engine
from endpoints.engine.codes import (  # noqa: F401  (re-exported for the apps)
    DEFAULT_DOMAIN_KINDS,
    EAS_KINDS,
    KIND_SHORT,
    PRIVATE_KINDS,
    PRIVATELINK_KINDS,
)
from portal.choices import text_choices

Kind = text_choices(engine.Kind)
ApiStyle = text_choices(engine.ApiStyle)
Status = text_choices(engine.Status)
Phase = text_choices(engine.Phase)
Diagnosis = text_choices(engine.Diagnosis)


class ProbedBy(models.TextChoices):
    """Who probes a VPC's endpoints."""

    CENTRAL = "central", "The portal's workers"
    AGENTS = "agents", "Agents inside the VPC"
