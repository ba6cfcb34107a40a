/* citygate — the output engine: journal reader loop, batching, retry with
 * backoff and jitter, split, bisection down to the dead-letter file, drain,
 * statistics. One thread per output; the type's send() does the protocol.
 * See output.h for the contract and docs/outputs.md for the user view. */
#include "output.h"

#include <citygate/backoff.h>

#include "buf.h"
#include "share.h"
#include <citygate/log.h>
#include <citygate/point.h> /* cg_time_mono_ms, cg_time_now_ns */

#include <cjson/cJSON.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100                      /* how often an idle thread looks at the stop flag */
#define BATCH_HARD_MAX ((size_t)1 << 30) /* a batch holds batch_bytes + one over-long line */
#define REASON_MAX CG_OUTPUT_REASON_MAX
#define LANE_BATCH_LINES 64 /* alarm events per request */
#define LANE_RETRY_MS 250   /* probe pace of a failing server while alarm events wait */

extern const struct cg_output_type cg_output_influxdb_v1;
extern const struct cg_output_type cg_output_influxdb_v2;
extern const struct cg_output_type cg_output_mqtt;

static const struct cg_output_type *const types[] = {
    &cg_output_influxdb_v1,
    &cg_output_influxdb_v2,
    &cg_output_mqtt,
    NULL,
};

const struct cg_output_type *const *cg_output_types(void)
{
    return types;
}

const char *cg_output_verdict_name(enum cg_output_verdict v)
{
    switch (v) {
    case CG_OUTPUT_OK:
        return "ok";
    case CG_OUTPUT_SPLIT:
        return "split";
    case CG_OUTPUT_REJECT:
        return "reject";
    case CG_OUTPUT_HOLD:
        return "hold";
    case CG_OUTPUT_RETRY:
        return "retry";
    }
    return "?";
}

struct cg_output_conf {
    const struct cg_output_type *type;
    struct cg_output_common *c; /* the type's conf, owned */
    struct cg_share_conf *share; /* the agreement, owned; NULL: everything */
};

int64_t cg_output_backoff_ms(int64_t initial_ms, int64_t max_ms, unsigned attempt, uint64_t rnd)
{
    return cg_backoff_full_ms(initial_ms, max_ms, attempt, rnd); /* include/citygate/backoff.h */
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-') {
            return false;
        }
    }
    return s[0] != '.';
}


int cg_output_check_common(const struct cg_output_common *c, const char *path, struct cg_errs *errs)
{
    char p[256];
    size_t before = errs->n + errs->lost;
    if (c->name != NULL && !name_ok(c->name)) {
        cg_path_key(p, sizeof(p), path, "name");
        cg_errs_add(errs, p, "must be 1..64 characters of A-Z a-z 0-9 _ . - (not starting with '.'), got '%s'",
                    c->name);
    }
    if (c->retry_initial_ms > c->retry_max_ms) {
        cg_path_key(p, sizeof(p), path, "retry_initial_ms");
        cg_errs_add(errs, p, "must not exceed retry_max_ms (%" PRId64 "), got %" PRId64, c->retry_max_ms,
                    c->retry_initial_ms);
    }
    if (c->dead_letter_file != NULL && c->dead_letter_file[0] == '\0') {
        cg_path_key(p, sizeof(p), path, "dead_letter_file");
        cg_errs_add(errs, p, "must not be empty");
    }
    return errs->n + errs->lost == before ? 0 : -EINVAL;
}

