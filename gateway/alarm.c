/* citygate — alarm rules and the emergency lane (see alarm.h, docs/alarms.md). */
#include "alarm.h"

#include "buf.h"
#include "lineproto.h"

#include <citygate/log.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LANE_MAX_BYTES (16u * 1024 * 1024)
#define LANE_SEGMENT_BYTES (1u * 1024 * 1024)
#define LANE_APPEND_TIMEOUT_MS 2000
#define SERIES_TAGS_MAX 480 /* a series' tags, "k\0v\0" pairs, as the event carries them */
#define STATE_LINE_MAX 4096
#define MAX_SERIES_LIMIT 100000

enum kind { K_THRESHOLD = 0, K_RATE, K_STALE, K_ALL, K_ANY };
static const char *const kind_names[] = {"threshold", "rate_of_rise", "stale", "all", "any", NULL};

struct rule {
    char *name;
    int kind;
    char *measurement;
    char *field;
    char *message;
    char *group_by;
    double raise_above, clear_below;
    int64_t for_s;
    double rise, clear_rise;
    int64_t window_s;
    int64_t stale_s;
    int64_t max_series;
    char *where_k[CG_ALARM_MAX_WHERE], *where_v[CG_ALARM_MAX_WHERE];
    size_t n_where;
    int of[CG_ALARM_MAX_OF];
    size_t n_of;
};

struct cg_alarm_conf {
    struct rule r[CG_ALARM_MAX_RULES];
    size_t n;
};

#define R(m) offsetof(struct rule, m)
const struct cg_opt cg_alarm_options[] = {
    {.name = "name", .type = CG_OPT_STRING, .offset = R(name), .flags = CG_OPT_REQUIRED,
     .doc = "alarm name (A-Z a-z 0-9 _ . -, up to 64), unique; the event's `alarm` tag"},
    {.name = "kind", .type = CG_OPT_ENUM, .offset = R(kind), .choices = kind_names, .flags = CG_OPT_REQUIRED,
     .doc = "`threshold` (with hysteresis), `rate_of_rise`, `stale` (no reading for stale_s), `all` / `any` "
            "(a combination of other alarms per group_by tag value)"},
    {.name = "measurement", .type = CG_OPT_STRING, .offset = R(measurement),
     .doc = "the normalised measurement watched (required except for all/any)"},
    {.name = "field", .type = CG_OPT_STRING, .offset = R(field),
     .doc = "the numeric field watched (required except for all/any)"},
    {.name = "where", .type = CG_OPT_OTHER,
     .doc = "only series with these tag values (object of strings, up to 8), e.g. {\"site\": \"bridge-3\"}"},
    {.name = "raise_above", .type = CG_OPT_DOUBLE, .offset = R(raise_above), .min = -1e300, .max = 1e300,
     .doc = "threshold: raised when a reading is above this (required for threshold)"},
    {.name = "clear_below", .type = CG_OPT_DOUBLE, .offset = R(clear_below), .min = -1e300, .max = 1e300,
     .doc = "threshold: cleared when a reading is below this (default raise_above; at most raise_above)"},
    {.name = "for_s", .type = CG_OPT_INT, .offset = R(for_s), .def = "0", .min = 0, .max = 604800,
     .doc = "threshold: the readings stay above raise_above this long (by their timestamps) before it is raised"},
    {.name = "rise", .type = CG_OPT_DOUBLE, .offset = R(rise), .min = 0, .max = 1e300,
     .doc = "rate_of_rise: raised when a reading is at least this much above the earliest reading of the last "
            "window_s seconds (required for rate_of_rise, > 0)"},
    {.name = "window_s", .type = CG_OPT_INT, .offset = R(window_s), .def = "600", .min = 1, .max = 604800,
     .doc = "rate_of_rise: the window, by the readings' timestamps"},
    {.name = "clear_rise", .type = CG_OPT_DOUBLE, .offset = R(clear_rise), .min = -1e300, .max = 1e300,
     .doc = "rate_of_rise: cleared when the rise over the window is below this (default rise / 2)"},
    {.name = "stale_s", .type = CG_OPT_INT, .offset = R(stale_s), .def = "300", .min = 1, .max = 604800,
     .doc = "stale: raised after this many seconds without a reading of the series; cleared by the next one"},
    {.name = "of", .type = CG_OPT_OTHER,
     .doc = "all/any: names of other (non-combination) alarms, up to 8 (array of strings)"},
    {.name = "group_by", .type = CG_OPT_STRING, .offset = R(group_by), .def = "site",
     .doc = "all/any: the tag whose value groups the member alarms' series (a site, a district)"},
    {.name = "message", .type = CG_OPT_STRING, .offset = R(message),
     .doc = "text of the event's `message` field (default: says what crossed what)"},
    {.name = "max_series", .type = CG_OPT_INT, .offset = R(max_series), .def = "4096", .min = 1,
     .max = MAX_SERIES_LIMIT,
     .doc = "series followed by all alarms together (the largest value among the alarms counts); readings of "
            "further series are not evaluated and are counted"},
    CG_OPT_END,
};

