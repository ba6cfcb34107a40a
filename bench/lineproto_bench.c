/* Encoder throughput on one core, for a realistic air-quality point (3 point
 * tags + 3 static tags) with 5 float fields (the figure) and with 8,
 * each through cg_lp_encode and through a precomputed series key
 * (cg_lp_series_key once, then cg_lp_encode_with_key). One field changes every
 * line the way readings do (12.81 + k * 0.01: about one value in five is not a
 * short decimal and needs the full shortest-round-trip formatting) and the time
 * stamp advances. Prints lines/s: median of RUNS runs, min and max, and ns per
 * line at the median. Figures, never pass/fail.
 *   lineproto_bench [RUNS [LINES [FIELDS [PATH]]]]  FIELDS 5|8, PATH plain|key */
#include "lineproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(int runs, long n, size_t nf, int keyed)
{
    const struct cg_tag st[] = {{"city", "tashkent"}, {"gateway", "gw-cab17"}, {"site", "cabinet-17"}};
    const struct cg_lp_opts opts = {.static_tags = st, .n_static_tags = 3};
    const struct cg_tag tags[] = {{"sensor_id", "aq-0042"}, {"district", "chilanzar"}, {"kind", "air_quality"}};
    struct cg_field f8[] = {CG_FIELD_F("pm1", 7.3),   CG_FIELD_F("pm25", 12.81), CG_FIELD_F("pm10", 20.4),
                            CG_FIELD_F("no2", 41.2),  CG_FIELD_F("o3", 63.07),   CG_FIELD_F("co", 0.43),
                            CG_FIELD_F("temperature", 21.6), CG_FIELD_F("humidity", 48.0)};
    struct cg_field f5[] = {CG_FIELD_F("pm1", 7.3), CG_FIELD_F("pm25", 12.81), CG_FIELD_F("pm10", 20.4),
                            CG_FIELD_F("temperature", 21.6), CG_FIELD_F("humidity", 48.0)};
    struct cg_field *f = nf == 5 ? f5 : f8;
    struct cg_point p = {"air_quality", tags, 3, f, nf, 1700000000000000000LL};
    double rates[101];
    double mib = 0;
    struct cg_buf b, key;
    cg_buf_init(&b, 1 << 26);
    cg_buf_init(&key, 4096);
    const char *why = NULL;
    if (keyed && cg_lp_series_key(&key, &p, &opts, &why) != 0) {
        fprintf(stderr, "series key failed: %s\n", why);
        return 1;
    }
    for (int r = 0; r < runs; r++) {
        size_t bytes = 0;
        double t0 = now_s();
        for (long i = 0; i < n; i++) {
            f[1].v.f = 12.81 + (double)(i % 1000) * 0.01;
            p.time_ns += 1000000000;
            int rc = keyed ? cg_lp_encode_with_key(&b, key.data, key.len, &p, &opts, NULL, NULL)
                           : cg_lp_encode(&b, &p, &opts, NULL, NULL);
            if (rc != 0) {
                fprintf(stderr, "encode failed\n");
                return 1;
            }
            if (b.len > (1 << 25)) {
                bytes += b.len;
                cg_buf_reset(&b);
            }
        }
        bytes += b.len;
        cg_buf_reset(&b);
        double dt = now_s() - t0;
        rates[r] = (double)n / dt;
        mib = (double)bytes / dt / 1048576.0;
    }
    qsort(rates, (size_t)runs, sizeof(double), cmp);
    printf("lineproto encode, %zu fields, %-5s: median %.0f lines/s on one core, %.0f ns/line (%d runs of %ld lines; "
           "min %.0f, max %.0f; last run %.1f MiB/s)\n",
           nf, keyed ? "key" : "plain", rates[runs / 2], 1e9 / rates[runs / 2], runs, n, rates[0], rates[runs - 1],
           mib);
    cg_buf_done(&b);
    cg_buf_done(&key);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    int fields = argc > 3 ? atoi(argv[3]) : 0;
    const char *path = argc > 4 ? argv[4] : "all";
    if (runs < 1 || runs > 101 || n < 1 || (fields != 0 && fields != 5 && fields != 8) ||
        (strcmp(path, "all") != 0 && strcmp(path, "plain") != 0 && strcmp(path, "key") != 0)) {
        fprintf(stderr, "usage: lineproto_bench [RUNS [LINES [5|8 [plain|key]]]]\n");
        return 2;
    }
    for (size_t nf = 5; nf <= 8; nf += 3) {
        if (fields != 0 && (size_t)fields != nf) {
            continue;
        }
        for (int keyed = 0; keyed <= 1; keyed++) {
            if (strcmp(path, "all") != 0 && keyed != (strcmp(path, "key") == 0)) {
                continue;
            }
            if (run(runs, n, nf, keyed) != 0) {
                return 1;
            }
        }
    }
    return 0;
}
