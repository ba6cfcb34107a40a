# Operations: health rules, HTTP status/metrics, sd_notify, systemd units,
# the .deb package, the status page in a browser, dashboards.
cg_unit_test(test_status ${PROJECT_SOURCE_DIR}/tests/unit/test_status.c)
cg_unit_test(test_status_notify ${PROJECT_SOURCE_DIR}/tests/unit/test_status_notify.c)
cg_unit_test(test_http ${PROJECT_SOURCE_DIR}/tests/unit/test_http.c)

# A driver that serves a made-up snapshot (the module on its own).
add_executable(http_driver ${PROJECT_SOURCE_DIR}/tests/integration/http_driver.c)
target_link_libraries(http_driver PRIVATE citygate_core)
target_include_directories(http_driver PRIVATE ${PROJECT_SOURCE_DIR}/gateway)

function(cg_ops_test name)
  cmake_parse_arguments(O "" "TIMEOUT" "" ${ARGN})
  if(NOT O_TIMEOUT)
    set(O_TIMEOUT 120)
  endif()
  if(EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/${name}.sh)
    cg_integration_test(${name} ${name}.sh TIMEOUT ${O_TIMEOUT} LABELS ops)
    set_property(TEST integration.${name} APPEND PROPERTY ENVIRONMENT "HTTP_DRIVER=$<TARGET_FILE:http_driver>")
  endif()
endfunction()

cg_ops_test(http_endpoints)
cg_ops_test(http_page)
# Security: credentials, secret files, log escaping, slowloris (real binary).
cg_ops_test(sec_config TIMEOUT 90)
cg_ops_test(sec_log TIMEOUT 90)
cg_ops_test(http_slowloris TIMEOUT 60)
cg_ops_test(clock_health TIMEOUT 60)
cg_ops_test(health_kinds TIMEOUT 60)

# Systemd units (offline checks), the .deb (install into this machine, purge).
cg_ops_test(ops_systemd TIMEOUT 60)
cg_ops_test(ops_deb TIMEOUT 600)
if(TEST integration.ops_deb)
  # dpkg -i/--purge of the one machine: never two at once, and not while other
  # tests look at system users.
  set_tests_properties(integration.ops_deb PROPERTIES SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()

# Grafana dashboards: every panel's query against influxd filled by citygate.
cg_ops_test(ops_dashboards TIMEOUT 120)
# ... and one value of each dashboard, from Modbus and MQTT sources with known readings.
cg_ops_test(ops_dashboards_values TIMEOUT 120)
