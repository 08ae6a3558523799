#!/usr/bin/env bash
# Make sure bubblewrap's `bwrap` is on PATH: diagram sources (code from pull requests) run inside it.
# Debian/Ubuntu: apt-get (as root, or through sudo). Elsewhere: say how, exit 0 (diagrams then refuse to run
# with DG008 unless HANDBOOK_DIAGRAMS_UNSANDBOXED=1 says the tree is trusted).
set -euo pipefail

if command -v bwrap >/dev/null 2>&1; then
  exit 0
fi

echo "handbook: bubblewrap 'bwrap' not found; installing it to sandbox diagram sources..." >&2
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "handbook: need root to install bubblewrap: run 'apt-get install bubblewrap' as root, then retry." >&2
    exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq bubblewrap >/dev/null
else
  echo "handbook: no apt-get: install bubblewrap so that 'bwrap' is on PATH (Linux only); until then diagram" \
       "sources do not run (DG008) unless HANDBOOK_DIAGRAMS_UNSANDBOXED=1 marks the tree as trusted." >&2
  exit 0
fi

command -v bwrap >/dev/null 2>&1 || { echo "handbook: bubblewrap installed but 'bwrap' is still not on PATH." >&2; exit 1; }
echo "handbook: $(bwrap --version)" >&2
