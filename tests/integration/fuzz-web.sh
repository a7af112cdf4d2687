#!/bin/bash
# The web parsers' fuzz target (tests/fuzz/fuzz_web.c: query strings,
# cookies, bearer tokens, JSON bodies), briefly (tests/fuzz/run.sh): the
# replay driver, then libFuzzer if clang has it.
. "$(dirname "$0")/../lib.sh"
. "$top_srcdir/tests/fuzz/run.sh"
plan 4
FUZZ_LIBS="$(pkg-config --libs jansson)"
fuzz_run fuzz_web "$top_srcdir/tests/fuzz/web-corpus" web \
	tests/fuzz/fuzz_web.c web/parse.c lib/log.c lib/xalloc.c
exit 0
