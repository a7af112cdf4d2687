/* The on-disk spool between sampling and the database: records are written
 * to disk before anything is acknowledged, drained in order in batches, and
 * removed only once the drainer says they are delivered.
 *
 * A spool is a directory of append-only segment files named after a 64-bit
 * segment number that only grows ("000000000000002a.seg", 16 hex digits),
 * plus an "ack" file holding the sequence number of the last delivered
 * record.  Each segment starts with a header (magic, format version,
 * segment number, creation time, sequence of its first record, CRC32C) and
 * holds records, little-endian:
 *
 *   u32 length | u32 CRC32C | u64 sequence | i64 append time (UTC ns) | payload
 *
 * The top bit of the length field (VM_SPOOL_RECORD_COMMIT_END) marks the
 * last record of a commit.  The CRC covers the length field with that bit,
 * the sequence, time and payload (every byte of the record but the CRC
 * itself), so a flipped bit anywhere is caught.  Format version 1, from
 * before the bit, is still read: each of its records counts as a commit of
 * its own, so an upgrade in place loses nothing.  Records
 * carry consecutive sequence numbers from 1 on.  A number is handed out
 * again only if its record never became durable (a failed commit, a torn
 * tail), its segment was quarantined, or a crash came inside an
 * acknowledgement on a file system too full for the ack file (see
 * vm_spool_ack()); delivered records do not give theirs back: the collector
 * matches its saved state to the newest number (collector/resume.h).  The
 * database's natural keys, not these numbers, make delivery idempotent.
 *
 * Durability (what a commit that returned 0 may still lose):
 *
 *   VM_SPOOL_SYNC_ALWAYS    every commit ends with fdatasync() of the
 *                           segment (and of the directory after a new
 *                           segment): nothing acknowledged is lost on a
 *                           process crash, kernel crash or power loss, as
 *                           far as the storage honours flushes.
 *   VM_SPOOL_SYNC_INTERVAL  the first commit at least sync_interval_ms after
 *                           the last sync syncs: a process crash loses
 *                           nothing; a kernel crash or power loss loses the
 *                           records committed since the last sync, at most
 *                           sync_interval_ms of them as long as the writer
 *                           commits at least that often (a commit with
 *                           nothing appended only syncs when due).
 *   VM_SPOOL_SYNC_NONE      never syncs: a process crash loses nothing; a
 *                           kernel crash or power loss loses what the kernel
 *                           had not written back (vm.dirty_expire_centisecs,
 *                           30 s by default, plus the flusher's period).
 *
 * A commit is all or nothing across a crash: a process killed inside a
 * commit's write (which SIGKILL can stop after some pages) may leave its
 * first records whole on disk, and the next open cuts them with the rest,
 * so the spool ends at the previous commit's last record, the number the
 * collector's saved state names (collector/resume.h).  A commit never
 * spans segments.  Records appended but not committed are lost by any
 * crash and by a failed commit.  Whatever the policy, the ack file is replaced atomically
 * and synced (write, fsync, rename, fsync of the directory): after a crash
 * draining resumes right after the last stored acknowledgement; records after
 * it are delivered again (the database ignores what it already has).  A
 * power loss under INTERVAL or NONE can also leave a torn record at the end
 * of a segment; the next open truncates it.
 *
 * Opening checks every record.  The last segment is cut back to the end of
 * its last complete commit: a torn tail (a partial record or a bad CRC with
 * no valid record after it) and the whole records of an unfinished commit
 * before it go (a commit whose last record is damaged counts as
 * unfinished: the two look alike).  Before that end and in the other
 * segments, bad bytes followed by valid records are skipped by searching forward for the next valid record, so
 * only the damaged records are lost; a segment
 * whose header is bad is renamed to "<name>.bad" and left alone.  All of it
 * is counted in struct vm_spool_stats and logged once per segment.
 *
 * Threads: one writer thread (append, commit) and one drainer thread (read,
 * ack) may work at the same time, and vm_spool_stats() may be called from
 * any thread.  Commits do not hold up reads: the sync runs outside the
 * lock they share.  Calls on one side are serialised; a second drainer
 * would only see the same records as the first.
 *
 * Errors: functions return 0 (or a count) on success and a negative
 * VM_SPOOL_* code on failure.  The handle keeps a lower-case message that
 * names the file and the OS error, one per side so that the two threads
 * never share it: vm_spool_error() for append and commit,
 * vm_spool_read_error() for read and ack.  vm_spool_open() and
 * vm_spool_close(), which have no handle before or after, write theirs to
 * the caller's buffer. */
#ifndef VM_SPOOL_H
#define VM_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/* On-disk format, for tools and tests that look at the files. */
#define VM_SPOOL_SEGMENT_HEADER_SIZE 40 /* magic "VMSPOOL\0", u32 version, u32 crc, u64 id, i64 ctime, u64 base */
#define VM_SPOOL_RECORD_HEADER_SIZE 24
#define VM_SPOOL_FORMAT_VERSION 2                      /* 1 (no commit ends) is still read */
#define VM_SPOOL_RECORD_COMMIT_END (UINT32_C(1) << 31) /* in the length field: the last record of its commit */

