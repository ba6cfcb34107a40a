/* citygate modbus — request planning: the fewest reads that cover a device's
 * registers. Pure code: no I/O, no logging.
 *
 * Registers of one poll group and table are sorted by address and merged greedily: the next
 * register joins the current read when the read stays within the limit
 * (125 registers / 2000 bits by the protocol, less if the device says so) and
 * the hole it bridges is at most max_gap and holds no forbidden address.
 * For sorted spans with these two constraints, extending as far as possible
 * is optimal: a read can only end where one of them forces it to. */
#ifndef CG_MODBUS_PLAN_H
#define CG_MODBUS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"

#define CG_MB_MAX_READ_REGS 125  /* Modbus Application Protocol 1.1b3, 6.3/6.4 */
#define CG_MB_MAX_READ_BITS 2000 /* 6.1/6.2 */
#define CG_MB_ADDR_SPACE 65536u

/* The footprint of one field: protocol (0-based) address and count. */
struct cg_mb_span {
    enum cg_mb_table table;
    uint32_t address;
    uint32_t count;
    unsigned group; /* poll group: reads never merge across groups */
};

/* Addresses the device must never be asked for, inclusive. */
struct cg_mb_forbid {
    enum cg_mb_table table;
    uint32_t from, to;
};

struct cg_mb_plan_limits {
    unsigned max_regs;     /* 1..125 */
    unsigned max_bits;     /* 1..2000 */
    unsigned max_gap_regs; /* largest hole bridged in a register read */
    unsigned max_gap_bits; /* same for coils / discrete inputs */
    bool one_per_field;    /* device quirk: each field is its own read */
};

struct cg_mb_request {
    enum cg_mb_table table;
    uint32_t address;
    uint32_t count;
    unsigned group; /* the poll group whose interval this read follows */
};

struct cg_mb_plan {
    struct cg_mb_request *req; /* owned */
    size_t n_req;
    size_t *req_of;            /* owned; per span: index of the request that reads it */
    size_t units_read;         /* registers/bits read, holes included */
    size_t units_wanted;       /* registers/bits the spans cover */
};

/* Builds the plan. Errors (bad_span, when not NULL, gets the span's index):
 *   -ERANGE  a span runs past address 65535, or has count 0
 *   -E2BIG   a span is longer than one read may be
 *   -EPERM   a span covers a forbidden address
 *   -ENOMEM
 * On failure out is left zeroed. */
int cg_mb_plan_build(const struct cg_mb_span *spans, size_t n, const struct cg_mb_forbid *forbid,
                     size_t n_forbid, const struct cg_mb_plan_limits *lim, struct cg_mb_plan *out,
                     size_t *bad_span);
void cg_mb_plan_done(struct cg_mb_plan *p); /* NULL-safe, leaves p zeroed */

#endif
