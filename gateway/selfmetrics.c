/* citygate — what the gateway says about itself: counters that stay
 * cumulative across reloads, the status snapshot behind /metrics and the
 * status page, gap records (device and uplink up/down), self-metric points,
 * the one-line status and the summary at exit. */
#include "daemon.h"

#include <citygate/array.h>

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACKED 4096 /* devices/outputs whose up/down we follow for gap records */
#define STATUS_DEVICES_MAX 65536 /* devices one source shows on the status page */

/* ---- counters across reloads --------------------------------------------- */

/* Sinks and outputs belong to a generation and start from zero; a reload
 * would reset every counter a user reads (/metrics, the exit summary, the
 * self metrics). Before a generation is freed its counts are added here, by
 * name, and every reader adds them back. A source or output that a reload
 * renames starts again from zero under its new name. */
struct carried_src {
    char name[128];
    struct cg_sink_counters c;
};

struct carried_out {
    char name[128];
    struct cg_output_stats st; /* only the monotonic counters are used */
};

struct carried_dev {
    char name[300]; /* "<source>/<device>" */
    uint64_t ok, failed;
};

/* The element of *arr named name, appended (zeroed) if new. Every element
 * starts with its name, a char array of name_size. */
static void *carry_slot(void **arr, size_t *n, size_t elem, size_t name_size, const char *name)
{
    char *a = *arr;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(a + i * elem, name) == 0) {
            return a + i * elem;
        }
    }
    if (*n >= MAX_TRACKED) {
        return NULL;
    }
    a = realloc(a, (*n + 1) * elem);
    if (a == NULL) {
        return NULL;
    }
    *arr = a;
    char *slot = a + (*n)++ * elem;
    memset(slot, 0, elem);
    snprintf(slot, name_size, "%s", name);
    return slot;
}

struct carry_dev_ctx {
    struct daemon *d;
    const char *source;
};

static void carry_device(void *ctx, const struct cg_health_item *h)
{
    struct carry_dev_ctx *c = ctx;
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", c->source, h->device ? h->device : "");
    struct carried_dev *cd =
        carry_slot((void **)&c->d->carried_dev, &c->d->n_carried_dev, sizeof(*cd), sizeof(cd->name), key);
    if (cd != NULL) {
        cd->ok += h->ok;
        cd->failed += h->failed;
    }
}

/* What earlier generations counted for this device (NULL: nothing). */
static const struct carried_dev *carried_device(const struct daemon *d, const char *source, const char *device)
{
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", source, device ? device : "");
    for (size_t i = 0; i < d->n_carried_dev; i++) {
        if (strcmp(d->carried_dev[i].name, key) == 0) {
            return &d->carried_dev[i];
        }
    }
    return NULL;
}

static void add_sink_counters(struct cg_sink_counters *to, const struct cg_sink_counters *c)
{
    to->points_in += c->points_in;
    to->points_rejected += c->points_rejected;
    to->points_refused += c->points_refused;
    to->points_filtered += c->points_filtered;
    if (c->last_ns > to->last_ns) {
        to->last_ns = c->last_ns;
    }
}

static void add_output_counters(struct cg_output_stats *to, const struct cg_output_stats *c)
{
    to->lines_sent += c->lines_sent;
    to->batches_sent += c->batches_sent;
    to->requests += c->requests;
    to->retries += c->retries;
    to->lines_dead_lettered += c->lines_dead_lettered;
    to->lines_dropped += c->lines_dropped;
    to->bytes_sent += c->bytes_sent;
    to->splits += c->splits;
    to->bisect_requests += c->bisect_requests;
    to->lines_filtered += c->lines_filtered;
    to->lines_refused += c->lines_refused;
    to->lines_late += c->lines_late;
    to->lines_no_series += c->lines_no_series;
    to->windows_sent += c->windows_sent;
    to->lines_duplicate += c->lines_duplicate;
}

static void add_norm_counters(struct cg_norm_counters *to, const struct cg_norm_counters *c);

