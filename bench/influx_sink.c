/* InfluxDB output throughput: lines/s from the journal into a real server,
 * end to end (batching, gzip, HTTP, server acknowledgement), median of runs.
 *   influx_sink URL DATABASE [RUNS] [LINES] [BATCH_LINES]
 * Prints figures; never passes or fails on time. */
#include "journal.h"
#include "log.h"
#include "output.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One run: returns lines/s, or -1. */
static double run(const char *url, const char *db, bool gzip, int run_no, long lines, long batch,
                  uint64_t *bytes, uint64_t *requests)
{
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"name\":\"bench\",\"type\":\"influxdb_v1\",\"url\":\"%s\",\"database\":\"%s\","
             "\"gzip\":%s,\"batch_lines\":%ld,\"flush_interval_ms\":100,\"batch_bytes\":67108864}",
             url, db, gzip ? "true" : "false", batch);
    cJSON *obj = cJSON_Parse(json);
    struct cg_errs errs = {0};
    struct cg_output_conf *conf = NULL;
    if (cg_output_conf_parse(obj, "outputs[0]", &conf, &errs) < 0) {
        fprintf(stderr, "%s\n", errs.n ? errs.msg[0] : "config error");
        return -1;
    }
    cJSON_Delete(obj);
    struct cg_journal *j = cg_journal_new((size_t)1 << 30, 1);
    struct cg_output *o = cg_output_new(conf, j, 0, "/tmp");
    struct cg_buf b;
    cg_buf_init(&b, (size_t)1 << 30);
    int64_t ts0 = 1700000000000000000LL + (int64_t)run_no * 100000000000000LL;
    for (long i = 0; i < lines; i++) {
        cg_buf_printf(&b, "traffic,city=lyon,sensor=s%ld,zone=z%ld count=%ldi,speed=%ld.%ld,occupancy=0.%ld %" PRId64 "\n",
                      i % 500, i % 12, i % 97, 20 + i % 60, i % 10, i % 1000, ts0 + i * 1000000);
    }
    cg_output_start(o);
    int64_t t0 = now_us();
    /* append in journal chunks of 1000 lines, as the sink would */
    const char *p = b.data, *end = b.data + b.len;
    while (p < end) {
        const char *q = p;
        uint32_t n = 0;
        while (q < end && n < 1000) {
            q = (const char *)memchr(q, '\n', (size_t)(end - q)) + 1;
            n++;
        }
        cg_journal_append(j, p, (size_t)(q - p), n, 60000);
        p = q;
    }
    struct cg_output_stats st;
    for (;;) {
        cg_output_get_stats(o, &st);
        if (st.lines_sent + st.lines_dead_lettered >= (uint64_t)lines || now_us() - t0 > 300000000) {
            break;
        }
        usleep(1000);
    }
    int64_t t1 = now_us();
    cg_output_stop(o, 0);
    *bytes = st.bytes_sent;
    *requests = st.requests;
    cg_output_free(o);
    cg_journal_free(j);
    cg_output_conf_free(conf);
    cg_buf_done(&b);
    if (st.lines_sent != (uint64_t)lines) {
        fprintf(stderr, "run %d: only %" PRIu64 " of %ld lines sent (%s)\n", run_no, st.lines_sent, lines,
                st.last_error);
        return -1;
    }
    return (double)lines * 1e6 / (double)(t1 - t0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: influx_sink URL DATABASE [RUNS] [LINES] [BATCH_LINES]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    long lines = argc > 4 ? atol(argv[4]) : 200000;
    long batch = argc > 5 ? atol(argv[5]) : 5000;
    if (runs < 1 || runs > 100 || lines < 1 || batch < 1) {
        return 2;
    }
    cg_log_set_level(CG_LOG_WARN);
    int run_no = 0;
    for (int g = 1; g >= 0; g--) {
        double r[100];
        uint64_t bytes = 0, reqs = 0;
        int ok = 0;
        for (int i = 0; i < runs; i++) {
            double v = run(argv[1], argv[2], g, run_no++, lines, batch, &bytes, &reqs);
            if (v > 0) {
                r[ok++] = v;
            }
        }
        if (ok == 0) {
            printf("gzip=%s: all runs failed\n", g ? "on" : "off");
            continue;
        }
        qsort(r, (size_t)ok, sizeof(double), cmp_double);
        printf("influx_sink gzip=%-3s batch_lines=%ld: median %.0f lines/s (min %.0f, max %.0f, %d runs of %ld lines); "
               "%.1f bytes/line on the wire, %" PRIu64 " requests/run\n",
               g ? "on" : "off", batch, r[ok / 2], r[0], r[ok - 1], ok, lines, (double)bytes / (double)lines, reqs);
    }
    return 0;
}
