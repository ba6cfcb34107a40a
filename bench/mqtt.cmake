# MQTT ingest benchmark (built/configured, not run by ctest):
#   cmake --build build --target bench-mqtt
add_custom_target(bench-mqtt
  COMMAND ${CMAKE_COMMAND} -E env CITYGATE=$<TARGET_FILE:citygate> SRC_DIR=${PROJECT_SOURCE_DIR}
          bash ${PROJECT_SOURCE_DIR}/bench/mqtt_bench.sh 20000
  DEPENDS citygate
  USES_TERMINAL)
