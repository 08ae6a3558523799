"""Diagrams as code: the helper diagram sources use, rendering, checks' graph model and review diff.

Modules, one job each:

- `kit` — what a diagram source in `diagrams/` imports: `service("fanout")` and the house style;
- `workloads` — deployment facts for the deployment diagram (catalog, and manifests when present);
- `model` — the graph a diagram draws (nodes, edges, clusters, source lines), as JSON;
- `sandbox` — runs one diagram source in a child process, records its graph, renders its PNG;
- `cache` — content keys and the render cache in `.cache/diagrams/`;
- `render` — finds the sources and renders them all, from the cache when nothing changed;
- `diff` — what changed between two graphs; `overlay` — the union graph coloured by change;
- `gitrev` — revisions and temporary worktrees; `review` — `handbook diagrams diff`;
- `report` — `summary.md` and `index.html`; `commands` — the `handbook diagrams` subcommands.

This package never imports the `diagrams` library at import time except in `kit`
and `sandbox`, which only run inside diagram sources and the sandbox process.
"""
