/* citygate — the journal's storage backends (private to journal*.c).
 *
 * journal.c keeps the public API (journal.h) and dispatches every call
 * through one const table, as libmodbus does for TCP and RTU: memory
 * (journal_mem.c, chunks in RAM) or disk (journal_disk.c, onto wal.c).
 * The journal owns the backend state `be` and frees it through ->free. */
#ifndef CG_JOURNAL_BACKEND_H
#define CG_JOURNAL_BACKEND_H

#include "journal.h"

struct journal_backend_ops {
    const char *name; /* "memory" or "disk" */
    void (*free)(void *be); /* accepts NULL */
    int (*append)(void *be, const char *lines, size_t len, uint32_t n_lines, int timeout_ms);
    long (*wait)(void *be, unsigned reader, size_t min_lines, int timeout_ms);
    long (*read)(void *be, unsigned reader, struct cg_buf *out, size_t max_lines, size_t max_bytes);
    void (*commit)(void *be, unsigned reader);
    void (*rewind)(void *be, unsigned reader);
    void (*shutdown)(void *be);
    void (*stats)(void *be, struct cg_journal_stats *st);
    void (*reader_stats)(void *be, unsigned reader, struct cg_journal_reader_stats *st);
    /* Optional (NULL: nothing to do for this backend). */
    void (*reader_in_order)(void *be, unsigned reader); /* memory is always in order */
    void (*tick)(void *be);
    void (*flush)(void *be);
};

extern const struct journal_backend_ops cg_journal_mem_ops;
extern const struct journal_backend_ops cg_journal_disk_ops;

/* Backend constructors; NULL on failure (disk: err says why). */
void *cg_journal_mem_new(size_t max_bytes, unsigned n_readers);
void *cg_journal_disk_open(const struct cg_journal_opts *o, struct cg_journal_recovery *rec, char *err,
                           size_t errlen);

#endif
