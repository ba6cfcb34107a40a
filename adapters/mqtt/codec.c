/* citygate — shared pieces of the MQTT payload codecs: a bounded arena, the
 * point batch, a JSON DOM with nesting and UTF-8 checks, timestamp parsing.
 * Pure: no logging, no globals. */
#include <citygate/codec.h>
#include <citygate/array.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---------------------------------------------------------------- */

struct cg_arena_block {
    struct cg_arena_block *prev;
    size_t size, used;
    _Alignas(8) unsigned char data[];
};

#define ARENA_BLOCK 16384

void cg_arena_init(struct cg_arena *a, size_t max)
{
    a->head = NULL;
    a->total = 0;
    a->max = max;
}

void *cg_arena_alloc(struct cg_arena *a, size_t n)
{
    size_t need = (n + 7u) & ~(size_t)7u;
    if (need < n || need > a->max || a->total > a->max - need) {
        return NULL;
    }
    struct cg_arena_block *b = a->head;
    if (b == NULL || b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        struct cg_arena_block *nb = malloc(sizeof(*nb) + size);
        if (nb == NULL) {
            return NULL;
        }
        nb->prev = b;
        nb->size = size;
        nb->used = 0;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    memset(p, 0, n);
    return p;
}

char *cg_arena_strndup(struct cg_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX) {
        return NULL;
    }
    char *p = cg_arena_alloc(a, n + 1);
    if (p != NULL) {
        if (n > 0) {
            memcpy(p, s, n);
        }
        p[n] = '\0';
    }
    return p;
}

void cg_arena_reset(struct cg_arena *a)
{
    struct cg_arena_block *b = a->head;
    while (b != NULL && b->prev != NULL) {
        struct cg_arena_block *prev = b->prev;
        free(b);
        b = prev;
    }
    if (b != NULL) {
        b->used = 0;
    }
    a->head = b;
    a->total = 0;
}

