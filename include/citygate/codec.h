/* citygate — payload codecs (JSON, SenML, line protocol, a bare value): bytes
 * in, points out. Public: any adapter may decode with them (MQTT messages,
 * the exec adapter's stdout lines); link the citygate_codecs library.
 *
 * Pure functions: no logging, no globals, no I/O. Every decoder writes into a
 * struct cg_batch (points plus the strings they point to, all owned by the
 * batch) and returns 0 or a negative errno with *why set to a static reason:
 *
 *   -EINVAL   does not parse (truncated, bad syntax, wrong JSON type)
 *   -EMSGSIZE too large: nesting deeper than the limit, too many points/tags/fields
 *   -EDOM     a NaN or +-Inf number (or one that overflows to Inf)
 *   -EILSEQ   a string that is not valid UTF-8
 *   -ENODATA  parsed, but nothing to write (no field in any record)
 *   -ERANGE   a number or timestamp out of range for its type
 *   -ENOMEM   allocation failure
 *
 * On error the batch may hold partial output: the caller resets it.
 * Files: codec.c (arena, batch, JSON DOM, time), codec_json.c, codec_senml.c,
 * codec_lp.c, codec_value.c (in adapters/mqtt/, where they were born). */
#ifndef CITYGATE_CODEC_H
#define CITYGATE_CODEC_H

#include <citygate/point.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena: stable pointers, bounded total ------------------------------ */

struct cg_arena_block;
struct cg_arena {
    struct cg_arena_block *head; /* current block; older ones chained behind */
    size_t total;                /* bytes handed out since the last reset */
    size_t max;                  /* hard limit on total */
};

void cg_arena_init(struct cg_arena *a, size_t max);
/* 8-byte aligned, zeroed; NULL when max would be passed or malloc failed. */
void *cg_arena_alloc(struct cg_arena *a, size_t n);
/* Copies n bytes and a NUL. NULL as above. */
char *cg_arena_strndup(struct cg_arena *a, const char *s, size_t n);
void cg_arena_reset(struct cg_arena *a); /* keeps the first block */
void cg_arena_done(struct cg_arena *a);  /* NULL-safe */

/* ---- batch: the points one message decodes into ------------------------- */

struct cg_batch {
    struct cg_arena arena;
    struct cg_point *points;
    size_t n_points, cap_points, max_points;
    struct cg_tag *tags;
    size_t n_tags, cap_tags;
    struct cg_field *fields;
    size_t n_fields, cap_fields;
    size_t *tag0, *field0; /* per point: first index into tags / fields */
    /* Added to every point first and never overridden by payload tags
     * (topic captures, rule tags). Borrowed; set by the caller. */
    const struct cg_tag *base_tags;
    size_t n_base_tags;
    int64_t now_ns; /* reception time: the default timestamp */
    bool open;      /* a point is being built */
    /* Payload values the codec could not store and skipped (JSON arrays and
     * nulls when every member becomes a field), for the caller to count: the
     * first CG_BATCH_SKIPPED_MAX names, the rest under the last one. */
    struct cg_batch_skip {
        const char *name; /* in the arena; "other" past the limit */
        const char *measurement;
        uint32_t n;
    } skipped[8];
    size_t n_skipped;
};
#define CG_BATCH_SKIPPED_MAX 8

/* Notes a skipped payload value "prefix_key" of the point being built. */
void cg_batch_skip(struct cg_batch *b, const char *prefix, size_t plen, const char *key, size_t klen);

/* max_points: per message; arena_max: bytes of decoded strings per message. */
void cg_batch_init(struct cg_batch *b, size_t max_points, size_t arena_max);
void cg_batch_reset(struct cg_batch *b);
void cg_batch_done(struct cg_batch *b); /* NULL-safe */

/* Starts a point. measurement is copied unless it is NULL-terminated static
 * config text the caller keeps alive (pass copy=false). */
int cg_batch_begin(struct cg_batch *b, const char *measurement, size_t len, bool copy,
                   int64_t time_ns);
/* Adds a tag (both strings copied, UTF-8 checked). A key already present on
 * the point (a base tag, or an earlier payload tag) wins: the new one is
 * ignored. Empty values are ignored. */
int cg_batch_tag(struct cg_batch *b, const char *key, size_t klen, const char *val, size_t vlen);
int cg_batch_field_f(struct cg_batch *b, const char *key, size_t klen, double v);
int cg_batch_field_i(struct cg_batch *b, const char *key, size_t klen, int64_t v);
int cg_batch_field_u(struct cg_batch *b, const char *key, size_t klen, uint64_t v);
int cg_batch_field_b(struct cg_batch *b, const char *key, size_t klen, bool v);
int cg_batch_field_s(struct cg_batch *b, const char *key, size_t klen, const char *v, size_t vlen);
/* Ends the point; a point without fields is dropped (returns 0). */
int cg_batch_end(struct cg_batch *b);
void cg_batch_set_time(struct cg_batch *b, int64_t time_ns); /* of the open point */
/* Fixes up the tag/field pointers; call once after decoding, before use. */
void cg_batch_finish(struct cg_batch *b);

bool cg_utf8_valid(const char *s, size_t len);

/* ---- a small JSON DOM (RFC 8259) with limits ---------------------------- */

enum cg_jtype { CG_J_NULL, CG_J_FALSE, CG_J_TRUE, CG_J_NUMBER, CG_J_STRING, CG_J_ARRAY, CG_J_OBJECT };

