#!/bin/bash
# Ingest rate of usage rows into PostgreSQL: vmeter's delivery path beside a
# plain COPY of the same rows into the same table, same run, same private
# cluster.  Prints figures; not a test.
#   bench/ingest.sh [VMS [MINUTES [BATCH [ROUNDS]]]]    (default 1000 60 5000 3)
. "$(dirname "$0")/../tests/lib.sh"
bin=$top_builddir/bench/vmeter-bench-ingest
[ -x "$bin" ] || make -C "$top_builddir" bench/vmeter-bench-ingest >/dev/null || bail "cannot build $bin"
ldd "$bin" | grep -q libasan && diag "warning: $bin is a sanitizer build; measure with a build configured without --enable-sanitizers"
start_postgres
"$bin" "$PG_CONNINFO" "${1:-1000}" "${2:-60}" "${3:-5000}" "${4:-3}"
