#!/bin/sh
# The fault matrix of issue "Every VM-minute accounted for", long form.
#
#   tests/integration/restart.sh with VMS=50 TERMS=3 KILLS=10 OUTAGES="45 400":
#     50 test-driver domains behind libvirtd at 2 s; SIGTERM restarts inside
#     minutes; SIGKILLs, every other one within 0.4 s after a minute boundary,
#     restarts 2-8 s later; libvirtd down 45 s and 400 s.  Per VM the stored
#     CPU ns, disk and network bytes equal libvirt's counters from the first
#     sample to the last, exactly; per (VM, minute) one row; nothing lost.
#   tests/integration/durable.sh: kills with the database away, a full spool
#     (losses recorded), an owner change made while the spool is full.
#   tests/integration/durable-damage.sh: damaged spool records.
#   tests/integration/durable-header.sh: a segment with a damaged header.
#
# Prints each test's TAP and one line per test; exits non-zero on a failure.
# Takes about 20 minutes.  Needs root (libvirtd, tmpfs) and a built tree
# (VMETER_BUILD=DIR, default the source tree).
top=$(cd "$(dirname "$0")/.." && pwd)
export top_srcdir="$top" top_builddir="${VMETER_BUILD:-$top}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:verify_asan_link_order=0}"
rc=0
summary=""
run() { # run NAME ENV... -- each test in a shell of its own
	name=$1
	shift
	start=$(date +%s)
	out=$(env "$@" bash "$top/tests/integration/$name" 2>&1)
	r=$?
	echo "$out"
	pass=$(echo "$out" | grep -c '^ok ')
	fail=$(echo "$out" | grep -c '^not ok ')
	echo "$out" | grep -q '^Bail out' && fail=$((fail + 1))
	[ "$r" = 0 ] && [ "$fail" = 0 ] || rc=1
	summary="$summary
$name $*: $pass passed, $fail failed, $(($(date +%s) - start)) s"
}
run restart.sh VMS="${VMS:-50}" TERMS="${TERMS:-3}" KILLS="${KILLS:-10}" OUTAGES="${OUTAGES:-45 400}"
run durable.sh
run durable-damage.sh
run durable-header.sh
echo "# fault matrix:$summary" | sed '2,$s/^/#   /'
exit $rc
