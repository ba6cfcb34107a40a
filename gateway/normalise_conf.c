/* citygate — normaliser configuration: the top-level "normalise" section, the
 * per-source rules, and schema lookup (see normalise.h, docs/normalise.md). */
#include "normalise_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

#define SCHEMA_SYSTEM_PATH "/usr/share/citygate/schema.json"
#define MAP_MAX 1024 /* entries per rename / units / privacy / deadband map */

static const char *const open_strict[] = {"open", "strict", NULL};
static const char *const mark_drop[] = {"mark", "drop", NULL};
static const char *const time_policies[] = {"clamp", "drop", "keep", NULL};
static const char *const gas_refs[] = {"20C", "25C", NULL};
static const char *const inherit_open_strict[] = {"inherit", "open", "strict", NULL};
static const char *const protect_override[] = {"protect", "override", NULL};

/* normalise.quantities.*: inherit -1, mark 0, drop 1 (POLICY_*) */
struct policy_raw {
    int out_of_range, impossible;
};
static const char *const inherit_mark_drop[] = {"inherit", "mark", "drop", NULL};
static const int inherit_mark_drop_values[] = {POLICY_INHERIT, POLICY_MARK, POLICY_DROP};
static const struct cg_opt policy_opts[] = {
    {.name = "out_of_range", .type = CG_OPT_ENUM, .offset = offsetof(struct policy_raw, out_of_range),
     .def = "inherit", .choices = inherit_mark_drop, .values = inherit_mark_drop_values, .doc = "mark or drop"},
    {.name = "impossible", .type = CG_OPT_ENUM, .offset = offsetof(struct policy_raw, impossible), .def = "inherit",
     .choices = inherit_mark_drop, .values = inherit_mark_drop_values, .doc = "mark or drop"},
    CG_OPT_END,
};
static const int inherit_open_strict_values[] = {-1, SCHEMA_OPEN, SCHEMA_STRICT};
static const char *const aggregate_names[] = {"mean", "min", "max", "count", NULL};
static const int aggregate_bits[] = {AGG_MEAN, AGG_MIN, AGG_MAX, AGG_COUNT};

