/* citygate — InfluxDB line protocol encoder. Pure: bytes out, no logging.
 *
 * Rules (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/):
 *  - measurement: escape comma and space; tag keys/values and field keys: escape
 *    comma, equals sign and space; string field values: escape " and \.
 *  - tags sorted by key (byte order), empty tag values omitted; a point tag
 *    overrides a static tag of the same key.
 *  - int fields get `i`; uint fields get `u` when write_uint is on, else they are
 *    written as `i` (values above INT64_MAX clipped and counted).
 *  - NaN/+-Inf float fields are skipped and counted; a point with no writable
 *    field is rejected.
 *  - rejected (never silently mangled): empty names, names starting with `_`,
 *    newlines in names, tag values or string fields, a backslash that would
 *    escape a delimiter (at the end or before , = space), over-long names.
 * Output is one line terminated by '\n', timestamp in nanoseconds. */
#ifndef CG_LINEPROTO_H
#define CG_LINEPROTO_H

#include "buf.h"
#include <citygate/point.h>
#include <stdbool.h>
#include <stdint.h>

struct cg_lp_opts {
    const struct cg_tag *static_tags; /* added to every point; may be NULL */
    size_t n_static_tags;
    bool write_uint;
};

struct cg_lp_counters {
    uint64_t points;         /* lines written */
    uint64_t rejected;       /* points rejected */
    uint64_t fields_nonfinite; /* NaN/Inf fields skipped */
    uint64_t uint_clipped;   /* uints above INT64_MAX written as INT64_MAX */
};

/* Appends one line for p to out. Returns 0, or -EINVAL with *why set to a
 * static reason (out unchanged), or -ENOBUFS / -ENOMEM from the buffer. */
int cg_lp_encode(struct cg_buf *out, const struct cg_point *p, const struct cg_lp_opts *opts,
                 struct cg_lp_counters *cnt, const char **why);

/* Shortest decimal text that reads back as the same double ("%.15g".."%.17g").
 * buf must hold 32 bytes. Returns the length. */
int cg_lp_format_double(char *buf, double v);

/* Rewrites the trailing nanosecond timestamp of each line in in[0..len) to the
 * given precision ("ns","us","ms","s"), appending to out. Lines without a
 * timestamp are copied. 0 or a buffer error. */
int cg_lp_rescale_time(struct cg_buf *out, const char *in, size_t len, int64_t divisor);

#endif
