# MQTT adapter: codec and topic unit tests, fuzz corpus replay, integration tests.
cg_unit_test(test_mqtt_codec ${PROJECT_SOURCE_DIR}/tests/unit/test_mqtt_codec.c LIBS cg_adapter_mqtt_codecs)
target_include_directories(test_mqtt_codec PRIVATE ${PROJECT_SOURCE_DIR}/adapters/mqtt)
cg_unit_test(test_mqtt_topic ${PROJECT_SOURCE_DIR}/tests/unit/test_mqtt_topic.c LIBS cg_adapter_mqtt_codecs)
target_include_directories(test_mqtt_topic PRIVATE ${PROJECT_SOURCE_DIR}/adapters/mqtt)

cg_integration_test(mqtt_codecs mqtt_codecs.sh TIMEOUT 120 LABELS mqtt)
cg_integration_test(mqtt_gateway_restart mqtt_gateway_restart.sh TIMEOUT 120 LABELS mqtt)
cg_integration_test(mqtt_broker_restart mqtt_broker_restart.sh TIMEOUT 120 LABELS mqtt)
cg_integration_test(mqtt_shared mqtt_shared.sh TIMEOUT 120 LABELS mqtt)
cg_integration_test(mqtt_tls_auth mqtt_tls_auth.sh TIMEOUT 120 LABELS mqtt)
cg_integration_test(mqtt_config mqtt_config.sh TIMEOUT 60 LABELS mqtt)
cg_integration_test(mqtt_backpressure mqtt_backpressure.sh TIMEOUT 120 LABELS mqtt)
cg_integration_test(mqtt_qos2_silent mqtt_qos2_silent.sh TIMEOUT 120)
cg_integration_test(mqtt_uplink mqtt_uplink.sh TIMEOUT 180 LABELS mqtt)
cg_integration_test(mqtt_uplink_auth mqtt_uplink_auth.sh TIMEOUT 120 LABELS mqtt)
# The MQTT uplink output's LP -> JSON converter (includes gateway/output_mqtt.c).
cg_unit_test(test_output_mqtt ${PROJECT_SOURCE_DIR}/tests/unit/test_output_mqtt.c)
target_include_directories(test_output_mqtt PRIVATE ${PAHO_INCLUDE})
