/* citygate — write-ahead log for the journal's disk mode.
 *
 * Layout of <dir>:
 *   seg-<id, 16 hex>.wal   append-only records: 32-byte header + payload
 *                          header = magic, payload length, line count, CRC32,
 *                          first line number (u64), append time (ns, i64)
 *                          CRC32 (zlib) covers the header with crc=0 and the payload.
 *   pos-<reader name>      the reader's committed line number, written
 *                          tmp -> fsync -> rename (mosquitto's state-file habit)
 *
 * Line numbers are absolute and never reused, so a position is one number and
 * "what this output has not taken" is a subtraction. Recovery scans every
 * segment: a bad record in the last one is a torn write (cut there); in an
 * earlier one, the rest of that segment is skipped and reported, and the
 * gateway goes on with the next segment. Nothing is ever loaded into memory
 * beyond one record at a time.
 *
 * While running, every record's checksum is verified when an output first
 * reads it (not only at start): a record that fails is skipped, a segment
 * that cannot be read past some offset (truncated, overwritten, deleted) is
 * skipped from there, each logged once with segment and offset, counted, and
 * reported as a health problem; the outputs move on.
 *
 * Two locks. `lock` guards the state (segments, readers, counters) and is only
 * ever held for memory work and reads served from the page cache. `append_lock`
 * serialises appenders and owns the writer fd: writes and fdatasync run under
 * it alone, so a slow disk never blocks outputs, /metrics or commits. Order:
 * append_lock, then lock. Segment files are opened on demand: the writer keeps
 * one fd, readers share at most READ_FDS (EMFILE never depends on how much is
 * buffered). */
#include "wal.h"

#include "deadline.h"

#include <citygate/array.h>
#include <citygate/log.h>
#include <citygate/point.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define DEFAULT_SEGMENT_BYTES (8u * 1024 * 1024)
/* A 1 GiB budget in 4 KiB segments is 262,144 of them; 48 bytes each in memory. */
#define MAX_SEGMENTS (1u << 20)
/* slots in the live segment array (seg0 + n_segs): compaction keeps seg0 under half,
 * so this fails only past MAX_SEGMENTS live segments, which a restart would refuse */
#define SEG_SLOTS_MAX (2 * (size_t)MAX_SEGMENTS)
#define READ_FDS 8
#define MAX_BAD_RECORDS 64
/* How long a damaged record keeps /healthz degraded after it was seen. */
#define DAMAGE_REPORT_MS (10 * 60 * 1000)
/* An append that cannot be written is retried this often while it may wait. */
#define WRITE_RETRY_MS 200
/* Line numbers never get near 2^64 (2^62 lines at a million lines a second
 * take 146,000 years); anything above this came from a damaged file. */
#define CG_WAL_MAX_LINE (UINT64_C(1) << 62)

struct seg {
    uint64_t id;
    uint64_t first_line; /* of the first valid record */
    uint64_t end_line;   /* one past the last valid line */
    uint64_t size;       /* bytes of valid records */
    int64_t oldest_ns;   /* append time of the first record */
    int64_t newest_ns;
    uint64_t bad_line;   /* damaged while running: lines from here are unreadable (UINT64_MAX: none) */
};

struct rfd { /* an open read fd of a segment (LRU) */
    uint64_t seg_id;
    int fd;
    uint64_t used;
};

struct hdr {
    uint32_t magic;
    uint32_t len;
    uint32_t n_lines;
    uint32_t crc;
    uint64_t first_line;
    int64_t append_ns;
};

struct cursor { /* where line `line` is: record at (seg id, off), `skip` lines into it */
    uint64_t seg_id;
    uint64_t off;
    uint64_t rec_first;
    uint32_t rec_lines;
    uint32_t rec_len;
    int64_t rec_ns;
    int valid;
    uint32_t rec_crc;
    int checked; /* the record's checksum was verified */
};

struct wreader {
    char *name;
    int in_order; /* never live first (cg_wal_reader_in_order) */
    uint64_t read_line;
    uint64_t commit_line;
    uint64_t persisted_line;
    int64_t commit_ns; /* append time of the record holding commit_line */
    uint64_t dropped;
    uint64_t inflight_lost; /* read (in the output's batch) but gone from disk:
                               delivered on commit, counted as dropped on rewind */
    struct cursor cur;
    /* Live first: after an outage the backlog [commit_line, split) drains at a
     * capped rate beside the live range [live_commit, ...), which goes first.
     * Only commit_line is persisted: after a crash the live part is sent again,
     * which InfluxDB absorbs (same series and time overwrite). */
    int live;
    uint64_t split;
    uint64_t live_read, live_commit;
    struct cursor lcur;
    int batch_src; /* what the uncommitted reads came from: 0 none, 1 backlog, 2 live */
    double tokens;  /* replay rate limiter (lines) */
    double btokens; /* (bytes) */
    int64_t tokens_ms;
    uint64_t replayed_lines;
};

struct cg_wal {
    pthread_mutex_t append_lock; /* appenders, the writer fd, syncs of data */
    pthread_cond_t space_cv;     /* with append_lock: space may have been freed, or shutdown */
    int wfd;                     /* the active (last) segment, opened for writing */
    int wdirty;                  /* written since the last fdatasync */
    int seal_next;               /* under lock: the active segment is damaged: start a new one */
    pthread_mutex_t pos_lock;    /* position files (tmp -> rename) */
    pthread_mutex_t lock;
    pthread_cond_t data_cv;
    /* Readers wait for "at least N lines"; appends wake them only once the
     * lowest such line count is reached, not on every append (an output
     * waiting for a batch of 5000 would otherwise wake 5000 times). */
    uint64_t wake_at_line;
    unsigned waiters;
    char *dir;
    int dir_fd;
    struct seg *segs; /* segs[seg0 ..]: oldest first; the last one is the one appended to */
    size_t seg0, n_segs, cap_segs;
    struct rfd rfds[READ_FDS];
    uint64_t rfd_clock;
    struct { uint64_t from, to; } bad[MAX_BAD_RECORDS]; /* line ranges of records that failed their checksum */
    unsigned n_bad;
    uint64_t corrupt_records;
    int64_t damage_ms; /* when damage was last seen (mono) */
    char damage_text[200];
    char write_text[200];
    uint64_t next_seg_id;
    uint64_t next_line;
    uint64_t bytes;
    size_t max_bytes, segment_bytes;
    int64_t max_age_s;
    int64_t live_first_after_ms;
    double replay_lines_per_s, replay_bytes_per_s;
    enum cg_journal_fsync fsync;
    int64_t fsync_interval_ms;
    int64_t last_sync_ms; /* append_lock */
    uint64_t appended_lines, dropped_segments, write_errors;
    int write_failing;
    unsigned n_readers;
    struct wreader readers[CG_JOURNAL_MAX_READERS];
    struct cg_buf scratch; /* one record payload, under the lock */
    /* Readers read ahead: one pread fills [rc_off, rc_off + rc.len) of segment
     * rc_seg, and the records in it are served from memory. Without it every
     * record cost two preads (header, payload), done under the lock the
     * appender needs (bench/mqtt.sh strace: 2 preads per message). Bytes below
     * a segment's size never change (appends only add; a failed append
     * truncates back to that size), so the cache needs no invalidation: a
     * dropped segment's id is never used again. */
    struct cg_buf rc;
    uint64_t rc_seg, rc_off;
    int rc_valid;
    int shutdown;
    struct cg_complain c_drop, c_write;
};