void cg_arena_done(struct cg_arena *a)
{
    if (a == NULL) {
        return;
    }
    struct cg_arena_block *b = a->head;
    while (b != NULL) {
        struct cg_arena_block *prev = b->prev;
        free(b);
        b = prev;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

bool cg_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

/* ---- batch ---------------------------------------------------------------- */

void cg_batch_init(struct cg_batch *b, size_t max_points, size_t arena_max)
{
    memset(b, 0, sizeof(*b));
    cg_arena_init(&b->arena, arena_max);
    b->max_points = max_points;
}

void cg_batch_reset(struct cg_batch *b)
{
    cg_arena_reset(&b->arena);
    b->n_points = 0;
    b->n_tags = 0;
    b->n_fields = 0;
    b->open = false;
    b->n_skipped = 0;
}

void cg_batch_skip(struct cg_batch *b, const char *prefix, size_t plen, const char *key, size_t klen)
{
    const char *meas = b->open && b->n_points < b->cap_points ? b->points[b->n_points].measurement : NULL;
    char *name = cg_arena_alloc(&b->arena, plen + klen + 2);
    if (name != NULL) {
        memcpy(name, prefix, plen);
        size_t k = plen;
        if (plen) {
            name[k++] = '_';
        }
        memcpy(name + k, key, klen);
        name[k + klen] = '\0';
    }
    for (size_t i = 0; name && i < b->n_skipped; i++) {
        if (strcmp(b->skipped[i].name, name) == 0) {
            b->skipped[i].n++;
            return;
        }
    }
    if (name == NULL || b->n_skipped == CG_BATCH_SKIPPED_MAX) {
        struct cg_batch_skip *s = &b->skipped[b->n_skipped ? b->n_skipped - 1 : 0];
        s->name = "other";
        s->measurement = s->measurement ? s->measurement : meas;
        s->n++;
        b->n_skipped = b->n_skipped ? b->n_skipped : 1;
        return;
    }
    b->skipped[b->n_skipped++] = (struct cg_batch_skip){.name = name, .measurement = meas, .n = 1};
}

void cg_batch_done(struct cg_batch *b)
{
    if (b == NULL) {
        return;
    }
    cg_arena_done(&b->arena);
    free(b->points);
    free(b->tags);
    free(b->fields);
    free(b->tag0);
    free(b->field0);
    memset(b, 0, sizeof(*b));
}

/* The batch's arrays share one growth rule with a hard maximum each:
 * cg_array_grow (overflow-checked; the old private doubling had neither). */
/* a point's payload tags stop at CG_POINT_MAX_TAGS, on top of the rule's */
#define BATCH_MAX_TAGS(b) ((b)->max_points * (CG_POINT_MAX_TAGS + (b)->n_base_tags))

static int grow(void **arr, size_t *cap, size_t elem, size_t need, size_t max)
{
    return cg_array_grow(arr, cap, need, elem, max) < 0 ? -ENOMEM : 0;
}

int cg_batch_begin(struct cg_batch *b, const char *measurement, size_t len, bool copy,
                   int64_t time_ns)
{
    if (b->open) {
        return -EINVAL;
    }
    if (b->n_points >= b->max_points) {
        return -EMSGSIZE;
    }
    if (len == 0 || len > CG_POINT_MAX_NAME) {
        return -EINVAL;
    }
    size_t cap = b->cap_points;
    if (grow((void **)&b->points, &b->cap_points, sizeof(*b->points), b->n_points + 1, b->max_points) < 0) {
        return -ENOMEM;
    }
    if (b->cap_points != cap) {
        size_t c1 = cap, c2 = cap;
        if (grow((void **)&b->tag0, &c1, sizeof(size_t), b->cap_points, b->max_points) < 0 ||
            grow((void **)&b->field0, &c2, sizeof(size_t), b->cap_points, b->max_points) < 0) {
            b->cap_points = cap; /* keep the three arrays consistent */
            return -ENOMEM;
        }
    }
    const char *m = measurement;
    if (copy) {
        if (!cg_utf8_valid(measurement, len)) {
            return -EILSEQ;
        }
        m = cg_arena_strndup(&b->arena, measurement, len);
        if (m == NULL) {
            return -EMSGSIZE;
        }
    }
    struct cg_point *p = &b->points[b->n_points];
    memset(p, 0, sizeof(*p));
    p->measurement = m;
    p->time_ns = time_ns;
    b->tag0[b->n_points] = b->n_tags;
    b->field0[b->n_points] = b->n_fields;
    b->open = true;
    for (size_t i = 0; i < b->n_base_tags; i++) {
        if (b->base_tags[i].value == NULL || b->base_tags[i].value[0] == '\0') {
            continue;
        }
        if (grow((void **)&b->tags, &b->cap_tags, sizeof(*b->tags), b->n_tags + 1, BATCH_MAX_TAGS(b)) < 0) {
            return -ENOMEM;
        }
        b->tags[b->n_tags++] = b->base_tags[i];
        p->n_tags++;
    }
    return 0;
}

void cg_batch_set_time(struct cg_batch *b, int64_t time_ns)
{
    if (b->open) {
        b->points[b->n_points].time_ns = time_ns;
    }
}

int cg_batch_tag(struct cg_batch *b, const char *key, size_t klen, const char *val, size_t vlen)
{
    if (!b->open) {
        return -EINVAL;
    }
    struct cg_point *p = &b->points[b->n_points];
    if (vlen == 0) {
        return 0;
    }
    if (klen == 0 || klen > CG_POINT_MAX_NAME || vlen > CG_POINT_MAX_TAG_VALUE) {
        return -EMSGSIZE;
    }
    size_t t0 = b->tag0[b->n_points];
    for (size_t i = t0; i < b->n_tags; i++) {
        if (strlen(b->tags[i].key) == klen && memcmp(b->tags[i].key, key, klen) == 0) {
            return 0;
        }
    }
    if (p->n_tags >= CG_POINT_MAX_TAGS) {
        return -EMSGSIZE;
    }
    if (!cg_utf8_valid(key, klen) || !cg_utf8_valid(val, vlen)) {
        return -EILSEQ;
    }
    if (grow((void **)&b->tags, &b->cap_tags, sizeof(*b->tags), b->n_tags + 1, BATCH_MAX_TAGS(b)) < 0) {
        return -ENOMEM;
    }
    char *k = cg_arena_strndup(&b->arena, key, klen);
    char *v = cg_arena_strndup(&b->arena, val, vlen);
    if (k == NULL || v == NULL) {
        return -EMSGSIZE;
    }
    b->tags[b->n_tags++] = (struct cg_tag){.key = k, .value = v};
    p->n_tags++;
    return 0;
}

static struct cg_field *new_field(struct cg_batch *b, const char *key, size_t klen, int *rc)
{
    *rc = 0;
    if (!b->open) {
        *rc = -EINVAL;
        return NULL;
    }
    struct cg_point *p = &b->points[b->n_points];
    if (klen == 0 || klen > CG_POINT_MAX_NAME || p->n_fields >= CG_POINT_MAX_FIELDS) {
        *rc = -EMSGSIZE;
        return NULL;
    }
    if (!cg_utf8_valid(key, klen)) {
        *rc = -EILSEQ;
        return NULL;
    }
    if (grow((void **)&b->fields, &b->cap_fields, sizeof(*b->fields), b->n_fields + 1, b->max_points * CG_POINT_MAX_FIELDS) < 0) {
        *rc = -ENOMEM;
        return NULL;
    }
    char *k = cg_arena_strndup(&b->arena, key, klen);
    if (k == NULL) {
        *rc = -EMSGSIZE;
        return NULL;
    }
    struct cg_field *f = &b->fields[b->n_fields++];
    memset(f, 0, sizeof(*f));
    f->key = k;
    p->n_fields++;
    return f;
}

int cg_batch_field_f(struct cg_batch *b, const char *key, size_t klen, double v)
{
    if (!isfinite(v)) {
        return -EDOM;
    }
    int rc;
    struct cg_field *f = new_field(b, key, klen, &rc);
    if (f != NULL) {
        f->type = CG_FIELD_FLOAT;
        f->v.f = v;
    }
    return rc;
}

int cg_batch_field_i(struct cg_batch *b, const char *key, size_t klen, int64_t v)
{
    int rc;
    struct cg_field *f = new_field(b, key, klen, &rc);
    if (f != NULL) {
        f->type = CG_FIELD_INT;
        f->v.i = v;
    }
    return rc;
}

int cg_batch_field_u(struct cg_batch *b, const char *key, size_t klen, uint64_t v)
{
    int rc;
    struct cg_field *f = new_field(b, key, klen, &rc);
    if (f != NULL) {
        f->type = CG_FIELD_UINT;
        f->v.u = v;
    }
    return rc;
}

int cg_batch_field_b(struct cg_batch *b, const char *key, size_t klen, bool v)
{
    int rc;
    struct cg_field *f = new_field(b, key, klen, &rc);
    if (f != NULL) {
        f->type = CG_FIELD_BOOL;
        f->v.b = v;
    }
    return rc;
}

int cg_batch_field_s(struct cg_batch *b, const char *key, size_t klen, const char *v, size_t vlen)
{
    if (vlen > CG_POINT_MAX_STRING) {
        return -EMSGSIZE;
    }
    if (!cg_utf8_valid(v, vlen)) {
        return -EILSEQ;
    }
    int rc;
    struct cg_field *f = new_field(b, key, klen, &rc);
    if (f == NULL) {
        return rc;
    }
    char *s = cg_arena_strndup(&b->arena, v, vlen);
    if (s == NULL) {
        return -EMSGSIZE;
    }
    f->type = CG_FIELD_STRING;
    f->v.s = s;
    return 0;
}

int cg_batch_end(struct cg_batch *b)
{
    if (!b->open) {
        return -EINVAL;
    }
    struct cg_point *p = &b->points[b->n_points];
    b->open = false;
    if (p->n_fields == 0) {
        /* drop it: roll back its tags */
        b->n_tags = b->tag0[b->n_points];
        return 0;
    }
    b->n_points++;
    return 0;
}

void cg_batch_finish(struct cg_batch *b)
{
    for (size_t i = 0; i < b->n_points; i++) {
        b->points[i].tags = b->points[i].n_tags ? &b->tags[b->tag0[i]] : NULL;
        b->points[i].fields = &b->fields[b->field0[i]];
    }
}

/* ---- number syntax -------------------------------------------------------- */

bool cg_number_syntax_ok(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) {
        i++;
    }
    if (i >= len || s[i] < '0' || s[i] > '9') {
        return false;
    }
    if (s[i] == '0') {
        i++;
    } else {
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9') {
            return false;
        }
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= len || s[i] < '0' || s[i] > '9') {
            return false;
        }
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    return i == len;
}

