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
 * static reason (out unchanged), or -ENOBUFS / -ENOMEM from the buffer.
 * Stack use: about 9 KiB (per-tag and per-field scan results). */
int cg_lp_encode(struct cg_buf *out, const struct cg_point *p, const struct cg_lp_opts *opts,
                 struct cg_lp_counters *cnt, const char **why);

/* Series keys, for callers that send the same series again and again (a
 * device's poll, an MQTT topic): the escaped measurement and sorted tags
 * ("air,site=s1"), i.e. the part of the line before the first space, computed
 * once per series instead of once per point.
 *
 * cg_lp_series_key appends p's key to key (NUL-terminated, like every cg_buf).
 * It checks the measurement and tags exactly as cg_lp_encode does and returns
 * -EINVAL with the same *why when they are refused (counting nothing: call
 * cg_lp_encode for such a point to get it counted with its exact reason), or a
 * buffer error. The key depends on the measurement, the tags (keys and values)
 * and opts->static_tags, nothing else; it stays valid while those do not change.
 *
 * cg_lp_encode_with_key appends the line for p using key[0..key_len) (from
 * cg_lp_series_key for the same measurement, tags and static tags: p's own
 * measurement and tags are not looked at). The bytes are exactly those
 * cg_lp_encode writes, and fields are checked and counted the same way.
 * Returns 0, -EINVAL with *why (out unchanged), or -ENOBUFS when the line does
 * not fit out->max / -ENOMEM.
 *
 * Intended use (gateway/sink.c or an adapter): keep, per series (for example in
 * the normaliser's per-series state or a device's poll plan), the key buffer
 * and a generation number of the static tags; on a miss or a changed
 * generation call cg_lp_series_key; then encode each point with
 * cg_lp_encode_with_key. bench/lineproto_bench.c measures both paths. */
int cg_lp_series_key(struct cg_buf *key, const struct cg_point *p, const struct cg_lp_opts *opts, const char **why);
int cg_lp_encode_with_key(struct cg_buf *out, const char *key, size_t key_len, const struct cg_point *p,
                          const struct cg_lp_opts *opts, struct cg_lp_counters *cnt, const char **why);

/* Shortest decimal text that reads back as the same double ("%.15g".."%.17g").
 * buf must hold 32 bytes. Returns the length. */
int cg_lp_format_double(char *buf, double v);

/* Rewrites the trailing nanosecond timestamp of each line in in[0..len) to the
 * given precision ("ns","us","ms","s"), appending to out. Lines without a
 * timestamp are copied. 0 or a buffer error. */
int cg_lp_rescale_time(struct cg_buf *out, const char *in, size_t len, int64_t divisor);

#endif
