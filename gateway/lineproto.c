/* citygate — InfluxDB line protocol encoder (see lineproto.h for the rules). */
#include "lineproto.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum elem { E_MEAS, E_KEY, E_TAGVAL };

static int is_special(enum elem e, char c)
{
    if (c == ',' || c == ' ') {
        return 1;
    }
    return e != E_MEAS && c == '=';
}

/* Checks a name or tag value; returns a static reason or NULL when it can be
 * written. A backslash right before a delimiter or at the end cannot be
 * expressed (InfluxDB's scanner would take it as an escape), so we refuse it
 * rather than change the data. */
static const char *check(enum elem e, const char *s, size_t max)
{
    if (s == NULL || s[0] == '\0') {
        return e == E_MEAS ? "empty measurement" : "empty key";
    }
    if (e != E_TAGVAL && s[0] == '_') {
        return "names starting with '_' are reserved by InfluxDB";
    }
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        if (*p == '\n' || *p == '\r') {
            return "newline in a name or tag value";
        }
        if (*p == '\\' && (p[1] == '\0' || is_special(e, p[1]))) {
            return "backslash at the end or before a delimiter";
        }
    }
    if (n > max) {
        return "name or tag value too long";
    }
    return NULL;
}

static int put_escaped(struct cg_buf *b, enum elem e, const char *s)
{
    size_t n = strlen(s);
    int rc = cg_buf_reserve(b, 2 * n);
    if (rc < 0) {
        return rc;
    }
    char *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        if (is_special(e, s[i])) {
            *o++ = '\\';
        }
        *o++ = s[i];
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

static int put_string_field(struct cg_buf *b, const char *s, size_t n)
{
    int rc = cg_buf_reserve(b, 2 * n + 2);
    if (rc < 0) {
        return rc;
    }
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            *o++ = '\\';
        }
        *o++ = s[i];
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/* Writes the decimal digits of u (no sign) and returns the length. */
static int put_u64(char *out, uint64_t u)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    for (int i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    return n;
}

/* put_u64 with a sign. Integer fields and every line's time stamp go through
 * these: snprintf costs several times more (perf on bench/mqtt.sh). */
static int put_i64(char *dst, int64_t v)
{
    if (v < 0) {
        dst[0] = '-';
        /* -(v + 1) + 1: no overflow at INT64_MIN */
        return 1 + put_u64(dst + 1, (uint64_t)(-(v + 1)) + 1);
    }
    return put_u64(dst, (uint64_t)v);
}

int cg_lp_format_double(char *buf, double v)
{
    /* Fast path for what sensors report (a few decimals, moderate size): the
     * fewest decimals d such that round(v * 10^d) / 10^d == v. Both that
     * quotient and strtod() of the printed text are the double nearest to the
     * same exact decimal, so the text reads back as v; and it is the shortest
     * fixed-point text that does. printf's %g costs about 1 us per value. */
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double a = fabs(v);
    if (a < 1e9 && (a >= 1e-6 || v == 0) && !(v == 0 && signbit(v))) {
        for (int d = 0; d <= 9; d++) {
            double r = nearbyint(a * p10[d]);
            if (r >= 9.0e15) {
                break;
            }
            if (r / p10[d] != a) {
                continue;
            }
            char digits[24];
            int nd = put_u64(digits, (uint64_t)r);
            int n = 0;
            if (v < 0) {
                buf[n++] = '-';
            }
            if (nd <= d) { /* 0.00ddd */
                buf[n++] = '0';
                buf[n++] = '.';
                for (int z = 0; z < d - nd; z++) {
                    buf[n++] = '0';
                }
                memcpy(buf + n, digits, (size_t)nd);
                n += nd;
            } else {
                memcpy(buf + n, digits, (size_t)(nd - d));
                n += nd - d;
                if (d > 0) {
                    buf[n++] = '.';
                    memcpy(buf + n, digits + nd - d, (size_t)d);
                    n += d;
                }
            }
            buf[n] = '\0';
            return n;
        }
    }
    /* The shortest of %.15g..%.17g that reads back exactly. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 32, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v) {
            break;
        }
    }
    return n;
}

struct tagref {
    const char *key;
    const char *value;
};

int cg_lp_encode(struct cg_buf *out, const struct cg_point *p, const struct cg_lp_opts *opts,
                 struct cg_lp_counters *cnt, const char **why)
{
    static const struct cg_lp_opts no_opts = {0};
    struct tagref tags[CG_POINT_MAX_TAGS + CG_POINT_MAX_TAGS];
    size_t nt = 0;
    const char *reason = NULL;
    size_t start = out->len;
    int rc = -EINVAL;
    uint64_t nonfinite = 0, clipped = 0;

    if (opts == NULL) {
        opts = &no_opts;
    }
    if ((reason = check(E_MEAS, p->measurement, CG_POINT_MAX_NAME)) != NULL) {
        goto reject;
    }
    if (p->n_tags > CG_POINT_MAX_TAGS || opts->n_static_tags > CG_POINT_MAX_TAGS) {
        reason = "too many tags";
        goto reject;
    }
    if (p->n_fields == 0 || p->n_fields > CG_POINT_MAX_FIELDS) {
        reason = p->n_fields == 0 ? "no fields" : "too many fields";
        goto reject;
    }
    /* Point tags first; a static tag is added only if the point lacks the key. */
    for (size_t i = 0; i < p->n_tags; i++) {
        const struct cg_tag *t = &p->tags[i];
        if ((reason = check(E_KEY, t->key, CG_POINT_MAX_NAME)) != NULL) {
            goto reject;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(p->tags[k].key, t->key) == 0) {
                reason = "duplicate tag key";
                goto reject;
            }
        }
        if (t->value == NULL || t->value[0] == '\0') {
            continue; /* empty value: the tag is omitted */
        }
        if ((reason = check(E_TAGVAL, t->value, CG_POINT_MAX_TAG_VALUE)) != NULL) {
            goto reject;
        }
        tags[nt++] = (struct tagref){t->key, t->value};
    }
    for (size_t s = 0; s < opts->n_static_tags; s++) {
        const struct cg_tag *t = &opts->static_tags[s];
        int have = 0;
        for (size_t i = 0; i < p->n_tags; i++) {
            if (strcmp(p->tags[i].key, t->key) == 0) {
                have = 1;
                break;
            }
        }
        if (!have && t->value != NULL && t->value[0] != '\0') {
            tags[nt++] = (struct tagref){t->key, t->value};
        }
    }
    /* Insertion sort: tag sets are small, and InfluxDB wants byte order. */
    for (size_t i = 1; i < nt; i++) {
        struct tagref x = tags[i];
        size_t j = i;
        while (j > 0 && strcmp(tags[j - 1].key, x.key) > 0) {
            tags[j] = tags[j - 1];
            j--;
        }
        tags[j] = x;
    }

    if ((rc = put_escaped(out, E_MEAS, p->measurement)) < 0) {
        goto fail;
    }
    for (size_t i = 0; i < nt; i++) {
        if ((rc = cg_buf_putc(out, ',')) < 0 || (rc = put_escaped(out, E_KEY, tags[i].key)) < 0 ||
            (rc = cg_buf_putc(out, '=')) < 0 || (rc = put_escaped(out, E_TAGVAL, tags[i].value)) < 0) {
            goto fail;
        }
    }
    size_t written = 0;
    for (size_t i = 0; i < p->n_fields; i++) {
        const struct cg_field *f = &p->fields[i];
        if ((reason = check(E_KEY, f->key, CG_POINT_MAX_NAME)) != NULL) {
            goto reject;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(p->fields[k].key, f->key) == 0) {
                reason = "duplicate field key";
                goto reject;
            }
        }
        char num[40];
        int n = 0;
        switch (f->type) {
        case CG_FIELD_FLOAT:
            if (!isfinite(f->v.f)) {
                nonfinite++;
                continue;
            }
            n = cg_lp_format_double(num, f->v.f);
            break;
        case CG_FIELD_INT:
            n = put_i64(num, f->v.i);
            num[n++] = 'i';
            break;
        case CG_FIELD_UINT:
            if (opts->write_uint) {
                n = put_u64(num, f->v.u);
                num[n++] = 'u';
            } else {
                uint64_t u = f->v.u;
                if (u > (uint64_t)INT64_MAX) {
                    u = (uint64_t)INT64_MAX;
                    clipped++;
                }
                n = put_u64(num, u);
                num[n++] = 'i';
            }
            break;
        case CG_FIELD_BOOL:
            num[0] = f->v.b ? 't' : 'f';
            n = 1;
            break;
        case CG_FIELD_STRING: {
            if (f->v.s == NULL) {
                reason = "NULL string field";
                goto reject;
            }
            size_t sl = strlen(f->v.s);
            if (sl > CG_POINT_MAX_STRING) {
                reason = "string field too long";
                goto reject;
            }
            if (memchr(f->v.s, '\n', sl) != NULL || memchr(f->v.s, '\r', sl) != NULL) {
                reason = "newline in a string field";
                goto reject;
            }
            if ((rc = cg_buf_putc(out, written ? ',' : ' ')) < 0 || (rc = put_escaped(out, E_KEY, f->key)) < 0 ||
                (rc = cg_buf_putc(out, '=')) < 0 || (rc = put_string_field(out, f->v.s, sl)) < 0) {
                goto fail;
            }
            written++;
            continue;
        }
        default:
            reason = "unknown field type";
            goto reject;
        }
        if ((rc = cg_buf_putc(out, written ? ',' : ' ')) < 0 || (rc = put_escaped(out, E_KEY, f->key)) < 0 ||
            (rc = cg_buf_putc(out, '=')) < 0 || (rc = cg_buf_append(out, num, (size_t)n)) < 0) {
            goto fail;
        }
        written++;
    }
    if (written == 0) {
        reason = "no writable fields (all NaN or Inf)";
        goto reject;
    }
    char ts[24];
    int tn = 0;
    ts[tn++] = ' ';
    tn += put_i64(ts + tn, p->time_ns);
    ts[tn++] = '\n';
    if ((rc = cg_buf_append(out, ts, (size_t)tn)) < 0) {
        goto fail;
    }
    if (cnt != NULL) {
        cnt->points++;
        cnt->fields_nonfinite += nonfinite;
        cnt->uint_clipped += clipped;
    }
    return 0;