/* Called under d->lock, before a stopped generation is freed. */
void cg_selfmetrics_carry(struct daemon *d, struct gen *g)
{
    for (size_t i = 0; i < g->n_sources; i++) {
        struct carried_src *c = carry_slot((void **)&d->carried_src, &d->n_carried_src, sizeof(*c),
                                           sizeof(c->name), g->sources[i].conf->name);
        struct cg_sink_counters now;
        if (c != NULL && g->sources[i].sink != NULL) {
            cg_sink_counters(g->sources[i].sink, &now);
            add_sink_counters(&c->c, &now);
        }
    }
    if (g->norm != NULL) {
        struct cg_norm_counters now;
        cg_norm_counters(g->norm, &now);
        add_norm_counters(&d->carried_norm, &now);
    }
    for (size_t i = 0; i < g->n_sources; i++) {
        struct source *s = &g->sources[i];
        if (s->state != NULL && s->conf->adapter->health != NULL) {
            struct carry_dev_ctx c = {d, s->conf->name};
            s->conf->adapter->health(s->state, carry_device, &c);
        }
    }
    d->carried_nonfinite += atomic_load(&g->pl.fields_nonfinite);
    d->carried_clipped += atomic_load(&g->pl.uint_clipped);
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct carried_out *c = carry_slot((void **)&d->carried_out, &d->n_carried_out, sizeof(*c),
                                           sizeof(c->name), cg_output_conf_name(g->conf->outputs[i]));
        struct cg_output_stats now;
        if (c != NULL) {
            cg_output_get_stats(g->outputs[i], &now);
            add_output_counters(&c->st, &now);
        }
    }
}

/* struct cg_norm_counters is all uint64_t counters: summed member by member. */
_Static_assert(sizeof(struct cg_norm_counters) % sizeof(uint64_t) == 0, "cg_norm_counters: uint64_t only");
#define NORM_N (sizeof(struct cg_norm_counters) / sizeof(uint64_t))

static void add_norm_counters(struct cg_norm_counters *to, const struct cg_norm_counters *c)
{
    uint64_t a[NORM_N], b[NORM_N];
    memcpy(a, to, sizeof(a));
    memcpy(b, c, sizeof(b));
    for (size_t i = 0; i < NORM_N; i++) {
        a[i] += b[i];
    }
    memcpy(to, a, sizeof(a));
}

/* The normaliser's counters over the daemon's life. */
static void norm_counters(const struct daemon *d, const struct gen *g, struct cg_norm_counters *out)
{
    cg_norm_counters(g->norm, out);
    add_norm_counters(out, &d->carried_norm);
}

/* Source i's counters over the daemon's life. */
static void source_counters(const struct daemon *d, const struct gen *g, size_t i, struct cg_sink_counters *out)
{
    cg_sink_counters(g->sources[i].sink, out);
    for (size_t k = 0; k < d->n_carried_src; k++) {
        if (strcmp(d->carried_src[k].name, g->sources[i].conf->name) == 0) {
            add_sink_counters(out, &d->carried_src[k].c);
        }
    }
}

/* Output i's stats, its counters over the daemon's life. */
static void output_stats(const struct daemon *d, const struct gen *g, size_t i, struct cg_output_stats *out)
{
    cg_output_get_stats(g->outputs[i], out);
    const char *name = cg_output_conf_name(g->conf->outputs[i]);
    for (size_t k = 0; k < d->n_carried_out; k++) {
        if (strcmp(d->carried_out[k].name, name) == 0) {
            add_output_counters(out, &d->carried_out[k].st);
        }
    }
}

/* ---- status (for the HTTP thread) ----------------------------------------- */

struct dev_copy {
    struct cg_status_source *src;
    size_t cap;
    const struct daemon *d;
};

static void copy_device(void *ctx, const struct cg_health_item *h)
{
    struct dev_copy *c = ctx;
    struct cg_status_source *s = c->src;
    if (cg_array_grow((void **)&s->devices, &c->cap, s->n_devices + 1, sizeof(*s->devices), STATUS_DEVICES_MAX) < 0) {
        return;
    }
    struct cg_status_device *d = &s->devices[s->n_devices++];
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", h->device ? h->device : "");
    d->kind = h->kind;
    d->up = h->up;
    d->quarantined = h->quarantined;
    d->ok = h->ok;
    d->failed = h->failed;
    const struct carried_dev *cd = carried_device(c->d, s->name, h->device);
    if (cd != NULL) { /* counts of earlier generations (reloads) */
        d->ok += cd->ok;
        d->failed += cd->failed;
    }
    d->consecutive_failures = h->consecutive_failures;
    d->stray_frames = h->stray_frames;
    d->skipped = h->skipped;
    d->latency_ms = h->latency_ms;
    d->last_ok_ns = h->last_ok_ns;
    snprintf(d->last_error, sizeof(d->last_error), "%s", h->last_error ? h->last_error : "");
}

