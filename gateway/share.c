/* citygate — data-sharing agreements (see share.h and docs/outputs.md).
 *
 * Per raw line: parse (lp_parse.c), select the measurement and quality mark,
 * keep the selected fields and tags, hash or coarsen tag values, then either
 * write the line back or add it to its series' open window. A window is
 * emitted when a later window's line of the same series arrives, or when the
 * series has been quiet for window_grace_s and the wall clock is past the
 * window's end plus window_grace_s.
 *
 * Replay: the journal is committed only up to the first line of the oldest
 * open window, so an open window is always rebuilt from all of its lines.
 * Windows already sent are remembered per series (marks file, written and
 * synced before each commit); a replayed line of such a window is skipped as
 * late, so a window is never sent from part of its lines. */
#include "share.h"

#include "lineproto.h"
#include "lp_parse.h"
#include <citygate/array.h>
#include <citygate/point.h> /* cg_time_mono_ms, cg_time_now_ns */

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATTERNS_MAX 256   /* per include / exclude list */
#define COARSEN_MAX 64     /* coarsened tags */
#define MAP_MAX 10000      /* entries of one coarsening map */
#define NAME_MAX_LEN 65536 /* an unescaped name or tag value */
#define RAW_MAX ((size_t)1 << 30)
#define REREAD_CHUNK 4096 /* lines per read while moving the commit */
#define WINDOW_TS_MAX 400000 /* timestamps remembered per open window (4.6 days of 1 Hz) */

struct patlist {
    char **v;
    size_t n;
};

struct selector {
    struct patlist include; /* empty: everything */
    struct patlist exclude;
};

struct coarsen {
    char *tag;
    int64_t keep_chars; /* > 0: keep this many leading characters */
    char **from, **to;  /* map */
    size_t n_map;
    char *other; /* value for anything not in the map; NULL: drop the tag */
};

struct agg_conf {
    int64_t window_s;
    int64_t window_grace_s;
    int64_t max_series;
};

struct cg_share_conf {
    char *quality_tag;
    char *hash_key;
    int64_t hash_hex_chars;
    struct selector measurements, fields, tags, quality;
    struct patlist hash_tags;
    struct coarsen *coarsen;
    size_t n_coarsen;
    char **rename_from, **rename_to; /* rename_tags: n_rename pairs, unescaped */
    size_t n_rename;
    bool aggregate;
    struct agg_conf agg;
};

#define OFF(m) offsetof(struct cg_share_conf, m)
const struct cg_opt cg_share_options[] = {
    {.name = "measurements", .type = CG_OPT_OTHER,
     .doc = "{\"include\": [...], \"exclude\": [...]}: measurement names or fnmatch patterns this output receives "
            "(include empty or absent: all)"},
    {.name = "fields", .type = CG_OPT_OTHER,
     .doc = "{\"include\", \"exclude\"}: field names or patterns kept; a line left with no field is filtered"},
    {.name = "tags", .type = CG_OPT_OTHER, .doc = "{\"include\", \"exclude\"}: tag keys or patterns kept; others are dropped"},
    {.name = "quality", .type = CG_OPT_OTHER,
     .doc = "{\"include\", \"exclude\"}: quality marks (values of quality_tag; \"\" = no mark) this output receives"},
    {.name = "quality_tag", .type = CG_OPT_STRING, .offset = OFF(quality_tag), .def = "quality",
     .doc = "tag key holding the quality mark (normalise.quality_tag)"},
    {.name = "hash_tags", .type = CG_OPT_OTHER,
     .doc = "[tag keys or patterns]: values replaced by HMAC-SHA256(hash_key, value) in hex, hash_hex_chars long"},
    {.name = "hash_key", .type = CG_OPT_STRING, .offset = OFF(hash_key), .flags = CG_OPT_SECRET,
     .doc = "the HMAC key of hash_tags; required with hash_tags."},
    {.name = "hash_hex_chars", .type = CG_OPT_INT, .offset = OFF(hash_hex_chars), .def = "16", .min = 8, .max = 64,
     .doc = "hex characters of the HMAC kept"},
    {.name = "coarsen_tags", .type = CG_OPT_OTHER,
     .doc = "{\"tag\": {\"keep_chars\": N} or {\"map\": {\"value\": \"coarse\"}, \"other\": \"value\"}}: a map's "
            "unlisted values become other, or the tag is dropped"},
    {.name = "rename_tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .max_items = COARSEN_MAX,
     .doc = "{\"old key\": \"new key\"}: tag keys written under another name for this output only (after "
            "selection, hashing and coarsening, which use the old key), e.g. {\"gateway\": \"cabinet\"}"},
    {.name = "aggregate", .type = CG_OPT_OTHER,
     .doc = "windows per series instead of every reading (see outputs[].agreement.aggregate)"},
    CG_OPT_END,
};
#undef OFF

#define AOFF(m) offsetof(struct agg_conf, m)
const struct cg_opt cg_share_aggregate_options[] = {
    {.name = "window_s", .type = CG_OPT_INT, .offset = AOFF(window_s), .min = 1, .max = 86400,
     .flags = CG_OPT_REQUIRED,
     .doc = "window length; windows are aligned to the data's timestamps (multiples of window_s since the epoch)"},
    {.name = "window_grace_s", .type = CG_OPT_INT, .offset = AOFF(window_grace_s), .def = "60", .min = 1,
     .max = 86400,
     .doc = "a window is also sent once its series is quiet this long and the clock is this far past its end"},
    {.name = "max_series", .type = CG_OPT_INT, .offset = AOFF(max_series), .def = "10000", .min = 1,
     .max = 1000000, .doc = "series followed; lines of further series are counted and not sent"},
    CG_OPT_END,
};
#undef AOFF

