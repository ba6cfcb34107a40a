/* citygate modbus — request planning. Pure: see plan.h. */
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_idx(const void *a, const void *b, void *ctx)
{
    const struct cg_mb_span *spans = ctx;
    const struct cg_mb_span *x = &spans[*(const size_t *)a];
    const struct cg_mb_span *y = &spans[*(const size_t *)b];
    if (x->group != y->group) {
        return x->group < y->group ? -1 : 1;
    }
    if (x->table != y->table) {
        return x->table < y->table ? -1 : 1;
    }
    if (x->address != y->address) {
        return x->address < y->address ? -1 : 1;
    }
    if (x->count != y->count) {
        return x->count < y->count ? -1 : 1;
    }
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static bool forbidden_in(const struct cg_mb_forbid *f, size_t nf, enum cg_mb_table t, uint32_t from,
                         uint32_t to_excl)
{
    for (size_t i = 0; i < nf; i++) {
        if (f[i].table == t && f[i].from < to_excl && f[i].to >= from) {
            return true;
        }
    }
    return false;
}

void cg_mb_plan_done(struct cg_mb_plan *p)
{
    if (!p) {
        return;
    }
    free(p->req);
    free(p->req_of);
    memset(p, 0, sizeof *p);
}

int cg_mb_plan_build(const struct cg_mb_span *spans, size_t n, const struct cg_mb_forbid *forbid,
                     size_t n_forbid, const struct cg_mb_plan_limits *lim, struct cg_mb_plan *out,
                     size_t *bad_span)
{
    struct cg_mb_plan p = {0};
    size_t *order = NULL;
    int rc = 0;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const struct cg_mb_span *s = &spans[i];
        bool bits = cg_mb_table_is_bits(s->table);
        unsigned max = bits ? lim->max_bits : lim->max_regs;
        if (s->count == 0 || s->address >= CG_MB_ADDR_SPACE || s->count > CG_MB_ADDR_SPACE - s->address) {
            rc = -ERANGE;
        } else if (s->count > max) {
            rc = -E2BIG;
        } else if (forbidden_in(forbid, n_forbid, s->table, s->address, s->address + s->count)) {
            rc = -EPERM;
        }
        if (rc < 0) {
            if (bad_span) {
                *bad_span = i;
            }
            return rc;
        }
    }
    if (n == 0) {
        return 0;
    }
    order = malloc(n * sizeof *order);
    p.req = malloc(n * sizeof *p.req); /* never more requests than spans */
    p.req_of = malloc(n * sizeof *p.req_of);
    if (!order || !p.req || !p.req_of) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    qsort_r(order, n, sizeof *order, cmp_idx, (void *)spans);

    struct cg_mb_request *cur = NULL;
    uint32_t covered_to = 0; /* end of the union of spans in the current table, for units_wanted */
    enum cg_mb_table covered_table = CG_MB_COIL;
    unsigned covered_group = 0;
    for (size_t k = 0; k < n; k++) {
        const struct cg_mb_span *s = &spans[order[k]];
        uint32_t s_end = s->address + s->count;
        bool bits = cg_mb_table_is_bits(s->table);
        unsigned max = bits ? lim->max_bits : lim->max_regs;
        unsigned max_gap = bits ? lim->max_gap_bits : lim->max_gap_regs;
        bool join = false;

        if (cur && cur->table == s->table && cur->group == s->group) {
            uint32_t end = cur->address + cur->count;
            uint32_t new_end = s_end > end ? s_end : end;
            if (lim->one_per_field) {
                /* identical footprints (bits of one status register) still share a read */
                join = s->address == cur->address && s->count == cur->count;
            } else if (new_end - cur->address <= max) {
                if (s->address <= end) {
                    join = true;
                } else {
                    join = s->address - end <= max_gap &&
                           !forbidden_in(forbid, n_forbid, s->table, end, s->address);
                }
            }
            if (join) {
                cur->count = new_end - cur->address;
            }
        }
        if (!join) {
            cur = &p.req[p.n_req++];
            *cur = (struct cg_mb_request){
                .table = s->table, .address = s->address, .count = s->count, .group = s->group};
        }
        p.req_of[order[k]] = p.n_req - 1;

        if (k == 0 || covered_table != s->table || covered_group != s->group || s->address >= covered_to) {
            p.units_wanted += s->count;
            covered_to = s_end;
        } else if (s_end > covered_to) {
            p.units_wanted += s_end - covered_to;
            covered_to = s_end;
        }
        covered_table = s->table;
        covered_group = s->group;
    }
    for (size_t i = 0; i < p.n_req; i++) {
        p.units_read += p.req[i].count;
    }
    free(order);
    *out = p;
    return 0;
fail:
    free(order);
    cg_mb_plan_done(&p);
    return rc;
}
