"""Runbook drills: rehearse a runbook against a live Chorus and a real Prometheus.

A runbook declares in its front matter how its condition is induced on a local
stack (`drill:`), and marks its code blocks with `<!-- drill: ... -->` comments
(`spec`). `handbook drill` (`runner`) starts Chorus with Prometheus and
Alertmanager on loopback, induces the condition, waits for the runbook's alert to
fire, runs the marked steps in order and checks what they print, then waits for
the alert to resolve with audio still flowing. Results land in
`.cache/drills/results.json`, which the site shows on each runbook page.
"""

DEFAULT_SPEED = 20.0
"""How much faster than production a drill runs the rules: windows and `for:` divided by this, scrapes every second."""
