add_executable(lineproto_bench ${PROJECT_SOURCE_DIR}/bench/lineproto_bench.c)
target_link_libraries(lineproto_bench PRIVATE citygate_core)
add_executable(buffer_bench ${PROJECT_SOURCE_DIR}/bench/buffer_bench.c)
target_link_libraries(buffer_bench PRIVATE citygate_core)