int cg_output_conf_parse(const cJSON *obj, const char *path, struct cg_output_conf **out, struct cg_errs *errs)
{
    char p[256];
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    const struct cg_output_type *t = NULL;
    if (!cJSON_IsObject(obj)) {
        cg_errs_add(errs, path, "must be an object");
        return -EINVAL;
    }
    cg_path_key(p, sizeof(p), path, "type");
    if (type == NULL) {
        cg_errs_add(errs, p, "missing (required)");
        return -EINVAL;
    }
    char list[256] = "";
    for (const struct cg_output_type *const *it = types; *it != NULL; it++) {
        if (cJSON_IsString(type) && strcmp((*it)->name, type->valuestring) == 0) {
            t = *it;
        }
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", it == types ? "" : ", ", (*it)->name);
    }
    if (t == NULL) {
        if (cJSON_IsString(type)) {
            cg_errs_add(errs, p, "must be one of %s; got '%s'", list, type->valuestring);
        } else {
            cg_errs_add(errs, p, "must be one of %s", list);
        }
        return -EINVAL;
    }
    struct cg_output_conf *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    c->type = t;
    int rc = t->ops->conf_parse(obj, path, &c->c, errs);
    if (rc < 0) {
        free(c);
        return rc;
    }
    const cJSON *agreement = cJSON_GetObjectItemCaseSensitive(obj, "agreement");
    cg_path_key(p, sizeof(p), path, "agreement");
    if (agreement != NULL && (rc = cg_share_conf_parse(agreement, p, &c->share, errs)) < 0) {
        cg_output_conf_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cg_output_conf_free(struct cg_output_conf *c)
{
    if (c == NULL) {
        return;
    }
    c->type->ops->conf_free(c->c);
    cg_share_conf_free(c->share);
    free(c);
}

const char *cg_output_conf_name(const struct cg_output_conf *c)
{
    return c ? c->c->name : NULL;
}

const char *cg_output_conf_target(const struct cg_output_conf *c)
{
    return c->type->ops->target(c->c);
}

const struct cg_output_type *cg_output_conf_type(const struct cg_output_conf *c)
{
    return c->type;
}

/* ---- the output --------------------------------------------------------- */

struct cg_output {
    const struct cg_output_type *type;
    const struct cg_output_common *c;
    void *state; /* the type's, from open() */
    struct cg_share *share; /* the agreement's state; NULL: none */
    struct cg_journal *j;
    unsigned reader;
    char who[80];
    char *dl_path;
    int dl_fd;
    uint64_t dl_size;

    /* The batch: raw journal lines (ns timestamps). [0, done_off) is already
     * resolved (accepted or dead-lettered) when a retry interrupted it. */
    struct cg_buf batch;
    size_t batch_lines;
    size_t done_off;
    size_t done_lines;
    bool batch_full;
    int64_t batch_first_ms;
    unsigned bisect_used;
    uint64_t batch_rejected; /* lines rejected in this batch, for one log line */
    int reject_status;
    char reject_reason[REASON_MAX + 1];

    struct cg_output_result res; /* the last send's answer */

    unsigned attempt;
    int64_t retry_delay_ms;
    uint64_t rng;

    struct cg_complain c_fail;
    struct cg_complain c_reject;
    struct cg_complain c_dl;
    struct cg_complain c_share;
    struct cg_complain c_share_news;

    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* st, and the cv for backoff sleeps */
    pthread_cond_t cv;
    atomic_bool stop;
    _Atomic int64_t stop_deadline_ms;
    struct cg_output_stats st;

    /* The alarm lane (alarm.h): served before the main journal. */
    struct cg_journal *lane;
    unsigned lane_reader;
    struct cg_buf lane_batch;
    struct cg_buf lane_shared; /* lane_batch through the agreement (share) */
    bool lane_single;      /* a lane batch was refused: one line per request until it is empty */
    int64_t lane_retry_ms; /* mono: earliest probe of a failing server with the lane while backing off */
};

static uint64_t next_rand(struct cg_output *o)
{
    return cg_backoff_rand(&o->rng); /* jitter only, not security */
}

static bool hard_stopped(struct cg_output *o)
{
    return atomic_load(&o->stop) && cg_time_mono_ms() >= atomic_load(&o->stop_deadline_ms);
}

static void sanitize(char *s)
{
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t') {
            *s = ' ';
        }
    }
}

static void set_last(struct cg_output *o, int status, const char *err, bool ok)
{
    pthread_mutex_lock(&o->lock);
    o->st.last_status = status;
    o->st.up = ok;
    if (ok) {
        o->st.last_ok_ns = cg_time_now_ns();
    } else {
        snprintf(o->st.last_error, sizeof(o->st.last_error), "%s", err);
    }
    pthread_mutex_unlock(&o->lock);
}

