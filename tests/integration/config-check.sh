#!/bin/bash
# Configuration checks through the programs: -n on good and bad files,
# error messages with file:line, and the example configuration.
. "$(dirname "$0")/../lib.sh"
plan 14

out=$("$COLLECTOR" -n -c "$top_srcdir/etc/vmeter.conf.example" 2>&1)
ok $? "the shipped example configuration passes -n"
echo "$out" | grep -q "configuration ok"
ok $? "-n says the configuration is ok"

printf 'collector {\n  interval = 10\n  intervall = 5\n}\n' >"$T/typo.conf"
out=$("$COLLECTOR" -n -c "$T/typo.conf" 2>&1)
is "$?" 1 "-n fails on an unknown key"
echo "$out" | grep -q "typo.conf:3" && echo "$out" | grep -q "intervall"
ok $? "the error names file:line and the unknown key: $out"

printf 'collector {\n  interval = 0\n}\n' >"$T/range.conf"
out=$("$COLLECTOR" -n -c "$T/range.conf" 2>&1)
echo "$out" | grep -q "range.conf:2" && echo "$out" | grep -q "interval"
ok $? "an out-of-range value names file:line and the option: $out"
for v in 0 17; do
	printf 'collector {\n  libvirt-threads = %s\n}\n' "$v" >"$T/threads.conf"
	out=$("$COLLECTOR" -n -c "$T/threads.conf" 2>&1)
	rc=$?
	echo "$out" | grep -q "threads.conf:2" && echo "$out" | grep -q "libvirt-threads"
	is "$rc $?" "1 0" "collector.libvirt-threads = $v is refused naming file:line and the option: $out"
done

printf 'collector {\n  rrdcached = "localhost:42217"\n}\n' >"$T/tcp.conf"
out=$("$COLLECTOR" -n -c "$T/tcp.conf" 2>&1)
echo "$out" | grep -qi "rrdcached"
ok $? "a TCP rrdcached address is refused: $out"

out=$("$COLLECTOR" -n -c "$T/missing.conf" 2>&1)
echo "$out" | grep -q "missing.conf"
ok $? "a missing file is named: $out"

out=$("$ADMIN" -c "$T/typo.conf" vms 2>&1)
echo "$out" | grep -q "typo.conf:3"
ok $? "vmeter-admin reads the same format and reports the same error"

out=$("$ADMIN" -n -c "$top_srcdir/etc/vmeter.conf.example" 2>&1)
ok $? "vmeter-admin -n accepts the example: $out"
"$ADMIN" -c "$T/range.conf" -n >/dev/null 2>&1
is "$?" 1 "vmeter-admin -n fails on a bad file"

# Other programs' sections are theirs to check: the collector skips them,
# options it would not know included; a section no program owns is an error.
printf 'collector {\n  interval = 10\n}\naggregator {\n  window = 600\n}\nbilling {\n  currency = "EUR"\n}\n' >"$T/programs.conf"
out=$("$COLLECTOR" -n -c "$T/programs.conf" 2>&1)
ok $? "-n skips the sections of other programs: $out"
printf 'collector {\n  interval = 10\n}\naggregater {\n  window = 600\n}\n' >"$T/nosuch.conf"
out=$("$COLLECTOR" -n -c "$T/nosuch.conf" 2>&1)
echo "$out" | grep -q "nosuch.conf:4" && echo "$out" | grep -q "aggregater"
ok $? "a section no program owns names file:line: $out"
