#!/usr/bin/env bash
# Every ```json block of README.md and docs/*.md passes `citygate --check-config`
# (fragments completed into a whole config, see doc_configs.py).
. "$SRC_DIR/tests/integration/lib.sh"
cd "$SRC_DIR"
$PY "$SRC_DIR/tests/integration/doc_configs.py" "$CITYGATE" "$SRC_DIR" "$T" || fail "a config in the docs is rejected"
pass "every config in the docs passes --check-config"
