# Test registration: each area keeps its own list. Every test is a cmocka program or a
# shell script run by ctest; `ctest` (README's test command) runs them all.
function(bp_cmocka_test name)
  add_executable(${name} ${ARGN})
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  target_include_directories(${name} PRIVATE tests)
  target_link_libraries(${name} PRIVATE bpc_lib PkgConfig::CMOCKA)
  set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
endfunction()

include(${CMAKE_CURRENT_LIST_DIR}/runtime.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/grammar.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/compiler.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/hvp.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/fuzz.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/valgrind.cmake)
# Byte-level language models: bpc train --data FILE.txt, bpc sample (tests/text.sh)
add_test(NAME text COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/text.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR}
  $<TARGET_FILE:st_dump>)
