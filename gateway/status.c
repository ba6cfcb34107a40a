/* citygate — status snapshot helpers and the health rules (see status.h).
 *
 * The rules, in the words of an operator ("degraded" when any holds):
 *   - an output has been failing for more than CG_STATUS_OUTPUT_DOWN_S;
 *   - an output has lines waiting for longer than CG_STATUS_WAITING_S;
 *   - a device is down or quarantined;
 *   - the buffer is more than CG_STATUS_BUFFER_PCT % full;
 *   - readings were refused (buffer full) within the last CG_STATUS_REFUSED_S;
 *   - the system clock is not synchronised (unless gateway.unsynced_clock is
 *     "ignore"): every timestamp the gateway makes may be wrong. */
#include "status.h"
#include "http_status.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define NS_PER_S ((int64_t)1000000000)
#define CG_STATUS_OUTPUT_DOWN_S 60
#define CG_STATUS_WAITING_S 300
#define CG_STATUS_BUFFER_PCT 80
#define CG_STATUS_REFUSED_S 60
#define CLOCK_UNSYNCED_TEXT "system clock not synchronised (adjtimex)"

void cg_status_done(struct cg_status *st)
{
    if (st == NULL) {
        return;
    }
    for (size_t i = 0; i < st->n_sources; i++) {
        free(st->sources[i].devices);
    }
    free(st->sources);
    free(st->outputs);
    free(st->drops);
    st->drops = NULL;
    st->n_drops = 0;
    st->sources = NULL;
    st->outputs = NULL;
    st->n_sources = 0;
    st->n_outputs = 0;
}

void cg_status_add_process(struct cg_status *st)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        st->cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        st->cpu_system_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    /* statm: size resident shared ... in pages (ru_maxrss is the peak, not now). */
    FILE *f = fopen("/proc/self/statm", "re");
    if (f != NULL) {
        unsigned long long size = 0, resident = 0;
        if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
            long page = sysconf(_SC_PAGESIZE);
            st->rss_bytes = resident * (unsigned long long)(page > 0 ? page : 4096);
        }
        fclose(f);
    }
}

/* Refusals are "increasing" when the total grew within CG_STATUS_REFUSED_S.
 * Several readers (/healthz, /metrics, the status page) call in; each sees the
 * same verdict because we remember when the growth was seen, not the delta. */
static pthread_mutex_t refused_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t refused_seen;
static int64_t refused_grew_ns;

static bool refusals_recent(uint64_t total, int64_t now_ns)
{
    bool recent;
    pthread_mutex_lock(&refused_lock);
    if (total < refused_seen) { /* counters restarted (new process state) */
        refused_seen = 0;
        refused_grew_ns = 0;
    }
    if (total > refused_seen) {
        refused_seen = total;
        refused_grew_ns = now_ns;
    }
    recent = refused_grew_ns != 0 && now_ns - refused_grew_ns < CG_STATUS_REFUSED_S * NS_PER_S;
    pthread_mutex_unlock(&refused_lock);
    return recent;
}

struct reasons {
    char *p;
    size_t len, used;
};

static void reason(struct reasons *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(struct reasons *r, const char *fmt, ...)
{
    if (r->p == NULL || r->len == 0 || r->used + 1 >= r->len) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->p + r->used, r->len - r->used, fmt, ap);
    va_end(ap);
    if (n < 0) {
        r->p[r->used] = '\0';
        return;
    }
    /* one reason per line: a newline inside a device name must not split it */
    for (char *c = r->p + r->used; *c; c++) {
        if (*c == '\n' || *c == '\r') {
            *c = ' ';
        }
    }
    r->used += (size_t)n;
    if (r->used + 1 < r->len) {
        r->p[r->used++] = '\n';
        r->p[r->used] = '\0';
    } else {
        r->used = r->len - 1; /* truncated: keep what fits */
    }
}

/* Seconds since ns (wall clock), from the snapshot's now. */
static int64_t age_s(const struct cg_status *st, int64_t ns)
{
    return ns > 0 && st->now_ns > ns ? (st->now_ns - ns) / NS_PER_S : 0;
}

/* The age of the oldest line an output has not delivered. The snapshot does
 * not carry the journal's per-reader oldest_unread_ns yet, so this is bounded
 * from above by the time since the output last delivered anything (or since
 * the start): lines cannot have waited longer than that. */
int64_t cg_status_oldest_unsent_s(const struct cg_status *st, const struct cg_status_output *o)
{
    if (o->st.journal_unread_lines == 0) {
        return 0;
    }
    if (o->oldest_unsent_ns > 0) {
        return age_s(st, o->oldest_unsent_ns);
    }
    int64_t since = o->st.last_ok_ns > st->started_ns ? o->st.last_ok_ns : st->started_ns;
    return age_s(st, since);
}

/* How long an output has been failing: 0 while up, or before its first request. */
int64_t cg_status_output_down_s(const struct cg_status *st, const struct cg_status_output *o)
{
    if (o->st.up || o->st.requests == 0) {
        return 0;
    }
    int64_t since = o->st.last_ok_ns > st->started_ns ? o->st.last_ok_ns : st->started_ns;
    return age_s(st, since);
}

