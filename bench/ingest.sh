#!/bin/bash
# Ingest rate of usage rows into PostgreSQL: vmeter's whole delivery path
# (spool read, database, delivery mark, acknowledgement) beside a plain COPY
# of the same rows into the same table, same run, same private cluster,
# alternating which goes first.  Prints each round's ratio and the median;
# not a test.  Run from a checkout (or set top_builddir to a build tree).
#   bench/ingest.sh [VMS [MINUTES [BATCH [ROUNDS]]]]    (default 1000 60 5000 5)
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib.sh"
bin=$top_builddir/bench/vmeter-bench-ingest
make -C "$top_builddir" bench/vmeter-bench-ingest >/dev/null || bail "cannot build $bin"
ldd "$bin" | grep -q libasan && diag "warning: $bin is a sanitizer build; measure with a build configured without --enable-sanitizers"
diag "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
start_postgres
mkdir -p "$T/spool"
chown postgres "$T" 2>/dev/null
"$bin" "$PG_CONNINFO" "$T/spool/ingest" "${1:-1000}" "${2:-60}" "${3:-5000}" "${4:-5}" || bail "vmeter-bench-ingest failed"
diag "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
