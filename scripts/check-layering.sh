#!/bin/sh
# lib/ is the shared core: it includes no program's headers, and no program
# includes another program's headers.  Fails naming each offending line.
top=${1:-.}
rc=0
for dir in lib collector admin aggregator billing reports web; do
	[ -d "$top/$dir" ] || continue
	for f in "$top/$dir"/*.[ch]; do
		[ -f "$f" ] || continue
		grep -n '#include "' "$f" | while IFS= read -r line; do
			hdr=$(echo "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
			[ "$hdr" = config.h ] && continue
			case $hdr in */*)
				echo "$f:${line%%:*}: includes \"$hdr\" by path: headers come from $dir/ or lib/ only"
				echo x >>"${TMPDIR:-/tmp}/layering.$$"
				continue;;
			esac
			[ -f "$top/$dir/$hdr" ] && continue
			[ -f "$top/lib/$hdr" ] && continue
			echo "$f:${line%%:*}: includes \"$hdr\", which is neither in $dir/ nor in lib/"
			echo x >>"${TMPDIR:-/tmp}/layering.$$"
		done
	done
done
if [ -f "${TMPDIR:-/tmp}/layering.$$" ]; then rm -f "${TMPDIR:-/tmp}/layering.$$"; rc=1; fi
[ $rc = 0 ] && echo "layering: ok"
exit $rc