/* ---- configuration ------------------------------------------------------ */

static void patlist_free(struct patlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int parse_patlist(const cJSON *arr, const char *path, struct patlist *out, struct cg_errs *errs)
{
    char p[512];
    if (!cJSON_IsArray(arr)) {
        cg_errs_add(errs, path, "must be an array of names or patterns");
        return -EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > PATTERNS_MAX) {
        cg_errs_add(errs, path, "at most %d entries, got %zu", PATTERNS_MAX, n);
        return -EINVAL;
    }
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (out->v == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        cg_path_idx(p, sizeof(p), path, i);
        if (!cJSON_IsString(it)) {
            cg_errs_add(errs, p, "must be a string");
            return -EINVAL;
        }
        if ((out->v[out->n] = strdup(it->valuestring)) == NULL) {
            cg_errs_add(errs, p, "out of memory");
            return -ENOMEM;
        }
        out->n++;
    }
    return 0;
}

static int parse_selector(const cJSON *obj, const char *path, struct selector *s, struct cg_errs *errs)
{
    char p[512];
    if (obj == NULL) {
        return 0;
    }
    if (!cJSON_IsObject(obj) || cg_json_check_object(obj, path, errs) < 0) {
        if (!cJSON_IsObject(obj)) {
            cg_errs_add(errs, path, "must be an object {\"include\": [...], \"exclude\": [...]}");
        }
        return -EINVAL;
    }
    int rc = 0;
    for (const cJSON *it = obj->child; it; it = it->next) {
        cg_path_key(p, sizeof(p), path, it->string);
        if (strcmp(it->string, "include") == 0) {
            rc |= parse_patlist(it, p, &s->include, errs);
        } else if (strcmp(it->string, "exclude") == 0) {
            rc |= parse_patlist(it, p, &s->exclude, errs);
        } else {
            cg_errs_add(errs, p, "unknown key (include or exclude)");
            rc = -EINVAL;
        }
    }
    return rc ? -EINVAL : 0;
}

/* A tag value we write ourselves: not empty, no newline, not starting with a
 * backslash-free '_'... only what the encoder itself would accept. */
static bool tag_value_ok(const char *v)
{
    return v[0] != '\0' && strpbrk(v, "\n\r") == NULL && v[strlen(v) - 1] != '\\';
}

static int parse_coarsen(const cJSON *obj, const char *path, struct cg_share_conf *c, struct cg_errs *errs)
{
    char p[512], q[600];
    if (obj == NULL) {
        return 0;
    }
    if (!cJSON_IsObject(obj)) {
        cg_errs_add(errs, path, "must be an object {\"tag\": {\"keep_chars\": N} or {\"map\": {...}}}");
        return -EINVAL;
    }
    if (cg_json_check_object(obj, path, errs) < 0) {
        return -EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(obj);
    if (n > COARSEN_MAX) {
        cg_errs_add(errs, path, "at most %d tags, got %zu", COARSEN_MAX, n);
        return -EINVAL;
    }
    c->coarsen = calloc(n ? n : 1, sizeof(*c->coarsen));
    if (c->coarsen == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    for (const cJSON *it = obj->child; it; it = it->next) {
        struct coarsen *k = &c->coarsen[c->n_coarsen++];
        cg_path_key(p, sizeof(p), path, it->string);
        if ((k->tag = strdup(it->string)) == NULL) {
            cg_errs_add(errs, p, "out of memory");
            return -ENOMEM;
        }
        if (!cJSON_IsObject(it) || cg_json_check_object(it, p, errs) < 0) {
            cg_errs_add(errs, p, "must be an object: {\"keep_chars\": N} or {\"map\": {...}, \"other\": \"...\"}");
            rc = -EINVAL;
            continue;
        }
        const cJSON *keep = cJSON_GetObjectItemCaseSensitive(it, "keep_chars");
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(it, "map");
        const cJSON *other = cJSON_GetObjectItemCaseSensitive(it, "other");
        for (const cJSON *f = it->child; f; f = f->next) {
            if (strcmp(f->string, "keep_chars") != 0 && strcmp(f->string, "map") != 0 &&
                strcmp(f->string, "other") != 0) {
                cg_path_key(q, sizeof(q), p, f->string);
                cg_errs_add(errs, q, "unknown key (keep_chars, map or other)");
                rc = -EINVAL;
            }
        }
        if ((keep == NULL) == (map == NULL)) {
            cg_errs_add(errs, p, "give exactly one of keep_chars and map");
            rc = -EINVAL;
            continue;
        }
        if (keep != NULL) {
            cg_path_key(q, sizeof(q), p, "keep_chars");
            if (!cJSON_IsNumber(keep) || keep->valuedouble != (double)(int64_t)keep->valuedouble ||
                keep->valuedouble < 1 || keep->valuedouble > 1024) {
                cg_errs_add(errs, q, "must be an integer 1..1024");
                rc = -EINVAL;
            } else {
                k->keep_chars = (int64_t)keep->valuedouble;
            }
            if (other != NULL) {
                cg_path_key(q, sizeof(q), p, "other");
                cg_errs_add(errs, q, "only with map");
                rc = -EINVAL;
            }
            continue;
        }
        cg_path_key(q, sizeof(q), p, "map");
        size_t nm = cJSON_IsObject(map) ? (size_t)cJSON_GetArraySize(map) : 0;
        if (!cJSON_IsObject(map) || nm == 0 || nm > MAP_MAX || cg_json_check_object(map, q, errs) < 0) {
            cg_errs_add(errs, q, "must be an object of 1..%d \"value\": \"coarse value\" entries", MAP_MAX);
            rc = -EINVAL;
            continue;
        }
        k->from = calloc(nm, sizeof(char *));
        k->to = calloc(nm, sizeof(char *));
        if (k->from == NULL || k->to == NULL) {
            cg_errs_add(errs, q, "out of memory");
            return -ENOMEM;
        }
        for (const cJSON *m = map->child; m; m = m->next) {
            char r[700];
            cg_path_key(r, sizeof(r), q, m->string);
            if (!cJSON_IsString(m) || !tag_value_ok(m->valuestring)) {
                cg_errs_add(errs, r, "must be a non-empty string without newlines");
                rc = -EINVAL;
                continue;
            }
            k->from[k->n_map] = strdup(m->string);
            k->to[k->n_map] = strdup(m->valuestring);
            k->n_map++;
            if (k->from[k->n_map - 1] == NULL || k->to[k->n_map - 1] == NULL) {
                cg_errs_add(errs, r, "out of memory");
                return -ENOMEM;
            }
        }
        if (other != NULL) {
            cg_path_key(q, sizeof(q), p, "other");
            if (!cJSON_IsString(other) || !tag_value_ok(other->valuestring)) {
                cg_errs_add(errs, q, "must be a non-empty string without newlines");
                rc = -EINVAL;
            } else if ((k->other = strdup(other->valuestring)) == NULL) {
                cg_errs_add(errs, q, "out of memory");
                return -ENOMEM;
            }
        }
    }
    return rc;
}

/* rename_tags: {"old": "new"}. A new key must be a valid, different tag key
 * that no other entry produces (two tags under one key would be refused by
 * the database or merged). */
static int rename_item(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct cg_share_conf *c = ctx;
    const char *to = it->str;
    if (to == NULL || to[0] == '\0' || to[0] == '_' || strlen(to) > NAME_MAX_LEN || strpbrk(to, "\n\r\\") != NULL ||
        strcmp(to, it->key) == 0) {
        cg_errs_add(errs, it->path, "must be a different tag key (not empty, no leading '_', newline or backslash)");
        return 0;
    }
    for (size_t k = 0; k < c->n_rename; k++) {
        if (strcmp(c->rename_to[k], to) == 0) {
            cg_errs_add(errs, it->path, "'%s' is already the new name of '%s'", to, c->rename_from[k]);
            return 0;
        }
    }
    if ((c->rename_from[c->n_rename] = strdup(it->key)) == NULL) {
        return -ENOMEM;
    }
    if ((c->rename_to[c->n_rename] = strdup(to)) == NULL) {
        free(c->rename_from[c->n_rename]);
        return -ENOMEM;
    }
    c->n_rename++;
    return 0;
}

static int parse_rename(const cJSON *obj, const char *path, struct cg_share_conf *c, struct cg_errs *errs)
{
    if (obj == NULL) {
        return 0;
    }
    size_t n = cJSON_IsObject(obj) ? (size_t)cJSON_GetArraySize(obj) : 0;
    c->rename_from = calloc(n ? n : 1, sizeof(char *));
    c->rename_to = calloc(n ? n : 1, sizeof(char *));
    if (c->rename_from == NULL || c->rename_to == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    int rc = cg_opt_parse_map(cg_opt_find(cg_share_options, "rename_tags"), obj, path, rename_item, c, errs);
    if (rc == -ENOMEM) {
        cg_errs_add(errs, path, "out of memory");
    }
    return rc;
}

void cg_share_conf_free(struct cg_share_conf *c)
{
    if (c == NULL) {
        return;
    }
    cg_opt_free(cg_share_options, c);
    struct selector *sels[] = {&c->measurements, &c->fields, &c->tags, &c->quality};
    for (size_t i = 0; i < 4; i++) {
        patlist_free(&sels[i]->include);
        patlist_free(&sels[i]->exclude);
    }
    patlist_free(&c->hash_tags);
    for (size_t i = 0; i < c->n_coarsen; i++) {
        struct coarsen *k = &c->coarsen[i];
        for (size_t m = 0; m < k->n_map; m++) {
            free(k->from[m]);
            free(k->to[m]);
        }
        free(k->from);
        free(k->to);
        free(k->other);
        free(k->tag);
    }
    free(c->coarsen);
    for (size_t i = 0; i < c->n_rename; i++) {
        free(c->rename_from[i]);
        free(c->rename_to[i]);
    }
    free(c->rename_from);
    free(c->rename_to);
    free(c);
}

bool cg_share_conf_in_order(const struct cg_share_conf *c)
{
    return c != NULL && c->aggregate;
}

static bool matches(const struct patlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (fnmatch(l->v[i], s, 0) == 0) {
            return true;
        }
    }
    return false;
}

static bool selected(const struct selector *sel, const char *s)
{
    return (sel->include.n == 0 || matches(&sel->include, s)) && !matches(&sel->exclude, s);
}

int cg_share_conf_parse(const cJSON *obj, const char *path, struct cg_share_conf **out, struct cg_errs *errs)
{
    char p[512];
    size_t before = cg_errs_count(errs);
    if (!cJSON_IsObject(obj)) {
        cg_errs_add(errs, path, "must be an object");
        return -EINVAL;
    }
    struct cg_share_conf *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    (void)cg_opt_parse(cg_share_options, obj, path, c, errs);
    static const char *const sel_keys[] = {"measurements", "fields", "tags", "quality"};
    struct selector *sels[] = {&c->measurements, &c->fields, &c->tags, &c->quality};
    for (size_t i = 0; i < 4; i++) {
        cg_path_key(p, sizeof(p), path, sel_keys[i]);
        (void)parse_selector(cJSON_GetObjectItemCaseSensitive(obj, sel_keys[i]), p, sels[i], errs);
    }
    const cJSON *ht = cJSON_GetObjectItemCaseSensitive(obj, "hash_tags");
    cg_path_key(p, sizeof(p), path, "hash_tags");
    if (ht != NULL) {
        (void)parse_patlist(ht, p, &c->hash_tags, errs);
    }
    if (c->hash_tags.n > 0 && c->hash_key == NULL) {
        cg_errs_add(errs, p, "needs hash_key (or hash_key_file)");
    }
    cg_path_key(p, sizeof(p), path, "coarsen_tags");
    (void)parse_coarsen(cJSON_GetObjectItemCaseSensitive(obj, "coarsen_tags"), p, c, errs);
    for (size_t i = 0; i < c->n_coarsen; i++) {
        if (matches(&c->hash_tags, c->coarsen[i].tag)) {
            char q[600];
            cg_path_key(q, sizeof(q), p, c->coarsen[i].tag);
            cg_errs_add(errs, q, "tag '%s' is also in hash_tags: hash or coarsen it, not both", c->coarsen[i].tag);
        }
    }
    cg_path_key(p, sizeof(p), path, "rename_tags");
    (void)parse_rename(cJSON_GetObjectItemCaseSensitive(obj, "rename_tags"), p, c, errs);
    const cJSON *agg = cJSON_GetObjectItemCaseSensitive(obj, "aggregate");
    if (agg != NULL) {
        cg_path_key(p, sizeof(p), path, "aggregate");
        c->aggregate = true;
        (void)cg_opt_parse(cg_share_aggregate_options, agg, p, &c->agg, errs);
    }
    if (c->quality_tag != NULL && c->quality_tag[0] == '\0' &&
        (c->quality.include.n > 0 || c->quality.exclude.n > 0)) {
        cg_path_key(p, sizeof(p), path, "quality_tag");
        cg_errs_add(errs, p, "must not be empty when quality selects marks");
    }
    if (cg_errs_count(errs) > before) {
        cg_share_conf_free(c);
        return -EINVAL;
    }
    *out = c;
    return 0;
}

/* ---- running state ------------------------------------------------------ */

struct agg_field {
    char *key; /* escaped, as written */
    double sum, min, max;
    uint64_t count;
};

struct series {
    struct series *next; /* hash chain */
    char *key;           /* measurement,tags as written (after privacy) */
    int64_t mark;        /* start of the last window emitted; INT64_MIN: none */
    int64_t cmark;       /* ... as of the last commit (the marks file) */
    bool open;
    int64_t start;       /* the open window */
    uint64_t first_seq;  /* raw line number of its first line */
    int64_t last_ms;     /* monotonic time its last line was read */
    struct agg_field *f;
    size_t nf, capf;
    int64_t *ts; /* timestamps in the open window, sorted: a repeat is a duplicate */
    size_t nts, capts;
};

struct cg_share {
    const struct cg_share_conf *c;
    char *marks_path;
    struct series **buckets;
    size_t nbuckets, nseries;
    bool marks_dirty;
    uint64_t seq_read;      /* raw lines read since start */
    uint64_t seq_committed; /* ... of which committed */
    struct cg_buf raw;
    struct cg_buf key;
    struct cg_buf scratch;
    struct cg_lp_line line;
    char *name;  /* NAME_MAX_LEN + 1 scratch */
    char *value; /* NAME_MAX_LEN + 1 scratch */
    EVP_MD *sha256;
    _Atomic uint64_t filtered, refused, late, no_series, windows, duplicate;
    uint64_t told_refused, told_late, told_no_series; /* cg_share_news */
    int64_t busy_scan_ms; /* last grace scan from cg_share_fill */
};

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    }
    return h;
}

static struct series *find_series(struct cg_share *s, const char *key, size_t n, bool create)
{
    size_t b = hash_str(key, n) & (s->nbuckets - 1);
    for (struct series *it = s->buckets[b]; it; it = it->next) {
        if (strlen(it->key) == n && memcmp(it->key, key, n) == 0) {
            return it;
        }
    }
    if (!create || s->nseries >= (size_t)s->c->agg.max_series) {
        return NULL;
    }
    struct series *it = calloc(1, sizeof(*it));
    if (it == NULL || (it->key = strndup(key, n)) == NULL) {
        free(it);
        return NULL;
    }
    it->mark = INT64_MIN;
    it->cmark = INT64_MIN;
    it->next = s->buckets[b];
    s->buckets[b] = it;
    s->nseries++;
    return it;
}

static void close_window(struct series *se)
{
    for (size_t i = 0; i < se->nf; i++) {
        free(se->f[i].key);
    }
    se->nf = 0;
    se->nts = 0;
    se->open = false;
}

/* Marks file: one "<window start ns> <series key>" per line. */
static int load_marks(struct cg_share *s, char *err, size_t errlen)
{
    FILE *f = fopen(s->marks_path, "re");
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(err, errlen, "cannot read %s: %s", s->marks_path, strerror(errno));
        return -errno;
    }
    char *ln = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&ln, &cap, f)) > 0) {
        if (ln[n - 1] == '\n') {
            ln[--n] = '\0';
        }
        char *sp = strchr(ln, ' ');
        char *end = NULL;
        if (sp == NULL) {
            continue;
        }
        errno = 0;
        long long m = strtoll(ln, &end, 10);
        if (end != sp || errno != 0) {
            continue; /* a damaged line: its series' windows may be sent again, whole */
        }
        struct series *se = find_series(s, sp + 1, strlen(sp + 1), true);
        if (se == NULL) {
            snprintf(err, errlen, "%s: more series than aggregate.max_series", s->marks_path);
            rc = -ENOSPC;
            break;
        }
        se->mark = se->cmark = (int64_t)m;
    }
    free(ln);
    fclose(f);
    return rc;
}

