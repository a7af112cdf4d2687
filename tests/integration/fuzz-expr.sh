#!/bin/bash
# The rule condition parser's fuzz target (tests/fuzz/fuzz_expr.c), briefly
# (tests/fuzz/run.sh): the replay driver, then libFuzzer if clang has it.
. "$(dirname "$0")/../lib.sh"
. "$top_srcdir/tests/fuzz/run.sh"
plan 4
fuzz_run fuzz_expr "$top_srcdir/tests/fuzz/expr-corpus" aggregator \
	tests/fuzz/fuzz_expr.c aggregator/expr.c lib/cfgtree.c lib/log.c lib/fsutil.c lib/xalloc.c
exit 0
