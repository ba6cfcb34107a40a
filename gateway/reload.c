/* citygate — SIGHUP: load and validate the new config, build the new
 * generation's sources, and only then swap; on any failure the running
 * generation stays (mosquitto's rule: parse into a fresh copy, swap on success). */
#include "daemon.h"

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
        if (strcmp(cg_output_conf_name(a->outputs[i]), cg_output_conf_name(b->outputs[i])) != 0) {
            return false;
        }
    }
    return true;
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
        cg_output_start(old->outputs[i]);
    }
    for (size_t i = 0; i < old->n_sources; i++) {
        if (old->sources[i].conf->adapter->start(old->sources[i].state) == 0) {
            old->sources[i].started = 1;
        }
    }
}

void cg_reload(struct daemon *d, const char *file)
{
    struct cg_errs errs = {0};
    struct cg_config_text raw = {0};
    struct cg_config *conf = NULL;
    cg_notify_reloading();
    cg_log(CG_LOG_INFO, "citygate", "SIGHUP: reloading %s", file);
    if (cg_daemon_load_conf(file, &conf, &raw, &errs) < 0) {
        cg_cli_log_errs("reload rejected, the running configuration stays", &raw, &errs);
        goto out;
    }
    struct cg_journal *keep = same_journal(d->g->conf, conf) ? d->journal : NULL;
    if (keep == NULL && conf->buffer.mode == CG_BUFFER_MEMORY) {
        cg_log(CG_LOG_ERROR, "citygate", "reload rejected, the running configuration stays: with buffer.mode memory "
                                         "the outputs and buffer settings cannot change without a restart "
                                         "(the readings in memory would be lost)");
        cg_config_free(conf);
        goto out;
    }
    struct gen *ng = cg_daemon_gen_create(conf, d->dry_run, false, false, &errs); /* owns conf now */
    if (ng == NULL || cg_errs_count(&errs) > 0) {
        cg_cli_log_errs("reload rejected, the running configuration stays", &raw, &errs);
        cg_daemon_gen_free(ng);
        goto out;
    }
    cg_config_text_done(&raw);
    const cJSON *new_http = cJSON_GetObjectItemCaseSensitive(ng->conf->doc, "http");
    if ((d->http_json != NULL || new_http != NULL) && !cJSON_Compare(d->http_json, new_http, 1)) {
        cg_log(CG_LOG_WARN, "citygate", "reload: the http section changed; the status server keeps its settings "
                                        "until the next restart");
    }
    cg_cli_log_warnings(&errs);
    const cJSON *old_al = cJSON_GetObjectItemCaseSensitive(d->g->conf->doc, "alarms");
    const cJSON *new_al = cJSON_GetObjectItemCaseSensitive(ng->conf->doc, "alarms");
    if ((old_al != NULL || new_al != NULL) && !cJSON_Compare(old_al, new_al, 1)) {
        cg_log(CG_LOG_WARN, "citygate", "reload: the alarms section changed; the running alarm rules stay until "
                                        "the next restart (their state must not be lost mid-flight)");
    }
    ng->pl.alarms = d->alarms;
    /* The new config is valid: stop the old sources (nothing new comes in),
     * then the old outputs without draining: what they had not sent stays in
     * the journal and the new outputs take it from there. */
    struct gen *old = d->g;
    cg_daemon_gen_stop_sources(old);
    cg_daemon_gen_stop_outputs(old, 0);
    swap_ledger(d, old, ng);
    struct cg_journal *j = d->journal;
    if (keep == NULL) {
        cg_journal_flush(j); /* positions persisted by output name */
        struct cg_journal *nj = cg_daemon_open_journal(ng->conf, d->dry_run);
        if (nj == NULL) {
            cg_log(CG_LOG_ERROR, "citygate", "reload: the new buffer cannot be opened; going on with the old config");
            swap_ledger(d, old, ng);
            cg_daemon_gen_free(ng);
            resume(old);
            goto out;
        }
        j = nj;
    }
    if (cg_daemon_gen_start(ng, j, d->dry_run) < 0) {
        cg_log(CG_LOG_ERROR, "citygate", "reload: the new configuration failed to start; going back to the old one");
        cg_daemon_gen_stop_sources(ng); /* may have started some: none may write to the ledger handed back */
        swap_ledger(d, old, ng);
        cg_daemon_gen_free(ng);
        if (j != d->journal) {
            cg_journal_free(j);
        }
        resume(old);
        goto out;
    }
    pthread_mutex_lock(&d->lock);
    cg_selfmetrics_carry(d, old);
    d->g = ng;
    struct cg_journal *old_j = d->journal;
    d->journal = j;
    pthread_mutex_unlock(&d->lock);
    cg_daemon_gen_free(old);
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
    cg_selfmetrics_status_line(d, line, sizeof(line));
    cg_notify_ready(line);
}
