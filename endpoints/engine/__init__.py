"""The probe engine: what is wrong with one path to Model Studio, in one line.

A plain library (asyncio, h11, dnspython): importing it loads no Django module, no Celery
and no app, so the portal's workers and the probe agent run the very same code. The
callers build a `ProbeTarget`, call `probe()` (or `probe_many()`), and store the
`ProbeOutcome`.

A probe walks the path a caller in the VPC would take, timing each phase like
blackbox_exporter, one module each:

1. `resolve`: the VPC's resolver (or its Private DNS records), recording the CNAME chain
   and every A/AAAA address; the `egress` guard checks each address before use;
2. `transport`: TCP to *each* address at once (a PrivateLink endpoint has one ENI address
   per zone, and a dead zone must show), carrying on with the first that answers; TLS with
   SNI and certificate verification, and days to expiry;
3. `exchange`: the cheapest authenticated request of the endpoint's API style (`routes`),
   never a billed completion unless asked for; processing (time to first byte) and transfer;
4. `verdicts`: a status (`up`, `degraded`, `down`, or `unknown` when the engine itself
   refused to probe) and one diagnosis code (`codes.Diagnosis`) with a sentence and the fix.

`probe` strings the phases together under one deadline.
"""

from .codes import (
    DEFAULT_DOMAIN_KINDS,
    EAS_KINDS,
    PRIVATE_KINDS,
    PRIVATELINK_KINDS,
    ApiStyle,
    Diagnosis,
    Kind,
    Phase,
    Status,
)
from .egress import EgressPolicy, classify_address
from .probe import probe, probe_many, probe_sync
from .targets import (
    AddressResult,
    Phases,
    ProbeOutcome,
    ProbeTarget,
    outcome_as_json,
    outcome_from_json,
)
from .verdicts import DIAGNOSES

__all__ = [
    "DEFAULT_DOMAIN_KINDS",
    "DIAGNOSES",
    "EAS_KINDS",
    "PRIVATELINK_KINDS",
    "PRIVATE_KINDS",
    "AddressResult",
    "ApiStyle",
    "Diagnosis",
    "EgressPolicy",
    "Kind",
    "Phase",
    "Phases",
    "ProbeOutcome",
    "ProbeTarget",
    "Status",
    "classify_address",
    "outcome_as_json",
    "outcome_from_json",
    "probe",
    "probe_many",
    "probe_sync",
]
