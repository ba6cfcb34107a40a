/* citygate — command line and daemon life cycle.
 *
 * Data path (docs/architecture.md): adapter threads -> cg_sink_emit (normalise,
 * add static tags, encode line protocol) -> journal (bounded, on disk by
 * default, one position per output) -> one thread per output (batch, gzip,
 * HTTP, retry) -> database.
 *
 * Everything a config builds (normaliser, sources, outputs) forms one
 * "generation". SIGHUP loads and validates a new config and builds the new
 * generation's sources before touching the running one; only then the old one
 * is stopped and the new one started. The journal (with everything not yet
 * sent) outlives generations. */
#include "conf.h"
#include "conf_locate.h"
#include "http_status.h"
#include "journal.h"
#include "log.h"
#include "normalise.h"
#include "notify.h"
#include "output_influx.h"
#include "registry.h"
#include "sink.h"
#include "status.h"

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

/* Provided by the Modbus adapter when it is compiled in. */
extern int cg_modbus_probe_main(int argc, char **argv) __attribute__((weak));

#define MAX_TRACKED 4096 /* devices/outputs whose up/down we follow for gap records */

struct source {
    const struct cg_source_conf *conf;
    struct cg_sink *sink;
    void *state;
    int started;
};

/* What one config builds. */
struct gen {
    struct cg_config *conf;
    struct cg_pipeline pl;
    struct cg_norm *norm;
    struct source *sources;
    size_t n_sources;
    struct cg_influx **outputs;
    size_t n_outputs;
};

/* An up/down state we follow to write gap records (device, uplink). */
struct tracked {
    char key[300];
    int up;
    int seen;
};

struct daemon {
    pthread_mutex_t lock; /* guards g and journal against the HTTP thread */
    struct gen *g;
    struct cg_journal *journal;
    bool dry_run;
    pthread_t dry_thread;
    int dry_started;
    int64_t started_ns;
    struct cg_http *http;
    struct tracked *tracked;
    size_t n_tracked;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: citygate --config FILE [--dry-run] [--run-for SECONDS] [--log-level LEVEL]\n"
            "       citygate --check-config FILE\n"
            "       citygate probe --help           (read raw Modbus registers, every decoding)\n"
            "       citygate --print-options        (option reference, markdown)\n"
            "       citygate --version | --help\n"
            "\n"
            "  -c, --config FILE        run with this JSON config\n"
            "  -t, --check-config FILE  validate FILE, list every error, exit 0 (valid) or 1\n"
            "  -n, --dry-run            poll/receive as configured, print line protocol to stdout\n"
            "                           instead of sending it (the buffer on disk is not touched)\n"
            "      --run-for SECONDS    stop by itself after SECONDS (tests, demos)\n"
            "  -l, --log-level LEVEL    error, warn, info or debug (overrides gateway.log_level)\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain the buffer to the outputs (gateway.drain_timeout_ms), then exit 0;\n"
            "SIGHUP reloads the config (an invalid one is rejected and the running one stays).\n"
            "Sources compiled in:");
    for (const struct cg_adapter *const *a = cg_registry_adapters(); *a; a++) {
        fprintf(f, " %s", (*a)->type);
    }
    fprintf(f, "\nDocs: man citygate(8); docs/ in the source tree.\n");
}

static void print_table(const char *title, const struct cg_opt *t)
{
    printf("\n### %s\n\n| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n", title);
    for (const struct cg_opt *o = t; o->name; o++) {
        const char *type = "object";
        char allowed[256] = "";
        switch (o->type) {
        case CG_OPT_STRING:
            type = "string";
            break;
        case CG_OPT_INT:
            type = "integer";
            snprintf(allowed, sizeof(allowed), "%.0f..%.0f", o->min, o->max);
            break;
        case CG_OPT_DOUBLE:
            type = "number";
            snprintf(allowed, sizeof(allowed), "%g..%g", o->min, o->max);
            break;
        case CG_OPT_BOOL:
            type = "boolean";
            break;
        case CG_OPT_ENUM: {
            type = "string";
            size_t l = 0;
            for (int i = 0; o->choices[i] && l < sizeof(allowed); i++) {
                l += (size_t)snprintf(allowed + l, sizeof(allowed) - l, "%s`%s`", i ? ", " : "", o->choices[i]);
            }
            break;
        }
        default:
            break;
        }
        char secret[160] = "";
        if (o->flags & CG_OPT_SECRET) {
            snprintf(secret, sizeof(secret), " Secret: may be given as `%s_file`.", o->name);
        }
        printf("| `%s`%s | %s | %s%s%s | %s | %s%s |\n", o->name, (o->flags & CG_OPT_REQUIRED) ? " (required)" : "",
               type, o->def ? "`" : "", o->def ? o->def : "", o->def ? "`" : "", allowed, o->doc ? o->doc : "",
               secret);
    }
}

