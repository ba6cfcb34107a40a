#!/bin/bash
# v2 /api/v2/write into a real victoria-metrics; values and times read back
# through /api/v1/export.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

start_vm
cat >"$T/v2.json" <<J
{"name":"vm","type":"influxdb_v2","url":"$VM_URL","org":"city","bucket":"sensors","token":"not-checked",
 "precision":"ms","batch_lines":2000}
J
ts0=$(( ($(date +%s) - 3600) * 1000000000 ))
run_driver v2 --config "$T/v2.json" --lines 5000 --measurement vmtest --ts0 "$ts0" --step-ns 1000000
expect "driver exit" "$DRIVER_RC" 0
expect "lines_sent" "$(st v2 lines_sent)" 5000
expect "batches_sent" "$(st v2 batches_sent)" 3
expect "last_status" "$(st v2 last_status)" 204
vm_flush
export_values() {
    curl -fsS "$VM_URL/api/v1/export" --data-urlencode "match[]={__name__=\"$1\"}" |
        $PY -c '
import json,sys
vals=[];ts=[]
for l in sys.stdin:
    if l.strip():
        o=json.loads(l); vals+=o["values"]; ts+=o["timestamps"]
print(len(vals), sum(vals), min(ts) if ts else 0, max(ts) if ts else 0)'
}
got=""
for _ in $(seq 50); do
    got=$(export_values vmtest_value)
    [ "${got%% *}" = 5000 ] && break
    sleep 0.2
done
expect "vmtest_value count sum min_ts max_ts" "$got" "5000 12497500 $((ts0 / 1000000)) $((ts0 / 1000000 + 4999))"
expect "vmtest_temp count+sum" "$(export_values vmtest_temp | cut -d' ' -f1-2)" "5000 12498750.0"
series=$(curl -fsS "$VM_URL/api/v1/series" --data-urlencode 'match[]=vmtest_value' --data-urlencode "start=$((ts0 / 1000000000 - 60))" |
    $PY -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
expect "distinct host x sensor series" "$series" 70
