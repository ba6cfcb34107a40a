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
#include "privdrop.h"
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
    bool test; /* --test (dry_run is set too) */
    pthread_t dry_thread;
    int dry_started;
    int64_t started_ns;
    struct cg_http *http;
    /* The HTTP server runs for the daemon's lifetime with the settings it
     * started with (generations come and go under it): the daemon owns them. */
    struct cg_http_conf *http_conf;
    cJSON *http_json; /* that section as written, to tell a reload it changed */
    struct tracked *tracked;
    size_t n_tracked;
    /* What earlier generations counted, by source and output name, so that
     * counters are cumulative across reloads (guarded by lock). */
    struct carried_src *carried_src;
    size_t n_carried_src;
    struct carried_out *carried_out;
    size_t n_carried_out;
    struct cg_norm_counters carried_norm;
    struct carried_dev *carried_dev;
    size_t n_carried_dev;
    uint64_t carried_nonfinite, carried_clipped;
    enum cg_status_clock clock_logged; /* the clock state last logged */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: citygate --config FILE [--dry-run] [--run-for SECONDS] [--log-level LEVEL]\n"
            "       citygate --config FILE --test [--test-wait SECONDS]\n"
            "       citygate --check-config FILE\n"
            "       citygate probe --help           (read raw Modbus registers, every decoding)\n"
            "       citygate --print-options        (option reference, markdown)\n"
            "       citygate --version | --help\n"
            "\n"
            "  -c, --config FILE        run with this JSON config\n"
            "  -t, --check-config FILE  validate FILE, list every error, exit 0 (valid) or 1\n"
            "  -n, --dry-run            poll/receive as configured, print line protocol to stdout\n"
            "                           instead of sending it (the buffer on disk is not touched)\n"
            "      --test               read every device once now, listen to MQTT for --test-wait\n"
            "                           seconds, print the points as line protocol, store nothing;\n"
            "                           exit 0 if every source produced a reading, else 1\n"
            "      --test-wait SECONDS  how long --test listens (default 5)\n"
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

/* Config warnings (a secret file others can read): logged, the config stands. */
static void log_warnings(const struct cg_errs *errs)
{
    for (size_t i = 0; i < errs->n_warn; i++) {
        cg_log(CG_LOG_WARN, "citygate", "%s", errs->warn[i]);
    }
}

/* ---- generations ---------------------------------------------------------- */

/* Builds a generation from a loaded config: normaliser, sinks, adapter states
 * (config parsing only, no I/O). Takes ownership of conf. Errors go to errs. */
static struct gen *gen_create(struct cg_config *conf, bool dry_run, bool test, bool check_only,
                              struct cg_errs *errs)
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
    g->pl.dry_run = dry_run || test;
    g->pl.test_mode = test;
    g->pl.check_only = check_only;
    if ((g->pl.drops = cg_drops_new()) == NULL) {
        cg_errs_add(errs, "gateway", "out of memory");
        return g;
    }
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
        if (s->conf->norm != NULL) { /* NULL in a partial config (normalise had errors) */
            cg_norm_source_set_user(s->conf->norm, s->sink);
        }
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

static void gen_free(struct gen *g);

/* Loads file. When it has errors, the sources are still created (config
 * parsing only, as --check-config does) from what could be read, so that one
 * run lists the errors of every section: a bad output no longer hides a
 * misspelt device key. 0 with *out set, or < 0 with every error in errs. */
