#!/usr/bin/env bash
# Install and run the tests on a fresh machine: PostgreSQL (for the decision-log tests),
# Chromium and curl (for the report and governance walk-through tests), a virtual environment with the project and its test
# extras, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
# From the OS packages, when missing: headless Chromium renders the batch report in a test;
# curl runs the governance walk-through (scripts/governance-demo.sh) in another.
missing=()
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "The tests need ${missing[*]}: install it (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
python3 -m venv .venv
.venv/bin/pip install -q --config-settings editable_mode=strict -e '.[test]'
.venv/bin/python -m pytest "$@"
