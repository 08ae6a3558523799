"""The gateway: Chorus's control plane over HTTP.

It keeps the spaces and who holds which role, admits joins (a token bucket and
a session cap, hosts and speakers first), signs join tokens, places each client
on a fan-out node, collects the nodes' load reports, and publishes presence as
aggregate counts per space on a fixed tick.

`chorus.gateway.app.create_app(config)` builds the FastAPI application (its
OpenAPI document is served at `/openapi.json`); `python -m chorus.gateway` runs it.
"""