#define C(m) offsetof(struct cg_norm_conf, m)
const struct cg_opt cg_norm_options[] = {
    {"enabled", CG_OPT_BOOL, C(enabled), "true", 0, 0, NULL, 0,
     "normalise every point (false: points pass unchanged)"},
    {"schema_file", CG_OPT_STRING, C(schema_file), NULL, 0, 0, NULL, 0,
     "schema file; default <config dir>/schema.json, then " SCHEMA_SYSTEM_PATH ", then the built-in copy"},
    {"schema_policy", CG_OPT_ENUM, C(schema_policy), "open", 0, 0, open_strict, 0,
     "measurements and fields the schema does not know: open = written unchanged (validated, counted in "
     "citygate_unmapped_total, one warning per name); strict = dropped (counted in citygate_discarded_total, "
     "one warning per name)"},
    {"out_of_range", CG_OPT_ENUM, C(out_of_range), "mark", 0, 0, mark_drop, 0,
     "values outside the plausible range: mark (quality=out_of_range) or drop"},
    {"impossible", CG_OPT_ENUM, C(impossible), "drop", 0, 0, mark_drop, 0,
     "values outside the physical limits: drop, or mark (quality=impossible)"},
    {.name = "quantities", .type = CG_OPT_MAP, .elem = CG_OPT_OBJECT, .sub = policy_opts, .max_items = MAP_MAX,
     .doc = "per quantity overrides: {\"air_quality.pm2_5\": {\"out_of_range\": \"drop\", \"impossible\": \"mark\"}}"},
    {"quality_tag", CG_OPT_STRING, C(quality_tag), "quality", 0, 0, NULL, 0,
     "tag key of the quality mark; \"\" = do not write quality"},
    {"gas_reference", CG_OPT_ENUM, C(gas_reference), "20C", 0, 0, gas_refs, 0,
     "reference conditions for ppb/ppm -> ug/m3: 20C (EU 2008/50/EC) or 25C (US EPA), at 101.325 kPa"},
    {"max_future_s", CG_OPT_INT, C(max_future_s), "300", 0, 31536000, NULL, 0,
     "readings stamped more than this ahead of the gateway clock are 'future'"},
    {"future_policy", CG_OPT_ENUM, C(future_policy), "clamp", 0, 0, time_policies, 0,
     "future readings: clamp (to the gateway time), drop or keep"},
    {"max_past_s", CG_OPT_INT, C(max_past_s), "604800", 0, 3153600000, NULL, 0,
     "readings older than this are 'past' (0 = no limit)"},
    {"past_policy", CG_OPT_ENUM, C(past_policy), "keep", 0, 0, time_policies, 0,
     "past readings: keep (counted), clamp or drop"},
    {"clock_check", CG_OPT_BOOL, C(clock_check), "true", 0, 0, NULL, 0,
     "check clock synchronisation (adjtimex) every tick; mark readings taken while unsynchronised"},
    {"clock_report_s", CG_OPT_INT, C(clock_report_s), "60", 0, 86400, NULL, 0,
     "write the citygate_clock point this often (0 = never)"},
    {"max_tag_values", CG_OPT_INT, C(max_tag_values), "1000", 1, 1000000, NULL, 0,
     "cardinality budget: distinct values per tag key per measurement"},
    {.name = "max_tag_values_by_measurement", .type = CG_OPT_MAP, .elem = CG_OPT_INT, .min = 1, .max = 1000000,
     .max_items = MAP_MAX, .doc = "budget per measurement: {\"traffic\": 5000}"},
    {"max_series", CG_OPT_INT, C(max_series), "100000", 1, 10000000, NULL, 0,
     "series tracked for stuck/jump/reduction state; new series past it are not tracked (counted)"},
    {"max_state_mb", CG_OPT_INT, C(max_state_mb), "128", 1, 65536, NULL, 0,
     "memory for per-series state (stuck, jump, deadband, windows); past it new series and fields pass "
     "without state (counted series_full, state_full)"},
    {"max_tag_keys", CG_OPT_INT, C(max_tag_keys), "1024", 1, 1000000, NULL, 0,
     "cardinality budget: distinct (measurement, tag key) pairs; a point bringing a new pair past it is held back"},
    {"series_idle_s", CG_OPT_INT, C(series_idle_s), "3600", 0, 31536000, NULL, 0,
     "forget the state of a series without readings for this long (0 = never); its next reading starts afresh"},
    {"privacy_salt", CG_OPT_STRING, C(privacy_salt), NULL, 0, 0, NULL, CG_OPT_SECRET,
     "secret for privacy hashing (use privacy_salt_file); needed by \"hash\" rules; never leaves the box"},
    {"privacy_salt_rotate_s", CG_OPT_INT, C(privacy_salt_rotate_s), "86400", 0, 31536000, NULL, 0,
     "hashing key changes every this many seconds of reading time (0 = never)"},
    {"privacy_hash_chars", CG_OPT_INT, C(privacy_hash_chars), "16", 8, 64, NULL, 0,
     "hex characters of HMAC-SHA256 kept"},
    {"stuck_polls", CG_OPT_INT, C(stuck_polls), "0", 0, 1000000, NULL, 0,
     "flag a value repeated this many readings in a row as stuck (0 = off); sources may override"},
    {"window_grace_s", CG_OPT_INT, C(window_grace_s), "2", 0, 3600, NULL, 0,
     "wait this long after a window ends before writing it (late readings)"},
    CG_OPT_END,
};
#undef C