static int open_dead_letter(struct cg_output *o)
{
    if (o->dl_fd >= 0) {
        return 0;
    }
    int fd = open(o->dl_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        return -errno;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0) {
        o->dl_size = (uint64_t)sb.st_size;
    }
    o->dl_fd = fd;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes every line of p[0..len) to the dead-letter file with status and reason. */
static void dead_letter(struct cg_output *o, const char *p, size_t len, size_t nlines, int status,
                        const char *reason)
{
    char ts[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char hdr[REASON_MAX + 200];
    int hl = snprintf(hdr, sizeof(hdr), "# %s output=%s status=%d reason=%s\n", ts, o->c->name,
                      status, reason);
    if (hl < 0 || (size_t)hl >= sizeof(hdr)) {
        hl = (int)sizeof(hdr) - 1;
        hdr[hl - 1] = '\n';
    }
    uint64_t written = 0, dropped = 0;
    const char *end = p + len;
    struct cg_buf entry;
    cg_buf_init(&entry, BATCH_HARD_MAX);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        uint64_t need = (uint64_t)hl + l + 1;
        /* Opened (and its size taken) before the cap is checked: a file left by
         * an earlier run counts against the cap from the first line. */
        int orc = o->c->dead_letter_max_bytes > 0 ? open_dead_letter(o) : 0;
        if (orc == 0 && o->dl_size + need > (uint64_t)o->c->dead_letter_max_bytes) {
            dropped++;
            if (o->c->dead_letter_max_bytes == 0) {
                cg_complain(&o->c_dl, CG_LOG_WARN, o->who,
                            "dead-letter file disabled (dead_letter_max_bytes 0): rejected lines are only counted");
            } else {
                cg_complain(&o->c_dl, CG_LOG_ERROR, o->who,
                            "dead-letter file %s is full (dead_letter_max_bytes %" PRId64
                            "): rejected lines are only counted now",
                            o->dl_path, o->c->dead_letter_max_bytes);
            }
        } else {
            int rc = orc;
            cg_buf_reset(&entry);
            if (rc == 0) {
                rc = cg_buf_append(&entry, hdr, (size_t)hl);
            }
            if (rc == 0) {
                rc = cg_buf_append(&entry, p, l);
            }
            if (rc == 0) {
                rc = cg_buf_putc(&entry, '\n');
            }
            if (rc == 0) {
                rc = write_all(o->dl_fd, entry.data, entry.len);
            }
            if (rc < 0) {
                dropped++;
                cg_complain(&o->c_dl, CG_LOG_ERROR, o->who,
                            "cannot write dead-letter file %s: %s; rejected lines are only counted",
                            o->dl_path, strerror(-rc));
            } else {
                o->dl_size += entry.len;
                written++;
            }
        }
        p = nl ? nl + 1 : end;
    }
    cg_buf_done(&entry);
    (void)nlines;
    pthread_mutex_lock(&o->lock);
    o->st.lines_dead_lettered += written;
    o->st.lines_dropped += dropped;
    o->st.dead_letter_bytes = o->dl_size;
    pthread_mutex_unlock(&o->lock);
    o->batch_rejected += written + dropped;
    if (o->reject_status == 0) {
        o->reject_status = status;
        snprintf(o->reject_reason, sizeof(o->reject_reason), "%s", reason);
    }
}

/* Offset just past the k-th newline of p[0..len) (k >= 1). */
static size_t line_split(const char *p, size_t len, size_t k)
{
    size_t off = 0;
    while (k > 0 && off < len) {
        const char *nl = memchr(p + off, '\n', len - off);
        if (nl == NULL) {
            return len;
        }
        off = (size_t)(nl - p) + 1;
        k--;
    }
    return off;
}

static void resolved(struct cg_output *o, size_t end, size_t nlines)
{
    o->done_off = end;
    o->done_lines += nlines;
}

/* Resolves batch[off, end) holding nlines lines, in order, so that what is
 * resolved is always a prefix of the batch. 0: all accepted or dead-lettered;
 * -EAGAIN: retry later (o->res says why); -ECANCELED: stopped. */
static int deliver_range(struct cg_output *o, size_t off, size_t end, size_t nlines, bool bisecting)
{
    const char *p = o->batch.data + off;
    size_t len = end - off;
    if (bisecting && o->bisect_used >= (unsigned)o->c->bisect_max_requests) {
        char why[REASON_MAX + 1];
        snprintf(why, sizeof(why), "not isolated (bisect_max_requests reached); batch: %.240s",
                 o->reject_reason);
        dead_letter(o, p, len, nlines, o->reject_status, why);
        resolved(o, end, nlines);
        return 0;
    }
    if (bisecting) {
        o->bisect_used++;
        pthread_mutex_lock(&o->lock);
        o->st.bisect_requests++;
        pthread_mutex_unlock(&o->lock);
    }
    struct cg_output_result *r = &o->res;
    memset(r, 0, sizeof(*r));
    int rc = o->type->ops->send(o->state, p, len, nlines, r);
    pthread_mutex_lock(&o->lock);
    o->st.requests++;
    pthread_mutex_unlock(&o->lock);
    if (rc < 0) {
        return -ECANCELED;
    }
    r->reason[sizeof(r->reason) - 1] = '\0';
    sanitize(r->reason);
    enum cg_output_verdict a = r->verdict;
    if (a == CG_OUTPUT_OK) {
        set_last(o, r->status, "", true);
        pthread_mutex_lock(&o->lock);
        o->st.lines_sent += nlines;
        o->st.bytes_sent += r->bytes_sent;
        pthread_mutex_unlock(&o->lock);
        resolved(o, end, nlines);
        return 0;
    }
    char err[256];
    snprintf(err, sizeof(err), "%s %d: %.220s", o->type->status_word, r->status, r->reason);
    set_last(o, r->status, r->status ? err : r->reason, false);
    if (a == CG_OUTPUT_SPLIT || a == CG_OUTPUT_REJECT) {
        if (nlines <= 1) {
            char why[REASON_MAX + 1];
            if (a == CG_OUTPUT_SPLIT) {
                snprintf(why, sizeof(why), "line too large for the server (%.260s)", r->reason);
            } else {
                snprintf(why, sizeof(why), "%s", r->reason);
            }
            dead_letter(o, p, len, 1, r->status, why);
            resolved(o, end, nlines);
            return 0;
        }
        if (a == CG_OUTPUT_SPLIT) {
            pthread_mutex_lock(&o->lock);
            o->st.splits++;
            pthread_mutex_unlock(&o->lock);
        } else if (!bisecting) {
            o->reject_status = r->status;
            snprintf(o->reject_reason, sizeof(o->reject_reason), "%s", r->reason);
        }
        size_t half = nlines / 2;
        size_t mid = off + line_split(p, len, half);
        rc = deliver_range(o, off, mid, half, bisecting || a == CG_OUTPUT_REJECT);
        if (rc < 0) {
            return rc;
        }
        return deliver_range(o, mid, end, nlines - half, bisecting || a == CG_OUTPUT_REJECT);
    }
    return -EAGAIN; /* HOLD or RETRY: the caller backs off */
}

static void log_failure(struct cg_output *o, enum cg_output_verdict a, size_t pending)
{
    const struct cg_output_result *r = &o->res;
    const char *target = o->type->ops->target(o->c);
    const char *word = o->type->status_word;
    if (a == CG_OUTPUT_HOLD) {
        const char *hint = o->type->ops->hold_hint ? o->type->ops->hold_hint(o->c, r->status) : "";
        cg_complain(&o->c_fail, CG_LOG_ERROR, o->who,
                    "%s refused the write: %s %d %s%s; keeping %zu lines, retrying every %" PRId64 " ms", target,
                    word, r->status, r->reason, hint, pending, o->retry_delay_ms);
    } else if (r->status == 0) {
        cg_complain(&o->c_fail, CG_LOG_WARN, o->who,
                    "cannot write to %s: %s; keeping %zu lines, retrying in %" PRId64 " ms", target, r->reason,
                    pending, o->retry_delay_ms);
    } else {
        cg_complain(&o->c_fail, CG_LOG_WARN, o->who,
                    "%s answered %s %d %s; keeping %zu lines, retrying in %" PRId64 " ms", target, word,
                    r->status, r->reason, pending, o->retry_delay_ms);
    }
}

static void plan_retry(struct cg_output *o, enum cg_output_verdict a)
{
    const struct cg_output_common *c = o->c;
    int64_t d;
    if (a == CG_OUTPUT_HOLD) {
        d = c->retry_max_ms;
    } else {
        d = cg_output_backoff_ms(c->retry_initial_ms, c->retry_max_ms, o->attempt, next_rand(o));
    }
    int64_t ra = o->res.retry_after_ms;
    if (ra > 0) {
        /* the server's own delay wins, within [retry_initial_ms, the cap] */
        if (ra > CG_OUTPUT_RETRY_AFTER_MAX_MS) {
            ra = CG_OUTPUT_RETRY_AFTER_MAX_MS;
        }
        d = ra > c->retry_initial_ms ? ra : c->retry_initial_ms;
    }
    if (o->attempt < 64) {
        o->attempt++;
    }
    o->retry_delay_ms = d;
}

/* Sleeps until mono deadline `until` or a stop whose deadline is sooner. */
static void sleep_until(struct cg_output *o, int64_t until)
{
    pthread_mutex_lock(&o->lock);
    for (;;) {
        int64_t now = cg_time_mono_ms();
        int64_t end = until;
        if (atomic_load(&o->stop)) {
            int64_t sd = atomic_load(&o->stop_deadline_ms);
            if (sd < end) {
                end = sd;
            }
        }
        if (now >= end) {
            break;
        }
        int64_t ms = end - now;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&o->cv, &o->lock, &ts);
    }
    pthread_mutex_unlock(&o->lock);
}