static bool name_ok(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.')) {
            return false;
        }
    }
    return n > 0 && n <= 64;
}

static void rule_free(struct rule *r)
{
    cg_opt_free(cg_alarm_options, r);
    for (size_t i = 0; i < r->n_where; i++) {
        free(r->where_k[i]);
        free(r->where_v[i]);
    }
}

void cg_alarm_conf_free(struct cg_alarm_conf *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        rule_free(&c->r[i]);
    }
    free(c);
}

size_t cg_alarm_conf_count(const struct cg_alarm_conf *c)
{
    return c ? c->n : 0;
}

static void parse_where(struct rule *r, const cJSON *w, const char *path, struct cg_errs *errs)
{
    char p[300];
    cg_path_key(p, sizeof(p), path, "where");
    if (w == NULL) {
        return;
    }
    if (!cJSON_IsObject(w) || cg_json_check_object(w, p, errs) < 0) {
        if (!cJSON_IsObject(w)) {
            cg_errs_add(errs, p, "must be an object of tag values");
        }
        return;
    }
    for (const cJSON *it = w->child; it; it = it->next) {
        char q[400];
        cg_path_key(q, sizeof(q), p, it->string);
        if (!cJSON_IsString(it)) {
            cg_errs_add(errs, q, "must be a string");
            continue;
        }
        if (r->n_where >= CG_ALARM_MAX_WHERE) {
            cg_errs_add(errs, p, "at most %d tags", CG_ALARM_MAX_WHERE);
            return;
        }
        r->where_k[r->n_where] = strdup(it->string);
        r->where_v[r->n_where] = strdup(it->valuestring);
        r->n_where++;
        if (r->where_k[r->n_where - 1] == NULL || r->where_v[r->n_where - 1] == NULL) {
            cg_errs_add(errs, p, "out of memory");
            return;
        }
    }
}

static void parse_of(struct cg_alarm_conf *c, struct rule *r, const cJSON *of, const cJSON *arr, const char *path,
                     struct cg_errs *errs)
{
    char p[300];
    cg_path_key(p, sizeof(p), path, "of");
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) < 1 || cJSON_GetArraySize(of) > CG_ALARM_MAX_OF) {
        cg_errs_add(errs, p, "must be an array of 1 to %d alarm names", CG_ALARM_MAX_OF);
        return;
    }
    size_t i = 0;
    for (const cJSON *it = of->child; it; it = it->next, i++) {
        char q[320];
        cg_path_idx(q, sizeof(q), p, i);
        int found = -1;
        size_t k = 0;
        /* names are matched against the whole array, before or after this alarm */
        for (const cJSON *o = arr->child; o && cJSON_IsString(it); o = o->next, k++) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
            if (cJSON_IsString(n) && strcmp(n->valuestring, it->valuestring) == 0) {
                found = (int)k;
            }
        }
        if (found < 0) {
            cg_errs_add(errs, q, "'%s' is not the name of an alarm", cJSON_IsString(it) ? it->valuestring : "?");
            continue;
        }
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, found), "kind");
        if (cJSON_IsString(kind) && (strcmp(kind->valuestring, "all") == 0 || strcmp(kind->valuestring, "any") == 0)) {
            cg_errs_add(errs, q, "'%s' is itself a combination; name the alarms it combines", it->valuestring);
            continue;
        }
        r->of[r->n_of++] = found;
    }
    (void)c;
}

