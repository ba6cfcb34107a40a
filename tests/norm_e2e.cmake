# Normalisation end to end (issue 6): a Modbus sensor (citygate-sim) and an MQTT
# sensor (mosquitto) of two vendors, same quantities in other names and units,
# identical in influxd.
cg_integration_test(norm_e2e norm_e2e.sh TIMEOUT 120)
