#!/usr/bin/env bash
# Set up a development checkout: the package with its test tools, and Debian's Chromium for the
# screenshot tests of letters and dashboards (skipped with a reason where it cannot be installed).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e ".[dev]"
# pyenv only puts new console scripts (foi-sync) on PATH after a rehash; pip run as a module does not trigger it.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        echo "installing Debian's chromium for the browser tests..."
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "note: chromium could not be installed; browser tests will be skipped"
    else
        echo "note: chromium not found; browser screenshot tests will be skipped (install it with your package manager)"
    fi
fi
