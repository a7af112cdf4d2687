#!/bin/bash
# scripts/check-layering.sh on small trees: an include across programs, and
# a lib/ module only one program uses, fail naming the file; a module two
# programs use, or one in the script's SHARED list, passes.
. "$(dirname "$0")/../lib.sh"
plan 5
check=$top_srcdir/scripts/check-layering.sh

sh "$check" "$top_srcdir" >/dev/null
ok $? "the source tree passes"

mk() { mkdir -p "$T/$1/lib" "$T/$1/collector" "$T/$1/admin"; }
mk two
echo '#include "shared.h"' >"$T/two/collector/a.c"
echo '#include "shared.h"' >"$T/two/admin/b.c"
: >"$T/two/lib/shared.h"
sh "$check" "$T/two" >/dev/null
ok $? "a lib/ module two programs include passes"

mk one
echo '#include "mine.h"' >"$T/one/collector/a.c"
: >"$T/one/lib/mine.h"
out=$(sh "$check" "$T/one" 2>&1)
is "$?" 1 "a lib/ module one program alone includes fails"
echo "$out" | grep -q "lib/mine.h: used by collector/ alone"
ok $? "naming the module and the program: $out"

mk listed
echo '#include "spool.h"' >"$T/listed/collector/a.c"
: >"$T/listed/lib/spool.h"
sh "$check" "$T/listed" >/dev/null
ok $? "a module of the SHARED list passes with one user"
