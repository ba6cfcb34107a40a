/* Differential test: the encoder against the one it replaced (commit ad1fe5e,
 * gateway/lineproto.c, copied below unchanged except for the names
 * ref_encode / ref_format_double). On random points with every special
 * character, escape, backslash, UTF-8, empty and NULL names, NaN/Inf, integer
 * extremes and doubles of every kind, both must give the same return code,
 * the same reason, the same counters and the same bytes, including when the
 * output buffer is nearly full. The series-key path must write the same bytes.
 * CG_LP_DIFF_POINTS / CG_LP_DIFF_DOUBLES override the counts (longer runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lineproto.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference: the previous encoder, verbatim ---- */
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

static int ref_format_double(char *buf, double v)
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

static int ref_encode(struct cg_buf *out, const struct cg_point *p, const struct cg_lp_opts *opts,
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
            n = ref_format_double(num, f->v.f);
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

/* ---- end of reference ---- */

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static unsigned below(struct rng *r, unsigned n)
{
    return (unsigned)(next(r) % n);
}

/* Every byte the encoder treats specially, plus UTF-8 and plain ones. */
static const char *const pieces[] = {",", " ", "=", "\\", "\"", "\n", "\r", "_", "\t", "é", "Тошкент", "\xff",
                                     "a", "b", "z", "0", "9", "pm25", "-", "."};

static const char *rand_name(struct rng *r, char *buf, size_t cap, int allow_null)
{
    unsigned k = below(r, 100);
    if (allow_null && k == 0) {
        return NULL;
    }
    if (k < 3) {
        return "";
    }
    size_t n = 0;
    if (k < 5) { /* longer than the limits (256 names, 1024 tag values) */
        size_t want = 250 + below(r, 900);
        if (want > cap - 1) {
            want = cap - 1;
        }
        while (n < want) {
            buf[n++] = (char)('a' + below(r, 26));
        }
        buf[n] = '\0';
        return buf;
    }
    int specials = below(r, 3) == 0;
    size_t len = 1 + below(r, 10);
    for (size_t i = 0; i < len; i++) {
        const char *pc = specials ? pieces[below(r, sizeof(pieces) / sizeof(pieces[0]))] : pieces[12 + below(r, 8)];
        size_t pl = strlen(pc);
        if (n + pl >= cap) {
            break;
        }
        memcpy(buf + n, pc, pl);
        n += pl;
    }
    buf[n] = '\0';
    return buf;
}

static double rand_double(struct rng *r)
{
    uint64_t x = next(r);
    switch (below(r, 15)) {
    case 0: return (double)(int64_t)(x % 2000001) / 100.0 - 10000.0;
    case 1: return (double)(x % 100000000) / 1e6;
    case 2: return 12.81 + (double)(x % 1000) * 0.01; /* what the bench sends */
    case 3: return (double)(x >> 11) / 9007199254740992.0 * 1000.0;
    case 4: return (double)(int64_t)(x % 20001 - 10000) * 0.1; /* scale factors */
    case 5: return ((double)(x % 2000) - 400) * 1.8 / 3.0 + 32; /* unit conversions */
    case 6: { /* any bits: subnormals, huge, NaN, Inf */
        double d;
        memcpy(&d, &x, sizeof(d));
        return d;
    }
    case 7: return ldexp((double)(x >> 11), (int)below(r, 2100) - 1100); /* every exponent */
    case 8: {
        static const double special[] = {0.0, -0.0, NAN, INFINITY, -INFINITY, DBL_MIN, DBL_MAX, 5e-324,
                                         1e-7, 1e-6, 9.9999999999999995e-7, 1e9, 999999999.99999988, 1e15,
                                         1e16, 1e17, 9.007199254740993e15, 0.1, 1.0 / 3.0, 2.5e-7, 1e21, 1e22,
                                         123456789012345680.0, 0.30000000000000004, 9.5, 0.5};
        return special[x % (sizeof(special) / sizeof(special[0]))];
    }
    case 9: return (double)(int64_t)x / pow(10, (double)below(r, 40)) ;
    case 10: return nextafter(pow(10, (double)below(r, 60) - 30), below(r, 2) ? INFINITY : 0);
    case 11: return (double)(x % 1000000) * pow(10, (double)below(r, 50) - 25);
    case 12: /* powers of two: the next double down is half as far */
        return ldexp(below(r, 2) ? 1.0 : -1.0, (int)below(r, 300) - 150);
    case 13: return (double)(x % 100000000000000000ULL); /* 17-digit integers */
    default: /* halfway between two 15- or 16-digit decimals */
        return (double)((x % 1000000000000000ULL) * 10 + 5) * pow(10, (double)below(r, 8) - 4);
    }
}

#define MAXS 1200

struct gen {
    char names[200][MAXS];
    size_t used;
    char bigstr[70000];
    struct cg_tag tags[70];
    struct cg_tag stags[8];
    struct cg_field fields[260];
    struct cg_point p;
    struct cg_lp_opts o;
};

static const char *gname(struct rng *r, struct gen *g, int allow_null)
{
    if (g->used > 0 && below(r, 6) == 0) { /* reuse one: duplicates and overrides */
        return g->names[below(r, (unsigned)g->used)];
    }
    if (g->used == 200) {
        return "x";
    }
    const char *s = rand_name(r, g->names[g->used], MAXS, allow_null);
    if (s == g->names[g->used]) {
        g->used++;
    }
    return s;
}

static void gen_point(struct rng *r, struct gen *g)
{
    g->used = 0;
    g->p.measurement = below(r, 4) ? "air_quality" : gname(r, g, 1);
    size_t nt = below(r, 50) == 0 ? 65 : below(r, 7);
    for (size_t i = 0; i < nt; i++) {
        g->tags[i].key = below(r, 3) ? (const char *[]){"site", "sensor_id", "kind", "city", "b", "a"}[below(r, 6)]
                                     : gname(r, g, 1);
        g->tags[i].value = below(r, 2) ? "cabinet-17" : gname(r, g, 1);
    }
    g->p.tags = nt ? g->tags : NULL;
    g->p.n_tags = nt;
    size_t ns = below(r, 5);
    for (size_t i = 0; i < ns; i++) {
        g->stags[i].key = below(r, 2) ? (const char *[]){"site", "city", "gateway", "a"}[below(r, 4)]
                                      : gname(r, g, 0);
        g->stags[i].value = below(r, 2) ? "tashkent" : gname(r, g, 1);
    }
    g->o.static_tags = ns ? g->stags : NULL;
    g->o.n_static_tags = ns;
    g->o.write_uint = below(r, 2);
    size_t nf = below(r, 80) == 0 ? (below(r, 2) ? 0 : 257) : 1 + below(r, 9);
    for (size_t i = 0; i < nf; i++) {
        struct cg_field *f = &g->fields[i];
        memset(f, 0, sizeof(*f));
        f->key = below(r, 3) ? (const char *[]){"pm1", "pm25", "pm10", "no2", "o3", "temperature"}[below(r, 6)]
                             : gname(r, g, 1);
        if (nf == 257) {
            f->key = g->names[0];
        }
        unsigned t = below(r, 100);
        if (t < 55) {
            f->type = CG_FIELD_FLOAT;
            f->v.f = rand_double(r);
        } else if (t < 67) {
            static const int64_t ext[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, 9, 10, 99, 100, INT64_MAX};
            f->type = CG_FIELD_INT;
            f->v.i = below(r, 2) ? ext[below(r, 10)] : (int64_t)next(r) >> below(r, 64);
        } else if (t < 79) {
            static const uint64_t ext[] = {0, 1, 10, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX};
            f->type = CG_FIELD_UINT;
            f->v.u = below(r, 2) ? ext[below(r, 6)] : next(r) >> below(r, 64);
        } else if (t < 85) {
            f->type = CG_FIELD_BOOL;
            f->v.b = below(r, 2);
        } else if (t < 99) {
            f->type = CG_FIELD_STRING;
            if (below(r, 300) == 0) {
                size_t n = 65530 + below(r, 12);
                memset(g->bigstr, below(r, 2) ? '"' : 'q', n);
                g->bigstr[n] = '\0';
                f->v.s = g->bigstr;
            } else {
                f->v.s = gname(r, g, 1);
            }
        } else {
            f->type = (enum cg_field_type)(5 + below(r, 3)); /* unknown type */
        }
    }
    g->p.fields = nf ? g->fields : NULL;
    g->p.n_fields = nf;
    static const int64_t ts[] = {INT64_MIN, -1, 0, 1, 1700000000000000000LL, INT64_MAX};
    g->p.time_ns = below(r, 2) ? ts[below(r, 6)] : (int64_t)next(r);
}

static long env_count(const char *name, long def)
{
    const char *s = getenv(name);
    return s != NULL && atol(s) > 0 ? atol(s) : def;
}

static void prefill(struct cg_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cg_buf_putc(b, (char)('A' + i % 26));
    }
}

