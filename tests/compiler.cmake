# Compiler tests: worked examples, op-table gradients, IR structure, emitted C.
bp_cmocka_test(test_compiler tests/test_compiler.c tests/harness.c)
bp_cmocka_test(test_ops tests/test_ops.c tests/harness.c)
add_test(NAME emit_compilers COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/emit_compilers.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME cli COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
bp_cmocka_test(test_diagnostics tests/test_diagnostics.c tests/harness.c)
bp_cmocka_test(test_torch_refs tests/test_torch_refs.c tests/harness.c)
target_compile_definitions(test_torch_refs PRIVATE BP_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
add_test(NAME embed COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/embed.sh ${CMAKE_BINARY_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