bool cg_status_healthy(const struct cg_status *st, char *reasons, size_t reasons_len)
{
    struct reasons r = {.p = reasons, .len = reasons_len, .used = 0};
    bool ok = true;
    if (reasons && reasons_len) {
        reasons[0] = '\0';
    }
    for (size_t i = 0; i < st->n_outputs; i++) {
        const struct cg_status_output *o = &st->outputs[i];
        int64_t down = cg_status_output_down_s(st, o);
        if (down > CG_STATUS_OUTPUT_DOWN_S) {
            ok = false;
            reason(&r, "output %s down for %" PRId64 " s (last status %d%s%s)", o->name, down, o->st.last_status,
                   o->st.last_error[0] ? ": " : "", o->st.last_error);
        }
        int64_t waiting = cg_status_oldest_unsent_s(st, o);
        if (waiting > CG_STATUS_WAITING_S) {
            ok = false;
            reason(&r, "output %s has %" PRIu64 " lines waiting for up to %" PRId64 " s", o->name,
                   o->st.journal_unread_lines, waiting);
        }
    }
    uint64_t refused = st->journal.refused;
    for (size_t i = 0; i < st->n_sources; i++) {
        const struct cg_status_source *s = &st->sources[i];
        refused += s->counters.points_refused;
        for (size_t k = 0; k < s->n_devices; k++) {
            const struct cg_status_device *d = &s->devices[k];
            /* MQTT names its subscriptions and rules "subscription x" and
             * "rule y" already; devices and links get the word here. */
            bool named = d->kind == CG_HEALTH_SUBSCRIPTION || d->kind == CG_HEALTH_RULE;
            const char *kind = named ? "" : cg_status_kind_name(d->kind);
            if (d->quarantined) {
                ok = false;
                reason(&r, "%s%s%s/%s quarantined after %" PRIu64 " failures%s%s", kind, named ? "" : " ", s->name,
                       d->name, d->consecutive_failures, d->last_error[0] ? ": " : "", d->last_error);
            } else if (!d->up) {
                ok = false;
                reason(&r, "%s%s%s/%s down%s%s", kind, named ? "" : " ", s->name, d->name,
                       d->last_error[0] ? ": " : "", d->last_error);
            }
        }
    }
    if (st->journal.max_bytes > 0 && st->journal.bytes * 100 > st->journal.max_bytes * CG_STATUS_BUFFER_PCT) {
        ok = false;
        reason(&r, "buffer %" PRIu64 " %% full (%" PRIu64 " of %" PRIu64 " bytes)",
               st->journal.bytes * 100 / st->journal.max_bytes, st->journal.bytes, st->journal.max_bytes);
    }
    if (st->clock == CG_STATUS_CLOCK_UNSYNCED && !st->clock_ignored) {
        ok = false;
        reason(&r, "%s", CLOCK_UNSYNCED_TEXT "; timestamps may be wrong, readings are marked quality=unsynced_clock");
    }
    if (st->journal.problem[0]) { /* disk buffer: cannot write, or damage seen */
        ok = false;
        reason(&r, "%s", st->journal.problem);
    }
    /* refusals while the disk cannot write are that problem, not a full buffer */
    if (refusals_recent(refused, st->now_ns) && !st->journal.write_failing) {
        ok = false;
        reason(&r, "readings refused because the buffer is full (%" PRIu64 " so far)", refused);
    }
    return ok;
}

void cg_status_notes(const struct cg_status *st, char *notes, size_t notes_len)
{
    struct reasons r = {.p = notes, .len = notes_len, .used = 0};
    if (notes && notes_len) {
        notes[0] = '\0';
    }
    if (st->clock == CG_STATUS_CLOCK_UNSYNCED && st->clock_ignored) {
        reason(&r, "%s", CLOCK_UNSYNCED_TEXT "; ignored by gateway.unsynced_clock");
    }
}

const char *cg_status_clock_transition(enum cg_status_clock *last, enum cg_status_clock now, bool ignored,
                                       enum cg_log_level *level)
{
    enum cg_status_clock was = *last;
    if (now == was || now == CG_STATUS_CLOCK_UNCHECKED) {
        return NULL;
    }
    *last = now;
    if (now == CG_STATUS_CLOCK_UNSYNCED) {
        *level = CG_LOG_WARN;
        return ignored ? CLOCK_UNSYNCED_TEXT ": readings are marked quality=unsynced_clock; /healthz stays ok "
                                             "(gateway.unsynced_clock: ignore)"
                       : CLOCK_UNSYNCED_TEXT ": readings are marked quality=unsynced_clock; /healthz says "
                                             "degraded until it is";
    }
    if (was == CG_STATUS_CLOCK_UNCHECKED) {
        return NULL; /* synchronised from the start: the normal case needs no line */
    }
    *level = CG_LOG_INFO;
    return "system clock synchronised again";
}

const char *cg_status_kind_name(enum cg_health_kind kind)
{
    switch (kind) {
    case CG_HEALTH_LINK:
        return "link";
    case CG_HEALTH_SUBSCRIPTION:
        return "subscription";
    case CG_HEALTH_RULE:
        return "rule";
    default:
        return "device";
    }
}
