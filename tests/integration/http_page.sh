# The live status page in headless Chromium: it must fetch /status.json and
# show the sources, devices and health with no external assets. Screenshots
# (phone and desktop width) are kept in $OPS_SCREENSHOT_DIR when set.
. "$SRC_DIR/tests/integration/lib.sh"
: "${HTTP_DRIVER:?}"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || fail "chromium not installed (apt-get install chromium)"

start_driver() { # NAME SCENARIO: sets URL
    echo '{"http": {"listen": "127.0.0.1:0"}}' >"$T/$1.json"
    bg "$1" "$HTTP_DRIVER" "$T/$1.json" "$2"
    local i
    for i in $(seq 100); do grep -q '^listening on' "$T/$1.log" 2>/dev/null && break; sleep 0.1; done
    URL="http://127.0.0.1:$(awk '/^listening on/ {print $3}' "$T/$1.log")/"
}

# browse URL OUT [extra flags]: DOM to OUT after the page's first fetch.
browse() {
    local url=$1 out=$2; shift 2
    local prof; prof=$(mktemp -d "$T/chrome.XXXXXX")
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
        --user-data-dir="$prof" --virtual-time-budget=3000 "$@" "$url" >"$out" 2>>"$T/chromium.log"
}

start_driver ok ok
browse "$URL" "$T/ok.html" --dump-dom || fail "chromium --dump-dom failed"
grep -q 'airq-12' "$T/ok.html" || fail "device name not rendered"
grep -q 'meter-7' "$T/ok.html" || fail "second device not rendered"
grep -q 'id="health" class="badge b-ok">ok<' "$T/ok.html" || fail "health badge is not ok"
grep -q 'cabinet-17' "$T/ok.html" || fail "gateway id not rendered"
grep -q 'pm25=12.5' "$T/ok.html" || fail "last lines not rendered"
grep -q 'city-db' "$T/ok.html" || fail "output not rendered"
grep -q 'id="drops" hidden' "$T/ok.html" || fail "discard section shown with nothing discarded"
pass "page renders devices, outputs, last lines, health ok"

start_driver bad degraded
browse "$URL" "$T/bad.html" --dump-dom || fail "chromium --dump-dom failed"
grep -q 'b-degraded">degraded<' "$T/bad.html" || fail "degraded badge missing"
grep -q 'Connection timed out' "$T/bad.html" || fail "device error not shown"
pass "page shows degraded with the device error"
grep -q '<td>meter-7</td>.*<td>15</td><td>7</td><td class="err">5</td>' "$T/bad.html" ||
    fail "device row without its skipped polls (7) and stray frames (5)"
pass "page shows a device's skipped polls and discarded stray frames"
grep -q '<section id="drops"><h2>Not stored as received' "$T/bad.html" || fail "discard section not shown"
grep -q '<td>out_of_range</td>.*<td>north-bus</td><td>air_quality</td><td>pm10</td><td>37</td>' "$T/bad.html" ||
    fail "discard row (out_of_range, pm10, 37) not rendered"
grep -q '<td>unmapped_field</td><td class="muted">[^<]*</td><td>city-mqtt</td><td>traffic</td><td>rssi</td><td>12</td>' \
    "$T/bad.html" || fail "unmapped row (rssi, 12) not rendered as written"
pass "page lists the discard ledger's top rows (cause, what happened, source, measurement, field, count)"

shots=${OPS_SCREENSHOT_DIR:-$T}
mkdir -p "$shots"
(cd "$shots" && browse "$URL" /dev/null --screenshot="$shots/status-phone.png" --window-size=412,1400 \
    --hide-scrollbars) || fail "screenshot failed"
(cd "$shots" && browse "$URL" /dev/null --screenshot="$shots/status-desktop.png" --window-size=1280,1100 \
    --hide-scrollbars) || fail "screenshot failed"
[ -s "$shots/status-phone.png" ] && [ -s "$shots/status-desktop.png" ] || fail "no screenshot written"
pass "screenshots: $shots/status-phone.png $shots/status-desktop.png"
