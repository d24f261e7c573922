"""Usage and money: prices, usage records and the cost split between workspaces."""