static void test_encode_same_as_reference(void **state)
{
    (void)state;
    static struct gen g;
    struct rng r = {0x9E3779B97F4A7C15ULL};
    long n = env_count("CG_LP_DIFF_POINTS", 200000);
    long accepted = 0, rejected = 0, nobufs = 0, keyed = 0;
    struct cg_buf a, b, key, c;
    for (long i = 0; i < n; i++) {
        gen_point(&r, &g);
        /* mostly room to spare; one in 8 a buffer about as big as the line */
        size_t max = 1 << 20, pre = below(&r, 64);
        if (below(&r, 8) == 0) {
            max = below(&r, 400);
            pre = max ? below(&r, (unsigned)max + 1) : 0;
        }
        cg_buf_init(&a, max);
        cg_buf_init(&b, max);
        prefill(&a, pre);
        prefill(&b, pre);
        struct cg_lp_counters ca = {0}, cb = {0};
        const char *wa = "unset", *wb = "unset";
        int ra = ref_encode(&a, &g.p, &g.o, &ca, &wa);
        int rb = cg_lp_encode(&b, &g.p, &g.o, &cb, &wb);
        if (ra != rb || strcmp(wa, wb) != 0 || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len + 1) != 0) ||
            memcmp(&ca, &cb, sizeof(ca)) != 0) {
            fail_msg("point %ld: ref rc=%d why=%s len=%zu [%s] / new rc=%d why=%s len=%zu [%s]", i, ra, wa, a.len,
                     a.len ? a.data : "", rb, wb, b.len, b.len ? b.data : "");
        }
        accepted += ra == 0;
        rejected += ra == -EINVAL;
        nobufs += ra == -ENOBUFS;
        /* the series-key path: same bytes, same decisions on the fields */
        cg_buf_init(&key, 1 << 16);
        const char *wk = "unset";
        if (max == (1 << 20) && cg_lp_series_key(&key, &g.p, &g.o, &wk) == 0) {
            cg_buf_init(&c, max);
            prefill(&c, pre);
            struct cg_lp_counters cc = {0};
            const char *wc = "unset";
            int rc = cg_lp_encode_with_key(&c, key.data, key.len, &g.p, &g.o, &cc, &wc);
            if (rc != ra || strcmp(wc, wa) != 0 || c.len != a.len ||
                (a.len && memcmp(a.data, c.data, a.len + 1) != 0) || memcmp(&ca, &cc, sizeof(ca)) != 0) {
                fail_msg("point %ld (keyed): ref rc=%d why=%s [%s] / keyed rc=%d why=%s [%s]", i, ra, wa,
                         a.len ? a.data : "", rc, wc, c.len ? c.data : "");
            }
            keyed++;
            cg_buf_done(&c);
        } else if (max == (1 << 20) && ra == 0) {
            fail_msg("point %ld: encoded but no series key (%s)", i, wk);
        }
        cg_buf_done(&key);
        cg_buf_done(&a);
        cg_buf_done(&b);
    }
    print_message("%ld points: %ld accepted, %ld refused, %ld -ENOBUFS, %ld through a series key\n", n, accepted,
                  rejected, nobufs, keyed);
    /* the mix must exercise every outcome */
    assert_true(accepted > n / 10 && rejected > n / 10 && nobufs > n / 100 && keyed > n / 10);
}

static void test_doubles_same_as_reference(void **state)
{
    (void)state;
    struct rng r = {88172645463325252ULL};
    long n = env_count("CG_LP_DIFF_DOUBLES", 1000000);
    for (long i = 0; i < n; i++) {
        double v = rand_double(&r);
        char want[40], got[40];
        memset(got, 'X', sizeof(got));
        int nw = ref_format_double(want, v);
        int ng = cg_lp_format_double(got, v);
        if (nw != ng || strcmp(want, got) != 0) {
            fail_msg("%.17g (%a): ref [%s] new [%s]", v, v, want, got);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_same_as_reference),
        cmocka_unit_test(test_doubles_same_as_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
