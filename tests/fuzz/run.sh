# Sourced by tests/integration/fuzz-*.sh (after tests/lib.sh): a fuzz
# target, briefly: its replay driver (tests/fuzz/replay.c), built by make
# with the configured compiler and sanitizers, over the seed corpus and
# FUZZ_RUNS mutated inputs; then, if clang can build a libFuzzer target,
# libFuzzer with ASan and UBSan for FUZZ_SECONDS.  Passes if nothing
# crashed or broke an invariant; a crashing input is kept in the test
# directory and named.  Four test points.
#
#   fuzz_run NAME CORPUS "INCLUDE_DIRS" SOURCES...
#
# SOURCES: the target and the modules it needs, for the libFuzzer build
# (FUZZ_LIBS: the libraries they link, e.g. -ljansson)
# (which compiles them straight from the sources with this build's
# config.h).
: "${FUZZ_RUNS:=300000}"
: "${FUZZ_SECONDS:=20}"
: "${CLANG:=clang}"

fuzz_run() {
	_name=$1 _corpus=$2 _incs=$3
	shift 3
	_driver=$top_builddir/tests/fuzz/$_name
	[ -x "$_driver" ] || bail "$_driver is not built (make check builds it)"
	out=$("$_driver" -n "$FUZZ_RUNS" "$_corpus" 2>&1)
	ok $? "replay driver: seed corpus and $FUZZ_RUNS mutated inputs"
	[ $_failed = 0 ] || echo "$out" | tail -30 | sed 's/^/# /'
	out=$("$_driver" -n 20000 -s 12345 2>&1)
	ok $? "replay driver: 20000 inputs of noise and nothing else"

	_fuzzer=$T/$_name
	_log=$T/build.log
	if ! command -v "$CLANG" >/dev/null 2>&1; then
		echo "ok 3 - build with libFuzzer # SKIP $CLANG not installed"
		echo "ok 4 - run libFuzzer # SKIP $CLANG not installed"
		return 0
	fi
	_inc=
	for _d in $_incs; do _inc="$_inc -I$top_srcdir/$_d"; done
	_src=
	for _s in "$@"; do _src="$_src $top_srcdir/$_s"; done
	# shellcheck disable=SC2086
	"$CLANG" -std=gnu17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-DVM_LIBFUZZER -I"$top_builddir" -I"$top_srcdir/lib" $_inc $_src -o "$_fuzzer" ${FUZZ_LIBS:-} >"$_log" 2>&1
	rc=$?
	if [ $rc != 0 ] && grep -q 'libclang_rt.fuzzer\|fsanitize=fuzzer' "$_log"; then
		echo "ok 3 - build with libFuzzer # SKIP $CLANG has no libFuzzer runtime (libclang-rt-dev)"
		echo "ok 4 - run libFuzzer # SKIP no libFuzzer"
		return 0
	fi
	ok $rc "build with $CLANG -fsanitize=fuzzer,address,undefined"
	if [ $rc != 0 ]; then
		sed 's/^/# /' "$_log"
		ok 1 "run libFuzzer (not built)"
		return 0
	fi

	# New inputs go to a directory of the test's own, never into the source
	# tree's corpus (read-only under distcheck).
	mkdir -p "$T/corpus"
	(cd "$T" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$_fuzzer" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$T/" "$T/corpus" "$_corpus" >"$T/fuzz.log" 2>&1)
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/fuzz.log")
	ok $rc "libFuzzer for ${FUZZ_SECONDS}s: ${runs:-?} inputs, no crash"
	if [ $rc != 0 ]; then
		grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$T/fuzz.log" | head -20 | sed 's/^/# /'
		ls "$T"/crash-* "$T"/leak-* "$T"/timeout-* 2>/dev/null | sed 's/^/# kept: /'
	else
		diag "$(grep -E '^#[0-9]+.*DONE' "$T/fuzz.log" | tail -1)"
	fi
}
