/* Disk journal: positions survive reopen, torn tails are cut, corrupt
 * segments are skipped, budgets drop the oldest data and count it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "journal.h"
#include "wal.h"

#include <citygate/point.h>
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

/* Injected fdatasync failures: this definition in the test executable takes
 * the place of libc's for the WAL linked into it (no hook in the WAL). */
static int fail_fdatasync; /* the next N calls fail with EIO */
static int slow_fdatasync_ms; /* every call takes this long */
int fdatasync(int fd)
{
    if (slow_fdatasync_ms > 0) {
        usleep((useconds_t)slow_fdatasync_ms * 1000);
    }
    if (fail_fdatasync > 0) {
        fail_fdatasync--;
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

static char dir[64];
static const char *const names2[] = {"influx", "vm"};

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/cgwalXXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct cg_journal *open_j(size_t max_bytes, size_t seg_bytes, unsigned readers, struct cg_journal_recovery *rec)
{
    struct cg_journal_opts o = {.dir = dir, .max_bytes = max_bytes, .segment_bytes = seg_bytes,
                                .fsync = CG_JOURNAL_FSYNC_ALWAYS, .reader_names = names2, .n_readers = readers};
    char err[256] = "";
    struct cg_journal *j = cg_journal_open(&o, rec, err, sizeof(err));
    if (j == NULL) {
        fail_msg("open: %s", err);
    }
    return j;
}

static void append_n(struct cg_journal *j, int from, int n)
{
    char buf[8192];
    size_t len = 0;
    for (int i = from; i < from + n; i++) {
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "m v=%di %d\n", i, i);
    }
    assert_int_equal(cg_journal_append(j, buf, len, (uint32_t)n, 0), 0);
}

/* Reads everything for reader r; returns the first value seen (or -1) and the count. */
static long read_all(struct cg_journal *j, unsigned r, int *first, int commit)
{
    struct cg_buf b;
    cg_buf_init(&b, 1 << 24);
    long n = cg_journal_read(j, r, &b, 1000000, 1 << 24);
    *first = -1;
    if (n > 0) {
        sscanf(b.data, "m v=%di", first);
    }
    if (commit) {
        cg_journal_commit(j, r);
    }
    cg_buf_done(&b);
    return n;
}

static void test_positions_survive_reopen(void **state)
{
    (void)state;
    struct cg_journal *j = open_j(1 << 20, 4096, 2, NULL);
    append_n(j, 0, 10);
    append_n(j, 10, 5);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_journal_read(j, 0, &b, 12, 1 << 20), 12);
    cg_journal_commit(j, 0);
    cg_buf_done(&b);
    cg_journal_flush(j);
    cg_journal_free(j);

    struct cg_journal_recovery rec;
    j = open_j(1 << 20, 4096, 2, &rec);
    assert_int_equal(rec.lines, 15);
    assert_int_equal(rec.torn_bytes, 0);
    int first;
    assert_int_equal(read_all(j, 0, &first, 1), 3); /* only what reader 0 had not committed */
    assert_int_equal(first, 12);
    assert_int_equal(read_all(j, 1, &first, 1), 15); /* reader 1 never committed: all */
    assert_int_equal(first, 0);
    append_n(j, 15, 2);
    assert_int_equal(read_all(j, 0, &first, 1), 2);
    assert_int_equal(first, 15);
    cg_journal_free(j);
}

static char *only_segment(char *out, size_t n, int which)
{
    DIR *d = opendir(dir);
    char names[16][64];
    int k = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && k < 16;) {
        if (strncmp(e->d_name, "seg-", 4) == 0) {
            snprintf(names[k++], 64, "%s", e->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)k, 64, (int (*)(const void *, const void *))strcmp);
    snprintf(out, n, "%s/%s", dir, names[which < 0 ? k + which : which]);
    return out;
}

