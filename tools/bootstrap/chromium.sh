#!/usr/bin/env bash
# Make sure Debian's Chromium and its WebDriver are installed: the browser tests drive them,
# and `make print` prints the handbook to PDF with Chromium headless. Nothing downloads a browser.
set -euo pipefail
here=$(dirname "$0")
"$here/debian.sh" chromium chromium
"$here/debian.sh" chromedriver chromium-driver
