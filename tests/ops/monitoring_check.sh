#!/usr/bin/env bash
# deploy/monitoring: the alerting rules pass `promtool check rules` and their unit tests
# (alerts.test.yml fires each alert); the Grafana dashboard is valid JSON whose every query is
# valid PromQL (checked by promtool as recording rules, Grafana's variables replaced); and every
# anode_* metric the rules and the dashboard use is one the daemons' sources expose.
# Usage: monitoring_check.sh SOURCE_DIR
set -euo pipefail
SRC=$(cd "$1" && pwd)
MON=$SRC/deploy/monitoring
RULES=$MON/anode-keyless.rules.yml
DASH=$MON/anode-keyless.dashboard.json
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if promtool check rules "$RULES" >"$work/check.log" 2>&1; then
    ok "promtool check rules: $(grep -o '[0-9]* rules found' "$work/check.log")"
else
    bad "promtool check rules"
    cat "$work/check.log"
fi
if promtool test rules "$SRC/tests/ops/alerts.test.yml" >"$work/test.log" 2>&1; then
    ok "promtool test rules: every alert fires on its test series, healthy series stay quiet"
else
    bad "promtool test rules"
    cat "$work/test.log"
fi
# Each alert of the rules file has a test that expects it to fire.
for a in $(grep -oE '^ +- alert: [A-Za-z]+' "$RULES" | awk '{print $3}'); do
    if grep -qE "alertname: $a\$" "$SRC/tests/ops/alerts.test.yml" &&
        grep -A3 -E "alertname: $a\$" "$SRC/tests/ops/alerts.test.yml" | grep -q 'exp_labels'; then
        ok "alert $a has a firing test"
    else
        bad "alert $a has no test that fires it"
    fi
done
# The issue's list: HSM down, audit failures, error ratio, latency SLO burn, circuit open,
# certificate expiry within 14 days.
for a in AnodeKeyserverHsmDown AnodeKeyserverAuditFailures AnodeKeyserverErrorRatio \
    AnodeConnectorSignErrorRatio AnodeKeyserverSignLatencyBudgetBurn \
    AnodeConnectorSignLatencyBudgetBurn AnodeConnectorCircuitOpen \
    AnodeKeyserverCertificateExpiry AnodeConnectorCertificateExpiry; do
    check_a=$(grep -c "alert: $a\$" "$RULES" || true)
    if [ "$check_a" = 1 ]; then ok "required alert $a defined"; else bad "required alert $a missing"; fi
done

# The example scrape configuration, with its file paths pointed at stand-ins.
mkdir -p "$work/anode"
touch "$work/anode/ca.crt" "$work/anode/ops-monitor.crt" "$work/anode/ops-monitor.key" \
    "$work/anode/connector.token"
sed -e "s#/etc/prometheus/rules/anode-keyless.rules.yml#$RULES#" -e "s#/etc/prometheus/anode/#$work/anode/#" \
    "$MON/prometheus.example.yml" >"$work/prometheus.yml"
if promtool check config "$work/prometheus.yml" >"$work/config.log" 2>&1; then
    ok "promtool check config prometheus.example.yml"
else
    bad "promtool check config prometheus.example.yml"
    cat "$work/config.log"
fi

# Dashboard: JSON, panels with queries, each query valid PromQL.
if jq -e '.panels | length > 0' "$DASH" >/dev/null; then
    ok "dashboard is JSON with $(jq '[.panels[] | select(.type != "row")] | length' "$DASH") panels"
else
    bad "dashboard is not JSON with panels"
fi
{
    echo 'groups:'
    echo '  - name: dashboard'
    echo '    rules:'
    jq -r '.panels[].targets[]?.expr' "$DASH" | sed -e 's/\$__rate_interval/5m/g' \
        -e 's/\$[a-z_]*/.*/g' | awk '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "      - record: dashboard:q%d\n        expr: \"%s\"\n", NR, $0 }'
} >"$work/dash.rules.yml"
n_q=$(jq '[.panels[].targets[]?.expr] | length' "$DASH")
if promtool check rules "$work/dash.rules.yml" >"$work/dcheck.log" 2>&1; then
    ok "all $n_q dashboard queries are valid PromQL"
else
    bad "dashboard queries:"
    cat "$work/dcheck.log"
fi

# Every anode_* metric used exists in the daemons' sources (recording rules' names aside).
used=$( (grep -oE 'anode_(keyserver|connector)_[a-z0-9_]+' "$RULES" "$DASH" -h) | sort -u |
    sed -E 's/_(bucket|count|sum)$//' | sort -u)
missing=""
for m in $used; do
    grep -rqF "$m" "$SRC/keyserver" "$SRC/connector" --include='*.c' || missing="$missing $m"
done
if [ -z "$missing" ]; then
    ok "all $(echo "$used" | wc -w) metric names used are exposed by the daemons"
else
    bad "metrics used but not exposed:$missing"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
