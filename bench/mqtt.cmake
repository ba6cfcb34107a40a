# MQTT ingest benchmark (scripts/bench mqtt). paho_count: the client library
# citygate uses, doing nothing but counting (the limit of any Paho-based client).
add_executable(paho_count ${PROJECT_SOURCE_DIR}/bench/paho_count.c)
target_include_directories(paho_count PRIVATE ${PAHO_INCLUDE})
target_link_libraries(paho_count PRIVATE ${PAHO_MQTT3AS})
