#!/bin/bash
# The packet classifier's fuzz target (tests/fuzz/fuzz_pktclass.c), briefly
# (tests/fuzz/run.sh): the replay driver, then libFuzzer if clang has it.
. "$(dirname "$0")/../lib.sh"
. "$top_srcdir/tests/fuzz/run.sh"
plan 4
fuzz_run fuzz_pktclass "$top_srcdir/tests/fuzz/corpus" collector \
	tests/fuzz/fuzz_pktclass.c collector/pktclass.c lib/netclass.c lib/xalloc.c
exit 0
