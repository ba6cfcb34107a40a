# Core unit tests (encoder, journal, config).
cg_unit_test(test_lineproto ${PROJECT_SOURCE_DIR}/tests/unit/test_lineproto.c)
cg_unit_test(test_journal ${PROJECT_SOURCE_DIR}/tests/unit/test_journal.c)
cg_unit_test(test_config ${PROJECT_SOURCE_DIR}/tests/unit/test_config.c)
