/* Edge reduction on the demo city: one simulated day of readings through the
 * normaliser, with and without deadband / windowed aggregation, counting the
 * line-protocol bytes that would go up the (metered) link.
 *
 * The demo city: 20 air-quality stations (30 s), 40 traffic loops (60 s),
 * 10 electricity meters (10 s), 15 water meters (60 s), 5 weather stations
 * (60 s). Values move like sensors do: a daily cycle, slow drift, noise, and
 * the device's resolution (PM in whole ug/m3, temperature in 0.1 degC...).
 * Prints figures; never passes or fails. Usage: norm_reduction [schema.json] */
#include "lineproto.h"
#include "normalise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_NS 1000000000LL
#define DAY_S 86400
#define T0 (1700006400LL * S_NS)

struct qty {
    const char *name;
    double base, daily, noise, step; /* value = base + daily*cycle + drift + noise, rounded to step */
    bool integer;
};

struct kind {
    const char *meas;
    int n_dev, interval_s;
    const struct qty *q;
    size_t n_q;
    const char *vendor;
};

static const struct qty aq[] = {
    {"pm2_5", 12, 8, 3, 1, false},   {"pm10", 20, 10, 4, 1, false},       {"no2", 30, 20, 5, 1, false},
    {"o3", 50, 30, 4, 1, false},     {"temperature", 12, 5, 0.1, 0.1, false}, {"humidity", 70, 15, 1, 1, false},
    {"pressure", 1013, 2, 0.3, 0.1, false},
};
static const struct qty traffic[] = {
    {"vehicles", 20, 18, 5, 1, true},
    {"heavy_vehicles", 2, 2, 1, 1, true},
    {"speed_avg", 45, -10, 4, 1, false},
    {"occupancy", 8, 7, 2, 1, false},
};
static const struct qty energy[] = {
    {"power_total", 12, 8, 0.4, 0.01, false},  {"voltage_l1", 231, 3, 0.8, 0.1, false},
    {"voltage_l2", 231, 3, 0.8, 0.1, false},   {"voltage_l3", 231, 3, 0.8, 0.1, false},
    {"current_l1", 17, 11, 0.6, 0.01, false},  {"current_l2", 17, 11, 0.6, 0.01, false},
    {"current_l3", 17, 11, 0.6, 0.01, false},  {"frequency", 50, 0, 0.02, 0.01, false},
};
static const struct qty water[] = {
    {"flow_rate", 4, 3, 0.3, 0.01, false},
    {"pressure", 4.2, -0.4, 0.05, 0.01, false},
};
static const struct qty weather[] = {
    {"temperature", 12, 5, 0.1, 0.1, false}, {"humidity", 70, 15, 1, 1, false},
    {"pressure", 1013, 2, 0.3, 0.1, false},  {"wind_speed", 4, 2, 1.2, 0.1, false},
    {"wind_direction", 220, 40, 25, 1, false},
};

#define K(m, n, i, arr, v) {m, n, i, arr, sizeof(arr) / sizeof(arr[0]), v}
static const struct kind city[] = {
    K("air_quality", 20, 30, aq, "sensirion"), K("traffic", 40, 60, traffic, "sick"),
    K("energy", 10, 10, energy, "eastron"),    K("water", 15, 60, water, "kamstrup"),
    K("weather", 5, 60, weather, "vaisala"),
};
#define N_KINDS (sizeof(city) / sizeof(city[0]))

/* Deterministic noise: xorshift + Box-Muller. */
static uint64_t rng = 88172645463325252ULL;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

struct out {
    struct cg_buf buf;
    struct cg_lp_opts lp;
    struct cg_lp_counters cnt;
    uint64_t bytes, lines;
};

static void encode(struct out *o, const struct cg_point *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        cg_buf_reset(&o->buf);
        if (cg_lp_encode(&o->buf, &p[i], &o->lp, &o->cnt, &why) == 0) {
            o->bytes += o->buf.len;
            o->lines++;
        }
    }
}

static void emit_cb(void *ctx, struct cg_norm_source *src, const struct cg_point *pts, size_t n)
{
    (void)src;
    encode(ctx, pts, n);
}

struct variant {
    const char *name;
    const char *source_json; /* per source "normalise" rules, applied to every source */
};

