# A small fleet with data for vmeter-web's pages and graphs (sourced by
# web-series.sh and web-browser.sh after start_postgres, start_rrdcached
# and migrate): two tenants (acme: web1, web2; beta: db1), two hosts,
# three hours of usage minutes and three days of hourly rollups, traffic by
# class, the aggregator's figures and classes, invoices (a final one last
# month, this month's drafts) with lines, kept reports, plans, and RRD files
# for web1 and db1 written through rrdcached (tests/rrd_probe: 60 samples
# 10 s apart, 0.5 cores, RSS 1 GiB).  Every number below is what the tests
# expect back.
U_WEB1=aaaaaaaa-0000-4000-8000-000000000001
U_WEB2=aaaaaaaa-0000-4000-8000-000000000002
U_DB1=bbbbbbbb-0000-4000-8000-000000000001

# web_fleet: PostgreSQL, rrdcached, a configuration with vmeter-web on a
# free port ($PORT, $URL), the schema, the fixtures below; web ARGS runs
# vmeter-web ($WEB) with it.
web_fleet() {
	start_postgres
	start_rrdcached
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	CONF_RRDCACHED="unix:$RRDCACHED_SOCK" write_conf "$T/vmeter.conf" "web {
  listen = \"127.0.0.1:$PORT\"
  ${WEB_CONF_EXTRA:-}
}"
	"$ADMIN" -c "$T/vmeter.conf" migrate >/dev/null || bail "migrate failed"
	web_fixtures
	WEB=$top_builddir/web/vmeter-web
}
web() { "$WEB" -c "$T/vmeter.conf" "$@"; }
web_fixtures() {
	psql_q "SELECT vm_ensure_partitions(now() - interval '40 days', now() + interval '2 days')" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" >"$T/fixtures.log" 2>&1 <<EOSQL || { cat "$T/fixtures.log"; bail "fixtures"; }
INSERT INTO host (host_id, hostname) VALUES (1, 'hv1'), (2, 'hv2');
INSERT INTO host_inventory VALUES (1, now() - interval '30 days', 16, 2400, 67108864, 'EPYC', 1, 1, 8, 2),
       (2, now() - interval '30 days', 32, 2400, 134217728, 'EPYC', 2, 2, 8, 2);
INSERT INTO vm (vm_id, uuid) VALUES (1, '$U_WEB1'), (2, '$U_WEB2'), (3, '$U_DB1');
INSERT INTO owner (owner_id, tenant, project, cost_centre) VALUES (1, 'acme', 'shop', ''), (2, 'beta', 'data', '');
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
       tenant, project, cost_centre, owner_source, digest, tags) VALUES
  (1, now() - interval '30 days', 1, 'web1', 2, 2, 4194304, 4194304, 'acme', 'shop', '', 'config', 'd1', '{"role": "frontend"}'),
  (2, now() - interval '30 days', 2, 'web2', 2, 2, 4194304, 4194304, 'acme', 'shop', '', 'config', 'd2', '{"role": "frontend"}'),
  (3, now() - interval '30 days', 1, 'db1', 4, 4, 8388608, 8388608, 'beta', 'data', '', 'config', 'd3', '{"role": "db"}');
INSERT INTO vm_event (vm_id, host_id, at, event)
  SELECT vm_id, CASE vm_id WHEN 2 THEN 2 ELSE 1 END, now() - interval '30 days', 'started' FROM vm;
-- minutes of the last three hours: web1 at 25 % of its 2 vCPUs, web2 at
-- 50 %, db1 at 75 % of its 4; 1 GiB RSS; 1 MB/s of disk reads
INSERT INTO vm_usage_minute (host_id, vm_id, minute, coverage_ms, samples, cpu_ns, vcpu_delay_ns, vcpus_avg,
       vcpus_max, mem_max_kib_avg, mem_max_kib_max, rss_kib_avg, rss_kib_max, disk_rd_bytes, net_rx_bytes, net_tx_bytes)
  SELECT CASE v WHEN 2 THEN 2 ELSE 1 END, v, m, 60000, 6,
         (CASE v WHEN 1 THEN 30 WHEN 2 THEN 60 ELSE 180 END)::bigint * 1000000000, 600000000,
         CASE v WHEN 3 THEN 4 ELSE 2 END, CASE v WHEN 3 THEN 4 ELSE 2 END,
         CASE v WHEN 3 THEN 8388608 ELSE 4194304 END, CASE v WHEN 3 THEN 8388608 ELSE 4194304 END,
         1048576, 1048576, 60000000, 6000000, 3000000
    FROM generate_series(1, 3) v,
         generate_series(date_trunc('minute', now()) - interval '180 minutes', date_trunc('minute', now()) - interval '1 minute',
                         interval '1 minute') m;
