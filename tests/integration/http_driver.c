/* Test driver for the HTTP status module, until (and besides) the real binary:
 * reads {"http": {...}} from a JSON file, serves a made-up gateway snapshot and
 * runs until SIGTERM/SIGINT.
 *
 *   http_driver CONFIG.json ok|degraded
 *
 * Prints "listening on PORT" once serving; config errors go to stderr, exit 1. */
#include "http_status.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t started;

static int collect(void *ctx, struct cg_status *st)
{
    bool degraded = *(const bool *)ctx;
    int64_t now = now_ns();
    memset(st, 0, sizeof(*st));
    snprintf(st->gateway_id, sizeof(st->gateway_id), "cabinet-17");
    snprintf(st->version, sizeof(st->version), "%s", CG_VERSION);
    st->now_ns = now;
    st->started_ns = started - 3725LL * 1000000000LL;
    st->journal = (struct cg_journal_stats){.bytes = 181234, .lines = 1520, .appended_lines = 982311,
                                            .max_bytes = 67108864};
    st->sources = calloc(2, sizeof(*st->sources));
    st->outputs = calloc(1, sizeof(*st->outputs));
    if (st->sources == NULL || st->outputs == NULL) {
        return -12;
    }
    st->n_sources = 2;
    st->n_outputs = 1;
    struct cg_status_source *s = &st->sources[0];
    snprintf(s->name, sizeof(s->name), "north-bus");
    snprintf(s->type, sizeof(s->type), "modbus");
    s->counters = (struct cg_sink_counters){.points_in = 912004, .points_rejected = 2, .last_ns = now - 800000000LL};
    snprintf(s->last_lines, sizeof(s->last_lines),
             "air_quality,district=north,device=airq-12 pm25=12.5,pm10=20.1,no2=31 %lld\n"
             "energy,district=north,device=meter-7 power_w=1830.5,energy_wh=99120i %lld\n",
             (long long)now, (long long)now);
    s->devices = calloc(2, sizeof(*s->devices));
    if (s->devices == NULL) {
        return -12;
    }
    s->n_devices = 2;
    snprintf(s->devices[0].name, sizeof(s->devices[0].name), "airq-12");
    s->devices[0] = (struct cg_status_device){.up = true, .ok = 4410, .failed = 3, .latency_ms = 18.4,
                                              .last_ok_ns = now - 900000000LL};
    snprintf(s->devices[0].name, sizeof(s->devices[0].name), "airq-12");
    s->devices[1] = (struct cg_status_device){.up = !degraded, .ok = 4400, .failed = degraded ? 15 : 1,
                                              .consecutive_failures = degraded ? 12 : 0, .latency_ms = 25.0,
                                              .last_ok_ns = now - (degraded ? 95LL : 1LL) * 1000000000LL};
    snprintf(s->devices[1].name, sizeof(s->devices[1].name), "meter-7");
    if (degraded) {
        snprintf(s->devices[1].last_error, sizeof(s->devices[1].last_error),
                 "unit 7: Connection timed out (no answer in 1000 ms)");
        s->devices[1].stray_frames = 5; /* late answers discarded (issue 12) */
        s->devices[1].skipped = 7;      /* polls not sent while the link was down */
    }
    if (degraded) { /* two rows of the discard ledger: one dropped, one written under an unknown name */
        st->drops = calloc(2, sizeof(*st->drops));
        if (st->drops == NULL) {
            return -12;
        }
        st->n_drops = 2;
        st->drops[0] = (struct cg_drops_row){.cause = CG_DROP_OUT_OF_RANGE, .count = 37};
        snprintf(st->drops[0].source, sizeof(st->drops[0].source), "north-bus");
        snprintf(st->drops[0].measurement, sizeof(st->drops[0].measurement), "air_quality");
        snprintf(st->drops[0].field, sizeof(st->drops[0].field), "pm10");
        st->drops[1] = (struct cg_drops_row){.cause = CG_DROP_UNMAPPED_FIELD, .count = 12};
        snprintf(st->drops[1].source, sizeof(st->drops[1].source), "city-mqtt");
        snprintf(st->drops[1].measurement, sizeof(st->drops[1].measurement), "traffic");
        snprintf(st->drops[1].field, sizeof(st->drops[1].field), "rssi");
    }
    s = &st->sources[1];
    snprintf(s->name, sizeof(s->name), "city-mqtt");
    snprintf(s->type, sizeof(s->type), "mqtt");
    s->counters = (struct cg_sink_counters){.points_in = 70311, .last_ns = now - 2100000000LL};
    snprintf(s->last_lines, sizeof(s->last_lines), "traffic,corridor=ring-east,device=loop-4 vehicles=17i,speed_kmh=38.2 %lld\n",
             (long long)now);
    struct cg_status_output *o = &st->outputs[0];
    snprintf(o->name, sizeof(o->name), "city-db");
    snprintf(o->url, sizeof(o->url), "http://10.20.0.5:8086");
    o->st = (struct cg_output_stats){.lines_sent = 980791, .requests = 9810, .batches_sent = 9808,
                                     .journal_unread_lines = 1520, .last_status = 204, .up = true,
                                     .last_ok_ns = now - 400000000LL};
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: http_driver CONFIG.json ok|degraded\n");
        return 2;
    }
    static bool degraded;
    degraded = strcmp(argv[2], "degraded") == 0;
    started = now_ns();
    FILE *f = fopen(argv[1], "r");
    char text[65536];
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    if (root == NULL) {
        fprintf(stderr, "http_driver: %s: not JSON\n", argv[1]);
        return 1;
    }
    struct cg_errs errs = {0};
    struct cg_http_conf *c = NULL;
    if (cg_http_conf_parse(cJSON_GetObjectItem(root, "http"), "http", &c, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "  %s\n", errs.msg[i]);
        }
        cg_errs_done(&errs);
        cJSON_Delete(root);
        return 1;
    }
    for (size_t i = 0; i < errs.n_warn; i++) { /* e.g. a secret file others can read */
        fprintf(stderr, "warning: %s\n", errs.warn[i]);
    }
    cg_errs_done(&errs);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    char err[256];
    struct cg_http *h = cg_http_start(c, collect, &degraded, err, sizeof(err));
    int rc = 0;
    if (h == NULL) {
        fprintf(stderr, "http_driver: %s\n", err[0] ? err : "disabled");
        rc = 1;
    } else {
        printf("listening on %d\n", cg_http_port(h));
        fflush(stdout);
        int sig;
        sigwait(&sigs, &sig);
        cg_http_stop(h);
    }
    cg_http_conf_free(c);
    cJSON_Delete(root);
    return rc;
}
