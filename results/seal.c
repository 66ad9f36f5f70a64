/* seal.c — whole-file checksum of results files (see seal.h). */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char HDF5_SIGNATURE[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};

/* CRC-32 of fd's bytes from SEAL_BLOCK to the end; *size gets the file size */
static int crc_rest(int fd, uint64_t *size, uint32_t *crc) {
  enum { BUF = 1 << 20 };
  unsigned char *buf = malloc(BUF);
  if (!buf) return -1;
  uLong c = crc32(0L, Z_NULL, 0);
  uint64_t off = SEAL_BLOCK;
  for (;;) {
    ssize_t k = pread(fd, buf, BUF, (off_t)off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      free(buf);
      return -1;
    }
    if (k == 0) break;
    c = crc32(c, buf, (uInt)k);
    off += (uint64_t)k;
  }
  free(buf);
  *size = off;
  *crc = (uint32_t)c;
  return 0;
}

static uint32_t crc_buf(const unsigned char *p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return (uint32_t)c;
}

void seal_image(unsigned char *image, size_t size) {
  uint32_t crc = size > SEAL_BLOCK ? crc_buf(image + SEAL_BLOCK, size - SEAL_BLOCK) : crc_buf(image, 0);
  memset(image, 0, SEAL_BLOCK);
  snprintf((char *)image, SEAL_BLOCK, "prefsim-seal 1 size=%" PRIu64 " crc32=%08" PRIx32 "\n", (uint64_t)size, crc);
}

int seal_check(const char *path, int *sealed, ps_msg *m) {
  *sealed = 0;
  struct stat st;
  if (stat(path, &st) != 0) return ps_fail(m, PS_EIO, "%s: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) return ps_fail(m, PS_EIO, "%s is a directory, not a results file", path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ps_fail(m, PS_EIO, "%s: %s", path, strerror(errno));
  char block[SEAL_BLOCK + 1];
  memset(block, 0, sizeof block);
  ssize_t got = pread(fd, block, SEAL_BLOCK, 0);
  int s = PS_OK;
  if (got >= 8 && !memcmp(block, HDF5_SIGNATURE, 8)) {
    s = PS_OK; /* unsealed HDF5 (older prefsim) */
  } else if (got < SEAL_BLOCK || strncmp(block, "prefsim-seal 1 ", 15) != 0) {
    s = ps_fail(m, PS_EFORMAT,
                "%s is not a prefsim results file, or its first bytes are damaged (no seal and no HDF5 "
                "signature)",
                path);
  } else {
    uint64_t want_size = 0, size = 0;
    uint32_t want_crc = 0, crc = 0;
    char *nl = memchr(block, '\n', SEAL_BLOCK);
    int n = 0;
    int parsed = nl && sscanf(block, "prefsim-seal 1 size=%" SCNu64 " crc32=%8" SCNx32 "%n", &want_size, &want_crc,
                              &n) == 2 && block + n == nl;
    for (const char *c = nl ? nl + 1 : block; parsed && c < block + SEAL_BLOCK; c++)
      if (*c) parsed = 0;
    if (!parsed) {
      s = ps_fail(m, PS_EFORMAT, "%s is damaged: its seal (the first %d bytes) is not well formed", path,
                  SEAL_BLOCK);
    } else if ((uint64_t)st.st_size != want_size) {
      s = ps_fail(m, PS_EFORMAT, "%s is damaged: %lld bytes where its seal says %" PRIu64 " (truncated or extended)",
                  path, (long long)st.st_size, want_size);
    } else if (crc_rest(fd, &size, &crc) != 0) {
      s = ps_fail(m, PS_EIO, "%s: %s", path, strerror(errno));
    } else if (size != want_size || crc != want_crc) {
      s = ps_fail(m, PS_EFORMAT,
                  "%s is damaged: its checksum is %08" PRIx32 " where its seal says %08" PRIx32
                  " (bytes changed after it was written)",
                  path, crc, want_crc);
    } else {
      *sealed = 1;
    }
  }
  close(fd);
  return s;
}
