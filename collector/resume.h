/* The collector's saved state, so that a restart or a crash loses no usage
 * (docs/RELIABILITY.md, "Restarts and crashes").
 *
 * After each sampling pass the collector saves what continuing needs (per
 * VM the run's last sample and its open minutes: col_sampler_save()) and
 * then commits the pass's records to the spool.  The two must agree: a
 * state whose minutes were closed into records the spool does not have
 * would lose those minutes, and one older than the spool's records would
 * emit them twice.  So each save carries the spool sequence number its
 * pass's commit reaches, and the state is kept in two files written in
 * turn ("resume.0", "resume.1", each replaced atomically by rename): a
 * crash between a save and its commit leaves the previous save, which
 * matches the spool.  At start the save whose sequence number equals the
 * spool's last committed record is used; when none does (both damaged, the
 * spool lost its tail, a commit failed after its save) the state is lost
 * and the collector says since when.
 *
 * File format, little-endian: magic "VMRESUME", u32 version, u32 CRC32C of
 * all that follows it, u64 generation (grows by one a save), u64 spool
 * sequence, i64 save time (UTC ns), u32 host-name length, the host name,
 * u64 state length, the state (opaque here). */
#ifndef COL_RESUME_H
#define COL_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct col_resume;

/* For the state files in `dir` (created if missing) of host `host`.  With
 * sync, every save is on stable storage before it returns (the spool's
 * "always" policy); without, a process crash loses nothing and a power
 * loss may lose the state (the next start then says so).  Strings are
 * copied.  Returns NULL with a message in err. */
struct col_resume *col_resume_open(const char *dir, const char *host, bool sync, char *err, size_t errsize);
void col_resume_free(struct col_resume *r);

/* The saved state that goes with a spool whose last committed record is
 * spool_seq.  Returns 1 with *state (vm_xmalloc'd, the caller frees) and
 * *len and *saved_at; or 0 when there is none to use, with why it is not
 * (a message) and *lost_since: when the last state that can no longer be
 * used was saved, 0 if there never was one (a first start). */
int col_resume_load(struct col_resume *r, uint64_t spool_seq, void **state, size_t *len, int64_t *saved_at,
                    int64_t *lost_since, char *why, size_t whysize);

struct vm_binw;
/* Writes the state into w (a writer with a sink: its bytes go to the file
 * as they come, so that saving a large fleet does not hold its whole
 * state in memory). */
typedef void (*col_resume_state_cb)(void *arg, struct vm_binw *w);

/* Saves a state for spool sequence spool_seq in the file not written last:
 * the state is what write_state(arg, w) writes.  Returns 0, or -1 with a
 * message in err (the other file still holds the previous state). */
int col_resume_save(struct col_resume *r, uint64_t spool_seq, int64_t now_ns, col_resume_state_cb write_state,
                    void *arg, char *err, size_t errsize);

#endif
