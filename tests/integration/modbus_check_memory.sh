#!/bin/bash
# Memory of a big Modbus config grows with its devices, not with devices x
# endpoints: --check-config of 4096 devices each on its own TCP endpoint must
# not need much more than 4096 devices behind one endpoint (each endpoint used
# to reserve a slot for every device of its source: 4096 x 4096 x 8 bytes =
# 128 MiB more; three such sources took 675 MB).
. "$SRC_DIR/tests/integration/lib.sh"
gen() { # OUT separate|shared
    $PY - "$1" "$2" "$SRC_DIR/config/profiles" "$T/state" <<'PY'
import json, sys
out, mode, pdir, state = sys.argv[1:]
devs = []
for i in range(4096):
    d = {"name": "d%04d" % i, "unit_id": 1 + i % 247, "profile": "eastron_sdm630", "poll_interval_ms": 5000}
    if mode == "separate":
        d["host"] = "127.%d.%d.%d" % (1 + i // 62500, (i // 250) % 250 + 1, i % 250 + 1)
    else:
        d["port"] = 1502 + i // 247   # ports: a unit id is used once per connection
    devs.append(d)
json.dump({"gateway": {"id": "gw", "state_dir": state},
           "outputs": [{"type": "influxdb_v1", "url": "http://127.0.0.1:9", "database": "city"}],
           "sources": [{"type": "modbus", "name": "big", "transport": "tcp", "host": "127.0.0.1",
                        "port": 502, "response_timeout_ms": 200, "retries": 0,
                        "profile_dirs": [pdir], "devices": devs}]}, open(out, "w"))
PY
}
peak_kb() { # CONFIG: peak RSS of --check-config, in KiB
    $PY - "$CITYGATE" "$1" <<'PY'
import resource, subprocess, sys
r = subprocess.run([sys.argv[1], "--check-config", sys.argv[2]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if r.returncode != 0:
    sys.exit("check-config exit %d" % r.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}
gen "$T/separate.json" separate
gen "$T/shared.json" shared
sep=$(peak_kb "$T/separate.json") || fail "separate endpoints: config refused"
sh=$(peak_kb "$T/shared.json") || fail "shared endpoints: config refused"
pass "peak RSS of --check-config, 4096 devices: $sep KiB on 4096 endpoints, $sh KiB on 17 endpoints"
# an endpoint's own state is a few KiB: 4096 of them stay well under 32 MiB
# (the old per-endpoint device table alone was 128 MiB here)
[ $((sep - sh)) -le 32768 ] || fail "4096 endpoints need $((sep - sh)) KiB more than 17 endpoints (limit 32 MiB)"
pass "endpoints cost memory per endpoint, not per endpoint x device"
