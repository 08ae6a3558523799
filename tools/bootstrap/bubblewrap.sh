#!/usr/bin/env bash
# Make sure bubblewrap's `bwrap` is on PATH: diagram sources (code from pull requests) run inside it.
# Debian/Ubuntu: installed by debian.sh (apt-get as root, or through sudo). Without apt-get: say how, exit 0
# (diagrams then refuse to run with DG008 unless HANDBOOK_DIAGRAMS_UNSANDBOXED=1 says the tree is trusted).
set -euo pipefail

if ! command -v bwrap >/dev/null 2>&1 && ! command -v apt-get >/dev/null 2>&1; then
  echo "handbook: no apt-get: install bubblewrap so that 'bwrap' is on PATH (Linux only); until then diagram" \
       "sources do not run (DG008) unless HANDBOOK_DIAGRAMS_UNSANDBOXED=1 marks the tree as trusted." >&2
  exit 0
fi
exec "$(dirname "$0")/debian.sh" bwrap bubblewrap
