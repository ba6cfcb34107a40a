/* Integration driver for the InfluxDB output: a journal with one reader, the
 * output built from a JSON config file (one outputs[] object), N generated
 * lines (or the lines of a file) appended, then wait until every line is
 * accounted for (sent, dead-lettered or dropped) or the timeout passes; stop
 * with a drain; print the stats as one JSON object on stdout.
 *
 * influx_driver --config F --state-dir D [--lines N] [--file F] [--measurement M]
 *               [--ts0 NS] [--step-ns NS] [--timeout-ms T] [--drain-ms D] [--chunk K]
 * Exit: 0 all lines accounted for, 3 timeout, 2 usage/config error. */
#include "journal.h"
#include "log.h"
#include "output_influx.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct cg_buf b;
    cg_buf_init(&b, (size_t)1 << 30);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (cg_buf_append(&b, tmp, n) < 0) {
            fclose(f);
            cg_buf_done(&b);
            return NULL;
        }
    }
    fclose(f);
    if (b.data == NULL) {
        cg_buf_append(&b, "", 0);
    }
    *len = b.len;
    return b.data;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    const char *config = NULL, *state_dir = ".", *file = NULL, *meas = "drv";
    long long lines = 1000, timeout_ms = 60000, drain_ms = 5000, chunk = 1000;
    long long ts0 = 1700000000000000000LL, step_ns = 1000000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "usage: see the comment at the top of influx_driver.c\n");
            return 2;
        }
        i++;
        if (strcmp(a, "--config") == 0) {
            config = v;
        } else if (strcmp(a, "--state-dir") == 0) {
            state_dir = v;
        } else if (strcmp(a, "--file") == 0) {
            file = v;
        } else if (strcmp(a, "--measurement") == 0) {
            meas = v;
        } else if (strcmp(a, "--lines") == 0) {
            lines = atoll(v);
        } else if (strcmp(a, "--timeout-ms") == 0) {
            timeout_ms = atoll(v);
        } else if (strcmp(a, "--drain-ms") == 0) {
            drain_ms = atoll(v);
        } else if (strcmp(a, "--chunk") == 0) {
            chunk = atoll(v);
        } else if (strcmp(a, "--ts0") == 0) {
            ts0 = atoll(v);
        } else if (strcmp(a, "--step-ns") == 0) {
            step_ns = atoll(v);
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    if (config == NULL || chunk < 1) {
        fprintf(stderr, "--config is required\n");
        return 2;
    }
    cg_log_set_level(CG_LOG_DEBUG);
    size_t clen = 0;
    char *ctext = read_file(config, &clen);
    cJSON *obj = ctext ? cJSON_Parse(ctext) : NULL;
    free(ctext);
    if (obj == NULL) {
        fprintf(stderr, "cannot read or parse %s\n", config);
        return 2;
    }
    struct cg_errs errs = {0};
    struct cg_influx_conf *conf = NULL;
    if (cg_influx_conf_parse(obj, "outputs[0]", &conf, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "%s\n", errs.msg[i]);
        }
        cg_errs_done(&errs);
        cJSON_Delete(obj);
        return 2;
    }
    for (size_t i = 0; i < errs.n_warn; i++) { /* e.g. a secret file others can read */
        fprintf(stderr, "warning: %s\n", errs.warn[i]);
    }
    cg_errs_done(&errs);
    cJSON_Delete(obj);

    struct cg_journal *j = cg_journal_new((size_t)512 << 20, 1);
    struct cg_influx *o = j ? cg_influx_new(conf, j, 0, state_dir) : NULL;
    if (o == NULL || cg_influx_start(o) < 0) {
        fprintf(stderr, "cannot create the output\n");
        return 2;
    }
    int64_t t_start = now_ms();

    /* Append: the file's lines, or generated ones, in chunks. */
    uint64_t total = 0;
    if (file != NULL) {
        size_t len = 0;
        char *text = read_file(file, &len);
        if (text == NULL) {
            fprintf(stderr, "cannot read %s\n", file);
            return 2;
        }
        const char *p = text, *end = text + len;
        while (p < end) {
            const char *q = p;
            uint32_t n = 0;
            while (q < end && n < (uint32_t)chunk) {
                const char *nl = memchr(q, '\n', (size_t)(end - q));
                q = nl ? nl + 1 : end;
                n++;
            }
            int rc = cg_journal_append(j, p, (size_t)(q - p), n, 30000);
            if (rc < 0) {
                fprintf(stderr, "append: %s\n", strerror(-rc));
                return 2;
            }
            total += n;
            p = q;
        }
        free(text);
    } else {
        struct cg_buf b;
        cg_buf_init(&b, (size_t)256 << 20);
        for (long long i = 0; i < lines;) {
            cg_buf_reset(&b);
            uint32_t n = 0;
            for (; i < lines && n < (uint32_t)chunk; i++, n++) {
                cg_buf_printf(&b, "%s,host=h%lld,sensor=s%lld value=%lldi,temp=%lld.25 %lld\n", meas, i % 10,
                              i % 7, i, i, ts0 + i * step_ns);
            }
            int rc = cg_journal_append(j, b.data, b.len, n, 30000);
            if (rc < 0) {
                fprintf(stderr, "append: %s\n", strerror(-rc));
                return 2;
            }
            total += n;
        }
        cg_buf_done(&b);
    }

    struct cg_influx_stats st;
    int rc = 3;
    for (;;) {
        cg_influx_get_stats(o, &st);
        if (st.lines_sent + st.lines_dead_lettered + st.lines_dropped >= total) {
            rc = 0;
            break;
        }
        if (now_ms() - t_start > timeout_ms) {
            break;
        }
        usleep(20000);
    }
    int64_t t_done = now_ms();
    cg_influx_stop(o, (int)drain_ms);
    int64_t t_stopped = now_ms();
    cg_influx_get_stats(o, &st);

    printf("{\"lines\":%" PRIu64 ",\"lines_sent\":%" PRIu64 ",\"batches_sent\":%" PRIu64
           ",\"requests\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"lines_dead_lettered\":%" PRIu64
           ",\"lines_dropped\":%" PRIu64 ",\"bytes_sent\":%" PRIu64 ",\"splits\":%" PRIu64
           ",\"bisect_requests\":%" PRIu64 ",\"dead_letter_bytes\":%" PRIu64
           ",\"journal_unread_lines\":%" PRIu64 ",\"last_status\":%d,\"up\":%s,\"elapsed_ms\":%" PRId64
           ",\"stop_ms\":%" PRId64 ",\"last_error\":",
           total, st.lines_sent, st.batches_sent, st.requests, st.retries, st.lines_dead_lettered,
           st.lines_dropped, st.bytes_sent, st.splits, st.bisect_requests, st.dead_letter_bytes,
           st.journal_unread_lines, st.last_status, st.up ? "true" : "false", t_done - t_start,
           t_stopped - t_done);
    json_str(st.last_error);
    printf("}\n");
    fflush(stdout);

    cg_influx_free(o);
    cg_journal_free(j);
    cg_influx_conf_free(conf);
    return rc;
}
