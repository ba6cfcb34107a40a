/* citygate — InfluxDB line protocol encoder (see lineproto.h for the rules).
 *
 * How it is fast (bench/lineproto_bench.c; before/after in docs/outputs.md):
 * one scan per name with a 256-entry byte-class table gives its length, its
 * escape count and whether it needs the careful check; the line's size is
 * bounded from those lengths, reserved once, and written in one pass (memcpy
 * when a name needs no escaping, the common case); integers two digits at a
 * time; doubles without libc for everything sensors report (the text is the
 * same as before, byte for byte: tests/unit/test_lineproto_diff.c compares
 * this encoder with the previous one on 200k+ random points). */
#include "lineproto.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum elem { E_MEAS, E_KEY, E_TAGVAL };

/* Byte classes. A name byte of class 0 (almost all of them) costs one load and
 * one predictable branch. */
enum {
    C_ESC_MEAS = 1, /* , and space: escaped in a measurement */
    C_ESC_KEY = 2,  /* , = and space: escaped in tag keys, tag values, field keys */
    C_CHECK = 4,    /* \n \r \\ : the name needs the careful check */
    C_END = 8,      /* NUL */
    C_ESC_STR = 16, /* " and \ : escaped in a string field value */
    C_NL = 32,      /* \n \r : refused in a string field value */
};

static const unsigned char cls[256] = {
    [0] = C_END,
    [','] = C_ESC_MEAS | C_ESC_KEY,
    [' '] = C_ESC_MEAS | C_ESC_KEY,
    ['='] = C_ESC_KEY,
    ['\n'] = C_CHECK | C_NL,
    ['\r'] = C_CHECK | C_NL,
    ['\\'] = C_CHECK | C_ESC_STR,
    ['"'] = C_ESC_STR,
};

static unsigned esc_class(enum elem e)
{
    return e == E_MEAS ? C_ESC_MEAS : C_ESC_KEY;
}

/* A name or value as scanned: its bytes, length and how many need a backslash. */
struct span {
    const char *s;
    size_t len;
    size_t esc;
};

/* A tag of the line, point's or static. */
struct tagent {
    const char *k, *v;
    uint32_t kl, ke, vl, ve; /* lengths and escape counts */
};

/* A field as scanned (its key is p->fields[i].key). */
struct fent {
    uint16_t kl, ke;  /* key length (<= CG_POINT_MAX_NAME) and escapes */
    uint32_t sl, se;  /* string value length (<= CG_POINT_MAX_STRING) and escapes */
    uint8_t skip;     /* NaN/Inf float: not written */
};

static const char R_RESERVED[] = "names starting with '_' are reserved by InfluxDB";

/* The byte-by-byte rules for a name that holds a newline or a backslash. A
 * backslash right before a delimiter or at the end cannot be expressed
 * (InfluxDB's scanner would take it as an escape), so we refuse it rather than
 * change the data. */
static const char *check_slow(enum elem e, const char *s)
{
    unsigned esc = esc_class(e);
    for (const char *p = s; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            return "newline in a name or tag value";
        }
        if (*p == '\\' && (p[1] == '\0' || (cls[(unsigned char)p[1]] & esc) != 0)) {
            return "backslash at the end or before a delimiter";
        }
    }
    return NULL;
}

/* One pass over a NUL-terminated string: its length, how many of its bytes
 * are of class esc, and the OR of all its bytes' classes. */
static inline unsigned scan_bytes(const char *s, unsigned esc, size_t *len, size_t *nesc)
{
    size_t n = 0, k = 0;
    unsigned acc = 0;
    for (;; n++) {
        unsigned c = cls[(unsigned char)s[n]];
        if (c != 0) {
            if (c & C_END) {
                break;
            }
            acc |= c;
            k += (c & esc) != 0;
        }
    }
    *len = n;
    *nesc = k;
    return acc;
}

/* Length and escape count, no checks (static tags are the operator's and are
 * written as configured). */
static void measure(const char *s, unsigned esc, struct span *out)
{
    out->s = s;
    (void)scan_bytes(s, esc, &out->len, &out->esc);
}

/* Checks a name or tag value and measures it; a static reason when it cannot
 * be written. The reasons and their order are the encoder's contract. */