int cg_alarm_conf_parse(const cJSON *arr, const char *path, struct cg_alarm_conf **out, struct cg_errs *errs)
{
    size_t before = cg_errs_count(errs);
    struct cg_alarm_conf *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    if (arr != NULL && !cJSON_IsArray(arr)) {
        cg_errs_add(errs, path, "must be an array of alarm rules");
    } else if (cJSON_GetArraySize(arr) > CG_ALARM_MAX_RULES) {
        cg_errs_add(errs, path, "at most %d alarms", CG_ALARM_MAX_RULES);
    } else {
        size_t i = 0;
        for (const cJSON *o = arr ? arr->child : NULL; o; o = o->next, i++) {
            char p[64], q[128];
            cg_path_idx(p, sizeof(p), path, i);
            struct rule *r = &c->r[c->n++];
            if (!cJSON_IsObject(o)) {
                cg_errs_add(errs, p, "must be an object");
                continue;
            }
            if (cg_opt_parse(cg_alarm_options, o, p, r, errs) < 0) {
                continue;
            }
            cg_path_key(q, sizeof(q), p, "name");
            if (!name_ok(r->name)) {
                cg_errs_add(errs, q, "'%s': use 1 to 64 of A-Z a-z 0-9 _ . -", r->name);
            }
            for (size_t k = 0; k + 1 < c->n; k++) {
                if (c->r[k].name && strcmp(c->r[k].name, r->name) == 0) {
                    cg_errs_add(errs, q, "'%s' is already the name of %s[%zu]", r->name, path, k);
                }
            }
            bool combo = r->kind == K_ALL || r->kind == K_ANY;
            if (!combo && (r->measurement == NULL || r->field == NULL)) {
                cg_errs_add(errs, p, "a %s alarm needs \"measurement\" and \"field\"", kind_names[r->kind]);
            }
            parse_where(r, cJSON_GetObjectItemCaseSensitive(o, "where"), p, errs);
            bool has_clear = cJSON_GetObjectItemCaseSensitive(o, "clear_below") != NULL;
            if (r->kind == K_THRESHOLD) {
                if (cJSON_GetObjectItemCaseSensitive(o, "raise_above") == NULL) {
                    cg_errs_add(errs, p, "a threshold alarm needs \"raise_above\"");
                } else if (!has_clear) {
                    r->clear_below = r->raise_above;
                } else if (r->clear_below > r->raise_above) {
                    cg_path_key(q, sizeof(q), p, "clear_below");
                    cg_errs_add(errs, q, "%g is above raise_above (%g): the alarm would never clear", r->clear_below,
                                r->raise_above);
                }
            } else if (r->kind == K_RATE) {
                if (!(r->rise > 0)) {
                    cg_errs_add(errs, p, "a rate_of_rise alarm needs \"rise\" > 0");
                } else if (cJSON_GetObjectItemCaseSensitive(o, "clear_rise") == NULL) {
                    r->clear_rise = r->rise / 2;
                } else if (r->clear_rise > r->rise) {
                    cg_path_key(q, sizeof(q), p, "clear_rise");
                    cg_errs_add(errs, q, "%g is above rise (%g)", r->clear_rise, r->rise);
                }
            } else if (combo) {
                parse_of(c, r, cJSON_GetObjectItemCaseSensitive(o, "of"), arr, p, errs);
            }
            if (!combo && cJSON_GetObjectItemCaseSensitive(o, "of") != NULL) {
                cg_path_key(q, sizeof(q), p, "of");
                cg_errs_add(errs, q, "only for kind all / any");
            }
        }
    }
    if (cg_errs_count(errs) > before) {
        cg_alarm_conf_free(c);
        return -EINVAL;
    }
    *out = c;
    return 0;
}

/* ---- the engine ------------------------------------------------------------ */

struct series {
    uint64_t key;
    uint16_t rule;
    bool raised;
    int64_t since_ns;   /* raised at (event time) */
    int64_t last_ts;    /* last reading's timestamp */
    int64_t seen_ns;    /* wall clock of the last reading (stale) */
    int64_t cond_ns;    /* threshold: first reading above raise_above of this run (for_s) */
    double value;
    int64_t s_ts[CG_ALARM_SAMPLES];
    double s_v[CG_ALARM_SAMPLES];
    uint8_t s_first, s_n;
    uint16_t tags_len;
    char tags[SERIES_TAGS_MAX]; /* "k\0v\0..." */
};

struct cg_alarms {
    struct cg_alarm_conf *conf; /* owned */
    pthread_mutex_t lock;
    struct cg_journal *lane;
    char *state_path;
    char *reader_names[CG_JOURNAL_MAX_READERS];
    unsigned n_readers;
    struct cg_tag *stags;
    struct cg_lp_opts lp;
    struct series *s;
    size_t n, max;
    uint32_t *idx; /* open addressing: series index + 1, 0 = empty */
    size_t idx_mask;
    struct cg_alarms_stats st;
    struct cg_buf line; /* scratch: one event */
};

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    }
    return (h ^ 0xff) * 1099511628211ULL;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* The series' identity survives restarts and rule reordering: the rule's name,
 * measurement, field and the tags (in any order). */
static uint64_t series_key(const struct rule *r, const char *tags, size_t tags_len)
{
    uint64_t h = 14695981039346656037ULL;
    h = fnv(h, r->name, strlen(r->name));
    if (r->measurement) {
        h = fnv(h, r->measurement, strlen(r->measurement));
        h = fnv(h, r->field, strlen(r->field));
    }
    uint64_t sum = 0;
    for (size_t o = 0; o < tags_len;) {
        size_t kl = strlen(tags + o), vl = strlen(tags + o + kl + 1);
        sum += mix(fnv(14695981039346656037ULL, tags + o, kl + 1 + vl));
        o += kl + vl + 2;
    }
    return mix(h ^ sum) | 1;
}

