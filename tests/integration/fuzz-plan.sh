#!/bin/bash
# The plan file parser's fuzz target (tests/fuzz/fuzz_plan.c), briefly
# (tests/fuzz/run.sh): the replay driver, then libFuzzer if clang has it.
. "$(dirname "$0")/../lib.sh"
# A plan file's parse costs a hundred times a packet's: 300,000 mutated
# inputs took 3 of the suite's minutes under ASan; libFuzzer's guided run
# below finds more per second.
: "${FUZZ_RUNS:=100000}"
. "$top_srcdir/tests/fuzz/run.sh"
plan 4
fuzz_run fuzz_plan "$top_srcdir/tests/fuzz/plan-corpus" billing \
	tests/fuzz/fuzz_plan.c billing/plan.c lib/cfgtree.c lib/money.c lib/log.c lib/xalloc.c lib/fsutil.c
exit 0
