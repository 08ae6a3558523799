#!/usr/bin/env bash
# Make sure Prometheus, Alertmanager, promtool and amtool are on PATH: the alert rule tests and
# `chorusctl monitor` run them as plain binaries (never as system services).
# Debian/Ubuntu: apt-get the `prometheus` and `prometheus-alertmanager` packages (as root, or through
# sudo) with service start-up suppressed. Elsewhere: say what to install, exit 1.
set -euo pipefail

missing=()
for tool in prometheus promtool; do command -v "$tool" >/dev/null 2>&1 || missing+=(prometheus); done
for tool in prometheus-alertmanager amtool; do command -v "$tool" >/dev/null 2>&1 || missing+=(prometheus-alertmanager); done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

echo "handbook: installing ${packages}(Prometheus binaries for the alert tests)..." >&2
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "handbook: need root to install them: run 'apt-get install --no-install-recommends ${packages}' as root, then retry." >&2
    exit 1
  fi
  # Debian's maintainer scripts would start the packages as services; the project runs the
  # binaries itself. A policy-rc.d that denies every start (exit 101) stops that, and is removed
  # afterwards only if this script created it.
  policy=/usr/sbin/policy-rc.d
  created_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    created_policy=1
  fi
  trap '[ -n "$created_policy" ] && $sudo rm -f "$policy"' EXIT
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq || echo "handbook: apt-get update failed (another apt running?); installing from the current lists." >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $packages >/dev/null
else
  echo "handbook: install Prometheus and Alertmanager (prometheus, promtool, prometheus-alertmanager, amtool on PATH; https://prometheus.io/download/), then retry." >&2
  exit 1
fi

for tool in prometheus promtool prometheus-alertmanager amtool; do
  command -v "$tool" >/dev/null 2>&1 || { echo "handbook: packages installed but '$tool' is still not on PATH." >&2; exit 1; }
done
echo "handbook: $(prometheus --version 2>&1 | head -n1); $(prometheus-alertmanager --version 2>&1 | head -n1)" >&2
