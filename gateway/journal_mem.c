/* citygate — the journal's memory backend: chunks in RAM, one position per
 * reader (semantics in journal.h; journal.c dispatches here without a dir).
 *
 * Chunks form a FIFO ring indexed by sequence number. Positions are kept as
 * (chunk seq, byte offset, absolute line number), so counting what a reader has
 * not taken is a subtraction, and dropping the oldest chunk only moves the
 * positions that still pointed into it. */
#include "journal_backend.h"

#include "deadline.h"

#include <citygate/point.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct chunk {
    uint64_t seq;
    uint64_t first_line; /* absolute number of the chunk's first line */
    uint32_t n_lines;
    size_t len;
    int64_t append_ns;
    char data[];
};

struct pos {
    uint64_t seq;
    size_t off;
    uint64_t line; /* absolute line number of the next line */
};

struct reader {
    struct pos read;
    struct pos commit;
    uint64_t dropped_lines;
    uint64_t inflight_lost; /* read but dropped: delivered on commit, lost on rewind */
};

struct jmem {
    pthread_mutex_t lock;
    pthread_cond_t data_cv;  /* something appended, or shutdown */
    uint64_t wake_at_line;   /* see wal.c: wake waiters only when one can be satisfied */
    unsigned waiters;
    pthread_cond_t space_cv; /* something freed, or shutdown */
    struct chunk **ring;
    size_t ring_cap;
    size_t ring_head; /* index of the oldest chunk */
    size_t n_chunks;
    uint64_t head_seq; /* seq of the oldest chunk (or of the next one when empty) */
    uint64_t next_line;
    size_t bytes;
    uint64_t lines;
    size_t max_bytes;
    uint64_t appended_lines;
    uint64_t refused;
    unsigned n_readers;
    struct reader readers[CG_JOURNAL_MAX_READERS];
    int shutdown;
};

static struct chunk *chunk_at(struct jmem *j, uint64_t seq)
{
    if (seq < j->head_seq || seq >= j->head_seq + j->n_chunks) {
        return NULL;
    }
    return j->ring[(j->ring_head + (seq - j->head_seq)) % j->ring_cap];
}

void *cg_journal_mem_new(size_t max_bytes, unsigned n_readers)
{
    if (n_readers == 0 || n_readers > CG_JOURNAL_MAX_READERS || max_bytes == 0) {
        return NULL;
    }
    struct jmem *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->data_cv, &ca);
    pthread_cond_init(&j->space_cv, &ca);
    pthread_condattr_destroy(&ca);
    j->max_bytes = max_bytes;
    j->n_readers = n_readers;
    return j;
}

static void mem_free(void *be)
{
    struct jmem *j = be;
    if (j == NULL) {
        return;
    }
    for (size_t i = 0; i < j->n_chunks; i++) {
        free(j->ring[(j->ring_head + i) % j->ring_cap]);
    }
    free(j->ring);
    pthread_cond_destroy(&j->data_cv);
    pthread_cond_destroy(&j->space_cv);
    pthread_mutex_destroy(&j->lock);
    free(j);
}


static void pop_head(struct jmem *j)
{
    struct chunk *c = j->ring[j->ring_head];
    j->bytes -= c->len;
    j->lines -= c->n_lines;
    j->ring[j->ring_head] = NULL;
    j->ring_head = (j->ring_head + 1) % j->ring_cap;
    j->n_chunks--;
    j->head_seq++;
    free(c);
}

/* Frees chunks every reader has committed past. */
static int gc(struct jmem *j)
{
    int freed = 0;
    while (j->n_chunks > 0) {
        struct chunk *c = j->ring[j->ring_head];
        uint64_t end = c->first_line + c->n_lines;
        for (unsigned r = 0; r < j->n_readers; r++) {
            if (j->readers[r].commit.line < end) {
                return freed;
            }
        }
        pop_head(j);
        freed = 1;
    }
    return freed;
}

static void move_past(struct pos *p, const struct chunk *c)
{
    p->seq = c->seq + 1;
    p->off = 0;
    p->line = c->first_line + c->n_lines;
}

/* Drops the oldest chunk if at least one reader has consumed it: the laggards
 * lose it (counted), the reader that keeps up is never starved by them. */
