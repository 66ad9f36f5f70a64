/* fit_io.c — the files of `prefsim fit`: an output is never one of the inputs, and
 * an output file is replaced atomically.
 *
 * Same file: two names are the same file when both exist and stat() gives the same
 * (st_dev, st_ino): the same path, a symbolic link (stat follows it) or a hard link.
 * DATA "-" is standard input, compared through fstat(0); standard output is compared
 * through fstat(1), so `prefsim fit ... d.csv >> d.csv` is refused too.
 *
 * Atomic output (fit_out_open / fit_out_commit / fit_out_abort): a regular file (or
 * a new one) is written to a temporary "DIR/.NAME.prefsim-XXXXXX" in the directory of
 * its target, with the target's permissions (0666 & ~umask for a new file), then
 * flushed, fsync'd, closed, renamed over the target, and the directory fsync'd.  A
 * symbolic link is followed, so the link stays and the file it names is replaced.  A
 * failed write, a failed fit or a signal (SIGINT, SIGTERM, SIGHUP, SIGPIPE: the
 * temporary is removed, then the signal takes its default action) leaves the target as it was and
 * no temporary behind; only SIGKILL or a crash can leave a temporary, never a half
 * target.  A target that exists and is not a regular file (/dev/null, a FIFO, a
 * terminal) is written directly: it cannot be renamed over and holds no data to lose.
 * A file we may not write (access W_OK) is refused, as a plain open for writing would.
 * Nothing here prints: messages go to the caller. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fitcli_impl.h"

/* ---------------------------------------------------------- same file */

int fit_same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* stat of DATA ("-": standard input); 0 on success */
static int stat_data(const char *data, struct stat *st) {
  return strcmp(data, "-") == 0 ? fstat(STDIN_FILENO, st) : stat(data, st);
}

/* One output file named by option opt: not DATA, not a directory, not standard
 * output's file (when the other output goes there), writable or creatable. */
static int check_path(const char *opt, const char *path, const fit_args *a, const struct stat *in, int have_in,
                      const struct stat *so, int have_so, const char *data, ps_msg *m) {
  struct stat out;
  if (a->data && strcmp(a->data, "-") && strcmp(a->data, path) == 0)
    return ps_fail(m, PS_EINVAL, "%s %s is the data file itself; it must name another file", opt, path);
  if (stat(path, &out) != 0) {
    /* a new file is no input; its directory must exist (said now, not after the fit) */
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    struct stat ds;
    if (stat(dir, &ds) != 0) return ps_fail(m, PS_EIO, "cannot write %s %s: its directory %s: %s", opt, path, dir, strerror(errno));
    if (!S_ISDIR(ds.st_mode)) return ps_fail(m, PS_EIO, "cannot write %s %s: %s is not a directory", opt, path, dir);
    return PS_OK;
  }
  if (S_ISDIR(out.st_mode)) return ps_fail(m, PS_EINVAL, "%s %s is a directory; it must name a file", opt, path);
  if (have_in && fit_same_file(in, &out))
    return ps_fail(m, PS_EINVAL,
                   "%s %s is the data file %s (the same file: same device and inode, through a link or "
                   "the same path); it must name another file, or the table would replace the input",
                   opt, path, data);
  if (have_so && S_ISREG(out.st_mode) && fit_same_file(&out, so))
    return ps_fail(m, PS_EINVAL, "%s %s is the file standard output goes to; the two tables must go to different files",
                   opt, path);
  if (access(path, W_OK) != 0) return ps_fail(m, PS_EIO, "cannot write %s %s: %s", opt, path, strerror(errno));
  return PS_OK;
}

int fit_check_outputs(const fit_args *a, ps_msg *m) {
  struct stat in, so;
  int have_in = a->data && stat_data(a->data, &in) == 0 && !S_ISCHR(in.st_mode) && !S_ISFIFO(in.st_mode) &&
                !S_ISSOCK(in.st_mode);
  const char *data = a->data && strcmp(a->data, "-") ? a->data : "read from standard input";
  /* standard output matters only when the output goes there */
  int have_so = !a->output && fstat(STDOUT_FILENO, &so) == 0 && S_ISREG(so.st_mode);
  if (have_in && have_so && fit_same_file(&in, &so))
    return ps_fail(m, PS_EINVAL,
                   "standard output is the data file %s itself (same device and inode): the table would be "
                   "written into the input%s; redirect the output to another file",
                   data,
                   so.st_size == 0 ? " (it is empty now: a '>' redirection emptied it before prefsim started)" : "");
  if (a->output && a->annotators_path && !strcmp(a->output, a->annotators_path))
    return ps_fail(m, PS_EINVAL, "--output and --annotators name the same file %s; the two tables must go to "
                   "different files", a->output);
  int s;
  if (a->output && (s = check_path("--output", a->output, a, &in, have_in, &so, 0, data, m)) != PS_OK) return s;
  if (a->annotators_path &&
      (s = check_path("--annotators", a->annotators_path, a, &in, have_in, &so, have_so, data, m)) != PS_OK)
    return s;
  if (a->output && a->annotators_path) { /* the same file by another name */
    struct stat x, y;
    if (stat(a->output, &x) == 0 && stat(a->annotators_path, &y) == 0 && fit_same_file(&x, &y))
      return ps_fail(m, PS_EINVAL, "--output %s and --annotators %s are the same file; the two tables must go to "
                     "different files", a->output, a->annotators_path);
  }
  return PS_OK;
}