INSERT INTO host_usage_minute (host_id, minute, coverage_ms, samples, cpu_capacity_ns, cpu_busy_ns, cpu_user_ns,
       cpu_system_ns, cpu_iowait_ns, mem_total_kib_avg, mem_free_kib_avg, mem_cached_kib_avg, vm_mem_kib_avg,
       vms_running_avg, vcpus_running_avg)
  SELECT h, m, 60000, 6, 960000000000 * h, 240000000000 * h, 180000000000 * h, 60000000000 * h, 0,
         67108864 * h, 33554432 * h, 0, 12582912, 2, 6
    FROM generate_series(1, 2) h,
         generate_series(date_trunc('minute', now()) - interval '180 minutes', date_trunc('minute', now()) - interval '1 minute',
                         interval '1 minute') m;
-- hourly rollups of the three days before those minutes: web1 at 40 %
INSERT INTO vm_usage_hour (vm_id, host_id, hour, owner_id, minutes, coverage_ms, samples, late, cpu_ns, vcpus_int,
       vcpus_ms, vcpus_max, rss_kib_int, rss_kib_ms, rss_kib_max, disk_rd_bytes)
  SELECT v, CASE v WHEN 2 THEN 2 ELSE 1 END, h, CASE v WHEN 3 THEN 2 ELSE 1 END, 60, 3600000, 360, 0,
         (CASE v WHEN 1 THEN 2880 WHEN 2 THEN 3600 ELSE 7200 END)::bigint * 1000000000,
         (CASE v WHEN 3 THEN 4 ELSE 2 END)::numeric * 3600000, 3600000, CASE v WHEN 3 THEN 4 ELSE 2 END,
         1048576::numeric * 3600000, 3600000, 2097152, 3600000000
    FROM generate_series(1, 3) v,
         generate_series(date_trunc('hour', now()) - interval '76 hours', date_trunc('hour', now()) - interval '4 hours',
                         interval '1 hour') h;
-- as vmeter-admin maintain leaves it: the rolled-up hours closed and
-- clean, the hours of the minutes after them (the minutes' inserts marked
-- theirs dirty)
UPDATE rollup_state SET closed_upto = date_trunc('hour', now()) - interval '3 hours';
INSERT INTO vm_traffic_minute (vm_id, minute, host_id, class, rx_bytes, tx_bytes, rx_packets, tx_packets)
  SELECT 1, m, 1, c, 600000, 120000, 600, 120
    FROM unnest(ARRAY['internet', 'internal']) c,
         generate_series(date_trunc('minute', now()) - interval '180 minutes', date_trunc('minute', now()) - interval '1 minute',
                         interval '1 minute') m;
-- the aggregator's figures and classes
INSERT INTO agg_cycle (cycle_at, window_end, vms, hosts, changes) VALUES (date_trunc('minute', now()), date_trunc('minute', now()), 3, 2, 2);
INSERT INTO agg_vm_figures (vm_id, host_id, window_from, window_to, judged_at, observed_ms, unknown_ms, coverage_bp,
       vcpus, cpu_alloc_bp, cpu_host_bp, delay_bp, used_alloc_bp, rss_host_bp, disk_rd_bps, disk_wr_bps, net_rx_bps, net_tx_bps)
  VALUES (1, 1, now() - interval '1 hour', now(), now(), 3600000, 0, 10000, 2, 2500, 312, 50, 3000, 156, 1000000, 0, 100000, 50000),
         (2, 2, now() - interval '1 hour', now(), now(), 3600000, 0, 10000, 2, 5000, 312, 10, 4000, 78, 1000000, 0, 100000, 50000),
         (3, 1, now() - interval '1 hour', now(), now(), 3600000, 0, 10000, 4, 7500, 1875, 900, 8000, 156, 1000000, 0, 100000, 50000);
INSERT INTO agg_host_figures (host_id, window_from, window_to, judged_at, observed_ms, coverage_bp, cpus, mem_total_kib,
       busy_bp, demand_bp, vcpu_ratio_bp, mem_ratio_bp, vms, delay_bp)
  VALUES (1, now() - interval '1 hour', now(), now(), 3600000, 10000, 16, 67108864, 2500, 2200, 3750, 9400, 2, 300),
         (2, now() - interval '1 hour', now(), now(), 3600000, 10000, 32, 134217728, 6100, 6000, 625, 300, 1, 10);