static int drop_oldest(struct jmem *j)
{
    if (j->n_chunks == 0) {
        return 0;
    }
    struct chunk *c = j->ring[j->ring_head];
    uint64_t end = c->first_line + c->n_lines;
    int consumed = 0;
    for (unsigned r = 0; r < j->n_readers; r++) {
        if (j->readers[r].commit.line >= end) {
            consumed = 1;
        }
    }
    if (!consumed) {
        return 0;
    }
    for (unsigned r = 0; r < j->n_readers; r++) {
        struct reader *rd = &j->readers[r];
        if (rd->commit.line < end) {
            uint64_t read_end = rd->read.line < end ? rd->read.line : end;
            if (read_end > rd->commit.line) {
                rd->inflight_lost += read_end - rd->commit.line;
            }
            rd->dropped_lines += end - (read_end > rd->commit.line ? read_end : rd->commit.line);
            move_past(&rd->commit, c);
        }
        if (rd->read.line < end) {
            move_past(&rd->read, c);
        }
    }
    pop_head(j);
    return 1;
}

static int ring_push(struct jmem *j, struct chunk *c)
{
    if (j->n_chunks == j->ring_cap) {
        size_t cap = j->ring_cap ? j->ring_cap * 2 : 64;
        struct chunk **r = malloc(cap * sizeof(*r));
        if (r == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < j->n_chunks; i++) {
            r[i] = j->ring[(j->ring_head + i) % j->ring_cap];
        }
        free(j->ring);
        j->ring = r;
        j->ring_cap = cap;
        j->ring_head = 0;
    }
    j->ring[(j->ring_head + j->n_chunks) % j->ring_cap] = c;
    j->n_chunks++;
    return 0;
}

static int mem_append(void *be, const char *lines, size_t len, uint32_t n_lines, int timeout_ms)
{
    struct jmem *j = be;
    if (len == 0 || n_lines == 0) {
        return 0;
    }
    if (len > j->max_bytes) {
        return -EMSGSIZE;
    }
    /* Copy outside the lock: producers only contend for the ring itself. */
    struct chunk *c = malloc(sizeof(*c) + len);
    if (c == NULL) {
        return -ENOMEM;
    }
    memcpy(c->data, lines, len);
    c->len = len;
    c->n_lines = n_lines;
    c->append_ns = cg_time_now_ns();

    struct timespec deadline;
    if (timeout_ms > 0) {
        cg_deadline_after_ms(&deadline, timeout_ms);
    }
    int rc = 0;
    pthread_mutex_lock(&j->lock);
    while (!j->shutdown && j->bytes + len > j->max_bytes) {
        if (gc(j) || drop_oldest(j)) {
            continue;
        }
        if (timeout_ms == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&j->space_cv, &j->lock);
        } else if (pthread_cond_timedwait(&j->space_cv, &j->lock, &deadline) == ETIMEDOUT) {
            if (j->bytes + len > j->max_bytes && !gc(j) && !drop_oldest(j)) {
                rc = -ETIMEDOUT;
                break;
            }
        }
    }
    if (rc == 0 && j->shutdown) {
        rc = -ESHUTDOWN;
    }
    if (rc == 0) {
        c->seq = j->head_seq + j->n_chunks;
        c->first_line = j->next_line;
        if ((rc = ring_push(j, c)) == 0) {
            j->next_line += n_lines;
            j->bytes += len;
            j->lines += n_lines;
            j->appended_lines += n_lines;
            c = NULL;
            if (j->waiters > 0 && j->next_line >= j->wake_at_line) {
                j->wake_at_line = UINT64_MAX;
                pthread_cond_broadcast(&j->data_cv);
            }
        }
    } else if (rc == -ETIMEDOUT) {
        j->refused++;
    }
    pthread_mutex_unlock(&j->lock);
    free(c);
    return rc;
}

static long mem_wait(void *be, unsigned reader, size_t min_lines, int timeout_ms)
{
    struct jmem *j = be;
    struct timespec deadline;
    if (timeout_ms > 0) {
        cg_deadline_after_ms(&deadline, timeout_ms);
    }
    pthread_mutex_lock(&j->lock);
    struct reader *rd = &j->readers[reader];
    for (;;) {
        uint64_t unread = j->next_line - rd->read.line;
        if (unread >= min_lines || (j->shutdown && unread > 0)) {
            pthread_mutex_unlock(&j->lock);
            return (long)unread;
        }
        if (j->shutdown) {
            pthread_mutex_unlock(&j->lock);
            return -ESHUTDOWN;
        }
        if (timeout_ms == 0) {
            pthread_mutex_unlock(&j->lock);
            return (long)unread;
        }
        uint64_t need = min_lines - unread; /* unread < min_lines here */
        uint64_t at = j->next_line + need < j->next_line ? UINT64_MAX : j->next_line + need;
        if (at < j->wake_at_line || j->waiters == 0) {
            j->wake_at_line = at;
        }
        j->waiters++;
        int tw = 0;
        if (timeout_ms < 0) {
            pthread_cond_wait(&j->data_cv, &j->lock);
        } else {
            tw = pthread_cond_timedwait(&j->data_cv, &j->lock, &deadline);
        }
        j->waiters--;
        if (tw == ETIMEDOUT) {
            unread = j->next_line - rd->read.line;
            pthread_mutex_unlock(&j->lock);
            return (long)unread;
        }
    }
}

