# The adapter lifecycle contract (include/citygate/adapter.h) for every
# compiled-in adapter, against real mosquitto and citygate-sim (issue 13).
add_executable(adapter_conformance ${PROJECT_SOURCE_DIR}/tests/integration/adapter_conformance.c
               ${PROJECT_BINARY_DIR}/registry.c
               ${PROJECT_SOURCE_DIR}/tests/example_adapter/example.c)
target_link_libraries(adapter_conformance PRIVATE ${CG_ADAPTER_LIBS} citygate_core)
target_include_directories(adapter_conformance PRIVATE ${PROJECT_SOURCE_DIR}/gateway ${PAHO_INCLUDE})
# Counts Paho clients created and destroyed (a client leaked by start after
# stop stays on Paho's own list, where LeakSanitizer cannot see it).
target_link_options(adapter_conformance PRIVATE -Wl,--wrap=MQTTAsync_createWithOptions
                    -Wl,--wrap=MQTTAsync_destroy)
cg_integration_test(adapter_lifecycle adapter_lifecycle.sh TIMEOUT 120 LABELS mqtt modbus)
set_property(TEST integration.adapter_lifecycle APPEND PROPERTY ENVIRONMENT
             "ADAPTER_CONFORMANCE=$<TARGET_FILE:adapter_conformance>")
cg_integration_test(reload_sources reload_sources.sh TIMEOUT 120 LABELS mqtt)
cg_integration_test(cli_test_mode cli_test_mode.sh TIMEOUT 120 LABELS mqtt modbus)
cg_integration_test(check_config_all check_config_all.sh TIMEOUT 60)
cg_integration_test(doc_configs doc_configs.sh TIMEOUT 60)
cg_integration_test(docs_example docs_example.sh TIMEOUT 30)
cg_integration_test(config_schema config_schema.sh TIMEOUT 60)