#define S(m) offsetof(struct cg_norm_source, m)
const struct cg_opt cg_norm_source_options[] = {
    {.name = "measurements", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .max_items = MAP_MAX,
     .doc = "rename measurements: {\"aq\": \"air_quality\"}"},
    {.name = "rename", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .max_items = MAP_MAX,
     .doc = "rename fields to schema names: {\"PM25\": \"pm2_5\"}"},
    {.name = "tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .max_items = MAP_MAX,
     .doc = "rename tag keys: {\"dev\": \"sensor_id\"}"},
    {.name = "units", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .max_items = MAP_MAX,
     .doc = "unit the source reports a field in, when the adapter does not say: {\"temperature\": \"degF\"}"},
    {.name = "schema_policy", .type = CG_OPT_ENUM, .offset = S(schema_policy), .def = "inherit",
     .choices = inherit_open_strict, .values = inherit_open_strict_values,
     .doc = "override normalise.schema_policy for this source"},
    {.name = "static_tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .flags = CG_OPT_NULLABLE,
     .max_items = MAP_MAX,
     .doc = "rename or remove configured static tags (top-level \"tags\", and \"gateway\") on this source's points: "
     "{\"gateway\": null, \"city\": \"town\"}"},
    {"payload_tags", CG_OPT_ENUM, S(payload_tags), "protect", 0, 0, protect_override, 0,
     "a tag from a payload or device with the key of a configured static tag: protect = the configured value "
     "is written (counted, logged once), override = the payload's value is written"},
    {.name = "privacy", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .max_items = MAP_MAX,
     .doc = "per field or tag: \"drop\", \"hash\", \"truncate:N\" or \"keep\": {\"mac\": \"hash\"}"},
    {"stuck_polls", CG_OPT_INT, S(stuck_polls), "-1", -1, 1000000, NULL, 0,
     "override normalise.stuck_polls (-1 = inherit, 0 = off)"},
    {"jump_check", CG_OPT_BOOL, S(jump_check), "false", 0, 0, NULL, 0,
     "flag changes larger than the schema's max_step (or max_step below)"},
    {.name = "max_step", .type = CG_OPT_MAP, .elem = CG_OPT_DOUBLE, .min = 0, .max = 1e15, .max_items = MAP_MAX,
     .doc = "per field jump threshold: {\"pm2_5\": 150}"},
    {.name = "deadband", .type = CG_OPT_MAP, .elem = CG_OPT_DOUBLE, .min = 0, .max = 1e15, .max_items = MAP_MAX,
     .doc = "report on change: write a value only when it moved more than this since the last written "
     "one; {\"*\": 0, \"temperature\": 0.2}"},
    {"heartbeat_s", CG_OPT_INT, S(heartbeat_s), "900", 0, 604800, NULL, 0,
     "with deadband: write a value at least this often even if unchanged (0 = never)"},
    {"window_s", CG_OPT_INT, S(window_s), "0", 0, 86400, NULL, 0,
     "aggregate numeric fields over windows of this many seconds (0 = off)"},
    {.name = "aggregates", .type = CG_OPT_ARRAY, .elem = CG_OPT_ENUM, .choices = aggregate_names,
     .values = aggregate_bits, .min_items = 1, .max_items = 4,
     .doc = "with window_s: any of \"mean\", \"min\", \"max\", \"count\" (default [\"mean\"])"},
    CG_OPT_END,
};
#undef S

void norm_counters_add(struct counters *dst, const struct cg_norm_counters *src)
{
    uint64_t v[N_COUNTERS];
    memcpy(v, src, sizeof(v));
    for (size_t i = 0; i < N_COUNTERS; i++) {
        if (v[i]) {
            atomic_fetch_add_explicit(&dst->c[i], v[i], memory_order_relaxed);
        }
    }
}

void norm_counters_read(const struct counters *src, struct cg_norm_counters *dst)
{
    uint64_t v[N_COUNTERS];
    for (size_t i = 0; i < N_COUNTERS; i++) {
        v[i] = atomic_load_explicit(&src->c[i], memory_order_relaxed);
    }
    memcpy(dst, v, sizeof(v));
}

const char *norm_map(const struct name_map *m, size_t n, const char *from)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].from, from) == 0) {
            return m[i].to;
        }
    }
    return NULL;
}

const struct name_num *norm_num(const struct name_num *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].name, name) == 0) {
            return &m[i];
        }
    }
    return NULL;
}

const struct priv_rule *norm_priv(const struct cg_norm_source *s, const char *key)
{
    for (size_t i = 0; s && i < s->n_privacy; i++) {
        if (strcmp(s->privacy[i].key, key) == 0) {
            return &s->privacy[i];
        }
    }
    return NULL;
}

