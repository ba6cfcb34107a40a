/* citygate — retry delays for adapters and outputs: exponential from min_ms
 * to max_ms, with a choice of jitter, reset on success.
 *
 *   struct cg_backoff b;
 *   cg_backoff_init(&b, 500, 30000, CG_BACKOFF_FULL, 0);
 *   on failure:  next_try = now + cg_backoff_next(&b);
 *   on success:  cg_backoff_reset(&b);
 *
 * Jitter spreads the retries of many gateways (or devices) that lost the same
 * server at the same moment, so they do not come back in step:
 *   CG_BACKOFF_NONE          min, 2 min, 4 min, ... max (exactly)
 *   CG_BACKOFF_FULL          uniform in [min, ceiling], ceiling doubling from
 *                            min to max (the output engine's retry)
 *   CG_BACKOFF_DECORRELATED  uniform in [min, 3 * previous delay], capped at
 *                            max (AWS "decorrelated jitter")
 * The random numbers come from a xorshift64* state seeded by the caller: a
 * fixed seed gives the same delays every run (tests); seed 0 takes one from
 * the clock and the object's address. Not for security. No locking: one
 * owner thread, or the owner's lock. */
#ifndef CITYGATE_BACKOFF_H
#define CITYGATE_BACKOFF_H

#include <stdint.h>

enum cg_backoff_jitter {
    CG_BACKOFF_NONE = 0,
    CG_BACKOFF_FULL,
    CG_BACKOFF_DECORRELATED,
};

struct cg_backoff {
    int64_t min_ms, max_ms;
    enum cg_backoff_jitter jitter;
    unsigned attempt;    /* failures since the last reset */
    int64_t last_ms;     /* the last delay returned (0 after a reset) */
    uint64_t rng;        /* xorshift64* state, never 0 */
};

/* min_ms < 1 is taken as 1, max_ms < min_ms as min_ms. */
void cg_backoff_init(struct cg_backoff *b, int64_t min_ms, int64_t max_ms, enum cg_backoff_jitter jitter,
                     uint64_t seed);
/* The delay before the next attempt, in [min_ms, max_ms]; counts a failure. */
int64_t cg_backoff_next(struct cg_backoff *b);
/* Back to min_ms (after a success). Keeps the random state. */
void cg_backoff_reset(struct cg_backoff *b);

/* Pure forms, for callers that keep their own state. */
/* min_ms * 2^attempt, capped at max_ms (no overflow). */
int64_t cg_backoff_ceiling_ms(int64_t min_ms, int64_t max_ms, unsigned attempt);
/* Full jitter from a given random number: min_ms + rnd % (ceiling - min_ms + 1). */
int64_t cg_backoff_full_ms(int64_t min_ms, int64_t max_ms, unsigned attempt, uint64_t rnd);
/* Steps a xorshift64* state (*state must not be 0) and returns the next number. */
uint64_t cg_backoff_rand(uint64_t *state);

#endif