/* fill() through an agreement: raw lines become what this output receives
 * (fewer, rewritten or aggregated), so the batch may pass batch_bytes by the
 * lines of one read. A read that leaves nothing to send is committed at once
 * (as far as open windows allow). */
static void fill_shared(struct cg_output *o, size_t max_lines, size_t max_bytes)
{
    long n = cg_share_fill(o->share, o->j, o->reader, &o->batch, &o->batch_lines, max_lines - o->batch_lines,
                           max_bytes - (o->batch.len < max_bytes ? o->batch.len : max_bytes - 1));
    if (o->batch_lines >= max_lines || o->batch.len >= max_bytes) {
        o->batch_full = true;
    }
    if (n > 0 && o->batch_lines == 0) {
        (void)cg_share_commit(o->share, o->j, o->reader);
    }
}

/* After delivery: commit the journal (through the agreement when there is one). */
static void commit(struct cg_output *o)
{
    if (o->share == NULL) {
        cg_journal_commit(o->j, o->reader);
    } else if (cg_share_commit(o->share, o->j, o->reader) < 0) {
        cg_complain(&o->c_share, CG_LOG_ERROR, o->who,
                    "cannot write the agreement's marks file in the state directory; committing later");
    }
    char news[400];
    if (o->share != NULL && cg_share_news(o->share, news, sizeof(news))) {
        cg_complain(&o->c_share_news, CG_LOG_WARN, o->who, "%s", news);
    }
}