static int load_conf(const char *file, struct cg_config **out, struct cg_config_text *raw, struct cg_errs *errs)
{
    struct cg_config *conf = NULL;
    int rc = cg_config_load_partial(file, &conf, raw, errs);
    if (rc == 0) {
        *out = conf;
        return 0;
    }
    if (conf != NULL) {
        gen_free(gen_create(conf, false, false, true, errs)); /* owns conf */
    }
    return rc;
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
    cg_drops_free(g->pl.drops);
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
        /* unsent per output, apart from what every output already delivered
         * (a clean stop keeps the last segment): issue 11 */
        char unsent[1024] = "";
        size_t u = 0;
        for (unsigned i = 0; i < o.n_readers && u < sizeof(unsent); i++) {
            u += (size_t)snprintf(unsent + u, sizeof(unsent) - u, " %s=%llu", np[i],
                                  (unsigned long long)rec.unsent_lines[i]);
        }
        cg_log(rec.torn_bytes || rec.corrupt_bytes ? CG_LOG_WARN : CG_LOG_INFO, "buffer",
               "%s: %llu lines in %llu segments recovered (unsent:%s; already delivered, kept until freed: %llu); "
               "torn tail cut: %llu bytes; corrupt data skipped: %llu bytes in %llu segments",
               o.dir, (unsigned long long)rec.lines, (unsigned long long)rec.segments, unsent,
               (unsigned long long)rec.delivered_lines,
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
    struct cg_influx_stats st; /* only the monotonic counters are used */
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

static void add_influx_counters(struct cg_influx_stats *to, const struct cg_influx_stats *c)
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
}

static void add_norm_counters(struct cg_norm_counters *to, const struct cg_norm_counters *c);

/* Called under d->lock, before a stopped generation is freed. */
static void carry_counters(struct daemon *d, struct gen *g)
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
                                           sizeof(c->name), cg_influx_conf_name(g->conf->outputs[i]));
        struct cg_influx_stats now;
        if (c != NULL) {
            cg_influx_get_stats(g->outputs[i], &now);
            add_influx_counters(&c->st, &now);
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
static void output_stats(const struct daemon *d, const struct gen *g, size_t i, struct cg_influx_stats *out)
{
    cg_influx_get_stats(g->outputs[i], out);
    const char *name = cg_influx_conf_name(g->conf->outputs[i]);
    for (size_t k = 0; k < d->n_carried_out; k++) {
        if (strcmp(d->carried_out[k].name, name) == 0) {
            add_influx_counters(out, &d->carried_out[k].st);
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
    st->fields_nonfinite = atomic_load(&g->pl.fields_nonfinite) + d->carried_nonfinite;
    st->uint_clipped = atomic_load(&g->pl.uint_clipped) + d->carried_clipped;
    st->clock = clock_state(g);
    st->clock_ignored = g->conf->gw.unsynced_clock == 1;
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
        snprintf(o->name, sizeof(o->name), "%s", cg_influx_conf_name(g->conf->outputs[i]));
        snprintf(o->url, sizeof(o->url), "%s", cg_influx_conf_url(g->conf->outputs[i]));
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
    enum cg_log_level lvl = CG_LOG_INFO;
    const char *clock_msg =
        cg_status_clock_transition(&d->clock_logged, clock_state(g), g->conf->gw.unsynced_clock == 1, &lvl);
    if (clock_msg != NULL) {
        cg_log(lvl, "citygate", "%s", clock_msg);
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
        source_counters(d, g, i, &c);
        in += c.points_in;
        rejected += c.points_rejected;
        refused += c.points_refused;
        filtered += c.points_filtered;
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_influx_stats st;
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

static void status_line(struct daemon *d, char *out, size_t n)
{
    struct gen *g = d->g;
    uint64_t sent = 0, unsent = 0;
    size_t up = 0;
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_influx_stats st;
        output_stats(d, g, i, &st);
        sent += st.lines_sent;
        unsent += st.journal_unread_lines;
        up += st.up;
    }
    snprintf(out, n, "%zu sources, outputs up %zu/%zu, %llu lines sent, %llu waiting", g->n_sources, up,
             g->n_outputs, (unsigned long long)sent, (unsigned long long)unsent);
}

static void log_summary(struct daemon *d, struct gen *g)
{
    for (size_t i = 0; i < g->n_sources; i++) {
        struct cg_sink_counters c;
        source_counters(d, g, i, &c);
        cg_log(CG_LOG_INFO, g->sources[i].conf->name, "points accepted=%llu rejected=%llu refused=%llu filtered=%llu",
               (unsigned long long)c.points_in, (unsigned long long)c.points_rejected,
               (unsigned long long)c.points_refused, (unsigned long long)c.points_filtered);
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        struct cg_influx_stats st;
        output_stats(d, g, i, &st);
        cg_log(CG_LOG_INFO, cg_influx_conf_name(g->conf->outputs[i]),
               "lines sent=%llu dead-lettered=%llu dropped=%llu unsent=%llu lost-to-buffer-limit=%llu",
               (unsigned long long)st.lines_sent, (unsigned long long)st.lines_dead_lettered,
               (unsigned long long)st.lines_dropped, (unsigned long long)st.journal_unread_lines,
               (unsigned long long)st.journal_dropped_lines);
    }
}

/* ---- reload --------------------------------------------------------------- */

/* The discard ledger (drops.c) follows the running configuration across a
 * reload, so its counters and "logged once" keys do not start over. */
static void swap_ledger(struct daemon *d, struct gen *a, struct gen *b)
{
    pthread_mutex_lock(&d->lock); /* collect() reads d->g's ledger */
    struct cg_drops *t = a->pl.drops;
    a->pl.drops = b->pl.drops;
    b->pl.drops = t;
    pthread_mutex_unlock(&d->lock);
}

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
    if (load_conf(file, &conf, &raw, &errs) < 0) {
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
    struct gen *ng = gen_create(conf, d->dry_run, false, false, &errs); /* owns conf now */
    if (ng == NULL || cg_errs_count(&errs) > 0) {
        log_errs("reload rejected, the running configuration stays", &raw, &errs);
        gen_free(ng);
        goto out;
    }
    cg_config_text_done(&raw);
    const cJSON *new_http = cJSON_GetObjectItemCaseSensitive(ng->conf->doc, "http");
    if ((d->http_json != NULL || new_http != NULL) && !cJSON_Compare(d->http_json, new_http, 1)) {
        cg_log(CG_LOG_WARN, "citygate", "reload: the http section changed; the status server keeps its settings "
                                        "until the next restart");
    }
    log_warnings(&errs);
    /* The new config is valid: stop the old sources (nothing new comes in),
     * then the old outputs without draining: what they had not sent stays in
     * the journal and the new outputs take it from there. */
    struct gen *old = d->g;
    gen_stop_sources(old);
    gen_stop_outputs(old, 0);
    swap_ledger(d, old, ng);
    struct cg_journal *j = d->journal;
    if (keep == NULL) {
        cg_journal_flush(j); /* positions persisted by output name */
        struct cg_journal *nj = open_journal(ng->conf, d->dry_run);
        if (nj == NULL) {
            cg_log(CG_LOG_ERROR, "citygate", "reload: the new buffer cannot be opened; going on with the old config");
            swap_ledger(d, old, ng);
            gen_free(ng);
            resume(old);
            goto out;
        }
        j = nj;
    }
    if (gen_start(ng, j, d->dry_run) < 0) {
        cg_log(CG_LOG_ERROR, "citygate", "reload: the new configuration failed to start; going back to the old one");
        gen_stop_sources(ng); /* may have started some: none may write to the ledger handed back */
        swap_ledger(d, old, ng);
        gen_free(ng);
        if (j != d->journal) {
            cg_journal_free(j);
        }
        resume(old);
        goto out;
    }
    pthread_mutex_lock(&d->lock);
    carry_counters(d, old);
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
    char mem[512] = "";
    if (load_conf(file, &conf, &raw, &errs) == 0) {
        n_out = conf->n_outputs;
        n_src = conf->n_sources;
        if (conf->norm && cg_norm_conf_enabled(conf->norm)) {
            cg_norm_conf_memory_ceiling(conf->norm, mem, sizeof(mem));
        }
        gen_free(gen_create(conf, false, false, true, &errs));
    }
    int bad = cg_errs_count(&errs) > 0;
    for (size_t i = 0; i < errs.n_warn; i++) {
        fprintf(stderr, "citygate: warning: %s\n", errs.warn[i]);
    }
    if (bad) {
        print_errs(file, &raw, &errs);
    } else {
        printf("%s: OK (%zu output%s, %zu source%s)\n", file, n_out, n_out == 1 ? "" : "s", n_src,
               n_src == 1 ? "" : "s");
        if (mem[0]) {
            printf("%s\n", mem);
        }
        fflush(stdout);
    }
    cg_errs_done(&errs);
    cg_config_text_done(&raw);
    return bad ? 1 : 0;
}

struct test_ctx {
    const char *source;
    int dead;
};

static void test_device(void *ctx, const struct cg_health_item *h)
{
    struct test_ctx *t = ctx;
    /* a device behind a link that never came up was skipped, not failed */
    if (h->kind == CG_HEALTH_DEVICE && !h->up && (h->failed > 0 || h->skipped > 0) && h->ok == 0) {
        fprintf(stderr, "citygate --test: %s: device %s: no reading (%s)\n", t->source, h->device ? h->device : "?",
                h->last_error ? h->last_error : "failed");
        t->dead++;
    }
}

/* --test: did every source produce a reading? Says which did not, on stderr.
 * A source counts when it handed over at least one point and none of its
 * devices failed every read (a Modbus source also hands over health points
 * for a dead device). */
static int test_verdict(const struct gen *g)
{
    int bad = 0;
    for (size_t i = 0; i < g->n_sources; i++) {
        const struct source *s = &g->sources[i];
        struct cg_sink_counters c;
        cg_sink_counters(s->sink, &c);
        struct test_ctx t = {s->conf->name, 0};
        if (s->conf->adapter->health != NULL && s->state != NULL) {
            s->conf->adapter->health(s->state, test_device, &t);
        }
        if (c.points_in == 0) {
            fprintf(stderr, "citygate --test: %s: no reading\n", s->conf->name);
            bad = 1;
        } else if (t.dead > 0) {
            bad = 1;
        } else {
            fprintf(stderr, "citygate --test: %s: %llu points\n", s->conf->name, (unsigned long long)c.points_in);
        }
    }
    return bad;
}

static int run(const char *file, bool dry_run, bool test, long run_for_s, const char *level_override)
{
    struct cg_errs errs = {0};
    struct cg_config_text raw = {0};
    if (test) {
        dry_run = true;
    }
    struct daemon d = {.dry_run = dry_run, .test = test};
    struct cg_config *conf = NULL;
    int rc = 1;

    pthread_mutex_init(&d.lock, NULL);
    if (load_conf(file, &conf, &raw, &errs) < 0) {
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
    if (!dry_run) { /* before anything is opened or written there */
        char pmsg[768];
        int pr = cg_privdrop_to_owner(conf->gw.state_dir, pmsg, sizeof(pmsg));
        if (pr != 0) {
            cg_log(pr < 0 ? CG_LOG_ERROR : CG_LOG_WARN, "citygate", "%s", pmsg);
        }
        if (pr < 0) {
            cg_config_free(conf);
            goto out;
        }
    }
    d.started_ns = cg_time_now_ns();
    d.g = gen_create(conf, dry_run, test, false, &errs);
    if (d.g == NULL || cg_errs_count(&errs) > 0) {
        print_errs(file, &raw, &errs);
        goto out;
    }
    cg_config_text_done(&raw); /* not kept for the daemon's lifetime */
    log_warnings(&errs);
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
    /* The server outlives this generation: take its settings from the config. */
    d.http_conf = d.g->conf->http;
    d.g->conf->http = NULL;
    d.http_json = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d.g->conf->doc, "http"), 1);
    if (!dry_run && d.http_conf != NULL && cg_http_conf_enabled(d.http_conf)) {
        char err[256] = "";
        d.http = cg_http_start(d.http_conf, collect, &d, err, sizeof(err));
        if (d.http == NULL) {
            cg_log(CG_LOG_ERROR, "http", "%s", err);
        }
    }
    char line[256];
    status_line(&d, line, sizeof(line));
    cg_notify_ready(line);
    cg_log(CG_LOG_INFO, "citygate", "citygate %s running: gateway %s, %zu source%s, %zu output%s%s", CG_VERSION,
           d.g->conf->gw.id, d.g->n_sources, d.g->n_sources == 1 ? "" : "s", d.g->conf->n_outputs,
           d.g->conf->n_outputs == 1 ? "" : "s",
           test      ? " (test: reading every source once, printing line protocol, storing nothing)"
           : dry_run ? " (dry run: printing line protocol)"
                     : "");

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
        if (sig == SIGHUP && !test) {
            reload(&d, file);
        }
        int64_t now = cg_time_mono_ms();
        cg_journal_tick(d.journal);
        if (!test && now - last_second >= 1000) {
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
    cg_http_conf_free(d.http_conf);
    cJSON_Delete(d.http_json);
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
        log_summary(&d, d.g);
    }
    if (test && rc == 0) {
        rc = test_verdict(d.g);
    } else if (test) {
        rc = 1;
    }
    gen_free(d.g);
    cg_journal_free(d.journal);
    free(d.tracked);
    free(d.carried_src);
    free(d.carried_out);
    free(d.carried_dev);
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
        {"test", no_argument, NULL, 'T'},
        {"test-wait", required_argument, NULL, 'w'},
        {"run-for", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'},
        {"print-options", no_argument, NULL, 'P'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *check = NULL, *level = NULL;
    bool dry = false, test = false;
    long run_for = 0, test_wait = 5;
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
        case 'T':
            test = true;
            break;
        case 'w': {
            char *end;
            errno = 0;
            test_wait = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || test_wait < 1 || test_wait > 3600) {
                fprintf(stderr, "citygate: --test-wait: expected 1..3600 seconds, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
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
    if (test && (dry || run_for)) {
        fprintf(stderr, "citygate: --test goes with neither --dry-run nor --run-for (use --test-wait)\n");
        return 2;
    }
    return run(config, dry, test, test ? test_wait : run_for, level);
}
