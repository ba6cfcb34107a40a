#!/usr/bin/env bash
# The disk buffer damaged while the gateway runs (issue 13), database down so
# every reading waits on disk:
#   - one byte flipped inside a record (v=2500i -> v=9500i): the record's
#     checksum fails when the output reads it: 9500 never lands, it is skipped;
#   - a segment truncated to half (the oldest one the output has not taken into
#     memory yet: the one it holds in its read-ahead is delivered as written);
#   - 300 bytes of garbage written into the middle of another segment.
# The output must move past each damage, every undamaged reading must land,
# each damage is logged once with its segment and offset, and /healthz and
# /metrics report it at once.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
WT="$PY $SRC_DIR/tests/integration/wal_tool.py"
N=3000
start_influxd
influx_create_db city
stop_pid "$INFLUX_PID"
start_mosquitto "max_queued_messages 0"
SF_HTTP_PORT=$(free_port)
sf_config "$T/gw.json" '[{"name":"db","type":"influxdb_v1","url":"'"$INFLUX_URL"'","database":"city",
  "flush_interval_ms":100,"batch_lines":200,"retry_initial_ms":100,"retry_max_ms":300}]' \
    '{"fsync":"interval","fsync_interval_ms":100,"segment_bytes":65536}'
start_gw gw "$T/gw.json"
pad=$(printf 'x%.0s' $(seq 200))
seq 0 $((N - 1)) | awk -v p="$pad" '{ printf "sf,run=d,pad=%s v=%di 1700000000%09d\n", p, $1, $1 }' |
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t sf/d -l
appended_all() { [ "$(sf_metric citygate_journal_appended_lines_total)" = "$N" ]; }
wait_for 60 appended_all || fail "the buffer did not take $N readings: $(sf_metric citygate_journal_appended_lines_total)"
sleep 0.5 # one fsync interval: everything written
B="$T/state/buffer"
$WT records "$B" >"$T/records"
segs=($(awk '{ print $1 }' "$T/records" | uniq))
[ "${#segs[@]}" -ge 8 ] || fail "want at least 8 segments, got ${#segs[@]}"
first=${segs[1]}; mid=${segs[4]}
flipseg=$(grep -l -F " v=2500i " "$B"/seg-*.wal | head -n 1); flipseg=${flipseg##*/}
[ "$flipseg" != "$first" ] && [ "$flipseg" != "$mid" ] || fail "v=2500 in a segment damaged otherwise"
# what each damage takes (records cut or after the garbage in the same segment)
half=$(( $(stat -c %s "$B/$first") / 2 ))
moff=$(( $(stat -c %s "$B/$mid") / 2 ))
awk -v f="$first" -v h="$half" -v m="$mid" -v mo="$moff" '
    ($1 == f && $2 + $3 > h) || ($1 == m && $2 + $3 > mo) || / 2500$/ { for (i = 4; i <= NF; i++) print $i }' \
    "$T/records" | sort -n >"$T/lost"
grep -qx 2500 "$T/lost" || fail "record of v=2500 not found"
cut_off=$(awk -v f="$first" -v h="$half" '$1 == f && $2 + $3 > h { print $2; exit }' "$T/records")
flip_rec=$(awk '/ 2500$/ { print $2 }' "$T/records")
$WT truncate "$B/$first" "$half"
$WT garbage "$B/$mid" "$moff" 300
$WT flip "$B/$flipseg" " v=2500i " " v=9500i " >/dev/null
pass "damaged: $first cut at $half, garbage in $mid at $moff, v=2500 -> 9500 in $flipseg ($(wc -l <"$T/lost") readings in damaged records)"

restart_influxd
values() { influx_query city "SELECT v FROM sf WHERE run='d'" |
    $PY -c 'import json,sys; s=json.load(sys.stdin)["results"][0].get("series"); [print(r[1]) for r in (s[0]["values"] if s else [])]' | sort -n; }
undamaged_in() { [ "$(values | comm -23 - "$T/lost" | wc -l)" = $((N - $(wc -l <"$T/lost"))) ]; }
wait_for 60 undamaged_in || fail "undamaged readings missing: $(values | comm -23 - "$T/lost" | wc -l) of $((N - $(wc -l <"$T/lost")))"
pass "every undamaged reading landed ($((N - $(wc -l <"$T/lost"))))"
values >"$T/got"
grep -qx 9500 "$T/got" && fail "the flipped value 9500 landed"
grep -qx 2500 "$T/got" && fail "2500 landed although its record was damaged"
[ "$(awk '$1 < 0 || $1 >= '"$N"'' "$T/got" | wc -l)" = 0 ] || fail "values outside the published range landed"
pass "9500 never landed; nothing outside what was published"

# logged once each, with segment and offset. The garbage starts inside one
# record (its checksum fails) and runs over the next header (the rest of that
# segment cannot be framed): two damages there when it starts in a payload.
id() { basename "$1" .wal | sed 's/seg-//'; }
read -r moff_rec moff_len < <(awk -v m="$mid" -v mo="$moff" '$1 == m && $2 + $3 > mo { print $2, $3; exit }' "$T/records")
want_corrupt=3
if [ "$moff" -ge $((moff_rec + 32)) ]; then
    want_corrupt=4
    [ "$(grep -c -F "segment $(id "$mid") damaged at offset $moff_rec: checksum mismatch" "$T/gw.log")" = 1 ] ||
        fail "no checksum line for $mid at $moff_rec: $(grep -F damaged "$T/gw.log")"
    moff_rec=$((moff_rec + moff_len))
fi
for want in "segment $(id "$first") damaged at offset $cut_off (" \
            "segment $(id "$flipseg") damaged at offset $flip_rec: checksum mismatch" \
            "segment $(id "$mid") damaged at offset $moff_rec ("; do
    [ "$(grep -c -F "$want" "$T/gw.log")" = 1 ] || fail "want one log line '$want': $(grep -F damaged "$T/gw.log")"
done
pass "each damage logged once with segment and offset"
expect "citygate_buffer_corrupt_records_total" "$(sf_metric citygate_buffer_corrupt_records_total)" "$want_corrupt"
code=$(curl -s -o "$T/healthz" -w '%{http_code}' "http://127.0.0.1:$SF_HTTP_PORT/healthz")
expect "/healthz status" "$code" 503
grep -q "^buffer damaged: $want_corrupt damaged records skipped" "$T/healthz" || fail "healthz: $(cat "$T/healthz")"
pass "/healthz: $(grep damaged "$T/healthz")"
