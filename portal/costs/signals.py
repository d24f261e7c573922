"""The seam between budgets and the channels that send alerts (the alerts app plugs in here).

`budget_threshold_crossed` is sent once per claimed alert, with `alert` (a `BudgetAlert`:
workspace, month, threshold, budget, currency, spend, projected). A receiver returns True
once it has delivered the alert; if no receiver does (none connected, or each failed or
raised), the claim is released and the next check tries again.
"""

from django.dispatch import Signal

budget_threshold_crossed = Signal()
