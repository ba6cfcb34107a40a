/* citygate — where readings enter the core (see sink.h). */
#include "sink.h"

#include "normalise.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lines bigger than this are refused outright (they could never be sent). */
#define EMIT_MAX_BYTES (64 * 1024 * 1024)

#define LAST_LINES_MAX 2048

struct cg_sink {
    struct cg_pipeline *pl;
    struct cg_norm_source *norm_src;
    char *name;
    pthread_mutex_t last_lock;
    char last[LAST_LINES_MAX];
    atomic_uint_fast64_t points_filtered;
    atomic_uint_fast64_t points_in;
    atomic_uint_fast64_t points_rejected;
    atomic_uint_fast64_t points_refused;
    atomic_int_fast64_t last_ns;
};

static _Thread_local const char *last_error;
/* One normaliser work area per thread (about 40 KiB), so emit never allocates
 * on the hot path and threads never share it. */
static _Thread_local struct cg_norm_scratch norm_scratch;

struct cg_sink *cg_sink_new(struct cg_pipeline *pl, const char *source_name, struct cg_norm_source *norm_src)
{
    struct cg_sink *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->pl = pl;
    s->norm_src = norm_src;
    pthread_mutex_init(&s->last_lock, NULL);
    s->name = strdup(source_name);
    if (s->name == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void cg_sink_free(struct cg_sink *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_destroy(&s->last_lock);
    free(s->name);
    free(s);
}

void cg_sink_last_lines(struct cg_sink *s, char *out, size_t outsz)
{
    pthread_mutex_lock(&s->last_lock);
    snprintf(out, outsz, "%s", s->last);
    pthread_mutex_unlock(&s->last_lock);
}

/* Keeps the tail of the batch, whole lines only. */
static void remember(struct cg_sink *s, const char *data, size_t len)
{
    size_t start = len > LAST_LINES_MAX - 1 ? len - (LAST_LINES_MAX - 1) : 0;
    while (start > 0 && start < len && data[start - 1] != '\n') {
        start++;
    }
    pthread_mutex_lock(&s->last_lock);
    memcpy(s->last, data + start, len - start);
    s->last[len - start] = '\0';
    pthread_mutex_unlock(&s->last_lock);
}

void cg_sink_counters(const struct cg_sink *s, struct cg_sink_counters *out)
{
    out->points_in = atomic_load(&s->points_in);
    out->points_rejected = atomic_load(&s->points_rejected);
    out->points_refused = atomic_load(&s->points_refused);
    out->points_filtered = atomic_load(&s->points_filtered);
    out->last_ns = atomic_load(&s->last_ns);
}

const char *cg_sink_last_error(void)
{
    return last_error;
}

const char *cg_sink_source_name(const struct cg_sink *sink)
{
    return sink->name;
}

const char *cg_sink_config_dir(const struct cg_sink *sink)
{
    return sink->pl->config_dir;
}

const char *cg_sink_state_dir(const struct cg_sink *sink)
{
    return sink->pl->state_dir;
}

bool cg_sink_check_only(const struct cg_sink *sink)
{
    return sink->pl->check_only;
}

bool cg_sink_dry_run(const struct cg_sink *sink)
{
    return sink->pl->dry_run;
}

bool cg_sink_test_mode(const struct cg_sink *sink)
{
    return sink->pl->test_mode;
}

static int encode_one(struct cg_sink *sink, struct cg_pipeline *pl, struct cg_buf *buf, const struct cg_point *p,
                      struct cg_lp_counters *cnt)
{
    const char *why = NULL;
    int e = cg_lp_encode(buf, p, &pl->lp, cnt, &why);
    if (e == -EINVAL) {
        last_error = why;
        return 0;
    }
    if (e < 0) {
        last_error = e == -ENOBUFS ? "batch too large" : "out of memory";
        cnt->rejected++;
        return 0;
    }
    (void)sink;
    return 1;
}

static int append(struct cg_sink *sink, struct cg_pipeline *pl, struct cg_buf *buf, uint32_t lines,
                  struct cg_lp_counters *cnt, int timeout_ms)
{
    int rc = 0;
    if (sink != NULL) {
        atomic_fetch_add(&sink->points_rejected, cnt->rejected);
    }
    atomic_fetch_add(&pl->fields_nonfinite, cnt->fields_nonfinite);
    atomic_fetch_add(&pl->uint_clipped, cnt->uint_clipped);
    if (lines == 0) {
        return 0;
    }
    rc = cg_journal_append(pl->journal, buf->data, buf->len, lines, timeout_ms);
    if (rc == 0) {
        if (sink != NULL) {
            atomic_fetch_add(&sink->points_in, lines);
            atomic_store(&sink->last_ns, cg_time_now_ns());
            remember(sink, buf->data, buf->len);
        }
        return (int)lines;
    }
    if (rc != -ESHUTDOWN && sink != NULL) {
        atomic_fetch_add(&sink->points_refused, lines);
    }
    if (rc == -EMSGSIZE || rc == -ENOMEM) {
        last_error = "batch does not fit the buffer";
    }
    return rc;
}

int cg_sink_emit(struct cg_sink *sink, const struct cg_point *points, size_t n, int timeout_ms)
{
    struct cg_pipeline *pl = sink->pl;
    struct cg_buf buf;
    struct cg_lp_counters cnt = {0};
    uint32_t lines = 0;
    uint64_t filtered = 0;

    last_error = NULL;
    cg_buf_init(&buf, EMIT_MAX_BYTES);
    int64_t now = cg_time_now_ns();
    for (size_t i = 0; i < n; i++) {
        if (pl->norm == NULL) {
            lines += (uint32_t)encode_one(sink, pl, &buf, &points[i], &cnt);
            continue;
        }
        struct cg_point out[CG_NORM_OUT_MAX];
        const char *why = NULL;
        int k = cg_norm_point(pl->norm, sink->norm_src, &points[i], now, &norm_scratch, out, &why);
        if (k < 0) {
            last_error = "out of memory";
            cnt.rejected++;
            continue;
        }
        if (k == 0) {
            filtered++;
            last_error = why;
            continue;
        }
        for (int o = 0; o < k; o++) {
            lines += (uint32_t)encode_one(sink, pl, &buf, &out[o], &cnt);
        }
    }
    atomic_fetch_add(&sink->points_filtered, filtered);
    int rc = append(sink, pl, &buf, lines, &cnt, timeout_ms);
    cg_buf_done(&buf);
    return rc;
}

int cg_sink_emit_normalised(struct cg_pipeline *pl, struct cg_sink *sink, const struct cg_point *points, size_t n,
                            int timeout_ms)
{
    struct cg_buf buf;
    struct cg_lp_counters cnt = {0};
    uint32_t lines = 0;
    cg_buf_init(&buf, EMIT_MAX_BYTES);
    for (size_t i = 0; i < n; i++) {
        lines += (uint32_t)encode_one(sink, pl, &buf, &points[i], &cnt);
    }
    int rc = append(sink, pl, &buf, lines, &cnt, timeout_ms);
    cg_buf_done(&buf);
    return rc;
}
