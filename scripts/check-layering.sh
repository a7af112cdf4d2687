#!/bin/sh
# lib/ is the shared core: it includes no program's headers, and no program
# includes another program's headers.  Fails naming each offending line.
#
# And lib/ holds only what is shared: a lib/ module whose header is
# included by one program directory alone (and by no other lib/ module)
# belongs in that program's directory; one included by none is dead.
# SHARED lists the exceptions, each with why it is in lib/ anyway.
top=${1:-.}
programs="collector admin aggregator billing reports web"

# module: why it stays in lib/ with fewer than two programs using it.
SHARED="
pgev:  libevent connection pool: the web UI's loop (07) and an async collector
query: readers of the usage tables: admin today; aggregator, billing, reports, web
maint: retention and partitions: admin today; the aggregator's scheduled upkeep (04)
spool: a crash-safe queue with opaque payloads, not tied to the collector's records
minpack: the packed form of closed hours' minute rows: maintain packs, readers unpack (docs/STORAGE.md)
money: exact amounts, rounding rules and splits: billing (12), and reports and web print them
cfgtree: block files with exact lines: billing plans (12) and aggregator rules (13)
doc: documents as HTML and PDF (pango, cairo): billing invoices (12) and reports (15)
"

fails="${TMPDIR:-/tmp}/layering.$$"
rm -f "$fails"
for dir in lib $programs; do
	[ -d "$top/$dir" ] || continue
	for f in "$top/$dir"/*.[ch]; do
		[ -f "$f" ] || continue
		grep -n '#include "' "$f" | while IFS= read -r line; do
			hdr=$(echo "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
			[ "$hdr" = config.h ] && continue
			case $hdr in */*)
				echo "$f:${line%%:*}: includes \"$hdr\" by path: headers come from $dir/ or lib/ only"
				echo x >>"$fails"
				continue;;
			esac
			[ -f "$top/$dir/$hdr" ] && continue
			[ -f "$top/lib/$hdr" ] && continue
			echo "$f:${line%%:*}: includes \"$hdr\", which is neither in $dir/ nor in lib/"
			echo x >>"$fails"
		done
	done
done

for h in "$top"/lib/*.h; do
	[ -f "$h" ] || continue
	mod=$(basename "$h" .h)
	users=""
	for dir in $programs; do
		[ -d "$top/$dir" ] || continue
		if grep -l "#include \"$mod.h\"" "$top/$dir"/*.[ch] >/dev/null 2>&1; then
			users="$users $dir"
		fi
	done
	set -- $users
	[ $# -ge 2 ] && continue
	# Used by another lib/ module: part of the core's own layering.
	for f in "$top"/lib/*.[ch]; do
		case $(basename "$f") in "$mod".[ch]) continue;; esac
		grep -q "#include \"$mod.h\"" "$f" && continue 2
	done
	echo "$SHARED" | grep -q "^$mod:" && continue
	if [ $# = 1 ]; then
		echo "lib/$mod.h: used by $1/ alone: move it to $1/, or list it in SHARED in $0 saying why"
	else
		echo "lib/$mod.h: used by no program: remove it, or list it in SHARED in $0 saying why"
	fi
	echo x >>"$fails"
done

if [ -f "$fails" ]; then
	rm -f "$fails"
	exit 1
fi
echo "layering: ok"
exit 0
