/* citygate — where readings enter the core (see sink.h). */
#include "sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Lines bigger than this are refused outright (they could never be sent). */
#define EMIT_MAX_BYTES (64 * 1024 * 1024)

struct cg_sink {
    struct cg_pipeline *pl;
    char *name;
    atomic_uint_fast64_t points_in;
    atomic_uint_fast64_t points_rejected;
    atomic_uint_fast64_t points_refused;
    atomic_int_fast64_t last_ns;
};

static _Thread_local const char *last_error;

struct cg_sink *cg_sink_new(struct cg_pipeline *pl, const char *source_name)
{
    struct cg_sink *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->pl = pl;
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
    free(s->name);
    free(s);
}

void cg_sink_counters(const struct cg_sink *s, struct cg_sink_counters *out)
{
    out->points_in = atomic_load(&s->points_in);
    out->points_rejected = atomic_load(&s->points_rejected);
    out->points_refused = atomic_load(&s->points_refused);
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

bool cg_sink_dry_run(const struct cg_sink *sink)
{
    return sink->pl->dry_run;
}

int cg_sink_emit(struct cg_sink *sink, const struct cg_point *points, size_t n, int timeout_ms)
{
    struct cg_buf buf;
    struct cg_lp_counters cnt = {0};
    uint32_t lines = 0;
    int rc = 0;

    last_error = NULL;
    cg_buf_init(&buf, EMIT_MAX_BYTES);
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        int e = cg_lp_encode(&buf, &points[i], &sink->pl->lp, &cnt, &why);
        if (e == -EINVAL) {
            last_error = why;
            continue;
        }
        if (e < 0) {
            last_error = e == -ENOBUFS ? "batch too large" : "out of memory";
            cnt.rejected++;
            continue;
        }
        lines++;
    }
    atomic_fetch_add(&sink->points_rejected, cnt.rejected);
    atomic_fetch_add(&sink->pl->fields_nonfinite, cnt.fields_nonfinite);
    atomic_fetch_add(&sink->pl->uint_clipped, cnt.uint_clipped);
    if (lines > 0) {
        rc = cg_journal_append(sink->pl->journal, buf.data, buf.len, lines, timeout_ms);
        if (rc == 0) {
            atomic_fetch_add(&sink->points_in, lines);
            atomic_store(&sink->last_ns, cg_time_now_ns());
            rc = (int)lines;
        } else {
            if (rc != -ESHUTDOWN) {
                atomic_fetch_add(&sink->points_refused, lines);
            }
            if (rc == -EMSGSIZE || rc == -ENOMEM) {
                last_error = "batch does not fit the buffer";
            }
        }
    }
    cg_buf_done(&buf);
    return rc;
}
