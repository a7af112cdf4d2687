#!/usr/bin/env python3
"""Damages a collector's spool the way a crash or a bad disk would, for
fault tests (the format is docs/internals/spool.md and lib/record.c):

    spool_damage.py SPOOL_DIR
    spool_damage.py --header SPOOL_DIR

The first form
- flips one bit in the payload of a VM usage record in the middle of the
  first segment (its CRC no longer matches: the record is lost, the ones
  after it are found again);
- cuts the last segment in the middle of its last record (a torn tail, as
  a crash in the middle of a write leaves it).  That record ends the last
  commit, so the collector's spool cuts the whole commit: its other
  records are lost with it.

With --header, it flips one bit in the creation time in the header of the
first segment (the header's CRC no longer matches: the collector must
quarantine the whole segment) and leaves the records alone.

Prints one line per damaged record: "bitflip|torn|cut|header SEQ KIND [UUID
MINUTE]" (cut: a sound record of the torn commit), KIND being vm, host or other; for usage rows UUID ("host" for
the host's) and MINUTE (epoch seconds).  With --header, every record of the
segment is damaged, and a last line "segment NAME BYTES" names it.
"""
import os
import struct
import sys
import uuid

SEG_HEADER = 40
REC_HEADER = 24
COMMIT_END = 1 << 31  # in the length field: the last record of a commit
REC_USAGE = 1
FLAG_HOST = 1


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    off = SEG_HEADER
    out = []
    while off + REC_HEADER <= len(data):
        field, _crc, seq, _time = struct.unpack_from("<IIQq", data, off)
        length = field & ~COMMIT_END
        if off + REC_HEADER + length > len(data):
            break
        payload = data[off + REC_HEADER:off + REC_HEADER + length]
        out.append((off, length, seq, payload, bool(field & COMMIT_END)))
        off += REC_HEADER + length
    return out


def describe(seq, payload):
    if len(payload) >= 27 and payload[1] == REC_USAGE:
        if payload[2] & FLAG_HOST:
            minute = struct.unpack_from("<q", payload, 19)[0] // 10**9
            return "%d host host %d" % (seq, minute)
        vm = str(uuid.UUID(bytes=bytes(payload[3:19])))
        minute = struct.unpack_from("<q", payload, 19)[0] // 10**9
        return "%d vm %s %d" % (seq, vm, minute)
    return "%d other" % seq


def is_vm_row(payload):
    return len(payload) >= 27 and payload[1] == REC_USAGE and not payload[2] & FLAG_HOST


def damage_header(segs):
    seg = segs[0]
    recs = records(seg)
    if not recs:
        sys.exit("no records in %s" % seg)
    with open(seg, "r+b") as f:
        f.seek(24)  # the creation time: covered by the header CRC only
        b = f.read(1)[0]
        f.seek(24)
        f.write(bytes([b ^ 0x01]))
    for _off, _length, seq, payload, _end in recs:
        print("header " + describe(seq, payload))
    print("segment %s %d" % (os.path.basename(seg), os.path.getsize(seg)))


def main():
    header = len(sys.argv) == 3 and sys.argv[1] == "--header"
    if len(sys.argv) != 2 and not header:
        sys.exit("usage: spool_damage.py [--header] SPOOL_DIR")
    spool = sys.argv[-1]
    segs = sorted(os.path.join(spool, n) for n in os.listdir(spool) if n.endswith(".seg"))
    if header:
        if not segs:
            sys.exit("no segment in %s" % spool)
        damage_header(segs)
        return
    if len(segs) < 2:
        sys.exit("need two segments, found %d" % len(segs))

    first = records(segs[0])
    rows = [r for r in first if is_vm_row(r[3])]
    if len(rows) < 3:
        sys.exit("too few VM rows in %s" % segs[0])
    off, length, seq, payload, _end = rows[len(rows) // 2]
    at = off + REC_HEADER + 20  # inside the minute field
    with open(segs[0], "r+b") as f:
        f.seek(at)
        b = f.read(1)[0]
        f.seek(at)
        f.write(bytes([b ^ 0x10]))
    print("bitflip " + describe(seq, payload))

    last = records(segs[-1])
    off, length, seq, payload, _end = last[-1]
    with open(segs[-1], "r+b") as f:
        f.truncate(off + REC_HEADER + length // 2)
    start = len(last) - 1
    while start > 0 and not last[start - 1][4]:
        start -= 1
    for _off, _length, cseq, cpayload, _end in last[start:-1]:
        print("cut " + describe(cseq, cpayload))
    print("torn " + describe(seq, payload))


main()
