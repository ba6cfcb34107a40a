/* citygate — daemon life cycle: generations (what one config builds), the
 * journal, the dry-run printer, the main loop with its signals, watchdog and
 * stop order, and the --test verdict.
 *
 * Data path (docs/architecture.md): adapter threads -> cg_sink_emit (normalise,
 * add static tags, encode line protocol) -> journal (bounded, on disk by
 * default, one position per output) -> one thread per output (output.c: batch,
 * retry; the type sends) -> database or broker. */
#include "daemon.h"
#include "alarm.h"

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

/* ---- generations ---------------------------------------------------------- */

/* Builds a generation from a loaded config: normaliser, sinks, adapter states
 * (config parsing only, no I/O). Takes ownership of conf. Errors go to errs. */
struct gen *cg_daemon_gen_create(struct cg_config *conf, bool dry_run, bool test, bool check_only,
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
        unsigned v = s->conf->adapter->api_version;
        if (!cg_adapter_api_compatible(CG_ADAPTER_API_VERSION, v)) {
            cg_errs_add(errs, s->conf->path, "adapter '%s' was built for API %u.%u, this citygate has %u.%u",
                        s->conf->adapter->type, CG_ADAPTER_API_MAJOR_OF(v), CG_ADAPTER_API_MINOR_OF(v),
                        CG_ADAPTER_API_MAJOR, CG_ADAPTER_API_MINOR);
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

/* Loads file. When it has errors, the sources are still created (config
 * parsing only, as --check-config does) from what could be read, so that one
 * run lists the errors of every section: a bad output no longer hides a
 * misspelt device key. 0 with *out set, or < 0 with every error in errs. */
int cg_daemon_load_conf(const char *file, struct cg_config **out, struct cg_config_text *raw, struct cg_errs *errs)
{
    struct cg_config *conf = NULL;
    int rc = cg_config_load_partial(file, &conf, raw, errs);
    if (rc == 0) {
        *out = conf;
        return 0;
    }
    if (conf != NULL) {
        cg_daemon_gen_free(cg_daemon_gen_create(conf, false, false, true, errs)); /* owns conf */
    }
    return rc;
}

void cg_daemon_gen_stop_sources(struct gen *g)
{
    for (size_t i = 0; g && i < g->n_sources; i++) {
        if (g->sources[i].started) {
            g->sources[i].conf->adapter->stop(g->sources[i].state);
            g->sources[i].started = 0;
        }
    }
}

void cg_daemon_gen_stop_outputs(struct gen *g, int drain_ms)
{
    for (size_t i = 0; g && i < g->n_outputs; i++) {
        cg_output_stop(g->outputs[i], drain_ms);
    }
}

/* Frees a stopped generation. */
void cg_daemon_gen_free(struct gen *g)
{
    if (g == NULL) {
        return;
    }
    cg_daemon_gen_stop_sources(g);
    cg_daemon_gen_stop_outputs(g, 0);
    for (size_t i = 0; i < g->n_outputs; i++) {
        cg_output_free(g->outputs[i]);
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
int cg_daemon_gen_start(struct gen *g, struct cg_journal *j, bool dry_run)
{
    g->pl.journal = j;
    if (!dry_run) {
        g->outputs = calloc(g->conf->n_outputs, sizeof(*g->outputs));
        if (g->outputs == NULL) {
            return -1;
        }
        for (size_t i = 0; i < g->conf->n_outputs; i++) {
            g->outputs[i] = cg_output_new(g->conf->outputs[i], j, (unsigned)i, g->conf->gw.state_dir);
            if (g->outputs[i] == NULL) {
                cg_log(CG_LOG_ERROR, "citygate", "outputs[%zu]: cannot set up (out of memory?)", i);
                return -1;
            }
            g->n_outputs = i + 1;
            int lr = cg_alarms_lane_reader(g->pl.alarms, cg_output_conf_name(g->conf->outputs[i]));
            if (lr >= 0) {
                cg_output_set_lane(g->outputs[i], cg_alarms_lane(g->pl.alarms), (unsigned)lr);
            } else if (g->pl.alarms != NULL) {
                cg_log(CG_LOG_WARN, "alarm", "output '%s' was added by a reload: it gets alarm events after a restart",
                       cg_output_conf_name(g->conf->outputs[i]));
            }
            if (cg_output_start(g->outputs[i]) < 0) {
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

struct cg_journal *cg_daemon_open_journal(const struct cg_config *conf, bool dry_run)
{
    const struct cg_buffer_conf *b = &conf->buffer;
    char names[CG_JOURNAL_MAX_READERS][128];
    const char *np[CG_JOURNAL_MAX_READERS];
    struct cg_journal_opts o = {
        .dir = (dry_run || b->mode == CG_BUFFER_MEMORY) ? NULL : b->dir,
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
        position_name(dry_run ? "dry-run" : cg_output_conf_name(conf->outputs[i]), names[i], sizeof(names[i]));
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

/* Creates gateway.state_dir and drops privileges to its owner, before
 * anything is opened or written there. 0 or -1 (logged). */
static int prepare_state_dir(const struct cg_config *conf)
{
    if (mkdir(conf->gw.state_dir, 0750) < 0 && errno != EEXIST) {
        cg_log(CG_LOG_ERROR, "citygate", "gateway.state_dir %s: cannot create: %s", conf->gw.state_dir,
               strerror(errno));
        return -1;
    }
    char pmsg[768];
    int pr = cg_privdrop_to_owner(conf->gw.state_dir, pmsg, sizeof(pmsg));
    if (pr != 0) {
        cg_log(pr < 0 ? CG_LOG_ERROR : CG_LOG_WARN, "citygate", "%s", pmsg);
    }
    return pr < 0 ? -1 : 0;
}

/* The alarm engine and its lane (<state_dir>/alarm-lane, or memory when the
 * buffer is in memory), readers named as the buffer's. */
static struct cg_alarms *open_alarms(struct cg_config *conf)
{
    char names[CG_JOURNAL_MAX_READERS][128];
    const char *np[CG_JOURNAL_MAX_READERS];
    char lane_dir[4096];
    for (size_t i = 0; i < conf->n_outputs && i < CG_JOURNAL_MAX_READERS; i++) {
        position_name(cg_output_conf_name(conf->outputs[i]), names[i], sizeof(names[i]));
        np[i] = names[i];
    }
    snprintf(lane_dir, sizeof(lane_dir), "%s/alarm-lane", conf->gw.state_dir);
    struct cg_alarm_env env = {
        .state_dir = conf->gw.state_dir,
        .lane_dir = conf->buffer.mode == 1 ? NULL : lane_dir,
        .reader_names = np,
        .n_readers = (unsigned)conf->n_outputs,
        .static_tags = conf->tags,
        .n_static_tags = conf->n_tags,
        .write_uint = conf->gw.write_uint,
    };
    char err[512] = "";
    struct cg_alarm_conf *rules = conf->alarms;
    conf->alarms = NULL; /* the engine outlives this generation's config */
    struct cg_alarms *a = cg_alarms_new(rules, &env, err, sizeof(err));
    if (a == NULL) {
        cg_log(CG_LOG_ERROR, "alarm", "cannot start the alarms: %s", err);
    }
    return a;
}

/* Until SIGTERM/SIGINT or run_for_s: signals, the 200 ms tick (journal,
 * gap records, self metrics, sd_notify status and watchdog), SIGHUP reloads. */
static void main_loop(struct daemon *d, const char *file, const sigset_t *sigs, long run_for_s)
{
    char line[256];
    int64_t start_ms = cg_time_mono_ms();
    int64_t end_ms = run_for_s > 0 ? start_ms + run_for_s * 1000 : 0;
    int64_t wd_ms = cg_notify_watchdog_interval_ms();
    int64_t last_wd = 0, last_status = start_ms, last_second = start_ms, last_self = start_ms;
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
        int sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            cg_log(CG_LOG_INFO, "citygate", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (sig == SIGHUP && !d->test) {
            cg_reload(d, file);
        }
        int64_t now = cg_time_mono_ms();
        cg_journal_tick(d->journal);
        cg_alarms_tick(d->alarms, cg_time_now_ns());
        if (!d->test && now - last_second >= 1000) {
            cg_selfmetrics_second_tick(d);
            last_second = now;
        }
        int64_t self_s = d->g->conf->gw.self_metrics_interval_s;
        if (!d->dry_run && self_s > 0 && now - last_self >= self_s * 1000) {
            cg_selfmetrics_write(d);
            last_self = now;
        }
        if (now - last_status >= 5000) {
            cg_selfmetrics_status_line(d, line, sizeof(line));
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
}

int cg_daemon_run(const char *file, bool dry_run, bool test, long run_for_s, const char *level_override)
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
    if (cg_daemon_load_conf(file, &conf, &raw, &errs) < 0) {
        cg_cli_print_errs(file, &raw, &errs);
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

    if (!dry_run && prepare_state_dir(conf) < 0) {
        cg_config_free(conf);
        goto out;
    }
    d.started_ns = cg_time_now_ns();
    d.g = cg_daemon_gen_create(conf, dry_run, test, false, &errs);
    if (d.g == NULL || cg_errs_count(&errs) > 0) {
        cg_cli_print_errs(file, &raw, &errs);
        goto out;
    }
    cg_config_text_done(&raw); /* not kept for the daemon's lifetime */
    cg_cli_log_warnings(&errs);
    if ((d.journal = cg_daemon_open_journal(d.g->conf, dry_run)) == NULL) {
        goto out;
    }
    if (!dry_run && cg_alarm_conf_count(d.g->conf->alarms) > 0 && (d.alarms = open_alarms(d.g->conf)) == NULL) {
        goto out;
    }
    d.g->pl.alarms = d.alarms;
    if (dry_run) {
        if (pthread_create(&d.dry_thread, NULL, dry_run_writer, &d) != 0) {
            goto out;
        }
        d.dry_started = 1;
    }
    if (cg_daemon_gen_start(d.g, d.journal, dry_run) < 0) {
        goto out;
    }
    /* The server outlives this generation: take its settings from the config. */
    d.http_conf = d.g->conf->http;
    d.g->conf->http = NULL;
    d.http_json = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d.g->conf->doc, "http"), 1);
    if (!dry_run && d.http_conf != NULL && cg_http_conf_enabled(d.http_conf)) {
        char err[256] = "";
        d.http = cg_http_start(d.http_conf, cg_selfmetrics_collect, &d, err, sizeof(err));
        if (d.http == NULL) {
            cg_log(CG_LOG_ERROR, "http", "%s", err);
        }
    }
    char line[256];
    cg_selfmetrics_status_line(&d, line, sizeof(line));
    cg_notify_ready(line);
    cg_log(CG_LOG_INFO, "citygate", "citygate %s running: gateway %s, %zu source%s, %zu output%s%s", CG_VERSION,
           d.g->conf->gw.id, d.g->n_sources, d.g->n_sources == 1 ? "" : "s", d.g->conf->n_outputs,
           d.g->conf->n_outputs == 1 ? "" : "s",
           test      ? " (test: reading every source once, printing line protocol, storing nothing)"
           : dry_run ? " (dry run: printing line protocol)"
                     : "");

    main_loop(&d, file, &sigs, run_for_s);
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
        cg_daemon_gen_stop_sources(d.g);
        cg_daemon_gen_stop_outputs(d.g, rc == 0 ? (int)d.g->conf->gw.drain_timeout_ms : 0);
    }
    if (d.journal) {
        cg_journal_shutdown(d.journal);
        cg_journal_flush(d.journal);
    }
    if (d.dry_started) {
        pthread_join(d.dry_thread, NULL);
    }
    if (d.g != NULL && d.journal != NULL && !dry_run) {
        cg_selfmetrics_log_summary(&d, d.g);
    }
    if (test && rc == 0) {
        rc = test_verdict(d.g);
    } else if (test) {
        rc = 1;
    }
    cg_daemon_gen_free(d.g); /* its outputs read the lane: before the alarms */
    cg_alarms_free(d.alarms);
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
