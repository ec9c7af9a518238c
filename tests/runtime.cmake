# Runtime (libbprt) tests and the GEMM benchmark. These link only bprt (+ cmocka), never the
# compiler, so they build and run while the compiler is in pieces.
function(bprt_cmocka_test name)
  add_executable(${name} ${ARGN})
  target_compile_options(${name} PRIVATE ${BP_WARN})
  target_link_libraries(${name} PRIVATE bprt PkgConfig::CMOCKA ZLIB::ZLIB m)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endfunction()

bprt_cmocka_test(test_runtime_gemm ${CMAKE_CURRENT_LIST_DIR}/test_runtime_gemm.c)
bprt_cmocka_test(test_runtime_rng ${CMAKE_CURRENT_LIST_DIR}/test_runtime_rng.c)
bprt_cmocka_test(test_runtime_files ${CMAKE_CURRENT_LIST_DIR}/test_runtime_files.c)
bprt_cmocka_test(test_runtime_vmath ${CMAKE_CURRENT_LIST_DIR}/test_runtime_vmath.c)
bprt_cmocka_test(test_runtime_conv ${CMAKE_CURRENT_LIST_DIR}/test_runtime_conv.c)
bprt_cmocka_test(test_runtime_pool ${CMAKE_CURRENT_LIST_DIR}/test_runtime_pool.c)
# the GEMM entry points' values in any build, bpc's kernels or -DBPC_OPENBLAS=ON's (.ci/run)
bprt_cmocka_test(test_runtime_blas ${CMAKE_CURRENT_LIST_DIR}/test_runtime_blas.c)
target_link_libraries(test_runtime_blas PRIVATE OpenMP::OpenMP_C)
if(BPC_OPENBLAS)
  target_compile_definitions(test_runtime_blas PRIVATE BPRT_EXPECT_GEMM="openblas")
else()
  target_compile_definitions(test_runtime_blas PRIVATE BPRT_EXPECT_GEMM="bpc")
endif()

# gemm_bench: GFLOP/s of bprt_sgemm on MLP shapes vs the measured FMA peak (not a test).
add_executable(gemm_bench ${CMAKE_CURRENT_LIST_DIR}/../bench/gemm_bench.c)
target_compile_options(gemm_bench PRIVATE ${BP_WARN} -O3)
target_link_libraries(gemm_bench PRIVATE bprt)
# the plain (unfused) exp/erf kernels, which CPUs without AVX-512 and --standalone output use
add_test(NAME test_runtime_vmath_plain COMMAND test_runtime_vmath WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_runtime_vmath_plain PROPERTIES ENVIRONMENT BPRT_ISA=avx2)
