# Normalisation (issue 6): units, schema loading and docs sync, normaliser features.
cg_unit_test(test_units ${PROJECT_SOURCE_DIR}/tests/unit/test_units.c)
cg_unit_test(test_norm_schema ${PROJECT_SOURCE_DIR}/tests/unit/test_norm_schema.c)
target_compile_definitions(test_norm_schema PRIVATE CG_SRC_DIR="${PROJECT_SOURCE_DIR}")
cg_unit_test(test_norm ${PROJECT_SOURCE_DIR}/tests/unit/test_norm.c)
target_compile_definitions(test_norm PRIVATE CG_SRC_DIR="${PROJECT_SOURCE_DIR}")
# Nothing silent (issue 11): every discard cause through cg_sink_emit, counted
# and logged once; the ledger's bounds and rate limit.
cg_unit_test(test_norm_drops ${PROJECT_SOURCE_DIR}/tests/unit/test_norm_drops.c)
target_compile_definitions(test_norm_drops PRIVATE CG_SRC_DIR="${PROJECT_SOURCE_DIR}")
