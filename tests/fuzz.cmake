# Fuzzing (tests/fuzz): four libFuzzer harnesses, their seed corpora and the inputs they
# once crashed on. In every build each harness is also linked with replay.c, a plain main()
# that feeds files through LLVMFuzzerTestOneInput; ctest replays the seed corpus and the
# regressions through it (under BPC_SANITIZE with ASan + UBSan). With BPC_FUZZ (clang) the
# harnesses are built as fuzzers too: fuzz_frontend, fuzz_safetensors, fuzz_idx, fuzz_repl.
set(BP_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR}/fuzz)
foreach(h frontend safetensors idx repl)
  if(h STREQUAL "frontend" OR h STREQUAL "repl")
    set(lib bpc_lib)
  else()
    set(lib bprt)
  endif()
  add_executable(fuzz_${h}_replay ${BP_FUZZ_DIR}/fuzz_${h}.c ${BP_FUZZ_DIR}/replay.c)
  target_compile_options(fuzz_${h}_replay PRIVATE ${BP_WARN})
  target_compile_definitions(fuzz_${h}_replay PRIVATE _GNU_SOURCE)
  target_link_libraries(fuzz_${h}_replay PRIVATE ${lib} ZLIB::ZLIB)
  add_test(NAME fuzz_replay_${h} COMMAND fuzz_${h}_replay
    ${BP_FUZZ_DIR}/corpus/${h} ${BP_FUZZ_DIR}/regressions/${h})
  if(BPC_FUZZ)
    add_executable(fuzz_${h} ${BP_FUZZ_DIR}/fuzz_${h}.c)
    target_compile_options(fuzz_${h} PRIVATE ${BP_WARN})
    target_compile_definitions(fuzz_${h} PRIVATE _GNU_SOURCE)
    target_link_libraries(fuzz_${h} PRIVATE ${lib} ZLIB::ZLIB)
    target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()

# Under BPC_SANITIZE, programs that tests link with the (instrumented) libbprt.so using a
# plain compiler need the ASan runtime loaded first.
if(BPC_SANITIZE AND CMAKE_C_COMPILER_ID STREQUAL "GNU")
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
    OUTPUT_VARIABLE BP_ASAN_SO OUTPUT_STRIP_TRAILING_WHITESPACE)
  set_tests_properties(emit_compilers embed_threads cxx PROPERTIES ENVIRONMENT "BP_SAN_PRELOAD=${BP_ASAN_SO}")
endif()
# Open MPI leaks by design: its allocations are suppressed (tests/lsan.supp, third-party
# libraries only), which needs whole stacks through the uninstrumented libraries.
if(BPC_SANITIZE)
  foreach(t mpi_same mpi_dropout mpi_kill)
    if(TEST ${t})
      set_tests_properties(${t} PROPERTIES ENVIRONMENT
        "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan.supp:fast_unwind_on_malloc=0:print_suppressions=0")
    endif()
  endforeach()
endif()