static void test_torn_tail_is_cut(void **state)
{
    (void)state;
    struct cg_journal *j = open_j(1 << 20, 1 << 16, 1, NULL);
    append_n(j, 0, 4);
    append_n(j, 4, 4);
    append_n(j, 8, 4);
    cg_journal_free(j);
    /* a power cut in the middle of the last record: the last segment holds
     * the three records (the newest file is the empty active one: pick by size) */
    char p[256];
    struct stat st;
    only_segment(p, sizeof(p), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size - 7), 0);
    /* remove the empty newer segment so the torn one is the last */
    char q[256];
    only_segment(q, sizeof(q), -1);
    if (strcmp(p, q) != 0) {
        unlink(q);
    }
    struct cg_journal_recovery rec;
    j = open_j(1 << 20, 1 << 16, 1, &rec);
    assert_int_equal(rec.records, 2);
    assert_int_equal(rec.lines, 8);
    assert_true(rec.torn_bytes > 0);
    int first;
    assert_int_equal(read_all(j, 0, &first, 1), 8);
    assert_int_equal(first, 0);
    append_n(j, 100, 1); /* appending after recovery works */
    assert_int_equal(read_all(j, 0, &first, 1), 1);
    assert_int_equal(first, 100);
    cg_journal_free(j);
}

static void test_corrupt_middle_segment_is_skipped(void **state)
{
    (void)state;
    /* tiny segments: each ~170-byte append fills one */
    struct cg_journal *j = open_j(1 << 20, 200, 1, NULL);
    for (int i = 0; i < 4; i++) {
        append_n(j, i * 10, 10);
    }
    cg_journal_free(j);
    char p[256];
    only_segment(p, sizeof(p), 1); /* the second segment */
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 40), 1); /* a byte of the payload */
    close(fd);
    struct cg_journal_recovery rec;
    j = open_j(1 << 20, 200, 1, &rec);
    assert_int_equal(rec.corrupt_segments, 1);
    assert_int_equal(rec.lines, 30);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_journal_read(j, 0, &b, 1000, 1 << 20), 30);
    /* lines 10..19 are gone; 0..9 and 20..39 are there */
    assert_non_null(strstr(b.data, "m v=9i 9\nm v=20i 20\n"));
    cg_journal_commit(j, 0);
    struct cg_journal_reader_stats rs;
    cg_journal_reader_stats(j, 0, &rs);
    assert_int_equal(rs.dropped_lines, 10);
    assert_int_equal(rs.unread_lines, 0);
    cg_buf_done(&b);
    cg_journal_free(j);
}

static void test_budget_drops_oldest_and_counts(void **state)
{
    (void)state;
    /* budget 4 KiB, segments of 1 KiB (the journal caps them at budget/4) */
    struct cg_journal *j = open_j(4096, 1024, 2, NULL);
    for (int i = 0; i < 100; i++) {
        append_n(j, i * 10, 10);
        int first;
        read_all(j, 1, &first, 1); /* reader 1 keeps up */
    }
    struct cg_journal_stats st;
    cg_journal_stats(j, &st);
    assert_true(st.bytes <= 4096);
    assert_true(st.dropped_segments > 0);
    struct cg_journal_reader_stats r0, r1;
    cg_journal_reader_stats(j, 0, &r0);
    cg_journal_reader_stats(j, 1, &r1);
    assert_int_equal(r1.dropped_lines, 0);
    assert_true(r0.dropped_lines > 0);
    assert_int_equal(r0.dropped_lines + r0.unread_lines, 1000); /* every line accounted for */
    int first;
    long n = read_all(j, 0, &first, 1);
    assert_int_equal((uint64_t)n, r0.unread_lines);
    assert_int_equal((uint64_t)first, r0.dropped_lines); /* resumes at the oldest line held */
    cg_journal_free(j);
}

static struct cg_journal *open_live(int64_t after_ms, int64_t lines_per_s)
{
    struct cg_journal_opts o = {.dir = dir, .max_bytes = 1 << 20, .fsync = CG_JOURNAL_FSYNC_NEVER,
                                .reader_names = names2, .n_readers = 1, .live_first_after_ms = after_ms,
                                .replay_max_lines_per_s = lines_per_s};
    char err[256] = "";
    struct cg_journal *j = cg_journal_open(&o, NULL, err, sizeof(err));
    if (j == NULL) {
        fail_msg("open: %s", err);
    }
    return j;
}