/* ---- JSON DOM ------------------------------------------------------------- */

struct jp {
    struct cg_arena *a;
    const char *s;
    size_t len, pos;
    unsigned max_depth;
    const char *why;
    int err;
};

static int jp_fail(struct jp *p, int err, const char *why)
{
    if (p->err == 0) {
        p->err = err;
        p->why = why;
    }
    return err;
}

static void jp_ws(struct jp *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
        p->pos++;
    }
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote. Decoded text goes to the arena. */
static int jp_string(struct jp *p, const char **out, size_t *outlen)
{
    size_t start = ++p->pos;
    bool plain = true;
    while (p->pos < p->len && p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            return jp_fail(p, -EINVAL, "control character in JSON string");
        }
        if (c == '\\') {
            plain = false;
            p->pos++;
            if (p->pos >= p->len) {
                break;
            }
        }
        p->pos++;
    }
    if (p->pos >= p->len) {
        return jp_fail(p, -EINVAL, "unterminated JSON string");
    }
    size_t rawlen = p->pos - start;
    const char *raw = p->s + start;
    p->pos++; /* closing quote */
    if (!cg_utf8_valid(raw, rawlen)) {
        return jp_fail(p, -EILSEQ, "JSON string is not valid UTF-8");
    }
    if (plain) {
        char *d = cg_arena_strndup(p->a, raw, rawlen);
        if (d == NULL) {
            return jp_fail(p, -EMSGSIZE, "payload too large to decode");
        }
        *out = d;
        *outlen = rawlen;
        return 0;
    }
    char *d = cg_arena_alloc(p->a, rawlen + 1); /* unescaping never grows */
    if (d == NULL) {
        return jp_fail(p, -EMSGSIZE, "payload too large to decode");
    }
    size_t o = 0;
    for (size_t i = 0; i < rawlen; i++) {
        char c = raw[i];
        if (c != '\\') {
            d[o++] = c;
            continue;
        }
        c = raw[++i];
        switch (c) {
        case '"': d[o++] = '"'; break;
        case '\\': d[o++] = '\\'; break;
        case '/': d[o++] = '/'; break;
        case 'b': d[o++] = '\b'; break;
        case 'f': d[o++] = '\f'; break;
        case 'n': d[o++] = '\n'; break;
        case 'r': d[o++] = '\r'; break;
        case 't': d[o++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (rawlen - i < 5 || hex4(raw + i + 1, &cp) < 0) {
                return jp_fail(p, -EINVAL, "bad \\u escape in JSON string");
            }
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (rawlen - i < 7 || raw[i + 1] != '\\' || raw[i + 2] != 'u' ||
                    hex4(raw + i + 3, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
                    return jp_fail(p, -EILSEQ, "unpaired surrogate in JSON string");
                }
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return jp_fail(p, -EILSEQ, "unpaired surrogate in JSON string");
            }
            if (cp == 0) {
                return jp_fail(p, -EILSEQ, "NUL character in JSON string");
            }
            o += put_utf8(d + o, cp); /* \uXXXX is 6 bytes, at most 4 out */
            break;
        }
        default:
            return jp_fail(p, -EINVAL, "bad escape in JSON string");
        }
    }
    d[o] = '\0';
    *out = d;
    *outlen = o;
    return 0;
}

