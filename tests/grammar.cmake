# Front end (grammar/lexer.l, grammar/parser.y, compiler/ast.c): dumps, exact diagnostics,
# error recovery, depth limits, random input, parse_is_incomplete.
bp_cmocka_test(test_parser tests/test_parser.c)
