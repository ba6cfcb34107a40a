# exec source: integration test against influxd.
cg_integration_test(exec_source exec_source.sh TIMEOUT 90 LABELS exec)