static int run(const char *schema, const struct variant *v, struct out *o)
{
    char conf_json[512];
    struct cg_errs errs = {0};
    struct cg_norm_conf *conf = NULL;
    struct cg_norm_source *src[N_KINDS] = {0};
    struct cg_norm *n = NULL;
    struct cg_norm_scratch *scratch = malloc(sizeof(*scratch));
    int rc = -1;

    snprintf(conf_json, sizeof(conf_json), "{\"schema_file\": \"%s\", \"clock_check\": false, \"max_tag_values\": 10000}",
             schema);
    cJSON *cj = cJSON_Parse(conf_json);
    if (scratch == NULL || cg_norm_conf_parse(cj, "normalise", NULL, &conf, &errs) < 0) {
        goto out;
    }
    for (size_t k = 0; k < N_KINDS; k++) {
        cJSON *sj = v->source_json ? cJSON_Parse(v->source_json) : NULL;
        int e = cg_norm_source_parse(conf, sj, "sources[].normalise", city[k].meas, &src[k], &errs);
        cJSON_Delete(sj);
        if (e < 0) {
            goto out;
        }
    }
    n = cg_norm_new(conf);
    if (n == NULL) {
        goto out;
    }
    struct cg_point outp[CG_NORM_OUT_MAX];
    for (int t = 0; t < DAY_S; t++) {
        int64_t now = T0 + (int64_t)t * S_NS;
        double cycle = sin(2 * M_PI * (t - 6 * 3600) / DAY_S); /* peak mid-afternoon */
        for (size_t k = 0; k < N_KINDS; k++) {
            const struct kind *kd = &city[k];
            for (int d = 0; d < kd->n_dev; d++) {
                /* devices are staggered over their interval */
                if ((t + d * 7) % kd->interval_s != 0) {
                    continue;
                }
                char id[32], district[16], site[32];
                snprintf(id, sizeof(id), "%s-%03d", kd->meas, d);
                snprintf(district, sizeof(district), "d%d", d % 6);
                snprintf(site, sizeof(site), "site-%d", d);
                struct cg_tag tags[] = {{"city", "demo"}, {"district", district}, {"site", site},
                                        {"sensor_id", id}, {"vendor", kd->vendor}};
                struct cg_field f[16];
                for (size_t q = 0; q < kd->n_q; q++) {
                    const struct qty *qt = &kd->q[q];
                    double drift = qt->noise * 2 * sin(2 * M_PI * t / (5.3 * 3600) + d + (double)q);
                    double x = qt->base + qt->daily * cycle + drift + qt->noise * gauss();
                    x = round(x / qt->step) * qt->step;
                    if (x < 0) {
                        x = 0;
                    }
                    f[q] = qt->integer ? CG_FIELD_I(qt->name, (int64_t)x) : CG_FIELD_F(qt->name, x);
                }
                struct cg_point p = {.measurement = kd->meas, .tags = tags, .n_tags = 5, .fields = f,
                                     .n_fields = kd->n_q, .time_ns = now};
                const char *why;
                int k2 = cg_norm_point(n, src[k], &p, now, scratch, outp, &why);
                if (k2 > 0) {
                    encode(o, outp, (size_t)k2);
                }
            }
        }
        cg_norm_tick(n, now, emit_cb, o);
    }
    cg_norm_tick(n, T0 + (DAY_S + 3600) * S_NS, emit_cb, o); /* flush the last windows */
    rc = 0;
out:
    for (size_t i = 0; i < errs.n; i++) {
        fprintf(stderr, "%s\n", errs.msg[i]);
    }
    cg_errs_done(&errs);
    cg_norm_free(n);
    for (size_t k = 0; k < N_KINDS; k++) {
        cg_norm_source_free(src[k]);
    }
    cg_norm_conf_free(conf);
    cJSON_Delete(cj);
    free(scratch);
    return rc;
}

int main(int argc, char **argv)
{
    const char *schema = argc > 1 ? argv[1] : CG_SRC_DIR "/config/schema.json";
    static const struct variant variants[] = {
        {"no reduction", NULL},
        {"report on change (exact), heartbeat 15 min", "{\"deadband\": {\"*\": 0}, \"heartbeat_s\": 900}"},
        {"deadband ~sensor noise, heartbeat 15 min",
         "{\"deadband\": {\"*\": 0, \"pm2_5\": 3, \"pm10\": 4, \"no2\": 5, \"o3\": 5, \"temperature\": 0.3, "
         "\"humidity\": 2, \"pressure\": 0.5, \"speed_avg\": 5, \"occupancy\": 3, \"vehicles\": 5, \"power_total\": 0.5, "
         "\"voltage_l1\": 1.5, \"voltage_l2\": 1.5, \"voltage_l3\": 1.5, \"current_l1\": 1, \"current_l2\": 1, "
         "\"current_l3\": 1, \"frequency\": 0.05, \"flow_rate\": 0.5, \"wind_speed\": 1.5, \"wind_direction\": 30}, "
         "\"heartbeat_s\": 900}"},
        {"window 300 s, mean", "{\"window_s\": 300}"},
        {"window 300 s, mean/min/max/count", "{\"window_s\": 300, \"aggregates\": [\"mean\", \"min\", \"max\", \"count\"]}"},
        {"window 900 s, mean", "{\"window_s\": 900}"},
    };
    static const struct cg_tag gw[] = {{"gateway", "cabinet-17"}};
    uint64_t base = 0;
    printf("demo city, one simulated day: 20 air-quality (30 s), 40 traffic (60 s), 10 energy (10 s),\n"
           "15 water (60 s), 5 weather (60 s) devices; line protocol incl. the gateway tag, before gzip\n\n");
    printf("%-50s %12s %14s %9s\n", "variant", "lines/hour", "bytes/hour", "of raw");
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        struct out o = {.lp = {.static_tags = gw, .n_static_tags = 1}};
        cg_buf_init(&o.buf, 1 << 20);
        if (run(schema, &variants[i], &o) < 0) {
            fprintf(stderr, "%s: setup failed\n", variants[i].name);
            cg_buf_done(&o.buf);
            return 1;
        }
        if (i == 0) {
            base = o.bytes;
        }
        printf("%-50s %12.0f %14.0f %8.1f%%\n", variants[i].name, o.lines / 24.0, o.bytes / 24.0,
               base ? 100.0 * (double)o.bytes / (double)base : 0);
        cg_buf_done(&o.buf);
    }
    return 0;
}
