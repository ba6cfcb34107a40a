/* citygate — InfluxDB line protocol passthrough. Pure: bytes in, points out.
 *
 * Each line is parsed and validated (not copied blindly): the points are
 * re-tagged by the caller's base tags and normalised by the core like any
 * other reading. Grammar and escapes as in the InfluxDB v1 line protocol
 * reference: measurement escapes ',' and ' '; tag keys/values and field keys
 * escape ',', '=' and ' '; string fields are double-quoted with \" and \\.
 * Floats are plain decimals (no NaN/Inf), integers end in 'i', unsigned in
 * 'u', booleans are t/T/true/True/TRUE/f/F/false/False/FALSE. Blank lines and
 * '#' comments are skipped. */
#include <citygate/codec.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct lp {
    const char *s;
    size_t end, pos;
    struct cg_arena *a;
};

/* Reads up to an unescaped stop character; unescapes the escapable ones. */
static int token(struct lp *p, const char *stops, const char *escapable, char **out, size_t *outlen)
{
    size_t start = p->pos;
    while (p->pos < p->end) {
        char c = p->s[p->pos];
        if (c == '\\' && p->pos + 1 < p->end && strchr(escapable, p->s[p->pos + 1]) != NULL) {
            p->pos += 2;
            continue;
        }
        if (strchr(stops, c) != NULL) {
            break;
        }
        p->pos++;
    }
    size_t n = p->pos - start;
    char *d = cg_arena_alloc(p->a, n + 1);
    if (d == NULL) {
        return -EMSGSIZE;
    }
    size_t o = 0;
    for (size_t i = start; i < p->pos; i++) {
        if (p->s[i] == '\\' && i + 1 < p->pos && strchr(escapable, p->s[i + 1]) != NULL) {
            i++;
        }
        d[o++] = p->s[i];
    }
    d[o] = '\0';
    *out = d;
    *outlen = o;
    return 0;
}

static bool at(struct lp *p, char c)
{
    return p->pos < p->end && p->s[p->pos] == c;
}

