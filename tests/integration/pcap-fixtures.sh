#!/bin/bash
# The pcap files of tests/data/pcap and their .expected counts are what
# tests/pcap_gen writes: regenerate them and compare byte for byte, so that
# the fixtures tests/unit/test_pktclass.c replays never drift from the
# generator that states what is in them.  After changing the generator:
#   tests/pcap_gen tests/data/pcap
. "$(dirname "$0")/../lib.sh"

# libpcap writes files in the host's byte order; the fixtures are little-endian.
if [ "$(printf '\001\000' | od -An -tu2 | tr -d ' ')" != 1 ]; then
	echo "1..0 # SKIP big-endian host"
	exit 0
fi
GEN=$top_builddir/tests/pcap_gen
DATA=$top_srcdir/tests/data/pcap
[ -x "$GEN" ] || bail "$GEN is not built (make check builds it)"
files=$(cd "$DATA" && ls *.pcap *.expected)
plan $(($(echo "$files" | wc -l) + 2))

mkdir -p "$T/pcap"
"$GEN" "$T/pcap" 2>"$T/gen.log"
ok $? "pcap_gen writes the fixtures"
[ $_failed = 0 ] || sed 's/^/# /' "$T/gen.log"
is "$(cd "$T/pcap" && ls *.pcap *.expected | tr '\n' ' ')" "$(echo $files) " "the tree holds every file pcap_gen writes"
for f in $files; do
	cmp -s "$DATA/$f" "$T/pcap/$f"
	ok $? "tests/data/pcap/$f is what pcap_gen writes"
done
