#!/usr/bin/env bash
# docs/adapters.md shows the example adapter verbatim: the ```c block after
# "<!-- verbatim: tests/example_adapter/example.c -->" must be that file, byte
# for byte (the file itself is compiled and run by adapter_lifecycle).
. "$SRC_DIR/tests/integration/lib.sh"
f=tests/example_adapter/example.c
$PY - "$SRC_DIR/docs/adapters.md" "$SRC_DIR/$f" "$f" >"$T/diff" 2>&1 <<'PY' || fail "docs/adapters.md's copy of $f differs: $(cat "$T/diff")"
import difflib, sys
doc = open(sys.argv[1]).read()
mark = "<!-- verbatim: %s -->\n```c\n" % sys.argv[3]
if mark not in doc:
    sys.exit("no verbatim block for " + sys.argv[3])
block = doc.split(mark, 1)[1].split("```\n", 1)[0]
src = open(sys.argv[2]).read()
if block != src:
    sys.stdout.writelines(difflib.unified_diff(block.splitlines(True), src.splitlines(True), "docs", sys.argv[3]))
    sys.exit(1)
PY
n=$(wc -l <"$SRC_DIR/$f")
grep -q "^## A complete adapter in $n lines$" "$SRC_DIR/docs/adapters.md" || fail "the heading does not say $n lines"
pass "docs/adapters.md shows $f verbatim ($n lines)"