/* Sends the alarm lane's unread events ahead of everything else. paced: only
 * if LANE_RETRY_MS passed since the last failure (the probe during a backoff,
 * so an outage's end is noticed within that, whatever retry_max_ms is).
 * 1: delivered something, 0: nothing to do, -EAGAIN: failed, -ECANCELED. */
static int serve_lane(struct cg_output *o, bool paced)
{
    if (o->lane == NULL || (paced && cg_time_mono_ms() < o->lane_retry_ms) ||
        cg_journal_wait(o->lane, o->lane_reader, 1, 0) <= 0) {
        return 0;
    }
    int done = 0;
    for (;;) {
        cg_buf_reset(&o->lane_batch);
        long n = cg_journal_read(o->lane, o->lane_reader, &o->lane_batch, o->lane_single ? 1 : LANE_BATCH_LINES,
                                 (size_t)o->c->batch_bytes);
        if (n <= 0) {
            o->lane_single = false;
            return done;
        }
        /* Events obey the output's agreement too: a regional hub gets them
         * with its privacy rules applied, or not at all if it does not
         * select them; they are never aggregated. */
        struct cg_buf *send = &o->lane_batch;
        if (o->share != NULL) {
            n = cg_share_events(o->share, o->lane_batch.data, o->lane_batch.len, &o->lane_shared);
            if (n <= 0) { /* selected nothing (counted as filtered), or ENOMEM: try again later */
                if (n < 0) {
                    cg_journal_rewind(o->lane, o->lane_reader);
                    return -EAGAIN;
                }
                cg_journal_commit(o->lane, o->lane_reader);
                cg_journal_flush(o->lane);
                continue;
            }
            send = &o->lane_shared;
        }
        struct cg_output_result *r = &o->res;
        memset(r, 0, sizeof(*r));
        int rc = o->type->ops->send(o->state, send->data, send->len, (size_t)n, r);
        pthread_mutex_lock(&o->lock);
        o->st.requests++;
        pthread_mutex_unlock(&o->lock);
        if (rc < 0) {
            cg_journal_rewind(o->lane, o->lane_reader);
            return -ECANCELED;
        }
        r->reason[sizeof(r->reason) - 1] = '\0';
        sanitize(r->reason);
        if (r->verdict == CG_OUTPUT_OK) {
            set_last(o, r->status, "", true);
            pthread_mutex_lock(&o->lock);
            o->st.lines_sent += (uint64_t)n;
            o->st.bytes_sent += r->bytes_sent;
            pthread_mutex_unlock(&o->lock);
            cg_journal_commit(o->lane, o->lane_reader);
            cg_journal_flush(o->lane); /* persist the position now: a crash must not resend an event */
            done = 1;
            continue;
        }
        if ((r->verdict == CG_OUTPUT_REJECT || r->verdict == CG_OUTPUT_SPLIT) && n > 1) {
            cg_journal_rewind(o->lane, o->lane_reader);
            o->lane_single = true;
            continue;
        }
        if (r->verdict == CG_OUTPUT_REJECT || r->verdict == CG_OUTPUT_SPLIT) {
            dead_letter(o, send->data, send->len, 1, r->status, r->reason);
            cg_journal_commit(o->lane, o->lane_reader);
            cg_journal_flush(o->lane);
            continue;
        }
        char err[256];
        snprintf(err, sizeof(err), "%s %d: %.220s", o->type->status_word, r->status, r->reason);
        set_last(o, r->status, r->status ? err : r->reason, false);
        cg_journal_rewind(o->lane, o->lane_reader);
        o->lane_retry_ms = cg_time_mono_ms() + LANE_RETRY_MS;
        return -EAGAIN;
    }
}

