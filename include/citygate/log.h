/* citygate — logging for the core and adapters.
 *
 * Lines go to stderr as "<N>citygate[source]: message" when stderr is the journal
 * (sd-daemon priority prefix), or "LEVEL source: message" on a terminal.
 * Thread-safe. Library-like modules (codecs, encoder, decoders) never log.
 * Every control byte in the message (a newline in an MQTT topic, an escape
 * sequence in a device's text) is written as \xNN, so text from the wire can
 * be passed as it is and never forges a line or a priority. */
#ifndef CITYGATE_LOG_H
#define CITYGATE_LOG_H

#include <stdint.h>

enum cg_log_level {
    CG_LOG_ERROR = 3, /* syslog priorities, so journald shows them right */
    CG_LOG_WARN = 4,
    CG_LOG_INFO = 6,
    CG_LOG_DEBUG = 7,
};

void cg_log(enum cg_log_level level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Rate-limited complaint, in the style of collectd's c_complain: the first
 * failure logs, repeats are suppressed for an interval that doubles up to
 * one hour, and the first success after failures logs "recovered" once.
 * Embed one per thing that can fail (a device, a topic, an output).
 * Not thread-safe per instance: one owner thread. */
struct cg_complain {
    int64_t last_ms;
    int64_t interval_ms;
    uint64_t suppressed;
    int failing;
};

void cg_complain(struct cg_complain *c, enum cg_log_level level, const char *who,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Logs "<what> recovered" at INFO if the complaint was active, then resets it. */
void cg_complain_clear(struct cg_complain *c, const char *who, const char *what);

#endif
