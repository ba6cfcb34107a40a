/* citygate — where readings enter the core (see sink.h). */
#include "sink.h"

#include "alarm.h"
#include "drops.h"
#include "normalise.h"

#include <citygate/log.h>
#include <math.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lines bigger than this are refused outright (they could never be sent). */
#define EMIT_MAX_BYTES (64 * 1024 * 1024)

#define LAST_LINES_MAX 2048
#define EXPECT_MAX 256 /* distinct names a source is warned about under --check-config */

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
    struct cg_lp_opts lp; /* the pipeline's, with this source's static tags */
    struct cg_tag stags[CG_POINT_MAX_TAGS];
    bool payload_tags_override;
    char own[4][CG_POINT_MAX_NAME]; /* reserved measurement names this source writes itself */
    size_t n_own;
    uint64_t expected[EXPECT_MAX]; /* --check-config: names already warned about (hashes) */
    size_t n_expected;
    /* cg_sink_group() (0: off): the source serialises its calls, so the sink
     * keeps its encode buffer (no allocation per call) and may hold the lines
     * of up to group_max calls before appending them as one record. */
    unsigned group_max;
    struct cg_buf enc;   /* this call's lines */
    struct cg_buf group; /* lines taken, not yet appended */
    uint32_t group_lines;
    unsigned group_calls;
};

/* A group is appended before it would grow past this (one journal record). */
#define GROUP_MAX_BYTES (4 * 1024 * 1024)

static _Thread_local const char *last_error;
/* The rule of the cg_sink_emit_rule() call running on this thread, and the
 * encoder options with its static tags (NULL: the source's). */
static _Thread_local const struct cg_sink_rule *cur_rule;
static _Thread_local const struct cg_lp_opts *cur_lp;
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
    /* static tags as this source writes them: renamed or removed by its
     * normalise.static_tags rules (keys and values borrowed from the config) */
    s->lp = pl->lp;
    s->lp.static_tags = s->stags;
    s->lp.n_static_tags = 0;
    for (size_t i = 0; i < pl->lp.n_static_tags && i < CG_POINT_MAX_TAGS; i++) {
        const char *nk = NULL;
        if (cg_norm_source_static_tag(norm_src, pl->lp.static_tags[i].key, &nk) >= 0) {
            s->stags[s->lp.n_static_tags++] = (struct cg_tag){nk, pl->lp.static_tags[i].value};
        }
    }
    for (size_t r = 0; r < cg_norm_source_static_rules(norm_src); r++) {
        const char *k = cg_norm_source_static_rule(norm_src, r);
        bool found = false;
        for (size_t i = 0; i < pl->lp.n_static_tags && !found; i++) {
            found = strcmp(pl->lp.static_tags[i].key, k) == 0;
        }
        if (!found) {
            cg_log(CG_LOG_WARN, s->name, "normalise.static_tags: '%s' is not a configured static tag (top-level "
                   "\"tags\" or \"gateway\"): the rule does nothing", k);
        }
    }
    s->payload_tags_override = cg_norm_source_payload_tags_override(norm_src);
    return s;
}

void cg_sink_free(struct cg_sink *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_destroy(&s->last_lock);
    cg_buf_done(&s->enc);
    cg_buf_done(&s->group);
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

/* Copies a name for a log line with control characters made visible, so a
 * device cannot forge log lines through its names. */
static const char *loggable(char *out, size_t outsz, const char *s)
{
    size_t k = 0;
    for (; s && *s && k + 5 < outsz; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) {
            k += (size_t)snprintf(out + k, outsz - k, "\\x%02x", c);
        } else {
            out[k++] = (char)c;
        }
    }
    out[k] = '\0';
    return out;
}

