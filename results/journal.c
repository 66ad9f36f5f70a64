/* journal.c — append-only journal of finished cells and the writer's lock (see
 * journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define RECORD_MAGIC 0x524a5350u /* "PSJR" little-endian */
#define SYNC_EVERY 1.0           /* seconds between fdatasync of appended records */

struct journal {
  char *path;
  int fd;
  uint64_t end;      /* offset after the last valid record */
  int dirty;         /* records written since the last fdatasync */
  double last_sync;  /* CLOCK_MONOTONIC seconds */
  unsigned char *buf;
  size_t cap;
};

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int journal_path(const char *path, char *buf, size_t n) {
  int k = snprintf(buf, n, "%s.journal", path);
  return k > 0 && (size_t)k < n ? 0 : -1;
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc_of(const unsigned char *p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return (uint32_t)c;
}

/* full read at offset; returns bytes read (short at end of file) or -1 */
static ssize_t read_at(int fd, void *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    if (k == 0) break;
    got += (size_t)k;
  }
  return (ssize_t)got;
}

static int write_all_at(int fd, const void *buf, size_t n, uint64_t off) {
  size_t put = 0;
  while (put < n) {
    ssize_t k = pwrite(fd, (const char *)buf + put, n - put, (off_t)(off + put));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      if (k == 0) errno = EIO;
      return -1;
    }
    put += (size_t)k;
  }
  return 0;
}

static int parse_fingerprint(const char *header, uint64_t *fp) {
  if (strncmp(header, "prefsim-journal 1 ", 18) != 0) return -1;
  const char *f = strstr(header, "fingerprint=");
  if (!f) return -1;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(f + 12, &end, 16);
  if (errno || end != f + 12 + 16) return -1;
  *fp = (uint64_t)v;
  return 0;
}

static int write_header(journal *j, uint64_t fingerprint, ps_msg *m) {
  char header[JOURNAL_HEADER], host[128] = "?", now[32];
  memset(header, 0, sizeof header);
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
  host[sizeof host - 1] = 0;
  for (char *c = host; *c; c++)
    if (*c == ' ' || *c == '\n') *c = '_';
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(header, sizeof header, "prefsim-journal 1 fingerprint=%016" PRIx64 " pid=%ld host=%s started=%s\n",
           fingerprint, (long)getpid(), host, now);
  if (ftruncate(j->fd, 0) != 0 || write_all_at(j->fd, header, sizeof header, 0) != 0 || fdatasync(j->fd) != 0)
    return ps_fail(m, PS_EIO, "%s: cannot write the journal header: %s", j->path, strerror(errno));
  j->end = JOURNAL_HEADER;
  j->dirty = 0;
  return PS_OK;
}

/* 1 when another open file description holds a lock on fd's file, 0 when none,
 * -1 on error.  The lock is an open-file-description lock (F_OFD_SETLK): unlike a
 * classic POSIX record lock it is not dropped when the same process closes some other
 * descriptor of the file (a reader in the writer's process, say). */
static int locked_elsewhere(int fd) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -1;
  return fl.l_type != F_UNLCK;
}

/* the writer's pid and host from a journal header ("?" when unreadable) */
static void header_owner(int fd, long *pid, char *host, size_t n) {
  char h[JOURNAL_HEADER + 1];
  memset(h, 0, sizeof h);
  *pid = 0;
  snprintf(host, n, "?");
  if (read_at(fd, h, JOURNAL_HEADER, 0) <= 0) return;
  const char *p = strstr(h, " pid="), *q = strstr(h, " host=");
  if (p) *pid = strtol(p + 5, NULL, 10);
  if (q) {
    size_t k = strcspn(q + 6, " \n");
    snprintf(host, n, "%.*s", (int)(k < n ? k : n - 1), q + 6);
  }
}

static void free_journal(journal *j) {
  if (!j) return;
  if (j->fd >= 0) close(j->fd);
  free(j->path);
  free(j->buf);
  free(j);
}

