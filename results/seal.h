/* seal.h — a whole-file checksum for results files.  Private to results/.
 *
 * The writer gives every results file a 512-byte HDF5 user block (HDF5 then starts
 * the file proper at byte 512; h5py, h5dump, netCDF and xarray read such files
 * unaided).  Once the HDF5 file is closed, the user block receives one text line
 *   "prefsim-seal 1 size=<bytes> crc32=<8 hex>\n"
 * (zlib's CRC-32 of bytes 512..size-1), NUL-padded; the writer builds the file in
 * memory, seals the image and writes it with one write(2) (results/h5snap.c).  Readers check it before HDF5
 * sees a byte: a file that was truncated, extended or changed anywhere (the line and
 * its padding included) is reported as damaged, and HDF5 is never asked to parse
 * damaged metadata, which it is not robust against.  `head -c 80 FILE` shows it. */
#ifndef PS_RESULTS_SEAL_H
#define PS_RESULTS_SEAL_H

#include "../core/ps.h"

#define SEAL_BLOCK 512

/* Write the seal into the first SEAL_BLOCK bytes of a whole file image of size bytes
 * (an HDF5 file created with a SEAL_BLOCK user block, so those bytes are its own). */
void seal_image(unsigned char *image, size_t size);

/* Check path's seal.  PS_OK with *sealed = 1 (intact) or 0 (a plain HDF5 file
 * without a seal, as written by prefsim before 0.2); PS_EFORMAT naming the damage;
 * PS_EIO when it cannot be read. */
int seal_check(const char *path, int *sealed, ps_msg *m);

#endif