static void test_live_first_after_outage(void **state)
{
    (void)state;
    struct cg_journal *j = open_live(1, 0);
    append_n(j, 0, 10); /* the backlog of an outage */
    usleep(5000);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    /* the first read notices the backlog is old: split; nothing live yet, so backlog */
    assert_int_equal(cg_journal_read(j, 0, &b, 3, 1 << 20), 3);
    assert_string_equal(b.data, "m v=0i 0\nm v=1i 1\nm v=2i 2\n");
    cg_journal_commit(j, 0);
    append_n(j, 10, 5); /* live readings arrive */
    cg_buf_reset(&b);
    assert_int_equal(cg_journal_read(j, 0, &b, 100, 1 << 20), 5); /* live first */
    int first = -1;
    sscanf(b.data, "m v=%di", &first);
    assert_int_equal(first, 10);
    /* a batch stays with its range: more reads in the same batch do not mix */
    assert_int_equal(cg_journal_read(j, 0, &b, 100, 1 << 20), 0);
    cg_journal_commit(j, 0);
    struct cg_journal_reader_stats rs;
    cg_journal_reader_stats(j, 0, &rs);
    assert_int_equal(rs.unread_lines, 7);
    cg_buf_reset(&b);
    assert_int_equal(cg_journal_read(j, 0, &b, 100, 1 << 20), 7); /* the rest of the backlog */
    sscanf(b.data, "m v=%di", &first);
    assert_int_equal(first, 3);
    /* a rewind gives the same backlog lines again */
    cg_journal_rewind(j, 0);
    cg_buf_reset(&b);
    assert_int_equal(cg_journal_read(j, 0, &b, 100, 1 << 20), 7);
    cg_journal_commit(j, 0);
    cg_journal_reader_stats(j, 0, &rs);
    assert_int_equal(rs.unread_lines, 0);
    append_n(j, 15, 2); /* merged again: plain order */
    cg_buf_reset(&b);
    assert_int_equal(cg_journal_read(j, 0, &b, 100, 1 << 20), 2);
    sscanf(b.data, "m v=%di", &first);
    assert_int_equal(first, 15);
    cg_journal_commit(j, 0);
    cg_buf_done(&b);
    cg_journal_free(j);
    /* after a restart nothing is lost: the persisted position was the backlog's */
}

static void test_replay_rate_cap(void **state)
{
    (void)state;
    struct cg_journal *j = open_live(1, 200); /* 200 lines/s */
    for (int i = 0; i < 10; i++) {
        append_n(j, i * 100, 100);
    }
    usleep(5000);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    long total = 0;
    for (int i = 0; i < 30; i++) { /* 300 ms */
        cg_buf_reset(&b);
        total += cg_journal_read(j, 0, &b, 5000, 1 << 20);
        cg_journal_commit(j, 0);
        usleep(10000);
    }
    /* about 60 lines in 300 ms at 200 lines/s; generous bounds for a busy machine */
    assert_true(total > 0);
    assert_true(total <= 200);
    /* wait() counts only what the cap lets through, so an output does not spin */
    assert_true(cg_journal_wait(j, 0, SIZE_MAX, 0) < 1000 - total);
    cg_buf_done(&b);
    cg_journal_free(j);
}

/* 10 lines appended and flushed, then pos-influx overwritten with text, then
 * reopened for one reader. */
static struct cg_journal *reopen_with_position(const char *text)
{
    struct cg_journal *j = open_j(1 << 20, 4096, 1, NULL);
    append_n(j, 0, 10);
    cg_journal_flush(j);
    cg_journal_free(j);
    char p[128];
    snprintf(p, sizeof(p), "%s/pos-influx", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return open_j(1 << 20, 4096, 1, NULL);
}

/* A damaged position file (overflowing, negative, garbage) must not make an
 * output skip data: it starts at the oldest data held, and new data flows. A
 * plausible position past the end (segments lost) keeps numbering after it. */
static void test_damaged_position_file(void **state)
{
    (void)state;
    static const char *const bad[] = {"444444444444444444444444\n", "-5\n", "12x\n", "\x01\x02garbage",
                                      "4611686018427387905\n" /* 2^62 + 1 */};
    int first;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        struct cg_journal *j = reopen_with_position(bad[k]);
        assert_int_equal(read_all(j, 0, &first, 1), 10); /* from the oldest held */
        assert_int_equal(first, 0);
        append_n(j, 10, 3);
        assert_int_equal(read_all(j, 0, &first, 1), 3);
        assert_int_equal(first, 10);
        cg_journal_free(j);
        teardown(NULL);
        setup(NULL);
    }
    /* past the end but sane: the data held is behind it, new data is read */
    struct cg_journal *j = reopen_with_position("1000\n");
    append_n(j, 10, 3);
    assert_int_equal(read_all(j, 0, &first, 1), 3);
    assert_int_equal(first, 10);
    cg_journal_free(j);
}