/* Integers of up to 15 digits (most telemetry: counters, epoch ms, device
 * ids) without strtod: below 2^53 the conversion is exact, so the result is
 * the one strtod gives, at a fraction of its cost. */
static bool int_literal(const char *t, size_t n, double *out)
{
    bool neg = t[0] == '-';
    size_t i = neg ? 1 : 0;
    if (n - i == 0 || n - i > 15) {
        return false;
    }
    uint64_t u = 0;
    for (; i < n; i++) {
        if (t[i] < '0' || t[i] > '9') {
            return false;
        }
        u = u * 10 + (uint64_t)(t[i] - '0');
    }
    *out = neg ? -(double)u : (double)u;
    return true;
}

static int jp_value(struct jp *p, struct cg_jval *v, unsigned depth);

static int jp_container(struct jp *p, struct cg_jval *v, unsigned depth, bool object)
{
    char close = object ? '}' : ']';
    p->pos++;
    if (depth + 1 > p->max_depth) {
        return jp_fail(p, -EMSGSIZE, "JSON nested too deeply");
    }
    struct cg_jval **tail = &v->child;
    jp_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        struct cg_jval *c = cg_arena_alloc(p->a, sizeof(*c));
        if (c == NULL) {
            return jp_fail(p, -EMSGSIZE, "payload too large to decode");
        }
        jp_ws(p);
        if (object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                return jp_fail(p, -EINVAL, p->pos >= p->len ? "truncated JSON" : "expected a member name");
            }
            if (jp_string(p, &c->key, &c->key_len) < 0) {
                return p->err;
            }
            jp_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                return jp_fail(p, -EINVAL, p->pos >= p->len ? "truncated JSON" : "expected ':'");
            }
            p->pos++;
        }
        if (jp_value(p, c, depth + 1) < 0) {
            return p->err;
        }
        *tail = c;
        tail = &c->next;
        v->n_children++;
        jp_ws(p);
        if (p->pos >= p->len) {
            return jp_fail(p, -EINVAL, "truncated JSON");
        }
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            return 0;
        }
        return jp_fail(p, -EINVAL, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool lit(struct jp *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0) {
        p->pos += n;
        return true;
    }
    return false;
}