static struct series *lookup(struct cg_alarms *a, uint64_t key, bool create, bool *created)
{
    for (size_t i = key & a->idx_mask;; i = (i + 1) & a->idx_mask) {
        uint32_t v = a->idx[i];
        if (v == 0) {
            if (!create || a->n >= a->max) {
                return NULL;
            }
            struct series *s = &a->s[a->n];
            memset(s, 0, sizeof(*s));
            s->key = key;
            a->idx[i] = (uint32_t)++a->n;
            *created = true;
            return s;
        }
        if (a->s[v - 1].key == key) {
            return &a->s[v - 1];
        }
    }
}

static const char *series_tag(const struct series *s, const char *key)
{
    for (size_t o = 0; o < s->tags_len;) {
        const char *k = s->tags + o, *v = k + strlen(k) + 1;
        if (strcmp(k, key) == 0) {
            return v;
        }
        o += strlen(k) + strlen(v) + 2;
    }
    return NULL;
}

static size_t pack_tags(char *out, size_t outsz, const struct cg_tag *t, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].key == NULL || t[i].value == NULL || t[i].value[0] == '\0' || strcmp(t[i].key, "quality") == 0) {
            continue; /* the quality mark changes from reading to reading: not part of the series */
        }
        size_t kl = strlen(t[i].key), vl = strlen(t[i].value);
        if (len + kl + vl + 2 > outsz) {
            break; /* the event carries the tags that fit; the key still has them all */
        }
        memcpy(out + len, t[i].key, kl + 1);
        memcpy(out + len + kl + 1, t[i].value, vl + 1);
        len += kl + vl + 2;
    }
    return len;
}

/* ---- the state file: tmp -> fsync -> rename --------------------------------- */

static void hex(FILE *f, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%02x", (unsigned char)p[i]);
    }
}

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *sl = strrchr(dir, '/');
    if (sl == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        *sl = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* The raised set, plus pending (event lines not yet known to be in the lane). */
static int save_state(struct cg_alarms *a, const char *pending, size_t pending_len)
{
    char tmp[4200];
    int rc = 0;
    FILE *f = NULL;
    snprintf(tmp, sizeof(tmp), "%s.tmp", a->state_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        rc = -errno;
        goto fail;
    }
    fprintf(f, "CGA1\n");
    for (size_t i = 0; i < a->n; i++) {
        const struct series *s = &a->s[i];
        if (s->raised) {
            fprintf(f, "R %016" PRIx64 " %s %" PRId64 " ", s->key, a->conf->r[s->rule].name, s->since_ns);
            hex(f, s->tags, s->tags_len);
            fputc('\n', f);
        }
    }
    for (size_t o = 0; o < pending_len;) {
        const char *nl = memchr(pending + o, '\n', pending_len - o);
        size_t l = nl ? (size_t)(nl - pending - o) : pending_len - o;
        fprintf(f, "P %.*s\n", (int)l, pending + o);
        o += l + 1;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
        rc = -errno;
        goto fail;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = -errno;
        goto fail;
    }
    f = NULL;
    if (rename(tmp, a->state_path) < 0) {
        rc = -errno;
        goto fail;
    }
    return fsync_dir_of(a->state_path);
fail:
    if (f) {
        fclose(f);
    } else if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return rc < 0 ? rc : -EIO;
}

static int unhex(const char *p, char *out, size_t outsz)
{
    size_t n = 0;
    for (; p[0] && p[1] && p[0] != '\n'; p += 2) {
        unsigned v;
        if (n >= outsz || sscanf(p, "%2x", &v) != 1) {
            return -1;
        }
        out[n++] = (char)v;
    }
    return (int)n;
}

/* Reads the raised set back; returns the pending lines in *pending (caller frees). */
static int load_state(struct cg_alarms *a, struct cg_buf *pending)
{
    FILE *f = fopen(a->state_path, "re");
    if (f == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    char line[STATE_LINE_MAX];
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == 'P' && line[1] == ' ') {
            cg_buf_append(pending, line + 2, strlen(line + 2));
            continue;
        }
        uint64_t key;
        char name[80];
        int64_t since;
        int off = 0;
        if (line[0] != 'R' || sscanf(line, "R %" SCNx64 " %79s %" SCNd64 " %n", &key, name, &since, &off) < 3) {
            continue;
        }
        size_t r = 0;
        while (r < a->conf->n && strcmp(a->conf->r[r].name, name) != 0) {
            r++;
        }
        if (r == a->conf->n) {
            continue; /* the alarm is no longer configured */
        }
        bool created = false;
        struct series *s = lookup(a, key, true, &created);
        if (s == NULL) {
            continue;
        }
        s->rule = (uint16_t)r;
        s->raised = true;
        s->since_ns = since;
        int tl = unhex(line + off, s->tags, sizeof(s->tags));
        s->tags_len = tl > 0 ? (uint16_t)tl : 0;
        a->st.active++;
    }
    fclose(f);
    return 0;
}

