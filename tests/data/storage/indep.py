# Independent sums over the raw rows, as SQL views (tests/integration/
# storage.sh, query.sh): raw minutes, the owner by a lateral lookup of the
# inventory in force at the middle of each minute (or the VM's first), the
# range in the settings t.f and t.t.  Nothing here uses the rollups or
# schema 5's reader functions.
C = ("cpu_ns cpu_user_ns cpu_system_ns vcpu_ns vcpu_delay_ns vcpu_wait_ns running_ms disk_rd_bytes disk_wr_bytes "
     "disk_rd_reqs disk_wr_reqs disk_rd_ns disk_wr_ns disk_fl_reqs disk_fl_ns net_rx_bytes net_tx_bytes "
     "net_rx_pkts net_tx_pkts net_rx_errs net_tx_errs net_rx_drop net_tx_drop").split()
G = "vcpus mem_max_kib balloon_kib rss_kib usable_kib available_kib unused_kib disk_capacity_bytes disk_allocation_bytes".split()
HC = "cpu_capacity_ns cpu_busy_ns cpu_user_ns cpu_system_ns cpu_iowait_ns cpu_idle_ns".split()
HG = "cpus mem_total_kib mem_free_kib mem_cached_kib vms_running vcpus_running vm_mem_kib".split()
own = ("LEFT JOIN LATERAL (SELECT owner_id FROM ((SELECT 0 AS pri, owner_id FROM vm_inventory o "
       "WHERE o.vm_id = {t}.vm_id AND o.valid_from <= {t}.minute + interval '30 seconds' ORDER BY o.valid_from DESC LIMIT 1) "
       "UNION ALL (SELECT 1, owner_id FROM vm_inventory o WHERE o.vm_id = {t}.vm_id "
       "AND o.valid_from > {t}.minute + interval '30 seconds' ORDER BY o.valid_from LIMIT 1)) b ORDER BY pri LIMIT 1) i ON true")
def aggs(C, G, a):
    e = ["sum(%s.%s)::bigint AS %s" % (a, c, c) for c in C]
    for g in G:
        e += ["sum(%s.%s_avg::numeric * %s.coverage_ms) AS %s_int" % (a, g, a, g),
              "(sum(%s.coverage_ms) FILTER (WHERE %s.%s_avg IS NOT NULL))::bigint AS %s_ms" % (a, a, g, g),
              "max(%s.%s_max) AS %s_max" % (a, g, g)]
    return ", ".join(e)
# per (vm, host, owner) over [:f, :t): usage with the lost ms of the loss rows
print("CREATE OR REPLACE VIEW indep_usage AS WITH u AS (SELECT m.vm_id, m.host_id, coalesce(i.owner_id, 0) AS owner_id, "
      "count(*)::bigint AS minutes, sum(m.coverage_ms)::bigint AS coverage_ms, sum(m.samples)::bigint AS samples, "
      "sum(m.late)::bigint AS late, %s FROM vm_usage_minute m %s "
      "WHERE m.minute >= current_setting('t.f')::timestamptz AND m.minute < current_setting('t.t')::timestamptz "
      "GROUP BY 1, 2, 3), l AS (SELECT l.vm_id, l.host_id, coalesce(i.owner_id, 0) AS owner_id, sum(l.lost_ms)::bigint AS lost_ms "
      "FROM vm_usage_loss l %s WHERE l.minute >= current_setting('t.f')::timestamptz "
      "AND l.minute < current_setting('t.t')::timestamptz GROUP BY 1, 2, 3) "
      "SELECT vm_id, host_id, owner_id, coalesce(u.minutes, 0) AS minutes, coalesce(u.coverage_ms, 0) AS coverage_ms, "
      "coalesce(u.samples, 0) AS samples, coalesce(u.late, 0) AS late, coalesce(l.lost_ms, 0) AS lost_ms, %s "
      "FROM u FULL JOIN l USING (vm_id, host_id, owner_id);"
      % (aggs(C, G, "m"), own.format(t="m"), own.format(t="l"), ", ".join("u." + n for n in
         sum([[c] for c in C] + [[g + "_int", g + "_ms", g + "_max"] for g in G], []))))
print("CREATE OR REPLACE VIEW indep_traffic AS SELECT t.vm_id, t.host_id, coalesce(i.owner_id, 0) AS owner_id, t.class, "
      "count(*)::bigint AS minutes, sum(rx_bytes)::bigint AS rx_bytes, sum(tx_bytes)::bigint AS tx_bytes, "
      "sum(rx_packets)::bigint AS rx_packets, sum(tx_packets)::bigint AS tx_packets FROM vm_traffic_minute t %s WHERE t.minute >= current_setting('t.f')::timestamptz "
      "AND t.minute < current_setting('t.t')::timestamptz GROUP BY 1, 2, 3, 4;" % own.format(t="t"))
print("CREATE OR REPLACE VIEW indep_host AS SELECT m.host_id, count(*)::bigint AS minutes, "
      "sum(m.coverage_ms)::bigint AS coverage_ms, sum(m.samples)::bigint AS samples, sum(m.late)::bigint AS late, %s FROM host_usage_minute m "
      "WHERE m.minute >= current_setting('t.f')::timestamptz AND m.minute < current_setting('t.t')::timestamptz "
      "GROUP BY 1;" % aggs(HC, HG, "m"))
# the rollup tables against the raw rows, hour by hour (the hour's owner
# split) and day by day
print("CREATE OR REPLACE VIEW indep_hour AS SELECT m.vm_id, m.host_id, date_trunc('hour', m.minute, 'UTC') AS hour, "
      "coalesce(i.owner_id, 0) AS owner_id, count(*)::int AS minutes, sum(m.coverage_ms)::bigint AS coverage_ms, %s "
      "FROM vm_usage_minute m %s GROUP BY 1, 2, 3, 4;" % (aggs(C, G, "m"), own.format(t="m")))
print("CREATE OR REPLACE VIEW indep_day AS SELECT m.vm_id, m.host_id, date_trunc('day', m.minute, 'UTC') AS day, "
      "coalesce(i.owner_id, 0) AS owner_id, count(*)::int AS minutes, sum(m.coverage_ms)::bigint AS coverage_ms, %s "
      "FROM vm_usage_minute m %s GROUP BY 1, 2, 3, 4;" % (aggs(C, G, "m"), own.format(t="m")))
names = ", ".join(sum([[c] for c in C] + [[g + "_int", g + "_ms", g + "_max"] for g in G], []))
print("CREATE OR REPLACE VIEW roll_hour AS SELECT vm_id, host_id, hour, owner_id, minutes, coverage_ms, %s "
      "FROM vm_usage_hour WHERE minutes > 0;" % names)
print("CREATE OR REPLACE VIEW roll_day AS SELECT vm_id, host_id, day, owner_id, minutes, coverage_ms, %s "
      "FROM vm_usage_day WHERE minutes > 0;" % names)
# per owner: the independent per-VM sums added up
oc = ["sum(%s)::bigint AS %s" % (c, c) for c in C]
for g in G:
    oc += ["sum(%s_int) AS %s_int" % (g, g), "sum(%s_ms)::bigint AS %s_ms" % (g, g), "max(%s_max) AS %s_max" % (g, g)]
print("CREATE OR REPLACE VIEW indep_owner AS SELECT owner_id, sum(minutes)::bigint AS minutes, "
      "sum(coverage_ms)::bigint AS coverage_ms, sum(samples)::bigint AS samples, sum(late)::bigint AS late, "
      "sum(lost_ms)::bigint AS lost_ms, %s FROM indep_usage GROUP BY owner_id;" % ", ".join(oc))
