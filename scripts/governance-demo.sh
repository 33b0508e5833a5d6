#!/usr/bin/env bash
# The rule-governance flow end to end, against a real `assay serve` in a scratch data
# directory: keys for four people, a draft, validation, four-eyes review, a back-test on the
# decision log with inspection outcomes, shadow mode, activation (hot reload) and rollback.
# Run it after the README's install command: bash scripts/governance-demo.sh
# It uses the `assay` of the project's .venv (or $ASSAY, or the one on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${ASSAY:-}" ]; then
  if [ -x .venv/bin/assay ]; then ASSAY=$PWD/.venv/bin/assay
  elif command -v assay >/dev/null; then ASSAY=$(command -v assay)
  else
    echo "assay is not installed: run the README's install command first (it creates .venv)" >&2
    exit 2
  fi
fi
export ASSAY_DATA_DIR=$(mktemp -d)
unset ASSAY_DATABASE_URL
PORT=${PORT:-8765}
API=http://127.0.0.1:$PORT
WATER=bottled_water_concealment/water-pet-too-heavy.yaml
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# curl as a role: call ROLE METHOD PATH [JSON]
call() {
  local key=$1 method=$2 path=$3 body=${4:-}
  curl -sS -X "$method" "$API$path" -H "Authorization: Bearer $key" \
    ${body:+-H 'Content-Type: application/json' --data-binary "$body"}
  echo
}
# json EXPR: print a Python expression over the JSON answer `d`
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

step "keys: one role each (printed once, stored hashed)"
ADMIN=$($ASSAY keys create --role admin --name ops | tail -n 1)
ALICE=$($ASSAY keys create --role author --name alice | tail -n 1)
BOB=$($ASSAY keys create --role reviewer --name bob | tail -n 1)
LANE=$($ASSAY keys create --role screening --name border | tail -n 1)
$ASSAY serve --port "$PORT" --workers 2 >"$ASSAY_DATA_DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
until curl -sf "$API/readyz" >/dev/null; do sleep 0.2; done
call "$ADMIN" GET /v1/keys