/* ---- events ---------------------------------------------------------------- */

static int encode_event(struct cg_alarms *a, const struct rule *r, const struct series *s, const char *series_name,
                        bool raised, int64_t ts, double value, double threshold, const double *rise)
{
    struct cg_tag tags[CG_POINT_MAX_TAGS];
    size_t nt = 0;
    tags[nt++] = (struct cg_tag){"alarm", r->name};
    tags[nt++] = (struct cg_tag){"state", raised ? "raised" : "cleared"};
    tags[nt++] = (struct cg_tag){"series_id", series_name};
    for (size_t o = 0; o < s->tags_len && nt < CG_POINT_MAX_TAGS;) {
        const char *k = s->tags + o, *v = k + strlen(k) + 1;
        if (strcmp(k, "alarm") != 0 && strcmp(k, "state") != 0 && strcmp(k, "series_id") != 0) {
            tags[nt++] = (struct cg_tag){k, v};
        }
        o += strlen(k) + strlen(v) + 2;
    }
    char msg[512];
    if (r->message) {
        snprintf(msg, sizeof(msg), "%s", r->message);
    } else if (r->kind == K_THRESHOLD) {
        snprintf(msg, sizeof(msg), raised ? "%s above %g" : "%s below %g", series_name, threshold);
    } else if (r->kind == K_RATE) {
        snprintf(msg, sizeof(msg), raised ? "%s rose %g or more in %" PRId64 " s" : "%s rise under %g in %" PRId64 " s",
                 series_name, threshold, r->window_s);
    } else if (r->kind == K_STALE) {
        snprintf(msg, sizeof(msg), raised ? "%s: no reading for %" PRId64 " s" : "%s: readings again", series_name,
                 r->stale_s);
    } else {
        snprintf(msg, sizeof(msg), "%s of %zu alarms at %s", r->kind == K_ALL ? "all" : "any", r->n_of, series_name);
    }
    struct cg_field f[4];
    size_t nf = 0;
    f[nf++] = CG_FIELD_F("value", value);
    f[nf++] = CG_FIELD_F("threshold", threshold);
    f[nf++] = CG_FIELD_S("message", msg);
    if (rise) {
        f[nf++] = CG_FIELD_F("rise", *rise);
    }
    struct cg_point p = {.measurement = CG_ALARM_MEASUREMENT, .tags = tags, .n_tags = nt, .fields = f,
                         .n_fields = nf, .time_ns = ts};
    struct cg_lp_counters cnt = {0};
    const char *why = NULL;
    return cg_lp_encode(&a->line, &p, &a->lp, &cnt, &why);
}

static void combos_after(struct cg_alarms *a, size_t member, const struct series *s, int64_t ts);

/* A transition: pending in the state file, appended to the lane (fsync), then
 * the state file without it. A crash in between re-appends the same line at
 * the next start: same series and timestamp, so the database keeps one point. */
static void transition(struct cg_alarms *a, struct series *s, const char *series_name, bool raised, int64_t ts,
                       double value, double threshold, const double *rise)
{
    const struct rule *r = &a->conf->r[s->rule];
    cg_buf_reset(&a->line);
    if (encode_event(a, r, s, series_name, raised, ts, value, threshold, rise) < 0) {
        a->st.lane_errors++;
        return;
    }
    s->raised = raised;
    s->since_ns = raised ? ts : 0;
    int e = save_state(a, a->line.data, a->line.len);
    if (e == 0) {
        e = cg_journal_append(a->lane, a->line.data, a->line.len, 1, LANE_APPEND_TIMEOUT_MS);
    }
    if (e == 0) {
        e = save_state(a, NULL, 0);
    }
    if (e < 0) {
        a->st.lane_errors++;
        cg_log(CG_LOG_ERROR, "alarm", "%s %s: cannot store the event (%s); it may be lost: %.*s", r->name,
               raised ? "raised" : "cleared", strerror(-e), (int)a->line.len - 1, a->line.data);
    } else {
        cg_log(raised ? CG_LOG_WARN : CG_LOG_INFO, "alarm", "%s %s: %.*s", r->name, raised ? "raised" : "cleared",
               (int)a->line.len - 1, a->line.data);
    }
    if (raised) {
        a->st.raised++;
        a->st.active++;
    } else {
        a->st.cleared++;
        a->st.active--;
    }
    if (r->kind != K_ALL && r->kind != K_ANY) {
        combos_after(a, s->rule, s, ts);
    }
}