static void test_bad_reader_name(void **state)
{
    (void)state;
    const char *const bad[] = {"../x"};
    struct cg_journal_opts o = {.dir = dir, .max_bytes = 1 << 20, .reader_names = bad, .n_readers = 1};
    char err[256] = "";
    assert_null(cg_journal_open(&o, NULL, err, sizeof(err)));
    assert_string_equal(err, "reader name '../x' must be [A-Za-z0-9_.-]");
}

/* fsync always: an append whose fdatasync fails is not taken (the source
 * keeps the readings and tries again); nothing of it is ever read; the error
 * is counted and named by health until an append succeeds. */
static void test_fsync_failure_is_not_taken(void **state)
{
    (void)state;
    struct cg_journal *j = open_j(1 << 20, 0, 1, NULL);
    append_n(j, 0, 3);
    fail_fdatasync = 1;
    const char *line = "m v=99i 99\n";
    assert_int_equal(cg_journal_append(j, line, strlen(line), 1, 0), -EIO);
    struct cg_journal_stats st;
    cg_journal_stats(j, &st);
    assert_int_equal(st.write_errors, 1);
    assert_true(st.write_failing);
    char want[512];
    snprintf(want, sizeof(want), "buffer cannot write to %s (fdatasync: Input/output error): readings are held", dir);
    assert_string_equal(st.problem, want);
    append_n(j, 3, 2); /* the source tries again: taken now */
    cg_journal_stats(j, &st);
    assert_false(st.write_failing);
    assert_string_equal(st.problem, "");
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_journal_read(j, 0, &b, 100, 1 << 20), 5);
    assert_null(strstr(b.data, "v=99i"));
    assert_non_null(strstr(b.data, "m v=4i 4\n"));
    cg_buf_done(&b);
    cg_journal_free(j);
    struct cg_journal_recovery rec;
    j = open_j(1 << 20, 0, 1, &rec);
    assert_int_equal(rec.lines, 5);
    cg_journal_free(j);
}

/* Within the caller's wait an append retries: two failed syncs, then taken. */
static void test_fsync_failure_retried_within_wait(void **state)
{
    (void)state;
    struct cg_journal *j = open_j(1 << 20, 0, 1, NULL);
    fail_fdatasync = 2;
    const char *line = "m v=1i 1\n";
    assert_int_equal(cg_journal_append(j, line, strlen(line), 1, 5000), 0);
    struct cg_journal_stats st;
    cg_journal_stats(j, &st);
    assert_int_equal(st.write_errors, 2);
    assert_false(st.write_failing);
    int first;
    assert_int_equal(read_all(j, 0, &first, 1), 1);
    cg_journal_free(j);
}

static void write_segment(uint64_t id, uint64_t line)
{
    char p[256], payload[64];
    snprintf(p, sizeof(p), "%s/seg-%016llx.wal", dir, (unsigned long long)id);
    int n = snprintf(payload, sizeof(payload), "m v=%llui %llu\n", (unsigned long long)line, (unsigned long long)line);
    struct {
        uint32_t magic, len, n_lines, crc;
        uint64_t first_line;
        int64_t append_ns;
    } h = {CG_WAL_MAGIC, (uint32_t)n, 1, 0, line, 1};
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, (const Bytef *)&h, sizeof(h));
    h.crc = (uint32_t)crc32(c, (const Bytef *)payload, (uInt)n);
    char rec[128];
    memcpy(rec, &h, sizeof(h));
    memcpy(rec + sizeof(h), payload, (size_t)n);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, rec, sizeof(h) + (size_t)n), (ssize_t)(sizeof(h) + (size_t)n));
    close(fd);
}

/* 100,000 segment files (the old recovery freed an array twice at 65,536 and
 * kept an fd per segment): all recovered and read back with 64 fds. */
static void test_100k_segments(void **state)
{
    (void)state;
    const uint64_t n = 100000;
    for (uint64_t i = 0; i < n; i++) {
        write_segment(i, i);
    }
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    lim = old;
    lim.rlim_cur = 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    struct cg_journal_recovery rec;
    struct cg_journal *j = open_j((size_t)1 << 30, 4096, 1, &rec);
    assert_int_equal(rec.segments, n);
    assert_int_equal(rec.lines, n);
    assert_int_equal(rec.unsent_lines[0], n);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 24);
    assert_int_equal(cg_journal_read(j, 0, &b, 1000000, 1 << 24), (long)n);
    assert_non_null(strstr(b.data, "m v=99999i 99999\n"));
    cg_buf_done(&b);
    cg_journal_commit(j, 0);
    cg_journal_tick(j); /* frees the 100,000 segments */
    struct cg_journal_stats st;
    cg_journal_stats(j, &st);
    assert_int_equal(st.lines, 0);
    cg_journal_free(j);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* After a clean stop with everything sent, what is kept on disk is reported
 * as delivered, not as unsent (issue 11). */