#define SEG(w, i) (&(w)->segs[(w)->seg0 + (i)])
#define LAST_SEG(w) SEG(w, (w)->n_segs - 1)

static uint32_t record_crc(const struct hdr *h, const char *payload)
{
    struct hdr z = *h;
    z.crc = 0;
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, (const Bytef *)&z, sizeof(z));
    c = crc32(c, (const Bytef *)payload, h->len);
    return (uint32_t)c;
}

static void seg_path(const struct cg_wal *w, uint64_t id, char *out, size_t n)
{
    snprintf(out, n, "%s/seg-%016" PRIx64 ".wal", w->dir, id);
}

/* Reads up to n bytes at off; returns the count read (short at end of file), or -errno. */
static ssize_t pread_upto(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int full_pread(int fd, void *buf, size_t n, uint64_t off)
{
    ssize_t r = pread_upto(fd, buf, n, off);
    return r < 0 ? (int)r : (size_t)r == n ? 0 : -EIO;
}

/* A read fd for segment id (opened on demand, at most READ_FDS kept). Lock held. */
static int seg_fd(struct cg_wal *w, uint64_t id)
{
    struct rfd *victim = &w->rfds[0];
    for (unsigned i = 0; i < READ_FDS; i++) {
        struct rfd *f = &w->rfds[i];
        if (f->fd >= 0 && f->seg_id == id) {
            f->used = ++w->rfd_clock;
            return f->fd;
        }
        if (f->fd < 0 || f->used < victim->used) {
            victim = f;
        }
    }
    char p[4096];
    seg_path(w, id, p, sizeof(p));
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (victim->fd >= 0) {
        close(victim->fd);
    }
    *victim = (struct rfd){.seg_id = id, .fd = fd, .used = ++w->rfd_clock};
    return fd;
}

static void seg_fd_close(struct cg_wal *w, uint64_t id)
{
    for (unsigned i = 0; i < READ_FDS; i++) {
        if (w->rfds[i].fd >= 0 && w->rfds[i].seg_id == id) {
            close(w->rfds[i].fd);
            w->rfds[i].fd = -1;
            w->rfds[i].used = 0;
        }
    }
}

#define RC_CHUNK (256u * 1024u)

/* n bytes of segment s at off, through the read-ahead cache: *out points into
 * it, valid until the next call. Never reads past s->size. -EIO when the file
 * holds less than the log wrote there (truncated), -errno when it cannot be
 * opened or read. Lock held. */
static int cached_read(struct cg_wal *w, const struct seg *s, uint64_t off, size_t n, const char **out)
{
    if (off + n > s->size) {
        return -EIO;
    }
    if (!(w->rc_valid && w->rc_seg == s->id && off >= w->rc_off && off + n <= w->rc_off + w->rc.len)) {
        size_t want = n > RC_CHUNK ? n : RC_CHUNK;
        if (want > s->size - off) {
            want = (size_t)(s->size - off);
        }
        w->rc_valid = 0;
        cg_buf_reset(&w->rc);
        int e = cg_buf_reserve(&w->rc, want);
        if (e < 0) {
            return e;
        }
        int fd = seg_fd(w, s->id);
        if (fd < 0) {
            return fd;
        }
        ssize_t got = pread_upto(fd, w->rc.data, want, off);
        if (got < 0) {
            return (int)got;
        }
        if ((size_t)got < n) {
            return -EIO;
        }
        w->rc.len = (size_t)got; /* a truncated file: keep what is there */
        w->rc_seg = s->id;
        w->rc_off = off;
        w->rc_valid = 1;
    }
    *out = w->rc.data + (off - w->rc_off);
    return 0;
}

static int seg_push(struct cg_wal *w, const struct seg *s)
{
    if (w->seg0 + w->n_segs == w->cap_segs) {
        if (w->seg0 > 0 && w->seg0 >= w->cap_segs / 2) {
            memmove(w->segs, w->segs + w->seg0, w->n_segs * sizeof(*s));
            w->seg0 = 0;
        } else if (cg_array_grow((void **)&w->segs, &w->cap_segs, w->seg0 + w->n_segs + 1, sizeof(*w->segs),
                                 SEG_SLOTS_MAX) < 0) {
            return -ENOMEM;
        }
    }
    *SEG(w, w->n_segs) = *s;
    w->n_segs++;
    return 0;
}

/* The first segment whose lines reach past `line` (segments are in line order). */
static size_t seg_index_for_line(const struct cg_wal *w, uint64_t line)
{
    size_t lo = 0, hi = w->n_segs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->segs[w->seg0 + mid].end_line <= line) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static struct seg *find_seg(struct cg_wal *w, uint64_t id)
{
    size_t lo = 0, hi = w->n_segs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct seg *s = SEG(w, mid);
        if (s->id == id) {
            return s;
        }
        if (s->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Logs and counts a storage failure of the write path; the health problem
 * lasts until an append succeeds. Lock held. */
static void write_error(struct cg_wal *w, int rc, const char *what)
{
    w->write_errors++;
    w->write_failing = 1;
    snprintf(w->write_text, sizeof(w->write_text), "%s: %s", what, strerror(-rc));
    cg_complain(&w->c_write, CG_LOG_ERROR, "buffer", "cannot write to %s (%s: %s); readings are held until it can",
                w->dir, what, strerror(-rc));
}

static void write_ok(struct cg_wal *w)
{
    if (w->write_failing) {
        w->write_failing = 0;
        cg_complain_clear(&w->c_write, "buffer", "writing to the disk buffer");
    }
}

/* Starts a new active segment. append_lock held, not lock. */
static int new_segment(struct cg_wal *w)
{
    char p[4096];
    seg_path(w, w->next_seg_id, p, sizeof(p));
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        return -errno;
    }
    pthread_mutex_lock(&w->lock);
    struct seg s = {.id = w->next_seg_id, .first_line = w->next_line, .end_line = w->next_line,
                    .bad_line = UINT64_MAX};
    int rc = seg_push(w, &s);
    if (rc == 0) {
        w->next_seg_id++;
        w->seal_next = 0;
    }
    pthread_mutex_unlock(&w->lock);
    if (rc < 0) {
        close(fd);
        unlink(p);
        return rc;
    }
    if (w->wfd >= 0) {
        close(w->wfd);
    }
    w->wfd = fd;
    w->wdirty = 0;
    fsync(w->dir_fd); /* the new name must survive a power cut too */
    return 0;
}

static void forget_bad(struct cg_wal *w, uint64_t below)
{
    unsigned k = 0;
    for (unsigned i = 0; i < w->n_bad; i++) {
        if (w->bad[i].to > below) {
            w->bad[k++] = w->bad[i];
        }
    }
    w->n_bad = k;
}

static void drop_first_segment(struct cg_wal *w)
{
    struct seg *s = SEG(w, 0);
    char p[4096];
    seg_path(w, s->id, p, sizeof(p));
    for (unsigned r = 0; r < w->n_readers; r++) {
        struct wreader *rd = &w->readers[r];
        if (rd->commit_line < s->end_line) {
            uint64_t read_end = rd->read_line < s->end_line ? rd->read_line : s->end_line;
            if (read_end > rd->commit_line) {
                rd->inflight_lost += read_end - rd->commit_line;
            }
            rd->dropped += s->end_line - (rd->read_line > rd->commit_line ? read_end : rd->commit_line);
            rd->commit_line = s->end_line;
            rd->commit_ns = 0;
        }
        if (rd->read_line < s->end_line) {
            rd->read_line = s->end_line;
        }
        if (rd->cur.valid && rd->cur.seg_id == s->id) {
            rd->cur.valid = 0;
        }
        if (rd->live && rd->live_commit < s->end_line) {
            /* the budget reached into the live range too (a second outage) */
            uint64_t read_end = rd->live_read < s->end_line ? rd->live_read : s->end_line;
            if (read_end > rd->live_commit) {
                rd->inflight_lost += read_end - rd->live_commit;
            }
            rd->dropped += s->end_line - (read_end > rd->live_commit ? read_end : rd->live_commit);
            rd->live_commit = s->end_line;
            if (rd->live_read < s->end_line) {
                rd->live_read = s->end_line;
            }
        }
        if (rd->lcur.valid && rd->lcur.seg_id == s->id) {
            rd->lcur.valid = 0;
        }
    }
    w->bytes -= s->size;
    seg_fd_close(w, s->id);
    if (w->rc_valid && w->rc_seg == s->id) {
        w->rc_valid = 0;
    }
    unlink(p);
    forget_bad(w, s->end_line);
    w->seg0++;
    w->n_segs--;
    if (w->n_segs == 0) {
        w->seg0 = 0;
    }
    /* an appender waiting for disk space may now fit */
    pthread_cond_broadcast(&w->space_cv);
}

/* Frees the segments every reader has committed past (never the active one). */
static void gc(struct cg_wal *w)
{
    while (w->n_segs > 1) {
        struct seg *s = SEG(w, 0);
        for (unsigned r = 0; r < w->n_readers; r++) {
            if (w->readers[r].commit_line < s->end_line) {
                return;
            }
        }
        drop_first_segment(w);
    }
}

static void budget(struct cg_wal *w, size_t incoming)
{
    int64_t now = cg_time_now_ns();
    while (w->n_segs > 1) {
        struct seg *s = SEG(w, 0);
        int over_size = w->bytes + incoming > w->max_bytes;
        int over_age = w->max_age_s > 0 && s->newest_ns > 0 && now - s->newest_ns > w->max_age_s * 1000000000LL;
        if (!over_size && !over_age) {
            break;
        }
        uint64_t lost = 0;
        for (unsigned r = 0; r < w->n_readers; r++) {
            if (w->readers[r].commit_line < s->end_line) {
                lost += s->end_line - w->readers[r].commit_line;
            }
        }
        if (lost > 0) {
            w->dropped_segments++;
            cg_complain(&w->c_drop, CG_LOG_WARN, "buffer",
                        "%s budget exceeded: dropping the oldest %" PRIu64 " bytes (%" PRIu64
                        " unsent lines over all outputs) in %s",
                        over_size ? "disk" : "age", s->size, lost, w->dir);
        }
        drop_first_segment(w);
    }
}

/* Writes pos-<name> = line (tmp -> fsync -> rename). pos_lock held, not lock. */
static int write_pos_file(struct cg_wal *w, const char *name, uint64_t line, int do_sync)
{
    char p[4096], t[4200], text[64];
    snprintf(p, sizeof(p), "%s/pos-%s", w->dir, name);
    snprintf(t, sizeof(t), "%s.tmp", p);
    int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", line);
    int fd = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        return -errno;
    }
    int rc = write(fd, text, (size_t)n) == n ? 0 : -EIO;
    if (rc == 0 && do_sync && fdatasync(fd) < 0) {
        rc = -errno;
    }
    close(fd);
    if (rc == 0 && rename(t, p) < 0) {
        rc = -errno;
    }
    return rc;
}

/* Persists reader r's commit position if it moved. Takes pos_lock and lock
 * itself: the file is written with neither state lock held. */
static void persist_pos(struct cg_wal *w, unsigned r, int do_sync, int force)
{
    pthread_mutex_lock(&w->pos_lock);
    pthread_mutex_lock(&w->lock);
    struct wreader *rd = &w->readers[r];
    uint64_t line = rd->commit_line;
    int due = force || line != rd->persisted_line;
    pthread_mutex_unlock(&w->lock);
    if (due && write_pos_file(w, rd->name, line, do_sync) == 0) {
        pthread_mutex_lock(&w->lock);
        rd->persisted_line = line;
        pthread_mutex_unlock(&w->lock);
    }
    pthread_mutex_unlock(&w->pos_lock);
}
static uint64_t read_pos(const struct cg_wal *w, const char *name, int *found)
{
    char p[4096], text[64] = "";
    snprintf(p, sizeof(p), "%s/pos-%s", w->dir, name);
    *found = 0;
    FILE *f = fopen(p, "r");
    if (f == NULL) {
        return 0;
    }
    uint64_t v = 0;
    if (fgets(text, sizeof(text), f) != NULL && text[0] >= '0' && text[0] <= '9') {
        char *end;
        errno = 0;
        v = strtoull(text, &end, 10);
        *found = errno == 0 && v <= CG_WAL_MAX_LINE && (*end == '\n' || *end == '\0');
    }
    fclose(f);
    if (!*found && text[0] != '\0') {
        /* Not a line number we could have written (found by scripts/fuzz: an
         * overflowing one wrapped the numbering and the output read nothing
         * ever after). Start at the oldest data held: resend, never skip. */
        cg_log(CG_LOG_WARN, "buffer", "%s: not a valid position; output '%s' starts at the oldest data held", p, name);
    }
    return *found ? v : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int valid_name(const char *n)
{
    if (n == NULL || *n == '\0' || strlen(n) > 200) {
        return 0;
    }
    for (const char *p = n; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.')) {
            return 0;
        }
    }
    return 1;
}

/* Scans one segment file; keeps its valid prefix. Leaves no fd open. */
static int recover_segment(struct cg_wal *w, uint64_t id, int last, struct cg_journal_recovery *rec)
{
    char p[4096];
    seg_path(w, id, p, sizeof(p));
    int fd = open(p, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct seg s = {.id = id, .bad_line = UINT64_MAX};
    uint64_t off = 0, fsize = (uint64_t)st.st_size;
    int first = 1;
    while (off + CG_WAL_HDR <= fsize) {
        struct hdr h;
        if (full_pread(fd, &h, sizeof(h), off) < 0 || h.magic != CG_WAL_MAGIC || h.len == 0 ||
            h.len > CG_WAL_MAX_RECORD || h.n_lines == 0 || off + CG_WAL_HDR + h.len > fsize ||
            (!first && h.first_line != s.end_line) || h.first_line < w->next_line ||
            h.first_line > CG_WAL_MAX_LINE - h.n_lines) {
            break;
        }
        cg_buf_reset(&w->scratch);
        if (cg_buf_reserve(&w->scratch, h.len) < 0 ||
            full_pread(fd, w->scratch.data, h.len, off + CG_WAL_HDR) < 0 || record_crc(&h, w->scratch.data) != h.crc) {
            break;
        }
        if (first) {
            s.first_line = h.first_line;
            s.oldest_ns = h.append_ns;
            first = 0;
        }
        s.end_line = h.first_line + h.n_lines;
        s.newest_ns = h.append_ns;
        off += CG_WAL_HDR + h.len;
        rec->records++;
        rec->lines += h.n_lines;
    }
    if (first) {
        s.first_line = s.end_line = w->next_line;
    }
    s.size = off;
    int rc = 0;
    if (off < fsize) {
        if (last) {
            rec->torn_bytes += fsize - off;
            if (ftruncate(fd, (off_t)off) < 0 || fdatasync(fd) < 0) {
                rc = -errno;
            }
        } else {
            rec->corrupt_bytes += fsize - off;
            rec->corrupt_segments++;
        }
    }
    close(fd);
    if (rc < 0) {
        return rc;
    }
    rec->segments++;
    if (s.end_line > w->next_line) {
        w->next_line = s.end_line;
    }
    return seg_push(w, &s);
}

/* "DIR: Permission denied" is not enough to act on: name the file, who owns
 * it, its mode, who we are, and the command that fixes it (issue 11: one run
 * as root left root-owned segments the service user could not open). */
static void open_error(const char *dir, const char *path, int e, char *err, size_t errlen)
{
    struct stat st;
    if ((e != EACCES && e != EPERM) || stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return;
    }
    char owner[64], group[64], me[64];
    struct passwd *pw = getpwuid(st.st_uid);
    struct group *gr = getgrgid(st.st_gid);
    snprintf(owner, sizeof(owner), "%s", pw ? pw->pw_name : "?");
    snprintf(group, sizeof(group), "%s", gr ? gr->gr_name : "?");
    pw = getpwuid(geteuid());
    snprintf(me, sizeof(me), "%s", pw ? pw->pw_name : "?");
    if (pw == NULL) {
        snprintf(me, sizeof(me), "%u", (unsigned)geteuid());
    }
    snprintf(err, errlen,
             "%s: %s (owner %s:%s, mode %04o; citygate runs as %s). Fix: chown -R %s: %s",
             path, strerror(e), owner, group, (unsigned)(st.st_mode & 07777), me, me, dir);
}

struct cg_wal *cg_wal_open(const struct cg_journal_opts *o, struct cg_journal_recovery *rec, char *err, size_t errlen)
{
    struct cg_journal_recovery dummy;
    uint64_t *ids = NULL;
    size_t n_ids = 0, cap_ids = 0;
    DIR *d = NULL;
    if (rec == NULL) {
        rec = &dummy;
    }
    memset(rec, 0, sizeof(*rec));
    struct cg_wal *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->append_lock, NULL);
    pthread_mutex_init(&w->pos_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->data_cv, &ca);
    pthread_cond_init(&w->space_cv, &ca);
    pthread_condattr_destroy(&ca);
    w->dir_fd = -1;
    w->wfd = -1;
    for (unsigned i = 0; i < READ_FDS; i++) {
        w->rfds[i].fd = -1;
    }
    cg_buf_init(&w->scratch, CG_WAL_MAX_RECORD);
    cg_buf_init(&w->rc, CG_WAL_MAX_RECORD + CG_WAL_HDR + RC_CHUNK);
    w->max_bytes = o->max_bytes;
    w->segment_bytes = o->segment_bytes ? o->segment_bytes : DEFAULT_SEGMENT_BYTES;
    if (w->segment_bytes > w->max_bytes / 4 && w->max_bytes >= 4 * 65536) {
        w->segment_bytes = w->max_bytes / 4; /* the budget must hold several segments */
    }
    w->max_age_s = o->max_age_s;
    w->live_first_after_ms = o->live_first_after_ms;
    w->replay_lines_per_s = (double)o->replay_max_lines_per_s;
    w->replay_bytes_per_s = (double)o->replay_max_bytes_per_s;
    w->fsync = o->fsync;
    w->fsync_interval_ms = o->fsync_interval_ms > 0 ? o->fsync_interval_ms : 1000;
    w->n_readers = o->n_readers;
    w->dir = strdup(o->dir);
    if (w->dir == NULL || o->n_readers == 0 || o->n_readers > CG_JOURNAL_MAX_READERS) {
        snprintf(err, errlen, "bad journal options");
        goto fail;
    }
    if (mkdir(o->dir, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create: %s", o->dir, strerror(errno));
        goto fail;
    }
    w->dir_fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dir_fd < 0) {
        open_error(o->dir, o->dir, errno, err, errlen);
        goto fail;
    }
    d = opendir(o->dir);
    if (d == NULL) {
        open_error(o->dir, o->dir, errno, err, errlen);
        goto fail;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        unsigned long long id;
        char tail[8];
        if (sscanf(e->d_name, "seg-%16llx.%4s", &id, tail) == 2 && strcmp(tail, "wal") == 0) {
            if (n_ids == MAX_SEGMENTS) {
                snprintf(err, errlen, "%s: more than %u segment files", o->dir, MAX_SEGMENTS);
                goto fail;
            }
            if (cg_array_grow((void **)&ids, &cap_ids, n_ids + 1, sizeof(*ids), MAX_SEGMENTS) < 0) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            ids[n_ids++] = id;
        }
    }
    closedir(d);
    d = NULL;
    if (n_ids > 0) {
        qsort(ids, n_ids, sizeof(*ids), cmp_u64);
    }
    for (unsigned r = 0; r < o->n_readers; r++) {
        if (!valid_name(o->reader_names[r])) {
            snprintf(err, errlen, "reader name '%s' must be [A-Za-z0-9_.-]", o->reader_names[r]);
            goto fail;
        }
        w->readers[r].name = strdup(o->reader_names[r]);
        if (w->readers[r].name == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < n_ids; i++) {
        int rc = recover_segment(w, ids[i], i + 1 == n_ids, rec);
        if (rc < 0) {
            char p[4096];
            seg_path(w, ids[i], p, sizeof(p));
            open_error(o->dir, p, -rc, err, errlen);
            goto fail;
        }
        w->bytes += LAST_SEG(w)->size;
        w->next_seg_id = ids[i] + 1;
    }
    /* Reader positions after the segments: line numbers continue past them
     * even when every segment is gone. */
    uint64_t oldest = w->n_segs ? SEG(w, 0)->first_line : w->next_line;
    for (unsigned r = 0; r < o->n_readers; r++) {
        struct wreader *rd = &w->readers[r];
        int found;
        uint64_t pos = read_pos(w, rd->name, &found);
        /* A new output starts at the oldest data held: nothing it could take is lost. */
        if (!found || pos < oldest) {
            pos = oldest;
        }
        if (pos > w->next_line) {
            w->next_line = pos; /* data past it was lost (torn): continue numbering after */
        }
        rd->commit_line = rd->read_line = rd->persisted_line = pos;
    }
    /* What the recovered lines are: unsent by some output, or kept although
     * every output has them (a clean stop leaves the active segment). */
    uint64_t min_pos = UINT64_MAX;
    for (unsigned r = 0; r < o->n_readers; r++) {
        uint64_t pos = w->readers[r].commit_line, unsent = 0;
        for (size_t i = seg_index_for_line(w, pos); i < w->n_segs; i++) {
            const struct seg *s = SEG(w, i);
            if (s->end_line > s->first_line) {
                unsent += s->end_line - (pos > s->first_line ? pos : s->first_line);
            }
        }
        rec->unsent_lines[r] = unsent;
        min_pos = pos < min_pos ? pos : min_pos;
    }
    for (size_t i = 0; i < w->n_segs; i++) {
        const struct seg *s = SEG(w, i);
        uint64_t end = s->end_line < min_pos ? s->end_line : min_pos;
        if (end > s->first_line) {
            rec->delivered_lines += end - s->first_line;
        }
    }
    /* Always append to a fresh segment: a recovered tail is never rewritten. */
    int rc = new_segment(w);
    if (rc < 0) {
        char p[4096];
        seg_path(w, w->next_seg_id, p, sizeof(p));
        open_error(o->dir, p, -rc, err, errlen);
        goto fail;
    }
    gc(w);
    free(ids);
    return w;
fail:
    if (d) {
        closedir(d);
    }
    free(ids);
    cg_wal_free(w);
    return NULL;
}

void cg_wal_free(struct cg_wal *w)
{
    if (w == NULL) {
        return;
    }
    for (unsigned i = 0; i < READ_FDS; i++) {
        if (w->rfds[i].fd >= 0) {
            close(w->rfds[i].fd);
        }
    }
    if (w->wfd >= 0) {
        close(w->wfd);
    }
    free(w->segs);
    for (unsigned r = 0; r < CG_JOURNAL_MAX_READERS; r++) {
        free(w->readers[r].name);
    }
    if (w->dir_fd >= 0) {
        close(w->dir_fd);
    }
    cg_buf_done(&w->scratch);
    cg_buf_done(&w->rc);
    free(w->dir);
    pthread_cond_destroy(&w->data_cv);
    pthread_cond_destroy(&w->space_cv);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->append_lock);
    pthread_mutex_destroy(&w->pos_lock);
    free(w);
}

/* fdatasync of the writer fd. append_lock held, not lock. */
static int sync_data(struct cg_wal *w)
{
    int rc = 0;
    if (w->wdirty && fdatasync(w->wfd) < 0) {
        rc = -errno;
    }
    if (rc == 0) {
        w->wdirty = 0;
    }
    w->last_sync_ms = cg_time_mono_ms();
    return rc;
}

static int storage_error(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT || rc == -EIO || rc == -EROFS || rc == -EMFILE || rc == -ENFILE ||
           rc == -EFBIG || rc == -EACCES || rc == -EPERM || rc == -ENOENT;
}

/* One attempt. append_lock held. */
static int append_once(struct cg_wal *w, const char *lines, size_t len, uint32_t n_lines)
{
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    if (w->shutdown) {
        pthread_mutex_unlock(&w->lock);
        return -ESHUTDOWN;
    }
    struct seg *s = LAST_SEG(w);
    int seal = w->seal_next || (s->size > 0 && s->size + CG_WAL_HDR + len > w->segment_bytes);
    pthread_mutex_unlock(&w->lock);
    if (seal) {
        /* Sealed segments are synced before anything is appended elsewhere,
         * so a power cut never leaves a hole in the middle of the log. */
        if (w->fsync != CG_JOURNAL_FSYNC_NEVER && (rc = sync_data(w)) < 0) {
            pthread_mutex_lock(&w->lock);
            write_error(w, rc, "fdatasync");
            pthread_mutex_unlock(&w->lock);
            return rc;
        }
        if ((rc = new_segment(w)) < 0) {
            pthread_mutex_lock(&w->lock);
            write_error(w, rc, "creating a segment");
            pthread_mutex_unlock(&w->lock);
            return rc;
        }
    }
    pthread_mutex_lock(&w->lock);
    budget(w, CG_WAL_HDR + len);
    uint64_t off = LAST_SEG(w)->size;
    struct hdr h = {.magic = CG_WAL_MAGIC, .len = (uint32_t)len, .n_lines = n_lines,
                    .first_line = w->next_line, .append_ns = cg_time_now_ns()};
    pthread_mutex_unlock(&w->lock);
    /* Only this thread writes past the active segment's size, and readers
     * never read past it: no state lock is needed for the write or the sync. */
    h.crc = record_crc(&h, lines);
    struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)lines, len}};
    ssize_t want = (ssize_t)(sizeof(h) + len);
    ssize_t wr = pwritev(w->wfd, iov, 2, (off_t)off);
    const char *what = "write";
    if (wr != want) {
        rc = wr < 0 ? -errno : -ENOSPC;
    } else {
        w->wdirty = 1;
        if (w->fsync == CG_JOURNAL_FSYNC_ALWAYS ||
            (w->fsync == CG_JOURNAL_FSYNC_INTERVAL && cg_time_mono_ms() - w->last_sync_ms >= w->fsync_interval_ms)) {
            rc = sync_data(w);
            what = "fdatasync";
            if (rc < 0 && w->fsync == CG_JOURNAL_FSYNC_INTERVAL) {
                /* written, only not known to be durable: keep it, report it */
                pthread_mutex_lock(&w->lock);
                write_error(w, rc, what);
                pthread_mutex_unlock(&w->lock);
                rc = 0;
                what = NULL;
            }
        }
    }
    if (rc < 0) {
        /* Not taken: leave no partial or unsynced record behind (the next
         * append starts at the same offset); the source keeps the readings. */
        if (ftruncate(w->wfd, (off_t)off) < 0) {
            /* recovery cuts it by checksum */
        }
        pthread_mutex_lock(&w->lock);
        write_error(w, rc, what);
        pthread_mutex_unlock(&w->lock);
        return rc;
    }
    pthread_mutex_lock(&w->lock);
    s = LAST_SEG(w);
    if (s->size == 0) {
        s->first_line = w->next_line;
        s->oldest_ns = h.append_ns;
    }
    s->size = off + (uint64_t)want;
    s->end_line = w->next_line + n_lines;
    s->newest_ns = h.append_ns;
    w->bytes += (uint64_t)want;
    w->next_line += n_lines;
    w->appended_lines += n_lines;
    if (what != NULL) {
        write_ok(w);
    }
    if (w->waiters > 0 && w->next_line >= w->wake_at_line) {
        w->wake_at_line = UINT64_MAX;
        pthread_cond_broadcast(&w->data_cv);
    }
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int cg_wal_append(struct cg_wal *w, const char *lines, size_t len, uint32_t n_lines, int timeout_ms)
{
    if (len == 0 || n_lines == 0) {
        return 0;
    }
    if (len > CG_WAL_MAX_RECORD || len + CG_WAL_HDR > w->max_bytes) {
        return -EMSGSIZE;
    }
    struct timespec deadline;
    if (timeout_ms > 0) {
        cg_deadline_after_ms(&deadline, timeout_ms);
    }
    pthread_mutex_lock(&w->append_lock);
    int rc;
    /* A full disk or an I/O error: wait (the caller's back-pressure wait) and
     * try again; an output freeing a segment wakes us, so intake resumes by
     * itself when space returns. */
    while ((rc = append_once(w, lines, len, n_lines)) < 0 && storage_error(rc) && timeout_ms != 0) {
        struct timespec slice;
        cg_deadline_after_ms(&slice, WRITE_RETRY_MS);
        if (timeout_ms > 0 && (slice.tv_sec > deadline.tv_sec ||
                               (slice.tv_sec == deadline.tv_sec && slice.tv_nsec > deadline.tv_nsec))) {
            slice = deadline;
        }
        if (pthread_cond_timedwait(&w->space_cv, &w->append_lock, &slice) == ETIMEDOUT && timeout_ms > 0 &&
            slice.tv_sec == deadline.tv_sec && slice.tv_nsec == deadline.tv_nsec) {
            rc = append_once(w, lines, len, n_lines);
            break;
        }
    }
    pthread_mutex_unlock(&w->append_lock);
    return rc;
}