/* Re-evaluates the combinations that name rule `member` for the group of s. */
static void combos_after(struct cg_alarms *a, size_t member, const struct series *s, int64_t ts)
{
    for (size_t c = 0; c < a->conf->n; c++) {
        const struct rule *cr = &a->conf->r[c];
        bool in = false;
        for (size_t k = 0; k < cr->n_of; k++) {
            in = in || (size_t)cr->of[k] == member;
        }
        const char *gv = in ? series_tag(s, cr->group_by) : NULL;
        if (gv == NULL) {
            continue;
        }
        size_t up = 0;
        for (size_t k = 0; k < cr->n_of; k++) {
            bool any = false;
            for (size_t i = 0; i < a->n && !any; i++) {
                const struct series *o = &a->s[i];
                const char *ov = o->raised && o->rule == cr->of[k] ? series_tag(o, cr->group_by) : NULL;
                any = ov != NULL && strcmp(ov, gv) == 0;
            }
            up += any;
        }
        bool want = cr->kind == K_ALL ? up == cr->n_of : up > 0;
        char tags[SERIES_TAGS_MAX];
        struct cg_tag t = {cr->group_by, gv};
        size_t tl = pack_tags(tags, sizeof(tags), &t, 1);
        bool created = false;
        struct series *cs = lookup(a, series_key(cr, tags, tl), want, &created);
        if (cs == NULL) {
            if (want) {
                a->st.series_refused++;
            }
            continue;
        }
        if (created) {
            cs->rule = (uint16_t)c;
            memcpy(cs->tags, tags, tl);
            cs->tags_len = (uint16_t)tl;
            a->st.series++;
        }
        if (cs->raised != want) {
            char name[300];
            snprintf(name, sizeof(name), "%s=%s", cr->group_by, gv);
            transition(a, cs, name, want, ts, (double)up, cr->kind == K_ALL ? (double)cr->n_of : 1.0, NULL);
        }
    }
}

static bool numeric(const struct cg_field *f, double *v)
{
    switch (f->type) {
    case CG_FIELD_FLOAT: *v = f->v.f; return isfinite(f->v.f);
    case CG_FIELD_INT: *v = (double)f->v.i; return true;
    case CG_FIELD_UINT: *v = (double)f->v.u; return true;
    default: return false;
    }
}

static bool impossible(const struct cg_point *p)
{
    for (size_t i = 0; i < p->n_tags; i++) {
        if (p->tags[i].key && p->tags[i].value && strcmp(p->tags[i].key, "quality") == 0 &&
            strcmp(p->tags[i].value, "impossible") == 0) {
            return true;
        }
    }
    return false;
}

static bool where_ok(const struct rule *r, const struct cg_point *p)
{
    for (size_t w = 0; w < r->n_where; w++) {
        bool hit = false;
        for (size_t i = 0; i < p->n_tags && !hit; i++) {
            hit = p->tags[i].key && p->tags[i].value && strcmp(p->tags[i].key, r->where_k[w]) == 0 &&
                  strcmp(p->tags[i].value, r->where_v[w]) == 0;
        }
        if (!hit) {
            return false;
        }
    }
    return true;
}

static void eval_rate(struct cg_alarms *a, const struct rule *r, struct series *s, const char *sn, int64_t ts,
                      double v)
{
    int64_t win = r->window_s * 1000000000LL;
    /* forget samples that left the window */
    while (s->s_n > 0 && s->s_ts[s->s_first] < ts - win) {
        s->s_first = (uint8_t)((s->s_first + 1) % CG_ALARM_SAMPLES);
        s->s_n--;
    }
    if (s->s_n > 0) {
        double rise = v - s->s_v[s->s_first];
        if (!s->raised && rise >= r->rise) {
            transition(a, s, sn, true, ts, v, r->rise, &rise);
        } else if (s->raised && rise < r->clear_rise) {
            transition(a, s, sn, false, ts, v, r->clear_rise, &rise);
        }
    }
    size_t last = (s->s_first + s->s_n + CG_ALARM_SAMPLES - 1) % CG_ALARM_SAMPLES;
    if (s->s_n == 0 || ts - s->s_ts[last] >= win / (CG_ALARM_SAMPLES - 1)) {
        if (s->s_n == CG_ALARM_SAMPLES) {
            s->s_first = (uint8_t)((s->s_first + 1) % CG_ALARM_SAMPLES);
            s->s_n--;
        }
        size_t at = (s->s_first + s->s_n) % CG_ALARM_SAMPLES;
        s->s_ts[at] = ts;
        s->s_v[at] = v;
        s->s_n++;
    }
}