static int jp_value(struct jp *p, struct cg_jval *v, unsigned depth)
{
    jp_ws(p);
    if (p->pos >= p->len) {
        return jp_fail(p, -EINVAL, "truncated JSON");
    }
    char c = p->s[p->pos];
    switch (c) {
    case '{':
        v->type = CG_J_OBJECT;
        return jp_container(p, v, depth, true);
    case '[':
        v->type = CG_J_ARRAY;
        return jp_container(p, v, depth, false);
    case '"':
        v->type = CG_J_STRING;
        return jp_string(p, &v->str, &v->len);
    case 't':
        v->type = CG_J_TRUE;
        return lit(p, "true") ? 0 : jp_fail(p, -EINVAL, "bad JSON literal");
    case 'f':
        v->type = CG_J_FALSE;
        return lit(p, "false") ? 0 : jp_fail(p, -EINVAL, "bad JSON literal");
    case 'n':
        v->type = CG_J_NULL;
        return lit(p, "null") ? 0 : jp_fail(p, -EINVAL, "bad JSON literal");
    default:
        break;
    }
    if (c != '-' && (c < '0' || c > '9')) {
        if (c == 'N' || c == 'I') {
            return jp_fail(p, -EDOM, "NaN/Infinity is not a JSON number");
        }
        return jp_fail(p, -EINVAL, "unexpected character in JSON");
    }
    size_t start = p->pos;
    while (p->pos < p->len) {
        c = p->s[p->pos];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
            p->pos++;
        } else {
            break;
        }
    }
    size_t n = p->pos - start;
    if (n == 1 && p->s[start] == '-' && p->pos < p->len && p->s[p->pos] == 'I') {
        return jp_fail(p, -EDOM, "NaN/Infinity is not a JSON number");
    }
    if (p->s[start] == '+' || !cg_number_syntax_ok(p->s + start, n)) {
        return jp_fail(p, -EINVAL, "bad JSON number");
    }
    char *t = cg_arena_strndup(p->a, p->s + start, n);
    if (t == NULL) {
        return jp_fail(p, -EMSGSIZE, "payload too large to decode");
    }
    v->type = CG_J_NUMBER;
    v->str = t;
    v->len = n;
    v->num = int_literal(t, n, &v->num) ? v->num : strtod(t, NULL);
    return 0;
}