static int print_options(void)
{
    printf("<!-- generated by `citygate --print-options`; do not edit by hand -->\n");
    printf("## Option reference\n");
    print_table("gateway", cg_gateway_options);
    print_table("buffer", cg_buffer_options);
    print_table("outputs[] (type influxdb_v1 / influxdb_v2)", cg_influx_options);
    print_table("http", cg_http_options);
    print_table("normalise", cg_norm_options);
    print_table("sources[].normalise", cg_norm_source_options);
    printf("\nKeys marked secret can be given as `KEY_file`: the file's content (one trailing newline\n"
           "removed) is the value, so the secret never sits in the main file. Every string value may\n"
           "use `${ENV}` references (`$$` for a literal `$`). The sources' own keys are in\n"
           "docs/modbus.md and docs/mqtt.md.\n");
    return 0;
}

static void *dry_run_writer(void *arg)
{
    struct daemon *d = arg;
    struct cg_buf b;
    cg_buf_init(&b, 16 * 1024 * 1024);
    for (;;) {
        long n = cg_journal_wait(d->journal, 0, 1, 500);
        if (n == -ESHUTDOWN) {
            break;
        }
        if (n <= 0) {
            continue;
        }
        cg_buf_reset(&b);
        cg_journal_read(d->journal, 0, &b, 100000, 8 * 1024 * 1024);
        fwrite(b.data, 1, b.len, stdout);
        fflush(stdout);
        cg_journal_commit(d->journal, 0);
    }
    cg_buf_done(&b);
    return NULL;
}

/* " (line L, column C)" when error i's path is in the file's text, else "".
 * Each lookup reads the text once: a huge file with many errors gets positions
 * for as many as CG_CONF_LOCATE_SCAN_BUDGET allows. */
static const char *err_where(const struct cg_errs *errs, size_t i, const struct cg_config_text *raw, char *buf,
                             size_t n)
{
    buf[0] = ' ';
    if (raw == NULL || raw->data == NULL || errs->path_len[i] == 0 ||
        (i + 1) * raw->len > CG_CONF_LOCATE_SCAN_BUDGET ||
        cg_conf_locate_describe(raw->data, raw->len, errs->msg[i], errs->path_len[i], buf + 1, n - 1) == 0) {
        return "";
    }
    return buf;
}

static void print_errs(const char *file, const struct cg_config_text *raw, struct cg_errs *errs)
{
    char where[96];
    fprintf(stderr, "citygate: %s: %zu error%s\n", file, cg_errs_count(errs), cg_errs_count(errs) == 1 ? "" : "s");
    for (size_t i = 0; i < errs->n; i++) {
        fprintf(stderr, "  %s%s\n", errs->msg[i], err_where(errs, i, raw, where, sizeof(where)));
    }
    if (errs->lost) {
        fprintf(stderr, "  ... and %zu more\n", errs->lost);
    }
}

static void log_errs(const char *what, const struct cg_config_text *raw, struct cg_errs *errs)
{
    char where[96];
    cg_log(CG_LOG_ERROR, "citygate", "%s: %zu error%s", what, cg_errs_count(errs), cg_errs_count(errs) == 1 ? "" : "s");
    for (size_t i = 0; i < errs->n; i++) {
        cg_log(CG_LOG_ERROR, "citygate", "  %s%s", errs->msg[i], err_where(errs, i, raw, where, sizeof(where)));
    }
}

/* ---- generations ---------------------------------------------------------- */

