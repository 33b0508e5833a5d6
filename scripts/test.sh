#!/usr/bin/env bash
# Install and run the tests on a fresh machine: PostgreSQL (for the decision-log tests),
# Chromium (for the report test), a virtual environment with the project and its test
# extras, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
# Headless Chromium renders the batch report in a test (from the OS packages).
if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is needed for the report test: install it (apt-get install chromium)" >&2
    exit 1
  fi
fi
python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
.venv/bin/python -m pytest "$@"