int cg_norm_clock_adjtimex(void *ctx, struct cg_norm_clock *out)
{
    (void)ctx;
    struct timex tx;
    memset(&tx, 0, sizeof(tx)); /* modes = 0: read only, needs no privilege */
    int st = adjtimex(&tx);
    if (st < 0) {
        out->synced = -1;
        return -errno;
    }
    out->synced = (st == TIME_ERROR || (tx.status & STA_UNSYNC)) ? 0 : 1;
    out->maxerror_us = tx.maxerror;
    out->esterror_us = tx.esterror;
    return out->synced;
}

static bool valid_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '_' || strlen(s) >= CG_POINT_MAX_NAME) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20) {
            return false;
        }
    }
    return true;
}

/* Maps are read by cg_opt_parse_map with their table entry (the types,
 * limits and path rules every map shares); the callbacks below only add what
 * the normaliser means by them. */
struct map_out {
    void **arr;  /* one element per JSON entry (+1), allocated by read_map */
    size_t *n;
    const struct cg_norm_conf *conf; /* units: to check them */
    struct cg_norm_source *src;      /* privacy */
};

/* obj[key], read with table's entry for key into an array of elem-sized
 * entries allocated here. */
static int read_map(const struct cg_opt *table, const cJSON *obj, const char *path, const char *key, size_t elem,
                    cg_map_fn fn, struct map_out *out, struct cg_errs *errs)
{
    char p[512];
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    cg_path_key(p, sizeof(p), path, key);
    if (cJSON_IsObject(m) && cJSON_GetArraySize(m) <= MAP_MAX) {
        *out->arr = calloc((size_t)cJSON_GetArraySize(m) + 1, elem);
        if (*out->arr == NULL) {
            cg_errs_add(errs, p, "out of memory");
            return -ENOMEM;
        }
    }
    return cg_opt_parse_map(cg_opt_find(table, key), m, p, fn, out, errs);
}

/* Appends key -> value (NULL: removed) to the name_map being filled. */
static void push_pair(struct map_out *o, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct name_map *m = &((struct name_map *)*o->arr)[*o->n];
    m->from = strdup(it->key);
    m->to = it->str ? strdup(it->str) : NULL;
    if (m->from == NULL || (it->str && m->to == NULL)) {
        free(m->from);
        free(m->to);
        m->from = m->to = NULL;
        cg_errs_add(errs, it->path, "out of memory");
        return;
    }
    (*o->n)++;
}

/* {"from": "to"}: the values are names; null (static_tags, NULLABLE) maps to
 * NULL: {"gateway": null} removes the tag. */
static int add_name(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    if (it->str != NULL && !valid_name(it->str)) {
        cg_errs_add(errs, it->path, "must be a name, got '%s'", it->str);
        return 0;
    }
    push_pair(ctx, it, errs);
    return 0;
}

static void check_declared_unit(const struct cg_norm_conf *c, const char *field, const char *unit, const char *path,
                                struct cg_errs *errs);

/* units: {"field": "unit"}; unit strings are not names. */
static int add_unit(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct map_out *o = ctx;
    check_declared_unit(o->conf, it->key, it->str, it->path, errs);
    push_pair(o, it, errs);
    return 0;
}

/* {"name": number}, the number within the entry's bounds */
static int add_num(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct map_out *o = ctx;
    struct name_num *m = &((struct name_num *)*o->arr)[*o->n];
    m->name = strdup(it->key);
    if (m->name == NULL) {
        cg_errs_add(errs, it->path, "out of memory");
        return 0;
    }
    m->v = it->num;
    (*o->n)++;
    return 0;
}

static void free_map(struct name_map *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].from);
        free(m[i].to);
    }
    free(m);
}

static void free_nums(struct name_num *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
    }
    free(m);
}

void cg_norm_conf_free(struct cg_norm_conf *c)
{
    if (c == NULL) {
        return;
    }
    cg_opt_free(cg_norm_options, c);
    free_nums(c->budgets, c->n_budgets);
    free(c->policies);
    cg_schema_free(c->schema);
    free(c);
}

const struct cg_schema *cg_norm_conf_schema(const struct cg_norm_conf *c)
{
    return c->schema;
}

bool cg_norm_conf_enabled(const struct cg_norm_conf *c)
{
    return c != NULL && c->enabled;
}

