/* citygate — the journal (see journal.h): the public API, dispatching each
 * call to the backend chosen at open, memory (journal_mem.c) or disk
 * (journal_disk.c onto wal.c), through one const table. */
#include "journal.h"

#include "journal_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cg_journal {
    const struct journal_backend_ops *ops;
    void *be; /* owned; freed through ops->free */
};

/* Takes ownership of be (freed on failure). */
static struct cg_journal *wrap(const struct journal_backend_ops *ops, void *be)
{
    if (be == NULL) {
        return NULL;
    }
    struct cg_journal *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        ops->free(be);
        return NULL;
    }
    j->ops = ops;
    j->be = be;
    return j;
}

struct cg_journal *cg_journal_new(size_t max_bytes, unsigned n_readers)
{
    return wrap(&cg_journal_mem_ops, cg_journal_mem_new(max_bytes, n_readers));
}

struct cg_journal *cg_journal_open(const struct cg_journal_opts *o, struct cg_journal_recovery *rec, char *err,
                                   size_t errlen)
{
    if (o->dir == NULL) {
        struct cg_journal *j = cg_journal_new(o->max_bytes, o->n_readers);
        if (j == NULL) {
            snprintf(err, errlen, "out of memory or bad options");
        }
        if (rec != NULL) {
            memset(rec, 0, sizeof(*rec));
        }
        return j;
    }
    void *be = cg_journal_disk_open(o, rec, err, errlen);
    if (be == NULL) {
        return NULL;
    }
    struct cg_journal *j = wrap(&cg_journal_disk_ops, be);
    if (j == NULL) {
        snprintf(err, errlen, "out of memory");
    }
    return j;
}

void cg_journal_free(struct cg_journal *j)
{
    if (j == NULL) {
        return;
    }
    j->ops->free(j->be);
    free(j);
}

int cg_journal_append(struct cg_journal *j, const char *lines, size_t len, uint32_t n_lines, int timeout_ms)
{
    return j->ops->append(j->be, lines, len, n_lines, timeout_ms);
}

long cg_journal_wait(struct cg_journal *j, unsigned reader, size_t min_lines, int timeout_ms)
{
    return j->ops->wait(j->be, reader, min_lines, timeout_ms);
}

long cg_journal_read(struct cg_journal *j, unsigned reader, struct cg_buf *out, size_t max_lines, size_t max_bytes)
{
    return j->ops->read(j->be, reader, out, max_lines, max_bytes);
}

void cg_journal_commit(struct cg_journal *j, unsigned reader)
{
    j->ops->commit(j->be, reader);
}

void cg_journal_reader_in_order(struct cg_journal *j, unsigned reader)
{
    if (j->ops->reader_in_order != NULL) {
        j->ops->reader_in_order(j->be, reader);
    }
}

void cg_journal_rewind(struct cg_journal *j, unsigned reader)
{
    j->ops->rewind(j->be, reader);
}

void cg_journal_shutdown(struct cg_journal *j)
{
    j->ops->shutdown(j->be);
}

void cg_journal_stats(struct cg_journal *j, struct cg_journal_stats *st)
{
    j->ops->stats(j->be, st);
}

void cg_journal_reader_stats(struct cg_journal *j, unsigned reader, struct cg_journal_reader_stats *st)
{
    j->ops->reader_stats(j->be, reader, st);
}

void cg_journal_tick(struct cg_journal *j)
{
    if (j->ops->tick != NULL) {
        j->ops->tick(j->be);
    }
}

void cg_journal_flush(struct cg_journal *j)
{
    if (j->ops->flush != NULL) {
        j->ops->flush(j->be);
    }
}
