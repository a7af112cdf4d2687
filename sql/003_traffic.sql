-- vmeter schema 3: per-VM network traffic by traffic class, from the
-- collector's packet capture (docs/internals/capture.md), and how much of
-- it the capture saw.

-- Bytes and packets a VM received (rx) and sent (tx) in one UTC minute,
-- per traffic class (the name of a `traffic-class` section, or the
-- traffic-default class).  Bytes are Ethernet frame lengths as the host-side
-- interface saw them.  An interval that straddles a minute is split by
-- time, exactly: the minutes' sums are the interval's counts.  A row only
-- for classes with traffic; the key makes a resent batch a no-op.
CREATE TABLE vm_traffic_minute (
    vm_id       int NOT NULL REFERENCES vm,
    minute      timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    host_id     int NOT NULL REFERENCES host,
    class       text NOT NULL CHECK (class <> ''),
    rx_bytes    bigint NOT NULL CHECK (rx_bytes >= 0),
    tx_bytes    bigint NOT NULL CHECK (tx_bytes >= 0),
    rx_packets  bigint NOT NULL CHECK (rx_packets >= 0),
    tx_packets  bigint NOT NULL CHECK (tx_packets >= 0),
    PRIMARY KEY (vm_id, minute, host_id, class)
);
CREATE INDEX vm_traffic_minute_minute ON vm_traffic_minute (minute);

-- Per VM and minute, what the capture covered, written with the minute's
-- usage row.  captured_ms: the time of the minute a capture worker was
-- counting the VM's interfaces.  libvirt_*: the VM's interface counters for
-- the minute (the net_rx/tx_bytes of its vm_usage_minute row; NULL when
-- libvirt reported none); captured_*: the sums of vm_traffic_minute over
-- classes.  libvirt_x - captured_x is traffic that was not classified
-- (capture drops, time without a worker, frames counted in the next
-- minute's interval); vm_capture_coverage shows it as a share.  libvirt
-- counts what QEMU's tap saw, the capture what the host end carried: both
-- count Ethernet frames without the FCS.
CREATE TABLE vm_capture_minute (
    vm_id              int NOT NULL REFERENCES vm,
    minute             timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    host_id            int NOT NULL REFERENCES host,
    captured_ms        int NOT NULL CHECK (captured_ms BETWEEN 0 AND 60000),
    libvirt_rx_bytes   bigint,
    libvirt_tx_bytes   bigint,
    captured_rx_bytes  bigint NOT NULL CHECK (captured_rx_bytes >= 0),
    captured_tx_bytes  bigint NOT NULL CHECK (captured_tx_bytes >= 0),
    PRIMARY KEY (vm_id, minute, host_id)
);

-- Host-wide capture health per minute: libpcap counts on the one handle
-- the worker reads, so drops cannot be told apart per VM.  frames: frames
-- counted; drops: lost for want of ring space (pcap_stats ps_drop);
-- ifdrops: dropped by the interfaces (ps_ifdrop); uncovered_ms: time no
-- worker was capturing (restarts).  Split by time like the rest.
CREATE TABLE host_capture_minute (
    host_id      int NOT NULL REFERENCES host,
    minute       timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    frames       bigint NOT NULL CHECK (frames >= 0),
    drops        bigint NOT NULL CHECK (drops >= 0),
    ifdrops      bigint NOT NULL CHECK (ifdrops >= 0),
    uncovered_ms int NOT NULL CHECK (uncovered_ms BETWEEN 0 AND 60000),
    PRIMARY KEY (host_id, minute)
);

-- The share of a VM's bytes per direction that no traffic class counted,
-- in percent (NULL without libvirt counters or traffic), for invoices.
CREATE VIEW vm_capture_coverage AS
SELECT c.*,
       CASE WHEN c.libvirt_rx_bytes > 0
            THEN round(100.0 * (c.libvirt_rx_bytes - c.captured_rx_bytes) / c.libvirt_rx_bytes, 2) END
           AS rx_unclassified_pct,
       CASE WHEN c.libvirt_tx_bytes > 0
            THEN round(100.0 * (c.libvirt_tx_bytes - c.captured_tx_bytes) / c.libvirt_tx_bytes, 2) END
           AS tx_unclassified_pct
  FROM vm_capture_minute c;
