# Core unit tests (encoder, journal, config).
cg_unit_test(test_lineproto ${PROJECT_SOURCE_DIR}/tests/unit/test_lineproto.c)
cg_unit_test(test_journal ${PROJECT_SOURCE_DIR}/tests/unit/test_journal.c)
cg_unit_test(test_config ${PROJECT_SOURCE_DIR}/tests/unit/test_config.c)
cg_unit_test(test_conf_locate ${PROJECT_SOURCE_DIR}/tests/unit/test_conf_locate.c)

add_executable(lp_roundtrip ${PROJECT_SOURCE_DIR}/tests/integration/lp_roundtrip.c)
target_link_libraries(lp_roundtrip PRIVATE citygate_core)
cg_integration_test(lp_roundtrip lp_roundtrip.sh TIMEOUT 120)
set_tests_properties(integration.lp_roundtrip PROPERTIES DEPENDS lp_roundtrip)
cg_unit_test(test_wal ${PROJECT_SOURCE_DIR}/tests/unit/test_wal.c)
cg_integration_test(cli cli.sh TIMEOUT 60)
cg_integration_test(daemon_ops daemon_ops.sh TIMEOUT 180)
cg_integration_test(gap_records gap_records.sh TIMEOUT 120)
