/* citygate — loading and rendering the city schema (see schema.h). */
#include "schema.h"

#include "units.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Generated at configure time from config/schema.json (gateway/CMakeLists.txt). */
extern const unsigned char cg_schema_builtin[];
extern const unsigned long cg_schema_builtin_len;

static const char *const type_names[] = {"float", "int", "uint", "bool", "string", NULL};

/* What the option table parses for one field; the rest (range, limits,
 * aliases) is read by hand. */
struct field_raw {
    char *kind;
    char *unit;
    int type;
    double molar_mass;
    double max_step;
    bool private_data;
    char *fiware;
    char *description;
};

static const struct cg_opt field_opts[] = {
    {"kind", CG_OPT_STRING, offsetof(struct field_raw, kind), NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "quantity kind (units.h): temperature, concentration, pressure..."},
    {"unit", CG_OPT_STRING, offsetof(struct field_raw, unit), NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "canonical unit"},
    {"type", CG_OPT_ENUM, offsetof(struct field_raw, type), "float", 0, 0, type_names, 0,
     "field type written to the database"},
    {"range", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "[min, max] plausible values"},
    {"limits", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "[lo, hi] physically possible values"},
    {"molar_mass_g_mol", CG_OPT_DOUBLE, offsetof(struct field_raw, molar_mass), "0", 0, 1000, NULL, 0,
     "gases: molar mass for ppb/ppm conversion"},
    {"max_step", CG_OPT_DOUBLE, offsetof(struct field_raw, max_step), "0", 0, 1e18, NULL, 0,
     "largest plausible change between readings (jump check)"},
    {"private", CG_OPT_BOOL, offsetof(struct field_raw, private_data), "false", 0, 0, NULL, 0,
     "identifier: dropped unless a privacy rule says otherwise"},
    {"fiware", CG_OPT_STRING, offsetof(struct field_raw, fiware), NULL, 0, 0, NULL, 0,
     "FIWARE Smart Data Models attribute"},
    {"aliases", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "other names mapped to this field"},
    {"description", CG_OPT_STRING, offsetof(struct field_raw, description), NULL, 0, 0, NULL,
     CG_OPT_REQUIRED, "what the value is"},
    CG_OPT_END,
};

struct meas_raw {
    char *description;
    char *fiware;
};

static const struct cg_opt meas_opts[] = {
    {"description", CG_OPT_STRING, offsetof(struct meas_raw, description), NULL, 0, 0, NULL,
     CG_OPT_REQUIRED, "what the measurement holds"},
    {"fiware", CG_OPT_STRING, offsetof(struct meas_raw, fiware), NULL, 0, 0, NULL, 0,
     "FIWARE Smart Data Models entity type"},
    {"tags", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "recommended tag keys"},
    {"fields", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, CG_OPT_REQUIRED, "quantities"},
    CG_OPT_END,
};

struct top_raw {
    int64_t version;
    char *description;
};

static const struct cg_opt top_opts[] = {
    {"schema_version", CG_OPT_INT, offsetof(struct top_raw, version), NULL, 1, 1, NULL, CG_OPT_REQUIRED,
     "format version (1)"},
    {"description", CG_OPT_STRING, offsetof(struct top_raw, description), NULL, 0, 0, NULL, 0, ""},
    {"tags", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, CG_OPT_REQUIRED, "common tag keys"},
    {"measurements", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, CG_OPT_REQUIRED, "measurements"},
    CG_OPT_END,
};

static void field_done(struct cg_schema_field *f)
{
    free(f->name);
    free(f->kind);
    free(f->unit);
    free(f->fiware);
    free(f->description);
    for (size_t i = 0; i < f->n_aliases; i++) {
        free(f->aliases[i]);
    }
}

void cg_schema_free(struct cg_schema *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n_meas; i++) {
        struct cg_schema_meas *m = &s->meas[i];
        free(m->name);
        free(m->description);
        free(m->fiware);
        for (size_t k = 0; k < m->n_tags; k++) {
            free(m->tags[k]);
        }
        free(m->tags);
        for (size_t k = 0; k < m->n_fields; k++) {
            field_done(&m->fields[k]);
        }
        free(m->fields);
    }
    free(s->meas);
    for (size_t i = 0; i < s->n_tags; i++) {
        free(s->tags[i].key);
        free(s->tags[i].description);
    }
    free(s->tags);
    free(s->source);
    free(s);
}

static size_t count_children(const cJSON *o)
{
    size_t n = 0;
    for (const cJSON *c = o ? o->child : NULL; c; c = c->next) {
        n++;
    }
    return n;
}

