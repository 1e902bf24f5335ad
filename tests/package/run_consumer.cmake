# Builds and runs tests/package/consumer against autodidact.
#   MODE=find_package      install the library into WORK_DIR/prefix first
#   MODE=add_subdirectory  point the consumer at the source tree
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

set(consumer_args -DUSE_XSIMD=${USE_XSIMD} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Release)
if(MODE STREQUAL "find_package")
  # Install only the library (no tests, benchmarks or examples).
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/lib-build" -G "${GENERATOR}"
      -DAUTODIDACT_BUILD_TESTS=OFF -DAUTODIDACT_BUILD_BENCHMARKS=OFF
      -DAUTODIDACT_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install "${WORK_DIR}/lib-build")
  list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  list(APPEND consumer_args -DAUTODIDACT_SOURCE_DIR=${SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/package/consumer" -B "${WORK_DIR}/consumer-build"
    -G "${GENERATOR}" ${consumer_args})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/consumer-build")
execute_process(COMMAND "${WORK_DIR}/consumer-build/consumer" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer program failed (${rc})")
endif()
if(NOT out MATCHES "consumer ok")
  message(FATAL_ERROR "the consumer program did not report success")
endif()
