# Compiler tests: worked examples, op-table gradients, IR structure, emitted C.
bp_cmocka_test(test_compiler tests/test_compiler.c tests/harness.c)
bp_cmocka_test(test_ops tests/test_ops.c tests/harness.c)
bp_cmocka_test(test_checkpoint tests/test_checkpoint.c tests/harness.c)
add_test(NAME checkpoint_cli COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/checkpoint.sh $<TARGET_FILE:bpc>)
add_test(NAME emit_compilers COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/emit_compilers.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME cli COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
# README.md's and LANGUAGE.md's examples, run as the documents show them
add_test(NAME doc_examples COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/doc_examples.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
bp_cmocka_test(test_diagnostics tests/test_diagnostics.c tests/harness.c)
bp_cmocka_test(test_torch_refs tests/test_torch_refs.c tests/harness.c)
target_compile_definitions(test_torch_refs PRIVATE BP_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
add_test(NAME embed COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/embed.sh ${CMAKE_BINARY_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
# --standalone output built as C++ (g++, clang++) and run (tests/cxx.sh)
add_test(NAME cxx COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/cxx.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
# Two threads of an embedding program on one model: libbprt's pool, and --standalone output
# under ThreadSanitizer (tests/embed_threads.sh)
add_test(NAME embed_threads COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/embed_threads.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
bp_cmocka_test(test_optimizers tests/test_optimizers.c tests/harness.c)
target_compile_definitions(test_optimizers PRIVATE BP_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
# st_dump: prints a safetensors file's tensors exactly (the train test compares checkpoints)
add_executable(st_dump tests/st_dump.c)
target_link_libraries(st_dump PRIVATE bprt)
add_test(NAME train COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/train.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR} $<TARGET_FILE:st_dump>)
# bpc train / eval on small IDX files made by the test: the errors that stop a run before it starts
# st_rewrite: rewrites a safetensors file (its tensors sorted by name, one left out or replaced)
add_executable(st_rewrite tests/st_rewrite.c)
target_link_libraries(st_rewrite PRIVATE bprt)
add_test(NAME train_data COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/train_data.sh $<TARGET_FILE:bpc> $<TARGET_FILE:st_dump>
  $<TARGET_FILE:st_rewrite>)
# Data-parallel training under MPI: mpirun -n 2 equals one process; dropout draws masks per
# rank and per step; a killed rank stops the job with a message; ranks started differently,
# or one that cannot start, stop the job before the first step with a message; Ctrl-C and a
# step that is not finite stop every rank cleanly, with a checkpoint; a rank dying in a given
# step leaves rank 0's checkpoint of the steps done (none: --save's file as it was). Without MPI: bpc says how
# to get it (tests/mpi.sh).
add_executable(st_compare tests/st_compare.c)
target_link_libraries(st_compare PRIVATE bprt)
if(MPI_C_FOUND)
  set(BPC_MPI_BUILT 1)
else()
  set(BPC_MPI_BUILT 0)
endif()
foreach(mode same dropout kill alike start interrupt die)
  add_test(NAME mpi_${mode} COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/mpi.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR}
    $<TARGET_FILE:st_compare> ${BPC_MPI_BUILT} ${mode} $<TARGET_FILE:st_dump>)
  set_tests_properties(mpi_${mode} PROPERTIES TIMEOUT 180)
endforeach()
# The REPL: scripts through a pipe (tests/repl/*.bpr), and line editing and Ctrl-C on a pty
add_test(NAME repl COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_repl.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME repl_pty COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/repl_pty.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
# Ctrl-C landing in the REPL's blocked writes to its terminal does not fail standard output
bp_cmocka_test(test_tty_signals tests/test_tty_signals.c)
target_compile_definitions(test_tty_signals PRIVATE BPC_EXE="$<TARGET_FILE:bpc>" BP_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
target_link_libraries(test_tty_signals PRIVATE util)
add_dependencies(test_tty_signals bpc)
# The REPL's sessions (entries, redefinitions, reordering) against bpc grad on whole programs
add_test(NAME repl_diff COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/repl_diff.sh $<TARGET_FILE:bpc> ${CMAKE_CURRENT_SOURCE_DIR})
# The REPL's training goes on from call to call: pieces of :train and :step equal one run of
# bpc train, bit for bit (tests/repl_train.sh, small IDX files made by the test)
add_test(NAME repl_train COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/repl_train.sh $<TARGET_FILE:bpc>
  $<TARGET_FILE:st_compare> $<TARGET_FILE:st_dump>)
