/* citygate — loading the config file (see conf.h). */
#include "conf.h"

#include "conf_locate.h"
#include "http_status.h"
#include "alarm.h"
#include "journal.h"
#include "normalise.h"
#include "output.h"
#include "registry.h"

#include <errno.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_BYTES (16 * 1024 * 1024)
#define CONF_MAX_OUTPUTS 16
#define CONF_MAX_SOURCES 256
#define CONF_MAX_TAGS 64 /* static tags: each is written on every point */

const char *const cg_log_level_names[] = {"error", "warn", "info", "debug", NULL};

static const char *const secret_file_modes[] = {"warn", "refuse", NULL};
static const int secret_file_values[] = {CG_SECRET_FILES_WARN, CG_SECRET_FILES_REFUSE};
static const char *const unsynced_clock_modes[] = {"degrade", "ignore", NULL};
static const int unsynced_clock_values[] = {CG_UNSYNCED_DEGRADE, CG_UNSYNCED_IGNORE};
#define G(m) offsetof(struct cg_gateway_conf, m)
const struct cg_opt cg_gateway_options[] = {
    {.name = "id", .type = CG_OPT_STRING, .offset = G(id),
     .doc = "This gateway's name; added to every point as tag `gateway`. Default: the host name."},
    {.name = "state_dir", .type = CG_OPT_STRING, .offset = G(state_dir), .def = "/var/lib/citygate",
     .doc = "Writable directory for state: dead-letter files, buffers."},
    {.name = "log_level", .type = CG_OPT_ENUM, .offset = G(log_level), .def = "info",
     .choices = cg_log_level_names, .doc = "Least severe level logged."},
    {.name = "backpressure_wait_ms", .type = CG_OPT_INT, .offset = G(backpressure_wait_ms), .def = "5000",
     .min = 0, .max = 600000,
     .doc = "How long a source waits for room when the buffer is full before its reading is refused (counted)."},
    {.name = "drain_timeout_ms", .type = CG_OPT_INT, .offset = G(drain_timeout_ms), .def = "10000", .min = 0,
     .max = 600000, .doc = "On SIGTERM, how long the outputs may keep sending what is buffered."},
    {.name = "self_metrics_interval_s", .type = CG_OPT_INT, .offset = G(self_metrics_interval_s), .def = "60",
     .min = 0, .max = 86400,
     .doc = "How often the gateway writes its own counters as a `citygate` point. 0: never."},
    {.name = "gap_records", .type = CG_OPT_BOOL, .offset = G(gap_records), .def = "true",
     .doc = "Write `citygate_gap` records when a device or an output goes down and comes back."},
    {.name = "write_uint", .type = CG_OPT_BOOL, .offset = G(write_uint), .def = "false",
     .doc = "Write unsigned fields with the `u` suffix (InfluxDB 2.x, VictoriaMetrics). Off: as integers."},
    {.name = "secret_files", .type = CG_OPT_ENUM, .offset = G(secret_files), .def = "warn",
     .choices = secret_file_modes, .values = secret_file_values,
     .doc = "A `*_file` secret that others (or a group citygate does not run as) can read or write: `warn` "
            "(logged, and printed by --check-config) or `refuse` (a config error; the packaged config sets it)."},
    {.name = "unsynced_clock", .type = CG_OPT_ENUM, .offset = G(unsynced_clock), .def = "degrade",
     .choices = unsynced_clock_modes, .values = unsynced_clock_values,
     .doc = "An unsynchronised system clock (normalise.clock_check): `degrade` makes /healthz 503 with the reason; "
            "`ignore` keeps it ok (still logged, shown and in /metrics)."},
    CG_OPT_END,
};

