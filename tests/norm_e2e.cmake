# Normalisation end to end (issue 6): a Modbus sensor (citygate-sim) and an MQTT
# sensor (mosquitto) of two vendors, same quantities in other names and units,
# identical in influxd.
cg_integration_test(norm_e2e norm_e2e.sh TIMEOUT 120)
# The README's headline config against citygate-sim (RTU), mosquitto (SenML)
# and influxd (issue 11): its air-quality and energy readings land.
cg_integration_test(readme_e2e readme_e2e.sh TIMEOUT 120)
# Names outside the schema (issue 11): a noise-meter profile and an MQTT rule
# with unknown fields, schema_policy open and strict.
cg_integration_test(norm_unmapped norm_unmapped.sh TIMEOUT 120)
# Configured tags win; static tags removed/renamed per source; line-protocol
# passthrough keeps series keys byte-identical; reserved measurements (issues 11, 13).
cg_integration_test(norm_tags norm_tags.sh TIMEOUT 120)