static uint64_t name_hash(const char *a, const char *b)
{
    uint64_t h = 14695981039346656037ULL;
    for (const char *s = a ? a : ""; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    h = (h ^ 0x100) * 1099511628211ULL;
    for (const char *s = b ? b : ""; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

void cg_sink_expect_field(struct cg_sink *sink, const char *path, const char *measurement, const char *field)
{
    struct cg_pipeline *pl = sink->pl;
    const struct cg_norm_conf *nc = cg_norm_conf_of(pl->norm);
    if (!pl->check_only || nc == NULL || measurement == NULL) {
        return;
    }
    const char *m, *f, *hint;
    int c = cg_norm_check_name(nc, sink->norm_src, measurement, field, &m, &f, &hint);
    if (c == 0) {
        return;
    }
    bool whole = c == CG_DROP_UNMAPPED_MEASUREMENT || c == CG_DROP_SCHEMA_MEASUREMENT;
    uint64_t h = name_hash(m, whole ? NULL : f);
    for (size_t i = 0; i < sink->n_expected; i++) {
        if (sink->expected[i] == h) {
            return;
        }
    }
    if (sink->n_expected < EXPECT_MAX) {
        sink->expected[sink->n_expected++] = h;
    }
    char a[160], b[160], what[400], hb[200] = "";
    if (whole) {
        snprintf(what, sizeof(what), "measurement '%s' is not in the city schema", loggable(a, sizeof(a), m));
    } else {
        snprintf(what, sizeof(what), "field '%s' of measurement '%s' is not in the city schema",
                 loggable(b, sizeof(b), f), loggable(a, sizeof(a), m));
    }
    if (hint) {
        snprintf(hb, sizeof(hb), "; did you mean '%s'?", hint);
    }
    bool strict = c == CG_DROP_SCHEMA_MEASUREMENT || c == CG_DROP_SCHEMA_FIELD;
    cg_log(CG_LOG_WARN, sink->name, "%s: %s: %s%s", path ? path : sink->name, what,
           strict ? "it will be dropped (normalise.schema_policy strict)"
                  : "it will be written unchanged and counted as unmapped (normalise.schema_policy open)",
           hb);
}

bool cg_sink_dry_run(const struct cg_sink *sink)
{
    return sink->pl->dry_run;
}

bool cg_sink_test_mode(const struct cg_sink *sink)
{
    return sink->pl->test_mode;
}

/* Counts one cause in the ledger and, the first time the key is seen (rate
 * limited by the ledger), says so once in the log, with the closest schema
 * name when the name is not in the schema. */
static void account(struct cg_sink *sink, struct cg_pipeline *pl, enum cg_drop_cause c, const char *meas,
                    const char *field, uint64_t n, const char *detail)
{
    const char *source = sink ? sink->name : "citygate";
    if (!cg_drops_add(pl->drops, c, source, meas, field, n, cg_time_mono_ms())) {
        return;
    }
    const struct cg_schema *sc = cg_norm_schema(pl->norm);
    const char *hint = NULL;
    if (c == CG_DROP_UNMAPPED_MEASUREMENT || c == CG_DROP_SCHEMA_MEASUREMENT) {
        hint = cg_schema_closest_measurement(sc, meas);
    } else if (c == CG_DROP_UNMAPPED_FIELD || c == CG_DROP_SCHEMA_FIELD) {
        hint = cg_schema_closest_field(cg_schema_measurement(sc, meas), field);
    }
    char m[160], f[160], h[200] = "", what[400];
    if (field) {
        snprintf(what, sizeof(what), "measurement '%s', field '%s'", loggable(m, sizeof(m), meas),
                 loggable(f, sizeof(f), field));
    } else {
        snprintf(what, sizeof(what), "measurement '%s'", loggable(m, sizeof(m), meas));
    }
    if (hint) {
        snprintf(h, sizeof(h), " (did you mean '%s'?)", hint);
    }
    char counter[96];
    if (cg_drops_cause_kept(c)) {
        snprintf(counter, sizeof(counter), "citygate_unmapped_total{kind=\"%s\"}",
                 c == CG_DROP_UNMAPPED_FIELD ? "field" : "measurement");
    } else {
        snprintf(counter, sizeof(counter), "citygate_discarded_total{cause=\"%s\"}", cg_drops_cause_name(c));
    }
    cg_log(CG_LOG_WARN, source, "%s: %s%s%s%s; counted in %s, logged once", what, cg_drops_cause_text(c),
           detail ? ": " : "", detail ? detail : "", h, counter);
}

void cg_sink_own_measurement(struct cg_sink *sink, const char *measurement)
{
    if (sink->n_own < sizeof(sink->own) / sizeof(sink->own[0]) && measurement &&
        strlen(measurement) < CG_POINT_MAX_NAME) {
        strcpy(sink->own[sink->n_own++], measurement);
    }
}

/* Reserved for the points citygate writes about itself (self metrics, gaps,
 * clock, device health): a payload must not forge them. */
static bool reserved_measurement(const struct cg_sink *sink, const char *m)
{
    if (m == NULL || strncmp(m, "citygate", 8) != 0 || (m[8] != '\0' && m[8] != '_')) {
        return false;
    }
    for (size_t i = 0; sink && i < sink->n_own; i++) {
        if (strcmp(sink->own[i], m) == 0) {
            return false;
        }
    }
    return true;
}

/* Configured static tags win over a point's tag of the same key (unless the
 * source says payload_tags: override): the point's tag is left out, so the
 * encoder adds the configured one. Returns p, or a copy in *tmp (tags in
 * tbuf) without the protected tags. */
static const struct cg_point *protect_tags(struct cg_sink *sink, struct cg_pipeline *pl, const struct cg_point *p,
                                           struct cg_point *tmp, struct cg_tag *tbuf)
{
    const struct cg_lp_opts *lp = cur_lp ? cur_lp : sink ? &sink->lp : NULL;
    bool override = cur_rule && cur_rule->payload_tags >= 0 ? cur_rule->payload_tags == 1
                                                            : sink && sink->payload_tags_override;
    if (sink == NULL || override || lp->n_static_tags == 0 || p->n_tags > CG_POINT_MAX_TAGS) {
        return p;
    }
    size_t k = 0;
    bool hit = false;
    for (size_t i = 0; i < p->n_tags; i++) {
        bool configured = false;
        /* the key it will be written under (the source's tag renames) */
        const char *key = p->tags[i].key ? cg_norm_source_tag_key(sink->norm_src, p->tags[i].key) : NULL;
        for (size_t s = 0; s < lp->n_static_tags && key && !configured; s++) {
            configured = strcmp(key, lp->static_tags[s].key) == 0 && lp->static_tags[s].value &&
                         lp->static_tags[s].value[0];
        }
        for (size_t r = 0; cur_rule && r < cur_rule->n_tags && configured; r++) {
            configured = strcmp(p->tags[i].key, cur_rule->tags[r].key) != 0; /* the rule's own: configuration too */
        }
        if (configured) {
            hit = true;
            account(sink, pl, CG_DROP_PROTECTED_TAG, p->measurement, key, 1, NULL);
            continue;
        }
        tbuf[k++] = p->tags[i];
    }
    if (!hit) {
        return p;
    }
    *tmp = *p;
    tmp->tags = tbuf;
    tmp->n_tags = k;
    return tmp;
}

static int encode_one(struct cg_sink *sink, struct cg_pipeline *pl, struct cg_buf *buf, const struct cg_point *p,
                      struct cg_lp_counters *cnt)
{
    const char *why = NULL;
    for (size_t i = 0; i < p->n_tags && i < CG_POINT_MAX_TAGS; i++) {
        if (p->tags[i].key && (p->tags[i].value == NULL || p->tags[i].value[0] == '\0')) {
            /* the encoder leaves it out: line protocol has no empty tag value */
            account(sink, pl, CG_DROP_EMPTY_TAG, p->measurement, p->tags[i].key, 1, NULL);
        }
    }
    for (size_t i = 0; i < p->n_fields && i < CG_POINT_MAX_FIELDS; i++) {
        if (p->fields[i].type == CG_FIELD_FLOAT && !isfinite(p->fields[i].v.f)) {
            account(sink, pl, CG_DROP_NONFINITE, p->measurement, p->fields[i].key, 1, NULL);
        }
    }
    int e = cg_lp_encode(buf, p, sink ? (cur_lp ? cur_lp : &sink->lp) : &pl->lp, cnt, &why);
    if (e == -EINVAL) {
        last_error = why;
        account(sink, pl, CG_DROP_INVALID, p->measurement, NULL, 1, why);
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

static void add_counters(struct cg_sink *sink, struct cg_pipeline *pl, const struct cg_lp_counters *cnt)
{
    if (sink != NULL) {
        atomic_fetch_add(&sink->points_rejected, cnt->rejected);
    }
    atomic_fetch_add(&pl->fields_nonfinite, cnt->fields_nonfinite);
    atomic_fetch_add(&pl->uint_clipped, cnt->uint_clipped);
}

static int write_lines(struct cg_sink *sink, struct cg_pipeline *pl, const struct cg_buf *buf, uint32_t lines,
                       int timeout_ms)
{
    if (lines == 0) {
        return 0;
    }
    int rc = cg_journal_append(pl->journal, buf->data, buf->len, lines, timeout_ms);
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

static int append(struct cg_sink *sink, struct cg_pipeline *pl, struct cg_buf *buf, uint32_t lines,
                  struct cg_lp_counters *cnt, int timeout_ms)
{
    add_counters(sink, pl, cnt);
    return write_lines(sink, pl, buf, lines, timeout_ms);
}

int cg_sink_group(struct cg_sink *sink, unsigned max_calls)
{
    if (max_calls > CG_SINK_GROUP_MAX) {
        return -EINVAL;
    }
    if (sink->group_lines > 0 && max_calls <= 1) {
        return -EBUSY; /* flush first */
    }
    sink->group_max = max_calls;
    return 0;
}

int cg_sink_flush(struct cg_sink *sink, int timeout_ms)
{
    if (sink->group_lines == 0) {
        return 0;
    }
    int rc = write_lines(sink, sink->pl, &sink->group, sink->group_lines, timeout_ms);
    if (rc < 0) {
        return rc; /* still held: the caller retries */
    }
    cg_buf_reset(&sink->group);
    sink->group_lines = 0;
    sink->group_calls = 0;
    return rc;
}

unsigned cg_sink_held(const struct cg_sink *sink)
{
    return sink->group_calls;
}

/* Group mode: this call's lines (in sink->enc) join the group, which is
 * appended when full. On failure nothing of this call was taken; the calls
 * already in the group stay held. */
static int group_add(struct cg_sink *sink, uint32_t lines, int timeout_ms)
{
    if (lines == 0) {
        return 0;
    }
    if (sink->group_max <= 1) { /* per call: append it directly, no copy */
        return write_lines(sink, sink->pl, &sink->enc, lines, timeout_ms);
    }
    if (sink->group_lines > 0 && sink->group.len + sink->enc.len > GROUP_MAX_BYTES) {
        int rc = cg_sink_flush(sink, timeout_ms);
        if (rc < 0) {
            return rc;
        }
    }
    if (sink->group.max == 0) {
        cg_buf_init(&sink->group, EMIT_MAX_BYTES);
    }
    size_t len0 = sink->group.len;
    if (cg_buf_append(&sink->group, sink->enc.data, sink->enc.len) < 0) {
        cg_buf_truncate(&sink->group, len0);
        last_error = "batch does not fit the buffer";
        return -ENOMEM;
    }
    sink->group_lines += lines;
    sink->group_calls++;
    if (sink->group_calls >= sink->group_max) {
        int rc = cg_sink_flush(sink, timeout_ms);
        if (rc < 0) { /* give this call back: the caller still holds it and retries */
            cg_buf_truncate(&sink->group, len0);
            sink->group_lines -= lines;
            sink->group_calls--;
            return rc;
        }
    }
    return (int)lines;
}

int cg_sink_emit(struct cg_sink *sink, const struct cg_point *points, size_t n, int timeout_ms)
{
    struct cg_pipeline *pl = sink->pl;
    struct cg_buf local;
    struct cg_buf *bp = &local;
    struct cg_lp_counters cnt = {0};
    uint32_t lines = 0;
    uint64_t filtered = 0;

    last_error = NULL;
    if (sink->group_max > 0) { /* calls are serialised: the sink's buffer, kept between calls */
        bp = &sink->enc;
        if (bp->max == 0) {
            cg_buf_init(bp, EMIT_MAX_BYTES);
        }
        cg_buf_reset(bp);
    } else {
        cg_buf_init(&local, EMIT_MAX_BYTES);
    }
    int64_t now = cg_time_now_ns();
    for (size_t i = 0; i < n; i++) {
        if (reserved_measurement(sink, points[i].measurement)) {
            last_error = "measurement name reserved for citygate's own points";
            cnt.rejected++;
            account(sink, pl, CG_DROP_RESERVED_MEASUREMENT, points[i].measurement, NULL, 1, NULL);
            continue;
        }
        struct cg_point tmp;
        struct cg_tag tbuf[CG_POINT_MAX_TAGS];
        const struct cg_point *in = protect_tags(sink, pl, &points[i], &tmp, tbuf);
        if (pl->norm == NULL) {
            int w = encode_one(sink, pl, bp, in, &cnt);
            lines += (uint32_t)w;
            if (w > 0 && pl->alarms) {
                cg_alarms_observe(pl->alarms, in, now);
            }
            continue;
        }
        struct cg_point out[CG_NORM_OUT_MAX];
        const char *why = NULL;
        int k = cg_norm_point(pl->norm, sink->norm_src, in, now, &norm_scratch, out, &why);
        for (size_t e = 0; e < norm_scratch.n_ev; e++) {
            const struct cg_norm_event *ev = &norm_scratch.ev[e];
            account(sink, pl, ev->cause, norm_scratch.ev_measurement, ev->field, ev->n, NULL);
        }
        if (k > 0 && reserved_measurement(sink, out[0].measurement)) {
            /* renamed onto a reserved name by the source's normalise rules */
            last_error = "measurement name reserved for citygate's own points";
            cnt.rejected++;
            account(sink, pl, CG_DROP_RESERVED_MEASUREMENT, out[0].measurement, NULL, 1, NULL);
            continue;
        }
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
            int w = encode_one(sink, pl, bp, &out[o], &cnt);
            lines += (uint32_t)w;
            if (w > 0 && pl->alarms) { /* alarms see what is written, as it is written */
                cg_alarms_observe(pl->alarms, &out[o], now);
            }
        }
    }
    atomic_fetch_add(&sink->points_filtered, filtered);
    if (sink->group_max > 0) {
        add_counters(sink, pl, &cnt);
        return group_add(sink, lines, timeout_ms);
    }
    int rc = append(sink, pl, &local, lines, &cnt, timeout_ms);
    cg_buf_done(&local);
    return rc;
}

void cg_sink_count_skipped(struct cg_sink *sink, const char *measurement, const char *field, uint64_t n)
{
    account(sink, sink->pl, CG_DROP_PAYLOAD_SKIPPED, measurement, field, n, NULL);
}

int cg_sink_emit_rule(struct cg_sink *sink, const struct cg_point *points, size_t n, int timeout_ms,
                      const struct cg_sink_rule *rule)
{
    struct cg_lp_opts lp;
    struct cg_tag stags[CG_POINT_MAX_TAGS];
    if (rule && rule->n_static_tags > 0) {
        /* the source's static tags, then the rule's renames and removals */
        lp = sink->lp;
        lp.static_tags = stags;
        lp.n_static_tags = 0;
        for (size_t i = 0; i < sink->lp.n_static_tags; i++) {
            struct cg_tag t = sink->lp.static_tags[i];
            for (size_t r = 0; r < rule->n_static_tags; r++) {
                if (strcmp(rule->static_tags[r].key, t.key) == 0) {
                    t.key = rule->static_tags[r].value; /* NULL: left out */
                    break;
                }
            }
            if (t.key != NULL) {
                stags[lp.n_static_tags++] = t;
            }
        }
        cur_lp = &lp;
    }
    cur_rule = rule;
    int rc = cg_sink_emit(sink, points, n, timeout_ms);
    cur_rule = NULL;
    cur_lp = NULL;
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
        int w = encode_one(sink, pl, &buf, &points[i], &cnt);
        lines += (uint32_t)w;
        if (w > 0 && pl->alarms) { /* windowed means, gaps: alarms may watch them too */
            cg_alarms_observe(pl->alarms, &points[i], cg_time_now_ns());
        }
    }
    int rc = append(sink, pl, &buf, lines, &cnt, timeout_ms);
    cg_buf_done(&buf);
    return rc;
}