/* Builds a generation from a loaded config: normaliser, sinks, adapter states
 * (config parsing only, no I/O). Takes ownership of conf. Errors go to errs. */
static struct gen *gen_create(struct cg_config *conf, bool dry_run, bool check_only, struct cg_errs *errs)
{
    struct gen *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        cg_config_free(conf);
        return NULL;
    }
    g->conf = conf;
    g->pl.lp.static_tags = conf->tags;
    g->pl.lp.n_static_tags = conf->n_tags;
    g->pl.lp.write_uint = conf->gw.write_uint;
    g->pl.config_dir = conf->dir;
    g->pl.state_dir = conf->gw.state_dir;
    g->pl.dry_run = dry_run;
    g->pl.check_only = check_only;
    if (cg_norm_conf_enabled(conf->norm) && (g->norm = cg_norm_new(conf->norm)) == NULL) {
        cg_errs_add(errs, "normalise", "out of memory");
        return g;
    }
    g->pl.norm = g->norm;
    g->sources = calloc(conf->n_sources ? conf->n_sources : 1, sizeof(*g->sources));
    if (g->sources == NULL) {
        cg_errs_add(errs, "sources", "out of memory");
        return g;
    }
    for (size_t i = 0; i < conf->n_sources; i++) {
        struct source *s = &g->sources[g->n_sources++];
        s->conf = &conf->sources[i];
        s->sink = cg_sink_new(&g->pl, s->conf->name, s->conf->norm);
        if (s->sink == NULL) {
            cg_errs_add(errs, s->conf->path, "out of memory");
            continue;
        }
        cg_norm_source_set_user(s->conf->norm, s->sink);
        if (s->conf->adapter->api_version != CG_ADAPTER_API_VERSION) {
            cg_errs_add(errs, s->conf->path, "adapter '%s' was built for API version %u, not %u",
                        s->conf->adapter->type, s->conf->adapter->api_version, CG_ADAPTER_API_VERSION);
            continue;
        }
        size_t before = cg_errs_count(errs);
        int e = s->conf->adapter->create(s->conf->json, s->conf->path, s->sink, &s->state, errs);
        if (e < 0 && cg_errs_count(errs) == before) {
            cg_errs_add(errs, s->conf->path, "cannot set up this source: %s", strerror(-e));
        }
    }
    return g;
}

static void gen_stop_sources(struct gen *g)
{
    for (size_t i = 0; g && i < g->n_sources; i++) {
        if (g->sources[i].started) {
            g->sources[i].conf->adapter->stop(g->sources[i].state);
            g->sources[i].started = 0;
        }
    }
}

static void gen_stop_outputs(struct gen *g, int drain_ms)
{
    for (size_t i = 0; g && i < g->n_outputs; i++) {
        cg_influx_stop(g->outputs[i], drain_ms);
    }
}

/* Frees a stopped generation. */
static void gen_free(struct gen *g)
{
    if (g == NULL) {
        return;
    }
    gen_stop_sources(g);
    gen_stop_outputs(g, 0);
    for (size_t i = 0; i < g->n_outputs; i++) {
        cg_influx_free(g->outputs[i]);
    }
    free(g->outputs);
    for (size_t i = 0; i < g->n_sources; i++) {
        if (g->sources[i].state) {
            g->sources[i].conf->adapter->destroy(g->sources[i].state);
        }
    }
    cg_norm_free(g->norm); /* before the sinks and the config it borrows from */
    for (size_t i = 0; i < g->n_sources; i++) {
        cg_sink_free(g->sources[i].sink);
    }
    free(g->sources);
    cg_config_free(g->conf);
    free(g);
}