reject:
    rc = -EINVAL;
    if (why != NULL) {
        *why = reason;
    }
    if (cnt != NULL) {
        cnt->rejected++;
        cnt->fields_nonfinite += nonfinite;
    }
fail:
    cg_buf_truncate(out, start);
    return rc;
}

int cg_lp_rescale_time(struct cg_buf *out, const char *in, size_t len, int64_t divisor)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(in + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - in) : len;
        size_t sp = end;
        while (sp > i && in[sp - 1] != ' ') {
            sp--;
        }
        int rc;
        int digits = sp > i && sp < end;
        for (size_t k = sp; digits && k < end; k++) {
            if (!((in[k] >= '0' && in[k] <= '9') || (k == sp && in[k] == '-'))) {
                digits = 0;
            }
        }
        if (divisor > 1 && digits) {
            char tmp[32];
            size_t tl = end - sp < sizeof(tmp) - 1 ? end - sp : sizeof(tmp) - 1;
            memcpy(tmp, in + sp, tl);
            tmp[tl] = '\0';
            long long ts = strtoll(tmp, NULL, 10);
            /* Floor, not truncation toward zero, so pre-1970 times stay ordered. */
            long long q = ts / divisor;
            if (ts % divisor != 0 && ts < 0) {
                q--;
            }
            if ((rc = cg_buf_append(out, in + i, sp - i)) < 0 || (rc = cg_buf_printf(out, "%lld", q)) < 0) {
                return rc;
            }
        } else if ((rc = cg_buf_append(out, in + i, end - i)) < 0) {
            return rc;
        }
        if (nl != NULL && (rc = cg_buf_putc(out, '\n')) < 0) {
            return rc;
        }
        i = end + 1;
    }
    return 0;
}