static const char *scan(enum elem e, const char *s, size_t max, struct span *out)
{
    if (s == NULL || s[0] == '\0') {
        return e == E_MEAS ? "empty measurement" : "empty key";
    }
    if (e != E_TAGVAL && s[0] == '_') {
        return R_RESERVED;
    }
    size_t n, k;
    unsigned acc = scan_bytes(s, esc_class(e), &n, &k);
    if (acc & C_CHECK) {
        const char *r = check_slow(e, s);
        if (r != NULL) {
            return r;
        }
    }
    if (n > max) {
        return "name or tag value too long";
    }
    out->s = s;
    out->len = n;
    out->esc = k;
    return NULL;
}

static char *put_esc(char *o, const char *s, size_t len, size_t nesc, unsigned esc)
{
    if (nesc == 0) {
        memcpy(o, s, len);
        return o + len;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (cls[(unsigned char)c] & esc) {
            *o++ = '\\';
        }
        *o++ = c;
    }
    return o;
}

/* strcmp's order (unsigned bytes, a prefix first) on measured keys. */
static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    if (a[0] != b[0]) {
        return (unsigned char)a[0] < (unsigned char)b[0] ? -1 : 1;
    }
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c != 0) {
        return c;
    }
    return (al > bl) - (al < bl);
}

static int key_eq(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && a[0] == b[0] && memcmp(a, b, al) == 0;
}

static const char dig2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                              "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                              "8081828384858687888990919293949596979899";

static int u64_len(uint64_t u)
{
    int n = 1;
    while (u >= 10000) {
        u /= 10000;
        n += 4;
    }
    return n + (u >= 10) + (u >= 100) + (u >= 1000);
}

/* Writes the decimal digits of u (no sign, no NUL), two at a time, and returns
 * the length. */
static int put_u64(char *out, uint64_t u)
{
    int n = u64_len(u);
    char *p = out + n;
    while (u >= 100) {
        unsigned q = (unsigned)(u % 100);
        u /= 100;
        p -= 2;
        memcpy(p, dig2 + 2 * q, 2);
    }
    if (u >= 10) {
        memcpy(p - 2, dig2 + 2 * u, 2);
    } else {
        p[-1] = (char)('0' + u);
    }
    return n;
}

static int put_i64(char *dst, int64_t v)
{
    if (v < 0) {
        dst[0] = '-';
        /* -(v + 1) + 1: no overflow at INT64_MIN */
        return 1 + put_u64(dst + 1, (uint64_t)(-(v + 1)) + 1);
    }
    return put_u64(dst, (uint64_t)v);
}

/* Longest text fmt_double writes ("-2.2250738585072014e-308" is 24). */
#define DOUBLE_MAX_TEXT 32

/* The shortest of %.15g..%.17g that reads back exactly, through libc: the
 * reference for what the exact integer path below reproduces. */
static int fmt_libc(char *dst, double v)
{
    char buf[DOUBLE_MAX_TEXT];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v) {
            break;
        }
    }
    memcpy(dst, buf, (size_t)n);
    return n;
}

#if defined(__SIZEOF_INT128__)
typedef unsigned __int128 u128;

static const uint64_t pow5[28] = {1ULL,
                                  5ULL,
                                  25ULL,
                                  125ULL,
                                  625ULL,
                                  3125ULL,
                                  15625ULL,
                                  78125ULL,
                                  390625ULL,
                                  1953125ULL,
                                  9765625ULL,
                                  48828125ULL,
                                  244140625ULL,
                                  1220703125ULL,
                                  6103515625ULL,
                                  30517578125ULL,
                                  152587890625ULL,
                                  762939453125ULL,
                                  3814697265625ULL,
                                  19073486328125ULL,
                                  95367431640625ULL,
                                  476837158203125ULL,
                                  2384185791015625ULL,
                                  11920928955078125ULL,
                                  59604644775390625ULL,
                                  298023223876953125ULL,
                                  1490116119384765625ULL,
                                  7450580596923828125ULL};

static const uint64_t pow10u[20] = {1ULL,
                                    10ULL,
                                    100ULL,
                                    1000ULL,
                                    10000ULL,
                                    100000ULL,
                                    1000000ULL,
                                    10000000ULL,
                                    100000000ULL,
                                    1000000000ULL,
                                    10000000000ULL,
                                    100000000000ULL,
                                    1000000000000ULL,
                                    10000000000000ULL,
                                    100000000000000ULL,
                                    1000000000000000ULL,
                                    10000000000000000ULL,
                                    100000000000000000ULL,
                                    1000000000000000000ULL,
                                    10000000000000000000ULL};

