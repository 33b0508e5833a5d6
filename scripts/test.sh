#!/usr/bin/env bash
# Install and run the tests on a fresh machine: PostgreSQL (for the decision-log tests),
# a virtual environment with the project and its test extras, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
.venv/bin/python -m pytest "$@"
