# Runs one libFuzzer harness for CTest: replays its seed corpus, then RUNS
# more executions; new inputs go to the fresh folder WORK (never to the
# source tree), crash inputs to WORK/artifacts/.
#   cmake -DFUZZER=<program> -DCORPUS=<seed folder> -DWORK=<folder> -DRUNS=<n> -P run_fuzzer.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/new" "${WORK}/artifacts")
execute_process(
  COMMAND "${FUZZER}" -runs=${RUNS} -rss_limit_mb=512 -timeout=30 -seed=1 -print_final_stats=1
          -artifact_prefix=${WORK}/artifacts/ "${WORK}/new" "${CORPUS}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${FUZZER}: exit status ${result}; the crashing input is in ${WORK}/artifacts/")
endif()
