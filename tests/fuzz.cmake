# Fuzz targets. Each builds with a plain main() that replays its corpus plus
# deterministic mutations as an ordinary test (tests/fuzz/fuzz_main.h); with
# clang, -DCG_LIBFUZZER and -fsanitize=fuzzer turn the same file into a
# libFuzzer target.
foreach(t codecs wal wal_ops conf_locate)
  add_executable(fuzz_${t} ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_${t}.c)
  target_include_directories(fuzz_${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz ${PROJECT_SOURCE_DIR}/gateway
                             ${PROJECT_SOURCE_DIR}/adapters/mqtt)
  target_link_libraries(fuzz_${t} PRIVATE citygate_core)
  if(CG_LIBFUZZER)
    # libFuzzer's own main(): runs until stopped, so no ctest test (scripts/fuzz runs it)
    target_compile_definitions(fuzz_${t} PRIVATE CG_LIBFUZZER)
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  else()
    add_test(NAME fuzz.${t} COMMAND fuzz_${t} ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${t})
    set_tests_properties(fuzz.${t} PROPERTIES LABELS "fuzz" TIMEOUT 300)
  endif()
endforeach()
target_link_libraries(fuzz_codecs PRIVATE cg_adapter_mqtt_codecs)