/* An events-only output (sirens): its readings are committed unsent, so the
 * buffer can free them; only the lane is delivered. True: stop now. */
static bool pass_over(struct cg_output *o, bool stopping)
{
    long n = cg_journal_wait(o->j, o->reader, 1, stopping ? 0 : POLL_MS);
    if (n > 0) {
        cg_buf_reset(&o->batch);
        cg_journal_read(o->j, o->reader, &o->batch, (size_t)o->c->batch_lines, (size_t)o->c->batch_bytes);
        cg_journal_commit(o->j, o->reader);
        cg_buf_reset(&o->batch);
        return false;
    }
    bool pending = o->lane != NULL && cg_journal_wait(o->lane, o->lane_reader, 1, 0) > 0;
    if (stopping && !pending) {
        return true;
    }
    if (n == -ESHUTDOWN || stopping) {
        sleep_until(o, cg_time_mono_ms() + POLL_MS); /* events wait for the lane's next try */
    }
    return false;
}

/* A backoff that the alarm lane cuts short: when its probe gets through, the
 * server is back and the batch is tried at once. */
static void backoff_sleep(struct cg_output *o, int64_t until)
{
    while (o->lane != NULL && cg_time_mono_ms() < until && !hard_stopped(o)) {
        int64_t next = cg_time_mono_ms() + POLL_MS;
        sleep_until(o, next < until ? next : until);
        if (serve_lane(o, true) == 1) {
            return;
        }
    }
    sleep_until(o, until);
}

/* Tops the batch up from the journal (never past batch_lines / batch_bytes,
 * except that a single over-long line forms a batch of its own). */
static void fill(struct cg_output *o)
{
    const struct cg_output_common *c = o->c;
    size_t max_lines = (size_t)c->batch_lines;
    size_t max_bytes = (size_t)c->batch_bytes;
    if (o->batch_lines >= max_lines || (o->batch_lines > 0 && o->batch.len >= max_bytes)) {
        o->batch_full = true;
        return;
    }
    if (o->share != NULL) {
        fill_shared(o, max_lines, max_bytes);
        return;
    }
    size_t before_lines = o->batch_lines;
    long unread = cg_journal_wait(o->j, o->reader, SIZE_MAX, 0);
    size_t room_bytes = o->batch_lines > 0 ? max_bytes - o->batch.len : max_bytes;
    /* With lines in the batch, a line that does not fit must stay in the
     * journal: capping the buffer makes the journal stop before it. */
    if (o->batch_lines > 0) {
        o->batch.max = max_bytes;
    }
    long n = cg_journal_read(o->j, o->reader, &o->batch, max_lines - o->batch_lines, room_bytes);
    o->batch.max = BATCH_HARD_MAX;
    if (n <= 0) {
        return;
    }
    o->batch_lines += (size_t)n;
    if (before_lines > 0 && o->batch.len > max_bytes) {
        /* The journal handed over one line past the cap anyway (it may always
         * take one line): put everything back and re-read exactly the lines
         * that fit, which one read from an empty batch does. */
        size_t keep = o->batch_lines - 1;
        cg_journal_rewind(o->j, o->reader);
        cg_buf_reset(&o->batch);
        long m = cg_journal_read(o->j, o->reader, &o->batch, keep, SIZE_MAX);
        o->batch_lines = m > 0 ? (size_t)m : 0;
        o->batch_full = true;
        return;
    }
    if (o->batch_lines >= max_lines || o->batch.len >= max_bytes) {
        o->batch_full = true;
        return;
    }
    size_t wanted = max_lines - before_lines;
    if (unread > 0 && (size_t)unread < wanted) {
        wanted = (size_t)unread;
    }
    if (unread > 0 && (size_t)n < wanted) {
        o->batch_full = true; /* the byte cap stopped the read */
    }
}

