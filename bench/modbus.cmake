# Modbus benchmarks (built, never run by ctest):
#   modbus_plan_bench config/profiles       planner figures per shipped profile
#   bench/modbus.sh BUILD_DIR N [SECONDS]   N simulated TCP devices polled by citygate
add_executable(modbus_plan_bench ${PROJECT_SOURCE_DIR}/bench/modbus_plan.c)
target_link_libraries(modbus_plan_bench PRIVATE cg_modbus_pure)