struct cg_jval {
    enum cg_jtype type;
    const char *str; /* STRING: decoded text; NUMBER: the literal; NUL-terminated */
    size_t len;
    double num;      /* NUMBER (may be +-Inf when the literal overflows) */
    const char *key; /* member name when the parent is an object */
    size_t key_len;
    struct cg_jval *child, *next; /* children of arrays / objects, in order */
    size_t n_children;
};

/* Parses text[0..len) completely (trailing garbage is an error). Strings are
 * checked for UTF-8 and unescaped into the arena. max_depth bounds nesting. */
int cg_jdom_parse(struct cg_arena *a, const char *text, size_t len, unsigned max_depth,
                  const struct cg_jval **root, const char **why);
/* First member called key (len klen) of an object, or NULL. */
const struct cg_jval *cg_jdom_get(const struct cg_jval *obj, const char *key, size_t klen);
/* Follows a dot path ("a.b.0.c"; numeric segments index arrays). NULL if absent. */
const struct cg_jval *cg_jdom_path(const struct cg_jval *v, const char *path);
/* Exact integer value of a NUMBER literal without fraction/exponent. -ERANGE/-EINVAL. */
int cg_jdom_int64(const struct cg_jval *v, int64_t *out);
int cg_jdom_uint64(const struct cg_jval *v, uint64_t *out);

/* ---- timestamps ----------------------------------------------------------- */

enum cg_time_format {
    CG_TIME_AUTO = 0, /* number: unit guessed from magnitude; string: RFC 3339 */
    CG_TIME_S,
    CG_TIME_MS,
    CG_TIME_US,
    CG_TIME_NS,
    CG_TIME_RFC3339,
};

/* "2024-05-01T12:00:00.5Z", "...+02:00"; 'T' or 't' or ' '. -EINVAL / -ERANGE. */
int cg_time_parse_rfc3339(const char *s, size_t len, int64_t *ns);
/* A JSON number or string as a timestamp in the given format. */
int cg_time_from_json(const struct cg_jval *v, enum cg_time_format fmt, int64_t *ns);

/* ---- codecs ----------------------------------------------------------------- */

enum cg_value_type {
    CG_VT_AUTO = 0, /* JSON number -> float, bool -> bool, string -> string */
    CG_VT_FLOAT,    /* numbers, and numeric strings ("21.5") */
    CG_VT_INT,
    CG_VT_UINT,
    CG_VT_BOOL,
    CG_VT_STRING,
};

struct cg_json_map {
    const char *name; /* field or tag key */
    const char *path; /* dot path from the record; "$.a.b" from the document root */
    enum cg_value_type type;
    bool required; /* missing -> the record is an error, not skipped */
};

/* LoRaWAN radio metadata: the receiving gateway with the highest SNR (ties:
 * the higher RSSI) gives fields rssi, snr (floats) and gateway_id (string).
 * array is a dot path from the document root to the per-gateway array;
 * the others are dot paths inside one element. array NULL: no radio fields. */
struct cg_codec_radio_conf {
    const char *array, *gateway_id, *rssi, *snr;
};

struct cg_codec_json_conf {
    const char *records; /* path to an array of readings; NULL: root array or root object */
    const char *records_why; /* reason when records is absent (NULL: a generic one) */
    const char *time_path; /* NULL: reception time */
    enum cg_time_format time_format;
    const struct cg_json_map *fields; /* NULL/0: every scalar member, nested keys joined by '_' */
    size_t n_fields;
    const struct cg_json_map *tags;
    size_t n_tags;
    struct cg_codec_radio_conf radio;
    unsigned max_depth;
};

int cg_codec_json_decode(const struct cg_codec_json_conf *conf, const char *measurement,
                         const char *payload, size_t len, struct cg_batch *out, const char **why);

struct cg_codec_senml_conf {
    const char *name_tag; /* tag key for the resolved name ("name"); NULL/"" = none */
    const char *unit_tag; /* tag key for the resolved unit ("unit"); NULL/"" = none */
    unsigned max_depth;
};

/* RFC 8428 JSON: one point per resolved record. Fields: value (v), string_value
 * (vs), bool_value (vb), data_value (vd), sum (s). */
int cg_codec_senml_decode(const struct cg_codec_senml_conf *conf, const char *measurement,
                          const char *payload, size_t len, struct cg_batch *out, const char **why);

struct cg_codec_lp_conf {
    int64_t precision_ns; /* multiplier for timestamps: 1 (ns), 1000 (us), ... */
};

/* InfluxDB line protocol. measurement != NULL overrides each line's. */
int cg_codec_lp_decode(const struct cg_codec_lp_conf *conf, const char *measurement,
                       const char *payload, size_t len, struct cg_batch *out, const char **why);

struct cg_codec_value_conf {
    const char *field; /* field key ("value") */
    enum cg_value_type type;
};

/* A bare number or boolean ("21.5", "-3", "true"), surrounding blanks allowed. */
int cg_codec_value_decode(const struct cg_codec_value_conf *conf, const char *measurement,
                          const char *payload, size_t len, struct cg_batch *out, const char **why);

/* Strict decimal number grammar (JSON's, plus a leading '+'); no nan/inf/hex. */
bool cg_number_syntax_ok(const char *s, size_t len);

#endif
