#!/usr/bin/env bash
# Set up a checkout: the project's own virtual environment in .venv (never the system interpreter: Debian and
# Ubuntu mark theirs "externally managed" and refuse pip outside a venv), the package with its test tools, and
# Debian's Chromium for the screenshot tests of letters and dashboards (skipped with a reason where it cannot be
# installed). Safe to run again: an existing .venv is reused and brought up to date.
#
#   bash scripts/dev-setup.sh && .venv/bin/foi-sync demo     # README, Quick start
#   FOI_SYNC_PYTHON=/usr/bin/python3.12 bash scripts/dev-setup.sh   # choose the interpreter the venv is made from
set -euo pipefail
cd "$(dirname "$0")/.."

note() { echo "dev-setup: $*"; }
fail() {
    echo "dev-setup: error: $*" >&2
    exit 1
}

# The interpreter the venv is made from: $FOI_SYNC_PYTHON, else Debian's /usr/bin/python3, else python3 on PATH.
PY="${FOI_SYNC_PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY="$(command -v python3 || true)"; fi
fi
[ -n "$PY" ] || fail "no python3 found; install Python 3.11 or later (Debian/Ubuntu: apt-get install python3 python3-venv)"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || fail "$PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); foi-sync needs 3.11 or later"

# Debian/Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package, python3.X-venv.
if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    pkg="python$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        note "installing Debian's $pkg (the venv module's pip bootstrap)..."
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null) \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
            || fail "could not install $pkg; install it (sudo apt-get install $pkg) and run this again"
    else
        fail "$PY cannot make a virtual environment (ensurepip is missing); run: sudo apt-get install $pkg"
    fi
fi

# A .venv left half-made (interrupted run) or made from an interpreter that has since gone is made again.
if [ -e .venv ] && ! .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    note "the existing .venv does not work; making it again"
    rm -rf .venv
fi
if [ ! -e .venv ]; then
    note "making the virtual environment .venv with $PY"
    "$PY" -m venv .venv
fi
note "installing foi-sync and its test tools into .venv (pip install -e \".[dev]\")"
.venv/bin/python -m pip install -q -e ".[dev]"

# Debian packages the browser and print tests use: Chromium (screenshots, letter PDFs) and poppler-utils (the PDFs'
# pages turned into PNG and text). Installed when root; otherwise the tests that need them are skipped with a reason.
want=()
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
    && [ ! -x /usr/bin/chromium ]; then
    want+=(chromium)
fi
command -v pdftoppm >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 || want+=(poppler-utils)
if [ "${#want[@]}" -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        note "installing Debian's ${want[*]} for the browser and print tests..."
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null) \
            || note "${want[*]} could not be installed; the tests that need them will be skipped"
    else
        note "${want[*]} not found; the tests that need them will be skipped (install with your package manager)"
    fi
fi

# Independent JavaScript client for the sandbox's conformance tests (tests/js): installed by name and exact version
# from package.json, without a lock file (nothing in the repository names a registry host).
if [ -f tests/js/package.json ]; then
    if command -v npm >/dev/null 2>&1; then
        note "installing the JavaScript test client (tests/js: npm install)..."
        # Node trusts only its own CA list: add the system's (a TLS-inspecting proxy's CA is installed there), and
        # bound the install so an unreachable registry cannot hold the set-up up.
        if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
            export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
        fi
        timeout 600 npm install --prefix tests/js --no-audit --no-fund --no-package-lock --silent \
            || note "npm install in tests/js failed; the JavaScript client tests will be skipped"
    else
        note "npm not found; the JavaScript client tests will be skipped (install Node.js 20 and npm)"
    fi
fi
# The JavaScript in the reports and letters is checked in Chromium itself: no Node.js or npm packages are needed.
note "ready: .venv/bin/foi-sync (run the demo: .venv/bin/foi-sync demo; the tests: .venv/bin/python -m pytest -n 2)"