static bool word_is(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++) {
        if (strlen(*words) == n && memcmp(s, *words, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool int_syntax(const char *s, size_t n, bool allow_minus)
{
    size_t i = 0;
    if (allow_minus && i < n && s[i] == '-') {
        i++;
    }
    if (i >= n) {
        return false;
    }
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static int field_value(struct lp *p, struct cg_batch *out, const char *key, size_t klen, const char **why)
{
    if (at(p, '"')) {
        p->pos++;
        size_t start = p->pos;
        while (p->pos < p->end && p->s[p->pos] != '"') {
            if (p->s[p->pos] == '\\' && p->pos + 1 < p->end) {
                p->pos++;
            }
            p->pos++;
        }
        if (p->pos >= p->end) {
            *why = "unterminated string field";
            return -EINVAL;
        }
        size_t n = p->pos - start;
        p->pos++;
        char *d = cg_arena_alloc(p->a, n + 1);
        if (d == NULL) {
            *why = "payload too large to decode";
            return -EMSGSIZE;
        }
        size_t o = 0;
        for (size_t i = start; i < start + n; i++) {
            if (p->s[i] == '\\' && i + 1 < start + n && (p->s[i + 1] == '"' || p->s[i + 1] == '\\')) {
                i++;
            }
            d[o++] = p->s[i];
        }
        d[o] = '\0';
        return cg_batch_field_s(out, key, klen, d, o);
    }
    size_t start = p->pos;
    while (p->pos < p->end && p->s[p->pos] != ',' && p->s[p->pos] != ' ') {
        p->pos++;
    }
    const char *v = p->s + start;
    size_t n = p->pos - start;
    static const char *const yes[] = {"t", "T", "true", "True", "TRUE", NULL};
    static const char *const no[] = {"f", "F", "false", "False", "FALSE", NULL};
    if (n == 0) {
        *why = "missing field value";
        return -EINVAL;
    }
    if (word_is(v, n, yes) || word_is(v, n, no)) {
        return cg_batch_field_b(out, key, klen, word_is(v, n, yes));
    }
    char num[72];
    if (v[n - 1] == 'i' || v[n - 1] == 'u') {
        bool is_u = v[n - 1] == 'u';
        if (n - 1 > 24 || !int_syntax(v, n - 1, !is_u)) {
            *why = "bad integer field value";
            return -EINVAL;
        }
        memcpy(num, v, n - 1);
        num[n - 1] = '\0';
        errno = 0;
        if (is_u) {
            unsigned long long x = strtoull(num, NULL, 10);
            if (errno == ERANGE) {
                *why = "integer field out of range";
                return -ERANGE;
            }
            return cg_batch_field_u(out, key, klen, (uint64_t)x);
        }
        long long x = strtoll(num, NULL, 10);
        if (errno == ERANGE) {
            *why = "integer field out of range";
            return -ERANGE;
        }
        return cg_batch_field_i(out, key, klen, (int64_t)x);
    }
    const char *w = v;
    size_t wn = n;
    if (wn > 0 && (*w == '-' || *w == '+')) {
        w++;
        wn--;
    }
    if ((wn == 3 && (strncasecmp(w, "nan", 3) == 0 || strncasecmp(w, "inf", 3) == 0)) ||
        (wn == 8 && strncasecmp(w, "infinity", 8) == 0)) {
        *why = "NaN or infinite value";
        return -EDOM;
    }
    if (n > 64 || !cg_number_syntax_ok(v, n)) {
        *why = "bad field value";
        return -EINVAL;
    }
    memcpy(num, v, n);
    num[n] = '\0';
    double d = strtod(num, NULL);
    if (!isfinite(d)) {
        *why = "NaN or infinite value";
        return -EDOM;
    }
    return cg_batch_field_f(out, key, klen, d);
}

static const char *rc_why(int rc)
{
    switch (rc) {
    case -EILSEQ: return "text is not valid UTF-8";
    case -EMSGSIZE: return "too many lines, tags or fields, or a name too long";
    case -EDOM: return "NaN or infinite value";
    case -ENOMEM: return "out of memory";
    default: return "invalid line";
    }
}

static int parse_line(const struct cg_codec_lp_conf *conf, const char *measurement, struct lp *p,
                      struct cg_batch *out, const char **why)
{
    char *m, *k, *v;
    size_t mlen, klen, vlen;
    int rc;
    *why = NULL;
    if ((rc = token(p, ", ", ", ", &m, &mlen)) < 0) {
        goto fail;
    }
    if (mlen == 0) {
        *why = "missing measurement";
        return -EINVAL;
    }
    if (measurement != NULL) {
        rc = cg_batch_begin(out, measurement, strlen(measurement), false, out->now_ns);
    } else {
        rc = cg_batch_begin(out, m, mlen, true, out->now_ns);
    }
    if (rc < 0) {
        goto fail;
    }
    while (at(p, ',')) {
        p->pos++;
        if ((rc = token(p, "=, ", ",= ", &k, &klen)) < 0) {
            goto fail;
        }
        if (klen == 0 || !at(p, '=')) {
            *why = "bad tag (expected key=value)";
            return -EINVAL;
        }
        p->pos++;
        if ((rc = token(p, ", ", ",= ", &v, &vlen)) < 0) {
            goto fail;
        }
        if (vlen == 0) {
            *why = "empty tag value";
            return -EINVAL;
        }
        if ((rc = cg_batch_tag(out, k, klen, v, vlen)) < 0) {
            goto fail;
        }
    }
    if (!at(p, ' ')) {
        *why = "expected a space before the fields";
        return -EINVAL;
    }
    while (at(p, ' ')) {
        p->pos++;
    }
    for (;;) {
        if ((rc = token(p, "=, ", ",= ", &k, &klen)) < 0) {
            goto fail;
        }
        if (klen == 0 || !at(p, '=')) {
            *why = "bad field (expected key=value)";
            return -EINVAL;
        }
        p->pos++;
        if ((rc = field_value(p, out, k, klen, why)) < 0) {
            goto fail;
        }
        if (!at(p, ',')) {
            break;
        }
        p->pos++;
    }
    while (at(p, ' ')) {
        p->pos++;
    }
    if (p->pos < p->end) {
        size_t start = p->pos;
        while (p->pos < p->end && p->s[p->pos] != ' ') {
            p->pos++;
        }
        size_t n = p->pos - start;
        char num[32];
        if (n > 20 || !int_syntax(p->s + start, n, true)) {
            *why = "bad timestamp";
            return -EINVAL;
        }
        memcpy(num, p->s + start, n);
        num[n] = '\0';
        errno = 0;
        long long t = strtoll(num, NULL, 10);
        int64_t mult = conf->precision_ns > 0 ? conf->precision_ns : 1;
        if (errno == ERANGE || t > INT64_MAX / mult || t < INT64_MIN / mult) {
            *why = "timestamp out of range";
            return -ERANGE;
        }
        cg_batch_set_time(out, (int64_t)t * mult);
        while (at(p, ' ')) {
            p->pos++;
        }
        if (p->pos < p->end) {
            *why = "trailing data after the timestamp";
            return -EINVAL;
        }
    }
    return cg_batch_end(out);
fail:
    if (*why == NULL) {
        *why = rc_why(rc);
    }
    return rc;
}

int cg_codec_lp_decode(const struct cg_codec_lp_conf *conf, const char *measurement,
                       const char *payload, size_t len, struct cg_batch *out, const char **why)
{
    if (memchr(payload, '\0', len) != NULL) {
        *why = "NUL byte in line protocol";
        return -EINVAL;
    }
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(payload + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - payload) : len;
        size_t next = nl ? end + 1 : len;
        if (end > pos && payload[end - 1] == '\r') {
            end--;
        }
        size_t s = pos;
        while (s < end && (payload[s] == ' ' || payload[s] == '\t')) {
            s++;
        }
        if (s < end && payload[s] != '#') {
            struct lp p = {.s = payload, .end = end, .pos = s, .a = &out->arena};
            int rc = parse_line(conf, measurement, &p, out, why);
            if (rc < 0) {
                return rc;
            }
        }
        pos = next;
    }
    if (out->n_points == 0) {
        *why = "no lines in payload";
        return -ENODATA;
    }
    return 0;
}
