/* citygate — bounded growable buffer. */
#include "buf.h"

#include <citygate/array.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cg_buf_init(struct cg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

int cg_buf_reserve(struct cg_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n) {
        return -ENOBUFS;
    }
    size_t need = b->len + n + 1; /* +1: keep room for the NUL */
    if (need <= b->cap) {
        return 0;
    }
    /* need <= max + 1 was checked above, so only -ENOMEM can come back */
    return cg_array_grow((void **)&b->data, &b->cap, need, 1, b->max + 1) < 0 ? -ENOMEM : 0;
}

int cg_buf_append(struct cg_buf *b, const void *p, size_t n)
{
    int rc = cg_buf_reserve(b, n);
    if (rc < 0) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int cg_buf_putc(struct cg_buf *b, char c)
{
    return cg_buf_append(b, &c, 1);
}

int cg_buf_printf(struct cg_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -EINVAL;
    }
    if ((size_t)n < sizeof(small)) {
        return cg_buf_append(b, small, (size_t)n);
    }
    int rc = cg_buf_reserve(b, (size_t)n);
    if (rc < 0) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void cg_buf_truncate(struct cg_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

void cg_buf_reset(struct cg_buf *b)
{
    cg_buf_truncate(b, 0);
}

void cg_buf_done(struct cg_buf *b)
{
    if (b == NULL) {
        return;
    }
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
