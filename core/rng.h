/* rng.h — counter-based random streams (Random123 Philox4x64 through its GSL
 * adapter).
 *
 * A stream is keyed by (master seed, purpose) and positioned by the counter
 * (point, replicate, substream): the draws of one cell never depend on which
 * thread, rank or machine runs it, or on what ran before.  Each purpose is an
 * independent stream, so changing an estimator (PS_STREAM_ESTIMATOR) leaves the
 * simulated data (WORLD ... JUDGEMENTS) unchanged.  One reset allows 2^32 draws of
 * 32 bits (Random123's micro-RNG limit); callers take a fresh substream for more. */
#ifndef PS_SIM_RNG_H
#define PS_SIM_RNG_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

typedef enum {
  PS_STREAM_WORLD = 1,
  PS_STREAM_POPULATION = 2,
  PS_STREAM_QUERIES = 3,
  PS_STREAM_JUDGEMENTS = 4,
  PS_STREAM_ESTIMATOR = 5,
  PS_STREAM_BOOTSTRAP = 6
} ps_stream;

/* A gsl_rng of the Philox micro-RNG type; free with gsl_rng_free.  NULL on ENOMEM. */
gsl_rng *ps_rng_alloc(void);

/* Position r at the start of stream (seed, purpose) with counter (point, replicate,
 * substream). */
void ps_rng_reset(gsl_rng *r, uint64_t seed, ps_stream purpose, uint64_t point, uint64_t replicate,
                  uint64_t substream);

/* Name written into results files ("philox4x64-10 (Random123) via gsl_microrng"). */
const char *ps_rng_name(void);

#endif
