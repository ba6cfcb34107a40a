/* citygate — one growable-array helper (after curl's dynbuf: every growable
 * array has a hard maximum, and the size arithmetic is overflow-checked). */
#ifndef CITYGATE_ARRAY_H
#define CITYGATE_ARRAY_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define CG_ARRAY_MIN_ELEMS 4 /* first allocation: no more than the smallest start it replaced (share.c fields) */

/* Makes room for `need` elements of `elem_size` bytes in the heap array *p of
 * capacity *cap (elements; *p may be NULL with *cap 0). The capacity doubles
 * (at least CG_ARRAY_MIN_ELEMS, at most max_elems) so appends cost amortised
 * O(1). Returns 0 (also when it already fits), -E2BIG when need > max_elems,
 * -ENOMEM when the bytes overflow size_t or realloc fails; on failure *p and
 * *cap are untouched and the caller still owns *p. New elements are
 * uninitialised. */
static inline int cg_array_grow(void **p, size_t *cap, size_t need, size_t elem_size, size_t max_elems)
{
    if (need <= *cap) {
        return 0;
    }
    if (need > max_elems) {
        return -E2BIG;
    }
    if (elem_size == 0 || max_elems > SIZE_MAX / elem_size) {
        /* clamp the maximum to what size_t can address: need is checked against it below */
        max_elems = elem_size == 0 ? 0 : SIZE_MAX / elem_size;
        if (need > max_elems) {
            return -ENOMEM;
        }
    }
    size_t n = *cap < CG_ARRAY_MIN_ELEMS ? CG_ARRAY_MIN_ELEMS : *cap;
    while (n < need && n <= max_elems / 2) {
        n *= 2;
    }
    if (n < need || n > max_elems) {
        n = max_elems;
    }
    void *a = realloc(*p, n * elem_size);
    if (a == NULL) {
        return -ENOMEM;
    }
    *p = a;
    *cap = n;
    return 0;
}

#endif