static int save_marks(struct cg_share *s)
{
    char *tmp = NULL;
    FILE *f = NULL;
    int rc = 0;
    if (asprintf(&tmp, "%s.tmp", s->marks_path) < 0) {
        return -ENOMEM;
    }
    f = fopen(tmp, "we");
    if (f == NULL) {
        rc = -errno;
        goto out;
    }
    for (size_t b = 0; b < s->nbuckets; b++) {
        for (struct series *se = s->buckets[b]; se; se = se->next) {
            if (se->mark != INT64_MIN && fprintf(f, "%" PRId64 " %s\n", se->mark, se->key) < 0) {
                rc = -EIO;
                goto out;
            }
        }
    }
    if (fflush(f) != 0 || fdatasync(fileno(f)) != 0) {
        rc = -errno;
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = -errno;
        goto out;
    }
    f = NULL;
    if (rename(tmp, s->marks_path) != 0) {
        rc = -errno;
        goto out;
    }
    for (size_t b = 0; b < s->nbuckets; b++) {
        for (struct series *se = s->buckets[b]; se; se = se->next) {
            se->cmark = se->mark;
        }
    }
    s->marks_dirty = false;
out:
    if (f != NULL) {
        fclose(f);
    }
    if (rc < 0) {
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

struct cg_share *cg_share_new(const struct cg_share_conf *conf, const char *name, const char *state_dir, char *err,
                              size_t errlen)
{
    struct cg_share *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->c = conf;
    cg_buf_init(&s->raw, RAW_MAX);
    cg_buf_init(&s->key, RAW_MAX);
    cg_buf_init(&s->scratch, RAW_MAX);
    s->name = malloc(NAME_MAX_LEN + 1);
    s->value = malloc(NAME_MAX_LEN + 1);
    s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (s->name == NULL || s->value == NULL || s->sha256 == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (conf->aggregate) {
        s->nbuckets = 64;
        while (s->nbuckets < (size_t)conf->agg.max_series && s->nbuckets < ((size_t)1 << 20)) {
            s->nbuckets <<= 1;
        }
        s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
        if (s->buckets == NULL ||
            asprintf(&s->marks_path, "%s/share-%s.marks", state_dir ? state_dir : ".", name) < 0) {
            s->marks_path = NULL;
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (load_marks(s, err, errlen) < 0) {
            goto fail;
        }
    }
    return s;
fail:
    cg_share_free(s);
    return NULL;
}

void cg_share_free(struct cg_share *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t b = 0; b < s->nbuckets; b++) {
        struct series *se = s->buckets[b];
        while (se != NULL) {
            struct series *next = se->next;
            close_window(se);
            free(se->f);
            free(se->ts);
            free(se->key);
            free(se);
            se = next;
        }
    }
    free(s->buckets);
    free(s->marks_path);
    cg_buf_done(&s->raw);
    cg_buf_done(&s->key);
    cg_buf_done(&s->scratch);
    free(s->name);
    free(s->value);
    EVP_MD_free(s->sha256);
    free(s);
}

/* ---- one line ----------------------------------------------------------- */

static const char *unesc(struct cg_lp_span sp, char *to)
{
    cg_lp_unescape(sp, false, to, NAME_MAX_LEN + 1);
    return to;
}

/* Appends v escaped as a tag value (, = space). */
static int put_tag_value(struct cg_buf *b, const char *v, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (v[i] == ',' || v[i] == '=' || v[i] == ' ') {
            rc = cg_buf_putc(b, '\\');
        }
        if (rc == 0) {
            rc = cg_buf_putc(b, v[i]);
        }
    }
    return rc;
}

static int put_hash(struct cg_share *s, struct cg_buf *b, const char *v)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const char *k = s->c->hash_key;
    if (HMAC(s->sha256, k, (int)strlen(k), (const unsigned char *)v, strlen(v), md, &mdlen) == NULL) {
        return -EIO;
    }
    static const char hex[] = "0123456789abcdef";
    char out[2 * EVP_MAX_MD_SIZE];
    for (unsigned i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    size_t n = (size_t)s->c->hash_hex_chars;
    return cg_buf_append(b, out, n < 2 * mdlen ? n : 2 * mdlen);
}

/* Number of bytes of the first `chars` UTF-8 characters of v. */
static size_t utf8_prefix(const char *v, int64_t chars)
{
    size_t i = 0;
    while (v[i] != '\0' && chars > 0) {
        i++;
        while (((unsigned char)v[i] & 0xC0) == 0x80) {
            i++;
        }
        chars--;
    }
    return i;
}

/* Appends ",key=value" for tag t after privacy, or nothing when the rules
 * drop it. 0 or a buffer error. */
/* The key a tag is written under for this output (rename_tags), or NULL. */
static const char *renamed(const struct cg_share_conf *c, const char *key)
{
    for (size_t i = 0; i < c->n_rename; i++) {
        if (strcmp(c->rename_from[i], key) == 0) {
            return c->rename_to[i];
        }
    }
    return NULL;
}

static int put_tag(struct cg_share *s, struct cg_buf *b, const struct cg_lp_tag *t, const char *key)
{
    const struct cg_share_conf *c = s->c;
    const struct coarsen *k = NULL;
    for (size_t i = 0; i < c->n_coarsen; i++) {
        if (strcmp(c->coarsen[i].tag, key) == 0) {
            k = &c->coarsen[i];
        }
    }
    bool hash = matches(&c->hash_tags, key);
    const char *v = NULL;
    size_t vn = 0;
    if (k != NULL) {
        v = unesc(t->val, s->value);
        if (k->keep_chars > 0) {
            vn = utf8_prefix(v, k->keep_chars);
            while (vn > 0 && v[vn - 1] == '\\') {
                vn--; /* a trailing backslash would escape the delimiter after it */
            }
            if (vn == 0) {
                return 0;
            }
        } else {
            const char *to = k->other;
            for (size_t m = 0; m < k->n_map; m++) {
                if (strcmp(k->from[m], v) == 0) {
                    to = k->to[m];
                }
            }
            if (to == NULL) {
                return 0; /* not in the agreed map: the raw value must not leave */
            }
            v = to;
            vn = strlen(to);
        }
    }
    int rc = cg_buf_putc(b, ',');
    const char *nk = renamed(c, key);
    if (rc == 0) {
        rc = nk ? put_tag_value(b, nk, strlen(nk)) : cg_buf_append(b, t->key.p, t->key.n);
    }
    if (rc == 0) {
        rc = cg_buf_putc(b, '=');
    }
    if (rc == 0) {
        if (hash) {
            rc = put_hash(s, b, unesc(t->val, s->value));
        } else if (k != NULL) {
            rc = put_tag_value(b, v, vn);
        } else {
            rc = cg_buf_append(b, t->val.p, t->val.n);
        }
    }
    return rc;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int emit_window(struct cg_share *s, struct series *se, struct cg_buf *out, size_t *out_lines)
{
    size_t before = out->len;
    int rc = cg_buf_append(out, se->key, strlen(se->key));
    for (size_t i = 0; i < se->nf && rc == 0; i++) {
        const struct agg_field *f = &se->f[i];
        char mean[32], mn[32], mx[32];
        cg_lp_format_double(mean, f->sum / (double)f->count);
        cg_lp_format_double(mn, f->min);
        cg_lp_format_double(mx, f->max);
        rc = cg_buf_printf(out, "%c%s_mean=%s,%s_min=%s,%s_max=%s,%s_count=%" PRIu64 "i", i ? ',' : ' ', f->key,
                           mean, f->key, mn, f->key, mx, f->key, f->count);
    }
    if (rc == 0) {
        rc = cg_buf_printf(out, " %" PRId64 "\n", se->start);
    }
    if (rc < 0) {
        cg_buf_truncate(out, before);
        return rc;
    }
    (*out_lines)++;
    se->mark = se->start;
    s->marks_dirty = true;
    atomic_fetch_add(&s->windows, 1);
    close_window(se);
    return 0;
}

/* Records ts in the open window; false when it is already there (the same
 * reading again: a redelivered MQTT message, a source's repeat). The
 * database keeps one point per series and timestamp, so the window does too. */
static bool first_time(struct series *se, int64_t ts)
{
    size_t lo = 0, hi = se->nts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (se->ts[mid] < ts) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < se->nts && se->ts[lo] == ts) {
        return false;
    }
    if (cg_array_grow((void **)&se->ts, &se->capts, se->nts + 1, sizeof(*se->ts), WINDOW_TS_MAX) < 0) {
        return true; /* past the limit: counted, not checked */
    }
    memmove(se->ts + lo + 1, se->ts + lo, (se->nts - lo) * sizeof(*se->ts));
    se->ts[lo] = ts;
    se->nts++;
    return true;
}

static int add_to_window(struct cg_share *s, const struct cg_lp_line *l, const bool *keep_field, int64_t ts,
                         struct cg_buf *out, size_t *out_lines)
{
    int64_t w = s->c->agg.window_s * 1000000000LL;
    int64_t start = floor_div(ts, w) * w;
    struct series *se = find_series(s, s->key.data, s->key.len, true);
    if (se == NULL) {
        atomic_fetch_add(&s->no_series, 1);
        return 0;
    }
    if (start <= se->mark || (se->open && start < se->start)) {
        atomic_fetch_add(&s->late, 1);
        return 0;
    }
    if (se->open && start > se->start) {
        int rc = emit_window(s, se, out, out_lines);
        if (rc < 0) {
            return rc;
        }
    }
    if (!se->open) {
        se->open = true;
        se->start = start;
        se->first_seq = s->seq_read;
    }
    if (!first_time(se, ts)) {
        atomic_fetch_add(&s->duplicate, 1);
        return 0;
    }
    se->last_ms = cg_time_mono_ms();
    for (size_t i = 0; i < l->n_fields; i++) {
        const struct cg_lp_field *lf = &l->fields[i];
        if (!keep_field[i] || lf->kind == CG_LP_STRING || lf->kind == CG_LP_BOOL) {
            continue; /* only numbers have a mean */
        }
        struct agg_field *f = NULL;
        for (size_t k = 0; k < se->nf; k++) {
            if (strlen(se->f[k].key) == lf->key.n && memcmp(se->f[k].key, lf->key.p, lf->key.n) == 0) {
                f = &se->f[k];
            }
        }
        if (f == NULL) {
            if (cg_array_grow((void **)&se->f, &se->capf, se->nf + 1, sizeof(*se->f), CG_POINT_MAX_FIELDS) < 0) {
                return -ENOMEM;
            }
            f = &se->f[se->nf];
            if ((f->key = strndup(lf->key.p, lf->key.n)) == NULL) {
                return -ENOMEM;
            }
            se->nf++;
            f->sum = 0;
            f->count = 0;
            f->min = f->max = lf->num;
        }
        f->sum += lf->num;
        f->count++;
        f->min = lf->num < f->min ? lf->num : f->min;
        f->max = lf->num > f->max ? lf->num : f->max;
    }
    return 0;
}

/* Applies the agreement to one raw line (s->seq_read is its number). */
/* The selected tags of l onto s->key, in the order of the keys they are
 * written under (a renamed tag may move: the encoder sorts by key, and so
 * does this, so a series keeps one key whatever order it came in). */
static int put_tags(struct cg_share *s, const struct cg_lp_line *l)
{
    const struct cg_share_conf *c = s->c;
    if (c->n_rename == 0) { /* written in the line's own (sorted) order */
        int rc = 0;
        for (size_t i = 0; i < l->n_tags && rc == 0; i++) {
            const char *key = unesc(l->tags[i].key, s->name);
            if (selected(&c->tags, key)) {
                rc = put_tag(s, &s->key, &l->tags[i], key);
            }
        }
        return rc;
    }
    /* each tag as "out key\0,key=value" in scratch, then sorted by out key */
    size_t off[CG_POINT_MAX_TAGS], seg[CG_POINT_MAX_TAGS], end[CG_POINT_MAX_TAGS], n = 0;
    int rc = 0;
    cg_buf_reset(&s->scratch);
    for (size_t i = 0; i < l->n_tags && rc == 0; i++) {
        const char *key = unesc(l->tags[i].key, s->name);
        if (!selected(&c->tags, key)) {
            continue;
        }
        const char *out = renamed(c, key);
        off[n] = s->scratch.len;
        rc = cg_buf_append(&s->scratch, out ? out : key, strlen(out ? out : key) + 1);
        seg[n] = s->scratch.len;
        size_t before = s->scratch.len;
        if (rc == 0 && (rc = put_tag(s, &s->scratch, &l->tags[i], key)) == 0 && s->scratch.len > before) {
            end[n++] = s->scratch.len; /* put_tag writes nothing for a tag its coarsening drops */
        }
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort: tag sets are small */
        for (size_t j = i; j > 0 && strcmp(s->scratch.data + off[j - 1], s->scratch.data + off[j]) > 0; j--) {
            size_t to = off[j], ts = seg[j], te = end[j];
            off[j] = off[j - 1], seg[j] = seg[j - 1], end[j] = end[j - 1];
            off[j - 1] = to, seg[j - 1] = ts, end[j - 1] = te;
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = cg_buf_append(&s->key, s->scratch.data + seg[i], end[i] - seg[i]);
    }
    return rc;
}

static int transform(struct cg_share *s, const char *p, size_t len, struct cg_buf *out, size_t *out_lines,
                     bool aggregate)
{
    const struct cg_share_conf *c = s->c;
    struct cg_lp_line *l = &s->line;
    if (cg_lp_parse(p, len, l) < 0 || (aggregate && !l->has_ts)) {
        atomic_fetch_add(&s->refused, 1);
        return 0;
    }
    if (!selected(&c->measurements, unesc(l->measurement, s->name))) {
        goto filtered;
    }
    if (c->quality.include.n > 0 || c->quality.exclude.n > 0) {
        const char *q = "";
        for (size_t i = 0; i < l->n_tags; i++) {
            if (strcmp(unesc(l->tags[i].key, s->name), c->quality_tag) == 0) {
                q = unesc(l->tags[i].val, s->value);
            }
        }
        if (!selected(&c->quality, q)) {
            goto filtered;
        }
    }
    bool keep_field[CG_POINT_MAX_FIELDS];
    size_t kept = 0;
    for (size_t i = 0; i < l->n_fields; i++) {
        const struct cg_lp_field *f = &l->fields[i];
        keep_field[i] = selected(&c->fields, unesc(f->key, s->name)) &&
                        (!aggregate || f->kind == CG_LP_FLOAT || f->kind == CG_LP_INT || f->kind == CG_LP_UINT);
        kept += keep_field[i];
    }
    if (kept == 0) {
        goto filtered;
    }
    cg_buf_reset(&s->key);
    int rc = cg_buf_append(&s->key, l->measurement.p, l->measurement.n);
    if (rc == 0) {
        rc = put_tags(s, l);
    }
    if (rc < 0) {
        return rc;
    }
    if (aggregate) {
        return add_to_window(s, l, keep_field, l->ts, out, out_lines);
    }
    size_t before = out->len;
    rc = cg_buf_append(out, s->key.data, s->key.len);
    size_t n = 0;
    for (size_t i = 0; i < l->n_fields && rc == 0; i++) {
        if (keep_field[i]) {
            const struct cg_lp_field *f = &l->fields[i];
            rc = cg_buf_putc(out, n++ ? ',' : ' ');
            if (rc == 0) {
                rc = cg_buf_append(out, f->key.p, (size_t)(f->val.p + f->val.n - f->key.p));
            }
        }
    }
    if (rc == 0 && l->has_ts) {
        rc = cg_buf_printf(out, " %" PRId64, l->ts);
    }
    if (rc == 0) {
        rc = cg_buf_putc(out, '\n');
    }
    if (rc < 0) {
        cg_buf_truncate(out, before);
        return rc;
    }
    (*out_lines)++;
    return 0;
filtered:
    atomic_fetch_add(&s->filtered, 1);
    return 0;
}

long cg_share_events(struct cg_share *s, const char *in, size_t len, struct cg_buf *out)
{
    size_t lines = 0;
    cg_buf_reset(out);
    for (const char *p = in, *end = in + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && transform(s, p, n, out, &lines, false) < 0) {
            return -ENOMEM;
        }
        p += n + 1;
    }
    return (long)lines;
}

long cg_share_fill(struct cg_share *s, struct cg_journal *j, unsigned reader, struct cg_buf *batch,
                   size_t *batch_lines, size_t max_lines, size_t max_bytes)
{
    cg_buf_reset(&s->raw);
    long n = cg_journal_read(j, reader, &s->raw, max_lines, max_bytes);
    if (n <= 0) {
        return n;
    }
    const char *p = s->raw.data, *end = s->raw.data + s->raw.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (transform(s, p, len, batch, batch_lines, s->c->aggregate) < 0) {
            /* out of memory or the batch cap: not sent to this output, counted */
            atomic_fetch_add(&s->refused, 1);
        }
        s->seq_read++;
        p = nl ? nl + 1 : end;
    }
    /* a series that stopped must get its last window out (and release the
     * journal) even while other series keep the output busy */
    int64_t now = cg_time_mono_ms();
    if (s->c->aggregate && now - s->busy_scan_ms >= 1000) {
        s->busy_scan_ms = now;
        cg_share_tick(s, batch, batch_lines);
    }
    return n;
}

size_t cg_share_tick(struct cg_share *s, struct cg_buf *batch, size_t *batch_lines)
{
    if (!s->c->aggregate) {
        return 0;
    }
    size_t before = *batch_lines;
    int64_t now_ms = cg_time_mono_ms();
    int64_t wall_ns = cg_time_now_ns();
    int64_t grace_ms = s->c->agg.window_grace_s * 1000;
    int64_t w = s->c->agg.window_s * 1000000000LL;
    for (size_t b = 0; b < s->nbuckets; b++) {
        for (struct series *se = s->buckets[b]; se; se = se->next) {
            if (se->open && now_ms - se->last_ms >= grace_ms &&
                wall_ns >= se->start + w + grace_ms * 1000000LL) {
                (void)emit_window(s, se, batch, batch_lines);
            }
        }
    }
    return *batch_lines - before;
}

/* Moves the read position forward by n lines (reading into scratch). */
static void skip_lines(struct cg_share *s, struct cg_journal *j, unsigned reader, uint64_t n)
{
    while (n > 0) {
        cg_buf_reset(&s->scratch);
        long r = cg_journal_read(j, reader, &s->scratch, n < REREAD_CHUNK ? (size_t)n : REREAD_CHUNK, SIZE_MAX);
        if (r <= 0) {
            break;
        }
        n -= (uint64_t)r;
    }
}

int cg_share_commit(struct cg_share *s, struct cg_journal *j, unsigned reader)
{
    if (!s->c->aggregate) {
        cg_journal_commit(j, reader);
        s->seq_committed = s->seq_read;
        return 0;
    }
    if (s->marks_dirty) {
        int rc = save_marks(s);
        if (rc < 0) {
            return rc; /* the windows go again after a restart: whole, never partial */
        }
    }
    uint64_t upto = s->seq_read;
    for (size_t b = 0; b < s->nbuckets; b++) {
        for (struct series *se = s->buckets[b]; se; se = se->next) {
            if (se->open && se->first_seq < upto) {
                upto = se->first_seq;
            }
        }
    }
    if (upto <= s->seq_committed) {
        return 0;
    }
    if (upto == s->seq_read) {
        cg_journal_commit(j, reader);
    } else {
        /* the journal commits what was read: read again up to the first
         * line still needed, commit, then read back to where we were */
        cg_journal_rewind(j, reader);
        skip_lines(s, j, reader, upto - s->seq_committed);
        cg_journal_commit(j, reader);
        skip_lines(s, j, reader, s->seq_read - upto);
    }
    s->seq_committed = upto;
    return 0;
}

void cg_share_rewound(struct cg_share *s)
{
    s->seq_read = s->seq_committed;
    for (size_t b = 0; b < s->nbuckets; b++) {
        for (struct series *se = s->buckets[b]; se; se = se->next) {
            close_window(se);
            se->mark = se->cmark;
        }
    }
    s->marks_dirty = false;
}

void cg_share_get_stats(struct cg_share *s, struct cg_share_stats *st)
{
    st->lines_filtered = atomic_load(&s->filtered);
    st->lines_refused = atomic_load(&s->refused);
    st->lines_late = atomic_load(&s->late);
    st->lines_no_series = atomic_load(&s->no_series);
    st->windows_sent = atomic_load(&s->windows);
    st->lines_duplicate = atomic_load(&s->duplicate);
}

bool cg_share_news(struct cg_share *s, char *out, size_t n)
{
    struct cg_share_stats st;
    cg_share_get_stats(s, &st);
    uint64_t r = st.lines_refused - s->told_refused, l = st.lines_late - s->told_late;
    uint64_t m = st.lines_no_series - s->told_no_series;
    if (r == 0 && l == 0 && m == 0) {
        return false;
    }
    snprintf(out, n,
             "agreement did not send %" PRIu64 " unreadable lines, %" PRIu64
             " lines for windows already sent (replayed after a restart, or later than window_grace_s), %" PRIu64
             " lines of series past aggregate.max_series %" PRId64,
             r, l, m, s->c->aggregate ? s->c->agg.max_series : 0);
    s->told_refused = st.lines_refused;
    s->told_late = st.lines_late;
    s->told_no_series = st.lines_no_series;
    return true;
}
