#!/usr/bin/env python3
"""What an rrdcached holds for the files under a directory, counted in a
window: bench/collector-vs-collectd.sh and bench/qemu-vs-collectd.sh use it
to print what each side stored beside its CPU.

    rrd-pending.py SOCKET DIR T0 T1 VMS

rrdcached (-w 3600) writes nothing for an hour, so PENDING lists every
update since a file's creation.  Prints one line of key=value: files,
series (data sources over all files), series_per_vm, updates and values
with times in [T0, T1), reads (the median number of updates a file got in
the window: the side's sampling passes) and updates_per_file_max.
"""
import os
import socket
import statistics
import sys

sock, top, t0, t1, vms = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rwb")
files = series = updates = values = 0
per_file = []
for d, _, names in os.walk(top):
    for name in names:
        if not name.endswith(".rrd"):
            continue
        f.write(b"PENDING %s\n" % os.path.join(d, name).encode())
        f.flush()
        head = f.readline().decode()
        n = int(head.split()[0])
        files += 1
        k = ds = 0
        for _ in range(max(n, 0)):
            fields = f.readline().decode().strip().split(":")
            ds = len(fields) - 1
            if t0 <= float(fields[0]) < t1:
                k += 1
                values += ds
        series += ds
        updates += k
        per_file.append(k)
print("files=%d series=%d series_per_vm=%.1f updates=%d values=%d reads=%g updates_per_file_max=%d" %
      (files, series, series / vms, updates, values, statistics.median(per_file) if per_file else 0,
       max(per_file) if per_file else 0))