void cg_alarms_observe(struct cg_alarms *a, const struct cg_point *p, int64_t now_ns)
{
    if (a == NULL || p->measurement == NULL) {
        return;
    }
    pthread_mutex_lock(&a->lock);
    for (size_t ri = 0; ri < a->conf->n; ri++) {
        const struct rule *r = &a->conf->r[ri];
        if (r->measurement == NULL || strcmp(r->measurement, p->measurement) != 0 || !where_ok(r, p)) {
            continue;
        }
        if (impossible(p)) {
            continue; /* beyond physical limits: a device fault, not an alarm (docs/alarms.md) */
        }
        double v = 0;
        bool have = false;
        for (size_t i = 0; i < p->n_fields && !have; i++) {
            have = p->fields[i].key && strcmp(p->fields[i].key, r->field) == 0 && numeric(&p->fields[i], &v);
        }
        if (!have) {
            continue;
        }
        char tags[SERIES_TAGS_MAX];
        size_t tl = pack_tags(tags, sizeof(tags), p->tags, p->n_tags);
        bool created = false;
        struct series *s = lookup(a, series_key(r, tags, tl), true, &created);
        if (s == NULL) {
            if (a->st.series_refused++ == 0) {
                cg_log(CG_LOG_WARN, "alarm", "%s: max_series (%zu) reached: readings of further series are not "
                       "evaluated; counted in citygate_alarm_series_refused_total, logged once", r->name, a->max);
            }
            continue;
        }
        if (created) {
            s->rule = (uint16_t)ri;
            a->st.series++;
        }
        if (s->tags_len == 0 && tl > 0) { /* new, or restored without them */
            memcpy(s->tags, tags, tl);
            s->tags_len = (uint16_t)tl;
        }
        int64_t ts = p->time_ns ? p->time_ns : now_ns;
        char sn[2 * CG_POINT_MAX_NAME + 2];
        snprintf(sn, sizeof(sn), "%s.%s", r->measurement, r->field);
        s->seen_ns = now_ns;
        bool newer = s->last_ts == 0 || ts > s->last_ts;
        if (r->kind == K_STALE) {
            if (s->raised) {
                transition(a, s, sn, false, ts, v, (double)r->stale_s, NULL);
            }
        } else if (r->kind == K_THRESHOLD && newer) {
            if (!s->raised && v > r->raise_above) {
                if (s->cond_ns == 0) {
                    s->cond_ns = ts;
                }
                if (ts - s->cond_ns >= r->for_s * 1000000000LL) {
                    transition(a, s, sn, true, ts, v, r->raise_above, NULL);
                }
            } else if (!s->raised) {
                s->cond_ns = 0;
            } else if (v < r->clear_below) {
                s->cond_ns = 0;
                transition(a, s, sn, false, ts, v, r->clear_below, NULL);
            }
        } else if (r->kind == K_RATE && newer) {
            eval_rate(a, r, s, sn, ts, v);
        }
        /* an older reading (out of order) is not evaluated: the window and
         * for_s go by the newest timestamp */
        if (newer) {
            s->last_ts = ts;
        }
        s->value = v;
    }
    pthread_mutex_unlock(&a->lock);
}

void cg_alarms_tick(struct cg_alarms *a, int64_t now_ns)
{
    if (a == NULL) {
        return;
    }
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n; i++) {
        struct series *s = &a->s[i];
        const struct rule *r = &a->conf->r[s->rule];
        if (r->kind != K_STALE || s->raised || s->seen_ns == 0) {
            continue;
        }
        int64_t due = s->seen_ns + r->stale_s * 1000000000LL;
        if (now_ns >= due) {
            char sn[2 * CG_POINT_MAX_NAME + 2];
            snprintf(sn, sizeof(sn), "%s.%s", r->measurement, r->field);
            /* the event time is when the silence reached stale_s, not when we looked */
            transition(a, s, sn, true, due, s->value, (double)r->stale_s, NULL);
        }
    }
    pthread_mutex_unlock(&a->lock);
    cg_journal_tick(a->lane);
}

size_t cg_alarms_active(struct cg_alarms *a, struct cg_alarm_active *out, size_t max)
{
    size_t k = 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n && k < max; i++) {
        const struct series *s = &a->s[i];
        if (!s->raised) {
            continue;
        }
        struct cg_alarm_active *o = &out[k++];
        snprintf(o->alarm, sizeof(o->alarm), "%s", a->conf->r[s->rule].name);
        size_t w = 0;
        o->series[0] = '\0';
        for (size_t t = 0; t < s->tags_len && w < sizeof(o->series);) {
            const char *key = s->tags + t, *v = key + strlen(key) + 1;
            int n = snprintf(o->series + w, sizeof(o->series) - w, "%s%s=%s", w ? "," : "", key, v);
            w += n > 0 ? (size_t)n : 0;
            t += strlen(key) + strlen(v) + 2;
        }
        o->since_ns = s->since_ns;
    }
    pthread_mutex_unlock(&a->lock);
    return k;
}

struct cg_journal *cg_alarms_lane(struct cg_alarms *a)
{
    return a ? a->lane : NULL;
}

