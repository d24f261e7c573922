"""Regions and the model catalog, workspaces, their API keys and EAS tokens, and model grants."""
