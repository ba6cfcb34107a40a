/* Normaliser memory and lock contention (issue 13). Prints figures; not a test.
 *
 *   norm_memory [SERIES [FIELDS [THREADS]]]   (defaults 100000 3 4)
 *
 * 1. Memory: SERIES distinct series (air_quality, sensor_id=s<i>), FIELDS
 *    schema fields each, through cg_norm_point(); resident memory before and
 *    after (from /proc/self/statm), per series.
 * 2. Contention: THREADS threads each normalise points whose sensor_id tag
 *    and serial field are hashed by privacy rules (HMAC-SHA256), on their own
 *    series; points/s
 *    with 1 thread and with THREADS threads. With the HMAC inside the
 *    normaliser's lock, THREADS threads are no faster than one. */
#include "normalise.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA CG_SRC_DIR "/config/schema.json"

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f == NULL) {
        return -1;
    }
    if (fscanf(f, "%ld %ld", &size, &res) != 2) {
        res = -1;
    }
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct cg_norm_conf *conf(void)
{
    struct cg_errs errs = {0};
    struct cg_norm_conf *c = NULL;
    cJSON *o = cJSON_Parse("{\"schema_file\": \"" SCHEMA "\", \"clock_check\": false, \"max_tag_values\": 1000000, "
                           "\"max_series\": 10000000, \"privacy_salt\": \"bench-salt\"}");
    if (cg_norm_conf_parse(o, "normalise", NULL, &c, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "%s\n", errs.msg[i]);
        }
        exit(1);
    }
    cJSON_Delete(o);
    cg_errs_done(&errs);
    return c;
}

static struct cg_norm_source *source(const struct cg_norm_conf *c, const char *json)
{
    struct cg_errs errs = {0};
    struct cg_norm_source *s = NULL;
    cJSON *o = cJSON_Parse(json);
    if (cg_norm_source_parse(c, o, "sources[0].normalise", "bench", &s, &errs) < 0) {
        exit(1);
    }
    cJSON_Delete(o);
    cg_errs_done(&errs);
    return s;
}

static const char *const field_names[] = {"pm2_5", "pm10", "no2", "o3", "so2", "co", "temperature", "humidity"};

struct job {
    struct cg_norm *n;
    struct cg_norm_source *src;
    int id;
    long points;
    double seconds;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    struct cg_norm_scratch *s = malloc(sizeof(*s));
    struct cg_point out[CG_NORM_OUT_MAX];
    char sid[32];
    struct cg_tag t[1] = {{"sensor_id", sid}};
    char serial[32];
    struct cg_field f[2] = {CG_FIELD_F("pm2_5", 10), CG_FIELD_S("serial", serial)};
    int64_t now = 1700000000LL * 1000000000LL;
    double t0 = now_s();
    for (long i = 0; i < j->points; i++) {
        snprintf(sid, sizeof(sid), "t%d-s%ld", j->id, i % 64);
        snprintf(serial, sizeof(serial), "SN-%ld", i);
        struct cg_point p = {.measurement = "air_quality", .tags = t, .n_tags = 1, .fields = f, .n_fields = 2,
                             .time_ns = now + i};
        const char *why;
        cg_norm_point(j->n, j->src, &p, now + i, s, out, &why);
    }
    j->seconds = now_s() - t0;
    free(s);
    return NULL;
}

static double throughput(struct cg_norm *n, struct cg_norm_source *src, int threads, long per_thread)
{
    pthread_t th[64];
    struct job jobs[64];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){.n = n, .src = src, .id = i, .points = per_thread};
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
    }
    return (double)threads * (double)per_thread / (now_s() - t0);
}

/* points/s with 1 thread and with THREADS threads, each on a fresh normaliser */
static void contention(const struct cg_norm_conf *c, struct cg_norm_source *src, int threads, const char *what)
{
    const long per = 200000;
    double rate[2];
    for (int k = 0; k < 2; k++) {
        struct cg_norm *n = cg_norm_new(c);
        rate[k] = throughput(n, src, k == 0 ? 1 : threads, per);
        cg_norm_free(n);
    }
    printf("contention (%s, %ld points per thread): 1 thread %.0f points/s, %d threads %.0f points/s (x%.2f) on %ld "
           "CPUs\n",
           what, per, rate[0], threads, rate[1], rate[1] / rate[0], sysconf(_SC_NPROCESSORS_ONLN));
}

int main(int argc, char **argv)
{
    long series = argc > 1 ? atol(argv[1]) : 100000;
    int fields = argc > 2 ? atoi(argv[2]) : 3;
    int threads = argc > 3 ? atoi(argv[3]) : 4;
    if (fields < 1 || fields > 8 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: norm_memory [SERIES [FIELDS 1..8 [THREADS 1..64]]]\n");
        return 2;
    }
    struct cg_norm_conf *c = conf();
    struct cg_norm_source *src = source(c, "{}");
    struct cg_norm *n = cg_norm_new(c);
    struct cg_norm_scratch *s = malloc(sizeof(*s));
    struct cg_point out[CG_NORM_OUT_MAX];
    struct cg_field f[8];
    char sid[32];
    struct cg_tag t[2] = {{"sensor_id", sid}, {"site", "bench"}};
    int64_t now = 1700000000LL * 1000000000LL;

    long before = rss_kib();
    double t0 = now_s();
    for (long i = 0; i < series; i++) {
        snprintf(sid, sizeof(sid), "s%ld", i);
        for (int k = 0; k < fields; k++) {
            f[k] = (struct cg_field)CG_FIELD_F(field_names[k], 10 + k);
        }
        struct cg_point p = {.measurement = "air_quality", .tags = t, .n_tags = 2, .fields = f,
                             .n_fields = (size_t)fields, .time_ns = now};
        const char *why;
        cg_norm_point(n, src, &p, now, s, out, &why);
    }
    double took = now_s() - t0;
    long after = rss_kib();
    struct cg_norm_counters cnt;
    cg_norm_counters(n, &cnt);
    printf("series: %ld series x %d fields in %.2f s; RSS %ld KiB -> %ld KiB: +%.1f MiB, %.0f bytes per series "
           "(series_full=%llu)\n",
           series, fields, took, before, after, (double)(after - before) / 1024.0,
           (double)(after - before) * 1024.0 / (double)series, (unsigned long long)cnt.series_full);
    cg_norm_free(n);

    struct cg_norm_source *hashed = source(c, "{\"privacy\": {\"sensor_id\": \"hash\", \"serial\": \"hash\"}}");
    contention(c, hashed, threads, "privacy hash of a tag and a field on every point");
    contention(c, src, threads, "no privacy rule");
    cg_norm_source_free(hashed);
    cg_norm_source_free(src);
    cg_norm_conf_free(c);
    free(s);
    return 0;
}