/* |v| = m * 2^e2 (normal double, m has its hidden bit). Rounds |v| * 10^k to
 * an integer the way glibc's printf does (exactly, ties to even) into *d, and
 * says whether D * 10^-k reads back as v (strtod rounds to nearest, ties to
 * even). *floor_out is the unrounded integer part, for finding the exponent.
 * Returns -1 when the numbers would not fit 128 bits (caller uses libc). */
static int scale_round(uint64_t m, int e2, int k, uint64_t *d, uint64_t *floor_out, int *exact)
{
    u128 q, rem_lo, rem_hi; /* |delta| below and above, in the units of `unit` */
    u128 unit;              /* one ulp of v in the same units */
    int up;
    if (k >= 0) {
        if (k > 27) {
            return -1;
        }
        u128 n = (u128)m * pow5[k];
        int sh = e2 + k;
        if (sh >= 0) {
            if (sh > 10) {
                return -1; /* would not be a 17-digit integer: exponent estimate far off */
            }
            q = n << sh;
            *floor_out = (uint64_t)q;
            *d = (uint64_t)q;
            *exact = 1; /* D * 10^-k == v */
            return q >> 64 ? -1 : 0;
        }
        int t = -sh;
        if (t > 120) {
            return -1;
        }
        /* v * 10^k = n / 2^t; in units of 2^-t, one ulp of v is 5^k (see below) */
        q = n >> t;
        u128 r = n & (((u128)1 << t) - 1);
        u128 half = (u128)1 << (t - 1);
        up = r > half || (r == half && (q & 1));
        rem_lo = r;
        rem_hi = ((u128)1 << t) - r;
        /* (c - v) / 2^e2 == (D * 2^t - n) / 5^k: scaled so one ulp is 5^k */
        unit = pow5[k];
    } else {
        int j = -k;
        if (j > 19 || e2 > 60) {
            return -1;
        }
        int ep = e2 > 0 ? e2 : 0, tn = e2 < 0 ? -e2 : 0;
        u128 v = (u128)m << ep;
        u128 den = (u128)pow10u[j] << tn;
        q = v / den;
        u128 r = v - q * den;
        up = 2 * r > den || (2 * r == den && (q & 1));
        rem_lo = r;
        rem_hi = den - r;
        unit = (u128)1 << ep; /* v and den scaled by 2^tn: one ulp of v is 2^(e2 + tn) */
    }
    if (q >> 64) {
        return -1;
    }
    *floor_out = (uint64_t)q;
    *d = (uint64_t)q + (uint64_t)up;
    u128 delta = up ? rem_hi : rem_lo;
    int even = (m & 1) == 0;
    if (up || m != (1ULL << 52)) {
        *exact = 2 * delta < unit || (2 * delta == unit && even);
    } else {
        /* below a power of two the next double down is half an ulp away */
        *exact = 4 * delta < unit || (4 * delta == unit && even);
    }
    return 0;
}