int journal_open(const char *jpath, uint64_t fingerprint, int discard, journal **out, ps_msg *m) {
  *out = NULL;
  journal *j = calloc(1, sizeof *j);
  if (!j || !(j->path = strdup(jpath))) {
    free(j);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  j->fd = -1;
  for (int attempt = 0;; attempt++) {
    j->fd = open(jpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0) {
      int e = errno;
      free_journal(j);
      return ps_fail(m, PS_EIO, "%s: cannot open the journal: %s", jpath, strerror(e));
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(j->fd, F_OFD_SETLK, &fl) != 0) {
      int e = errno;
      long pid;
      char host[128];
      header_owner(j->fd, &pid, host, sizeof host);
      free_journal(j);
      if (e == EACCES || e == EAGAIN) {
        size_t n = strlen(jpath) > 8 ? strlen(jpath) - 8 : 0;
        return ps_fail(m, PS_EIO,
                       "%.*s is being written by another prefsim process (pid %ld on %s, holding the lock on "
                       "%s): wait for it to finish or stop it first; nothing was changed",
                       (int)n, jpath, pid, host, jpath);
      }
      return ps_fail(m, PS_EIO, "%s: cannot lock the journal: %s", jpath, strerror(e));
    }
    /* the previous holder may have unlinked the file between our open and lock */
    struct stat a, b;
    if (fstat(j->fd, &a) == 0 && stat(jpath, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) break;
    close(j->fd);
    j->fd = -1;
    if (attempt >= 20) {
      free_journal(j);
      return ps_fail(m, PS_EIO, "%s: the journal keeps being replaced by another process", jpath);
    }
  }
  struct stat st;
  if (fstat(j->fd, &st) != 0) {
    int e = errno;
    free_journal(j);
    return ps_fail(m, PS_EIO, "%s: %s", jpath, strerror(e));
  }
  char header[JOURNAL_HEADER + 1];
  memset(header, 0, sizeof header);
  ssize_t got = st.st_size > 0 ? read_at(j->fd, header, JOURNAL_HEADER, 0) : 0;
  uint64_t fp = 0;
  int valid = got == JOURNAL_HEADER && parse_fingerprint(header, &fp) == 0;
  int s = PS_OK;
  if (valid && fp != fingerprint && !discard && (uint64_t)st.st_size > JOURNAL_HEADER) {
    s = ps_fail(m, PS_EINVAL,
                "%s holds finished cells of another configuration than this run's: finish that run, or "
                "start afresh with --force (which discards them)",
                jpath);
  } else if (!valid || fp != fingerprint || discard) {
    /* absent, empty, torn before its header was whole, or to be discarded */
    s = write_header(j, fingerprint, m);
  } else {
    j->end = JOURNAL_HEADER;
  }
  if (s) {
    free_journal(j);
    return s;
  }
  j->last_sync = mono();
  *out = j;
  return PS_OK;
}

int journal_replay(journal *j, size_t max_payload, int (*fn)(void *ctx, const unsigned char *p, size_t len),
                   void *ctx, size_t *n_records, size_t *torn, ps_msg *m) {
  struct stat st;
  size_t n = 0;
  if (n_records) *n_records = 0;
  if (torn) *torn = 0;
  if (fstat(j->fd, &st) != 0) return ps_fail(m, PS_EIO, "%s: %s", j->path, strerror(errno));
  uint64_t size = (uint64_t)st.st_size, off = JOURNAL_HEADER;
  if (max_payload > SIZE_MAX - 12) return ps_fail(m, PS_EINVAL, "journal record limit too large");
  unsigned char *buf = malloc(max_payload + 12);
  if (!buf) return ps_fail(m, PS_ENOMEM, "out of memory replaying %s", j->path);
  int s = PS_OK;
  while (off + 12 <= size) {
    if (read_at(j->fd, buf, 8, off) != 8) break;
    uint32_t magic = get_u32(buf), len = get_u32(buf + 4);
    if (magic != RECORD_MAGIC || len > max_payload || off + 12 + len > size) break;
    if (read_at(j->fd, buf + 8, (size_t)len + 4, off + 8) != (ssize_t)len + 4) break;
    if (crc_of(buf + 4, (size_t)len + 4) != get_u32(buf + 8 + len)) break;
    if ((s = fn(ctx, buf + 8, len)) != PS_OK) break;
    n++;
    off += 12 + len;
  }
  free(buf);
  if (s) return s;
  if (off < size) {
    if (ftruncate(j->fd, (off_t)off) != 0 || fdatasync(j->fd) != 0)
      return ps_fail(m, PS_EIO, "%s: cannot cut the journal's torn tail: %s", j->path, strerror(errno));
    if (torn) *torn = (size_t)(size - off);
  }
  j->end = off;
  if (n_records) *n_records = n;
  return PS_OK;
}

int journal_append(journal *j, const void *payload, size_t len, ps_msg *m) {
  if (len > UINT32_MAX - 16) return ps_fail(m, PS_EINVAL, "%s: journal record of %zu bytes", j->path, len);
  if (j->cap < len + 12) {
    unsigned char *b = realloc(j->buf, len + 12);
    if (!b) return ps_fail(m, PS_ENOMEM, "out of memory");
    j->buf = b;
    j->cap = len + 12;
  }
  put_u32(j->buf, RECORD_MAGIC);
  put_u32(j->buf + 4, (uint32_t)len);
  memcpy(j->buf + 8, payload, len);
  put_u32(j->buf + 8 + len, crc_of(j->buf + 4, len + 4));
  if (write_all_at(j->fd, j->buf, len + 12, j->end) != 0) {
    int e = errno;
    /* leave no partial record behind (replay would cut it anyway) */
    if (ftruncate(j->fd, (off_t)j->end) != 0) { /* the replay cuts it */
    }
    return ps_fail(m, PS_EIO, "%s: cannot append a finished cell to the journal: %s", j->path, strerror(e));
  }
  j->end += len + 12;
  j->dirty = 1;
  if (mono() - j->last_sync >= SYNC_EVERY) return journal_sync(j, m);
  return PS_OK;
}

int journal_sync(journal *j, ps_msg *m) {
  if (!j || !j->dirty) return PS_OK;
  if (fdatasync(j->fd) != 0) return ps_fail(m, PS_EIO, "%s: cannot sync the journal: %s", j->path, strerror(errno));
  j->dirty = 0;
  j->last_sync = mono();
  return PS_OK;
}

int journal_reset(journal *j, ps_msg *m) {
  if (ftruncate(j->fd, JOURNAL_HEADER) != 0 || fdatasync(j->fd) != 0)
    return ps_fail(m, PS_EIO, "%s: cannot truncate the journal: %s", j->path, strerror(errno));
  j->end = JOURNAL_HEADER;
  j->dirty = 0;
  return PS_OK;
}

int journal_remove(journal *j, ps_msg *m) {
  if (!j) return PS_OK;
  int s = PS_OK;
  if (unlink(j->path) != 0 && errno != ENOENT)
    s = ps_fail(m, PS_EIO, "%s: cannot remove the journal: %s", j->path, strerror(errno));
  free_journal(j);
  return s;
}

void journal_close(journal *j) { free_journal(j); }

int journal_is_empty(const journal *j) { return j && j->end <= JOURNAL_HEADER; }

int journal_holder(const char *path, long *pid, size_t *records) {
  char jp[4096], host[128];
  if (pid) *pid = 0;
  if (records) *records = 0;
  if (journal_path(path, jp, sizeof jp) != 0) return -1;
  int fd = open(jp, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  int held = locked_elsewhere(fd);
  if (held > 0 && pid) header_owner(fd, pid, host, sizeof host);
  if (records) {
    struct stat st;
    uint64_t off = JOURNAL_HEADER, size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    unsigned char h[8];
    size_t n = 0;
    /* count whole records by their framing (CRCs are the writer's business) */
    while (off + 12 <= size && read_at(fd, h, 8, off) == 8 && get_u32(h) == RECORD_MAGIC &&
           off + 12 + get_u32(h + 4) <= size) {
      off += 12 + get_u32(h + 4);
      n++;
    }
    *records = n;
  }
  close(fd);
  return held;
}