int cg_alarms_lane_reader(const struct cg_alarms *a, const char *output_name)
{
    for (unsigned i = 0; a && output_name && i < a->n_readers; i++) {
        if (strcmp(a->reader_names[i], output_name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

void cg_alarms_stats(struct cg_alarms *a, struct cg_alarms_stats *st)
{
    pthread_mutex_lock(&a->lock);
    *st = a->st;
    pthread_mutex_unlock(&a->lock);
}

struct cg_alarms *cg_alarms_new(struct cg_alarm_conf *conf, const struct cg_alarm_env *env, char *err,
                                size_t errlen)
{
    struct cg_buf pending;
    cg_buf_init(&pending, 4u * 1024 * 1024);
    struct cg_alarms *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        cg_alarm_conf_free(conf);
        goto fail;
    }
    pthread_mutex_init(&a->lock, NULL);
    cg_buf_init(&a->line, 64 * 1024);
    a->conf = conf;
    a->max = env->max_series ? env->max_series : CG_ALARM_DEFAULT_MAX_SERIES;
    for (size_t i = 0; i < conf->n; i++) {
        if ((size_t)conf->r[i].max_series > a->max || i == 0) {
            a->max = (size_t)conf->r[i].max_series;
        }
    }
    size_t slots = 1;
    while (slots < 2 * a->max) {
        slots <<= 1;
    }
    a->idx_mask = slots - 1;
    a->s = calloc(a->max, sizeof(*a->s));
    a->idx = calloc(slots, sizeof(*a->idx));
    a->stags = calloc(env->n_static_tags + 1, sizeof(*a->stags));
    if (asprintf(&a->state_path, "%s/alarms.state", env->state_dir ? env->state_dir : ".") < 0) {
        a->state_path = NULL;
    }
    if (a->s == NULL || a->idx == NULL || a->stags == NULL || a->state_path == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    a->lp.n_static_tags = env->n_static_tags; /* so that a failure below frees what was copied */
    for (size_t i = 0; i < env->n_static_tags; i++) {
        a->stags[i].key = strdup(env->static_tags[i].key);
        a->stags[i].value = strdup(env->static_tags[i].value ? env->static_tags[i].value : "");
        if (a->stags[i].key == NULL || a->stags[i].value == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    a->lp.static_tags = a->stags;
    a->lp.write_uint = env->write_uint;
    a->n_readers = env->n_readers;
    for (unsigned i = 0; i < env->n_readers; i++) {
        if ((a->reader_names[i] = strdup(env->reader_names[i])) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    struct cg_journal_opts o = {
        .dir = env->lane_dir,
        .max_bytes = LANE_MAX_BYTES,
        .segment_bytes = LANE_SEGMENT_BYTES,
        .fsync = CG_JOURNAL_FSYNC_ALWAYS,
        .reader_names = env->reader_names,
        .n_readers = env->n_readers,
    };
    struct cg_journal_recovery rec;
    char jerr[400] = "";
    if ((a->lane = cg_journal_open(&o, &rec, jerr, sizeof(jerr))) == NULL) {
        snprintf(err, errlen, "alarm lane: %s", jerr);
        goto fail;
    }
    int e = load_state(a, &pending);
    if (e < 0) {
        snprintf(err, errlen, "%s: %s", a->state_path, strerror(-e));
        goto fail;
    }
    a->st.series = a->n;
    if (pending.len > 0) {
        /* a crash came between the two state writes: the lane may or may not
         * hold these; the same lines again are the same points */
        size_t lines = 0;
        for (size_t i = 0; i < pending.len; i++) {
            lines += pending.data[i] == '\n';
        }
        e = cg_journal_append(a->lane, pending.data, pending.len, (uint32_t)lines, LANE_APPEND_TIMEOUT_MS);
        if (e == 0) {
            e = save_state(a, NULL, 0);
        }
        if (e < 0) {
            snprintf(err, errlen, "alarm lane: cannot re-append %zu pending events: %s", lines, strerror(-e));
            goto fail;
        }
        cg_log(CG_LOG_INFO, "alarm", "%zu event%s pending at the last stop appended to the lane again", lines,
               lines == 1 ? "" : "s");
    }
    cg_buf_done(&pending);
    return a;
fail:
    cg_buf_done(&pending);
    cg_alarms_free(a);
    return NULL;
}

void cg_alarms_free(struct cg_alarms *a)
{
    if (a == NULL) {
        return;
    }
    if (a->lane) {
        cg_journal_shutdown(a->lane);
        cg_journal_flush(a->lane);
        cg_journal_free(a->lane);
    }
    for (unsigned i = 0; i < a->n_readers; i++) {
        free(a->reader_names[i]);
    }
    for (size_t i = 0; a->stags && i < a->lp.n_static_tags; i++) {
        free((char *)a->stags[i].key);
        free((char *)a->stags[i].value);
    }
    free(a->stags);
    free(a->s);
    free(a->idx);
    free(a->state_path);
    cg_alarm_conf_free(a->conf);
    cg_buf_done(&a->line);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
