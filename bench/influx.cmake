# InfluxDB output throughput into a real influxd (bench/influx_sink.sh runs it).
add_executable(influx_sink ${PROJECT_SOURCE_DIR}/bench/influx_sink.c)
target_link_libraries(influx_sink PRIVATE citygate_core)
target_include_directories(influx_sink PRIVATE ${PROJECT_SOURCE_DIR}/gateway)