/* The clock as the normaliser last probed it (not checked without one). */
static enum cg_status_clock clock_state(const struct gen *g)
{
    struct cg_norm_clock ck = {.synced = -1};
    if (g->norm != NULL) {
        cg_norm_clock_state(g->norm, &ck);
    }
    return ck.synced == 1 ? CG_STATUS_CLOCK_SYNCED
           : ck.synced == 0 ? CG_STATUS_CLOCK_UNSYNCED
                            : CG_STATUS_CLOCK_UNCHECKED;
}

int cg_selfmetrics_collect(void *ctx, struct cg_status *st)
{
    struct daemon *d = ctx;
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&d->lock);
    struct gen *g = d->g;
    snprintf(st->gateway_id, sizeof(st->gateway_id), "%s", g->conf->gw.id);
    snprintf(st->version, sizeof(st->version), "%s", CG_VERSION);
    st->now_ns = cg_time_now_ns();
    st->started_ns = d->started_ns;
    cg_journal_stats(d->journal, &st->journal);
    if (d->alarms != NULL) {
        st->has_alarms = true;
        cg_alarms_stats(d->alarms, &st->alarms);
        st->n_active_alarms = cg_alarms_active(d->alarms, st->active_alarms,
                                               sizeof(st->active_alarms) / sizeof(st->active_alarms[0]));
    }
    st->fields_nonfinite = atomic_load(&g->pl.fields_nonfinite) + d->carried_nonfinite;
    st->uint_clipped = atomic_load(&g->pl.uint_clipped) + d->carried_clipped;
    st->clock = clock_state(g);
    st->clock_ignored = g->conf->gw.unsynced_clock == CG_UNSYNCED_IGNORE;
    int rc = 0;
    st->sources = calloc(g->n_sources ? g->n_sources : 1, sizeof(*st->sources));
    st->outputs = calloc(g->n_outputs ? g->n_outputs : 1, sizeof(*st->outputs));
    if (st->sources == NULL || st->outputs == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < g->n_sources; i++) {
        struct source *s = &g->sources[i];
        struct cg_status_source *o = &st->sources[st->n_sources++];
        snprintf(o->name, sizeof(o->name), "%s", s->conf->name);
        snprintf(o->type, sizeof(o->type), "%s", s->conf->adapter->type);
        source_counters(d, g, i, &o->counters);
        cg_sink_last_lines(s->sink, o->last_lines, sizeof(o->last_lines));
        if (s->conf->adapter->health && s->state) {
            struct dev_copy c = {o, 0, d};
            s->conf->adapter->health(s->state, copy_device, &c);
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_status_output *o = &st->outputs[st->n_outputs++];
        snprintf(o->name, sizeof(o->name), "%s", cg_output_conf_name(g->conf->outputs[i]));
        snprintf(o->url, sizeof(o->url), "%s", cg_output_conf_target(g->conf->outputs[i]));
        output_stats(d, g, i, &o->st);
        struct cg_journal_reader_stats rs;
        cg_journal_reader_stats(d->journal, (unsigned)i, &rs);
        o->oldest_unsent_ns = rs.oldest_unread_ns;
    }
    rc = cg_drops_snapshot(g->pl.drops, &st->drops, &st->n_drops);
out:
    pthread_mutex_unlock(&d->lock);
    cg_status_add_process(st);
    return rc;
}

/* ---- points the core writes itself ---------------------------------------- */

static void emit_normalised(void *ctx, struct cg_norm_source *src, const struct cg_point *pts, size_t n)
{
    struct gen *g = ctx;
    struct cg_sink *sink = src ? cg_norm_source_user(src) : NULL;
    cg_sink_emit_normalised(&g->pl, sink, pts, n, 1000);
}

static struct tracked *track(struct daemon *d, const char *key)
{
    for (size_t i = 0; i < d->n_tracked; i++) {
        if (strcmp(d->tracked[i].key, key) == 0) {
            return &d->tracked[i];
        }
    }
    if (d->n_tracked >= MAX_TRACKED) {
        return NULL;
    }
    struct tracked *t = realloc(d->tracked, (d->n_tracked + 1) * sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    d->tracked = t;
    t = &d->tracked[d->n_tracked++];
    memset(t, 0, sizeof(*t));
    snprintf(t->key, sizeof(t->key), "%s", key);
    return t;
}

/* A short token for a gap's cause, from an error text. */
static void cause_token(const char *err, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = err ? err : "unknown"; *p && k + 1 < n && k < 40; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out[k++] = c;
        } else if (c >= 'A' && c <= 'Z') {
            out[k++] = (char)(c - 'A' + 'a');
        } else if (k > 0 && out[k - 1] != '_') {
            out[k++] = '_';
        }
    }
    while (k > 0 && out[k - 1] == '_') {
        k--;
    }
    out[k] = '\0';
    if (k == 0) {
        snprintf(out, n, "unknown");
    }
}