/* ----------------------------------------------------- atomic output */

/* The temporary being written, for the signal handler (one at a time). */
static char pending_tmp[PATH_MAX + 64];
static volatile sig_atomic_t have_pending;
static struct sigaction old_action[4];
static const int caught[4] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

static void on_signal(int sig) {
  if (have_pending) unlink(pending_tmp); /* async-signal-safe */
  have_pending = 0;
  signal(sig, SIG_DFL);
  raise(sig);
}

static void guard(const char *tmp) {
  /* a name too long for the buffer is not removed on a signal (never a truncated name) */
  if (strlen(tmp) < sizeof pending_tmp) {
    memcpy(pending_tmp, tmp, strlen(tmp) + 1);
    have_pending = 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 4; i++) sigaction(caught[i], &sa, &old_action[i]);
}

static void unguard(void) {
  have_pending = 0;
  for (int i = 0; i < 4; i++) sigaction(caught[i], &old_action[i], NULL);
}

int fit_out_open(fit_outfile *o, const char *path, ps_msg *m) {
  memset(o, 0, sizeof *o);
  o->path = path;
  struct stat st, lst;
  int exists = stat(path, &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) return ps_fail(m, PS_EIO, "cannot write %s: it is a directory", path);
  if (exists && !S_ISREG(st.st_mode)) {
    /* a device, FIFO or terminal: nothing to replace, no rename possible */
    if (!(o->fp = fopen(path, "w"))) return ps_fail(m, PS_EIO, "cannot write %s: %s", path, strerror(errno));
    return PS_OK;
  }
  /* a file we may not write is not replaced either (as a plain open would refuse it) */
  if (exists && access(path, W_OK) != 0) return ps_fail(m, PS_EIO, "cannot write %s: %s", path, strerror(errno));
  /* the file replaced: the one a symbolic link names (the link stays a link) */
  char *real = NULL;
  if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && exists) real = realpath(path, NULL);
  const char *target = real ? real : path;
  size_t len = strlen(target);
  const char *slash = strrchr(target, '/');
  size_t dir_len = slash ? (size_t)(slash - target) + 1 : 0; /* with its '/' */
  o->target = malloc(len + 1);
  o->tmp = malloc(len + 32);
  if (!o->target || !o->tmp) {
    free(real);
    fit_out_abort(o);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  memcpy(o->target, target, len + 1);
  snprintf(o->tmp, len + 32, "%.*s.%s.prefsim-XXXXXX", (int)dir_len, target, target + dir_len);
  free(real);
  int fd = mkstemp(o->tmp);
  if (fd < 0) {
    int e = errno;
    fit_out_abort(o);
    return ps_fail(m, PS_EIO, "cannot write %s: cannot create a temporary file beside it: %s", path, strerror(e));
  }
  o->tmp_exists = 1;
  guard(o->tmp);
  mode_t mode;
  if (exists) {
    mode = st.st_mode & 07777;
  } else {
    mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  if (fchmod(fd, mode) != 0 || !(o->fp = fdopen(fd, "w"))) {
    int e = errno;
    if (!o->fp) close(fd);
    fit_out_abort(o);
    return ps_fail(m, PS_EIO, "cannot write %s: %s", path, strerror(e));
  }
  return PS_OK;
}

void fit_out_abort(fit_outfile *o) {
  if (o->fp) fclose(o->fp);
  if (o->tmp_exists) {
    unlink(o->tmp);
    unguard();
  }
  free(o->tmp);
  free(o->target);
  memset(o, 0, sizeof *o);
}

int fit_out_commit(fit_outfile *o, ps_msg *m) {
  if (!o->fp) return PS_OK;
  int atomic = o->tmp_exists;
  int bad = fflush(o->fp) != 0 || ferror(o->fp), e = errno;
  if (!bad && atomic && fsync(fileno(o->fp)) != 0) bad = 1, e = errno;
  FILE *fp = o->fp;
  o->fp = NULL;
  if (fclose(fp) != 0 && !bad) bad = 1, e = errno;
  if (!bad && atomic && rename(o->tmp, o->target) != 0) bad = 1, e = errno;
  if (bad) {
    const char *path = o->path;
    fit_out_abort(o);
    return ps_fail(m, PS_EIO, "cannot write %s: %s%s", path, strerror(e),
                   atomic ? " (the file was left as it was)" : "");
  }
  if (atomic) {
    o->tmp_exists = 0;
    unguard();
    /* the rename is durable once the directory is: fsync it (a file system that
     * cannot, e.g. some network ones, returns EINVAL: nothing more to do there) */
    char *slash = strrchr(o->target, '/');
    if (slash) slash[slash == o->target ? 1 : 0] = 0;
    int dfd = open(slash ? o->target : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  free(o->tmp);
  free(o->target);
  memset(o, 0, sizeof *o);
  return PS_OK;
}
