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

/* Copies s into out with every control byte (0x00-0x1f, 0x7f) written as
 * \xNN, so a device-controlled string (an MQTT topic, payload text, a
 * device's error text) can never end the line and start a forged one with
 * its own "<0>" priority under journald. Trailing newlines are dropped
 * (library messages such as Paho's end with one). Truncates to fit. */
static void escape_line(char *out, size_t outsz, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s), o = 0;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) {
        n--;
    }
    for (size_t i = 0; i < n && o + 5 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static void vlog(enum cg_log_level level, const char *who, const char *fmt, va_list ap)
{
    if (level > threshold) {
        return;
    }
    char raw[2048], msg[4 * sizeof(raw)], name[256];
    vsnprintf(raw, sizeof(raw), fmt, ap);
    /* The one place every line passes: escaping here covers every caller. */
    escape_line(msg, sizeof(msg), raw);
    escape_line(name, sizeof(name), who ? who : "citygate");
    /* One write per line, so lines from threads never interleave. */
    static int journal = -1; /* read and set under log_lock: any thread may log first */
    pthread_mutex_lock(&log_lock);
    if (journal < 0) {
        journal = getenv("JOURNAL_STREAM") != NULL;
    }
    if (journal) {
        fprintf(stderr, "<%d>%s: %s\n", (int)level, name, msg);
    } else {
        fprintf(stderr, "%s %s: %s\n", level_name(level), name, msg);
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