/* [a, b] with a <= b, both numbers. */
static int read_pair(const cJSON *v, const char *path, double *a, double *b, struct cg_errs *errs)
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(v->child) ||
        !cJSON_IsNumber(v->child->next)) {
        cg_errs_add(errs, path, "must be [min, max] (two numbers)");
        return -EINVAL;
    }
    *a = v->child->valuedouble;
    *b = v->child->next->valuedouble;
    if (!isfinite(*a) || !isfinite(*b) || *a > *b) {
        cg_errs_add(errs, path, "must be [min, max] with min <= max");
        return -EINVAL;
    }
    return 0;
}

static bool valid_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '_' || strlen(s) >= CG_POINT_MAX_NAME) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == ',' || *p == '=' || *p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            return false;
        }
    }
    return true;
}

static int parse_field(const cJSON *fo, const char *path, struct cg_schema_field *f,
                       struct cg_errs *errs)
{
    struct field_raw r = {0};
    char p[512], msg[512];
    size_t before = cg_errs_count(errs);

    cg_opt_parse(field_opts, fo, path, &r, errs);
    f->kind = r.kind;
    f->unit = r.unit;
    f->fiware = r.fiware;
    f->description = r.description;
    f->type = (enum cg_field_type)r.type;
    f->molar_mass_g_mol = r.molar_mass;
    f->max_step = r.max_step;
    f->private_data = r.private_data;
    if (!cJSON_IsObject(fo)) {
        return -EINVAL;
    }
    if (f->kind && !cg_units_kind_known(f->kind)) {
        cg_path_key(p, sizeof(p), path, "kind");
        cg_errs_add(errs, p, "unknown kind '%s'", f->kind);
    } else if (f->kind && f->unit && f->unit[0] != '\0' && !cg_units_known(f->kind, f->unit)) {
        cg_units_list(f->kind, msg, sizeof(msg));
        cg_path_key(p, sizeof(p), path, "unit");
        cg_errs_add(errs, p, "'%s' is not a %s unit (known: %s)", f->unit, f->kind, msg);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(fo, "range");
    if (v) {
        cg_path_key(p, sizeof(p), path, "range");
        f->has_range = read_pair(v, p, &f->min, &f->max, errs) == 0;
    }
    v = cJSON_GetObjectItemCaseSensitive(fo, "limits");
    if (v) {
        cg_path_key(p, sizeof(p), path, "limits");
        f->has_limits = read_pair(v, p, &f->lo, &f->hi, errs) == 0;
        if (f->has_limits && f->has_range && (f->min < f->lo || f->max > f->hi)) {
            cg_errs_add(errs, p, "the range must lie within the limits");
        }
    }
    if ((f->has_range || f->has_limits || f->max_step > 0) &&
        (f->type == CG_FIELD_BOOL || f->type == CG_FIELD_STRING)) {
        cg_errs_add(errs, path, "range, limits and max_step only apply to numbers");
    }
    v = cJSON_GetObjectItemCaseSensitive(fo, "aliases");
    if (v) {
        cg_path_key(p, sizeof(p), path, "aliases");
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > CG_SCHEMA_MAX_ALIASES) {
            cg_errs_add(errs, p, "must be an array of at most %d names", CG_SCHEMA_MAX_ALIASES);
        } else {
            size_t i = 0;
            for (const cJSON *a = v->child; a; a = a->next, i++) {
                char pi[512];
                cg_path_idx(pi, sizeof(pi), p, i);
                if (!cJSON_IsString(a) || !valid_name(a->valuestring)) {
                    cg_errs_add(errs, pi, "must be a field name");
                    continue;
                }
                f->aliases[f->n_aliases] = strdup(a->valuestring);
                if (f->aliases[f->n_aliases] == NULL) {
                    cg_errs_add(errs, pi, "out of memory");
                    continue;
                }
                f->n_aliases++;
            }
        }
    }
    return cg_errs_count(errs) > before ? -EINVAL : 0;
}

