# Normaliser edge reduction: bytes per hour of the demo city with and without
# deadband / windowed aggregation (prints figures; not a test).
add_executable(norm_reduction ${PROJECT_SOURCE_DIR}/bench/norm_reduction.c)
target_link_libraries(norm_reduction PRIVATE citygate_core)
target_compile_definitions(norm_reduction PRIVATE CG_SRC_DIR="${PROJECT_SOURCE_DIR}")
# Normaliser memory per series and lock contention (issue 13): prints figures.
#   norm_memory [SERIES [FIELDS [THREADS]]]
add_executable(norm_memory ${PROJECT_SOURCE_DIR}/bench/norm_memory.c)
target_link_libraries(norm_memory PRIVATE citygate_core)
target_include_directories(norm_memory PRIVATE ${PROJECT_SOURCE_DIR}/gateway)
target_compile_definitions(norm_memory PRIVATE CG_SRC_DIR="${PROJECT_SOURCE_DIR}")