void cg_norm_conf_set_clock_probe(struct cg_norm_conf *c, cg_norm_clock_fn fn, void *ctx)
{
    c->clock_fn = fn;
    c->clock_ctx = ctx;
}

/* "air_quality.pm2_5" -> schema field. */
static const struct cg_schema_field *quantity(const struct cg_schema *s, const char *q,
                                              const struct cg_schema_meas **m)
{
    char meas[CG_POINT_MAX_NAME];
    const char *dot = strchr(q, '.');
    if (dot == NULL || (size_t)(dot - q) >= sizeof(meas)) {
        return NULL;
    }
    memcpy(meas, q, (size_t)(dot - q));
    meas[dot - q] = '\0';
    *m = cg_schema_measurement(s, meas);
    return *m ? cg_schema_field(*m, dot + 1) : NULL;
}

static int load_schema(struct cg_norm_conf *c, const char *path, const char *config_dir, struct cg_errs *errs)
{
    char p[512], file[4096];
    int rc;
    if (c->schema_file != NULL) {
        cg_path_key(p, sizeof(p), path, "schema_file");
        if (c->schema_file[0] != '/' && config_dir != NULL) {
            snprintf(file, sizeof(file), "%s/%s", config_dir, c->schema_file);
        } else {
            snprintf(file, sizeof(file), "%s", c->schema_file);
        }
        rc = cg_schema_load(file, &c->schema, errs);
        if (rc == -ENOENT) {
            cg_errs_add(errs, p, "%s does not exist", file);
        }
        return rc;
    }
    if (config_dir != NULL) {
        snprintf(file, sizeof(file), "%s/schema.json", config_dir);
        rc = cg_schema_load(file, &c->schema, errs);
        if (rc != -ENOENT) {
            return rc;
        }
    }
    rc = cg_schema_load(SCHEMA_SYSTEM_PATH, &c->schema, errs);
    if (rc != -ENOENT) {
        return rc;
    }
    return cg_schema_load_builtin(&c->schema, errs);
}

/* quantities: {"measurement.field": {"out_of_range": ..., "impossible": ...}} */
static int add_policy(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct map_out *o = ctx;
    const struct cg_norm_conf *c = o->conf;
    struct policy_raw r = {0};
    struct quantity_policy *pol = &((struct quantity_policy *)*o->arr)[*o->n];
    if (cg_opt_parse(policy_opts, it->json, it->path, &r, errs) < 0 || c->schema == NULL) {
        return 0;
    }
    pol->field = quantity(c->schema, it->key, &pol->meas);
    if (pol->field == NULL) {
        cg_errs_add(errs, it->path, "not a schema quantity (write measurement.field, e.g. air_quality.pm2_5)");
        return 0;
    }
    pol->out_of_range = r.out_of_range;
    pol->impossible = r.impossible;
    (*o->n)++;
    return 0;
}

