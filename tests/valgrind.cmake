# valgrind (memcheck, full leak check) on the compiler and the tcc JIT: bpc grad and check
# of examples/seed.bp, check of an MLP, and hvp of the seed example. Registered only where valgrind is installed and
# not under BPC_SANITIZE (ASan and valgrind exclude each other); label "valgrind".
# Suppressions (tests/valgrind.supp) cover third-party libraries only.
find_program(VALGRIND valgrind)
if(VALGRIND AND NOT BPC_SANITIZE AND NOT BPC_FUZZ)
  set(BP_VALGRIND ${VALGRIND} -q --error-exitcode=1 --leak-check=full
      --suppressions=${CMAKE_CURRENT_LIST_DIR}/valgrind.supp)
  add_test(NAME valgrind_grad_seed COMMAND ${BP_VALGRIND} $<TARGET_FILE:bpc> grad examples/seed.bp
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  add_test(NAME valgrind_check_seed COMMAND ${BP_VALGRIND} $<TARGET_FILE:bpc> check examples/seed.bp
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  add_test(NAME valgrind_check_mlp COMMAND ${BP_VALGRIND} $<TARGET_FILE:bpc> check tests/torch/programs/mlp_relu_mse.bp
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  # bpc hvp (reverse over reverse), its direction the gradient bpc grad writes
  add_test(NAME valgrind_hvp_seed COMMAND sh -c "\"$0\" grad examples/seed.bp -o '${CMAKE_CURRENT_BINARY_DIR}/hvp_v.safetensors' >/dev/null && exec \"$@\" hvp examples/seed.bp --vector '${CMAKE_CURRENT_BINARY_DIR}/hvp_v.safetensors'"
    $<TARGET_FILE:bpc> ${BP_VALGRIND} $<TARGET_FILE:bpc> WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(valgrind_grad_seed valgrind_check_seed valgrind_check_mlp valgrind_hvp_seed PROPERTIES LABELS valgrind)
endif()
