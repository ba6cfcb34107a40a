/* citygate — the normaliser at run time (see normalise.h, docs/normalise.md). */
#include "normalise_int.h"

#include <citygate/array.h>

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000LL
#define CARD_BUCKETS 256
#define GAPS_MAX 4096
#define TICK_FIELDS CG_POINT_MAX_FIELDS

struct acc {
    int64_t start; /* window start, ns */
    uint32_t n;
    bool unsynced; /* a value was read while the clock was unsynchronised */
    double sum, min, max;
};

struct fstate {
    char *key; /* owned */
    const struct cg_schema_field *sf;
    enum cg_field_type type;
    bool have_last, have_out;
    double last;   /* last reading, canonical (stuck, jump) */
    uint32_t same; /* readings in a row equal to last */
    double out;    /* last value written (deadband) */
    int64_t out_ns;
    struct acc cur, done; /* window being filled, window closed but not yet written */
    int64_t closed;       /* windows starting before this were written: later values are late */
};

/* Per-series state, sized to the fields the series uses (issue 13: a fixed
 * array of 64 cost ~9.3 KiB per series). */
struct series {
    uint64_t h;
    char *key; /* "measurement,k=v,..." (sorted tags) */
    char *meas;
    struct cg_tag *tags; /* owned copies; immutable once made */
    size_t n_tags;
    struct cg_norm_source *src;
    struct fstate *f; /* grows x2 up to CG_NORM_SERIES_FIELDS */
    size_t n_f, cap_f;
    int64_t seen_ns; /* last reading (idle eviction) */
    size_t bytes;    /* what this series counts against max_state_mb */
    uint64_t c_oor, c_imp, c_stuck, c_jump, c_drop;
    struct series *next;
};

struct card {
    uint64_t h;
    char *meas, *key;
    uint64_t *set; /* open addressing, 0 = empty */
    size_t cap, n;
    uint64_t limit, held;
    char source[128], example[128];
    struct card *next;
};

struct gap {
    int scope;
    char *source, *device, *cause;
    int64_t start;
};

struct cg_norm {
    const struct cg_norm_conf *c;
    pthread_mutex_t mu;      /* series, gaps, clock */
    pthread_mutex_t card_mu; /* cards, n_cards */
    size_t state_bytes; /* series state, against max_state_mb */
    size_t n_cards;     /* (measurement, tag key) sets, at most max_tag_keys */
    size_t evict_cursor;
    struct series **buckets;
    size_t n_buckets;
    struct series **all; /* append-only: stable indices for tick */
    size_t n_all, cap_all;
    struct card *cards[CARD_BUCKETS];
    struct gap *gaps;
    size_t n_gaps;
    struct cg_norm_clock clock;
    atomic_int synced; /* 1, 0, -1 */
    int64_t last_clock_report;
    pthread_mutex_t salt_mu;
    EVP_MD *sha256; /* fetched once: OpenSSL 3's one-shot HMAC() fetches under a global lock on every call */
    int64_t salt_period;
    bool salt_valid;
    unsigned char salt_key[32];
    struct counters cnt;
    /* tick's own buffers (tick runs on one thread) */
    struct cg_field tf[TICK_FIELDS];
    char tnames[TICK_FIELDS][CG_POINT_MAX_NAME];
    struct cg_tag ttags[CG_POINT_MAX_TAGS + 1];
};

static const char *const quality_names[] = {"ok", "unsynced_clock", "jump", "stuck", "out_of_range", "impossible"};

const char *cg_norm_quality_name(enum cg_norm_quality q)
{
    return q < CG_NORM_Q_N ? quality_names[q] : "unknown";
}

/* FNV-1a, 64 bit. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV0 14695981039346656037ULL

static uint64_t fnv_str(uint64_t h, const char *s)
{
    return fnv(h, s, strlen(s) + 1);
}

struct cg_norm *cg_norm_new(const struct cg_norm_conf *c)
{
    struct cg_norm *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->c = c;
    size_t nb = 1024;
    while (nb < (size_t)c->max_series / 2 && nb < (1u << 20)) {
        nb <<= 1;
    }
    n->buckets = calloc(nb, sizeof(*n->buckets));
    if (n->buckets == NULL) {
        free(n);
        return NULL;
    }
    n->n_buckets = nb;
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->card_mu, NULL);
    pthread_mutex_init(&n->salt_mu, NULL);
    n->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (n->sha256 == NULL) {
        cg_norm_free(n);
        return NULL;
    }
    n->clock.synced = -1;
    atomic_store(&n->synced, -1);
    /* Probe the clock now, not at the first tick: otherwise the first second's
     * readings are marked as if synchronised, and a reading delivered again
     * later (MQTT redelivery, replay) would get another quality tag and land
     * in a second series instead of overwriting itself. */
    if (c->clock_check && c->clock_fn) {
        struct cg_norm_clock ck = {.synced = -1};
        c->clock_fn(c->clock_ctx, &ck);
        n->clock = ck;
        atomic_store(&n->synced, ck.synced);
    }
    n->last_clock_report = INT64_MIN;
    return n;
}

static void series_free(struct series *s)
{
    free(s->key);
    free(s->meas);
    for (size_t i = 0; i < s->n_tags; i++) {
        free((char *)s->tags[i].key);
        free((char *)s->tags[i].value);
    }
    free(s->tags);
    for (size_t i = 0; i < s->n_f; i++) {
        free(s->f[i].key);
    }
    free(s->f);
    free(s);
}

/* Heap bytes of a string, with malloc's per-chunk overhead, so the budget
 * follows what RSS sees. */
#define CHUNK(n) ((((size_t)(n) + 8 + 15) / 16) * 16)

static void gap_done(struct gap *g)
{
    free(g->source);
    free(g->device);
    free(g->cause);
}

void cg_norm_free(struct cg_norm *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->n_all; i++) {
        series_free(n->all[i]);
    }
    free(n->all);
    free(n->buckets);
    for (size_t b = 0; b < CARD_BUCKETS; b++) {
        for (struct card *c = n->cards[b], *nx; c; c = nx) {
            nx = c->next;
            free(c->meas);
            free(c->key);
            free(c->set);
            free(c);
        }
    }
    for (size_t i = 0; i < n->n_gaps; i++) {
        gap_done(&n->gaps[i]);
    }
    free(n->gaps);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->card_mu);
    pthread_mutex_destroy(&n->salt_mu);
    EVP_MD_free(n->sha256);
    OPENSSL_cleanse(n->salt_key, sizeof(n->salt_key));
    free(n);
}

const struct cg_norm_conf *cg_norm_conf_of(const struct cg_norm *n)
{
    return n ? n->c : NULL;
}

const struct cg_schema *cg_norm_schema(const struct cg_norm *n)
{
    return n ? n->c->schema : NULL;
}

void cg_norm_counters(const struct cg_norm *n, struct cg_norm_counters *out)
{
    norm_counters_read(&n->cnt, out);
}

void cg_norm_source_counters(const struct cg_norm_source *s, struct cg_norm_counters *out)
{
    norm_counters_read(&s->cnt, out);
}

void cg_norm_clock_state(const struct cg_norm *n, struct cg_norm_clock *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&n->mu);
    *out = n->clock;
    pthread_mutex_unlock((pthread_mutex_t *)&n->mu);
}