static void test_recovery_separates_delivered(void **state)
{
    (void)state;
    struct cg_journal *j = open_j(1 << 20, 0, 2, NULL);
    append_n(j, 0, 93);
    int first;
    assert_int_equal(read_all(j, 0, &first, 1), 93);
    assert_int_equal(read_all(j, 1, &first, 1), 93);
    append_n(j, 93, 7);
    assert_int_equal(read_all(j, 0, &first, 1), 7);
    cg_journal_flush(j);
    cg_journal_free(j);
    struct cg_journal_recovery rec;
    j = open_j(1 << 20, 0, 2, &rec);
    assert_int_equal(rec.lines, 100);
    assert_int_equal(rec.delivered_lines, 93);
    assert_int_equal(rec.unsent_lines[0], 0);
    assert_int_equal(rec.unsent_lines[1], 7);
    cg_journal_free(j);
}

/* A byte flipped inside a record of a sealed segment while running: that
 * record is skipped (counted as lost for the reader, as corrupt for health),
 * the records around it are read. */
static void test_bit_flip_skipped_on_read(void **state)
{
    (void)state;
    struct cg_journal *j = open_j(1 << 20, 4096, 1, NULL);
    for (int i = 0; i < 200; i++) {
        append_n(j, i, 1);
    }
    char p[256];
    snprintf(p, sizeof(p), "%s/seg-%016llx.wal", dir, 0ULL);
    FILE *f = fopen(p, "r+");
    assert_non_null(f);
    char data[8192];
    size_t len = fread(data, 1, sizeof(data), f);
    char *hit = memmem(data, len, "m v=25i", 7);
    assert_non_null(hit);
    fseek(f, hit - data + 4, SEEK_SET);
    fputc('9', f);
    fclose(f);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_journal_read(j, 0, &b, 1000, 1 << 20), 199);
    assert_null(strstr(b.data, "v=95i 25\n"));
    assert_null(strstr(b.data, "v=25i"));
    assert_non_null(strstr(b.data, "m v=24i 24\nm v=26i 26\n"));
    cg_buf_done(&b);
    struct cg_journal_reader_stats rs;
    cg_journal_reader_stats(j, 0, &rs);
    assert_int_equal(rs.dropped_lines, 1);
    struct cg_journal_stats st;
    cg_journal_stats(j, &st);
    assert_int_equal(st.corrupt_records, 1);
    assert_non_null(strstr(st.problem, "buffer damaged: 1 damaged records skipped, the last in segment 0000000000000000 at offset 1055: checksum mismatch"));
    cg_journal_free(j);
}

static void *slow_append(void *arg)
{
    struct cg_journal *j = arg;
    const char *line = "m v=2i 2\n";
    return (void *)(intptr_t)cg_journal_append(j, line, strlen(line), 1, 0);
}

/* A slow disk (every fdatasync 800 ms, fsync always) must not stall the
 * outputs: reading, committing and the stats behind /metrics do not wait for
 * an append's sync (they did: it ran under the buffer's only lock). */
static void test_sync_outside_the_lock(void **state)
{
    (void)state;
    struct cg_journal *j = open_j(1 << 20, 0, 1, NULL);
    append_n(j, 0, 1);
    slow_fdatasync_ms = 800;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_append, j), 0);
    usleep(100 * 1000); /* the append is in its fdatasync now */
    int64_t t0 = cg_time_mono_ms();
    int first;
    assert_int_equal(read_all(j, 0, &first, 0), 1);
    struct cg_journal_stats st;
    cg_journal_stats(j, &st);
    int64_t took = cg_time_mono_ms() - t0;
    void *rc;
    pthread_join(t, &rc);
    slow_fdatasync_ms = 0;
    assert_int_equal((intptr_t)rc, 0);
    assert_true(took < 400);
    cg_journal_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_positions_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_middle_segment_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_drops_oldest_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_first_after_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_rate_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_position_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_reader_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_failure_is_not_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_failure_retried_within_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_100k_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_separates_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flip_skipped_on_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_outside_the_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
