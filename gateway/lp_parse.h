/* citygate — reading back the lines gateway/lineproto.c writes. Pure: no
 * logging, no allocation.
 *
 * cg_lp_parse splits one line into spans that point into the line itself
 * (still escaped, exactly as written), so a caller can select, drop or rewrite
 * parts and write the rest back byte for byte. cg_lp_unescape gives a span's
 * name or value as text. Only the encoder's escapes are undone: a backslash
 * escapes , = and space in names and tags, " and \ in string fields. */
#ifndef CG_LP_PARSE_H
#define CG_LP_PARSE_H

#include <citygate/point.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cg_lp_span {
    const char *p; /* into the parsed line; escaped as written */
    size_t n;
};

enum cg_lp_value_kind { CG_LP_FLOAT, CG_LP_INT, CG_LP_UINT, CG_LP_BOOL, CG_LP_STRING };

struct cg_lp_field {
    struct cg_lp_span key;
    struct cg_lp_span val; /* as written: 1.5, 12i, 12u, t, "text" (quotes included) */
    enum cg_lp_value_kind kind;
    double num; /* FLOAT / INT / UINT as a double (BOOL: 0 or 1) */
};

struct cg_lp_tag {
    struct cg_lp_span key;
    struct cg_lp_span val;
};

struct cg_lp_line {
    struct cg_lp_span measurement;
    struct cg_lp_tag tags[CG_POINT_MAX_TAGS];
    size_t n_tags;
    struct cg_lp_field fields[CG_POINT_MAX_FIELDS];
    size_t n_fields;
    bool has_ts;
    int64_t ts; /* nanoseconds */
};

/* Parses line[0..len) (a trailing '\n' is allowed). 0, or -EINVAL (not a line
 * the encoder writes: a missing part, more tags or fields than a point holds,
 * a value that is not a number, boolean or string). out borrows line. */
int cg_lp_parse(const char *line, size_t len, struct cg_lp_line *out);

/* s unescaped into out (NUL-terminated, at most outsz - 1 bytes). string:
 * s is a quoted string field value (quotes are removed). Returns the full
 * unescaped length; a result >= outsz means out was truncated. */
size_t cg_lp_unescape(struct cg_lp_span s, bool string, char *out, size_t outsz);

#endif
