#!/bin/bash
# No floating point where money is handled (issue 12): lib/money.c and every
# billing/ source compile with the FPU and vector registers forbidden
# (-mgeneral-regs-only), so a double anywhere in them, even a cast in a
# printf argument, is a compile error naming the line.  The check itself
# is checked: a file with a double must fail it.
. "$(dirname "$0")/../lib.sh"
CC=${CC:-cc}
flags() { # the include paths and the -D's a billing source needs
	echo "-std=c17 -I$top_builddir -I$top_srcdir/lib -I$top_srcdir/billing"
	pkg-config --cflags libpq jansson libevent libconfuse 2>/dev/null
}
files=$(cd "$top_srcdir" && ls lib/money.c billing/*.c 2>/dev/null)
plan $(($(echo "$files" | wc -w) + 1))

printf 'long f(long x) { double d = x * 1.5; return (long)d; }\n' >"$T/float.c"
! $CC $(flags) -mgeneral-regs-only -c -o /dev/null "$T/float.c" 2>"$T/float.err"
ok $? "a double fails the check ($(grep -m1 "error:" "$T/float.err" | sed "s/.*error: //"))"
for f in $files; do
	out=$($CC $(flags) -mgeneral-regs-only -c -o /dev/null "$top_srcdir/$f" 2>&1)
	ok $? "$f: no floating point${out:+: $out}"
done