step "traffic before the change: the shipped samples, screened by the border"
for sample in fixtures/samples/*.json; do
  curl -sS "$API/v1/screen" -H "Authorization: Bearer $LANE" -H 'Content-Type: application/json' \
    --data-binary @"$sample" | json 'd["manifest_id"], d["channel"], [f["rule_id"] for f in d["flags"]]'
done

step "a day of synthetic traffic (2,000 manifests, in batches of 200) and what inspection found"
$ASSAY fixtures generate -n 2000 --seed 7 -o "$ASSAY_DATA_DIR/day.jsonl" --outcomes "$ASSAY_DATA_DIR/found.csv" 2>/dev/null
split -l 200 "$ASSAY_DATA_DIR/day.jsonl" "$ASSAY_DATA_DIR/batch."
for part in "$ASSAY_DATA_DIR"/batch.*; do
  python3 -c 'import json, sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1])]))' "$part" |
    curl -sS -o /dev/null -w '' "$API/v1/screen/batch" -H "Authorization: Bearer $LANE" \
      -H 'Content-Type: application/json' --data-binary @-
done
OUTCOMES=$(python3 -c '
import csv, json, sys
rows = [{k: v for k, v in row.items() if v} for row in csv.DictReader(open(sys.argv[1]))]
print(json.dumps(rows))' "$ASSAY_DATA_DIR/found.csv")
call "$ALICE" POST /v1/outcomes "$OUTCOMES"
call "$ALICE" POST /v1/outcomes '{"manifest_id": "EX-0002", "result": "seizure", "pattern": "bottled_water_concealment", "notes": "Ga2O3 in the bottles"}'

step "alice drafts a change from the active version 1 and edits one rule"
DRAFT=$(call "$ALICE" POST /v1/rulesets/1/drafts | json 'd["id"]')
SOURCE=$(call "$ALICE" GET "/v1/rulesets/$DRAFT/files/$WATER" | json 'd["source"]')
BROKEN=$(python3 -c 'import json,sys; print(json.dumps({"source": sys.argv[1].replace("item.kg_per_litre > params", "item.kg_per_litre >> params")}))' "$SOURCE")
echo "a typo is caught at the edit, with line and column:"
call "$ALICE" PUT "/v1/rulesets/$DRAFT/files/$WATER" "$BROKEN" | json 'd["problems"][0]["message"]'
FIXED=$(python3 -c 'import json,sys; print(json.dumps({"source": sys.argv[1].replace("max_kg_per_litre: 1.25", "max_kg_per_litre: 1.1")}))' "$SOURCE")
call "$ALICE" PUT "/v1/rulesets/$DRAFT/files/$WATER" "$FIXED" | json '"valid:", d["ok"], "examples passed:", d["examples"]["passed"]'
call "$ALICE" GET "/v1/rulesets/1/diff/$DRAFT" | json '"changed:", [r["rule_id"] for r in d["changed"]]'

step "back-test the draft on today's decision log, against the active version, with outcomes"
SINCE=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%SZ)
JOB=$(call "$ALICE" POST /v1/backtests "{\"candidate\": $DRAFT, \"decisions\": {\"since\": \"$SINCE\"}}" | json 'd["id"]')
until [ "$(call "$ALICE" GET "/v1/backtests/$JOB" | json 'd["state"]')" = done ]; do sleep 0.3; done
call "$ALICE" GET "/v1/backtests/$JOB" | python3 -c '
import json, sys
job = json.load(sys.stdin); report = job["result"]
print("records", job["records_done"], "| channels", report["channels"])
print("changes", {k: v for k, v in report["changes"].items() if k != "listed"})
water = [r for r in report["rules"] if r["rule_id"] == "water-pet-too-heavy"][0]
print("water-pet-too-heavy: hits", water["hits"], "(before:", water["baseline_hits"], ") precision", water["precision"], "recall", water["recall"])
for entry in report["changes"]["listed"]["newly_flagged"][:3]:
    print("  newly flagged", entry["manifest_id"], entry["before_channel"], "->", entry["after_channel"], ":", entry["explanations"][0][:110])'

step "submit; bob shadows it on live traffic, then approves; alice cannot approve her own"
call "$ALICE" POST "/v1/rulesets/$DRAFT/submit" | json 'd["state"]'
call "$BOB" PUT /v1/shadow "{\"version_id\": $DRAFT}" | json '"shadowing:", d["shadowing"]'
sleep 1.5
head -n 300 "$ASSAY_DATA_DIR/day.jsonl" | while read -r manifest; do
  curl -sS -o /dev/null "$API/v1/screen" -H "Authorization: Bearer $LANE" \
    -H 'Content-Type: application/json' --data-binary "$manifest"
done
sleep 1.5
call "$BOB" GET /v1/shadow | json '{k: v for k, v in d["comparison"].items() if k != "examples"}'
call "$ALICE" POST "/v1/rulesets/$DRAFT/approve" '{}'
call "$BOB" POST "/v1/rulesets/$DRAFT/approve" '{"comment": "back-test and shadow look right"}'

step "bob activates it: every worker screens with it within reload_seconds, no restart"
call "$BOB" POST "/v1/rulesets/$DRAFT/activate" '{"reason": "ticket RISK-42"}'
sleep 1
call "$LANE" POST /v1/screen "$(cat fixtures/samples/water-heavy.json)" | json 'd["ruleset"]'
call "$ALICE" GET /v1/rules/water-pet-too-heavy/stats

step "and back: rollback to version 1, with the reason in the audit trail"
call "$BOB" POST /v1/rulesets/1/rollback '{"reason": "demo over"}'
call "$BOB" GET /v1/audit | python3 -c '
import json, sys
for event in json.load(sys.stdin):
    print(event["at"][:19], event["actor"], event["action"], "v%s" % event["version_id"], event["reason"] or "")'