int cg_jdom_parse(struct cg_arena *a, const char *text, size_t len, unsigned max_depth,
                  const struct cg_jval **root, const char **why)
{
    struct jp p = {.a = a, .s = text, .len = len, .max_depth = max_depth ? max_depth : 1};
    struct cg_jval *v = cg_arena_alloc(a, sizeof(*v));
    if (v == NULL) {
        *why = "payload too large to decode";
        return -EMSGSIZE;
    }
    /* a BOM is not JSON (RFC 8259 §8.1), but devices send it */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        p.pos = 3;
    }
    if (jp_value(&p, v, 0) < 0) {
        *why = p.why;
        return p.err;
    }
    jp_ws(&p);
    if (p.pos != p.len) {
        *why = "trailing data after JSON value";
        return -EINVAL;
    }
    *root = v;
    return 0;
}

const struct cg_jval *cg_jdom_get(const struct cg_jval *obj, const char *key, size_t klen)
{
    if (obj == NULL || obj->type != CG_J_OBJECT) {
        return NULL;
    }
    for (const struct cg_jval *c = obj->child; c != NULL; c = c->next) {
        if (c->key_len == klen && memcmp(c->key, key, klen) == 0) {
            return c;
        }
    }
    return NULL;
}

const struct cg_jval *cg_jdom_path(const struct cg_jval *v, const char *path)
{
    const char *s = path;
    while (v != NULL && *s != '\0') {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (v->type == CG_J_OBJECT) {
            v = cg_jdom_get(v, s, n);
        } else if (v->type == CG_J_ARRAY && n > 0 && n < 10 && strspn(s, "0123456789") >= n) {
            size_t idx = 0;
            for (size_t i = 0; i < n; i++) {
                idx = idx * 10 + (size_t)(s[i] - '0');
            }
            const struct cg_jval *c = v->child;
            while (c != NULL && idx-- > 0) {
                c = c->next;
            }
            v = c;
        } else {
            return NULL;
        }
        s += n;
        if (*s == '.') {
            s++;
        }
    }
    return v;
}

static bool integral_literal(const struct cg_jval *v)
{
    return v->type == CG_J_NUMBER && strpbrk(v->str, ".eE") == NULL;
}

int cg_jdom_int64(const struct cg_jval *v, int64_t *out)
{
    if (v == NULL || v->type != CG_J_NUMBER) {
        return -EINVAL;
    }
    if (!integral_literal(v)) {
        /* 1.0 or 1e3 are fine when they are exact integers */
        if (!isfinite(v->num) || v->num != floor(v->num) || v->num < -9.2e18 || v->num > 9.2e18) {
            return -ERANGE;
        }
        *out = (int64_t)v->num;
        return 0;
    }
    errno = 0;
    long long x = strtoll(v->str, NULL, 10);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    *out = (int64_t)x;
    return 0;
}

int cg_jdom_uint64(const struct cg_jval *v, uint64_t *out)
{
    if (v == NULL || v->type != CG_J_NUMBER) {
        return -EINVAL;
    }
    if (v->str[0] == '-') {
        return -ERANGE;
    }
    if (!integral_literal(v)) {
        if (!isfinite(v->num) || v->num != floor(v->num) || v->num > 1.8e19) {
            return -ERANGE;
        }
        *out = (uint64_t)v->num;
        return 0;
    }
    errno = 0;
    unsigned long long x = strtoull(v->str, NULL, 10);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    *out = (uint64_t)x;
    return 0;
}