static const char *const buffer_modes[] = {"disk", "memory", NULL};
static const int buffer_mode_values[] = {CG_BUFFER_DISK, CG_BUFFER_MEMORY};
static const char *const fsync_modes[] = {"always", "interval", "never", NULL};
static const int fsync_values[] = {CG_JOURNAL_FSYNC_ALWAYS, CG_JOURNAL_FSYNC_INTERVAL, CG_JOURNAL_FSYNC_NEVER};
#define B(m) offsetof(struct cg_buffer_conf, m)
const struct cg_opt cg_buffer_options[] = {
    {.name = "mode", .type = CG_OPT_ENUM, .offset = B(mode), .def = "disk", .choices = buffer_modes,
     .values = buffer_mode_values,
     .doc = "`disk`: write-ahead log in `dir`, survives restarts, crashes and power loss (per `fsync`). "
            "`memory`: lost on restart."},
    {.name = "dir", .type = CG_OPT_STRING, .offset = B(dir),
     .doc = "Where the disk buffer lives. Default: `<gateway.state_dir>/buffer`."},
    {.name = "max_bytes", .type = CG_OPT_INT, .offset = B(max_bytes), .def = "0", .min = 0, .max = 1099511627776.0,
     .doc = "Budget. Past it the oldest data is dropped (disk) or sources are refused after "
            "`gateway.backpressure_wait_ms` (memory), counted and logged. 0: 1 GiB on disk, 64 MiB in memory."},
    {.name = "max_age_s", .type = CG_OPT_INT, .offset = B(max_age_s), .def = "0", .min = 0, .max = 315360000,
     .doc = "Disk: data older than this is dropped (counted). 0: no age limit."},
    {.name = "segment_bytes", .type = CG_OPT_INT, .offset = B(segment_bytes), .def = "8388608", .min = 4096,
     .max = 1073741824, .doc = "Disk: size of one segment file (capped at a quarter of `max_bytes`)."},
    {.name = "fsync", .type = CG_OPT_ENUM, .offset = B(fsync), .def = "interval", .choices = fsync_modes,
     .values = fsync_values,
     .doc = "`always`: every append is on disk before the source is told it was taken (MQTT ack). "
            "`interval`: a power cut loses at most `fsync_interval_ms`. `never`: the kernel decides. "
            "All three survive `kill -9`."},
    {.name = "fsync_interval_ms", .type = CG_OPT_INT, .offset = B(fsync_interval_ms), .def = "1000", .min = 1,
     .max = 600000, .doc = "With `fsync: interval`, the longest time appended data stays unsynced."},
    {.name = "live_first_after_s", .type = CG_OPT_INT, .offset = B(live_first_after_s), .def = "60", .min = 0,
     .max = 86400,
     .doc = "Disk: when an output's oldest unsent reading is older than this (an outage), new readings go "
            "first and the backlog drains beside them. 0: strictly oldest first."},
    {.name = "replay_max_lines_per_s", .type = CG_OPT_INT, .offset = B(replay_max_lines_per_s), .def = "0",
     .min = 0, .max = 100000000, .doc = "Disk: cap on the backlog's drain rate per output, lines/s. 0: no cap."},
    {.name = "replay_max_bytes_per_s", .type = CG_OPT_INT, .offset = B(replay_max_bytes_per_s), .def = "0",
     .min = 0, .max = 10000000000.0,
     .doc = "Disk: cap on the backlog's drain rate per output, bytes of line protocol/s (before gzip). 0: no cap."},
    CG_OPT_END,
};

/* The top level: each section is read by its module (CG_OPT_MODULE); the
 * table names them, so unknown keys are errors and the JSON Schema and
 * docs describe them from the same sub tables. */
