/* citygate — the discard ledger (see drops.h, docs/reliability.md). */
#include "drops.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024 /* power of two, 2x CG_DROPS_MAX_KEYS */
#define BURST 20     /* new keys announced at once ... */
#define PER_S 5      /* ... then this many a second */

static const struct {
    const char *name, *text;
    bool kept;
} causes[CG_DROP_CAUSE_N] = {
    [CG_DROP_UNMAPPED_MEASUREMENT] = {"unmapped_measurement", "measurement not in the schema: written unchanged", true},
    [CG_DROP_UNMAPPED_FIELD] = {"unmapped_field", "field not in the schema: written unchanged", true},
    [CG_DROP_SCHEMA_MEASUREMENT] = {"schema_measurement",
                                    "measurement not in the schema: point dropped (normalise.schema_policy strict)"},
    [CG_DROP_SCHEMA_FIELD] = {"schema_field", "field not in the schema: dropped (normalise.schema_policy strict)"},
    [CG_DROP_RESERVED_MEASUREMENT] = {"reserved_measurement",
                                      "measurement name is reserved for citygate's own points: point dropped"},
    [CG_DROP_PROTECTED_TAG] = {"protected_tag", "payload tag replaced by the configured static tag of the same key"},
    [CG_DROP_CARDINALITY] = {"cardinality", "cardinality budget reached: point held back"},
    [CG_DROP_PRIVACY_TAG] = {"privacy_tag", "tag dropped by a privacy rule"},
    [CG_DROP_PRIVACY_FIELD] = {"privacy_field", "field dropped by a privacy rule (or private in the schema)"},
    [CG_DROP_PRIVACY_OVERFLOW] = {"privacy_overflow", "hashed/truncated text did not fit: dropped"},
    [CG_DROP_UNIT] = {"unit", "unit unknown or not convertible: field dropped"},
    [CG_DROP_TYPE] = {"type", "value type does not match the schema: field dropped"},
    [CG_DROP_IMPOSSIBLE] = {"impossible", "value outside the physical limits: dropped"},
    [CG_DROP_OUT_OF_RANGE] = {"out_of_range", "value out of the plausible range: dropped"},
    [CG_DROP_TIME_FUTURE] = {"time_future", "timestamp too far in the future: point dropped"},
    [CG_DROP_TIME_PAST] = {"time_past", "timestamp too far in the past: point dropped"},
    [CG_DROP_WINDOW_LATE] = {"window_late", "value late for its aggregation window: dropped"},
    [CG_DROP_EMPTY_TAG] = {"empty_tag", "tag with an empty value: tag omitted"},
    [CG_DROP_TAG_LIMIT] = {"tag_limit", "more tags than a point may carry: extra tags dropped"},
    [CG_DROP_FIELD_LIMIT] = {"field_limit", "more fields than a point may carry: extra fields dropped"},
    [CG_DROP_NONFINITE] = {"nonfinite", "NaN or infinite value: field dropped"},
    [CG_DROP_INVALID] = {"invalid", "point refused by validation"},
    [CG_DROP_PAYLOAD_SKIPPED] = {"payload_skipped",
                                 "payload value the codec cannot store (JSON array or null): skipped"},
};

const char *cg_drops_cause_name(enum cg_drop_cause c)
{
    return (unsigned)c < CG_DROP_CAUSE_N ? causes[c].name : "unknown";
}

const char *cg_drops_cause_text(enum cg_drop_cause c)
{
    return (unsigned)c < CG_DROP_CAUSE_N ? causes[c].text : "unknown";
}

bool cg_drops_cause_kept(enum cg_drop_cause c)
{
    return (unsigned)c < CG_DROP_CAUSE_N && causes[c].kept;
}

struct entry {
    struct cg_drops_row r;
    uint64_t h;
    bool announced;
    int next; /* index in the bucket chain, -1 = end */
};