static long mem_read(void *be, unsigned reader, struct cg_buf *out, size_t max_lines, size_t max_bytes)
{
    struct jmem *j = be;
    long taken = 0;
    size_t bytes = 0;
    pthread_mutex_lock(&j->lock);
    struct reader *rd = &j->readers[reader];
    while ((size_t)taken < max_lines) {
        struct chunk *c = chunk_at(j, rd->read.seq);
        if (c == NULL) {
            break;
        }
        const char *p = c->data + rd->read.off;
        const char *nl = memchr(p, '\n', c->len - rd->read.off);
        size_t l = nl ? (size_t)(nl - p) + 1 : c->len - rd->read.off;
        if (taken > 0 && bytes + l > max_bytes) {
            break;
        }
        if (cg_buf_append(out, p, l) < 0) {
            break; /* the caller's buffer is full: stop here, nothing lost */
        }
        bytes += l;
        taken++;
        rd->read.off += l;
        rd->read.line++;
        if (rd->read.off >= c->len) {
            move_past(&rd->read, c);
        }
    }
    pthread_mutex_unlock(&j->lock);
    return taken;
}

static void mem_commit(void *be, unsigned reader)
{
    struct jmem *j = be;
    pthread_mutex_lock(&j->lock);
    struct reader *rd = &j->readers[reader];
    rd->inflight_lost = 0;
    if (rd->read.line > rd->commit.line) {
        rd->commit = rd->read;
    }
    if (gc(j)) {
        pthread_cond_broadcast(&j->space_cv);
    }
    /* A commit can also make an older chunk droppable for a blocked producer. */
    pthread_cond_broadcast(&j->space_cv);
    pthread_mutex_unlock(&j->lock);
}

static void mem_rewind(void *be, unsigned reader)
{
    struct jmem *j = be;
    pthread_mutex_lock(&j->lock);
    struct reader *rd = &j->readers[reader];
    rd->dropped_lines += rd->inflight_lost;
    rd->inflight_lost = 0;
    rd->read = rd->commit;
    pthread_mutex_unlock(&j->lock);
}

static void mem_shutdown(void *be)
{
    struct jmem *j = be;
    pthread_mutex_lock(&j->lock);
    j->shutdown = 1;
    pthread_cond_broadcast(&j->data_cv);
    pthread_cond_broadcast(&j->space_cv);
    pthread_mutex_unlock(&j->lock);
}

static void mem_stats(void *be, struct cg_journal_stats *st)
{
    struct jmem *j = be;
    pthread_mutex_lock(&j->lock);
    memset(st, 0, sizeof(*st));
    st->bytes = j->bytes;
    st->lines = j->lines;
    st->appended_lines = j->appended_lines;
    st->refused = j->refused;
    st->max_bytes = j->max_bytes;
    pthread_mutex_unlock(&j->lock);
}

static void mem_reader_stats(void *be, unsigned reader, struct cg_journal_reader_stats *st)
{
    struct jmem *j = be;
    pthread_mutex_lock(&j->lock);
    struct reader *rd = &j->readers[reader];
    st->unread_lines = j->next_line - rd->commit.line;
    st->committed_lines = rd->commit.line - rd->dropped_lines - rd->inflight_lost;
    st->dropped_lines = rd->dropped_lines;
    st->unread_bytes = 0;
    st->oldest_unread_ns = 0;
    for (uint64_t s = rd->commit.seq; s < j->head_seq + j->n_chunks; s++) {
        struct chunk *c = chunk_at(j, s);
        if (c == NULL) {
            continue;
        }
        if (st->oldest_unread_ns == 0) {
            st->oldest_unread_ns = c->append_ns;
        }
        st->unread_bytes += c->len - (s == rd->commit.seq ? rd->commit.off : 0);
    }
    pthread_mutex_unlock(&j->lock);
}

const struct journal_backend_ops cg_journal_mem_ops = {
    .name = "memory",
    .free = mem_free,
    .append = mem_append,
    .wait = mem_wait,
    .read = mem_read,
    .commit = mem_commit,
    .rewind = mem_rewind,
    .shutdown = mem_shutdown,
    .stats = mem_stats,
    .reader_stats = mem_reader_stats,
};
