# A simulated fleet in PostgreSQL for the benchmarks (sourced after
# tests/lib.sh and start_postgres; bench/billing.sh, bench/web.sh):
#
#   fleet_pg_vms M0 VMS DAYS
#       VMS VMs on 10 hosts (VM v on host v % 10, "vm<v>", tenant
#       t<v % 20>, project p<v % 7>, uuid bbbbbbbb-0000-4000-8000-<v>),
#       started and inventoried an hour before M0; every 10th VM resized
#       on day 10 at 12:00:30 and every 13th moved to the next tenant on
#       day 20 at 08:00 (when DAYS reaches them), the daily partitions
#       from the day before M0 to the day after M0 + DAYS made.
#   fleet_pg_minutes M0 DAYS VMS
#       a usage row every minute of DAYS days from M0 for every VM
#       (`INSERT ... SELECT` a day at a time, the hours marked dirty as the
#       collector does), counters from a cheap hash of VM and minute.
#
# M0 is a timestamp PostgreSQL reads ("2026-10-01 00:00:00+00").
fleet_pg_vms() {
	_m0=$1 _vms=$2 _days=$3
	psql_q "SELECT vm_ensure_partitions('$_m0'::timestamptz - interval '1 day',
	        '$_m0'::timestamptz + ($_days + 1) * interval '1 day')" >/dev/null || bail "partitions"
	psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<EOSQL || bail "fleet"
INSERT INTO host (host_id, hostname) SELECT h, 'hv-' || h FROM generate_series(0, 9) h;
INSERT INTO vm (vm_id, uuid) SELECT v, ('bbbbbbbb-0000-4000-8000-' || lpad(v::text, 12, '0'))::uuid
  FROM generate_series(1, $_vms) v;
INSERT INTO vm_event (vm_id, host_id, at, event, detail)
  SELECT v, v % 10, '$_m0'::timestamptz - interval '1 hour', 'started', 'observed' FROM generate_series(1, $_vms) v;
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
                          tenant, project, cost_centre, owner_source, disks, digest)
  SELECT v, '$_m0'::timestamptz - interval '1 hour', v % 10, 'vm' || v, 1 + v % 4, 8, (1 + v % 8) * 1048576,
         (1 + v % 8) * 1048576, 't' || lpad((v % 20)::text, 2, '0'), 'p' || v % 7, '', 'metadata',
         jsonb_build_array(jsonb_build_object('target', 'vda', 'capacity', (10 + v % 50)::bigint << 30)), 'a' || v
    FROM generate_series(1, $_vms) v;
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
                          tenant, project, cost_centre, owner_source, disks, digest)
  SELECT v, '$_m0'::timestamptz + interval '9 days 12:00:30', v % 10, 'vm' || v, 2 + v % 4, 8, (2 + v % 8) * 1048576,
         (2 + v % 8) * 1048576, 't' || lpad((v % 20)::text, 2, '0'), 'p' || v % 7, '', 'metadata',
         jsonb_build_array(jsonb_build_object('target', 'vda', 'capacity', (10 + v % 50)::bigint << 30)), 'b' || v
    FROM generate_series(10, $_vms, 10) v WHERE $_days > 9;
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
                          tenant, project, cost_centre, owner_source, disks, digest)
  SELECT v, '$_m0'::timestamptz + interval '19 days 08:00', v % 10, 'vm' || v, 1 + v % 4, 8, (1 + v % 8) * 1048576,
         (1 + v % 8) * 1048576, 't' || lpad(((v + 1) % 20)::text, 2, '0'), 'p' || v % 7, '', 'metadata',
         jsonb_build_array(jsonb_build_object('target', 'vda', 'capacity', (10 + v % 50)::bigint << 30)), 'c' || v
    FROM generate_series(13, $_vms, 13) v WHERE $_days > 19 AND v % 10 <> 0;
EOSQL
}

fleet_pg_minutes() {
	_m0=$1 _days=$2 _vms=$3
	for _d in $(seq 0 $((_days - 1))); do
		psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >/dev/null <<EOSQL || bail "rows of day $_d"
BEGIN;
SELECT vm_mark_hours('vm_usage_minute', h, ARRAY(SELECT generate_series('$_m0'::timestamptz + interval '$_d days',
       '$_m0'::timestamptz + interval '$_d days 23:00', interval '1 hour'))) FROM generate_series(0, 9) h;
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, disk_rd_bytes, disk_wr_bytes,
                             disk_rd_reqs, disk_wr_reqs, net_rx_bytes, net_tx_bytes)
  SELECT v % 10, v, m, 60000, 6, ((v * 7919 + k) % 1000) * 60000000::bigint, ((v + k) % 97) * 4096,
         ((v * 3 + k) % 89) * 4096, (v + k) % 97, (v * 3 + k) % 89, ((v * 31 + k) % 1000) * 1500,
         ((v * 17 + k) % 1000) * 1500
    FROM generate_series(1, $_vms) v,
         generate_series(0, 1439) k, LATERAL (SELECT '$_m0'::timestamptz + interval '$_d days' + k * interval '1 minute' AS m) x;
COMMIT;
EOSQL
	done
}