int cg_norm_conf_parse(const cJSON *obj, const char *path, const char *config_dir, struct cg_norm_conf **out,
                       struct cg_errs *errs)
{
    struct cg_norm_conf *c = calloc(1, sizeof(*c));
    size_t before = cg_errs_count(errs);
    if (c == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    c->clock_fn = cg_norm_clock_adjtimex;
    cg_opt_parse(cg_norm_options, obj, path, c, errs);
    c->max_state_bytes = (size_t)c->max_state_mb << 20;
    if (cg_errs_count(errs) == before) {
        load_schema(c, path, config_dir, errs);
    }
    if (obj && cJSON_IsObject(obj)) {
        struct map_out budgets = {.arr = (void **)&c->budgets, .n = &c->n_budgets};
        read_map(cg_norm_options, obj, path, "max_tag_values_by_measurement", sizeof(*c->budgets), add_num, &budgets,
                 errs);
        struct map_out pols = {.arr = (void **)&c->policies, .n = &c->n_policies, .conf = c};
        read_map(cg_norm_options, obj, path, "quantities", sizeof(*c->policies), add_policy, &pols, errs);
    }
    if (cg_errs_count(errs) > before) {
        cg_norm_conf_free(c);
        return -EINVAL;
    }
    *out = c;
    return 0;
}

/* ---- sources -------------------------------------------------------------- */

void cg_norm_source_free(struct cg_norm_source *s)
{
    if (s == NULL) {
        return;
    }
    cg_opt_free(cg_norm_source_options, s);
    free(s->name);
    free_map(s->meas_map, s->n_meas_map);
    free_map(s->field_map, s->n_field_map);
    free_map(s->tag_map, s->n_tag_map);
    free_map(s->static_map, s->n_static_map);
    free_map(s->units, s->n_units);
    for (size_t i = 0; i < s->n_privacy; i++) {
        free(s->privacy[i].key);
    }
    free(s->privacy);
    free_nums(s->max_step, s->n_max_step);
    free_nums(s->deadband, s->n_deadband);
    free(s);
}

const char *cg_norm_source_name(const struct cg_norm_source *s)
{
    return s ? s->name : NULL;
}

void cg_norm_source_set_user(struct cg_norm_source *s, void *user)
{
    s->user = user;
}

void *cg_norm_source_user(const struct cg_norm_source *s)
{
    return s ? s->user : NULL;
}

int cg_norm_check_unit(const struct cg_norm_conf *c, const char *measurement, const char *field,
                       const char *unit, char *msg, size_t msgsz)
{
    const struct cg_schema_meas *m = cg_schema_measurement(c->schema, measurement);
    const struct cg_schema_field *f = cg_schema_field(m, field);
    struct cg_unit_conv conv;
    if (f == NULL || unit == NULL || unit[0] == '\0') {
        return 0;
    }
    return cg_units_conv(f->kind, unit, f->unit, f->molar_mass_g_mol, (enum cg_units_ref)c->gas_reference, &conv,
                         msg, msgsz);
}

/* A declared unit must convert to the canonical unit of every schema field of
 * that name (the source's measurement is not known at config time). */
static void check_declared_unit(const struct cg_norm_conf *c, const char *field, const char *unit, const char *path,
                                struct cg_errs *errs)
{
    char msg[512];
    bool found = false;
    for (size_t i = 0; c->schema && i < c->schema->n_meas; i++) {
        const struct cg_schema_field *f = cg_schema_field(&c->schema->meas[i], field);
        if (f == NULL) {
            continue;
        }
        found = true;
        struct cg_unit_conv conv;
        if (cg_units_conv(f->kind, unit, f->unit, f->molar_mass_g_mol, (enum cg_units_ref)c->gas_reference, &conv,
                          msg, sizeof(msg)) < 0) {
            cg_errs_add(errs, path, "%s.%s: %s", c->schema->meas[i].name, f->name, msg);
            return;
        }
    }
    if (!found) {
        cg_errs_add(errs, path, "'%s' is not a field of the schema (units apply to schema fields)", field);
    }
}

/* privacy: {"key": "drop" | "hash" | "truncate:N" | "keep"} */
static int add_privacy(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct map_out *o = ctx;
    struct priv_rule r = {0};
    const char *v = it->str;
    char *end = NULL;
    if (strcmp(v, "drop") == 0) {
        r.act = PRIV_DROP;
    } else if (strcmp(v, "hash") == 0) {
        r.act = PRIV_HASH;
        if (o->src->conf->privacy_salt == NULL) {
            cg_errs_add(errs, it->path, "\"hash\" needs normalise.privacy_salt_file (a secret)");
            return 0;
        }
    } else if (strcmp(v, "keep") == 0) {
        r.act = PRIV_KEEP;
    } else if (strncmp(v, "truncate:", 9) == 0) {
        long k = strtol(v + 9, &end, 10);
        if (end == v + 9 || *end != '\0' || k < 0 || k > 1024) {
            cg_errs_add(errs, it->path, "truncate:N needs N in 0..1024, got '%s'", v);
            return 0;
        }
        r.act = PRIV_TRUNCATE;
        r.keep = (int)k;
    } else {
        cg_errs_add(errs, it->path, "must be \"drop\", \"hash\", \"truncate:N\" or \"keep\"");
        return 0;
    }
    r.key = strdup(it->key);
    if (r.key == NULL) {
        cg_errs_add(errs, it->path, "out of memory");
        return 0;
    }
    ((struct priv_rule *)*o->arr)[(*o->n)++] = r;
    return 0;
}

int cg_norm_source_parse(const struct cg_norm_conf *conf, const cJSON *obj, const char *path, const char *name,
                         struct cg_norm_source **out, struct cg_errs *errs)
{
    struct cg_norm_source *s = calloc(1, sizeof(*s));
    size_t before = cg_errs_count(errs);
    char p[512];
    if (s == NULL || (s->name = strdup(name ? name : "")) == NULL) {
        free(s);
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    s->conf = conf;
    s->aggregates = AGG_MEAN;
    cg_opt_parse(cg_norm_source_options, obj, path, s, errs);
    if (obj != NULL && cJSON_IsObject(obj)) {
        const struct cg_opt *t = cg_norm_source_options;
        struct map_out meas = {.arr = (void **)&s->meas_map, .n = &s->n_meas_map};
        struct map_out fields = {.arr = (void **)&s->field_map, .n = &s->n_field_map};
        struct map_out tags = {.arr = (void **)&s->tag_map, .n = &s->n_tag_map};
        struct map_out statics = {.arr = (void **)&s->static_map, .n = &s->n_static_map};
        struct map_out units = {.arr = (void **)&s->units, .n = &s->n_units, .conf = conf};
        struct map_out priv = {.arr = (void **)&s->privacy, .n = &s->n_privacy, .src = s};
        struct map_out steps = {.arr = (void **)&s->max_step, .n = &s->n_max_step};
        struct map_out bands = {.arr = (void **)&s->deadband, .n = &s->n_deadband};
        read_map(t, obj, path, "measurements", sizeof(*s->meas_map), add_name, &meas, errs);
        read_map(t, obj, path, "rename", sizeof(*s->field_map), add_name, &fields, errs);
        read_map(t, obj, path, "tags", sizeof(*s->tag_map), add_name, &tags, errs);
        read_map(t, obj, path, "static_tags", sizeof(*s->static_map), add_name, &statics, errs);
        read_map(t, obj, path, "units", sizeof(*s->units), add_unit, &units, errs);
        read_map(t, obj, path, "privacy", sizeof(*s->privacy), add_privacy, &priv, errs);
        read_map(t, obj, path, "max_step", sizeof(*s->max_step), add_num, &steps, errs);
        read_map(t, obj, path, "deadband", sizeof(*s->deadband), add_num, &bands, errs);
        const cJSON *ag = cJSON_GetObjectItemCaseSensitive(obj, "aggregates");
        if (ag != NULL) {
            cg_path_key(p, sizeof(p), path, "aggregates");
            s->aggregates = 0;
            if (!cJSON_IsArray(ag) || cJSON_GetArraySize(ag) == 0) {
                cg_errs_add(errs, p, "must be a non-empty array of \"mean\", \"min\", \"max\", \"count\"");
            }
            const struct cg_opt *ao = cg_opt_find(cg_norm_source_options, "aggregates");
            size_t i = 0;
            for (const cJSON *it = cJSON_IsArray(ag) ? ag->child : NULL; it; it = it->next, i++) {
                char ap[512];
                unsigned bit = 0;
                for (size_t k = 0; cJSON_IsString(it) && ao->choices[k]; k++) {
                    bit = strcmp(it->valuestring, ao->choices[k]) == 0 ? (unsigned)ao->values[k] : bit;
                }
                cg_path_idx(ap, sizeof(ap), p, i);
                if (bit == 0) {
                    const char *best = cJSON_IsString(it) ? cg_conf_closest(it->valuestring, ao->choices, 4) : NULL;
                    cg_errs_add(errs, ap, "must be one of mean, min, max, count%s%s%s", best ? " (did you mean '" : "",
                                best ? best : "", best ? "'?)" : "");
                } else if (s->aggregates & bit) {
                    cg_errs_add(errs, ap, "listed twice");
                }
                s->aggregates |= bit;
            }
            if (s->window_s == 0) {
                cg_errs_add(errs, p, "only applies with window_s");
            }
        }
        if (s->window_s > 0 && s->n_deadband > 0) {
            cg_path_key(p, sizeof(p), path, "deadband");
            cg_errs_add(errs, p, "choose deadband or window_s, not both");
        }
    }
    if (cg_errs_count(errs) > before) {
        cg_norm_source_free(s);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

int cg_norm_check_name(const struct cg_norm_conf *c, const struct cg_norm_source *src, const char *measurement,
                       const char *field, const char **meas_out, const char **field_out, const char **hint)
{
    const char *m = src ? norm_map(src->meas_map, src->n_meas_map, measurement) : NULL;
    m = m ? m : measurement;
    const char *f = field && src ? norm_map(src->field_map, src->n_field_map, field) : NULL;
    f = f ? f : field;
    bool strict = (src && src->schema_policy >= 0 ? src->schema_policy : c->schema_policy) == SCHEMA_STRICT;
    *meas_out = m;
    *field_out = f;
    *hint = NULL;
    const struct cg_schema_meas *sm = cg_schema_measurement(c->schema, m);
    if (sm == NULL) {
        *hint = cg_schema_closest_measurement(c->schema, m);
        return strict ? CG_DROP_SCHEMA_MEASUREMENT : CG_DROP_UNMAPPED_MEASUREMENT;
    }
    if (f == NULL || cg_schema_field(sm, f) != NULL) {
        return 0;
    }
    *hint = cg_schema_closest_field(sm, f);
    return strict ? CG_DROP_SCHEMA_FIELD : CG_DROP_UNMAPPED_FIELD;
}

int cg_norm_source_static_tag(const struct cg_norm_source *s, const char *key, const char **new_key)
{
    *new_key = key;
    for (size_t i = 0; s && i < s->n_static_map; i++) {
        if (strcmp(s->static_map[i].from, key) == 0) {
            *new_key = s->static_map[i].to;
            return s->static_map[i].to ? 1 : -1;
        }
    }
    return 0;
}

size_t cg_norm_source_static_rules(const struct cg_norm_source *s)
{
    return s ? s->n_static_map : 0;
}

const char *cg_norm_source_static_rule(const struct cg_norm_source *s, size_t i)
{
    return s && i < s->n_static_map ? s->static_map[i].from : NULL;
}

bool cg_norm_source_payload_tags_override(const struct cg_norm_source *s)
{
    return s && s->payload_tags == 1;
}

const char *cg_norm_source_tag_key(const struct cg_norm_source *s, const char *key)
{
    const char *k = s ? norm_map(s->tag_map, s->n_tag_map, key) : NULL;
    return k ? k : key;
}

/* Slots of a (measurement, tag key) value set at its largest (card_grow). */
static size_t set_slots(int64_t limit)
{
    size_t cap = 16;
    while (cap < (size_t)limit * 2) {
        cap <<= 1;
    }
    return cap;
}

size_t cg_norm_conf_memory_ceiling(const struct cg_norm_conf *c, char *explain, size_t len)
{
    int64_t limit = c->max_tag_values;
    for (size_t i = 0; i < c->n_budgets; i++) {
        limit = (int64_t)c->budgets[i].v > limit ? (int64_t)c->budgets[i].v : limit;
    }
    size_t slots = set_slots(limit);
    size_t cards = (size_t)c->max_tag_keys * (slots * 8 + 256);
    size_t buckets = 1024;
    while (buckets < (size_t)c->max_series / 2 && buckets < (1u << 20)) {
        buckets <<= 1;
    }
    size_t index = buckets * sizeof(void *) + (size_t)c->max_series * 2 * sizeof(void *);
    size_t total = c->max_state_bytes + cards + index;
    if (explain && len) {
        snprintf(explain, len,
                 "normaliser memory ceiling: %.1f MiB = series state %lld MiB (normalise.max_state_mb) + tag value "
                 "sets %.1f MiB (normalise.max_tag_keys %lld x %zu slots of 8 bytes) + series index %.1f MiB "
                 "(normalise.max_series %lld)",
                 (double)total / 1048576.0, (long long)c->max_state_mb, (double)cards / 1048576.0,
                 (long long)c->max_tag_keys, slots, (double)index / 1048576.0, (long long)c->max_series);
    }
    return total;
}