static void transition(struct daemon *d, struct gen *g, enum cg_norm_gap_scope scope, const char *source,
                       const char *device, bool up, const char *err)
{
    char key[300], cause[48];
    snprintf(key, sizeof(key), "%d/%s/%s", (int)scope, source ? source : "", device ? device : "");
    struct tracked *t = track(d, key);
    if (t == NULL || (t->seen && t->up == (int)up)) {
        return;
    }
    int was_seen = t->seen;
    t->seen = 1;
    t->up = up;
    if (g->norm == NULL || !g->conf->gw.gap_records || (!was_seen && up)) {
        return;
    }
    cause_token(err, cause, sizeof(cause));
    struct cg_norm_gap gap = {.scope = scope, .source = source, .device = device, .cause = cause};
    if (up) {
        cg_norm_gap_end(g->norm, &gap, cg_time_now_ns(), emit_normalised, g);
    } else {
        cg_norm_gap_begin(g->norm, &gap, cg_time_now_ns(), emit_normalised, g);
    }
}

struct gap_ctx {
    struct daemon *d;
    struct gen *g;
    const char *source;
};

static void device_transition(void *ctx, const struct cg_health_item *h)
{
    struct gap_ctx *c = ctx;
    if (h->ok == 0 && h->failed == 0) {
        return; /* not polled yet: neither up nor down */
    }
    transition(c->d, c->g, h->kind == CG_HEALTH_LINK ? CG_NORM_GAP_BUS : CG_NORM_GAP_DEVICE, c->source, h->device,
               h->up, h->last_error);
}

/* Once a second: gaps from device and output state changes, the normaliser's
 * own points (windows, clock). */