/* Failure codes; every function returns 0 (or a count) or one of these. */
#define VM_SPOOL_ERROR (-1)      /* an OS error or bad argument: see vm_spool_error() and vm_spool_read_error() */
#define VM_SPOOL_FULL (-2)       /* the size cap or the file system is full: nothing was written */
#define VM_SPOOL_TOO_BIG (-3)    /* the record is larger than max_record: nothing was written */
#define VM_SPOOL_BATCH_FULL (-4) /* the uncommitted records fill a segment: commit first */

/* Hard limits on the options. */
#define VM_SPOOL_MAX_RECORD_LIMIT (64u << 20)
#define VM_SPOOL_SEGMENT_SIZE_MIN (4u << 10)
#define VM_SPOOL_SEGMENT_SIZE_MAX (1u << 30)

enum vm_spool_sync {
	VM_SPOOL_SYNC_ALWAYS = 0, /* the default */
	VM_SPOOL_SYNC_INTERVAL,
	VM_SPOOL_SYNC_NONE,
};

/* A zero field means its default. */
struct vm_spool_opts {
	uint64_t segment_size;     /* roll to a new segment past this (16 MiB; 4 KiB .. 1 GiB) */
	uint64_t cap;              /* bytes of segment files on disk at most (1 GiB; at least one largest record) */
	uint32_t max_record;       /* payload bytes per record at most (1 MiB; up to 64 MiB) */
	enum vm_spool_sync sync;   /* see the top of this file */
	uint32_t sync_interval_ms; /* for VM_SPOOL_SYNC_INTERVAL (1000; 1 .. 3600000) */
};

/* Counters and levels.  The repair counters describe what the open found,
 * plus damage met later while reading (which is logged when met). */
struct vm_spool_stats {
	uint64_t bytes;            /* segment files on disk, headers included */
	uint64_t segments;         /* segment files */
	uint64_t records_pending;  /* committed and not acknowledged */
	uint64_t oldest_seq;       /* oldest pending record, 0 if none */
	int64_t oldest_time_ns;    /* its append time (UTC), 0 if none */
	uint64_t last_seq;         /* newest committed record, 0 if none */
	uint64_t acked_seq;        /* everything up to here is delivered */
	uint64_t buffered_records; /* appended, not yet committed */
	uint64_t buffered_bytes;

	/* since open */
	uint64_t commits; /* commits that wrote records */
	uint64_t records_committed;
	uint64_t syncs;             /* fdatasync() calls on segments, the policy at work */
	uint64_t full_rejections;   /* appends refused at the size cap */
	uint64_t failed_commits;    /* commits that failed, full file system included */
	uint64_t full_commits;      /* of which because the file system was full */
	uint64_t discarded_records; /* records thrown away by failed commits */

	/* repairs */
	uint64_t truncated_bytes;      /* torn tails cut off the last segment */
	uint64_t truncated_records;    /* damaged records in them (one per torn tail) */
	uint64_t cut_records;          /* whole records of an unfinished commit cut with a tail */
	uint64_t repaired_segments;    /* segments cut, or removed as created but never written */
	uint64_t corrupt_bytes;        /* skipped bad bytes between or after valid records */
	uint64_t corrupt_regions;      /* runs of such bytes */
	uint64_t lost_records;         /* records known lost in them (by the sequence gap) */
	uint64_t quarantined_segments; /* renamed to .bad for a bad header */
	uint64_t quarantined_bytes;    /* their size on disk, headers included */
};

/* One record handed to the drainer.  `payload` belongs to the spool and is
 * valid only during the callback. */
struct vm_spool_record {
	uint64_t seq;
	int64_t time_ns; /* when it was appended (UTC) */
	const void *payload;
	size_t len;
};

/* Returns 0 to take the record and go on, non-zero to stop before it (it
 * is handed out again by the next read).  Must not call back into the
 * spool's read or ack functions. */
typedef int (*vm_spool_record_cb)(void *arg, const struct vm_spool_record *rec);

/* Where a drainer is.  Set it to {0} (or call vm_spool_cursor_rewind()) to
 * start at the oldest unacknowledged record; the fields are private.  A
 * cursor that falls behind the acknowledged point moves up to it. */
struct vm_spool_cursor {
	uint64_t seg_id, off, expect, gap_start;
};

struct vm_spool;

/* Opens the spool in `dir` (created if missing), checks and repairs every
 * segment as described above, and takes an exclusive lock on the directory
 * (a second open, in this process or another, fails).  `opts` may be NULL
 * for the defaults; it is copied.  Returns NULL with a message in err. */