static int parse_meas(const cJSON *mo, const char *path, struct cg_schema_meas *m, struct cg_errs *errs)
{
    struct meas_raw r = {0};
    char p[512];
    size_t before = cg_errs_count(errs);

    cg_opt_parse(meas_opts, mo, path, &r, errs);
    m->description = r.description;
    m->fiware = r.fiware;
    if (!cJSON_IsObject(mo)) {
        return -EINVAL;
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(mo, "tags");
    if (tags) {
        cg_path_key(p, sizeof(p), path, "tags");
        if (!cJSON_IsArray(tags)) {
            cg_errs_add(errs, p, "must be an array of tag keys");
        } else {
            m->tags = calloc(count_children(tags) + 1, sizeof(*m->tags));
            if (m->tags == NULL) {
                cg_errs_add(errs, p, "out of memory");
                return -ENOMEM;
            }
            for (const cJSON *t = tags->child; t; t = t->next) {
                if (!cJSON_IsString(t) || !valid_name(t->valuestring)) {
                    cg_errs_add(errs, p, "tag keys must be names");
                    continue;
                }
                m->tags[m->n_tags] = strdup(t->valuestring);
                if (m->tags[m->n_tags] != NULL) {
                    m->n_tags++;
                }
            }
        }
    }
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(mo, "fields");
    cg_path_key(p, sizeof(p), path, "fields");
    if (fields == NULL) {
        return -EINVAL; /* reported as missing by the table */
    }
    if (cg_json_check_object(fields, p, errs) < 0 && !cJSON_IsObject(fields)) {
        return -EINVAL;
    }
    m->fields = calloc(count_children(fields) + 1, sizeof(*m->fields));
    if (m->fields == NULL) {
        cg_errs_add(errs, p, "out of memory");
        return -ENOMEM;
    }
    for (const cJSON *fo = fields->child; fo; fo = fo->next) {
        char fp[512];
        cg_path_key(fp, sizeof(fp), p, fo->string);
        struct cg_schema_field *f = &m->fields[m->n_fields];
        f->name = strdup(fo->string);
        m->n_fields++;
        if (f->name == NULL) {
            cg_errs_add(errs, fp, "out of memory");
            continue;
        }
        if (!valid_name(fo->string)) {
            cg_errs_add(errs, fp, "not a valid field name");
        }
        parse_field(fo, fp, f, errs);
    }
    /* A name must mean one field: aliases may not collide with each other or
     * with field names. */
    for (size_t i = 0; i < m->n_fields; i++) {
        for (size_t a = 0; a < m->fields[i].n_aliases; a++) {
            const char *al = m->fields[i].aliases[a];
            for (size_t k = 0; k < m->n_fields; k++) {
                if (m->fields[k].name && strcmp(m->fields[k].name, al) == 0) {
                    cg_path_key(p, sizeof(p), path, "fields");
                    cg_errs_add(errs, p, "alias '%s' of '%s' is also a field name", al, m->fields[i].name);
                }
                for (size_t b = 0; b < m->fields[k].n_aliases; b++) {
                    if ((k > i || (k == i && b > a)) && strcmp(m->fields[k].aliases[b], al) == 0) {
                        cg_path_key(p, sizeof(p), path, "fields");
                        cg_errs_add(errs, p, "alias '%s' is used twice", al);
                    }
                }
            }
        }
    }
    return cg_errs_count(errs) > before ? -EINVAL : 0;
}

int cg_schema_parse(const char *text, size_t len, const char *file, struct cg_schema **out,
                    struct cg_errs *errs)
{
    struct cg_schema *s = NULL;
    struct top_raw top = {0};
    cJSON *doc = NULL;
    size_t before = cg_errs_count(errs);
    char p[512];
    const char *base = file ? file : "schema";
    int rc = -EINVAL;

    doc = cJSON_ParseWithLength(text, len);
    if (doc == NULL) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        cg_errs_add(errs, base, "not valid JSON (near byte %zu)", off);
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->source = strdup(base)) == NULL) {
        cg_errs_add(errs, base, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    cg_opt_parse(top_opts, doc, base, &top, errs);
    s->version = (int)top.version;
    free(top.description);
    if (!cJSON_IsObject(doc)) {
        goto out;
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(doc, "tags");
    if (tags) {
        cg_path_key(p, sizeof(p), base, "tags");
        if (cg_json_check_object(tags, p, errs) == 0 || cJSON_IsObject(tags)) {
            s->tags = calloc(count_children(tags) + 1, sizeof(*s->tags));
            if (s->tags == NULL) {
                rc = -ENOMEM;
                cg_errs_add(errs, p, "out of memory");
                goto out;
            }
            for (const cJSON *t = tags->child; t; t = t->next) {
                char tp[512];
                cg_path_key(tp, sizeof(tp), p, t->string);
                if (!cJSON_IsString(t) || !valid_name(t->string)) {
                    cg_errs_add(errs, tp, "must be a description (string) under a valid tag key");
                    continue;
                }
                s->tags[s->n_tags].key = strdup(t->string);
                s->tags[s->n_tags].description = strdup(t->valuestring);
                s->n_tags++;
            }
        }
    }
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(doc, "measurements");
    if (ms) {
        cg_path_key(p, sizeof(p), base, "measurements");
        if (cg_json_check_object(ms, p, errs) < 0 && !cJSON_IsObject(ms)) {
            goto out;
        }
        s->meas = calloc(count_children(ms) + 1, sizeof(*s->meas));
        if (s->meas == NULL) {
            rc = -ENOMEM;
            cg_errs_add(errs, p, "out of memory");
            goto out;
        }
        for (const cJSON *mo = ms->child; mo; mo = mo->next) {
            char mp[512];
            cg_path_key(mp, sizeof(mp), p, mo->string);
            struct cg_schema_meas *m = &s->meas[s->n_meas++];
            m->name = strdup(mo->string);
            if (m->name == NULL) {
                cg_errs_add(errs, mp, "out of memory");
                continue;
            }
            if (!valid_name(mo->string)) {
                cg_errs_add(errs, mp, "not a valid measurement name");
            }
            parse_meas(mo, mp, m, errs);
        }
    }
    if (cg_errs_count(errs) == before) {
        rc = 0;
        *out = s;
        s = NULL;
    }
out:
    cJSON_Delete(doc);
    cg_schema_free(s);
    return rc;
}

int cg_schema_load(const char *file, struct cg_schema **out, struct cg_errs *errs)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e != ENOENT) {
            cg_errs_add(errs, file, "cannot open: %s", strerror(e));
        }
        return -e;
    }
    char *buf = malloc(CG_SCHEMA_MAX_BYTES + 1);
    size_t len = 0;
    int rc = 0;
    if (buf == NULL) {
        close(fd);
        cg_errs_add(errs, file, "out of memory");
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, CG_SCHEMA_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = -errno;
            cg_errs_add(errs, file, "cannot read: %s", strerror(-rc));
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len > CG_SCHEMA_MAX_BYTES) {
            rc = -EFBIG;
            cg_errs_add(errs, file, "larger than %d bytes", CG_SCHEMA_MAX_BYTES);
            goto out;
        }
    }
    rc = cg_schema_parse(buf, len, file, out, errs);
