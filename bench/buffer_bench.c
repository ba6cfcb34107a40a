/* Buffer benchmark: throughput of the journal (append by a producer thread,
 * read + commit by a consumer thread, as an output that keeps up) in memory
 * and on disk with each fsync policy; then replay speed of a large on-disk
 * backlog and the peak RSS while replaying it (it must not be loaded into
 * memory). Prints figures; never fails on time.
 * usage: buffer_bench DIR [LINES] [BACKLOG_LINES] */
#include "journal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BATCH 50 /* lines per append: one Modbus poll of a few devices, or a few MQTT messages */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t make_batch(char *buf, size_t cap, long base)
{
    size_t len = 0;
    for (int i = 0; i < BATCH; i++) {
        len += (size_t)snprintf(buf + len, cap - len,
                                "air_quality,city=tashkent,district=chilanzar,gateway=gw-17,sensor_id=aq-%04ld "
                                "pm25=%ld.5,pm10=%ld.25,no2=41.2,o3=63.07 %ld\n",
                                (base + i) % 1000, (base + i) % 97, (base + i) % 131, 1700000000000000000L + base + i);
    }
    return len;
}

struct consumer {
    struct cg_journal *j;
    long want;
    long got;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    struct cg_buf b;
    cg_buf_init(&b, 64 << 20);
    while (c->got < c->want) {
        long n = cg_journal_wait(c->j, 0, 5000, 100);
        if (n < 0) {
            break;
        }
        cg_buf_reset(&b);
        c->got += cg_journal_read(c->j, 0, &b, 5000, 8 << 20);
        cg_journal_commit(c->j, 0);
    }
    cg_buf_done(&b);
    return NULL;
}

static const char *const names[] = {"bench"};

static double run(const char *dir, enum cg_journal_fsync fs, long lines, double *mib_s)
{
    char err[256];
    struct cg_journal_opts o = {.dir = dir, .max_bytes = (size_t)4 << 30, .fsync = fs, .fsync_interval_ms = 1000,
                                .reader_names = names, .n_readers = 1};
    struct cg_journal *j = dir ? cg_journal_open(&o, NULL, err, sizeof(err)) : cg_journal_new(256 << 20, 1);
    if (j == NULL) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    struct consumer c = {j, lines, 0};
    pthread_t t;
    char buf[BATCH * 200];
    size_t bytes = 0;
    double t0 = now_s();
    pthread_create(&t, NULL, consume, &c);
    for (long i = 0; i < lines; i += BATCH) {
        size_t len = make_batch(buf, sizeof(buf), i);
        bytes += len;
        if (cg_journal_append(j, buf, len, BATCH, -1) != 0) {
            fprintf(stderr, "append failed\n");
            exit(1);
        }
        if (dir) {
            cg_journal_tick(j); /* the main loop's duty, here inline */
        }
    }
    pthread_join(t, NULL);
    double dt = now_s() - t0;
    cg_journal_free(j);
    *mib_s = (double)bytes / dt / 1048576.0;
    return (double)lines / dt;
}

static long rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: buffer_bench DIR [LINES] [BACKLOG_LINES]\n");
        return 2;
    }
    const char *base = argv[1];
    long lines = argc > 2 ? atol(argv[2]) : 1000000;
    long backlog = argc > 3 ? atol(argv[3]) : 3000000;
    char dir[4096];
    const char *modes[] = {"always", "interval", "never"};
    double mib;
    printf("buffer throughput, %ld lines in appends of %d, one output keeping up (lines/s, MiB/s):\n", lines, BATCH);
    double mem = run(NULL, 0, lines, &mib);
    printf("  memory only           %10.0f  %6.1f\n", mem, mib);
    for (int m = 0; m < 3; m++) {
        snprintf(dir, sizeof(dir), "%s/tp-%s", base, modes[m]);
        double r = run(dir, (enum cg_journal_fsync)m, m == 0 ? lines / 10 : lines, &mib);
        printf("  disk, fsync %-9s %10.0f  %6.1f  (%.2fx of memory)%s\n", modes[m], r, mib, r / mem,
               m == 0 ? "  [1/10 of the lines: one fdatasync per append]" : "");
    }

    /* Replay: fill a backlog with no reader, then drain it. */
    snprintf(dir, sizeof(dir), "%s/replay", base);
    char err[256];
    struct cg_journal_opts o = {.dir = dir, .max_bytes = (size_t)8 << 30, .fsync = CG_JOURNAL_FSYNC_NEVER,
                                .reader_names = names, .n_readers = 1};
    struct cg_journal *j = cg_journal_open(&o, NULL, err, sizeof(err));
    char buf[BATCH * 200];
    size_t bytes = 0;
    for (long i = 0; i < backlog; i += BATCH) {
        size_t len = make_batch(buf, sizeof(buf), i);
        bytes += len;
        cg_journal_append(j, buf, len, BATCH, 0);
    }
    cg_journal_flush(j);
    cg_journal_free(j);
    long rss_before = rss_kib();
    double t0 = now_s();
    struct cg_journal_recovery rec;
    j = cg_journal_open(&o, &rec, err, sizeof(err));
    double t_open = now_s() - t0;
    struct cg_buf b;
    cg_buf_init(&b, 64 << 20);
    long got = 0;
    t0 = now_s();
    for (;;) {
        cg_buf_reset(&b);
        long n = cg_journal_read(j, 0, &b, 5000, 8 << 20);
        if (n <= 0) {
            break;
        }
        got += n;
        cg_journal_commit(j, 0);
    }
    double dt = now_s() - t0;
    printf("replay of a %ld-line backlog (%.0f MiB on disk): recovery scan %.2f s, drain %.0f lines/s, %.0f MiB/s; "
           "peak RSS %ld KiB before opening, %ld KiB after the replay\n",
           got, (double)bytes / 1048576.0, t_open, (double)got / dt, (double)bytes / dt / 1048576.0, rss_before,
           rss_kib());
    cg_buf_done(&b);
    cg_journal_free(j);
    return got == backlog ? 0 : 1;
}