struct vm_spool *vm_spool_open(const char *dir, const struct vm_spool_opts *opts, char *err, size_t errsize);

/* Syncs what INTERVAL left unsynced, stores an acknowledgement that could
 * not be stored before, releases the lock and frees sp; records appended
 * since the last commit are discarded.  Returns 0, or VM_SPOOL_ERROR if
 * either failed (sp is freed either way) with a message in err (may be
 * NULL).  No other call on sp may run at the same time. */
int vm_spool_close(struct vm_spool *sp, char *err, size_t errsize);

/* The last failure of vm_spool_append() or vm_spool_commit() on sp, for
 * the writer thread; "" if none.  Owned by sp, valid until its next
 * writer-side call. */
const char *vm_spool_error(const struct vm_spool *sp);
/* The same for vm_spool_read() and vm_spool_ack(), for the drainer. */
const char *vm_spool_read_error(const struct vm_spool *sp);

/* Appends a record to the batch; the payload is copied.  Sets *seq (may be
 * NULL) to the record's sequence number.  Returns 0, VM_SPOOL_TOO_BIG,
 * VM_SPOOL_BATCH_FULL, or VM_SPOOL_FULL when the spool's files plus the
 * batch would pass the cap (counted in full_rejections); on failure nothing
 * is appended and the caller accounts for the record.  A batch past 64 KiB
 * is written to its segment as it grows, beyond what readers and the next
 * open take (see "A commit is all or nothing" above), so that memory does
 * not grow with it; a failure of that write is not returned here but by
 * the commit, which then fails for the whole batch. */
int vm_spool_append(struct vm_spool *sp, const void *payload, size_t len, uint64_t *seq);

/* Writes the batch to the current segment (rolling to a new one when it is
 * full) and syncs as the policy says.  Once it returns 0 the records are
 * acknowledged and visible to the drainer.  On failure none of them is in
 * the spool (a partial write is cut off at once; failing that, the next
 * open does it) and their sequence numbers are handed out again: the caller
 * counts them all as not spooled.  Returns VM_SPOOL_FULL when the file
 * system is full (ENOSPC, EDQUOT), VM_SPOOL_ERROR on other errors (EIO, the
 * directory removed: close and open again).  With nothing appended it only
 * syncs when INTERVAL says it is due. */
int vm_spool_commit(struct vm_spool *sp);

/* Hands committed, unacknowledged records after cursor `c` to cb in order,
 * at most max_records of them and, except for the first, at most max_bytes
 * of payload in all, and moves c past them.  Damaged records are skipped,
 * never handed out.  Returns how many records were taken (0: none for now,
 * or cb refused the first), or VM_SPOOL_ERROR if the first one could not
 * be read (an error after some records returns those; the next call
 * reports it). */
int vm_spool_read(struct vm_spool *sp, struct vm_spool_cursor *c, size_t max_records, size_t max_bytes,
                  vm_spool_record_cb cb, void *arg);

/* Moves c back to the oldest unacknowledged record, to deliver again what
 * was read but not acknowledged (after a failed database transaction). */
void vm_spool_cursor_rewind(struct vm_spool_cursor *c);

/* Declares every record up to `upto` delivered (a value past the newest
 * committed record means all of them; going back is a no-op): reads no
 * longer return them, the segments that hold only delivered records are
 * removed, then the ack file is replaced and the directory synced, then the
 * delivered segment holding the newest committed record, if any, is
 * removed.  In that order: older segments first, so that a full disk gets
 * room for the ack file (a crash after them only delivers some records
 * again); the newest one last, so that after a crash at any point the next
 * open still finds the newest number, in that segment or in the ack file.
 * Only if the file system has no room for the ack file even then does the
 * newest segment go first.  Returns 0, or VM_SPOOL_ERROR when the ack file
 * could not be written or a segment not removed: the acknowledgement holds
 * in memory all the same, and both are tried again by the next ack (with
 * any value) and by close (the ack file; the next open removes the
 * segments it covers). */
int vm_spool_ack(struct vm_spool *sp, uint64_t upto);

/* Fills *st; any thread, no I/O. */
void vm_spool_stats(struct vm_spool *sp, struct vm_spool_stats *st);

/* CRC32C (Castagnoli) of buf, continuing from crc (0 to start):
 * vm_spool_crc32c(vm_spool_crc32c(0, a), b) is the CRC of a then b.  Uses
 * the SSE4.2 instruction when the CPU has it. */
uint32_t vm_spool_crc32c(uint32_t crc, const void *buf, size_t len);
/* The CRC32C of a then b, from crc1 = CRC of a, crc2 = CRC of b and b's
 * length: for a CRC over bytes that precede others only known later (the
 * collector's state file, whose header holds the length of what follows). */
uint32_t vm_spool_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);
/* The same in portable C (slicing-by-8), for tests and comparisons. */
uint32_t vm_spool_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
