/* citygate — growable byte buffer with a hard maximum (curl's dynbuf idea).
 * Every buffer has a limit; going past it is an error the caller counts. */
#ifndef CG_BUF_H
#define CG_BUF_H

#include <stddef.h>

struct cg_buf {
    char *data; /* NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
};

void cg_buf_init(struct cg_buf *b, size_t max);
/* 0, -ENOBUFS (would pass max; nothing appended) or -ENOMEM. */
int cg_buf_append(struct cg_buf *b, const void *p, size_t n);
int cg_buf_putc(struct cg_buf *b, char c);
int cg_buf_printf(struct cg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes; 0 / -ENOBUFS / -ENOMEM. */
int cg_buf_reserve(struct cg_buf *b, size_t n);
void cg_buf_truncate(struct cg_buf *b, size_t len); /* len <= b->len */
void cg_buf_reset(struct cg_buf *b);                /* len = 0, keeps memory */
void cg_buf_done(struct cg_buf *b);                 /* frees; NULL-safe */

#endif
