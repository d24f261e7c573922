"""`access-portal-agent`: a probe agent to run inside a VPC (see docs/agent-protocol.md).

It needs only the portal's URL and its own token; its dependencies are the engine's (no
Django, no database or broker credentials).
"""
