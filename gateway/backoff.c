/* citygate — retry delays (include/citygate/backoff.h). */
#include <citygate/backoff.h>

#include <time.h>

static void clamp(int64_t *min_ms, int64_t *max_ms)
{
    if (*min_ms < 1) {
        *min_ms = 1;
    }
    if (*max_ms < *min_ms) {
        *max_ms = *min_ms;
    }
}

int64_t cg_backoff_ceiling_ms(int64_t min_ms, int64_t max_ms, unsigned attempt)
{
    clamp(&min_ms, &max_ms);
    int64_t ceil = min_ms;
    for (unsigned i = 0; i < attempt && ceil < max_ms; i++) {
        ceil = ceil > max_ms / 2 ? max_ms : ceil * 2;
    }
    return ceil > max_ms ? max_ms : ceil;
}

int64_t cg_backoff_full_ms(int64_t min_ms, int64_t max_ms, unsigned attempt, uint64_t rnd)
{
    clamp(&min_ms, &max_ms);
    int64_t ceil = cg_backoff_ceiling_ms(min_ms, max_ms, attempt);
    uint64_t span = (uint64_t)(ceil - min_ms) + 1;
    return min_ms + (int64_t)(rnd % span);
}

uint64_t cg_backoff_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

void cg_backoff_init(struct cg_backoff *b, int64_t min_ms, int64_t max_ms, enum cg_backoff_jitter jitter,
                     uint64_t seed)
{
    clamp(&min_ms, &max_ms);
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)b;
    }
    *b = (struct cg_backoff){
        .min_ms = min_ms, .max_ms = max_ms, .jitter = jitter, .rng = seed ? seed : 0x9E3779B97F4A7C15ULL};
}

void cg_backoff_reset(struct cg_backoff *b)
{
    b->attempt = 0;
    b->last_ms = 0;
}

int64_t cg_backoff_next(struct cg_backoff *b)
{
    int64_t d;
    switch (b->jitter) {
    case CG_BACKOFF_FULL:
        d = cg_backoff_full_ms(b->min_ms, b->max_ms, b->attempt, cg_backoff_rand(&b->rng));
        break;
    case CG_BACKOFF_DECORRELATED: {
        int64_t prev = b->last_ms < b->min_ms ? b->min_ms : b->last_ms;
        int64_t hi = prev > b->max_ms / 3 ? b->max_ms : prev * 3;
        d = b->min_ms + (int64_t)(cg_backoff_rand(&b->rng) % ((uint64_t)(hi - b->min_ms) + 1));
        break;
    }
    default:
        d = cg_backoff_ceiling_ms(b->min_ms, b->max_ms, b->attempt);
        break;
    }
    if (d > b->max_ms) {
        d = b->max_ms;
    }
    if (b->attempt < 64) {
        b->attempt++;
    }
    b->last_ms = d;
    return d;
}
