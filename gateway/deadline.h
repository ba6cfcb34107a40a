/* citygate — absolute CLOCK_MONOTONIC deadlines for pthread_cond_timedwait on
 * condition variables created with pthread_condattr_setclock(CLOCK_MONOTONIC). */
#ifndef CG_DEADLINE_H
#define CG_DEADLINE_H
#include <time.h>

static inline void cg_deadline_after_ms(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}
#endif