struct top_conf {
    char *schema; /* "$schema": for editors; read and ignored */
};
const struct cg_opt cg_conf_top_options[] = {
    {.name = "$schema", .type = CG_OPT_STRING, .offset = offsetof(struct top_conf, schema),
     .doc = "JSON Schema for editors (ignored by citygate), e.g. "
            "\"file:///usr/share/citygate/citygate.schema.json\"."},
    {.name = "gateway", .type = CG_OPT_OBJECT, .sub = cg_gateway_options, .flags = CG_OPT_MODULE,
     .doc = "Gateway settings."},
    {.name = "buffer", .type = CG_OPT_OBJECT, .sub = cg_buffer_options, .flags = CG_OPT_MODULE,
     .doc = "Store-and-forward buffer."},
    {.name = "http", .type = CG_OPT_OBJECT, .sub = cg_http_options, .flags = CG_OPT_MODULE,
     .doc = "Health, metrics and status page."},
    {.name = "normalise", .type = CG_OPT_OBJECT, .sub = cg_norm_options, .flags = CG_OPT_MODULE,
     .doc = "The city schema and normalisation."},
    {.name = "tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .max_items = CONF_MAX_TAGS,
     .doc = "Static tags added to every point: {\"city\": \"ghent\"}."},
    {.name = "outputs", .type = CG_OPT_ARRAY, .elem = CG_OPT_OBJECT, .min_items = 1, .max_items = CONF_MAX_OUTPUTS,
     .doc = "Databases to write to (at least one; required); keys by `type`."},
    {.name = "sources", .type = CG_OPT_ARRAY, .elem = CG_OPT_OBJECT, .max_items = CONF_MAX_SOURCES,
     .doc = "Sensor sources; keys by `type`."},
    {.name = "alarms", .type = CG_OPT_ARRAY, .elem = CG_OPT_OBJECT, .sub = cg_alarm_options,
     .max_items = CG_ALARM_MAX_RULES, .doc = "Alarm rules and the emergency lane (docs/alarms.md)."},
    CG_OPT_END,
};

int cg_conf_top_schema(cJSON *root)
{
    /* outputs is required, but load() says so itself (with "at least one
     * output is required"), so the table does not flag it */
    cJSON *req = NULL;
    if (cg_opt_schema(cg_conf_top_options, root) < 0 || (req = cJSON_AddArrayToObject(root, "required")) == NULL ||
        !cJSON_AddItemToArray(req, cJSON_CreateString("outputs"))) {
        return -ENOMEM;
    }
    return 0;
}

static int read_file(const char *file, char **out, size_t *out_len, struct cg_errs *errs)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        int e = errno;
        cg_errs_add(errs, file, "cannot open: %s", strerror(e));
        return -e;
    }
    char *buf = malloc(CONF_MAX_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, CONF_MAX_BYTES + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        cg_errs_add(errs, file, "read error");
        free(buf);
        return -EIO;
    }
    if (n > CONF_MAX_BYTES) {
        cg_errs_add(errs, file, "larger than %d bytes", CONF_MAX_BYTES);
        free(buf);
        return -EFBIG;
    }
    buf[n] = '\0';
    /* The text may be kept until its errors are printed: give back the rest. */
    char *fit = realloc(buf, n + 1);
    *out = fit ? fit : buf;
    *out_len = n;
    return 0;
}

static int check_tag_text(const char *s)
{
    if (s[0] == '\0') {
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (*p == '\n' || *p == '\r' || (*p == '\\' && (p[1] == '\0' || p[1] == ',' || p[1] == '=' || p[1] == ' '))) {
            return -1;
        }
    }
    return 0;
}