void cg_selfmetrics_second_tick(struct daemon *d)
{
    struct gen *g = d->g;
    for (size_t i = 0; i < g->n_sources; i++) {
        struct source *s = &g->sources[i];
        if (s->started && s->conf->adapter->health) {
            struct gap_ctx c = {d, g, s->conf->name};
            s->conf->adapter->health(s->state, device_transition, &c);
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_output_stats st;
        cg_output_get_stats(g->outputs[i], &st);
        if (st.requests > 0) {
            char tok[32];
            snprintf(tok, sizeof(tok), "http_%d", st.last_status);
            transition(d, g, CG_NORM_GAP_UPLINK, NULL, cg_output_conf_name(g->conf->outputs[i]), st.up,
                       st.last_status ? tok : st.last_error);
        }
    }
    if (g->norm) {
        cg_norm_tick(g->norm, cg_time_now_ns(), emit_normalised, g);
    }
    enum cg_log_level lvl = CG_LOG_INFO;
    const char *clock_msg =
        cg_status_clock_transition(&d->clock_logged, clock_state(g),
                                   g->conf->gw.unsynced_clock == CG_UNSYNCED_IGNORE, &lvl);
    if (clock_msg != NULL) {
        cg_log(lvl, "citygate", "%s", clock_msg);
    }
}

/* The gateway's own counters as a `citygate` point, and the normaliser's as a
 * `citygate_norm` point (field names: config/schema.json, docs/schema.md). */
void cg_selfmetrics_write(struct daemon *d)
{
    struct gen *g = d->g;
    uint64_t in = 0, rejected = 0, refused = 0, filtered = 0, sent = 0, dead = 0, unsent = 0, lost = 0;
    for (size_t i = 0; i < g->n_sources; i++) {
        struct cg_sink_counters c;
        source_counters(d, g, i, &c);
        in += c.points_in;
        rejected += c.points_rejected;
        refused += c.points_refused;
        filtered += c.points_filtered;
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_output_stats st;
        output_stats(d, g, i, &st);
        sent += st.lines_sent;
        dead += st.lines_dead_lettered;
        unsent += st.journal_unread_lines;
        lost += st.journal_dropped_lines;
    }
    struct cg_journal_stats js;
    cg_journal_stats(d->journal, &js);
    struct cg_status pst = {0};
    cg_status_add_process(&pst);
    int64_t now = cg_time_now_ns();
    const struct cg_field f[] = {
        CG_FIELD_F("uptime_s", (double)(now - d->started_ns) / 1e9),
        CG_FIELD_U("points_in", in),
        CG_FIELD_U("points_rejected", rejected),
        CG_FIELD_U("points_refused", refused),
        CG_FIELD_U("points_filtered", filtered),
        CG_FIELD_U("buffer_bytes", js.bytes),
        CG_FIELD_U("buffer_lines", js.lines),
        CG_FIELD_U("lines_sent", sent),
        CG_FIELD_U("lines_dead_lettered", dead),
        CG_FIELD_U("lines_unsent", unsent),
        CG_FIELD_U("lines_lost", lost),
        CG_FIELD_F("cpu_user_s", pst.cpu_user_s),
        CG_FIELD_F("cpu_system_s", pst.cpu_system_s),
        CG_FIELD_U("rss_bytes", pst.rss_bytes),
    };
    struct cg_point p[2] = {{"citygate", NULL, 0, f, sizeof(f) / sizeof(f[0]), now}};
    size_t np = 1;
    struct cg_field nf[14];
    if (g->norm != NULL) {
        struct cg_norm_counters c;
        norm_counters(d, g, &c);
        size_t k = 0;
        nf[k++] = CG_FIELD_U("points_in", c.points_in);
        nf[k++] = CG_FIELD_U("points_dropped", c.points_dropped);
        nf[k++] = CG_FIELD_U("out_of_range", c.out_of_range);
        nf[k++] = CG_FIELD_U("impossible", c.impossible);
        nf[k++] = CG_FIELD_U("stuck", c.stuck);
        nf[k++] = CG_FIELD_U("jump", c.jump);
        nf[k++] = CG_FIELD_U("time_clamped", c.time_clamped);
        nf[k++] = CG_FIELD_U("time_dropped", c.time_dropped);
        nf[k++] = CG_FIELD_U("unsynced", c.unsynced);
        nf[k++] = CG_FIELD_U("cardinality_held", c.cardinality_held);
        nf[k++] = CG_FIELD_U("privacy_applied", c.privacy_hashed + c.privacy_truncated + c.privacy_dropped);
        nf[k++] = CG_FIELD_U("unknown_fields_dropped", c.unknown_fields_dropped);
        nf[k++] = CG_FIELD_U("unit_errors", c.unit_errors);
        nf[k++] = CG_FIELD_U("reduced", c.deadband_suppressed + c.window_values);
        p[np++] = (struct cg_point){"citygate_norm", NULL, 0, nf, k, now};
    }
    cg_sink_emit_normalised(&g->pl, NULL, p, np, 0);
}

void cg_selfmetrics_status_line(struct daemon *d, char *out, size_t n)
{
    struct gen *g = d->g;
    uint64_t sent = 0, unsent = 0;
    size_t up = 0;
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_output_stats st;
        output_stats(d, g, i, &st);
        sent += st.lines_sent;
        unsent += st.journal_unread_lines;
        up += st.up;
    }
    snprintf(out, n, "%zu sources, outputs up %zu/%zu, %llu lines sent, %llu waiting", g->n_sources, up,
             g->n_outputs, (unsigned long long)sent, (unsigned long long)unsent);
}

void cg_selfmetrics_log_summary(struct daemon *d, struct gen *g)
{
    for (size_t i = 0; i < g->n_sources; i++) {
        struct cg_sink_counters c;
        source_counters(d, g, i, &c);
        cg_log(CG_LOG_INFO, g->sources[i].conf->name, "points accepted=%llu rejected=%llu refused=%llu filtered=%llu",
               (unsigned long long)c.points_in, (unsigned long long)c.points_rejected,
               (unsigned long long)c.points_refused, (unsigned long long)c.points_filtered);
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_output_stats st;
        output_stats(d, g, i, &st);
        cg_log(CG_LOG_INFO, cg_output_conf_name(g->conf->outputs[i]),
               "lines sent=%llu dead-lettered=%llu dropped=%llu unsent=%llu lost-to-buffer-limit=%llu filtered=%llu "
               "late=%llu windows=%llu",
               (unsigned long long)st.lines_sent, (unsigned long long)st.lines_dead_lettered,
               (unsigned long long)st.lines_dropped, (unsigned long long)st.journal_unread_lines,
               (unsigned long long)st.journal_dropped_lines, (unsigned long long)st.lines_filtered,
               (unsigned long long)st.lines_late, (unsigned long long)st.windows_sent);
    }
}