/* ---- time ----------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t len, size_t *pos, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (*pos >= len || s[*pos] < '0' || s[*pos] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (unsigned)(s[(*pos)++] - '0');
    }
    *out = v;
    return 0;
}

static bool expect(const char *s, size_t len, size_t *pos, char c)
{
    if (*pos < len && s[*pos] == c) {
        (*pos)++;
        return true;
    }
    return false;
}

int cg_time_parse_rfc3339(const char *s, size_t len, int64_t *ns)
{
    size_t i = 0;
    unsigned Y, M, D, h, m, sec;
    if (digits(s, len, &i, 4, &Y) < 0 || !expect(s, len, &i, '-') || digits(s, len, &i, 2, &M) < 0 ||
        !expect(s, len, &i, '-') || digits(s, len, &i, 2, &D) < 0) {
        return -EINVAL;
    }
    if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) {
        return -EINVAL;
    }
    i++;
    if (digits(s, len, &i, 2, &h) < 0 || !expect(s, len, &i, ':') || digits(s, len, &i, 2, &m) < 0 ||
        !expect(s, len, &i, ':') || digits(s, len, &i, 2, &sec) < 0) {
        return -EINVAL;
    }
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 ||
        m > 59 || sec > 60) {
        return -ERANGE;
    }
    if (sec == 60) {
        sec = 59; /* a leap second: Unix time cannot name it */
    }
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        i++;
        int64_t scale = 100000000;
        size_t nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac += (s[i] - '0') * scale;
            scale /= 10;
            i++;
            nd++;
        }
        if (nd == 0) {
            return -EINVAL;
        }
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        unsigned oh, om;
        i++;
        if (digits(s, len, &i, 2, &oh) < 0 || !expect(s, len, &i, ':') ||
            digits(s, len, &i, 2, &om) < 0) {
            return -EINVAL;
        }
        if (oh > 23 || om > 59) {
            return -ERANGE;
        }
        off = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return -EINVAL;
    }
    if (i != len) {
        return -EINVAL;
    }
    int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off;
    /* int64 ns covers 1677..2262 */
    if (secs < -9223372036LL || secs > 9223372035LL) {
        return -ERANGE;
    }
    *ns = secs * 1000000000LL + frac;
    return 0;
}

static int scale_ns(const struct cg_jval *v, int64_t mult, int64_t *ns)
{
    int64_t x;
    if (integral_literal(v) && cg_jdom_int64(v, &x) == 0) {
        if (x > INT64_MAX / mult || x < INT64_MIN / mult) {
            return -ERANGE;
        }
        *ns = x * mult;
        return 0;
    }
    double d = v->num * (double)mult;
    if (!isfinite(d)) {
        return -EDOM;
    }
    if (d >= 9.2e18 || d <= -9.2e18) {
        return -ERANGE;
    }
    *ns = (int64_t)llround(d);
    return 0;
}

int cg_time_from_json(const struct cg_jval *v, enum cg_time_format fmt, int64_t *ns)
{
    if (v == NULL) {
        return -ENOENT;
    }
    if (v->type == CG_J_STRING) {
        if (fmt != CG_TIME_AUTO && fmt != CG_TIME_RFC3339) {
            /* numeric formats also accept digits in a string ("1700000000") */
            if (!cg_number_syntax_ok(v->str, v->len)) {
                return -EINVAL;
            }
            struct cg_jval num = {.type = CG_J_NUMBER, .str = v->str, .len = v->len,
                                  .num = strtod(v->str, NULL)};
            return cg_time_from_json(&num, fmt, ns);
        }
        return cg_time_parse_rfc3339(v->str, v->len, ns);
    }
    if (v->type != CG_J_NUMBER || fmt == CG_TIME_RFC3339) {
        return -EINVAL;
    }
    if (!isfinite(v->num)) {
        return -EDOM;
    }
    if (fmt == CG_TIME_AUTO) {
        double a = fabs(v->num);
        fmt = a < 1e11 ? CG_TIME_S : a < 1e14 ? CG_TIME_MS : a < 1e17 ? CG_TIME_US : CG_TIME_NS;
    }
    switch (fmt) {
    case CG_TIME_S: return scale_ns(v, 1000000000LL, ns);
    case CG_TIME_MS: return scale_ns(v, 1000000LL, ns);
    case CG_TIME_US: return scale_ns(v, 1000LL, ns);
    default: return scale_ns(v, 1, ns);
    }
}
