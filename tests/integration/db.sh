#!/bin/bash
# lib/db.c against a real PostgreSQL: see tests/db_probe.c.
. "$(dirname "$0")/../lib.sh"
start_postgres
stdbuf -oL "$top_builddir/tests/db_probe" "$PG_CONNINFO"
