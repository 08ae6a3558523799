"""The gateway's routes, one router per kind of caller.

- `chorus.gateway.routes.spaces`: clients - public, except a space's host actions (`HostSecret`)
  and the packager's join (its service token);
- `chorus.gateway.routes.nodes`: the fan-out nodes' own calls (`NodeToken`);
- `chorus.gateway.routes.probes`: health, readiness and metrics - public, for probes and Prometheus;
- `chorus.gateway.routes.operations`: operators only (`OperatorToken`): status, nodes, drain, resume.

`ROUTERS` is the order `chorus.gateway.app.create_app` includes them in (the OpenAPI document's order).
"""

from __future__ import annotations

from chorus.gateway.routes import nodes, operations, probes, spaces

ROUTERS = (spaces.router, nodes.router, probes.router, operations.router)
"""Every router, in the order the app includes them."""
