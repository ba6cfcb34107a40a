# InfluxDB output: unit tests (pure parts) and integration tests against real
# influxd / victoria-metrics and a fault-injecting HTTP server.
cg_unit_test(test_influx ${PROJECT_SOURCE_DIR}/tests/unit/test_influx.c)
# test_influx checks docs/outputs.md lists every option with its default.
target_compile_definitions(test_influx PRIVATE CG_SRC_DIR="${PROJECT_SOURCE_DIR}")

# The integration driver: journal + one output from a JSON config, N lines in,
# stats JSON out (until adapters can feed the real binary on demand).
add_executable(influx_driver ${PROJECT_SOURCE_DIR}/tests/integration/influx_driver.c)
target_link_libraries(influx_driver PRIVATE citygate_core)
target_include_directories(influx_driver PRIVATE ${PROJECT_SOURCE_DIR}/gateway)

function(cg_influx_test name)
  cg_integration_test(${name} ${name}.sh TIMEOUT 180 LABELS influx)
  set_property(TEST integration.${name} APPEND PROPERTY ENVIRONMENT
               "INFLUX_DRIVER=$<TARGET_FILE:influx_driver>")
endfunction()

foreach(t influx_v1 influx_v2_vm influx_names influx_auth influx_413 influx_poison influx_outage influx_fault
          influx_tls influx_check_config)
  if(EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/${t}.sh)
    cg_influx_test(${t})
  endif()
endforeach()
