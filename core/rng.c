/* rng.c — Philox4x64 micro-RNG for GSL (see rng.h).
 *
 * The counter's last word carries Random123's per-reset draw count in its top 32
 * bits, so (point, replicate, substream) go in words 0..2 and word 3 stays 0. */
#include "rng.h"

#include <Random123/philox.h>
#include <Random123/gsl_microrng.h>

GSL_MICRORNG(ps_philox, philox4x64);

gsl_rng *ps_rng_alloc(void) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_ps_philox);
  if (r) ps_rng_reset(r, 0, PS_STREAM_WORLD, 0, 0, 0);
  return r;
}

void ps_rng_reset(gsl_rng *r, uint64_t seed, ps_stream purpose, uint64_t point, uint64_t replicate,
                  uint64_t substream) {
  philox4x64_ctr_t c = {{point, replicate, substream, 0}};
  philox4x64_key_t k = {{seed, (uint64_t)purpose}};
  ps_philox_reset(r, c, k);
}

const char *ps_rng_name(void) { return "philox4x64-10 (Random123) via gsl_microrng"; }
