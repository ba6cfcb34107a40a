#!/usr/bin/env bash
# The config's JSON Schema: no drift from --print-schema, the example and the
# docs' configs validate, and it agrees with --check-config on bad configs
# (see config_schema.py).
. "$SRC_DIR/tests/integration/lib.sh"
cd "$SRC_DIR"
$PY "$SRC_DIR/tests/integration/config_schema.py" "$CITYGATE" "$SRC_DIR" "$T" || fail "the config schema disagrees"
pass "the config schema is generated, validates every example and doc config, and agrees with --check-config"
