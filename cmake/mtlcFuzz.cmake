# The libFuzzer targets (clang): every parser of untrusted input has one. Each gets two
# tests, labelled fuzz: TEST.fuzz.replay runs every seed once; TEST.fuzz.run fuzzes from
# them for MTLC_FUZZ_SECONDS, keeping what it finds in the build tree.
set(MTLC_FUZZ_SECONDS 20 CACHE STRING "How long each *.fuzz.run test fuzzes")
set(MTLC_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)

# mtlc_add_fuzzer(TARGET TEST test-prefix DICT file SOURCES src... [LIBRARIES lib...]
#                 [INCLUDES dir...] SEEDS dir-or-file...)
function(mtlc_add_fuzzer target)
  cmake_parse_arguments(ARG "" "TEST;DICT" "SOURCES;LIBRARIES;INCLUDES;SEEDS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_include_directories(${target} PRIVATE ${ARG_INCLUDES})
  target_link_libraries(${target} PRIVATE ${ARG_LIBRARIES})
  target_compile_options(${target} PRIVATE ${MTLC_WARNINGS} -Wpedantic ${MTLC_FUZZ_FLAGS} -g -O1)
  target_link_options(${target} PRIVATE ${MTLC_FUZZ_FLAGS})
  set(corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus-${target})
  file(MAKE_DIRECTORY ${corpus})
  add_test(NAME ${ARG_TEST}.fuzz.replay
           COMMAND ${target} -runs=0 -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/ ${ARG_SEEDS})
  add_test(NAME ${ARG_TEST}.fuzz.run
           COMMAND ${target} -max_total_time=${MTLC_FUZZ_SECONDS} -timeout=5 -rss_limit_mb=2048 -max_len=4096
                   -dict=${ARG_DICT} -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/ ${corpus} ${ARG_SEEDS})
  set_tests_properties(${ARG_TEST}.fuzz.replay ${ARG_TEST}.fuzz.run PROPERTIES LABELS fuzz)
  set_tests_properties(${ARG_TEST}.fuzz.run PROPERTIES TIMEOUT 300 DEPENDS ${ARG_TEST}.fuzz.replay)
endfunction()