/* %.Pg of D * 10^(X - P + 1) (D has exactly P digits), as glibc prints it. */
static int put_g(char *dst, int neg, uint64_t d, int P, int X)
{
    char s[20];
    put_u64(s, d);
    int nd = P;
    while (nd > 1 && s[nd - 1] == '0') {
        nd--;
    }
    char *o = dst;
    if (neg) {
        *o++ = '-';
    }
    if (X < -4 || X >= P) {
        *o++ = s[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, s + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        *o++ = 'e';
        *o++ = X < 0 ? '-' : '+';
        unsigned ax = (unsigned)(X < 0 ? -X : X);
        if (ax < 10) {
            *o++ = '0';
        }
        o += put_u64(o, ax);
    } else if (X >= 0) {
        memcpy(o, s, (size_t)X + 1);
        o += X + 1;
        if (nd > X + 1) {
            *o++ = '.';
            memcpy(o, s + X + 1, (size_t)(nd - X - 1));
            o += nd - X - 1;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int z = 0; z < -X - 1; z++) {
            *o++ = '0';
        }
        memcpy(o, s, (size_t)nd);
        o += nd;
    }
    return (int)(o - dst);
}

/* fmt_libc's result without libc, for normal doubles of moderate size:
 * %.Pg is the correctly rounded P-digit decimal, and "strtod reads it back as
 * v" is "it lies inside v's rounding interval"; both are exact integer
 * arithmetic on v's significand. 0 when out of range. */
static int fmt_exact(char *dst, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    int be = (int)((bits >> 52) & 0x7ff);
    if (be == 0 || be == 0x7ff) {
        return 0;
    }
    uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
    int e2 = be - 1075;
    int neg = (int)(bits >> 63);
    /* decimal exponent estimate from the binary one; corrected below */
    int y = (e2 + 52) * 78913; /* 78913 / 2^18 ~ log10(2) */
    int x0 = y >= 0 ? y >> 18 : -((-y + (1 << 18) - 1) >> 18);
    for (int P = 15; P <= 17; P++) {
        int X = x0;
        uint64_t d, fl;
        int exact;
        for (int tries = 0;; tries++) {
            if (tries > 3 || scale_round(m, e2, P - 1 - X, &d, &fl, &exact) < 0) {
                return 0;
            }
            if (fl >= pow10u[P]) {
                X++;
            } else if (fl < pow10u[P - 1]) {
                X--;
            } else {
                break;
            }
        }
        x0 = X;
        if (exact || P == 17) {
            if (d == pow10u[P]) { /* 9.99..95 rounded up: one more digit of exponent */
                d = pow10u[P - 1];
                X++;
            }
            return put_g(dst, neg, d, P, X);
        }
    }
    return 0;
}
#else
static int fmt_exact(char *dst, double v)
{
    (void)dst;
    (void)v;
    return 0;
}
#endif

/* nearbyint() for 0 <= x, without the libm call and its floating-point
 * environment save/restore: adding 2^52 leaves no fraction bits, so the FPU
 * rounds (to nearest, ties to even, as nearbyint does in the default mode). */
static double round_int(double x)
{
#if FLT_EVAL_METHOD == 0
    return x < 0x1p52 ? (x + 0x1p52) - 0x1p52 : x;
#else
    return nearbyint(x);
#endif
}

/* Writes v (no NUL) and returns the length, at most DOUBLE_MAX_TEXT - 1. */
static int fmt_double(char *dst, double v)
{
    /* Fast path for what sensors report (a few decimals, moderate size): the
     * fewest decimals d such that round(v * 10^d) / 10^d == v. Both that
     * quotient and strtod() of the printed text are the double nearest to the
     * same exact decimal, so the text reads back as v; and it is the shortest
     * fixed-point text that does. */
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double a = fabs(v);
    if (a < 1e9 && (a >= 1e-6 || v == 0) && !(v == 0 && signbit(v))) {
        for (int d = 0; d <= 9; d++) {
            double x = a * p10[d];
            double r = round_int(x);
            if (r >= 9.0e15) {
                break;
            }
            /* If r / 10^d rounds to a, then |r - a*10^d| <= a*10^d*2^-53, so
             * |r - x| <= x*2^-51 or so: farther means the exact test below
             * fails, and the division is skipped. */
            if (fabs(x - r) > x * 0x1p-50 || r / p10[d] != a) {
                continue;
            }
            uint64_t u = (uint64_t)r;
            int nd = u64_len(u);
            char *o = dst;
            if (v < 0) {
                *o++ = '-';
            }
            if (nd <= d) { /* 0.00ddd */
                *o++ = '0';
                *o++ = '.';
                for (int z = 0; z < d - nd; z++) {
                    *o++ = '0';
                }
                o += put_u64(o, u);
            } else if (d == 0) {
                o += put_u64(o, u);
            } else {
                /* the digits, then the point moved in before the last d */
                o += put_u64(o, u);
                memmove(o - d + 1, o - d, (size_t)d);
                o[-d] = '.';
                o++;
            }
            return (int)(o - dst);
        }
    }
    if (v == 0) { /* -0: what %.15g prints */
        memcpy(dst, "-0", 2);
        return 2;
    }
    int n = fmt_exact(dst, v);
    return n > 0 ? n : fmt_libc(dst, v);
}

int cg_lp_format_double(char *buf, double v)
{
    int n = fmt_double(buf, v);
    buf[n] = '\0';
    return n;
}

/* The escaped measurement and the sorted tag set: the series key. */
struct head {
    struct span meas;
    struct tagent tags[CG_POINT_MAX_TAGS + CG_POINT_MAX_TAGS];
    size_t nt;
};

static const struct cg_lp_opts no_opts;

/* Checks and measures the measurement and tags, in the order and with the
 * reasons the encoder has always used. fields_too: check the field count too
 * (cg_lp_encode checks it between the tag count and the tags). */
static const char *scan_head(const struct cg_point *p, const struct cg_lp_opts *opts, int fields_too,
                             struct head *h)
{
    const char *reason;
    uint16_t pkl[CG_POINT_MAX_TAGS]; /* point tag key lengths, for the duplicate and override tests */
    size_t nt = 0;

    if ((reason = scan(E_MEAS, p->measurement, CG_POINT_MAX_NAME, &h->meas)) != NULL) {
        return reason;
    }
    if (p->n_tags > CG_POINT_MAX_TAGS || opts->n_static_tags > CG_POINT_MAX_TAGS) {
        return "too many tags";
    }
    if (fields_too && (p->n_fields == 0 || p->n_fields > CG_POINT_MAX_FIELDS)) {
        return p->n_fields == 0 ? "no fields" : "too many fields";
    }
    /* Point tags first; a static tag is added only if the point lacks the key. */
    for (size_t i = 0; i < p->n_tags; i++) {
        const struct cg_tag *t = &p->tags[i];
        struct span k, v;
        if ((reason = scan(E_KEY, t->key, CG_POINT_MAX_NAME, &k)) != NULL) {
            return reason;
        }
        pkl[i] = (uint16_t)k.len;
        for (size_t j = 0; j < i; j++) {
            if (key_eq(p->tags[j].key, pkl[j], k.s, k.len)) {
                return "duplicate tag key";
            }
        }
        if (t->value == NULL || t->value[0] == '\0') {
            continue; /* empty value: the tag is omitted */
        }
        if ((reason = scan(E_TAGVAL, t->value, CG_POINT_MAX_TAG_VALUE, &v)) != NULL) {
            return reason;
        }
        h->tags[nt++] = (struct tagent){k.s, v.s, (uint32_t)k.len, (uint32_t)k.esc, (uint32_t)v.len, (uint32_t)v.esc};
    }
    for (size_t s = 0; s < opts->n_static_tags; s++) {
        const struct cg_tag *t = &opts->static_tags[s];
        if (t->value == NULL || t->value[0] == '\0') {
            continue;
        }
        size_t kl = strlen(t->key);
        int have = 0;
        for (size_t i = 0; i < p->n_tags && !have; i++) {
            have = key_eq(p->tags[i].key, pkl[i], t->key, kl);
        }
        if (!have) {
            struct span k, v;
            measure(t->key, C_ESC_KEY, &k);
            measure(t->value, C_ESC_KEY, &v);
            h->tags[nt++] = (struct tagent){k.s, v.s, (uint32_t)k.len, (uint32_t)k.esc, (uint32_t)v.len, (uint32_t)v.esc};
        }
    }
    /* Insertion sort (stable): tag sets are small, and InfluxDB wants byte order. */
    for (size_t i = 1; i < nt; i++) {
        struct tagent x = h->tags[i];
        size_t j = i;
        while (j > 0 && key_cmp(h->tags[j - 1].k, h->tags[j - 1].kl, x.k, x.kl) > 0) {
            h->tags[j] = h->tags[j - 1];
            j--;
        }
        h->tags[j] = x;
    }
    h->nt = nt;
    return NULL;
}

/* What the previous encoder reserved for the head: 2x each name (see
 * over_limit) plus the separators. Also an upper bound of what is written. */
static size_t head_bound(const struct head *h)
{
    size_t b = 2 * h->meas.len;
    for (size_t i = 0; i < h->nt; i++) {
        b += 2 + 2 * (size_t)h->tags[i].kl + 2 * (size_t)h->tags[i].vl;
    }
    return b;
}

static size_t head_len(const struct head *h)
{
    size_t b = h->meas.len + h->meas.esc;
    for (size_t i = 0; i < h->nt; i++) {
        const struct tagent *t = &h->tags[i];
        b += 2 + (size_t)t->kl + t->ke + t->vl + t->ve;
    }
    return b;
}

static char *write_head(char *o, const struct head *h)
{
    o = put_esc(o, h->meas.s, h->meas.len, h->meas.esc, C_ESC_MEAS);
    for (size_t i = 0; i < h->nt; i++) {
        const struct tagent *t = &h->tags[i];
        *o++ = ',';
        o = put_esc(o, t->k, t->kl, t->ke, C_ESC_KEY);
        *o++ = '=';
        o = put_esc(o, t->v, t->vl, t->ve, C_ESC_KEY);
    }
    return o;
}

/* Upper bound of a number field's text: a double (DOUBLE_MAX_TEXT), or an
 * integer with sign and suffix (21). */
#define NUM_MAX_TEXT DOUBLE_MAX_TEXT
/* ' ', "-9223372036854775808", '\n' */
#define TS_MAX_TEXT 22

struct fscan {
    size_t bad;        /* index of the refused field; n_fields when none */
    size_t writable;   /* fields that will be written */
    size_t bound;      /* what the previous encoder reserved for them (upper bound) */
    uint64_t nonfinite; /* NaN/Inf fields skipped before `bad` */
};

/* Checks the fields in order (key, duplicate, value), exactly as the encoder
 * always has, and measures them. */
static const char *scan_fields(const struct cg_point *p, struct fent *fe, struct fscan *fs)
{
    const char *reason = NULL;
    size_t i;
    fs->writable = fs->bound = 0;
    fs->nonfinite = 0;
    for (i = 0; i < p->n_fields; i++) {
        const struct cg_field *f = &p->fields[i];
        struct span k;
        if ((reason = scan(E_KEY, f->key, CG_POINT_MAX_NAME, &k)) != NULL) {
            goto out;
        }
        fe[i].kl = (uint16_t)k.len;
        fe[i].ke = (uint16_t)k.esc;
        fe[i].skip = 0;
        for (size_t j = 0; j < i; j++) {
            if (key_eq(p->fields[j].key, fe[j].kl, k.s, k.len)) {
                reason = "duplicate field key";
                goto out;
            }
        }
        size_t vb = NUM_MAX_TEXT;
        switch (f->type) {
        case CG_FIELD_FLOAT:
            if (!isfinite(f->v.f)) {
                fs->nonfinite++;
                fe[i].skip = 1;
                continue;
            }
            break;
        case CG_FIELD_INT:
        case CG_FIELD_UINT:
        case CG_FIELD_BOOL:
            break;
        case CG_FIELD_STRING: {
            const char *s = f->v.s;
            if (s == NULL) {
                reason = "NULL string field";
                goto out;
            }
            size_t n, e;
            unsigned acc = scan_bytes(s, C_ESC_STR, &n, &e);
            if (n > CG_POINT_MAX_STRING) {
                reason = "string field too long";
                goto out;
            }
            if (acc & C_NL) {
                reason = "newline in a string field";
                goto out;
            }
            fe[i].sl = (uint32_t)n;
            fe[i].se = (uint32_t)e;
            vb = 2 * n + 2;
            break;
        }
        default:
            reason = "unknown field type";
            goto out;
        }
        fs->writable++;
        fs->bound += 2 + 2 * k.len + vb;
    }
out:
    fs->bad = i;
    return reason;
}

/* A number field's text (no NUL); counts a clipped uint. */
static int put_num(char *o, const struct cg_field *f, bool write_uint, uint64_t *clipped)
{
    int n;
    switch (f->type) {
    case CG_FIELD_FLOAT:
        return fmt_double(o, f->v.f);
    case CG_FIELD_INT:
        n = put_i64(o, f->v.i);
        o[n] = 'i';
        return n + 1;
    case CG_FIELD_UINT:
        if (write_uint) {
            n = put_u64(o, f->v.u);
            o[n] = 'u';
            return n + 1;
        } else {
            uint64_t u = f->v.u;
            if (u > (uint64_t)INT64_MAX) {
                u = (uint64_t)INT64_MAX;
                (*clipped)++;
            }
            n = put_u64(o, u);
            o[n] = 'i';
            return n + 1;
        }
    default: /* CG_FIELD_BOOL: scan_fields let nothing else through */
        o[0] = f->v.b ? 't' : 'f';
        return 1;
    }
}

static char *write_fields(char *o, const struct cg_point *p, const struct fent *fe, bool write_uint,
                          uint64_t *clipped)
{
    char sep = ' ';
    for (size_t i = 0; i < p->n_fields; i++) {
        const struct cg_field *f = &p->fields[i];
        if (fe[i].skip) {
            continue;
        }
        *o++ = sep;
        sep = ',';
        o = put_esc(o, f->key, fe[i].kl, fe[i].ke, C_ESC_KEY);
        *o++ = '=';
        if (f->type == CG_FIELD_STRING) {
            *o++ = '"';
            o = put_esc(o, f->v.s, fe[i].sl, fe[i].se, C_ESC_STR);
            *o++ = '"';
        } else {
            o += put_num(o, f, write_uint, clipped);
        }
    }
    return o;
}

static char *write_ts(char *o, int64_t ts)
{
    *o++ = ' ';
    o += put_i64(o, ts);
    *o++ = '\n';
    return o;
}

/* One reservation step of the previous encoder: r bytes reserved, w written. */
static int step(size_t *cur, size_t max, size_t r, size_t w)
{
    if (r > max || *cur > max - r) {
        return 0;
    }
    *cur += w;
    return 1;
}

/* Only when the buffer is nearly full. The previous encoder reserved as it
 * wrote (2x each name, 2x+2 each string, each number's length) and gave up
 * with -ENOBUFS at the first reservation that passed out->max, even when the
 * line itself would have fitted, and before it saw a bad field further on.
 * This replays those steps so the same points get the same answer. h == NULL:
 * a precomputed key of key_len bytes, and only the exact length counts.
 * Returns 1 when the line does not fit (or would not have), else 0 with its
 * exact length in *len. */
static int over_limit(const struct cg_buf *out, const struct head *h, size_t key_len, const struct cg_point *p,
                      const struct fent *fe, size_t upto, int with_ts, bool write_uint, size_t *len)
{
    size_t cur = out->len, max = out->max;
    int q = h != NULL; /* replay the old over-reservations */
    if (h == NULL) {
        if (!step(&cur, max, key_len, key_len)) {
            return 1;
        }
    } else {
        size_t ml = h->meas.len;
        if (!step(&cur, max, 2 * ml, ml + h->meas.esc)) {
            return 1;
        }
        for (size_t i = 0; i < h->nt; i++) {
            const struct tagent *t = &h->tags[i];
            if (!step(&cur, max, 1, 1) || !step(&cur, max, 2 * (size_t)t->kl, (size_t)t->kl + t->ke) ||
                !step(&cur, max, 1, 1) || !step(&cur, max, 2 * (size_t)t->vl, (size_t)t->vl + t->ve)) {
                return 1;
            }
        }
    }
    for (size_t i = 0; i < upto; i++) {
        const struct cg_field *f = &p->fields[i];
        if (fe[i].skip) {
            continue;
        }
        size_t kw = (size_t)fe[i].kl + fe[i].ke;
        if (!step(&cur, max, 1, 1) || !step(&cur, max, q ? 2 * (size_t)fe[i].kl : kw, kw) ||
            !step(&cur, max, 1, 1)) {
            return 1;
        }
        if (f->type == CG_FIELD_STRING) {
            size_t sw = (size_t)fe[i].sl + fe[i].se + 2;
            if (!step(&cur, max, q ? 2 * (size_t)fe[i].sl + 2 : sw, sw)) {
                return 1;
            }
        } else {
            char num[NUM_MAX_TEXT];
            uint64_t clipped = 0;
            size_t n = (size_t)put_num(num, f, write_uint, &clipped);
            if (!step(&cur, max, n, n)) {
                return 1;
            }
        }
    }
    if (with_ts) {
        char ts[TS_MAX_TEXT];
        size_t n = (size_t)(write_ts(ts, p->time_ns) - ts);
        if (!step(&cur, max, n, n)) {
            return 1;
        }
    }
    *len = cur - out->len;
    return 0;
}

static void count_reject(struct cg_lp_counters *cnt, const char **why, const char *reason, uint64_t nonfinite)
{
    if (why != NULL) {
        *why = reason;
    }
    if (cnt != NULL) {
        cnt->rejected++;
        cnt->fields_nonfinite += nonfinite;
    }
}

/* Writes the fields and the time stamp after the head (which ends at o),
 * ends the line and counts it. */
static void finish_line(struct cg_buf *out, char *o, const struct cg_point *p, const struct fent *fe,
                        const struct cg_lp_opts *opts, const struct fscan *fs, struct cg_lp_counters *cnt)
{
    uint64_t clipped = 0;
    o = write_fields(o, p, fe, opts->write_uint, &clipped);
    o = write_ts(o, p->time_ns);
    *o = '\0';
    out->len = (size_t)(o - out->data);
    if (cnt != NULL) {
        cnt->points++;
        cnt->fields_nonfinite += fs->nonfinite;
        cnt->uint_clipped += clipped;
    }
}

int cg_lp_encode(struct cg_buf *out, const struct cg_point *p, const struct cg_lp_opts *opts,
                 struct cg_lp_counters *cnt, const char **why)
{
    struct head h;
    struct fent fe[CG_POINT_MAX_FIELDS];
    struct fscan fs = {0};
    const char *reason;
    size_t start = out->len;
    int rc;

    if (opts == NULL) {
        opts = &no_opts;
    }
    if ((reason = scan_head(p, opts, 1, &h)) != NULL) {
        goto reject;
    }
    reason = scan_fields(p, fe, &fs);
    if (reason == NULL && fs.writable == 0) {
        reason = "no writable fields (all NaN or Inf)";
    }
    size_t need = head_bound(&h) + fs.bound + TS_MAX_TEXT;
    if (need > out->max - start) {
        if (over_limit(out, &h, 0, p, fe, fs.bad, reason == NULL, opts->write_uint, &need)) {
            rc = -ENOBUFS;
            goto fail;
        }
    }
    if (reason != NULL) {
        goto reject;
    }
    if ((rc = cg_buf_reserve(out, need)) < 0) {
        goto fail;
    }
    finish_line(out, write_head(out->data + start, &h), p, fe, opts, &fs, cnt);
    return 0;

reject:
    count_reject(cnt, why, reason, fs.nonfinite);
    return -EINVAL;
fail:
    cg_buf_truncate(out, start);
    return rc;
}

int cg_lp_series_key(struct cg_buf *key, const struct cg_point *p, const struct cg_lp_opts *opts, const char **why)
{
    struct head h;
    const char *reason = scan_head(p, opts != NULL ? opts : &no_opts, 0, &h);
    if (reason != NULL) {
        if (why != NULL) {
            *why = reason;
        }
        return -EINVAL;
    }
    size_t n = head_len(&h);
    int rc = cg_buf_reserve(key, n);
    if (rc < 0) {
        return rc;
    }
    char *o = write_head(key->data + key->len, &h);
    *o = '\0';
    key->len = (size_t)(o - key->data);
    return 0;
}

int cg_lp_encode_with_key(struct cg_buf *out, const char *key, size_t key_len, const struct cg_point *p,
                          const struct cg_lp_opts *opts, struct cg_lp_counters *cnt, const char **why)
{
    struct fent fe[CG_POINT_MAX_FIELDS];
    struct fscan fs = {0};
    const char *reason;
    size_t start = out->len;
    int rc;

    if (opts == NULL) {
        opts = &no_opts;
    }
    if (p->n_fields == 0 || p->n_fields > CG_POINT_MAX_FIELDS) {
        reason = p->n_fields == 0 ? "no fields" : "too many fields";
        goto reject;
    }
    if ((reason = scan_fields(p, fe, &fs)) != NULL) {
        goto reject;
    }
    if (fs.writable == 0) {
        reason = "no writable fields (all NaN or Inf)";
        goto reject;
    }
    size_t need = key_len + fs.bound + TS_MAX_TEXT;
    if (need > out->max - start &&
        over_limit(out, NULL, key_len, p, fe, p->n_fields, 1, opts->write_uint, &need)) {
        return -ENOBUFS;
    }
    if ((rc = cg_buf_reserve(out, need)) < 0) {
        return rc;
    }
    memcpy(out->data + start, key, key_len);
    finish_line(out, out->data + start + key_len, p, fe, opts, &fs, cnt);
    return 0;

reject:
    count_reject(cnt, why, reason, fs.nonfinite);
    return -EINVAL;
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