/* Starts outputs on the journal, then the sources. 0 or -1 (logged). */
static int gen_start(struct gen *g, struct cg_journal *j, bool dry_run)
{
    g->pl.journal = j;
    if (!dry_run) {
        g->outputs = calloc(g->conf->n_outputs, sizeof(*g->outputs));
        if (g->outputs == NULL) {
            return -1;
        }
        for (size_t i = 0; i < g->conf->n_outputs; i++) {
            g->outputs[i] = cg_influx_new(g->conf->outputs[i], j, (unsigned)i, g->conf->gw.state_dir);
            if (g->outputs[i] == NULL) {
                cg_log(CG_LOG_ERROR, "citygate", "outputs[%zu]: cannot set up (out of memory?)", i);
                return -1;
            }
            g->n_outputs = i + 1;
            if (cg_influx_start(g->outputs[i]) < 0) {
                cg_log(CG_LOG_ERROR, "citygate", "outputs[%zu]: cannot start its thread", i);
                return -1;
            }
        }
    }
    for (size_t i = 0; i < g->n_sources; i++) {
        struct source *s = &g->sources[i];
        int e = s->conf->adapter->start(s->state);
        if (e < 0) {
            cg_log(CG_LOG_ERROR, s->conf->name, "cannot start: %s", strerror(-e));
            return -1;
        }
        s->started = 1;
    }
    return 0;
}

/* ---- the journal ---------------------------------------------------------- */

/* Output names become file names of the buffer's read positions. */
static void position_name(const char *name, char *out, size_t n)
{
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

static struct cg_journal *open_journal(const struct cg_config *conf, bool dry_run)
{
    const struct cg_buffer_conf *b = &conf->buffer;
    char names[CG_JOURNAL_MAX_READERS][128];
    const char *np[CG_JOURNAL_MAX_READERS];
    struct cg_journal_opts o = {
        .dir = (dry_run || b->mode == 1) ? NULL : b->dir,
        .max_bytes = (size_t)b->max_bytes,
        .max_age_s = b->max_age_s,
        .segment_bytes = (size_t)b->segment_bytes,
        .fsync = (enum cg_journal_fsync)b->fsync,
        .fsync_interval_ms = b->fsync_interval_ms,
        .live_first_after_ms = b->live_first_after_s * 1000,
        .replay_max_lines_per_s = b->replay_max_lines_per_s,
        .replay_max_bytes_per_s = b->replay_max_bytes_per_s,
        .reader_names = np,
        .n_readers = dry_run ? 1 : (unsigned)conf->n_outputs,
    };
    if (dry_run && o.max_bytes > 64 * 1024 * 1024) {
        o.max_bytes = 64 * 1024 * 1024;
    }
    for (unsigned i = 0; i < o.n_readers; i++) {
        position_name(dry_run ? "dry-run" : cg_influx_conf_name(conf->outputs[i]), names[i], sizeof(names[i]));
        np[i] = names[i];
    }
    struct cg_journal_recovery rec;
    char err[512] = "";
    struct cg_journal *j = cg_journal_open(&o, &rec, err, sizeof(err));
    if (j == NULL) {
        cg_log(CG_LOG_ERROR, "buffer", "cannot open the buffer: %s", err);
        return NULL;
    }
    if (o.dir != NULL) {
        cg_log(rec.torn_bytes || rec.corrupt_bytes ? CG_LOG_WARN : CG_LOG_INFO, "buffer",
               "%s: %llu lines in %llu segments recovered; torn tail cut: %llu bytes; corrupt data skipped: "
               "%llu bytes in %llu segments",
               o.dir, (unsigned long long)rec.lines, (unsigned long long)rec.segments,
               (unsigned long long)rec.torn_bytes, (unsigned long long)rec.corrupt_bytes,
               (unsigned long long)rec.corrupt_segments);
    }
    return j;
}

/* Can a new config keep the running journal? Same buffer settings and the
 * same outputs in the same order (each output is a reader by position). */
static bool same_journal(const struct cg_config *a, const struct cg_config *b)
{
    const struct cg_buffer_conf *x = &a->buffer, *y = &b->buffer;
    if (x->mode != y->mode || strcmp(x->dir ? x->dir : "", y->dir ? y->dir : "") != 0 || x->max_bytes != y->max_bytes ||
        x->max_age_s != y->max_age_s || x->segment_bytes != y->segment_bytes || x->fsync != y->fsync ||
        x->fsync_interval_ms != y->fsync_interval_ms || x->live_first_after_s != y->live_first_after_s ||
        x->replay_max_lines_per_s != y->replay_max_lines_per_s ||
        x->replay_max_bytes_per_s != y->replay_max_bytes_per_s || a->n_outputs != b->n_outputs) {
        return false;
    }
    for (size_t i = 0; i < a->n_outputs; i++) {
        if (strcmp(cg_influx_conf_name(a->outputs[i]), cg_influx_conf_name(b->outputs[i])) != 0) {
            return false;
        }
    }
    return true;
}

/* ---- status (for the HTTP thread) ----------------------------------------- */

struct dev_copy {
    struct cg_status_source *src;
    size_t cap;
};

static void copy_device(void *ctx, const struct cg_health_item *h)
{
    struct dev_copy *c = ctx;
    struct cg_status_source *s = c->src;
    if (s->n_devices == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct cg_status_device *n = realloc(s->devices, cap * sizeof(*n));
        if (n == NULL) {
            return;
        }
        s->devices = n;
        c->cap = cap;
    }
    struct cg_status_device *d = &s->devices[s->n_devices++];
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", h->device ? h->device : "");
    d->up = h->up;
    d->quarantined = h->quarantined;
    d->ok = h->ok;
    d->failed = h->failed;
    d->consecutive_failures = h->consecutive_failures;
    d->stray_frames = h->stray_frames;
    d->skipped = h->skipped;
    d->latency_ms = h->latency_ms;
    d->last_ok_ns = h->last_ok_ns;
    snprintf(d->last_error, sizeof(d->last_error), "%s", h->last_error ? h->last_error : "");
}

static int collect(void *ctx, struct cg_status *st)
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
    st->fields_nonfinite = atomic_load(&g->pl.fields_nonfinite);
    st->uint_clipped = atomic_load(&g->pl.uint_clipped);
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
        cg_sink_counters(s->sink, &o->counters);
        cg_sink_last_lines(s->sink, o->last_lines, sizeof(o->last_lines));
        if (s->conf->adapter->health && s->state) {
            struct dev_copy c = {o, 0};
            s->conf->adapter->health(s->state, copy_device, &c);
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_status_output *o = &st->outputs[st->n_outputs++];
        snprintf(o->name, sizeof(o->name), "%s", cg_influx_conf_name(g->conf->outputs[i]));
        snprintf(o->url, sizeof(o->url), "%s", cg_influx_conf_url(g->conf->outputs[i]));
        cg_influx_get_stats(g->outputs[i], &o->st);
        struct cg_journal_reader_stats rs;
        cg_journal_reader_stats(d->journal, (unsigned)i, &rs);
        o->oldest_unsent_ns = rs.oldest_unread_ns;
    }
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
static void second_tick(struct daemon *d)
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
        struct cg_influx_stats st;
        cg_influx_get_stats(g->outputs[i], &st);
        if (st.requests > 0) {
            char tok[32];
            snprintf(tok, sizeof(tok), "http_%d", st.last_status);
            transition(d, g, CG_NORM_GAP_UPLINK, NULL, cg_influx_conf_name(g->conf->outputs[i]), st.up,
                       st.last_status ? tok : st.last_error);
        }
    }
    if (g->norm) {
        cg_norm_tick(g->norm, cg_time_now_ns(), emit_normalised, g);
    }
}

