/* citygate — locating a JSON path in the raw config text (see conf_locate.h).
 *
 * The scanner follows cJSON 1.7's reading of the text, so that what cJSON
 * accepted is found: whitespace is any byte <= 0x20, numbers are runs of
 * [0-9+-.eE] starting with '-' or a digit, strings may hold raw control bytes.
 * Nothing here recurses: skipping a value keeps its open brackets in a bit
 * stack of CG_CONF_LOCATE_MAX_DEPTH bits. */
#include "conf_locate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NO_MATCH SIZE_MAX

struct scan {
    const unsigned char *s;
    size_t len;
    size_t pos;
};

static void skip_ws(struct scan *sc)
{
    while (sc->pos < sc->len && sc->s[sc->pos] <= 0x20) {
        sc->pos++;
    }
}

/* The byte at pos, or -1 at the end. */
static int peek(const struct scan *sc)
{
    return sc->pos < sc->len ? sc->s[sc->pos] : -1;
}

static int hex4(struct scan *sc, unsigned *out)
{
    if (sc->len - sc->pos < 4) {
        return -EINVAL;
    }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = sc->s[sc->pos++];
        if (c >= '0' && c <= '9') {
            v = v * 16 + (c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v = v * 16 + (c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v = v * 16 + (c - 'A' + 10);
        } else {
            return -EINVAL;
        }
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One escape after the backslash (pos is past it): its UTF-8 bytes into out. */
static int escape(struct scan *sc, unsigned char out[4], size_t *n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (sc->pos >= sc->len) {
        return -EINVAL;
    }
    unsigned char c = sc->s[sc->pos++];
    if (c != 'u') {
        const char *at = c ? strchr(from, c) : NULL;
        if (at == NULL) {
            return -EINVAL;
        }
        out[0] = (unsigned char)to[at - from];
        *n = 1;
        return 0;
    }
    unsigned cp, lo;
    if (hex4(sc, &cp) < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) {
        return -EINVAL;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate needs its low half */
        if (sc->len - sc->pos < 2 || sc->s[sc->pos] != '\\' || sc->s[sc->pos + 1] != 'u') {
            return -EINVAL;
        }
        sc->pos += 2;
        if (hex4(sc, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
            return -EINVAL;
        }
        cp = 0x10000 + (((cp & 0x3FF) << 10) | (lo & 0x3FF));
    }
    *n = utf8_encode(cp, out);
    return 0;
}

/* Scans the string at pos (its opening quote). With want != NULL, *matched is
 * how many bytes of want[0..want_len) the decoded string equals, when it is a
 * prefix of want (the string read up to a decoded NUL, as cJSON's C string
 * ends there), else NO_MATCH. */
static int scan_string(struct scan *sc, const char *want, size_t want_len, size_t *matched)
{
    size_t m = 0;
    bool ok = want != NULL, cut = false;
    sc->pos++;
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos], buf[4];
        size_t n = 1;
        if (c == '"') {
            sc->pos++;
            if (matched) {
                *matched = ok ? m : NO_MATCH;
            }
            return 0;
        }
        sc->pos++;
        if (c == '\\') {
            if (escape(sc, buf, &n) < 0) {
                return -EINVAL;
            }
        } else {
            buf[0] = c;
        }
        for (size_t i = 0; i < n && ok && !cut; i++) {
            if (buf[i] == 0) {
                cut = true;
            } else if (m < want_len && (unsigned char)want[m] == buf[i]) {
                m++;
            } else {
                ok = false;
            }
        }
    }
    return -EINVAL;
}

static int scan_scalar(struct scan *sc)
{
    static const char *const literals[] = {"null", "true", "false"};
    int c = peek(sc);
    if (c == '-' || (c >= '0' && c <= '9')) {
        while (sc->pos < sc->len && sc->s[sc->pos] != 0 && strchr("0123456789+-.eE", sc->s[sc->pos]) != NULL) {
            sc->pos++;
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
        size_t n = strlen(literals[i]);
        if (sc->len - sc->pos >= n && memcmp(sc->s + sc->pos, literals[i], n) == 0) {
            sc->pos += n;
            return 0;
        }
    }
    return -EINVAL;
}

/* A member's key and colon; pos is at the key (after whitespace). */
static int member_head(struct scan *sc, const char *want, size_t want_len, size_t *matched)
{
    if (peek(sc) != '"' || scan_string(sc, want, want_len, matched) < 0) {
        return -EINVAL;
    }
    skip_ws(sc);
    if (peek(sc) != ':') {
        return -EINVAL;
    }
    sc->pos++;
    skip_ws(sc);
    return 0;
}

/* Skips the value at pos (after whitespace), nested ones included. */
static int skip_value(struct scan *sc)
{
    unsigned char is_obj[CG_CONF_LOCATE_MAX_DEPTH / 8]; /* bit d: level d is an object */
    size_t depth = 0;
    for (;;) {
        int c = peek(sc), rc;
        bool closed = false;
        if (c == '{' || c == '[') {
            if (depth >= CG_CONF_LOCATE_MAX_DEPTH) {
                return -E2BIG;
            }
            if (c == '{') {
                is_obj[depth / 8] |= (unsigned char)(1u << (depth % 8));
            } else {
                is_obj[depth / 8] &= (unsigned char)~(1u << (depth % 8));
            }
            depth++;
            sc->pos++;
            skip_ws(sc);
            if (peek(sc) == (c == '{' ? '}' : ']')) {
                sc->pos++;
                depth--;
                closed = true;
            } else if (c == '{' && (rc = member_head(sc, NULL, 0, NULL)) < 0) {
                return rc;
            }
            if (!closed) {
                continue; /* the first element or member value */
            }
        } else if (c == '"') {
            if ((rc = scan_string(sc, NULL, 0, NULL)) < 0) {
                return rc;
            }
        } else if ((rc = scan_scalar(sc)) < 0) {
            return rc;
        }
        /* A value ended: close containers until one goes on with ','. */
        for (;;) {
            if (depth == 0) {
                return 0;
            }
            bool obj = is_obj[(depth - 1) / 8] & (1u << ((depth - 1) % 8));
            skip_ws(sc);
            c = peek(sc);
            if (c == (obj ? '}' : ']')) {
                sc->pos++;
                depth--;
                continue;
            }
            if (c != ',') {
                return -EINVAL;
            }
            sc->pos++;
            skip_ws(sc);
            if (obj && (rc = member_head(sc, NULL, 0, NULL)) < 0) {
                return rc;
            }
            break;
        }
    }
}

/* Length of a "[N]" at p (0 if there is none); N into *idx (saturating). */
static size_t index_step(const char *p, size_t n, size_t *idx)
{
    size_t i = 1, v = 0;
    if (n < 3 || p[0] != '[') {
        return 0;
    }
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        size_t d = (size_t)(p[i] - '0');
        v = v > (SIZE_MAX - d) / 10 ? SIZE_MAX : v * 10 + d;
        i++;
    }
    if (i == 1 || i >= n || p[i] != ']') {
        return 0;
    }
    *idx = v;
    return i + 1;
}

/* Whether a key of length m can end the path step at rest[0..m). */
static bool step_ends(const char *rest, size_t rest_len, size_t m)
{
    size_t idx;
    return m == rest_len || rest[m] == '.' || index_step(rest + m, rest_len - m, &idx) > 0;
}

/* In the object at obj, the member whose key is the longest that fits the
 * start of rest (the first of equal keys). *key_at, *value_at, *key_len. */
static int find_member(struct scan *sc, size_t obj, const char *rest, size_t rest_len, size_t *key_at,
                       size_t *value_at, size_t *key_len)
{
    bool found = false;
    int rc = 0;
    sc->pos = obj + 1;
    skip_ws(sc);
    if (peek(sc) == '}') {
        return -ENOENT;
    }
    for (;;) {
        size_t at = sc->pos, m = NO_MATCH;
        if ((rc = member_head(sc, rest, rest_len, &m)) < 0) {
            break;
        }
        if (sc->pos >= sc->len) { /* a key without its value */
            rc = -EINVAL;
            break;
        }
        if (m != NO_MATCH && step_ends(rest, rest_len, m) && (!found || m > *key_len)) {
            found = true;
            *key_at = at;
            *value_at = sc->pos;
            *key_len = m;
            if (m == rest_len) {
                return 0; /* no later key can fit better */
            }
        }
        if ((rc = skip_value(sc)) < 0) {
            break;
        }
        skip_ws(sc);
        int c = peek(sc);
        if (c == '}') {
            return found ? 0 : -ENOENT;
        }
        if (c != ',') {
            rc = -EINVAL;
            break;
        }
        sc->pos++;
        skip_ws(sc);
    }
    /* Broken text after the member we want does not hide it. */
    return found ? 0 : rc;
}

/* Element idx of the array at arr: its first byte into *at. */
static int find_element(struct scan *sc, size_t arr, size_t idx, size_t *at)
{
    int rc;
    sc->pos = arr + 1;
    skip_ws(sc);
    if (peek(sc) == ']') {
        return -ENOENT;
    }
    for (size_t i = 0;; i++) {
        if (sc->pos >= sc->len) {
            return -EINVAL;
        }
        if (i == idx) {
            *at = sc->pos;
            return 0;
        }
        if ((rc = skip_value(sc)) < 0) {
            return rc;
        }
        skip_ws(sc);
        int c = peek(sc);
        if (c == ']') {
            return -ENOENT;
        }
        if (c != ',') {
            return -EINVAL;
        }
        sc->pos++;
        skip_ws(sc);
    }
}

static size_t bom_len(const unsigned char *s, size_t len)
{
    return len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF ? 3 : 0;
}

int cg_conf_locate(const char *text, size_t len, const char *path, size_t path_len, struct cg_conf_pos *pos)
{
    if (text == NULL || path == NULL || path_len == 0) {
        return -ENOENT;
    }
    struct scan sc = {.s = (const unsigned char *)text, .len = len, .pos = 0};
    sc.pos = bom_len(sc.s, len);
    skip_ws(&sc);
    size_t value = sc.pos; /* start of the value the path has reached */
    size_t target = 0, steps = 0;
    const char *rest = path;
    size_t rest_len = path_len;
    size_t idx = 0;
    bool want_key = index_step(path, path_len, &idx) == 0; /* after a '.', a key (even one starting with '[') */
    int rc = 0;
    for (;;) {
        if (rest_len == 0 && !want_key) {
            break;
        }
        size_t step = want_key ? 0 : index_step(rest, rest_len, &idx);
        if (step > 0) {
            if (peek(&sc) != '[' || (rc = find_element(&sc, value, idx, &target)) < 0) {
                break;
            }
            value = target;
        } else if (want_key) {
            sc.pos = value;
            if (peek(&sc) != '{' || (rc = find_member(&sc, value, rest, rest_len, &target, &value, &step)) < 0) {
                break;
            }
        } else {
            rc = -ENOENT; /* "[N]" followed by neither '.', '[' nor the end */
            break;
        }
        steps++;
        rest += step;
        rest_len -= step;
        want_key = rest_len > 0 && rest[0] == '.';
        if (want_key) {
            rest++;
            rest_len--;
        }
        sc.pos = value;
    }
    if (rc == -EINVAL || rc == -E2BIG) {
        return rc;
    }
    if (steps == 0) {
        return -ENOENT;
    }
    bool exact = rest_len == 0 && !want_key;
    size_t off = exact ? target : value;
    pos->offset = off;
    cg_conf_locate_line_col(text, len, off, &pos->line, &pos->column);
    return exact ? 0 : CG_CONF_LOCATE_ANCESTOR;
}

void cg_conf_locate_line_col(const char *text, size_t len, size_t off, size_t *line, size_t *column)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t l = 1, c = 1;
    if (off > len) {
        off = len;
    }
    for (size_t i = s ? bom_len(s, off) : off; i < off; i++) {
        if (s[i] == '\n') {
            l++;
            c = 1;
        } else if ((s[i] & 0xC0) != 0x80) { /* not a UTF-8 continuation byte */
            c++;
        }
    }
    *line = l;
    *column = c;
}

size_t cg_conf_locate_describe(const char *text, size_t len, const char *path, size_t path_len, char *out,
                               size_t outsz)
{
    struct cg_conf_pos pos;
    if (outsz == 0) {
        return 0;
    }
    out[0] = '\0';
    int rc = cg_conf_locate(text, len, path, path_len, &pos);
    int n;
    if (rc == 0) {
        n = snprintf(out, outsz, "(line %zu, column %zu)", pos.line, pos.column);
    } else if (rc == CG_CONF_LOCATE_ANCESTOR) {
        char c = pos.offset < len ? text[pos.offset] : '\0';
        n = snprintf(out, outsz, "(%s line %zu, column %zu)",
                     c == '{' ? "in the object at" : c == '[' ? "in the array at" : "near", pos.line, pos.column);
    } else {
        return 0;
    }
    if (n < 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n < outsz ? (size_t)n : outsz - 1;
}
