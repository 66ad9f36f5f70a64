/* journal.h — the append-only journal of finished cells beside a results file, and
 * the lock that makes its writer the only one.  Private to results/.
 *
 * File PATH.journal (PATH = the results file):
 *   header (JOURNAL_HEADER bytes): the text line
 *     "prefsim-journal 1 fingerprint=<16 hex> pid=<pid> host=<host> started=<UTC>\n"
 *     padded with NUL bytes
 *   records, each: u32 magic "PSJR", u32 payload length, payload, u32 CRC-32 (zlib) of
 *     the length and the payload, all little-endian
 * A record is the unit of durability: it is written with one write(2) right after its
 * cell finishes (so a SIGKILL loses nothing written), and fdatasync'd at most every
 * second and on journal_sync (so a power loss loses at most the last second).  On
 * replay the first record that is short, has a bad magic, a length over the caller's
 * maximum or a bad CRC ends the journal: a torn tail left by a crash (or a full disk)
 * is cut off there, and the cells in it are run again.
 *
 * The lock: an open-file-description lock (fcntl F_OFD_SETLK) on the journal, held for
 * the writer's lifetime; the kernel drops it when the process dies however it dies,
 * so a killed run never leaves a stale lock.  Another process asking for it is told
 * the holder's pid and host, which the header records.  The journal is unlinked while still locked when the
 * results file is complete; a process that locked a file that was meanwhile unlinked
 * notices (its inode is no longer PATH.journal's) and tries again. */
#ifndef PS_RESULTS_JOURNAL_H
#define PS_RESULTS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/ps.h"

#define JOURNAL_HEADER 512

typedef struct journal journal;

/* Open (creating it if absent) and lock the journal at jpath.  An existing journal of
 * another fingerprint is an error (PS_EINVAL) unless discard, which also drops the
 * records of a journal of the same fingerprint: the caller starts afresh.  Refused
 * with PS_EIO naming the holder when another process holds the lock. */
int journal_open(const char *jpath, uint64_t fingerprint, int discard, journal **out, ps_msg *m);

/* Call fn on each valid record in order (fn returns PS_OK to go on), then cut the
 * file after the last valid record, so appends continue from there.  *n_records and
 * *torn (bytes cut off) may be NULL. */
int journal_replay(journal *j, size_t max_payload, int (*fn)(void *ctx, const unsigned char *p, size_t len),
                   void *ctx, size_t *n_records, size_t *torn, ps_msg *m);

/* Append one record (one write(2)); on a short or failed write the file is cut back
 * to its previous end and PS_EIO names the cause (e.g. No space left on device). */
int journal_append(journal *j, const void *payload, size_t len, ps_msg *m);

/* fdatasync the records written so far (cheap when nothing is new). */
int journal_sync(journal *j, ps_msg *m);

/* Drop every record (the results file now holds them): truncate to the header, sync. */
int journal_reset(journal *j, ps_msg *m);

/* Unlink the journal (still locked, so no other writer can slip in), then close it. */
int journal_remove(journal *j, ps_msg *m);

/* Whether the journal holds no record (after journal_open, journal_replay or
 * journal_reset). */
int journal_is_empty(const journal *j);

/* Close and unlock, leaving the file (a crash-equivalent stop).  NULL does nothing. */
void journal_close(journal *j);

/* Who writes the results file at PATH (not the journal path): 1 and *pid when a
 * process holds PATH.journal's lock, 0 when none, -1 on error.  *records (may be
 * NULL) gets the number of whole records the journal holds (0 when absent). */
int journal_holder(const char *path, long *pid, size_t *records);

/* The journal path of a results file: PATH.journal (into buf of size n; 0 or -1 when
 * it does not fit). */
int journal_path(const char *path, char *buf, size_t n);

#endif
