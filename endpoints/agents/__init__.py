"""Probe agents: small programs inside each VPC that lease its due probes from the portal,
probe with the same engine, and post the results back, talking outbound only."""