struct cg_drops {
    pthread_mutex_t mu;
    struct entry e[CG_DROPS_MAX_KEYS];
    size_t n;
    int head[BUCKETS];
    struct entry other[CG_DROP_CAUSE_N]; /* overflow, labels "other" */
    uint64_t totals[CG_DROP_CAUSE_N];
    double tokens;
    int64_t tokens_ms;
};

struct cg_drops *cg_drops_new(void)
{
    struct cg_drops *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    for (size_t i = 0; i < BUCKETS; i++) {
        d->head[i] = -1;
    }
    for (int c = 0; c < CG_DROP_CAUSE_N; c++) {
        struct cg_drops_row *r = &d->other[c].r;
        r->cause = (enum cg_drop_cause)c;
        strcpy(r->source, CG_DROPS_OTHER);
        strcpy(r->measurement, CG_DROPS_OTHER);
        strcpy(r->field, CG_DROPS_OTHER);
    }
    d->tokens = BURST;
    d->tokens_ms = INT64_MIN;
    return d;
}

void cg_drops_free(struct cg_drops *d)
{
    if (d == NULL) {
        return;
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Copies a label, cutting long ones on a UTF-8 boundary with "..." so a cut
 * name is not mistaken for a real one. */
static void label(char out[CG_DROPS_LABEL_MAX], const char *s)
{
    s = s ? s : "";
    size_t l = strlen(s);
    if (l < CG_DROPS_LABEL_MAX) {
        memcpy(out, s, l + 1);
        return;
    }
    size_t k = CG_DROPS_LABEL_MAX - 4;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) {
        k--;
    }
    memcpy(out, s, k);
    memcpy(out + k, "...", 4);
}

static uint64_t hash(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    return (h ^ 0xff) * 1099511628211ULL;
}

static bool take_token(struct cg_drops *d, int64_t now_ms)
{
    if (d->tokens_ms != INT64_MIN && now_ms > d->tokens_ms) {
        d->tokens += (double)(now_ms - d->tokens_ms) * PER_S / 1000.0;
        d->tokens = d->tokens > BURST ? BURST : d->tokens;
    }
    d->tokens_ms = now_ms;
    if (d->tokens < 1) {
        return false;
    }
    d->tokens -= 1;
    return true;
}

bool cg_drops_add(struct cg_drops *d, enum cg_drop_cause c, const char *source, const char *measurement,
                  const char *field, uint64_t n, int64_t now_ms)
{
    if (d == NULL || (unsigned)c >= CG_DROP_CAUSE_N || n == 0) {
        return false;
    }
    struct cg_drops_row key = {.cause = c};
    label(key.source, source);
    label(key.measurement, measurement);
    label(key.field, field);
    uint64_t h = hash(hash(hash(14695981039346656037ULL ^ (uint64_t)c, key.source), key.measurement), key.field);
    bool say = false;
    pthread_mutex_lock(&d->mu);
    d->totals[c] += n;
    struct entry *e = NULL;
    for (int i = d->head[h & (BUCKETS - 1)]; i >= 0; i = d->e[i].next) {
        struct entry *x = &d->e[i];
        if (x->h == h && x->r.cause == c && strcmp(x->r.source, key.source) == 0 &&
            strcmp(x->r.measurement, key.measurement) == 0 && strcmp(x->r.field, key.field) == 0) {
            e = x;
            break;
        }
    }
    if (e == NULL && d->n < CG_DROPS_MAX_KEYS) {
        e = &d->e[d->n];
        e->r = key;
        e->h = h;
        e->next = d->head[h & (BUCKETS - 1)];
        d->head[h & (BUCKETS - 1)] = (int)d->n;
        d->n++;
    }
    if (e == NULL) {
        e = &d->other[c];
    }
    e->r.count += n;
    if (!e->announced && take_token(d, now_ms)) {
        e->announced = true;
        say = true;
    }
    pthread_mutex_unlock(&d->mu);
    return say;
}

static int by_count(const void *a, const void *b)
{
    const struct cg_drops_row *x = a, *y = b;
    if (x->count != y->count) {
        return x->count < y->count ? 1 : -1;
    }
    return x->cause < y->cause ? -1 : x->cause > y->cause;
}

int cg_drops_snapshot(const struct cg_drops *d, struct cg_drops_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (d == NULL) {
        return 0;
    }
    struct cg_drops *m = (struct cg_drops *)d; /* the lock only */
    struct cg_drops_row *rows = malloc((CG_DROPS_MAX_KEYS + CG_DROP_CAUSE_N) * sizeof(*rows));
    if (rows == NULL) {
        return -ENOMEM;
    }
    size_t k = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < d->n; i++) {
        rows[k++] = d->e[i].r;
    }
    for (int c = 0; c < CG_DROP_CAUSE_N; c++) {
        if (d->other[c].r.count > 0) {
            rows[k++] = d->other[c].r;
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (k == 0) {
        free(rows);
        return 0;
    }
    qsort(rows, k, sizeof(*rows), by_count);
    *out = rows;
    *n = k;
    return 0;
}

void cg_drops_totals(const struct cg_drops *d, uint64_t out[CG_DROP_CAUSE_N])
{
    memset(out, 0, CG_DROP_CAUSE_N * sizeof(*out));
    if (d == NULL) {
        return;
    }
    struct cg_drops *m = (struct cg_drops *)d;
    pthread_mutex_lock(&m->mu);
    memcpy(out, d->totals, CG_DROP_CAUSE_N * sizeof(*out));
    pthread_mutex_unlock(&m->mu);
}

static int escape(struct cg_buf *b, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        rc = *s == '\\' ? cg_buf_append(b, "\\\\", 2)
             : *s == '"' ? cg_buf_append(b, "\\\"", 2)
             : *s == '\n' ? cg_buf_append(b, "\\n", 2)
                          : cg_buf_putc(b, *s);
    }
    return rc;
}

int cg_drops_render_metrics(const struct cg_drops_row *rows, size_t n, struct cg_buf *out)
{
    int rc = cg_buf_printf(out, "# HELP citygate_discarded_total Readings, fields or tags not stored as they came, "
                                "by cause (docs/reliability.md).\n# TYPE citygate_discarded_total counter\n");
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (cg_drops_cause_kept(rows[i].cause)) {
            continue;
        }
        if ((rc = cg_buf_printf(out, "citygate_discarded_total{cause=\"%s\",source=\"",
                                cg_drops_cause_name(rows[i].cause))) < 0 ||
            (rc = escape(out, rows[i].source)) < 0 || (rc = cg_buf_printf(out, "\",measurement=\"")) < 0 ||
            (rc = escape(out, rows[i].measurement)) < 0 || (rc = cg_buf_printf(out, "\",field=\"")) < 0 ||
            (rc = escape(out, rows[i].field)) < 0) {
            break;
        }
        rc = cg_buf_printf(out, "\"} %llu\n", (unsigned long long)rows[i].count);
    }
    if (rc == 0) {
        rc = cg_buf_printf(out, "# HELP citygate_unmapped_total Values written unchanged because the schema does not "
                                "know their measurement or field name.\n# TYPE citygate_unmapped_total counter\n");
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!cg_drops_cause_kept(rows[i].cause)) {
            continue;
        }
        if ((rc = cg_buf_printf(out, "citygate_unmapped_total{kind=\"%s\",source=\"",
                                rows[i].cause == CG_DROP_UNMAPPED_FIELD ? "field" : "measurement")) < 0 ||
            (rc = escape(out, rows[i].source)) < 0 || (rc = cg_buf_printf(out, "\",measurement=\"")) < 0 ||
            (rc = escape(out, rows[i].measurement)) < 0 || (rc = cg_buf_printf(out, "\",field=\"")) < 0 ||
            (rc = escape(out, rows[i].field)) < 0) {
            break;
        }
        rc = cg_buf_printf(out, "\"} %llu\n", (unsigned long long)rows[i].count);
    }
    return rc;
}
