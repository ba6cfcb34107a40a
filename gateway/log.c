/* citygate — logging to stderr, journald-friendly.
 *
 * Under systemd, stderr is the journal: a "<N>" prefix (sd-daemon(3)) gives each
 * line its priority. On a terminal we print a readable level name instead.
 * The threshold is process configuration set once by main before any thread
 * starts, then only read. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <citygate/point.h>
#include <unistd.h>

static enum cg_log_level threshold = CG_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void cg_log_set_level(enum cg_log_level level)
{
    threshold = level;
}

int cg_log_parse_level(const char *s, enum cg_log_level *out)
{
    static const struct {
        const char *name;
        enum cg_log_level level;
    } names[] = {{"error", CG_LOG_ERROR}, {"warn", CG_LOG_WARN}, {"info", CG_LOG_INFO}, {"debug", CG_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *level_name(enum cg_log_level l)
{
    switch (l) {
    case CG_LOG_ERROR:
        return "error";
    case CG_LOG_WARN:
        return "warn";
    case CG_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

static void vlog(enum cg_log_level level, const char *who, const char *fmt, va_list ap)
{
    if (level > threshold) {
        return;
    }
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* One write per line, so lines from threads never interleave. */
    static int journal = -1;
    if (journal < 0) {
        journal = getenv("JOURNAL_STREAM") != NULL;
    }
    pthread_mutex_lock(&log_lock);
    if (journal) {
        fprintf(stderr, "<%d>%s: %s\n", (int)level, who ? who : "citygate", msg);
    } else {
        fprintf(stderr, "%s %s: %s\n", level_name(level), who ? who : "citygate", msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void cg_log(enum cg_log_level level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, who, fmt, ap);
    va_end(ap);
}

#define COMPLAIN_FIRST_MS 60000
#define COMPLAIN_MAX_MS 3600000

void cg_complain(struct cg_complain *c, enum cg_log_level level, const char *who, const char *fmt, ...)
{
    int64_t now = cg_time_mono_ms();
    if (c->failing && now - c->last_ms < c->interval_ms) {
        c->suppressed++;
        return;
    }
    char msg[1800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->suppressed > 0) {
        cg_log(level, who, "%s (repeated %llu times since the last report)", msg,
               (unsigned long long)c->suppressed);
    } else {
        cg_log(level, who, "%s", msg);
    }
    c->interval_ms = c->failing ? c->interval_ms * 2 : COMPLAIN_FIRST_MS;
    if (c->interval_ms > COMPLAIN_MAX_MS) {
        c->interval_ms = COMPLAIN_MAX_MS;
    }
    c->failing = 1;
    c->last_ms = now;
    c->suppressed = 0;
}

void cg_complain_clear(struct cg_complain *c, const char *who, const char *what)
{
    if (c->failing) {
        cg_log(CG_LOG_INFO, who, "%s recovered", what);
    }
    c->failing = 0;
    c->suppressed = 0;
    c->interval_ms = 0;
}
