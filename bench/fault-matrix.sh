#!/bin/sh
# The fault matrix of issue "Every VM-minute accounted for", long form:
# 50 test-driver domains behind libvirtd at 2 s, 3 SIGTERM restarts inside
# minutes, 10 SIGKILLs (5 within 0.4 s after a minute boundary, 5 at random
# moments, restarts 2-8 s later), libvirtd down 45 s and 400 s.  Reconciles
# per VM the stored CPU ns, disk and network bytes with libvirt's counters
# from the first sample to the last (exactly), per (VM, minute) one row,
# and no loss recorded.  Prints TAP; exits non-zero on a failure.
#   VMS=50 TERMS=3 KILLS=10 OUTAGES="45 400" bench/fault-matrix.sh
# Takes about 15 minutes.  Needs root (libvirtd) and a built tree
# (VMETER_BUILD=DIR, default the source tree).
top=$(cd "$(dirname "$0")/.." && pwd)
export top_srcdir="$top" top_builddir="${VMETER_BUILD:-$top}"
export VMS="${VMS:-50}" TERMS="${TERMS:-3}" KILLS="${KILLS:-10}" OUTAGES="${OUTAGES:-45 400}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:verify_asan_link_order=0}"
start=$(date +%s)
bash "$top/tests/integration/restart.sh"
rc=$?
echo "# fault matrix: VMS=$VMS TERMS=$TERMS KILLS=$KILLS OUTAGES='$OUTAGES': $(($(date +%s) - start)) s, exit $rc"
exit $rc
