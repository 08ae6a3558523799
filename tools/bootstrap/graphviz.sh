#!/usr/bin/env bash
# Make sure Graphviz's `dot` is on PATH: the diagrams are rendered with it.
# Debian/Ubuntu: apt-get (as root, or through sudo). macOS: Homebrew. Elsewhere: say how, exit 1.
set -euo pipefail

if command -v dot >/dev/null 2>&1; then
  exit 0
fi

echo "handbook: Graphviz 'dot' not found; installing it..." >&2
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "handbook: need root to install Graphviz: run 'apt-get install graphviz' as root, then retry." >&2
    exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq graphviz >/dev/null
elif [ "$(uname -s)" = "Darwin" ] && command -v brew >/dev/null 2>&1; then
  brew install graphviz
else
  echo "handbook: install Graphviz (https://graphviz.org/download/) so that 'dot' is on PATH, then retry." >&2
  exit 1
fi

command -v dot >/dev/null 2>&1 || { echo "handbook: Graphviz installed but 'dot' is still not on PATH." >&2; exit 1; }
echo "handbook: Graphviz $(dot -V 2>&1 | head -n1)" >&2