static void batch_reset(struct cg_output *o)
{
    cg_buf_reset(&o->batch);
    o->batch_lines = 0;
    o->done_off = 0;
    o->done_lines = 0;
    o->batch_full = false;
    o->bisect_used = 0;
    o->batch_rejected = 0;
    o->reject_status = 0;
    o->reject_reason[0] = '\0';
    if (o->batch.cap > 2 * (size_t)o->c->batch_bytes + 65536) {
        /* one huge line grew the buffer: give the memory back */
        cg_buf_done(&o->batch);
        cg_buf_init(&o->batch, BATCH_HARD_MAX);
    }
}

static void *run(void *arg)
{
    struct cg_output *o = arg;
    const struct cg_output_common *c = o->c;
    for (;;) {
        bool stopping = atomic_load(&o->stop);
        if (stopping && cg_time_mono_ms() >= atomic_load(&o->stop_deadline_ms)) {
            break;
        }
        bool events_only = o->type->ops->events_only && o->type->ops->events_only(c);
        if (serve_lane(o, events_only) == -ECANCELED) { /* events-only: its own pace is the lane's */
            break;
        }
        if (events_only) {
            if (pass_over(o, stopping)) {
                break;
            }
            continue;
        }
        if (o->batch_lines == 0) {
            long n = cg_journal_wait(o->j, o->reader, 1, stopping ? 0 : POLL_MS);
            if (n == -ESHUTDOWN && !stopping) {
                sleep_until(o, cg_time_mono_ms() + POLL_MS); /* nothing will come; wait for stop */
                continue;
            }
            if (n <= 0) {
                if (stopping) {
                    break; /* drained */
                }
                if (o->share != NULL && cg_share_tick(o->share, &o->batch, &o->batch_lines) > 0) {
                    o->batch_first_ms = cg_time_mono_ms(); /* windows closed by window_grace_s */
                }
                continue;
            }
            o->batch_first_ms = cg_time_mono_ms();
            fill(o);
            continue;
        }
        if (!o->batch_full && !stopping) {
            int64_t left = o->batch_first_ms + c->flush_interval_ms - cg_time_mono_ms();
            if (left > 0) {
                size_t room = (size_t)c->batch_lines - o->batch_lines;
                long w = cg_journal_wait(o->j, o->reader, room, left < POLL_MS ? (int)left : POLL_MS);
                if (w == -ESHUTDOWN) {
                    o->batch_full = true; /* nothing more will come: send now */
                }
                fill(o);
                continue;
            }
        }
        if (!o->batch_full) {
            fill(o); /* take what arrived meanwhile, up to the caps */
        }
        int rc = deliver_range(o, o->done_off, o->batch.len, o->batch_lines - o->done_lines, false);
        if (rc == -ECANCELED) {
            break;
        }
        if (rc == 0) {
            commit(o);
            if (o->batch_rejected > 0) {
                cg_complain(&o->c_reject, CG_LOG_WARN, o->who,
                            "%" PRIu64 " of %zu lines rejected by %s (%s %d: %s); written to %s",
                            o->batch_rejected, o->batch_lines, o->type->ops->target(c), o->type->status_word,
                            o->reject_status,
                            o->reject_reason, o->dl_path);
            }
            pthread_mutex_lock(&o->lock);
            if (o->batch_rejected < o->batch_lines) {
                o->st.batches_sent++;
            }
            o->st.retry_at_ns = 0;
            pthread_mutex_unlock(&o->lock);
            if (o->attempt > 0) {
                cg_complain_clear(&o->c_fail, o->who, "writes");
            }
            o->attempt = 0;
            batch_reset(o);
            continue;
        }
        /* -EAGAIN: back off, keep the batch (the resolved prefix stays resolved) */
        enum cg_output_verdict a = o->res.verdict == CG_OUTPUT_HOLD ? CG_OUTPUT_HOLD : CG_OUTPUT_RETRY;
        plan_retry(o, a);
        log_failure(o, a, o->batch_lines - o->done_lines);
        pthread_mutex_lock(&o->lock);
        o->st.retries++;
        o->st.retry_at_ns = cg_time_now_ns() + o->retry_delay_ms * 1000000;
        pthread_mutex_unlock(&o->lock);
        backoff_sleep(o, cg_time_mono_ms() + o->retry_delay_ms);
        o->batch_full = false;
        fill(o);
        o->batch_full = true;
    }
    /* Whatever was read but not delivered goes back to the journal. */
    cg_journal_rewind(o->j, o->reader);
    if (o->share != NULL) {
        cg_share_rewound(o->share);
    }
    batch_reset(o);
    return NULL;
}
struct cg_output *cg_output_new(const struct cg_output_conf *conf, struct cg_journal *j, unsigned reader,
                                const char *state_dir)
{
    if (conf == NULL || j == NULL || reader >= CG_JOURNAL_MAX_READERS) {
        return NULL;
    }
    const struct cg_output_common *c = conf->c;
    struct cg_output *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return NULL;
    }
    o->type = conf->type;
    o->c = c;
    o->j = j;
    o->reader = reader;
    o->dl_fd = -1;
    pthread_mutex_init(&o->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&o->stop, false);
    atomic_init(&o->stop_deadline_ms, INT64_MAX);
    cg_buf_init(&o->batch, BATCH_HARD_MAX);
    cg_buf_init(&o->lane_batch, BATCH_HARD_MAX);
    cg_buf_init(&o->lane_shared, BATCH_HARD_MAX);
    snprintf(o->who, sizeof(o->who), "output.%s", c->name);
    o->rng = (uint64_t)cg_time_now_ns() ^ ((uint64_t)(uintptr_t)o << 17) ^ 0x9e3779b97f4a7c15ULL;
    if (o->rng == 0) {
        o->rng = 1;
    }
    if (c->dead_letter_file != NULL) {
        o->dl_path = strdup(c->dead_letter_file);
    } else if (asprintf(&o->dl_path, "%s/deadletter-%s.lp", state_dir ? state_dir : ".", c->name) < 0) {
        o->dl_path = NULL;
    }
    if (o->dl_path == NULL || o->type->ops->open(c, o, &o->state) < 0) {
        goto fail;
    }
    if (conf->share != NULL) {
        char err[300];
        o->share = cg_share_new(conf->share, c->name, state_dir, err, sizeof(err));
        if (o->share == NULL) {
            cg_log(CG_LOG_ERROR, o->who, "agreement: %s", err);
            goto fail;
        }
        if (cg_share_conf_in_order(conf->share)) {
            cg_journal_reader_in_order(j, reader); /* windows need the lines in order */
        }
    }
    return o;