/* ---- text arena in the scratch ------------------------------------------- */

static char *text_alloc(struct cg_norm_scratch *s, size_t len)
{
    if (len + 1 > sizeof(s->text) - s->text_used) {
        return NULL;
    }
    char *p = s->text + s->text_used;
    s->text_used += len + 1;
    return p;
}

/* ---- privacy ---------------------------------------------------------------- */

/* HMAC-SHA256 (RFC 2104) over a digest fetched once, so threads hashing at
 * the same time do not queue on OpenSSL's fetch lock. 0 or -ENOMEM. */
static int hmac_sha256(const EVP_MD *md, const unsigned char *key, size_t klen, const void *msg, size_t mlen,
                       unsigned char out[32])
{
    unsigned char k[64] = {0}, pad[64], inner[32];
    int rc = -ENOMEM;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -ENOMEM;
    }
    if (klen > sizeof(k)) {
        if (EVP_Digest(key, klen, k, NULL, md, NULL) != 1) {
            goto out;
        }
    } else {
        memcpy(k, key, klen);
    }
    for (size_t i = 0; i < sizeof(pad); i++) {
        pad[i] = k[i] ^ 0x36;
    }
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, sizeof(pad)) != 1 ||
        EVP_DigestUpdate(ctx, msg, mlen) != 1 || EVP_DigestFinal_ex(ctx, inner, NULL) != 1) {
        goto out;
    }
    for (size_t i = 0; i < sizeof(pad); i++) {
        pad[i] = k[i] ^ 0x5c;
    }
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, sizeof(pad)) != 1 ||
        EVP_DigestUpdate(ctx, inner, sizeof(inner)) != 1 || EVP_DigestFinal_ex(ctx, out, NULL) != 1) {
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* The hashing key of a period: HMAC-SHA256(secret, "citygate-privacy/v1/<period>").
 * Derived, so the secret file never changes and restarts agree on the key. */
static void period_key(struct cg_norm *n, int64_t t_ns, unsigned char key[32])
{
    const struct cg_norm_conf *c = n->c;
    int64_t period = c->privacy_salt_rotate_s > 0 ? t_ns / NS_PER_S / c->privacy_salt_rotate_s : 0;
    pthread_mutex_lock(&n->salt_mu);
    if (!n->salt_valid || n->salt_period != period) {
        char label[64];
        unsigned len = 0;
        int ll = snprintf(label, sizeof(label), "citygate-privacy/v1/%lld", (long long)period);
        HMAC(EVP_sha256(), c->privacy_salt, (int)strlen(c->privacy_salt), (const unsigned char *)label,
             (size_t)ll, n->salt_key, &len);
        n->salt_period = period;
        n->salt_valid = true;
    }
    memcpy(key, n->salt_key, 32);
    pthread_mutex_unlock(&n->salt_mu);
}

/* Applies a hash/truncate rule to text; returns the new text in the scratch,
 * or NULL when it does not fit. */
static const char *privatise(struct cg_norm *n, const struct priv_rule *r, const char *v, int64_t t_ns,
                             struct cg_norm_scratch *s)
{
    if (r->act == PRIV_TRUNCATE) {
        /* keep r->keep characters, never splitting a UTF-8 sequence */
        size_t i = 0;
        int chars = 0;
        while (v[i] && chars < r->keep) {
            i++;
            while (((unsigned char)v[i] & 0xC0) == 0x80) {
                i++;
            }
            chars++;
        }
        char *o = text_alloc(s, i);
        if (o) {
            memcpy(o, v, i);
            o[i] = '\0';
        }
        return o;
    }
    unsigned char key[32], md[32];
    static const char hex[] = "0123456789abcdef";
    size_t chars = (size_t)n->c->privacy_hash_chars;
    period_key(n, t_ns, key);
    int hr = hmac_sha256(n->sha256, key, sizeof(key), v, strlen(v), md);
    OPENSSL_cleanse(key, sizeof(key));
    if (hr < 0) {
        return NULL;
    }
    char *o = text_alloc(s, chars);
    if (o) {
        for (size_t i = 0; i < chars; i++) {
            o[i] = hex[(md[i / 2] >> (i % 2 ? 0 : 4)) & 0xF];
        }
        o[chars] = '\0';
    }
    return o;
}

/* ---- series state (n->mu held) ------------------------------------------- */

static struct series *series_get(struct cg_norm *n, struct cg_norm_source *src, uint64_t h, const char *key,
                                 const char *meas, const struct cg_tag *tags, size_t n_tags, bool *full)
{
    size_t b = h & (n->n_buckets - 1);
    for (struct series *s = n->buckets[b]; s; s = s->next) {
        if (s->h == h && s->src == src && strcmp(s->key, key) == 0) {
            return s;
        }
    }
    size_t need = CHUNK(sizeof(struct series)) + CHUNK(strlen(key) + 1) + CHUNK(strlen(meas) + 1) +
                  CHUNK((n_tags + 1) * sizeof(struct cg_tag));
    for (size_t i = 0; i < n_tags; i++) {
        need += CHUNK(strlen(tags[i].key) + 1) + CHUNK(strlen(tags[i].value) + 1);
    }
    if (n->n_all >= (size_t)n->c->max_series || n->state_bytes + need > n->c->max_state_bytes) {
        *full = true;
        return NULL;
    }
    if (cg_array_grow((void **)&n->all, &n->cap_all, n->n_all + 1, sizeof(*n->all), (size_t)n->c->max_series) < 0) {
        return NULL;
    }
    struct series *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->h = h;
    s->src = src;
    s->key = strdup(key);
    s->meas = strdup(meas);
    s->tags = calloc(n_tags + 1, sizeof(*s->tags));
    if (s->key == NULL || s->meas == NULL || s->tags == NULL) {
        series_free(s);
        return NULL;
    }
    for (size_t i = 0; i < n_tags; i++) {
        char *k = strdup(tags[i].key), *v = strdup(tags[i].value);
        if (k == NULL || v == NULL) {
            free(k);
            free(v);
            series_free(s);
            return NULL;
        }
        s->tags[s->n_tags].key = k;
        s->tags[s->n_tags].value = v;
        s->n_tags++;
    }
    s->bytes = need;
    n->state_bytes += need;
    s->next = n->buckets[b];
    n->buckets[b] = s;
    n->all[n->n_all++] = s;
    return s;
}

/* The series' state of one field, made on first use. NULL (the value passes
 * without state, counted state_full) past CG_NORM_SERIES_FIELDS fields or
 * max_state_mb. n->mu held; the pointer is valid until the next call. */
static struct fstate *fstate_get(struct cg_norm *n, struct series *s, const char *key,
                                 const struct cg_schema_field *sf, enum cg_field_type type, bool *full)
{
    if (s == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < s->n_f; i++) {
        if (strcmp(s->f[i].key, key) == 0) {
            return &s->f[i];
        }
    }
    if (s->n_f >= CG_NORM_SERIES_FIELDS) {
        *full = true;
        return NULL;
    }
    size_t grow = 0, cap = s->cap_f;
    if (s->n_f == s->cap_f) {
        cap = s->cap_f ? s->cap_f * 2 : 2;
        cap = cap > CG_NORM_SERIES_FIELDS ? CG_NORM_SERIES_FIELDS : cap;
        grow = CHUNK(cap * sizeof(struct fstate)) - (s->cap_f ? CHUNK(s->cap_f * sizeof(struct fstate)) : 0);
    }
    size_t need = grow + CHUNK(strlen(key) + 1);
    if (n->state_bytes + need > n->c->max_state_bytes) {
        *full = true;
        return NULL;
    }
    if (grow) {
        struct fstate *a = realloc(s->f, cap * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        s->f = a;
        s->cap_f = cap;
    }
    struct fstate *f = &s->f[s->n_f];
    memset(f, 0, sizeof(*f));
    f->key = strdup(key);
    if (f->key == NULL) {
        n->state_bytes += grow;
        s->bytes += grow;
        return NULL;
    }
    n->state_bytes += need;
    s->bytes += need;
    f->sf = sf;
    f->type = type;
    s->n_f++;
    return f;
}

/* ---- cardinality budget (n->card_mu held) --------------------------------- */

static uint64_t budget_of(const struct cg_norm_conf *c, const char *meas)
{
    const struct name_num *b = norm_num(c->budgets, c->n_budgets, meas);
    return b ? (uint64_t)b->v : (uint64_t)c->max_tag_values;
}

/* The value set of (measurement, tag key). NULL with *full set past
 * max_tag_keys sets (a payload inventing tag keys must not grow memory
 * without bound), NULL alone on ENOMEM. Sets start small and double up to
 * twice the budget. */
static struct card *card_get(struct cg_norm *n, const char *meas, const char *key, bool *full)
{
    uint64_t h = fnv_str(fnv_str(FNV0, meas), key);
    struct card **head = &n->cards[h % CARD_BUCKETS];
    for (struct card *c = *head; c; c = c->next) {
        if (c->h == h && strcmp(c->meas, meas) == 0 && strcmp(c->key, key) == 0) {
            return c;
        }
    }
    if (n->n_cards >= (size_t)n->c->max_tag_keys) {
        *full = true;
        return NULL;
    }
    struct card *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->h = h;
    c->limit = budget_of(n->c, meas);
    c->cap = 16;
    c->meas = strdup(meas);
    c->key = strdup(key);
    c->set = calloc(c->cap, sizeof(*c->set));
    if (c->meas == NULL || c->key == NULL || c->set == NULL) {
        free(c->meas);
        free(c->key);
        free(c->set);
        free(c);
        return NULL;
    }
    c->next = *head;
    *head = c;
    n->n_cards++;
    return c;
}

/* Doubles the set when it is half full, up to twice the budget. */
static int card_grow(struct card *c)
{
    if ((c->n + 1) * 2 <= c->cap || c->cap >= c->limit * 2) {
        return 0;
    }
    size_t cap = c->cap * 2;
    uint64_t *set = calloc(cap, sizeof(*set));
    if (set == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->cap; i++) {
        if (c->set[i] != 0) {
            size_t j = c->set[i] & (cap - 1);
            while (set[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            set[j] = c->set[i];
        }
    }
    free(c->set);
    c->set = set;
    c->cap = cap;
    return 0;
}

/* Slot of h in the set: where it is, or the empty slot where it would go. */
static size_t card_slot(const struct card *c, uint64_t h)
{
    size_t i = h & (c->cap - 1);
    while (c->set[i] != 0 && c->set[i] != h) {
        i = (i + 1) & (c->cap - 1);
    }
    return i;
}

static uint64_t value_hash(const char *v)
{
    uint64_t h = fnv_str(FNV0, v);
    return h ? h : 1;
}

/* ---- values ----------------------------------------------------------------- */

static bool numeric(enum cg_field_type t)
{
    return t == CG_FIELD_FLOAT || t == CG_FIELD_INT || t == CG_FIELD_UINT;
}

static double as_double(const struct cg_field *f)
{
    switch (f->type) {
    case CG_FIELD_FLOAT:
        return f->v.f;
    case CG_FIELD_INT:
        return (double)f->v.i;
    case CG_FIELD_UINT:
        return (double)f->v.u;
    case CG_FIELD_BOOL:
        return f->v.b ? 1 : 0;
    default:
        return NAN;
    }
}

/* Sets f to x in type t. -ERANGE when x does not fit an integer type. */
static int set_numeric(struct cg_field *f, enum cg_field_type t, double x)
{
    switch (t) {
    case CG_FIELD_FLOAT:
        f->v.f = x;
        break;
    case CG_FIELD_INT:
        if (!(x >= -9.2e18 && x <= 9.2e18)) {
            return -ERANGE;
        }
        f->v.i = llround(x);
        break;
    case CG_FIELD_UINT:
        if (!(x >= 0 && x <= 1.8e19)) {
            return -ERANGE;
        }
        f->v.u = (uint64_t)llround(x);
        break;
    case CG_FIELD_BOOL:
        f->v.b = x != 0;
        break;
    default:
        return -ERANGE;
    }
    f->type = t;
    return 0;
}

/* Kinds whose values repeat in normal operation (registers, counts, flags):
 * never flagged stuck. */
static bool repeats_normally(const struct cg_schema_field *sf)
{
    static const char *const kinds[] = {"count", "counter", "flag", "index", "energy", "reactive_energy", "volume",
                                        "timestamp", "text", NULL};
    if (sf == NULL) {
        return false;
    }
    for (size_t i = 0; kinds[i]; i++) {
        if (strcmp(sf->kind, kinds[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int range_policy(const struct cg_norm_conf *c, const struct cg_schema_field *sf, bool impossible)
{
    for (size_t i = 0; i < c->n_policies; i++) {
        if (c->policies[i].field == sf) {
            int p = impossible ? c->policies[i].impossible : c->policies[i].out_of_range;
            if (p != POLICY_INHERIT) {
                return p;
            }
        }
    }
    return impossible ? c->impossible : c->out_of_range;
}

static void acc_add(struct acc *a, double x, bool unsynced)
{
    if (a->n == 0) {
        a->min = a->max = x;
        a->sum = 0;
        a->unsynced = false;
    }
    a->unsynced = a->unsynced || unsynced;
    a->sum += x;
    a->min = x < a->min ? x : a->min;
    a->max = x > a->max ? x : a->max;
    a->n++;
}


/* Windowed aggregation of one value. false: the value is late (its window was
 * already written) and is not counted. */
static bool window_add(struct fstate *fs, int64_t t, double x, bool unsynced, int64_t w_ns,
                       struct cg_norm_counters *L)
{
    int64_t ws = t - (((t % w_ns) + w_ns) % w_ns);
    if (fs->cur.n > 0 && ws > fs->cur.start) {
        if (fs->done.n > 0) {
            L->window_overrun++; /* tick did not run for a whole window */
        }
        fs->done = fs->cur;
        fs->cur.n = 0;
    }
    if (fs->cur.n > 0 && ws == fs->cur.start) {
        acc_add(&fs->cur, x, unsynced);
        return true;
    }
    if (fs->done.n > 0 && ws == fs->done.start) {
        acc_add(&fs->done, x, unsynced);
        return true;
    }
    if (ws < fs->closed || (fs->done.n > 0 && ws < fs->done.start) || (fs->cur.n > 0 && ws < fs->cur.start)) {
        return false;
    }
    fs->cur.start = ws;
    fs->cur.n = 0;
    acc_add(&fs->cur, x, unsynced);
    return true;
}

/* ---- the hot path --------------------------------------------------------- */

static int cmp_tag(const void *a, const void *b)
{
    return strcmp(((const struct cg_tag *)a)->key, ((const struct cg_tag *)b)->key);
}

static bool key_put(char *out, size_t outsz, size_t *len, const char *s)
{
    size_t l = strlen(s);
    if (l >= outsz - *len) {
        return false;
    }
    memcpy(out + *len, s, l + 1);
    *len += l;
    return true;
}

/* "measurement,k=v,k=v" with tags sorted by key; false if it does not fit.
 * Runs for every point: plain copies, not snprintf (bench/mqtt.sh perf). */
static bool series_key(char *out, size_t outsz, const char *meas, struct cg_tag *tags, size_t n_tags)
{
    size_t len = 0;
    if (outsz == 0 || !key_put(out, outsz, &len, meas)) {
        return false;
    }
    for (size_t i = 0; i < n_tags; i++) {
        if (!key_put(out, outsz, &len, ",") || !key_put(out, outsz, &len, tags[i].key) ||
            !key_put(out, outsz, &len, "=") || !key_put(out, outsz, &len, tags[i].value)) {
            return false;
        }
    }
    return true;
}

/* Notes what was not written as it came (or written unmapped). Repeats of a
 * (cause, field) add up; when the list is full the rest count under the last
 * slot's cause with field "other", so nothing goes uncounted. */
static void ev(struct cg_norm_scratch *s, enum cg_drop_cause c, const char *field)
{
    for (size_t i = 0; i < s->n_ev; i++) {
        struct cg_norm_event *e = &s->ev[i];
        if (e->cause == c && (e->field == field || (e->field && field && strcmp(e->field, field) == 0))) {
            e->n++;
            return;
        }
    }
    if (s->n_ev == CG_NORM_EVENTS_MAX) {
        struct cg_norm_event *e = &s->ev[CG_NORM_EVENTS_MAX - 1];
        e->cause = c;
        e->field = CG_DROPS_OTHER;
        e->n++;
        return;
    }
    s->ev[s->n_ev++] = (struct cg_norm_event){.cause = c, .field = field, .n = 1};
}

static void finish(struct cg_norm *n, struct cg_norm_source *src, struct cg_norm_counters *L)
{
    norm_counters_add(&n->cnt, L);
    if (src) {
        norm_counters_add(&src->cnt, L);
    }
}

static int drop(struct cg_norm *n, struct cg_norm_source *src, struct cg_norm_counters *L, const char **why,
                const char *reason)
{
    L->points_dropped++;
    *why = reason;
    finish(n, src, L);
    return 0;
}

int cg_norm_point(struct cg_norm *n, struct cg_norm_source *src, const struct cg_point *in, int64_t now_ns,
                  struct cg_norm_scratch *s, struct cg_point out[CG_NORM_OUT_MAX], const char **why)
{
    const struct cg_norm_conf *c = n->c;
    struct cg_norm_counters L = {0};
    const char *reason = NULL;
    const char *qtag = c->quality_tag && c->quality_tag[0] ? c->quality_tag : NULL;

    *why = NULL;
    L.points_in = 1;
    s->n_ev = 0;
    s->ev_measurement = in->measurement;
    if (!c->enabled) {
        out[0] = *in;
        L.points_out = 1;
        finish(n, src, &L);
        return 1;
    }
    s->text_used = 0;

    /* measurement */
    const char *meas = in->measurement;
    const char *mm = src ? norm_map(src->meas_map, src->n_meas_map, meas) : NULL;
    meas = mm ? mm : meas;
    s->ev_measurement = meas;
    int policy = src && src->schema_policy >= 0 ? src->schema_policy : c->schema_policy;
    const struct cg_schema_meas *sm = cg_schema_measurement(c->schema, meas);
    if (sm == NULL) {
        L.unknown_measurements++;
        if (policy == SCHEMA_STRICT) {
            L.unknown_measurements_dropped++;
            ev(s, CG_DROP_SCHEMA_MEASUREMENT, NULL);
            return drop(n, src, &L, why, "measurement not in the schema");
        }
        ev(s, CG_DROP_UNMAPPED_MEASUREMENT, NULL);
    }

    /* tags: rename, privacy; the quality tag is ours */
    struct cg_tag *tags = s->tags[0];
    size_t nt = 0;
    int64_t t = in->time_ns;
    for (size_t i = 0; i < in->n_tags; i++) {
        const char *key = in->tags[i].key, *val = in->tags[i].value;
        const char *rk = src ? norm_map(src->tag_map, src->n_tag_map, key) : NULL;
        key = rk ? rk : key;
        if (qtag && strcmp(key, qtag) == 0) {
            continue; /* ours: replaced by the quality mark below */
        }
        if (val == NULL || val[0] == '\0') {
            L.empty_tags++;
            ev(s, CG_DROP_EMPTY_TAG, key);
            continue;
        }
        if (nt == CG_POINT_MAX_TAGS) {
            L.tags_over_limit++;
            ev(s, CG_DROP_TAG_LIMIT, key);
            continue;
        }
        const struct priv_rule *pr = norm_priv(src, key);
        if (pr && pr->act == PRIV_DROP) {
            L.privacy_dropped++;
            ev(s, CG_DROP_PRIVACY_TAG, key);
            continue;
        }
        if (pr && pr->act != PRIV_KEEP) {
            val = privatise(n, pr, val, t, s);
            if (val == NULL) {
                L.text_overflow++;
                ev(s, CG_DROP_PRIVACY_OVERFLOW, key);
                return drop(n, src, &L, why, "privacy output does not fit");
            }
            pr->act == PRIV_HASH ? L.privacy_hashed++ : L.privacy_truncated++;
        }
        tags[nt].key = key;
        tags[nt].value = val;
        nt++;
    }
    qsort(tags, nt, sizeof(*tags), cmp_tag);

    /* time */
    if (c->max_future_s > 0 && t > now_ns + c->max_future_s * NS_PER_S) {
        L.time_future++;
        if (c->future_policy == TIME_DROP) {
            L.time_dropped++;
            ev(s, CG_DROP_TIME_FUTURE, NULL);
            return drop(n, src, &L, why, "timestamp too far in the future");
        }
        if (c->future_policy == TIME_CLAMP) {
            L.time_clamped++;
            t = now_ns;
        }
    }
    if (c->max_past_s > 0 && t < now_ns - c->max_past_s * NS_PER_S) {
        L.time_past++;
        if (c->past_policy == TIME_DROP) {
            L.time_dropped++;
            ev(s, CG_DROP_TIME_PAST, NULL);
            return drop(n, src, &L, why, "timestamp too far in the past");
        }
        if (c->past_policy == TIME_CLAMP) {
            L.time_clamped++;
            t = now_ns;
        }
    }
    bool unsynced = c->clock_check && atomic_load(&n->synced) == 0;
    if (unsynced) {
        L.unsynced++;
    }

    bool have_key = series_key(s->key, sizeof(s->key), meas, tags, nt);
    uint64_t h = have_key ? fnv_str(fnv_str(FNV0, src ? src->name : ""), s->key) : 0;
    int64_t stuck_polls = src && src->stuck_polls >= 0 ? src->stuck_polls : c->stuck_polls;
    int64_t w_ns = src ? src->window_s * NS_PER_S : 0;
    const struct name_num *db_all = src ? norm_num(src->deadband, src->n_deadband, "*") : NULL;

    /* Pass 1, without the lock: names, privacy (HMAC), units and types are
     * pure work on this point, so adapter threads do not wait on each other
     * for them (issue 13). */
    size_t nf = 0;
    for (size_t i = 0; i < in->n_fields; i++) {
        const struct cg_field *f = &in->fields[i];
        const char *name = f->key;
        if (nf == CG_POINT_MAX_FIELDS) {
            L.fields_over_limit++;
            ev(s, CG_DROP_FIELD_LIMIT, name);
            continue;
        }
        const char *rn = src ? norm_map(src->field_map, src->n_field_map, name) : NULL;
        name = rn ? rn : name;
        const struct cg_schema_field *sf = cg_schema_field(sm, name);
        if (sf) {
            name = sf->name;
        } else if (sm) {
            if (policy == SCHEMA_STRICT) {
                L.unknown_fields_dropped++;
                ev(s, CG_DROP_SCHEMA_FIELD, name);
                reason = "fields not in the schema";
                continue;
            }
            L.unknown_fields_kept++;
            ev(s, CG_DROP_UNMAPPED_FIELD, name);
        }
        struct cg_field of = *f;
        of.key = name;
        of.unit = NULL;

        const struct priv_rule *pr = norm_priv(src, name);
        if (pr == NULL && name != f->key) {
            pr = norm_priv(src, f->key);
        }
        if ((pr && pr->act == PRIV_DROP) || (pr == NULL && sf && sf->private_data)) {
            L.privacy_dropped++;
            ev(s, CG_DROP_PRIVACY_FIELD, name);
            reason = "privacy rule";
            continue;
        }
        if (pr && pr->act != PRIV_KEEP) {
            char num[64];
            const char *text = f->type == CG_FIELD_STRING ? f->v.s : num;
            if (f->type == CG_FIELD_FLOAT) {
                snprintf(num, sizeof(num), "%.17g", f->v.f);
            } else if (f->type == CG_FIELD_INT) {
                snprintf(num, sizeof(num), "%lld", (long long)f->v.i);
            } else if (f->type == CG_FIELD_UINT) {
                snprintf(num, sizeof(num), "%llu", (unsigned long long)f->v.u);
            } else if (f->type == CG_FIELD_BOOL) {
                snprintf(num, sizeof(num), "%s", f->v.b ? "true" : "false");
            }
            const char *o = privatise(n, pr, text ? text : "", t, s);
            if (o == NULL) {
                L.text_overflow++;
                ev(s, CG_DROP_PRIVACY_OVERFLOW, name);
                continue;
            }
            pr->act == PRIV_HASH ? L.privacy_hashed++ : L.privacy_truncated++;
            of.type = CG_FIELD_STRING;
            of.v.s = o;
            s->fields[nf] = of;
            s->fsf[nf] = NULL;
            s->priv[nf++] = 1;
            continue;
        }

        if (sf) {
            const char *unit = f->unit;
            if ((unit == NULL || unit[0] == '\0') && src) {
                unit = norm_map(src->units, src->n_units, name);
            }
            if (unit && unit[0] && strcmp(unit, sf->unit) != 0) {
                struct cg_unit_conv conv;
                char msg[256];
                if (!numeric(f->type) ||
                    cg_units_conv(sf->kind, unit, sf->unit, sf->molar_mass_g_mol, (enum cg_units_ref)c->gas_reference,
                                  &conv, msg, sizeof(msg)) < 0) {
                    L.unit_errors++;
                    ev(s, CG_DROP_UNIT, name);
                    reason = "unknown unit";
                    continue;
                }
                of.type = CG_FIELD_FLOAT;
                of.v.f = cg_units_apply(&conv, as_double(f));
                if (conv.scale != 1 || conv.offset != 0) {
                    L.unit_converted++; /* not for spellings of the same unit ("%RH") */
                }
            }
            if (of.type != sf->type) {
                bool ok = false;
                if (numeric(of.type) && (numeric(sf->type) || sf->type == CG_FIELD_BOOL)) {
                    ok = set_numeric(&of, sf->type, as_double(&of)) == 0;
                } else if (of.type == CG_FIELD_BOOL && numeric(sf->type)) {
                    ok = set_numeric(&of, sf->type, of.v.b ? 1 : 0) == 0;
                }
                if (!ok) {
                    L.type_mismatch++;
                    ev(s, CG_DROP_TYPE, name);
                    reason = "field type does not match the schema";
                    continue;
                }
                L.type_coerced++;
            }
        }
        s->fields[nf] = of;
        s->fsf[nf] = sf;
        s->priv[nf++] = 0;
    }

    pthread_mutex_lock(&n->card_mu);

    /* cardinality budget: check every tag first, then admit the new values
     * (its own lock: points of other series need not wait for it) */
    struct card *cards[CG_POINT_MAX_TAGS];
    uint64_t vh[CG_POINT_MAX_TAGS];
    for (size_t i = 0; i < nt; i++) {
        bool keys_full = false;
        cards[i] = card_get(n, meas, tags[i].key, &keys_full);
        vh[i] = value_hash(tags[i].value);
        if (cards[i] == NULL && keys_full) {
            pthread_mutex_unlock(&n->card_mu);
            L.cardinality_held++;
            ev(s, CG_DROP_CARDINALITY, tags[i].key);
            return drop(n, src, &L, why, "cardinality budget: too many distinct tag keys (normalise.max_tag_keys)");
        }
        if (cards[i] == NULL) {
            pthread_mutex_unlock(&n->card_mu);
            finish(n, src, &L);
            return -ENOMEM;
        }
        struct card *cd = cards[i];
        if (cd->set[card_slot(cd, vh[i])] == 0 && cd->n >= cd->limit) {
            cd->held++;
            snprintf(cd->source, sizeof(cd->source), "%s", src ? src->name : "");
            snprintf(cd->example, sizeof(cd->example), "%s", tags[i].value);
            pthread_mutex_unlock(&n->card_mu);
            L.cardinality_held++;
            ev(s, CG_DROP_CARDINALITY, tags[i].key);
            return drop(n, src, &L, why, "cardinality budget: too many distinct tag values");
        }
    }
    for (size_t i = 0; i < nt; i++) {
        size_t slot = card_slot(cards[i], vh[i]);
        if (cards[i]->set[slot] == 0 && card_grow(cards[i]) < 0) {
            pthread_mutex_unlock(&n->card_mu);
            finish(n, src, &L);
            return -ENOMEM;
        }
        slot = card_slot(cards[i], vh[i]);
        if (cards[i]->set[slot] == 0) {
            cards[i]->set[slot] = vh[i];
            cards[i]->n++;
        }
    }

    pthread_mutex_unlock(&n->card_mu);

    pthread_mutex_lock(&n->mu);
    bool full = false;
    struct series *se = have_key ? series_get(n, src, h, s->key, meas, tags, nt, &full) : NULL;
    if (full) {
        L.series_full++;
    }
    if (se) {
        se->seen_ns = now_ns;
    }

    /* Pass 2, under the lock: what needs the series' state (limits and range
     * are counted per series; stuck, jump, deadband, windows). */
    size_t n_prep = nf;
    nf = 0;
    for (size_t k = 0; k < n_prep; k++) {
        struct cg_field of = s->fields[k];
        const struct cg_schema_field *sf = s->fsf[k];
        const char *name = of.key;
        if (s->priv[k]) {
            s->fields[nf] = of;
            s->quality[nf++] = unsynced ? CG_NORM_Q_UNSYNCED : CG_NORM_Q_OK;
            continue;
        }
        enum cg_norm_quality q = CG_NORM_Q_OK;
        bool state_full = false;
        struct fstate *fs = numeric(of.type) || of.type == CG_FIELD_BOOL
                                ? fstate_get(n, se, name, sf, of.type, &state_full)
                                : NULL;
        if (state_full) {
            L.state_full++;
        }
        if (numeric(of.type)) {
            double x = as_double(&of);
            if (!isfinite(x)) {
                s->fields[nf] = of; /* the encoder skips and counts non-finite values */
                s->quality[nf++] = (unsigned char)q;
                continue;
            }
            if (sf && sf->has_limits && (x < sf->lo || x > sf->hi)) {
                L.impossible++;
                if (se) {
                    se->c_imp++;
                }
                if (range_policy(c, sf, true) == POLICY_DROP) {
                    L.values_dropped++;
                    if (se) {
                        se->c_drop++;
                    }
                    ev(s, CG_DROP_IMPOSSIBLE, name);
                    reason = "value outside the physical limits";
                    continue;
                }
                q = CG_NORM_Q_IMPOSSIBLE;
            } else if (sf && sf->has_range && (x < sf->min || x > sf->max)) {
                L.out_of_range++;
                if (se) {
                    se->c_oor++;
                }
                if (range_policy(c, sf, false) == POLICY_DROP) {
                    L.values_dropped++;
                    if (se) {
                        se->c_drop++;
                    }
                    ev(s, CG_DROP_OUT_OF_RANGE, name);
                    reason = "value out of range";
                    continue;
                }
                q = CG_NORM_Q_OUT_OF_RANGE;
            }
            if (fs) {
                fs->same = fs->have_last && x == fs->last ? fs->same + 1 : 1;
                if (stuck_polls > 0 && !repeats_normally(sf) && fs->same >= (uint64_t)stuck_polls) {
                    L.stuck++;
                    se->c_stuck++;
                    q = q > CG_NORM_Q_STUCK ? q : CG_NORM_Q_STUCK;
                }
                const struct name_num *ms = src ? norm_num(src->max_step, src->n_max_step, name) : NULL;
                double step = ms ? ms->v : sf ? sf->max_step : 0;
                if (src && src->jump_check && step > 0 && fs->have_last && fabs(x - fs->last) > step) {
                    L.jump++;
                    se->c_jump++;
                    q = q > CG_NORM_Q_JUMP ? q : CG_NORM_Q_JUMP;
                }
                fs->last = x;
                fs->have_last = true;
            }
        }
        if (unsynced && q == CG_NORM_Q_OK) {
            q = CG_NORM_Q_UNSYNCED;
        }

        /* edge reduction: good values only; flagged ones always go out. An
         * unsynchronised clock says nothing about the value: reduced too. */
        if ((q == CG_NORM_Q_OK || q == CG_NORM_Q_UNSYNCED) && fs) {
            double x = as_double(&of);
            if (w_ns > 0 && numeric(of.type)) {
                if (window_add(fs, t, x, q == CG_NORM_Q_UNSYNCED, w_ns, &L)) {
                    L.window_values++;
                    reason = "aggregated into a window";
                } else {
                    L.window_late++;
                    ev(s, CG_DROP_WINDOW_LATE, name);
                    reason = "late for its window";
                }
                continue;
            }
            const struct name_num *db = norm_num(src->deadband, src->n_deadband, name);
            db = db ? db : db_all;
            if (db) {
                bool same = fs->have_out && fabs(x - fs->out) <= db->v;
                bool beat = src->heartbeat_s > 0 && t - fs->out_ns >= src->heartbeat_s * NS_PER_S;
                if (same && !beat) {
                    L.deadband_suppressed++;
                    reason = "unchanged (deadband)";
                    continue;
                }
                if (same) {
                    L.heartbeats++;
                }
                fs->out = x;
                fs->out_ns = t;
                fs->have_out = true;
            }
        }
        s->fields[nf] = of;
        s->quality[nf++] = (unsigned char)q;
    }
    pthread_mutex_unlock(&n->mu);

    if (nf == 0) {
        *why = reason ? reason : "no fields";
        if (L.window_values == 0 && L.deadband_suppressed == 0) {
            L.points_dropped++;
        }
        finish(n, src, &L);
        return 0;
    }

    /* one point per quality mark present */
    int np = 0;
    size_t g = 0;
    for (int q = 0; q < CG_NORM_Q_N; q++) {
        size_t first = g;
        for (size_t i = 0; i < nf; i++) {
            if (s->quality[i] == q) {
                s->grouped[g++] = s->fields[i];
            }
        }
        if (g == first) {
            continue;
        }
        struct cg_tag *pt = s->tags[np];
        if (np > 0) {
            memcpy(pt, tags, nt * sizeof(*tags));
        }
        size_t pnt = nt;
        if (qtag) {
            pt[pnt].key = qtag;
            pt[pnt].value = quality_names[q];
            pnt++;
        }
        out[np] = (struct cg_point){.measurement = meas,
                                    .tags = pt,
                                    .n_tags = pnt,
                                    .fields = &s->grouped[first],
                                    .n_fields = g - first,
                                    .time_ns = t};
        np++;
    }
    L.points_out = (uint64_t)np;
    finish(n, src, &L);
    return np;
}

/* ---- tick: clock and windows ---------------------------------------------- */

static void clock_point(struct cg_norm *n, int64_t now_ns, cg_norm_emit_fn emit, void *ctx)
{
    struct cg_norm_clock ck;
    pthread_mutex_lock(&n->mu);
    ck = n->clock;
    pthread_mutex_unlock(&n->mu);
    struct cg_field f[3];
    size_t nf = 0;
    if (ck.synced >= 0) {
        f[nf++] = CG_FIELD_B("synced", ck.synced == 1);
        f[nf++] = CG_FIELD_I("maxerror_us", ck.maxerror_us);
        f[nf++] = CG_FIELD_I("esterror_us", ck.esterror_us);
    } else {
        return;
    }
    struct cg_point p = {.measurement = "citygate_clock", .fields = f, .n_fields = nf, .time_ns = now_ns};
    emit(ctx, NULL, &p, 1);
}

static void add_agg(struct cg_norm *n, size_t *nf, const struct fstate *fs, const struct acc *a, unsigned aggs)
{
    bool sum = fs->sf && strcmp(fs->sf->kind, "count") == 0; /* counts per interval add up */
    /* Meter readings and running totals only grow: the window's value is the
     * last (largest) reading, not an average of the register. */
    bool total = fs->sf && (strcmp(fs->sf->kind, "counter") == 0 || strcmp(fs->sf->kind, "energy") == 0 ||
                            strcmp(fs->sf->kind, "reactive_energy") == 0 || strcmp(fs->sf->kind, "volume") == 0);
    struct {
        unsigned bit;
        const char *suffix;
        double v;
    } outs[] = {
        {AGG_MEAN, "", total ? a->max : sum ? a->sum : a->sum / a->n},
        {AGG_MIN, "_min", a->min},
        {AGG_MAX, "_max", a->max},
        {AGG_COUNT, "_count", (double)a->n},
    };
    for (size_t k = 0; k < 4 && *nf < TICK_FIELDS; k++) {
        if (!(aggs & outs[k].bit)) {
            continue;
        }
        struct cg_field *f = &n->tf[*nf];
        snprintf(n->tnames[*nf], CG_POINT_MAX_NAME, "%s%s", fs->key, outs[k].suffix);
        f->key = n->tnames[*nf];
        f->unit = NULL;
        enum cg_field_type t = outs[k].bit == AGG_COUNT ? CG_FIELD_INT : fs->type;
        if (t == CG_FIELD_BOOL) {
            t = CG_FIELD_FLOAT;
        }
        if (set_numeric(f, t, outs[k].v) < 0) {
            continue;
        }
        (*nf)++;
    }
}

/* Collects the windows of se that are due, with the earliest start, into the
 * tick buffers. Returns the number of fields (0 = nothing due). n->mu held. */
static size_t collect_due(struct cg_norm *n, struct series *se, int64_t now_ns, int64_t *start, bool *unsynced)
{
    const struct cg_norm_source *src = se->src;
    int64_t w = src->window_s * NS_PER_S, grace = n->c->window_grace_s * NS_PER_S;
    int64_t best = INT64_MAX;
    for (size_t i = 0; i < se->n_f; i++) {
        const struct fstate *fs = &se->f[i];
        if (fs->done.n > 0 && fs->done.start < best) {
            best = fs->done.start;
        }
        if (fs->cur.n > 0 && now_ns >= fs->cur.start + w + grace && fs->cur.start < best) {
            best = fs->cur.start;
        }
    }
    if (best == INT64_MAX) {
        return 0;
    }
    size_t nf = 0;
    for (size_t i = 0; i < se->n_f; i++) {
        struct fstate *fs = &se->f[i];
        struct acc *a = fs->done.n > 0 && fs->done.start == best ? &fs->done
                        : fs->cur.n > 0 && fs->cur.start == best && now_ns >= fs->cur.start + w + grace ? &fs->cur
                                                                                                         : NULL;
        if (a == NULL) {
            continue;
        }
        add_agg(n, &nf, fs, a, src->aggregates);
        *unsynced = *unsynced || a->unsynced;
        a->n = 0;
        if (fs->closed < best + w) {
            fs->closed = best + w;
        }
    }
    *start = best;
    return nf;
}

/* True when nothing of se is waiting to be written (open windows). */
static bool series_quiet(const struct series *se)
{
    for (size_t i = 0; i < se->n_f; i++) {
        if (se->f[i].cur.n > 0 || se->f[i].done.n > 0) {
            return false;
        }
    }
    return true;
}

static void series_unlink(struct cg_norm *n, struct series *se)
{
    for (struct series **pp = &n->buckets[se->h & (n->n_buckets - 1)]; *pp; pp = &(*pp)->next) {
        if (*pp == se) {
            *pp = se->next;
            return;
        }
    }
}

#define EVICT_SCAN 4096 /* series looked at per tick: the lock is held for about 0.1 ms */

/* Forgets series without readings for series_idle_s, a slice per tick.
 * Runs on the tick's thread only: the window loop below is the only other
 * user of n->all outside the lock. */
static void evict_idle(struct cg_norm *n, int64_t now_ns)
{
    int64_t idle = n->c->series_idle_s * NS_PER_S;
    if (idle <= 0) {
        return;
    }
    struct cg_norm_counters L = {0};
    pthread_mutex_lock(&n->mu);
    for (size_t k = 0; k < EVICT_SCAN && n->n_all > 0; k++) {
        if (n->evict_cursor >= n->n_all) {
            n->evict_cursor = 0;
        }
        size_t i = n->evict_cursor;
        struct series *se = n->all[i];
        if (now_ns - se->seen_ns < idle || !series_quiet(se)) {
            n->evict_cursor++;
            continue;
        }
        series_unlink(n, se);
        n->all[i] = n->all[--n->n_all]; /* the cursor stays: the moved series is looked at next */
        n->state_bytes -= se->bytes;
        series_free(se);
        L.series_evicted++;
    }
    pthread_mutex_unlock(&n->mu);
    if (L.series_evicted) {
        norm_counters_add(&n->cnt, &L);
    }
}

void cg_norm_tick(struct cg_norm *n, int64_t now_ns, cg_norm_emit_fn emit, void *ctx)
{
    const struct cg_norm_conf *c = n->c;
    evict_idle(n, now_ns);
    if (c->clock_check && c->clock_fn) {
        struct cg_norm_clock ck = {.synced = -1};
        c->clock_fn(c->clock_ctx, &ck);
        ck.checked_ns = now_ns;
        pthread_mutex_lock(&n->mu);
        n->clock = ck;
        pthread_mutex_unlock(&n->mu);
        atomic_store(&n->synced, ck.synced);
        if (c->clock_report_s > 0 && (n->last_clock_report == INT64_MIN ||
                                      now_ns - n->last_clock_report >= c->clock_report_s * NS_PER_S)) {
            n->last_clock_report = now_ns;
            clock_point(n, now_ns, emit, ctx);
        }
    }
    const char *qtag = c->quality_tag && c->quality_tag[0] ? c->quality_tag : NULL;
    struct cg_norm_counters L = {0};
    for (size_t i = 0;; i++) {
        pthread_mutex_lock(&n->mu);
        if (i >= n->n_all) {
            pthread_mutex_unlock(&n->mu);
            break;
        }
        struct series *se = n->all[i];
        if (se->src == NULL || se->src->window_s == 0) {
            pthread_mutex_unlock(&n->mu);
            continue;
        }
        int64_t start = 0;
        bool unsynced = false;
        size_t nf = collect_due(n, se, now_ns, &start, &unsynced);
        pthread_mutex_unlock(&n->mu);
        if (nf == 0) {
            continue;
        }
        /* series tags are immutable and live as long as n: safe without the lock */
        size_t nt = se->n_tags < CG_POINT_MAX_TAGS ? se->n_tags : CG_POINT_MAX_TAGS;
        memcpy(n->ttags, se->tags, nt * sizeof(*se->tags));
        if (qtag) {
            n->ttags[nt].key = qtag;
            n->ttags[nt].value = quality_names[unsynced ? CG_NORM_Q_UNSYNCED : CG_NORM_Q_OK];
            nt++;
        }
        struct cg_point p = {
            .measurement = se->meas, .tags = n->ttags, .n_tags = nt, .fields = n->tf, .n_fields = nf, .time_ns = start};
        emit(ctx, se->src, &p, 1);
        L.window_points++;
        L.points_out++;
        norm_counters_add(&se->src->cnt, &L);
        norm_counters_add(&n->cnt, &L);
        memset(&L, 0, sizeof(L));
        i--; /* the same series may have another window due */
    }
}

/* ---- gaps -------------------------------------------------------------------- */

static const char *const scope_names[] = {"device", "bus", "source", "uplink"};

static bool same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static struct gap *gap_find(struct cg_norm *n, const struct cg_norm_gap *g)
{
    for (size_t i = 0; i < n->n_gaps; i++) {
        struct gap *x = &n->gaps[i];
        if (x->scope == (int)g->scope && same_str(x->source, g->source) && same_str(x->device, g->device)) {
            return x;
        }
    }
    return NULL;
}

static void gap_emit(const struct gap *g, int64_t end_ns, cg_norm_emit_fn emit, void *ctx)
{
    struct cg_tag tags[4];
    size_t nt = 0;
    tags[nt++] = (struct cg_tag){"scope", scope_names[g->scope]};
    if (g->source && g->source[0]) {
        tags[nt++] = (struct cg_tag){"source", g->source};
    }
    if (g->device && g->device[0]) {
        tags[nt++] = (struct cg_tag){"device", g->device};
    }
    tags[nt++] = (struct cg_tag){"cause", g->cause && g->cause[0] ? g->cause : "unknown"};
    struct cg_field f[4] = {
        CG_FIELD_I("start_ns", g->start),
        CG_FIELD_I("end_ns", end_ns),
        CG_FIELD_F("duration_s", end_ns > g->start ? (double)(end_ns - g->start) / 1e9 : 0.0),
        CG_FIELD_B("open", end_ns == 0),
    };
    if (end_ns == 0) {
        f[2].v.f = 0;
    }
    struct cg_point p = {.measurement = "citygate_gap", .tags = tags, .n_tags = nt, .fields = f, .n_fields = 4,
                         .time_ns = g->start};
    emit(ctx, NULL, &p, 1);
}

static char *dup_or_null(const char *s, bool *fail)
{
    if (s == NULL) {
        return NULL;
    }
    char *d = strdup(s);
    if (d == NULL) {
        *fail = true;
    }
    return d;
}

int cg_norm_gap_begin(struct cg_norm *n, const struct cg_norm_gap *g, int64_t start_ns, cg_norm_emit_fn emit,
                      void *ctx)
{
    if ((unsigned)g->scope > CG_NORM_GAP_UPLINK) {
        return -EINVAL;
    }
    struct gap copy = {0};
    bool fail = false;
    copy.scope = (int)g->scope;
    copy.start = start_ns;
    copy.source = dup_or_null(g->source, &fail);
    copy.device = dup_or_null(g->device, &fail);
    copy.cause = dup_or_null(g->cause ? g->cause : "unknown", &fail);
    if (fail) {
        gap_done(&copy);
        return -ENOMEM;
    }
    pthread_mutex_lock(&n->mu);
    if (gap_find(n, g) != NULL) {
        pthread_mutex_unlock(&n->mu);
        gap_done(&copy);
        return -EALREADY;
    }
    if (n->n_gaps >= GAPS_MAX) {
        pthread_mutex_unlock(&n->mu);
        gap_done(&copy);
        return -ENOSPC;
    }
    struct gap *a = realloc(n->gaps, (n->n_gaps + 1) * sizeof(*a));
    if (a == NULL) {
        pthread_mutex_unlock(&n->mu);
        gap_done(&copy);
        return -ENOMEM;
    }
    n->gaps = a;
    n->gaps[n->n_gaps++] = copy;
    pthread_mutex_unlock(&n->mu);
    /* written from the caller's strings: the stored copy may be freed by a
     * concurrent gap_end as soon as the lock is released */
    struct gap tmp = {.scope = (int)g->scope, .source = (char *)g->source, .device = (char *)g->device,
                      .cause = (char *)(g->cause ? g->cause : "unknown"), .start = start_ns};
    gap_emit(&tmp, 0, emit, ctx);
    return 0;
}

int cg_norm_gap_end(struct cg_norm *n, const struct cg_norm_gap *g, int64_t end_ns, cg_norm_emit_fn emit,
                    void *ctx)
{
    pthread_mutex_lock(&n->mu);
    struct gap *x = gap_find(n, g);
    if (x == NULL) {
        pthread_mutex_unlock(&n->mu);
        return -ENOENT;
    }
    struct gap copy = *x;
    *x = n->gaps[--n->n_gaps];
    pthread_mutex_unlock(&n->mu);
    gap_emit(&copy, end_ns > copy.start ? end_ns : copy.start + 1, emit, ctx);
    gap_done(&copy);
    return 0;
}

/* ---- device health --------------------------------------------------------- */

void cg_norm_device_point(const char *source, const struct cg_health_item *h, int64_t now_ns,
                          struct cg_norm_scratch *s, struct cg_point *out)
{
    struct cg_tag *t = s->tags[0];
    struct cg_field *f = s->fields;
    size_t nt = 0, nf = 0;
    if (source && source[0]) {
        t[nt++] = (struct cg_tag){"source", source};
    }
    if (h->device && h->device[0]) {
        t[nt++] = (struct cg_tag){"device", h->device};
    }
    f[nf++] = CG_FIELD_B("up", h->up);
    f[nf++] = CG_FIELD_B("quarantined", h->quarantined);
    if (h->latency_ms >= 0) {
        f[nf++] = CG_FIELD_F("latency_ms", h->latency_ms);
    }
    f[nf++] = CG_FIELD_I("consecutive_failures", (int64_t)(h->consecutive_failures > INT64_MAX ? INT64_MAX : h->consecutive_failures));
    f[nf++] = CG_FIELD_I("errors", (int64_t)(h->failed > INT64_MAX ? INT64_MAX : h->failed));
    f[nf++] = CG_FIELD_I("ok", (int64_t)(h->ok > INT64_MAX ? INT64_MAX : h->ok));
    *out = (struct cg_point){.measurement = "citygate_device", .tags = t, .n_tags = nt, .fields = f,
                             .n_fields = nf, .time_ns = now_ns};
}

/* ---- reports ----------------------------------------------------------------- */

size_t cg_norm_sensors(struct cg_norm *n, void (*cb)(void *ctx, const struct cg_norm_sensor *s), void *ctx)
{
    size_t k = 0;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->n_all; i++) {
        const struct series *se = n->all[i];
        if (se->c_oor + se->c_imp + se->c_stuck + se->c_jump + se->c_drop == 0) {
            continue;
        }
        struct cg_norm_sensor r = {.series = se->key,
                                   .source = se->src ? se->src->name : "",
                                   .out_of_range = se->c_oor,
                                   .impossible = se->c_imp,
                                   .stuck = se->c_stuck,
                                   .jump = se->c_jump,
                                   .dropped = se->c_drop};
        cb(ctx, &r);
        k++;
    }
    pthread_mutex_unlock(&n->mu);
    return k;
}

size_t cg_norm_budgets(struct cg_norm *n, void (*cb)(void *ctx, const struct cg_norm_budget *b), void *ctx)
{
    size_t k = 0;
    pthread_mutex_lock(&n->card_mu);
    for (size_t b = 0; b < CARD_BUCKETS; b++) {
        for (const struct card *c = n->cards[b]; c; c = c->next) {
            if (c->held == 0) {
                continue;
            }
            struct cg_norm_budget r = {.measurement = c->meas, .tag_key = c->key, .source = c->source,
                                       .example = c->example, .values = c->n, .limit = c->limit,
                                       .held_back = c->held};
            cb(ctx, &r);
            k++;
        }
    }
    pthread_mutex_unlock(&n->card_mu);
    return k;
}