static void refill_tokens(struct cg_wal *w, struct wreader *rd)
{
    int64_t now = cg_time_mono_ms();
    double dt = (double)(now - rd->tokens_ms) / 1000.0;
    rd->tokens_ms = now;
    /* a burst of at most one second's worth */
    if (w->replay_lines_per_s > 0) {
        rd->tokens += dt * w->replay_lines_per_s;
        if (rd->tokens > w->replay_lines_per_s) {
            rd->tokens = w->replay_lines_per_s;
        }
    }
    if (w->replay_bytes_per_s > 0) {
        rd->btokens += dt * w->replay_bytes_per_s;
        if (rd->btokens > w->replay_bytes_per_s) {
            rd->btokens = w->replay_bytes_per_s;
        }
    }
}
long cg_wal_wait(struct cg_wal *w, unsigned reader, size_t min_lines, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms > 0) {
        cg_deadline_after_ms(&deadline, timeout_ms);
    }
    pthread_mutex_lock(&w->lock);
    struct wreader *rd = &w->readers[reader];
    long rc;
    for (;;) {
        uint64_t unread = w->next_line - rd->read_line;
        if (rd->live) {
            /* what a read could return now: live lines, plus backlog lines the
             * rate cap allows (a capped backlog must not make the output spin) */
            uint64_t backlog = rd->split > rd->read_line ? rd->split - rd->read_line : 0;
            if (w->replay_lines_per_s > 0 || w->replay_bytes_per_s > 0) {
                refill_tokens(w, rd);
                if (w->replay_lines_per_s > 0 && (double)backlog > rd->tokens) {
                    backlog = rd->tokens >= 1 ? (uint64_t)rd->tokens : 0;
                }
                if (w->replay_bytes_per_s > 0 && rd->btokens < 1) {
                    backlog = 0;
                }
            }
            unread = (w->next_line - rd->live_read) + backlog;
        }
        if (unread >= min_lines || (w->shutdown && unread > 0) || timeout_ms == 0) {
            rc = (long)unread;
            break;
        }
        if (w->shutdown) {
            rc = -ESHUTDOWN;
            break;
        }
        uint64_t need = min_lines - unread; /* unread < min_lines here */
        uint64_t at = w->next_line + need < w->next_line ? UINT64_MAX : w->next_line + need;
        if (at < w->wake_at_line || w->waiters == 0) {
            w->wake_at_line = at;
        }
        w->waiters++;
        int tw = 0;
        if (timeout_ms < 0) {
            pthread_cond_wait(&w->data_cv, &w->lock);
        } else {
            tw = pthread_cond_timedwait(&w->data_cv, &w->lock, &deadline);
        }
        w->waiters--;
        if (tw == ETIMEDOUT) {
            rc = (long)(w->next_line - rd->read_line);
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* Damage found while running: from `line` (at byte `off`) segment s cannot be
 * read. Logged once (the segment is marked), counted, reported by health; the
 * readers jump to the next segment. Lock held. */
static void damage_tail(struct cg_wal *w, struct seg *s, uint64_t line, uint64_t off, const char *why, int e)
{
    if (s->bad_line <= line) {
        return;
    }
    s->bad_line = line;
    w->corrupt_records++;
    w->damage_ms = cg_time_mono_ms();
    if (w->rc_valid && w->rc_seg == s->id) {
        w->rc_valid = 0;
    }
    if (s == LAST_SEG(w)) {
        w->seal_next = 1; /* appends go on in a new segment */
    }
    snprintf(w->damage_text, sizeof(w->damage_text), "segment %016" PRIx64 " at offset %" PRIu64 ": %s%s%s", s->id,
             off, why, e ? ": " : "", e ? strerror(-e) : "");
    cg_log(CG_LOG_ERROR, "buffer",
           "segment %016" PRIx64 " damaged at offset %" PRIu64 " (%s/seg-%016" PRIx64 ".wal): %s%s%s; %" PRIu64
           " lines from there to the end of the segment are skipped",
           s->id, off, w->dir, s->id, why, e ? ": " : "", e ? strerror(-e) : "", s->end_line - line);
}

/* A record whose checksum fails: only its own lines are skipped. */
static void damage_record(struct cg_wal *w, struct seg *s, const struct cursor *c)
{
    if (w->n_bad == MAX_BAD_RECORDS) {
        damage_tail(w, s, c->rec_first, c->off, "checksum mismatch", 0);
        return;
    }
    w->bad[w->n_bad].from = c->rec_first;
    w->bad[w->n_bad].to = c->rec_first + c->rec_lines;
    w->n_bad++;
    w->corrupt_records++;
    w->damage_ms = cg_time_mono_ms();
    snprintf(w->damage_text, sizeof(w->damage_text), "segment %016" PRIx64 " at offset %" PRIu64 ": checksum mismatch",
             s->id, c->off);
    cg_log(CG_LOG_ERROR, "buffer",
           "segment %016" PRIx64 " damaged at offset %" PRIu64 ": checksum mismatch (%s/seg-%016" PRIx64
           ".wal); the record's %" PRIu32 " lines are skipped",
           s->id, c->off, w->dir, s->id, c->rec_lines);
}

/* End of the damaged record holding `line`, or 0. */
static uint64_t bad_record_end(const struct cg_wal *w, uint64_t line)
{
    for (unsigned i = 0; i < w->n_bad; i++) {
        if (line >= w->bad[i].from && line < w->bad[i].to) {
            return w->bad[i].to;
        }
    }
    return 0;
}

/* Why a header read at off of s, expected to start at line `expect`, cannot be
 * a record this log wrote; NULL if it can. */
static const char *bad_header(const struct hdr *h, const struct seg *s, uint64_t off, uint64_t expect)
{
    if (h->magic != CG_WAL_MAGIC) {
        return "not a record header";
    }
    if (h->len == 0 || h->len > CG_WAL_MAX_RECORD || h->n_lines == 0 || off + CG_WAL_HDR + h->len > s->size) {
        return "bad record length";
    }
    if (h->first_line != expect) {
        return "records out of sequence";
    }
    return NULL;
}

static int read_hdr(struct cg_wal *w, const struct seg *s, uint64_t off, struct hdr *h)
{
    const char *hp;
    int e = cached_read(w, s, off, sizeof(*h), &hp);
    if (e == 0) {
        memcpy(h, hp, sizeof(*h));
    }
    return e;
}

/* Positions c on the record holding `line`. 0, or -ENOENT when the line is
 * not held (past the end). Lines lost to corruption (at recovery, or found
 * damaged now) are skipped: *line moves past them. */
static int seek(struct cg_wal *w, struct cursor *c, uint64_t *line)
{
    if (c->valid && *line >= c->rec_first && *line < c->rec_first + c->rec_lines) {
        return 0;
    }
    /* the next record after the cached one, the common case */
    if (c->valid && *line == c->rec_first + c->rec_lines) {
        struct seg *s = find_seg(w, c->seg_id);
        uint64_t off = c->off + CG_WAL_HDR + c->rec_len;
        struct hdr h;
        if (s != NULL && *line < s->bad_line && off < s->size && read_hdr(w, s, off, &h) == 0 &&
            bad_header(&h, s, off, *line) == NULL) {
            *c = (struct cursor){s->id, off, h.first_line, h.n_lines, h.len, h.append_ns, 1, h.crc, 0};
            return 0;
        }
    }
    c->valid = 0;
    for (size_t i = seg_index_for_line(w, *line); i < w->n_segs; i++) {
        struct seg *s = SEG(w, i);
        if (s->size == 0 || *line >= s->end_line) {
            continue;
        }
        if (*line < s->first_line) {
            *line = s->first_line; /* a gap left by a corrupt segment */
        }
        uint64_t expect = s->first_line;
        for (uint64_t off = 0; off < s->size && *line < s->bad_line;) {
            struct hdr h = {0}; /* read_hdr fills it when it returns 0; -O2 cannot see that */
            int e = off + CG_WAL_HDR <= s->size ? read_hdr(w, s, off, &h) : -EIO;
            if (e == -ENOMEM) {
                return e; /* not the file's fault: try again later */
            }
            const char *why = e == -EIO ? "segment file shorter than written" : e < 0 ? "cannot read" : NULL;
            if (e == 0) {
                why = bad_header(&h, s, off, expect);
            }
            if (why != NULL) {
                damage_tail(w, s, expect, off, why, e == -EIO ? 0 : e);
                break;
            }
            if (*line < h.first_line + h.n_lines) {
                *c = (struct cursor){s->id, off, h.first_line, h.n_lines, h.len, h.append_ns, 1, h.crc, 0};
                return 0;
            }
            expect = h.first_line + h.n_lines;
            off += CG_WAL_HDR + h.len;
        }
        *line = s->end_line; /* the rest of this segment is damaged */
    }
    return -ENOENT;
}

/* Copies lines [*pos, end) into out, through cursor c. */
static long read_range(struct cg_wal *w, struct wreader *rd, struct cursor *c, uint64_t *pos, uint64_t end,
                       struct cg_buf *out, size_t max_lines, size_t max_bytes, size_t *bytes_out)
{
    long taken = 0;
    size_t bytes = 0;
    while ((size_t)taken < max_lines && *pos < end) {
        uint64_t line = *pos;
        int e = seek(w, c, &line);
        if (line != *pos) {
            uint64_t to = line < end ? line : end;
            rd->dropped += to - *pos; /* lost to corruption */
            *pos = to;
        }
        if (e < 0 || *pos >= end) {
            break;
        }
        struct seg *s = find_seg(w, c->seg_id);
        if (s == NULL) {
            break;
        }
        uint64_t skip_to = bad_record_end(w, c->rec_first);
        const char *p = NULL;
        if (skip_to == 0) {
            e = cached_read(w, s, c->off + CG_WAL_HDR, c->rec_len, &p);
            if (e == -ENOMEM) {
                break;
            }
            if (e < 0) {
                damage_tail(w, s, c->rec_first, c->off,
                            e == -EIO ? "segment file shorter than written" : "cannot read", e == -EIO ? 0 : e);
                c->valid = 0;
                continue;
            }
            if (!c->checked) {
                struct hdr h = {.magic = CG_WAL_MAGIC, .len = c->rec_len, .n_lines = c->rec_lines,
                                .crc = c->rec_crc, .first_line = c->rec_first, .append_ns = c->rec_ns};
                if (record_crc(&h, p) != h.crc) {
                    damage_record(w, s, c);
                    skip_to = c->rec_first + c->rec_lines;
                } else {
                    c->checked = 1;
                }
            }
        }
        if (skip_to != 0) {
            uint64_t to = skip_to < end ? skip_to : end;
            rd->dropped += to - *pos;
            *pos = to;
            continue;
        }
        const char *e_ = p + c->rec_len;
        for (uint64_t k = c->rec_first; k < *pos && p < e_; k++) { /* skip lines already taken */
            const char *nl = memchr(p, '\n', (size_t)(e_ - p));
            p = nl ? nl + 1 : e_;
        }
        int stop = 0;
        while (p < e_ && (size_t)taken < max_lines && *pos < end) {
            const char *nl = memchr(p, '\n', (size_t)(e_ - p));
            size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(e_ - p);
            if ((taken > 0 && bytes + l > max_bytes) || cg_buf_append(out, p, l) < 0) {
                stop = 1;
                break;
            }
            bytes += l;
            taken++;
            (*pos)++;
            p += l;
        }
        if (stop) {
            break;
        }
    }
    *bytes_out = bytes;
    return taken;
}
/* At the start of a batch: is this reader so far behind that live data should
 * go first? */
static void maybe_go_live(struct cg_wal *w, struct wreader *rd)
{
    if (rd->in_order || rd->live || w->live_first_after_ms <= 0 || rd->commit_line >= w->next_line) {
        return;
    }
    uint64_t line = rd->commit_line;
    if (seek(w, &rd->cur, &line) < 0) {
        return;
    }
    if (cg_time_now_ns() - rd->cur.rec_ns <= w->live_first_after_ms * 1000000) {
        return;
    }
    rd->live = 1;
    rd->split = w->next_line;
    rd->live_read = rd->live_commit = w->next_line;
    rd->lcur.valid = 0;
    rd->tokens_ms = cg_time_mono_ms();
    rd->tokens = rd->btokens = 0;
    cg_log(CG_LOG_INFO, "buffer",
           "output %s is %" PRIu64 " lines behind: live readings go first, the backlog follows%s", rd->name,
           rd->split - rd->commit_line, w->replay_lines_per_s > 0 || w->replay_bytes_per_s > 0 ? " at the capped rate" : "");
}

static void maybe_merge(struct wreader *rd)
{
    if (rd->live && rd->batch_src == 0 && rd->commit_line >= rd->split) {
        rd->live = 0;
        rd->commit_line = rd->live_commit;
        rd->read_line = rd->live_read;
        rd->cur = rd->lcur;
        rd->commit_ns = 0;
        cg_log(CG_LOG_INFO, "buffer", "output %s: backlog replayed (%" PRIu64 " lines)", rd->name, rd->replayed_lines);
        rd->replayed_lines = 0;
    }
}

long cg_wal_read(struct cg_wal *w, unsigned reader, struct cg_buf *out, size_t max_lines, size_t max_bytes)
{
    long taken = 0;
    size_t bytes = 0;
    pthread_mutex_lock(&w->lock);
    struct wreader *rd = &w->readers[reader];
    if (rd->batch_src == 0) {
        maybe_merge(rd);
        maybe_go_live(w, rd);
    }
    if (!rd->live) {
        taken = read_range(w, rd, &rd->cur, &rd->read_line, w->next_line, out, max_lines, max_bytes, &bytes);
        rd->batch_src = taken > 0 || rd->batch_src ? 1 : 0;
    } else {
        if (rd->batch_src != 1 && rd->live_read < w->next_line) {
            taken = read_range(w, rd, &rd->lcur, &rd->live_read, w->next_line, out, max_lines, max_bytes, &bytes);
            if (taken > 0) {
                rd->batch_src = 2;
            }
        } else if (rd->batch_src != 2 && rd->read_line < rd->split) {
            refill_tokens(w, rd);
            size_t ml = max_lines, mb = max_bytes;
            if (w->replay_lines_per_s > 0) {
                ml = rd->tokens >= 1 ? (size_t)rd->tokens : 0;
                ml = ml < max_lines ? ml : max_lines;
            }
            if (w->replay_bytes_per_s > 0) {
                mb = rd->btokens >= 1 ? (size_t)rd->btokens : 0;
                mb = mb < max_bytes ? mb : max_bytes;
            }
            if (ml > 0 && mb > 0) {
                taken = read_range(w, rd, &rd->cur, &rd->read_line, rd->split, out, ml, mb, &bytes);
                rd->tokens -= (double)taken;
                rd->btokens -= (double)bytes;
                rd->replayed_lines += (uint64_t)taken;
                if (taken > 0) {
                    rd->batch_src = 1;
                }
            }
        }
    }
    pthread_mutex_unlock(&w->lock);
    return taken;
}

void cg_wal_commit(struct cg_wal *w, unsigned reader)
{
    pthread_mutex_lock(&w->lock);
    struct wreader *rd = &w->readers[reader];
    rd->inflight_lost = 0; /* the batch holding them was delivered */
    if (rd->live && rd->batch_src == 2) {
        rd->live_commit = rd->live_read;
    } else if (rd->read_line > rd->commit_line) {
        rd->commit_line = rd->read_line;
        rd->commit_ns = rd->cur.valid && rd->commit_line < rd->cur.rec_first + rd->cur.rec_lines ? rd->cur.rec_ns : 0;
    }
    rd->batch_src = 0;
    maybe_merge(rd);
    gc(w);
    pthread_mutex_unlock(&w->lock);
    if (w->fsync == CG_JOURNAL_FSYNC_ALWAYS) {
        persist_pos(w, reader, 1, 0);
    }
}

void cg_wal_reader_in_order(struct cg_wal *w, unsigned reader)
{
    pthread_mutex_lock(&w->lock);
    w->readers[reader].in_order = 1;
    pthread_mutex_unlock(&w->lock);
}

void cg_wal_rewind(struct cg_wal *w, unsigned reader)
{
    pthread_mutex_lock(&w->lock);
    struct wreader *rd = &w->readers[reader];
    if (rd->batch_src == 1 && rd->live && rd->read_line > rd->commit_line) {
        rd->replayed_lines -= rd->read_line - rd->commit_line;
    }
    rd->dropped += rd->inflight_lost; /* the batch is given up: those lines are gone */
    rd->inflight_lost = 0;
    rd->read_line = rd->commit_line;
    rd->live_read = rd->live_commit;
    rd->batch_src = 0;
    pthread_mutex_unlock(&w->lock);
}

void cg_wal_shutdown(struct cg_wal *w)
{
    pthread_mutex_lock(&w->lock);
    w->shutdown = 1;
    pthread_cond_broadcast(&w->data_cv);
    pthread_cond_broadcast(&w->space_cv);
    pthread_mutex_unlock(&w->lock);
}

void cg_wal_stats(struct cg_wal *w, struct cg_journal_stats *st)
{
    pthread_mutex_lock(&w->lock);
    memset(st, 0, sizeof(*st));
    st->disk = true;
    st->bytes = w->bytes;
    uint64_t oldest = w->n_segs ? SEG(w, 0)->first_line : w->next_line;
    st->lines = w->next_line - oldest;
    st->appended_lines = w->appended_lines;
    st->max_bytes = w->max_bytes;
    st->dropped_segments = w->dropped_segments;
    st->write_errors = w->write_errors;
    st->corrupt_records = w->corrupt_records;
    st->write_failing = w->write_failing;
    if (w->write_failing) {
        snprintf(st->problem, sizeof(st->problem), "buffer cannot write to %s (%s): readings are held", w->dir,
                 w->write_text);
    } else if (w->corrupt_records > 0 && cg_time_mono_ms() - w->damage_ms < DAMAGE_REPORT_MS) {
        snprintf(st->problem, sizeof(st->problem),
                 "buffer damaged: %" PRIu64 " damaged records skipped, the last in %s", w->corrupt_records,
                 w->damage_text);
    }
    pthread_mutex_unlock(&w->lock);
}

void cg_wal_reader_stats(struct cg_wal *w, unsigned reader, struct cg_journal_reader_stats *st)
{
    pthread_mutex_lock(&w->lock);
    struct wreader *rd = &w->readers[reader];
    memset(st, 0, sizeof(*st));
    st->unread_lines = w->next_line - rd->commit_line;
    if (rd->live) {
        st->unread_lines = (rd->split - rd->commit_line) + (w->next_line - rd->live_commit);
    }
    st->committed_lines = rd->commit_line; /* absolute: includes earlier runs */
    st->dropped_lines = rd->dropped;
    size_t first = seg_index_for_line(w, rd->commit_line);
    for (size_t i = first; i < w->n_segs; i++) {
        st->unread_bytes += SEG(w, i)->size; /* whole segments: an estimate */
    }
    if (st->unread_lines > 0) {
        /* Exact when known from the last commit; otherwise the first record of
         * the segment holding the commit position: never younger than the
         * truth, and no scan of the log under the lock (this runs for every
         * /metrics request). */
        st->oldest_unread_ns = rd->commit_ns;
        for (size_t i = first; st->oldest_unread_ns == 0 && i < w->n_segs; i++) {
            const struct seg *s = SEG(w, i);
            if (s->size > 0) {
                st->oldest_unread_ns = s->oldest_ns;
            }
        }
    }
    pthread_mutex_unlock(&w->lock);
}

void cg_wal_tick(struct cg_wal *w)
{
    /* The interval sync: skipped this tick if an append holds the writer
     * (it syncs itself when due), so the main loop never waits for a disk. */
    if (w->fsync == CG_JOURNAL_FSYNC_INTERVAL && pthread_mutex_trylock(&w->append_lock) == 0) {
        if (w->wdirty && cg_time_mono_ms() - w->last_sync_ms >= w->fsync_interval_ms) {
            int rc = sync_data(w);
            pthread_mutex_lock(&w->lock);
            if (rc < 0) {
                write_error(w, rc, "fdatasync");
            }
            pthread_mutex_unlock(&w->lock);
        }
        pthread_mutex_unlock(&w->append_lock);
    }
    for (unsigned r = 0; r < w->n_readers; r++) {
        persist_pos(w, r, w->fsync != CG_JOURNAL_FSYNC_NEVER, 0);
    }
    pthread_mutex_lock(&w->lock);
    budget(w, 0);
    gc(w);
    pthread_mutex_unlock(&w->lock);
}

void cg_wal_flush(struct cg_wal *w)
{
    pthread_mutex_lock(&w->append_lock);
    w->wdirty = 1;
    int rc = sync_data(w);
    pthread_mutex_unlock(&w->append_lock);
    if (rc < 0) {
        pthread_mutex_lock(&w->lock);
        write_error(w, rc, "fdatasync");
        pthread_mutex_unlock(&w->lock);
    }
    for (unsigned r = 0; r < w->n_readers; r++) {
        persist_pos(w, r, 1, 1);
    }
}