out:
    close(fd);
    free(buf);
    return rc;
}

int cg_schema_load_builtin(struct cg_schema **out, struct cg_errs *errs)
{
    return cg_schema_parse((const char *)cg_schema_builtin, (size_t)cg_schema_builtin_len, "built-in schema",
                           out, errs);
}

const struct cg_schema_meas *cg_schema_measurement(const struct cg_schema *s, const char *name)
{
    for (size_t i = 0; s && name && i < s->n_meas; i++) {
        if (strcmp(s->meas[i].name, name) == 0) {
            return &s->meas[i];
        }
    }
    return NULL;
}

const struct cg_schema_field *cg_schema_field(const struct cg_schema_meas *m, const char *name)
{
    if (m == NULL || name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < m->n_fields; i++) {
        if (strcmp(m->fields[i].name, name) == 0) {
            return &m->fields[i];
        }
    }
    for (size_t i = 0; i < m->n_fields; i++) {
        for (size_t a = 0; a < m->fields[i].n_aliases; a++) {
            if (strcmp(m->fields[i].aliases[a], name) == 0) {
                return &m->fields[i];
            }
        }
    }
    return NULL;
}

bool cg_schema_tag_known(const struct cg_schema *s, const char *key)
{
    for (size_t i = 0; s && i < s->n_tags; i++) {
        if (strcmp(s->tags[i].key, key) == 0) {
            return true;
        }
    }
    return false;
}

#define CLOSE_CANDIDATES 1024 /* names + aliases looked at for "did you mean" */

/* "Did you mean" through the config's own matcher (cg_conf_closest: within
 * two edits), over names and aliases, answering with the canonical name. */
const char *cg_schema_closest_measurement(const struct cg_schema *s, const char *name)
{
    const char *cand[CLOSE_CANDIDATES] = {NULL};
    size_t n = 0;
    for (size_t i = 0; s && i < s->n_meas && n < CLOSE_CANDIDATES; i++) {
        cand[n++] = s->meas[i].name;
    }
    return name ? cg_conf_closest(name, cand, n) : NULL;
}

