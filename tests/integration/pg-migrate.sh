#!/bin/bash
# `vmeter-admin migrate` run several times at once on an empty database
# (lib/pg.c's vm_pg_migrate(): an advisory lock around the run): all
# succeed, each migration is applied once, and the ones that waited find
# nothing left to do.
. "$(dirname "$0")/../lib.sh"
plan 10
start_postgres
write_conf "$T/vmeter.conf"
N=$(ls "$top_srcdir"/sql/[0-9][0-9][0-9]_*.sql | sed 's:.*/0*\([0-9]*\)_.*:\1:' | sort -n | tail -1)
migrate() { "$ADMIN" -c "$1" migrate >"$2" 2>&1; echo $? >"$2.rc"; }

# 1. Someone holds the lock: both migrates wait for it, apply nothing
# meanwhile, and once it is released one applies everything.
psql -X -q "host=$T dbname=vmeter user=vmeter" -c "SELECT pg_advisory_lock(130225626703218)" \
	-c "SELECT pg_sleep(3)" >/dev/null 2>&1 &
HOLDER=$!
_pids="$_pids $HOLDER"
wait_for "the lock to be held" 30 sh -c "[ \"\$(psql -X -A -t 'host=$T dbname=vmeter user=vmeter' -c \
	\"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted\")\" = 1 ]"
migrate "$T/vmeter.conf" "$T/m1.out" &
P1=$!
migrate "$T/vmeter.conf" "$T/m2.out" &
P2=$!
wait_for "both migrates to wait for the lock" 30 sh -c "[ \"\$(psql -X -A -t 'host=$T dbname=vmeter user=vmeter' -c \
	\"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted\")\" = 2 ]"
is "$(psql_q "SELECT to_regclass('schema_migrations') IS NULL")" t "while the lock is held, nothing is applied"
wait "$HOLDER" "$P1" "$P2"
is "$(cat "$T/m1.out.rc") $(cat "$T/m2.out.rc")" "0 0" "both migrates succeed"
cat "$T/m1.out" "$T/m2.out" | sed 's/^/# /'
is "$(cat "$T/m1.out" "$T/m2.out" | grep -c "schema migrated from version 0 to $N")" 1 "one applies the migrations"
is "$(cat "$T/m1.out" "$T/m2.out" | grep -c "schema is up to date (version $N)")" 1 \
	"the other waited, then found nothing left to do"
is "$(psql_q "SELECT count(*) || ' ' || count(DISTINCT version) || ' ' || max(version) FROM schema_migrations")" \
	"$N $N $N" "each migration is recorded once"

# 2. A plain race: four at once on another empty database.
psql_q postgres "CREATE DATABASE race" >/dev/null || bail "createdb failed"
sed "s/dbname=vmeter/dbname=race/" "$T/vmeter.conf" >"$T/race.conf"
for i in 1 2 3 4; do migrate "$T/race.conf" "$T/r$i.out" & done
wait
is "$(cat "$T"/r[1-4].out.rc | tr -d '\n')" "0000" "four migrates at once all succeed"
cat "$T"/r[1-4].out | sed 's/^/# /'
is "$(cat "$T"/r[1-4].out | grep -c "schema migrated from version 0 to $N")" 1 "exactly one applies anything"
is "$(psql_q race "SELECT count(*) || ' ' || count(DISTINCT version) FROM schema_migrations")" "$N $N" \
	"each migration is recorded once"
# The schema is whole: the tables of the last migration are there.
is "$(psql_q race "SELECT count(*) FROM vm_usage_minute")" 0 "the schema is usable"
# The usage readers' plans are not JIT-compiled (sql/007_billing.sql).
is "$(psql_q race "SHOW jit")" off "new sessions of the database run without JIT"