fail:
    cg_output_free(o);
    return NULL;
}

void cg_output_set_lane(struct cg_output *o, struct cg_journal *lane, unsigned reader)
{
    o->lane = lane;
    o->lane_reader = reader;
}

bool cg_output_cancelled(struct cg_output *o)
{
    return hard_stopped(o);
}

const char *cg_output_who(const struct cg_output *o)
{
    return o->who;
}

int cg_output_start(struct cg_output *o)
{
    if (o == NULL || o->started) {
        return -EINVAL;
    }
    atomic_store(&o->stop, false);
    atomic_store(&o->stop_deadline_ms, INT64_MAX);
    int rc = pthread_create(&o->thread, NULL, run, o);
    if (rc != 0) {
        return -rc;
    }
    o->started = true;
    return 0;
}

void cg_output_stop(struct cg_output *o, int drain_ms)
{
    if (o == NULL || !o->started) {
        return;
    }
    atomic_store(&o->stop_deadline_ms, cg_time_mono_ms() + (drain_ms > 0 ? drain_ms : 0));
    pthread_mutex_lock(&o->lock);
    atomic_store(&o->stop, true);
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL);
    o->started = false;
}

void cg_output_free(struct cg_output *o)
{
    if (o == NULL) {
        return;
    }
    cg_output_stop(o, 0);
    if (o->state != NULL) {
        o->type->ops->close(o->state);
    }
    if (o->dl_fd >= 0) {
        close(o->dl_fd);
    }
    cg_share_free(o->share);
    cg_buf_done(&o->batch);
    cg_buf_done(&o->lane_batch);
    cg_buf_done(&o->lane_shared);
    free(o->dl_path);
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

void cg_output_get_stats(struct cg_output *o, struct cg_output_stats *st)
{
    pthread_mutex_lock(&o->lock);
    *st = o->st;
    pthread_mutex_unlock(&o->lock);
    struct cg_journal_reader_stats rs;
    cg_journal_reader_stats(o->j, o->reader, &rs);
    st->journal_unread_lines = rs.unread_lines;
    st->journal_dropped_lines = rs.dropped_lines;
    if (o->share != NULL) {
        struct cg_share_stats ss;
        cg_share_get_stats(o->share, &ss);
        st->lines_filtered = ss.lines_filtered;
        st->lines_refused = ss.lines_refused;
        st->lines_late = ss.lines_late;
        st->lines_no_series = ss.lines_no_series;
        st->windows_sent = ss.windows_sent;
        st->lines_duplicate = ss.lines_duplicate;
    }
}