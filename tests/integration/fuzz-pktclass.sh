#!/bin/bash
# The packet classifier's fuzz target (tests/fuzz/fuzz_pktclass.c), briefly:
# its replay driver, built by make with the configured compiler and
# sanitizers, over the seed corpus and FUZZ_RUNS mutated inputs; then, if
# clang can build a libFuzzer target, libFuzzer with ASan and UBSan for
# FUZZ_SECONDS.  Passes if nothing crashed or broke an invariant; a
# crashing input is kept in the test directory and named.
. "$(dirname "$0")/../lib.sh"
plan 4

: "${FUZZ_RUNS:=300000}"
: "${FUZZ_SECONDS:=20}"
: "${CLANG:=clang}"
DRIVER=$top_builddir/tests/fuzz/fuzz_pktclass
CORPUS=$top_srcdir/tests/fuzz/corpus

[ -x "$DRIVER" ] || bail "$DRIVER is not built (make check builds it)"
out=$("$DRIVER" -n "$FUZZ_RUNS" "$CORPUS" 2>&1)
ok $? "replay driver: seed corpus and $FUZZ_RUNS mutated inputs"
[ $_failed = 0 ] || echo "$out" | tail -30 | sed 's/^/# /'
out=$("$DRIVER" -n 20000 -s 12345 2>&1)
ok $? "replay driver: 20000 inputs of noise and nothing else"

# The libFuzzer build compiles the target and the two modules it needs
# (plus xalloc) straight from the sources, with config.h of this build.
FUZZER=$T/fuzz_pktclass
build_log=$T/build.log
if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "ok 3 - build with libFuzzer # SKIP $CLANG not installed"
	echo "ok 4 - run libFuzzer # SKIP $CLANG not installed"
	exit 0
fi
"$CLANG" -std=gnu17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-DVM_LIBFUZZER -I"$top_builddir" -I"$top_srcdir/lib" -I"$top_srcdir/collector" \
	"$top_srcdir/tests/fuzz/fuzz_pktclass.c" "$top_srcdir/collector/pktclass.c" "$top_srcdir/lib/netclass.c" \
	"$top_srcdir/lib/xalloc.c" -o "$FUZZER" >"$build_log" 2>&1
rc=$?
if [ $rc != 0 ] && grep -q 'libclang_rt.fuzzer\|fsanitize=fuzzer' "$build_log"; then
	echo "ok 3 - build with libFuzzer # SKIP $CLANG has no libFuzzer runtime (libclang-rt-dev)"
	echo "ok 4 - run libFuzzer # SKIP no libFuzzer"
	exit 0
fi
ok $rc "build with $CLANG -fsanitize=fuzzer,address,undefined"
if [ $rc != 0 ]; then
	sed 's/^/# /' "$build_log"
	ok 1 "run libFuzzer (not built)"
	exit 0
fi

# New inputs go to a directory of the test's own, never into the source
# tree's corpus (read-only under distcheck).
mkdir -p "$T/corpus"
(cd "$T" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$FUZZER" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$T/" "$T/corpus" "$CORPUS" >"$T/fuzz.log" 2>&1)
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/fuzz.log")
ok $rc "libFuzzer for ${FUZZ_SECONDS}s: ${runs:-?} inputs, no crash"
if [ $rc != 0 ]; then
	grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$T/fuzz.log" | head -20 | sed 's/^/# /'
	ls "$T"/crash-* "$T"/leak-* "$T"/timeout-* 2>/dev/null | sed 's/^/# kept: /'
else
	diag "$(grep -E '^#[0-9]+.*DONE' "$T/fuzz.log" | tail -1)"
fi
exit 0