const char *cg_schema_closest_field(const struct cg_schema_meas *m, const char *name)
{
    const char *cand[CLOSE_CANDIDATES] = {NULL}, *canon[CLOSE_CANDIDATES] = {NULL}; /* gcc -O2 cannot see n bounds the reads */
    size_t n = 0;
    for (size_t i = 0; m && i < m->n_fields; i++) {
        const struct cg_schema_field *f = &m->fields[i];
        for (size_t a = 0; a <= f->n_aliases && n < CLOSE_CANDIDATES; a++) {
            cand[n] = a == 0 ? f->name : f->aliases[a - 1];
            canon[n++] = f->name;
        }
    }
    const char *best = name ? cg_conf_closest(name, cand, n) : NULL;
    for (size_t i = 0; best && i < n; i++) {
        if (cand[i] == best) {
            return canon[i];
        }
    }
    return NULL;
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
    } else {
        snprintf(buf, n, "%g", v);
    }
}

/* Pipes would break a Markdown table cell. */
static int cell(struct cg_buf *b, const char *s)
{
    int rc = 0;
    for (const char *p = s ? s : ""; *p && rc == 0; p++) {
        rc = *p == '|' ? cg_buf_append(b, "\\|", 2) : cg_buf_putc(b, *p);
    }
    return rc;
}

int cg_schema_render_md(const struct cg_schema *s, struct cg_buf *b)
{
    int rc = cg_buf_printf(b, "## Tag keys\n\n| tag | meaning |\n|---|---|\n");
    for (size_t i = 0; rc == 0 && i < s->n_tags; i++) {
        rc = cg_buf_printf(b, "| `%s` | ", s->tags[i].key);
        rc = rc ? rc : cell(b, s->tags[i].description);
        rc = rc ? rc : cg_buf_printf(b, " |\n");
    }
    for (size_t i = 0; rc == 0 && i < s->n_meas; i++) {
        const struct cg_schema_meas *m = &s->meas[i];
        rc = cg_buf_printf(b, "\n## `%s`\n\n", m->name);
        rc = rc ? rc : cell(b, m->description);
        if (rc == 0 && m->fiware) {
            rc = cg_buf_printf(b, "\n\nFIWARE: %s", m->fiware);
        }
        if (rc == 0 && m->n_tags) {
            rc = cg_buf_printf(b, "\n\nTags:");
            for (size_t t = 0; rc == 0 && t < m->n_tags; t++) {
                rc = cg_buf_printf(b, " `%s`", m->tags[t]);
            }
        }
        rc = rc ? rc
                : cg_buf_printf(b, "\n\n| field | unit | type | range | limits | max step | FIWARE | "
                                   "also accepted as | meaning |\n|---|---|---|---|---|---|---|---|---|\n");
        for (size_t k = 0; rc == 0 && k < m->n_fields; k++) {
            const struct cg_schema_field *f = &m->fields[k];
            char a[40], z[40], range[90] = "", limits[90] = "", step[40] = "";
            if (f->has_range) {
                fmt_num(a, sizeof(a), f->min);
                fmt_num(z, sizeof(z), f->max);
                snprintf(range, sizeof(range), "%s .. %s", a, z);
            }
            if (f->has_limits) {
                fmt_num(a, sizeof(a), f->lo);
                fmt_num(z, sizeof(z), f->hi);
                snprintf(limits, sizeof(limits), "%s .. %s", a, z);
            }
            if (f->max_step > 0) {
                fmt_num(step, sizeof(step), f->max_step);
            }
            rc = cg_buf_printf(b, "| `%s` | %s | %s | %s | %s | %s | ", f->name, f->unit[0] ? f->unit : "-",
                               type_names[f->type], range, limits, step);
            rc = rc ? rc : cell(b, f->fiware ? f->fiware : "");
            rc = rc ? rc : cg_buf_printf(b, " | ");
            for (size_t al = 0; rc == 0 && al < f->n_aliases; al++) {
                rc = cg_buf_printf(b, "%s`%s`", al ? ", " : "", f->aliases[al]);
            }
            rc = rc ? rc : cg_buf_printf(b, " | ");
            rc = rc ? rc : cell(b, f->description);
            if (rc == 0 && f->molar_mass_g_mol > 0) {
                rc = cg_buf_printf(b, " M = %g g/mol.", f->molar_mass_g_mol);
            }
            if (rc == 0 && f->private_data) {
                rc = cg_buf_printf(b, " **Private**: dropped unless a privacy rule applies.");
            }
            rc = rc ? rc : cg_buf_printf(b, " |\n");
        }
    }
    return rc;
}