static int add_tag(struct cg_config *c, const char *k, const char *v)
{
    struct cg_tag *t = realloc(c->tags, (c->n_tags + 1) * sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    c->tags = t;
    char *kk = strdup(k), *vv = strdup(v);
    if (kk == NULL || vv == NULL) {
        free(kk);
        free(vv);
        return -ENOMEM;
    }
    t[c->n_tags++] = (struct cg_tag){.key = kk, .value = vv};
    return 0;
}

struct tags_ctx {
    struct cg_config *c;
    int have_gw_tag;
};

static int add_tag_item(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct tags_ctx *tc = ctx;
    if (check_tag_text(it->key) < 0 || it->key[0] == '_' || check_tag_text(it->str) < 0) {
        cg_errs_add(errs, it->path, "tag keys and values must be non-empty, without newlines, not start with '_'");
    } else if (add_tag(tc->c, it->key, it->str) < 0) {
        cg_errs_add(errs, it->path, "out of memory");
    }
    tc->have_gw_tag |= strcmp(it->key, "gateway") == 0;
    return 0;
}

static const struct cg_adapter *find_adapter(const char *type)
{
    for (const struct cg_adapter *const *a = cg_registry_adapters(); *a; a++) {
        if (strcmp((*a)->type, type) == 0) {
            return *a;
        }
    }
    return NULL;
}

/* The top normalise section had errors (c->norm is NULL): still check a
 * source's own normalise section, against the defaults, so that its errors
 * are listed in the same run. */
static void check_source_norm(const struct cg_config *c, const cJSON *obj, const char *path, const char *name,
                              struct cg_errs *errs)
{
    struct cg_norm_conf *defaults = NULL;
    struct cg_norm_source *ns = NULL;
    struct cg_errs none = {0};
    if (obj == NULL || cg_norm_conf_parse(NULL, "normalise", c->dir, &defaults, &none) < 0) {
        goto out;
    }
    cg_norm_source_parse(defaults, obj, path, name, &ns, errs);
out:
    cg_norm_source_free(ns);
    cg_norm_conf_free(defaults);
    cg_errs_done(&none);
}

static void parse_sources(struct cg_config *c, cJSON *arr, struct cg_errs *errs)
{
    if (arr == NULL) {
        return;
    }
    if (!cJSON_IsArray(arr)) {
        cg_errs_add(errs, "sources", "must be an array");
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > CONF_MAX_SOURCES) {
        cg_errs_add(errs, "sources", "at most %d sources, got %zu", CONF_MAX_SOURCES, n);
        return;
    }
    c->sources = calloc(n ? n : 1, sizeof(*c->sources));
    if (c->sources == NULL) {
        cg_errs_add(errs, "sources", "out of memory");
        return;
    }
    size_t i = 0;
    for (cJSON *s = arr->child; s; s = s->next, i++) {
        struct cg_source_conf *sc = &c->sources[c->n_sources];
        char p[64];
        cg_path_idx(sc->path, sizeof(sc->path), "sources", i);
        if (!cJSON_IsObject(s)) {
            cg_errs_add(errs, sc->path, "must be an object");
            continue;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
        cg_path_key(p, sizeof(p), sc->path, "type");
        if (!cJSON_IsString(type)) {
            cg_errs_add(errs, p, type ? "must be a string" : "missing (required)");
            continue;
        }
        sc->adapter = find_adapter(type->valuestring);
        if (sc->adapter == NULL) {
            char list[256] = "";
            size_t ll = 0;
            for (const struct cg_adapter *const *a = cg_registry_adapters(); *a && ll < sizeof(list); a++) {
                ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%s", ll ? ", " : "", (*a)->type);
            }
            cg_errs_add(errs, p, "unknown source type '%s' (this build has: %s)", type->valuestring,
                        ll ? list : "none");
            continue;
        }
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "name");
        cg_path_key(p, sizeof(p), sc->path, "name");
        if (name != NULL && (!cJSON_IsString(name) || name->valuestring[0] == '\0')) {
            cg_errs_add(errs, p, "must be a non-empty string");
            continue;
        }
        if (name != NULL) {
            sc->name = strdup(name->valuestring);
        } else if (asprintf(&sc->name, "%s-%zu", type->valuestring, i) < 0) {
            sc->name = NULL;
        }
        if (sc->name == NULL) {
            cg_errs_add(errs, p, "out of memory");
            continue;
        }
        for (size_t k = 0; k < c->n_sources; k++) {
            if (strcmp(c->sources[k].name, sc->name) == 0) {
                cg_errs_add(errs, p, "'%s' is already the name of %s", sc->name, c->sources[k].path);
            }
        }
        /* The core's own key: the normaliser's rules for this source. The
         * adapter gets the section without it. */
        char np[64];
        cg_path_key(np, sizeof(np), sc->path, "normalise");
        if (c->norm != NULL &&
            cg_norm_source_parse(c->norm, cJSON_GetObjectItemCaseSensitive(s, "normalise"), np, sc->name, &sc->norm,
                                 errs) < 0) {
            sc->norm = NULL;
        } else if (c->norm == NULL) {
            check_source_norm(c, cJSON_GetObjectItemCaseSensitive(s, "normalise"), np, sc->name, errs);
        }
        sc->json = cJSON_Duplicate(s, 1);
        if (sc->json == NULL) {
            cg_errs_add(errs, sc->path, "out of memory");
            free(sc->name);
            cg_norm_source_free(sc->norm);
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(sc->json, "normalise");
        c->n_sources++;
    }
}

void cg_config_text_done(struct cg_config_text *t)
{
    if (t == NULL) {
        return;
    }
    free(t->data);
    t->data = NULL;
    t->len = 0;
}

static int load(const char *file, struct cg_config **out, struct cg_config_text *raw, struct cg_errs *errs,
                bool partial)
{
    size_t before = cg_errs_count(errs);
    char *text = NULL;
    size_t text_len = 0;
    int rc = 0;
    struct cg_config *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->file = strdup(file);
    char *tmp = strdup(file);
    c->dir = tmp ? strdup(dirname(tmp)) : NULL;
    free(tmp);
    if (c->file == NULL || c->dir == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = read_file(file, &text, &text_len, errs)) < 0) {
        goto fail;
    }
    if (raw != NULL) {
        raw->data = text;
        raw->len = text_len;
    }
    const char *end = NULL;
    c->doc = cJSON_ParseWithOpts(text, &end, 1);
    if (c->doc == NULL) {
        size_t line, col;
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + text_len ? (size_t)(at - text) : 0;
        cg_conf_locate_line_col(text, text_len, off, &line, &col);
        cg_errs_add(errs, file, "invalid JSON near line %zu, column %zu", line, col);
        rc = -EINVAL;
        goto fail;
    }
    if (raw == NULL) {
        free(text);
    }
    text = NULL;

    /* Top level: only known sections. */
    if (cg_json_check_object(c->doc, "", errs) == 0) {
        struct top_conf top = {0};
        cg_opt_parse(cg_conf_top_options, c->doc, "", &top, errs);
        cg_opt_free(cg_conf_top_options, &top);
    }
    cg_opt_parse(cg_gateway_options, cJSON_GetObjectItemCaseSensitive(c->doc, "gateway"), "gateway", &c->gw, errs);
    /* Every section after this one may read secret files. */
    errs->refuse_open_secrets = c->gw.secret_files == CG_SECRET_FILES_REFUSE;
    cg_opt_parse(cg_buffer_options, cJSON_GetObjectItemCaseSensitive(c->doc, "buffer"), "buffer", &c->buffer, errs);
    if (c->buffer.dir == NULL && c->gw.state_dir != NULL &&
        asprintf(&c->buffer.dir, "%s/buffer", c->gw.state_dir) < 0) {
        c->buffer.dir = NULL;
        rc = -ENOMEM;
        goto fail;
    }
    if (c->buffer.max_bytes == 0) {
        c->buffer.max_bytes = c->buffer.mode == CG_BUFFER_DISK ? 1073741824LL : 67108864LL;
    }
    if (c->buffer.max_bytes < 65536) {
        cg_errs_add(errs, "buffer.max_bytes", "must be at least 65536, got %lld", (long long)c->buffer.max_bytes);
    }
    if (c->gw.id == NULL) {
        char host[256];
        if (gethostname(host, sizeof(host)) != 0) {
            snprintf(host, sizeof(host), "citygate");
        }
        host[sizeof(host) - 1] = '\0';
        c->gw.id = strdup(host);
    }
    if (c->gw.id == NULL || check_tag_text(c->gw.id) < 0) {
        cg_errs_add(errs, "gateway.id", "must be a non-empty name without newlines");
    }

    struct tags_ctx tc = {.c = c};
    cg_opt_parse_map(cg_opt_find(cg_conf_top_options, "tags"), cJSON_GetObjectItemCaseSensitive(c->doc, "tags"), "tags",
                     add_tag_item, &tc, errs);
    int have_gw_tag = tc.have_gw_tag;
    if (!have_gw_tag && c->gw.id != NULL && add_tag(c, "gateway", c->gw.id) < 0) {
        cg_errs_add(errs, "tags", "out of memory");
    }

    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(c->doc, "outputs");
    if (!cJSON_IsArray(outs) || cJSON_GetArraySize(outs) == 0) {
        cg_errs_add(errs, "outputs", outs ? "must be a non-empty array" : "missing (at least one output is required)");
    } else if (cJSON_GetArraySize(outs) > CONF_MAX_OUTPUTS) {
        cg_errs_add(errs, "outputs", "at most %d outputs", CONF_MAX_OUTPUTS);
    } else {
        size_t n = (size_t)cJSON_GetArraySize(outs);
        c->outputs = calloc(n, sizeof(*c->outputs));
        if (c->outputs == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        size_t i = 0;
        for (const cJSON *o = outs->child; o; o = o->next, i++) {
            char p[32];
            cg_path_idx(p, sizeof(p), "outputs", i);
            struct cg_output_conf *oc = NULL;
            if (cg_output_conf_parse(o, p, &oc, errs) < 0 || oc == NULL) {
                cg_output_conf_free(oc);
                continue;
            }
            for (size_t k = 0; k < c->n_outputs; k++) {
                if (strcmp(cg_output_conf_name(c->outputs[k]), cg_output_conf_name(oc)) == 0) {
                    char pn[48];
                    cg_path_key(pn, sizeof(pn), p, "name");
                    cg_errs_add(errs, pn, "'%s' is already the name of outputs[%zu]", cg_output_conf_name(oc), k);
                }
            }
            c->outputs[c->n_outputs++] = oc;
        }
    }
    if (cg_http_conf_parse(cJSON_GetObjectItemCaseSensitive(c->doc, "http"), "http", &c->http, errs) < 0) {
        c->http = NULL;
    }
    if (cg_norm_conf_parse(cJSON_GetObjectItemCaseSensitive(c->doc, "normalise"), "normalise", c->dir, &c->norm,
                           errs) < 0) {
        c->norm = NULL;
    }
    parse_sources(c, cJSON_GetObjectItemCaseSensitive(c->doc, "sources"), errs);
    if (cg_alarm_conf_parse(cJSON_GetObjectItemCaseSensitive(c->doc, "alarms"), "alarms", &c->alarms, errs) < 0) {
        c->alarms = NULL;
    }

    if (cg_errs_count(errs) > before) {
        rc = -EINVAL;
        if (partial) {
            *out = c; /* what could be read, so the sources can add their errors */
            return rc;
        }
        goto fail;
    }
    *out = c;
    return 0;
fail:
    if (raw == NULL) {
        free(text);
    }
    cg_config_free(c);
    return rc < 0 ? rc : -EINVAL;
}

int cg_config_load(const char *file, struct cg_config **out, struct cg_config_text *raw, struct cg_errs *errs)
{
    return load(file, out, raw, errs, false);
}

int cg_config_load_partial(const char *file, struct cg_config **out, struct cg_config_text *raw,
                           struct cg_errs *errs)
{
    *out = NULL;
    return load(file, out, raw, errs, true);
}

void cg_config_free(struct cg_config *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n_tags; i++) {
        free((char *)c->tags[i].key);
        free((char *)c->tags[i].value);
    }
    free(c->tags);
    for (size_t i = 0; i < c->n_outputs; i++) {
        cg_output_conf_free(c->outputs[i]);
    }
    free(c->outputs);
    for (size_t i = 0; i < c->n_sources; i++) {
        free(c->sources[i].name);
        cJSON_Delete(c->sources[i].json);
        cg_norm_source_free(c->sources[i].norm);
    }
    free(c->sources);
    cg_http_conf_free(c->http);
    cg_norm_conf_free(c->norm);
    cg_alarm_conf_free(c->alarms);
    cg_opt_free(cg_gateway_options, &c->gw);
    cg_opt_free(cg_buffer_options, &c->buffer);
    cJSON_Delete(c->doc);
    free(c->file);
    free(c->dir);
    free(c);
}
