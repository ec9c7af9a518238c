# Hessian-vector products: against differences of the gradient, PyTorch's double backward
# (tests/torch/hvp, made by tests/torch/gen_hvp_refs.py), values derived by hand.
bp_cmocka_test(test_hvp tests/test_hvp.c tests/harness.c)
target_compile_definitions(test_hvp PRIVATE BP_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
