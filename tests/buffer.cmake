# The disk buffer under damage and a full disk (issue 13): real mosquitto,
# influxd, citygate. buffer_disk_full mounts a tmpfs (root; skipped otherwise).
cg_integration_test(buffer_damage buffer_damage.sh TIMEOUT 180 LABELS "sf;buffer")
cg_integration_test(buffer_disk_full buffer_disk_full.sh TIMEOUT 240 LABELS "sf;buffer")
set_tests_properties(integration.buffer_disk_full PROPERTIES SKIP_RETURN_CODE 77)
cg_integration_test(buffer_privileges buffer_privileges.sh TIMEOUT 120 LABELS "buffer")
set_tests_properties(integration.buffer_privileges PROPERTIES SKIP_RETURN_CODE 77)
