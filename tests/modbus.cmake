# Modbus adapter: unit tests (decode, plan, profiles) and integration tests
# against citygate-sim, a pymodbus server, a socat PTY pair and influxd.
cg_unit_test(test_modbus_decode ${PROJECT_SOURCE_DIR}/tests/unit/test_modbus_decode.c LIBS cg_modbus_pure)
cg_unit_test(test_modbus_plan ${PROJECT_SOURCE_DIR}/tests/unit/test_modbus_plan.c LIBS cg_modbus_pure)
cg_integration_test(modbus_tcp modbus_tcp.sh TIMEOUT 60 LABELS modbus)
cg_integration_test(modbus_rtu modbus_rtu.sh TIMEOUT 60 LABELS modbus)
cg_integration_test(modbus_faults modbus_faults.sh TIMEOUT 60 LABELS modbus)
cg_integration_test(modbus_e2e modbus_e2e.sh TIMEOUT 90 LABELS modbus)
cg_integration_test(modbus_pymodbus modbus_pymodbus.sh TIMEOUT 60 LABELS modbus)
cg_integration_test(modbus_probe modbus_probe.sh TIMEOUT 30 LABELS modbus)
cg_integration_test(modbus_bus_gap modbus_bus_gap.sh TIMEOUT 90 LABELS modbus)
cg_integration_test(modbus_rtu_late modbus_rtu_late.sh TIMEOUT 60 LABELS modbus)
cg_integration_test(modbus_tcp_faults modbus_tcp_faults.sh TIMEOUT 60 LABELS modbus)
cg_integration_test(modbus_tcp_reconnect modbus_tcp_reconnect.sh TIMEOUT 60 LABELS modbus)
