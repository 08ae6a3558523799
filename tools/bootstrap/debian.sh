#!/usr/bin/env bash
# Make sure a command is on PATH, installing Debian packages with apt-get when it is missing.
#   tools/bootstrap/debian.sh COMMAND PACKAGE [PACKAGE...]
# As root apt-get runs directly, otherwise through sudo; with neither, say what to run and exit 1.
# The packages are run as plain binaries by the project, never as system services.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: tools/bootstrap/debian.sh COMMAND PACKAGE [PACKAGE...]" >&2
  exit 2
fi
command_name=$1
shift

if command -v "$command_name" >/dev/null 2>&1; then
  exit 0
fi

echo "handbook: '$command_name' not found; installing $* ..." >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "handbook: install $* (Debian/Ubuntu package names) so that '$command_name' is on PATH, then retry." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "handbook: need root to install $*: run 'apt-get install $*' as root, then retry." >&2
  exit 1
fi
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null

command -v "$command_name" >/dev/null 2>&1 || { echo "handbook: installed $* but '$command_name' is still not on PATH." >&2; exit 1; }
echo "handbook: $command_name ready ($*)" >&2
