# Normaliser edge reduction: bytes per hour of the demo city with and without
# deadband / windowed aggregation (prints figures; not a test).
add_executable(norm_reduction ${PROJECT_SOURCE_DIR}/bench/norm_reduction.c)
target_link_libraries(norm_reduction PRIVATE citygate_core)
target_compile_definitions(norm_reduction PRIVATE CG_SRC_DIR="${PROJECT_SOURCE_DIR}")
