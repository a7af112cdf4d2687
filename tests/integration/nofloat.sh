#!/bin/bash
# No floating point where money is handled (issue 12): lib/money.c,
# lib/invoice*.c (billing's invoices and their exports), every billing/ source and the reports that print money (reports/chargeback*.c,
# reports/capacity_cost.c, reports/main.c; not forecast.c or capacity*.c
# otherwise, which fit curves and get their money as text from capacity_cost) compile with the FPU
# and vector registers forbidden
# (-mgeneral-regs-only), so a double anywhere in them, even a cast in a
# printf argument, is a compile error naming the line.  The check itself
# is checked: a file with a double must fail it.
. "$(dirname "$0")/../lib.sh"
# Each file is compiled by make with the build's own flags.
nofloat() { make -s -C "$top_builddir" nofloat-check NOFLOAT_FILE="$1" 2>&1; }
files=$(cd "$top_srcdir" && ls lib/money.c lib/invoice.c lib/invoice_db.c billing/*.c reports/chargeback*.c reports/capacity_cost.c reports/main.c 2>/dev/null)
plan $(($(echo "$files" | wc -w) + 1))

mkdir -p "$T/src"
printf 'long f(long x);\nlong f(long x) { double d = (double)x * 1.5; return (long)d; }\n' >"$T/src/float.c"
out=$(nofloat "$T/src/float.c")
[ $? != 0 ] && echo "$out" | grep -q "error: .*SSE"
ok $? "a double fails the check ($(echo "$out" | grep -m1 "error: .*SSE" | sed "s/.*error: //"))"
for f in $files; do
	out=$(nofloat "$top_srcdir/$f")
	ok $? "$f: no floating point${out:+: $out}"
done
