# The disk buffer under damage and a full disk (issue 13): real mosquitto,
# influxd, citygate. buffer_disk_full mounts a tmpfs (root; skipped otherwise).
cg_integration_test(buffer_damage buffer_damage.sh TIMEOUT 180 LABELS "sf;buffer")
cg_integration_test(buffer_disk_full buffer_disk_full.sh TIMEOUT 240 LABELS "sf;buffer")
set_tests_properties(integration.buffer_disk_full PROPERTIES SKIP_RETURN_CODE 77)
cg_integration_test(buffer_privileges buffer_privileges.sh TIMEOUT 120 LABELS "buffer")
set_tests_properties(integration.buffer_privileges PROPERTIES SKIP_RETURN_CODE 77)
# fdatasync failures injected with an LD_PRELOAD shim (no hook in the gateway).
add_library(cg_fsync_fail_shim SHARED ${PROJECT_SOURCE_DIR}/tests/integration/fsync_fail_shim.c)
target_compile_options(cg_fsync_fail_shim PRIVATE -fno-sanitize=all)
target_link_options(cg_fsync_fail_shim PRIVATE -fno-sanitize=all)
set_target_properties(cg_fsync_fail_shim PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
cg_integration_test(buffer_fsync_fail buffer_fsync_fail.sh TIMEOUT 120 LABELS "buffer")
