-- Random usage in the schema-4 layout (tests/integration/storage.sh): two
-- hosts, 16 VMs over 2026-10-24 .. 2026-10-27 UTC (Europe/Berlin leaves
-- daylight saving time on 2026-10-25), owners that change at odd seconds,
-- a VM without inventory, a VM whose inventory starts after its first
-- minutes, counters and gauges that are sometimes absent, lost minutes and
-- traffic by class.  setseed makes every run the same.
SELECT setseed(:seed);
INSERT INTO host (hostname) VALUES ('hv-a'), ('hv-b');
INSERT INTO vm (uuid) SELECT md5('vm' || g)::uuid FROM generate_series(1, 16) g;

INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
                          tenant, project, cost_centre, owner_source, digest)
SELECT v, '2026-10-23 22:00+00'::timestamptz + (v * 7 || ' seconds')::interval, 1 + v % 2, 'vm' || v, 2, 2,
       2097152, 2097152, 'tenant' || (v % 4), 'proj' || (v % 3), 'cc' || (v % 2), 'config', 'd' || v
  FROM generate_series(1, 14) v;
-- VM 14's inventory starts after its first minutes
UPDATE vm_inventory SET valid_from = '2026-10-24 05:17:42+00' WHERE vm_id = 14;
-- owner changes at odd times (some in the middle of a minute)
INSERT INTO vm_inventory (vm_id, valid_from, host_id, name, vcpus, max_vcpus, memory_kib, current_memory_kib,
                          tenant, project, cost_centre, owner_source, digest)
SELECT v, '2026-10-24 00:00+00'::timestamptz + ((random() * 259000)::int || ' seconds')::interval, 1 + v % 2,
       'vm' || v || 'b', 4, 4, 4194304, 4194304, 'tenant' || ((v + k) % 5), 'proj' || (k % 3), 'cc9', 'config',
       'e' || v || '.' || k
  FROM generate_series(1, 12) v, generate_series(1, 3) k
ON CONFLICT DO NOTHING;

-- usage: a row per VM-minute with gaps (5 % of minutes missing)
INSERT INTO vm_usage_minute
SELECT 1 + v % 2, v, m, c, 6, (random() * 10)::bigint,
       (random() * 6e10)::bigint, (random() * 3e10)::bigint, (random() * 1e10)::bigint,
       (random() * 6e10)::bigint, (random() * 1e8)::bigint,
       CASE WHEN v % 5 = 0 THEN NULL ELSE (random() * 1e7)::bigint END, c,
       (random() * 1e9)::bigint, (random() * 1e9)::bigint, (random() * 1e4)::bigint, (random() * 1e4)::bigint,
       (random() * 1e9)::bigint, (random() * 1e9)::bigint, (random() * 100)::bigint, (random() * 1e8)::bigint,
       (random() * 1e9)::bigint, (random() * 1e9)::bigint, (random() * 1e6)::bigint, (random() * 1e6)::bigint,
       0, 0, (random() * 3)::bigint, 0,
       2, 2, 2097152, 2097152, 2097152, 2097152,
       a, a + (random() * 1000)::bigint,
       CASE WHEN v % 3 = 0 THEN NULL ELSE a - 1000 END, CASE WHEN v % 3 = 0 THEN NULL ELSE a - 500 END,
       a + 5, a + 9, a / 2, a / 2 + 7,
       21474836480, 21474836480, (random() * 2e10)::bigint, 21474836480
  FROM (SELECT v, m, CASE WHEN random() < 0.1 THEN (random() * 60000)::int ELSE 60000 END AS c,
               (1000000 + random() * 1000000)::bigint AS a, random() AS keep
          FROM generate_series(1, 16) v,
               generate_series('2026-10-24 00:00+00'::timestamptz, '2026-10-26 23:59+00', '1 minute') m) g
 WHERE keep > 0.05;

INSERT INTO host_usage_minute
SELECT h, m, 60000, 6, 0, 4 * 60000000000::bigint, (random() * 2.4e11)::bigint, (random() * 1e11)::bigint,
       (random() * 5e10)::bigint, (random() * 1e9)::bigint, (random() * 1e11)::bigint,
       4, 4, 16000000, 16000000, f, f + 100, 300000, 300000, 12, 12, 24, 24, 25165824, 25165824
  FROM (SELECT h, m, (4000000 + random() * 1000000)::bigint AS f, random() AS keep
          FROM generate_series(1, 2) h,
               generate_series('2026-10-24 00:00+00'::timestamptz, '2026-10-26 23:59+00', '1 minute') m) g
 WHERE keep > 0.02;

INSERT INTO vm_usage_loss
SELECT 1 + v % 2, v, m, (random() * 60000)::int, 'gap'
  FROM (SELECT v, m, random() AS pick
          FROM generate_series(1, 16) v,
               generate_series('2026-10-24 00:00+00'::timestamptz, '2026-10-26 23:59+00', '1 minute') m) g
 WHERE pick < 0.01;

INSERT INTO vm_traffic_minute
SELECT v, m, 1 + v % 2, cl, (random() * 1e8)::bigint, (random() * 1e8)::bigint, (random() * 1e5)::bigint,
       (random() * 1e5)::bigint
  FROM (SELECT v, m, cl, random() AS pick
          FROM generate_series(1, 16) v,
               generate_series('2026-10-24 00:00+00'::timestamptz, '2026-10-26 23:59+00', '1 minute') m,
               unnest(ARRAY['internal', 'internet', 'backup']) cl) g
 WHERE pick < 0.3;

INSERT INTO vm_capture_minute
SELECT v, m, 1 + v % 2, 60000, 10, 10, 5, 5
  FROM generate_series(1, 16) v,
       generate_series('2026-10-24 00:00+00'::timestamptz, '2026-10-24 01:00+00', '1 minute') m;
INSERT INTO host_capture_minute
SELECT h, m, 100, 0, 0, 0
  FROM generate_series(1, 2) h,
       generate_series('2026-10-24 00:00+00'::timestamptz, '2026-10-24 01:00+00', '1 minute') m;