INSERT INTO agg_vm_class (vm_id, dimension, class, since, judged_at, window_from, window_to, host_id, evidence) VALUES
  (1, 'size', 'oversized', now() - interval '2 hours', now(), now() - interval '1 hour', now(), 1, '{"cpu_p95_bp": 2500}'),
  (2, 'size', 'right-sized', now() - interval '2 hours', now(), now() - interval '1 hour', now(), 2, '{}'),
  (3, 'contention', 'starved', now() - interval '1 hour', now(), now() - interval '1 hour', now(), 1, '{"delay_bp": 900}');
INSERT INTO agg_vm_class_change (vm_id, dimension, at, from_class, to_class, evidence) VALUES
  (1, 'size', now() - interval '2 hours', 'right-sized', 'oversized', '{}'),
  (3, 'contention', now() - interval '1 hour', 'ok', 'starved', '{}');
-- billing: plans, tenants, a final invoice last month and this month's drafts
INSERT INTO bill_source (file, body, digest) VALUES ('plans.conf', 'plan standard { currency = EUR }', 'x1');
INSERT INTO bill_version (version_id, plan, label, digest, currency, description) VALUES
  (1, 'standard', 'v1', 'x1', 'EUR', 'the standard plan'), (2, 'bulk', 'v1', 'x2', 'EUR', 'the bulk plan');
INSERT INTO bill_tenant VALUES ('acme', 'EUR', 'UTC', false), ('beta', 'EUR', 'UTC', false);
INSERT INTO bill_rated (tenant, day, vm_id, project, version_id, charge, meter, qty) VALUES
  ('acme', current_date, 1, 'shop', 1, 0, 'vcpu', 120), ('beta', current_date, 3, 'data', 2, 0, 'vcpu', 240);
INSERT INTO bill_invoice (invoice_id, kind, state, tenant, period, period_from, period_to, currency, time_zone, rounding,
       number, total, finalised_at) VALUES
  (201, 'invoice', 'draft', 'acme', date_trunc('month', now() - interval '1 month')::date,
   date_trunc('month', now() - interval '1 month'), date_trunc('month', now()), 'EUR', 'UTC', 'half-even', NULL,
   12340000000, NULL),
  (202, 'invoice', 'draft', 'acme', date_trunc('month', now())::date, date_trunc('month', now()),
   date_trunc('month', now()) + interval '1 month', 'EUR', 'UTC', 'half-even', NULL, 5670000000, NULL),
  (203, 'invoice', 'draft', 'beta', date_trunc('month', now())::date, date_trunc('month', now()),
   date_trunc('month', now()) + interval '1 month', 'EUR', 'UTC', 'half-even', NULL, 8900000000, NULL);
INSERT INTO bill_line (invoice_id, line_no, kind, project, vm_id, vm_name, meter, qty, per, unit, rate, amount, plan, version)
  VALUES (201, 1, 'usage', 'shop', 1, 'web1', 'vcpu', 8640000, 60, 'vcpu-hour', 85000000, 12240000000, 'standard', 'v1'),
         (201, 2, 'usage', 'shop', 2, 'web2', 'vcpu', 60000, 60, 'vcpu-hour', 100000000, 100000000, 'standard', 'v1'),
         (202, 1, 'usage', 'shop', 1, 'web1', 'vcpu', 1000, 60, 'vcpu-hour', 340200000, 5670000000, 'standard', 'v1'),
         (203, 1, 'usage', 'data', 3, 'db1', 'vcpu', 2000, 60, 'vcpu-hour', 267000000, 8900000000, 'bulk', 'v1');
UPDATE bill_invoice SET state = 'final', number = 'INV-201', finalised_at = now() WHERE invoice_id = 201;
INSERT INTO report_file (kind, tenant, period, format, source, body) VALUES
  ('chargeback', 'acme', date_trunc('month', now() - interval '1 month')::date, 'csv', 'invoice 201 (INV-201)',
   convert_to(E'tenant,total\nacme,12.34\n', 'UTF8')),
  ('chargeback', 'beta', date_trunc('month', now() - interval '1 month')::date, 'csv', 'invoice 9',
   convert_to(E'tenant,total\nbeta,99.00\n', 'UTF8')),
  ('capacity', '', date_trunc('month', now() - interval '1 month')::date, 'html', 'the rollups',
   convert_to('<html><body>fleet db1 web1</body></html>', 'UTF8'));
EOSQL
	# RRD files of web1 and db1 through rrdcached, ending a minute ago
	start=$(($(date +%s) - 660))
	for u in $U_WEB1 $U_DB1; do
		"$top_builddir/tests/rrd_probe" write "$T/rrd" "unix:$RRDCACHED_SOCK" "vm-$u" "$start" >"$T/probe.log" 2>&1 ||
			{ cat "$T/probe.log"; bail "rrd_probe write vm-$u"; }
	done
}
