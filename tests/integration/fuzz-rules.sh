#!/bin/bash
# The rule file parser's fuzz target (tests/fuzz/fuzz_rules.c), briefly
# (tests/fuzz/run.sh): the replay driver over tests/data/rules (the good
# file with every option and the bad cases) and mutations of it, then
# libFuzzer if clang has it.
. "$(dirname "$0")/../lib.sh"
# A rule file's parse costs as much as a plan file's (fuzz-plan.sh).
: "${FUZZ_RUNS:=100000}"
# rules.c reads durations through settings.c, which reads vmeter.conf
# (libconfuse); action.c links the executors (libvirt, jansson).
FUZZ_LIBS="$(pkg-config --cflags libxml-2.0) -ljansson $(pkg-config --libs libvirt libxml-2.0) -lconfuse -lpthread"
. "$top_srcdir/tests/fuzz/run.sh"
plan 4
# The seeds: the good file with every option, and each case of bad.txt as
# a file of its own (one error each, tests/unit/test_rules.c).
mkdir -p "$T/seeds"
cp "$top_srcdir/tests/data/rules/good.conf" "$T/seeds/"
awk -v dir="$T/seeds" '/^=== / { n++; f = dir "/bad" n ".conf"; next } f { print > f }' \
	"$top_srcdir/tests/data/rules/bad.txt"
fuzz_run fuzz_rules "$T/seeds" aggregator \
	tests/fuzz/fuzz_rules.c aggregator/rules.c aggregator/expr.c aggregator/settings.c aggregator/action.c \
	aggregator/progrun.c aggregator/webhook.c aggregator/virtop.c aggregator/alert.c aggregator/series.c \
	lib/cfgtree.c lib/log.c lib/fsutil.c lib/xalloc.c lib/vtime.c lib/conf.c lib/netclass.c lib/domxml.c
exit 0
