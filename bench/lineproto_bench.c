/* Encoder throughput: lines/s on one core for a realistic air-quality point
 * (6 tags with static ones, 8 float fields). Prints the median of N runs. */
#include "lineproto.h"

#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    if (runs < 1 || runs > 101 || n < 1) {
        fprintf(stderr, "usage: lineproto_bench [RUNS] [LINES]\n");
        return 2;
    }
    const struct cg_tag st[] = {{"city", "tashkent"}, {"gateway", "gw-cab17"}, {"site", "cabinet-17"}};
    const struct cg_lp_opts opts = {.static_tags = st, .n_static_tags = 3};
    const struct cg_tag tags[] = {{"sensor_id", "aq-0042"}, {"district", "chilanzar"}, {"kind", "air_quality"}};
    struct cg_field f[] = {CG_FIELD_F("pm1", 7.3),   CG_FIELD_F("pm25", 12.81), CG_FIELD_F("pm10", 20.4),
                           CG_FIELD_F("no2", 41.2),  CG_FIELD_F("o3", 63.07),   CG_FIELD_F("co", 0.43),
                           CG_FIELD_F("temperature", 21.6), CG_FIELD_F("humidity", 48.0)};
    struct cg_point p = {"air_quality", tags, 3, f, 8, 1700000000000000000LL};
    double rates[101];
    double mib = 0;
    struct cg_buf b;
    cg_buf_init(&b, 1 << 26);
    for (int r = 0; r < runs; r++) {
        size_t bytes = 0;
        double t0 = now_s();
        for (long i = 0; i < n; i++) {
            f[1].v.f = 12.81 + (double)(i % 1000) * 0.01;
            p.time_ns += 1000000000;
            if (cg_lp_encode(&b, &p, &opts, NULL, NULL) != 0) {
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
    printf("lineproto encode: median %.0f lines/s on one core (%d runs of %ld lines; min %.0f, max %.0f; last run "
           "%.1f MiB/s)\n",
           rates[runs / 2], runs, n, rates[0], rates[runs - 1], mib);
    cg_buf_done(&b);
    return 0;
}