/* The gateway's own counters as a `citygate` point, and the normaliser's as a
 * `citygate_norm` point (field names: config/schema.json, docs/schema.md). */
static void self_metrics(struct daemon *d)
{
    struct gen *g = d->g;
    uint64_t in = 0, rejected = 0, refused = 0, filtered = 0, sent = 0, dead = 0, unsent = 0, lost = 0;
    for (size_t i = 0; i < g->n_sources; i++) {
        struct cg_sink_counters c;
        cg_sink_counters(g->sources[i].sink, &c);
        in += c.points_in;
        rejected += c.points_rejected;
        refused += c.points_refused;
        filtered += c.points_filtered;
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_influx_stats st;
        cg_influx_get_stats(g->outputs[i], &st);
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
        cg_norm_counters(g->norm, &c);
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

static void status_line(struct daemon *d, char *out, size_t n)
{
    struct gen *g = d->g;
    uint64_t sent = 0, unsent = 0;
    size_t up = 0;
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_influx_stats st;
        cg_influx_get_stats(g->outputs[i], &st);
        sent += st.lines_sent;
        unsent += st.journal_unread_lines;
        up += st.up;
    }
    snprintf(out, n, "%zu sources, outputs up %zu/%zu, %llu lines sent, %llu waiting", g->n_sources, up,
             g->n_outputs, (unsigned long long)sent, (unsigned long long)unsent);
}

static void log_summary(struct gen *g)
{
    for (size_t i = 0; i < g->n_sources; i++) {
        struct cg_sink_counters c;
        cg_sink_counters(g->sources[i].sink, &c);
        cg_log(CG_LOG_INFO, g->sources[i].conf->name, "points accepted=%llu rejected=%llu refused=%llu filtered=%llu",
               (unsigned long long)c.points_in, (unsigned long long)c.points_rejected,
               (unsigned long long)c.points_refused, (unsigned long long)c.points_filtered);
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_influx_stats st;
        cg_influx_get_stats(g->outputs[i], &st);
        cg_log(CG_LOG_INFO, cg_influx_conf_name(g->conf->outputs[i]),
               "lines sent=%llu dead-lettered=%llu dropped=%llu unsent=%llu lost-to-buffer-limit=%llu",
               (unsigned long long)st.lines_sent, (unsigned long long)st.lines_dead_lettered,
               (unsigned long long)st.lines_dropped, (unsigned long long)st.journal_unread_lines,
               (unsigned long long)st.journal_dropped_lines);
    }
}

/* ---- reload --------------------------------------------------------------- */

/* A reload failed after the old generation was stopped: start it again. */
static void resume(struct gen *old)
{
    for (size_t i = 0; i < old->n_outputs; i++) {
        cg_influx_start(old->outputs[i]);
    }
    for (size_t i = 0; i < old->n_sources; i++) {
        if (old->sources[i].conf->adapter->start(old->sources[i].state) == 0) {
            old->sources[i].started = 1;
        }
    }
}

static void reload(struct daemon *d, const char *file)
{
    struct cg_errs errs = {0};
    struct cg_config_text raw = {0};
    struct cg_config *conf = NULL;
    cg_notify_reloading();
    cg_log(CG_LOG_INFO, "citygate", "SIGHUP: reloading %s", file);
    if (cg_config_load(file, &conf, &raw, &errs) < 0) {
        log_errs("reload rejected, the running configuration stays", &raw, &errs);
        goto out;
    }
    struct cg_journal *keep = same_journal(d->g->conf, conf) ? d->journal : NULL;
    if (keep == NULL && conf->buffer.mode == 1) {
        cg_log(CG_LOG_ERROR, "citygate", "reload rejected, the running configuration stays: with buffer.mode memory "
                                         "the outputs and buffer settings cannot change without a restart "
                                         "(the readings in memory would be lost)");
        cg_config_free(conf);
        goto out;
    }
    struct gen *ng = gen_create(conf, d->dry_run, false, &errs); /* owns conf now */
    if (ng == NULL || cg_errs_count(&errs) > 0) {
        log_errs("reload rejected, the running configuration stays", &raw, &errs);
        gen_free(ng);
        goto out;
    }
    cg_config_text_done(&raw);
    /* The new config is valid: stop the old sources (nothing new comes in),
     * then the old outputs without draining: what they had not sent stays in
     * the journal and the new outputs take it from there. */
    struct gen *old = d->g;
    gen_stop_sources(old);
    gen_stop_outputs(old, 0);
    struct cg_journal *j = d->journal;
    if (keep == NULL) {
        cg_journal_flush(j); /* positions persisted by output name */
        struct cg_journal *nj = open_journal(ng->conf, d->dry_run);
        if (nj == NULL) {
            cg_log(CG_LOG_ERROR, "citygate", "reload: the new buffer cannot be opened; going on with the old config");
            gen_free(ng);
            resume(old);
            goto out;
        }
        j = nj;
    }
    if (gen_start(ng, j, d->dry_run) < 0) {
        cg_log(CG_LOG_ERROR, "citygate", "reload: the new configuration failed to start; going back to the old one");
        gen_free(ng);
        if (j != d->journal) {
            cg_journal_free(j);
        }
        resume(old);
        goto out;
    }
    pthread_mutex_lock(&d->lock);
    d->g = ng;
    struct cg_journal *old_j = d->journal;
    d->journal = j;
    pthread_mutex_unlock(&d->lock);
    gen_free(old);
    if (old_j != j) {
        cg_journal_shutdown(old_j);
        cg_journal_free(old_j);
    }
    d->n_tracked = 0; /* device names may have changed */
    cg_log(CG_LOG_INFO, "citygate", "reloaded: %zu source%s, %zu output%s%s", ng->n_sources,
           ng->n_sources == 1 ? "" : "s", ng->n_outputs, ng->n_outputs == 1 ? "" : "s",
           keep ? "" : " (buffer reopened)");
out:
    cg_errs_done(&errs);
    cg_config_text_done(&raw);
    char line[256];
    status_line(d, line, sizeof(line));
    cg_notify_ready(line);
}

/* ---- commands ------------------------------------------------------------- */

static int check_config(const char *file)
{
    struct cg_errs errs = {0};
    struct cg_config_text raw = {0};
    struct cg_config *conf = NULL;
    size_t n_out = 0, n_src = 0;
    if (cg_config_load(file, &conf, &raw, &errs) == 0) {
        n_out = conf->n_outputs;
        n_src = conf->n_sources;
        gen_free(gen_create(conf, false, true, &errs));
    }
    int bad = cg_errs_count(&errs) > 0;
    if (bad) {
        print_errs(file, &raw, &errs);
    } else {
        printf("%s: OK (%zu output%s, %zu source%s)\n", file, n_out, n_out == 1 ? "" : "s", n_src,
               n_src == 1 ? "" : "s");
        fflush(stdout);
    }
    cg_errs_done(&errs);
    cg_config_text_done(&raw);
    return bad ? 1 : 0;
}

static int run(const char *file, bool dry_run, long run_for_s, const char *level_override)
{
    struct cg_errs errs = {0};
    struct cg_config_text raw = {0};
    struct daemon d = {.dry_run = dry_run};
    struct cg_config *conf = NULL;
    int rc = 1;

    pthread_mutex_init(&d.lock, NULL);
    if (cg_config_load(file, &conf, &raw, &errs) < 0) {
        print_errs(file, &raw, &errs);
        goto out;
    }
    enum cg_log_level lvl = CG_LOG_INFO;
    cg_log_parse_level(level_override ? level_override : cg_log_level_names[conf->gw.log_level], &lvl);
    cg_log_set_level(lvl);

    /* Signals are handled synchronously by this thread only: block them before
     * any thread starts so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    if (!dry_run && mkdir(conf->gw.state_dir, 0750) < 0 && errno != EEXIST) {
        cg_log(CG_LOG_ERROR, "citygate", "gateway.state_dir %s: cannot create: %s", conf->gw.state_dir,
               strerror(errno));
        cg_config_free(conf);
        goto out;
    }
    d.started_ns = cg_time_now_ns();
    d.g = gen_create(conf, dry_run, false, &errs);
    if (d.g == NULL || cg_errs_count(&errs) > 0) {
        print_errs(file, &raw, &errs);
        goto out;
    }
    cg_config_text_done(&raw); /* not kept for the daemon's lifetime */
    if ((d.journal = open_journal(d.g->conf, dry_run)) == NULL) {
        goto out;
    }
    if (dry_run) {
        if (pthread_create(&d.dry_thread, NULL, dry_run_writer, &d) != 0) {
            goto out;
        }
        d.dry_started = 1;
    }
    if (gen_start(d.g, d.journal, dry_run) < 0) {
        goto out;
    }
    if (!dry_run && d.g->conf->http != NULL && cg_http_conf_enabled(d.g->conf->http)) {
        char err[256] = "";
        d.http = cg_http_start(d.g->conf->http, collect, &d, err, sizeof(err));
        if (d.http == NULL) {
            cg_log(CG_LOG_ERROR, "http", "%s", err);
        }
    }
    char line[256];
    status_line(&d, line, sizeof(line));
    cg_notify_ready(line);
    cg_log(CG_LOG_INFO, "citygate", "citygate %s running: gateway %s, %zu source%s, %zu output%s%s", CG_VERSION,
           d.g->conf->gw.id, d.g->n_sources, d.g->n_sources == 1 ? "" : "s", d.g->conf->n_outputs,
           d.g->conf->n_outputs == 1 ? "" : "s", dry_run ? " (dry run: printing line protocol)" : "");

    int64_t start_ms = cg_time_mono_ms();
    int64_t end_ms = run_for_s > 0 ? start_ms + run_for_s * 1000 : 0;
    int64_t wd_ms = cg_notify_watchdog_interval_ms();
    int64_t last_wd = 0, last_status = start_ms, last_second = start_ms, last_self = start_ms;
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            cg_log(CG_LOG_INFO, "citygate", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (sig == SIGHUP) {
            reload(&d, file);
        }
        int64_t now = cg_time_mono_ms();
        cg_journal_tick(d.journal);
        if (now - last_second >= 1000) {
            second_tick(&d);
            last_second = now;
        }
        int64_t self_s = d.g->conf->gw.self_metrics_interval_s;
        if (!dry_run && self_s > 0 && now - last_self >= self_s * 1000) {
            self_metrics(&d);
            last_self = now;
        }
        if (now - last_status >= 5000) {
            status_line(&d, line, sizeof(line));
            cg_notify_status("%s", line);
            last_status = now;
        }
        /* The watchdog is fed from this loop only: if it stops turning (stuck
         * in a reload, a deadlock), systemd restarts us. */
        if (wd_ms > 0 && now - last_wd >= wd_ms / 2) {
            cg_notify_watchdog();
            last_wd = now;
        }
        if (end_ms && now >= end_ms) {
            break;
        }
    }
    cg_notify_stopping();
    rc = 0;
out:
    cg_http_stop(d.http);
    d.http = NULL;
    /* Stop order: sources first (nothing new comes in), then the outputs drain
     * what is buffered within the drain timeout. */
    if (d.g != NULL) {
        gen_stop_sources(d.g);
        gen_stop_outputs(d.g, rc == 0 ? (int)d.g->conf->gw.drain_timeout_ms : 0);
    }
    if (d.journal) {
        cg_journal_shutdown(d.journal);
        cg_journal_flush(d.journal);
    }
    if (d.dry_started) {
        pthread_join(d.dry_thread, NULL);
    }
    if (d.g != NULL && d.journal != NULL && !dry_run) {
        log_summary(d.g);
    }
    gen_free(d.g);
    cg_journal_free(d.journal);
    free(d.tracked);
    cg_errs_done(&errs);
    cg_config_text_done(&raw);
    pthread_mutex_destroy(&d.lock);
    curl_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "probe") == 0) {
        if (cg_modbus_probe_main == NULL) {
            fprintf(stderr, "citygate: probe needs the modbus adapter, which this build does not have\n");
            return 2;
        }
        return cg_modbus_probe_main(argc - 1, argv + 1);
    }
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 't'},
        {"dry-run", no_argument, NULL, 'n'},
        {"run-for", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'},
        {"print-options", no_argument, NULL, 'P'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *check = NULL, *level = NULL;
    bool dry = false;
    long run_for = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:t:nl:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 't':
            check = optarg;
            break;
        case 'n':
            dry = true;
            break;
        case 'r': {
            char *end;
            errno = 0;
            run_for = strtol(optarg, &end, 10);
            if (errno || *end || run_for <= 0) {
                fprintf(stderr, "citygate: --run-for: expected a positive number of seconds, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'l': {
            enum cg_log_level l;
            if (cg_log_parse_level(optarg, &l) < 0) {
                fprintf(stderr, "citygate: --log-level: expected error, warn, info or debug, got '%s'\n", optarg);
                return 2;
            }
            level = optarg;
            break;
        }
        case 'P':
            return print_options();
        case 'V':
            printf("citygate %s\n", CG_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "citygate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (check != NULL) {
        return check_config(check);
    }
    if (config == NULL) {
        usage(stderr);
        return 2;
    }
    return run(config, dry, run_for, level);
}
