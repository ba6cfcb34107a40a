/* citygate — the journal's disk backend: thin adapters from the backend table
 * (journal_backend.h) onto the write-ahead log in wal.c. */
#include "journal_backend.h"

#include "wal.h"

void *cg_journal_disk_open(const struct cg_journal_opts *o, struct cg_journal_recovery *rec, char *err,
                           size_t errlen)
{
    return cg_wal_open(o, rec, err, errlen);
}

static void disk_free(void *be)
{
    cg_wal_free(be);
}

static int disk_append(void *be, const char *lines, size_t len, uint32_t n_lines, int timeout_ms)
{
    return cg_wal_append(be, lines, len, n_lines, timeout_ms);
}

static long disk_wait(void *be, unsigned reader, size_t min_lines, int timeout_ms)
{
    return cg_wal_wait(be, reader, min_lines, timeout_ms);
}

static long disk_read(void *be, unsigned reader, struct cg_buf *out, size_t max_lines, size_t max_bytes)
{
    return cg_wal_read(be, reader, out, max_lines, max_bytes);
}

static void disk_commit(void *be, unsigned reader)
{
    cg_wal_commit(be, reader);
}

static void disk_rewind(void *be, unsigned reader)
{
    cg_wal_rewind(be, reader);
}

static void disk_shutdown(void *be)
{
    cg_wal_shutdown(be);
}

static void disk_stats(void *be, struct cg_journal_stats *st)
{
    cg_wal_stats(be, st);
}

static void disk_reader_stats(void *be, unsigned reader, struct cg_journal_reader_stats *st)
{
    cg_wal_reader_stats(be, reader, st);
}

static void disk_reader_in_order(void *be, unsigned reader)
{
    cg_wal_reader_in_order(be, reader);
}

static void disk_tick(void *be)
{
    cg_wal_tick(be);
}

static void disk_flush(void *be)
{
    cg_wal_flush(be);
}

const struct journal_backend_ops cg_journal_disk_ops = {
    .name = "disk",
    .free = disk_free,
    .append = disk_append,
    .wait = disk_wait,
    .read = disk_read,
    .commit = disk_commit,
    .rewind = disk_rewind,
    .shutdown = disk_shutdown,
    .stats = disk_stats,
    .reader_stats = disk_reader_stats,
    .reader_in_order = disk_reader_in_order,
    .tick = disk_tick,
    .flush = disk_flush,
};
