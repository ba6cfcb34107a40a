/* citygate — the MQTT source's configuration (see mqtt_conf.h): the option
 * tables that --print-options and docs/mqtt.md describe, and the parsing of
 * subscriptions, topic rules and JSON field/tag maps. */
#include "mqtt_conf.h"

#include <citygate/mqtt_url.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const cg_mqtt_version_names[] = {"3.1.1", "5", NULL};
const char *const cg_mqtt_commit_names[] = {"per_message", "group", NULL};
const char *const cg_mqtt_format_names[] = {"json", "senml", "influx", "value", "chirpstack_v4", "ttn_v3", NULL};
static const char *const time_choices[] = {"auto", "s", "ms", "us", "ns", "rfc3339", NULL};
static const char *const vtype_choices[] = {"auto", "float", "int", "uint", "bool", "string", NULL};
static const char *const prec_choices[] = {"ns", "us", "ms", "s", NULL};



const struct cg_opt cg_mqtt_source_options[] = {
    {"type", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "\"mqtt\""},
    {"name", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "source name (logs, health, default client id)"},
    {"url", CG_OPT_STRING, offsetof(struct cg_mqtt_src_conf, url), NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "broker: tcp://host:1883 or ssl://host:8883 (mqtt:// and mqtts:// too)"},
    {"mqtt_version", CG_OPT_ENUM, offsetof(struct cg_mqtt_src_conf, mqtt_version), "3.1.1", 0, 0, cg_mqtt_version_names, 0,
     "protocol version; 5 for shared subscriptions everywhere and session expiry"},
    {"client_id", CG_OPT_STRING, offsetof(struct cg_mqtt_src_conf, client_id), NULL, 0, 0, NULL, 0,
     "client identifier; default citygate-<hostname>-<source name>. Must be stable for persistent sessions"},
    {"clean_session", CG_OPT_BOOL, offsetof(struct cg_mqtt_src_conf, clean_session), "false", 0, 0, NULL, 0,
     "false: persistent session, the broker keeps QoS 1/2 messages while the gateway is away"},
    {"session_expiry_s", CG_OPT_INT, offsetof(struct cg_mqtt_src_conf, session_expiry_s), "604800", 0, 4294967295.0, NULL,
     0, "MQTT 5: how long the broker keeps the session after a disconnect"},
    CG_OPT_MQTT_KEEPALIVE_S(offsetof(struct cg_mqtt_src_conf, keepalive_s)),
    CG_OPT_MQTT_CONNECT_TIMEOUT_S(offsetof(struct cg_mqtt_src_conf, connect_timeout_s)),
    CG_OPT_RECONNECT_MIN_MS(offsetof(struct cg_mqtt_src_conf, reconnect_min_ms)),
    CG_OPT_RECONNECT_MAX_MS(offsetof(struct cg_mqtt_src_conf, reconnect_max_ms)),
    {"username", CG_OPT_STRING, offsetof(struct cg_mqtt_src_conf, username), NULL, 0, 0, NULL, 0, "user name"},
    {"password", CG_OPT_STRING, offsetof(struct cg_mqtt_src_conf, password), NULL, 0, 0, NULL, CG_OPT_SECRET,
     "password (or password_file)"},
    {"tls", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "TLS settings for ssl:// (object, see below)"},
    {"status_topic", CG_OPT_STRING, offsetof(struct cg_mqtt_src_conf, status_topic), NULL, 0, 0, NULL, 0,
     "retained online/offline topic (birth + last will); default citygate/<client_id>/status; \"\" = none"},
    {"status_online", CG_OPT_STRING, offsetof(struct cg_mqtt_src_conf, status_online), "online", 0, 0, NULL, 0,
     "birth message"},
    {"status_offline", CG_OPT_STRING, offsetof(struct cg_mqtt_src_conf, status_offline), "offline", 0, 0, NULL, 0,
     "last-will and clean-stop message"},
    {"max_payload_bytes", CG_OPT_INT, offsetof(struct cg_mqtt_src_conf, max_payload_bytes), "262144", 16, 268435455, NULL,
     0, "larger payloads are acknowledged, counted and dropped"},
    {"max_points_per_message", CG_OPT_INT, offsetof(struct cg_mqtt_src_conf, max_points_per_message), "1000", 1, 100000,
     NULL, 0, "readings one message may carry"},
    {"max_json_depth", CG_OPT_INT, offsetof(struct cg_mqtt_src_conf, max_json_depth), "32", 2, 256, NULL, 0,
     "JSON nesting limit"},
    {"emit_timeout_ms", CG_OPT_INT, offsetof(struct cg_mqtt_src_conf, emit_timeout_ms), "1000", 10, 60000, NULL, 0,
     "wait per attempt when the gateway buffer is full (the message is held, not acked, and retried)"},
    {"receive_maximum", CG_OPT_INT, offsetof(struct cg_mqtt_src_conf, receive_maximum), "64", 1, 65535, NULL, 0,
     "MQTT 5 Receive Maximum and in-flight limit for the status publishes"},
    {"silent_alarm_s", CG_OPT_INT, offsetof(struct cg_mqtt_src_conf, silent_alarm_s), "0", 0, 604800, NULL, 0,
     "default per-subscription alarm: connected but no message for this long (0 = off)"},
    {"commit", CG_OPT_ENUM, offsetof(struct cg_mqtt_src_conf, commit), "per_message", 0, 0, cg_mqtt_commit_names, 0,
     "per_message: each message is in the buffer before the next is read; group: up to 64 messages are "
     "written (and synced) together, a kill -9 may lose up to 64 acknowledged messages (docs/reliability.md)"},
    {"leave_share_groups", CG_OPT_BOOL, offsetof(struct cg_mqtt_src_conf, leave_share_groups), "true", 0, 0, NULL, 0,
     "on a clean stop, unsubscribe $share subscriptions so the other members take the load at once"},
    {"subscriptions", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "array of {topic, qos, share_group, silent_alarm_s}; default: one per rule topic, QoS 1"},
    {"rules", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "array of topic rules: first match wins (see below)"},
    CG_OPT_END,
};

static const struct cg_opt tls_opts[] = {
    CG_OPT_MQTT_TLS_ROWS(struct cg_mqtt_tls_conf),
    CG_OPT_END,
};

struct sub_conf {
    char *topic;
    int64_t qos;
    char *share_group;
    int64_t silent_alarm_s;
};

static const struct cg_opt sub_opts[] = {
    {"topic", CG_OPT_STRING, offsetof(struct sub_conf, topic), NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "topic filter (+ and # wildcards; $share/<group>/<filter> allowed)"},
    {"qos", CG_OPT_INT, offsetof(struct sub_conf, qos), "1", 0, 2, NULL, 0, "subscription QoS"},
    {"share_group", CG_OPT_STRING, offsetof(struct sub_conf, share_group), NULL, 0, 0, NULL, 0,
     "subscribe as $share/<share_group>/<topic>: gateways in one group split the messages"},
    {"silent_alarm_s", CG_OPT_INT, offsetof(struct sub_conf, silent_alarm_s), "-1", -1, 604800, NULL, 0,
     "alarm after this long without a message while connected (-1: the source default, 0: off)"},
    CG_OPT_END,
};

struct rule_conf {
    char *topic, *measurement, *topic_tag;
    int format;
    int payload_tags;
};

static const char *const payload_tags_choices[] = {"source", "protect", "override", NULL};

static const struct cg_opt rule_opts[] = {
    {"topic", CG_OPT_STRING, offsetof(struct rule_conf, topic), NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "topic pattern: literal levels, +, # and {name} levels that become tags"},
    {"format", CG_OPT_ENUM, offsetof(struct rule_conf, format), NULL, 0, 0, cg_mqtt_format_names, CG_OPT_REQUIRED,
     "payload codec"},
    {"measurement", CG_OPT_STRING, offsetof(struct rule_conf, measurement), NULL, 0, 0, NULL, 0,
     "measurement of the points (required except for influx, where it overrides the lines')"},
    {"topic_tag", CG_OPT_STRING, offsetof(struct rule_conf, topic_tag), NULL, 0, 0, NULL, 0,
     "also store the whole topic in this tag"},
    {"payload_tags", CG_OPT_ENUM, offsetof(struct rule_conf, payload_tags), "source", 0, 0, payload_tags_choices, 0,
     "a payload tag with the key of a configured static tag: protect (the configured value is written), "
     "override (the payload's), or source (the source's normalise.payload_tags)"},
    {"tags", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "static tags {\"key\": \"value\"} of this rule's points"},
    {"static_tags", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "the gateway's static tags on this rule's points: {\"gateway\": null} removes, {\"gateway\": \"cabinet\"} renames"},
    {"json", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "format json: mapping (see below)"},
    {"senml", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "format senml: {name_tag, unit_tag}"},
    {"influx", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "format influx: {precision}"},
    {"value", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "format value: {field, type}"},
    {"lorawan", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "formats chirpstack_v4 and ttn_v3: {radio}"},
    {"match", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "also require payload values: {\"dot.path\": \"text\" | number | true | false}, all must be equal "
     "(JSON formats only)"},
    CG_OPT_END,
};


static const struct cg_opt json_opts[] = {
    {"records", CG_OPT_STRING, offsetof(struct cg_mqtt_json_conf, records), NULL, 0, 0, NULL, 0,
     "dot path to an array of readings (default: the root array, or the root object as one reading)"},
    {"time", CG_OPT_STRING, offsetof(struct cg_mqtt_json_conf, time), NULL, 0, 0, NULL, 0,
     "dot path of the timestamp (default: reception time)"},
    {"time_format", CG_OPT_ENUM, offsetof(struct cg_mqtt_json_conf, time_format), "auto", 0, 0, time_choices, 0,
     "epoch s/ms/us/ns, rfc3339, or auto (number: by magnitude; string: RFC 3339)"},
    {"fields", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "{\"field\": \"path\" | {path, type, required}}; default: every scalar member"},
    {"tags", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "{\"tag\": \"path\" | {path, required}}"},
    CG_OPT_END,
};

struct map_conf {
    char *path;
    int type;
    bool required;
};

static const struct cg_opt map_opts[] = {
    {"path", CG_OPT_STRING, offsetof(struct map_conf, path), NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "dot path from the reading; \"$.a.b\" from the document root"},
    {"type", CG_OPT_ENUM, offsetof(struct map_conf, type), "auto", 0, 0, vtype_choices, 0, "value type"},
    {"required", CG_OPT_BOOL, offsetof(struct map_conf, required), "false", 0, 0, NULL, 0,
     "a reading without it is a bad payload (default: skipped)"},
    CG_OPT_END,
};


static const struct cg_opt senml_opts[] = {
    {"name_tag", CG_OPT_STRING, offsetof(struct cg_mqtt_senml_conf, name_tag), "name", 0, 0, NULL, 0,
     "tag for the resolved name (base name + name)"},
    {"unit_tag", CG_OPT_STRING, offsetof(struct cg_mqtt_senml_conf, unit_tag), "unit", 0, 0, NULL, 0,
     "tag for the resolved unit"},
    CG_OPT_END,
};

struct influx_conf {
    int precision;
};

static const struct cg_opt influx_opts[] = {
    {"precision", CG_OPT_ENUM, offsetof(struct influx_conf, precision), "ns", 0, 0, prec_choices, 0,
     "unit of the line timestamps"},
    CG_OPT_END,
};

struct lorawan_conf {
    bool radio;
};

static const struct cg_opt lorawan_opts[] = {
    {"radio", CG_OPT_BOOL, offsetof(struct lorawan_conf, radio), "false", 0, 0, NULL, 0,
     "add fields rssi, snr and gateway_id of the best receiving gateway (highest SNR)"},
    CG_OPT_END,
};

/* The network servers' uplink events (see docs/mqtt.md, "LoRaWAN network
 * servers"). Device ids are tags, the decoded object's members fields, the
 * network server's reception time the timestamp. */
static const struct cg_json_map chirpstack_v4_tags[] = {
    {.name = "dev_eui", .path = "$.deviceInfo.devEui", .required = true},
};
static const struct cg_json_map ttn_v3_tags[] = {
    {.name = "device_id", .path = "$.end_device_ids.device_id", .required = true},
    {.name = "dev_eui", .path = "$.end_device_ids.dev_eui"},
};

static const struct cg_opt value_opts[] = {
    {"field", CG_OPT_STRING, offsetof(struct cg_mqtt_value_conf, field), "value", 0, 0, NULL, 0, "field key"},
    {"type", CG_OPT_ENUM, offsetof(struct cg_mqtt_value_conf, type), "auto", 0, 0, vtype_choices, 0,
     "auto: number -> float, true/false -> bool"},
    CG_OPT_END,
};

/* The source's tables for the adapter definition (--print-options, JSON Schema). */
const struct cg_adapter_section cg_mqtt_sections[] = {
    {"tls", tls_opts, "TLS settings for ssl:// brokers."},
    {"subscriptions[]", sub_opts, "Explicit subscriptions; default: one per rule topic, QoS 1."},
    {"rules[]", rule_opts, "Topic rules: the first whose topic (and match) fits decodes the message."},
    {"rules[].json", json_opts, "format json: where the readings, timestamp, fields and tags are."},
    {"rules[].json.fields{}", map_opts, "A field mapping given as an object (a plain string is its path)."},
    {"rules[].json.tags{}", map_opts, "A tag mapping given as an object (a plain string is its path; type is ignored)."},
    {"rules[].senml", senml_opts, "format senml."},
    {"rules[].influx", influx_opts, "format influx (line protocol)."},
    {"rules[].value", value_opts, "format value: the whole payload is one value."},
    {"rules[].lorawan", lorawan_opts, "formats chirpstack_v4 and ttn_v3."},
    {NULL, NULL, NULL},
};

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The maps of a rule are read by the core's one map reader
 * (cg_opt_parse_map: object, duplicate and empty keys, value types, ${ENV});
 * the callbacks add the MQTT rules. Each map gets one element per member,
 * allocated before the walk. */
struct map_fill {
    void *arr;
    size_t *n;
    bool flag; /* tags: removable (null removes the tag); json maps: fields */
};

static int map_alloc(const cJSON *obj, size_t elem, void **out)
{
    if (!cJSON_IsObject(obj)) {
        return 0;
    }
    *out = calloc((size_t)cJSON_GetArraySize(obj) + 1, elem);
    return *out == NULL ? -ENOMEM : 0;
}

static int add_tag(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct map_fill *f = ctx;
    struct cg_tag *t = &((struct cg_tag *)f->arr)[*f->n];
    if (it->key[0] == '_' || (it->str != NULL && f->flag && (it->str[0] == '\0' || it->str[0] == '_'))) {
        cg_errs_add(errs, it->path, "tag keys must not be empty or start with '_'");
        return 0;
    }
    t->key = strdup(it->key);
    t->value = it->str ? strdup(it->str) : NULL;
    if (t->key == NULL || (it->str && t->value == NULL)) {
        free((char *)t->key);
        free((char *)t->value);
        t->key = t->value = NULL;
        return -ENOMEM;
    }
    (*f->n)++;
    return 0;
}

/* {"key": "value"}; removable: a value may be null (static_tags: remove the tag). */
static int parse_tags_object(const cJSON *obj, const char *path, bool removable, struct cg_tag **out, size_t *n,
                             struct cg_errs *errs)
{
    static const struct cg_opt tags = {.name = "tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING};
    static const struct cg_opt static_tags = {.name = "static_tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING,
                                              .flags = CG_OPT_NULLABLE};
    if (map_alloc(obj, sizeof(**out), (void **)out) < 0) {
        return -ENOMEM;
    }
    struct map_fill f = {.arr = *out, .n = n, .flag = removable};
    return cg_opt_parse_map(removable ? &static_tags : &tags, obj, path, add_tag, &f, errs);
}

static int add_json_map(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct map_fill *f = ctx;
    struct cg_json_map *e = &((struct cg_json_map *)f->arr)[*f->n];
    if (strlen(it->key) > CG_POINT_MAX_NAME) {
        cg_errs_add(errs, it->path, "name must be 1..%d bytes", CG_POINT_MAX_NAME);
        return 0;
    }
    if (cJSON_IsString(it->json)) {
        if (it->json->valuestring[0] == '\0') {
            cg_errs_add(errs, it->path, "path must not be empty");
            return 0;
        }
        e->path = strdup(it->json->valuestring);
    } else if (cJSON_IsObject(it->json)) {
        struct map_conf mc = {0};
        if (cg_opt_parse(map_opts, it->json, it->path, &mc, errs) < 0) {
            cg_opt_free(map_opts, &mc);
            return 0;
        }
        if (!f->flag && mc.type != 0) {
            char q[600];
            cg_path_key(q, sizeof(q), it->path, "type");
            cg_errs_add(errs, q, "tags are text: type is only for fields");
        }
        e->path = mc.path;
        mc.path = NULL;
        e->type = (enum cg_value_type)mc.type;
        e->required = mc.required;
        cg_opt_free(map_opts, &mc);
    } else {
        cg_errs_add(errs, it->path, "must be a path (string) or {path, type, required}");
        return 0;
    }
    e->name = strdup(it->key);
    if (e->name == NULL || e->path == NULL) {
        return -ENOMEM;
    }
    (*f->n)++;
    return 0;
}

/* json.fields / json.tags: {"name": "path"} or {"name": {path, type, required}}
 * (values of either kind: the callback checks them). */
static int parse_map(const cJSON *obj, const char *path, bool fields, struct cg_json_map **out, size_t *n,
                     struct cg_errs *errs)
{
    static const struct cg_opt map = {.name = "fields", .type = CG_OPT_MAP, .elem = CG_OPT_OTHER};
    if (map_alloc(obj, sizeof(**out), (void **)out) < 0) {
        return -ENOMEM;
    }
    struct map_fill f = {.arr = *out, .n = n, .flag = fields};
    return cg_opt_parse_map(&map, obj, path, add_json_map, &f, errs);
}

/* --check-config: tell the core which names this rule writes, so that names
 * the city schema does not know are reported before any message arrives. */
static void expect_fields(struct cg_mqtt_conf *m, const char *path, const struct cg_mqtt_rule *r)
{
    if (m->sink == NULL || r->measurement == NULL) {
        return;
    }
    switch (r->format) {
    case CG_MQTT_FMT_JSON:
    case CG_MQTT_FMT_CHIRPSTACK_V4:
    case CG_MQTT_FMT_TTN_V3:
        for (size_t i = 0; i < r->n_fields; i++) {
            cg_sink_expect_field(m->sink, path, r->measurement, r->fields[i].name);
        }
        if (r->n_fields == 0) {
            cg_sink_expect_field(m->sink, path, r->measurement, NULL);
        }
        break;
    case CG_MQTT_FMT_SENML:
        cg_sink_expect_field(m->sink, path, r->measurement, "value");
        break;
    case CG_MQTT_FMT_VALUE:
        cg_sink_expect_field(m->sink, path, r->measurement, r->value.field ? r->value.field : "value");
        break;
    default:
        cg_sink_expect_field(m->sink, path, r->measurement, NULL);
        break;
    }
}

/* The start of reading "match" (its values are scalars of any JSON type, its
 * keys document paths): it must be an object without duplicate keys;
 * allocates one element per member. 1: go on; 0: absent; < 0: error. */
static int object_begin(const cJSON *obj, const char *path, size_t elem, void **out, struct cg_errs *errs)
{
    if (obj == NULL) {
        return 0;
    }
    if (cg_json_check_object(obj, path, errs) < 0 || !cJSON_IsObject(obj)) {
        return -EINVAL;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(obj);
    *out = calloc(cnt ? cnt : 1, elem);
    return *out == NULL ? -ENOMEM : 1;
}

/* "match": {"dot.path": scalar}. Only for the JSON-based formats: the others
 * have no document to look into. */
static int parse_match(const cJSON *obj, const char *path, int format, struct cg_mqtt_rule *r, struct cg_errs *errs)
{
    char p[512];
    if (obj == NULL) {
        return 0;
    }
    if (format != CG_MQTT_FMT_JSON && format != CG_MQTT_FMT_CHIRPSTACK_V4 && format != CG_MQTT_FMT_TTN_V3) {
        cg_errs_add(errs, path, "only for formats json, chirpstack_v4 and ttn_v3 (this rule is format %s)",
                    cg_mqtt_format_names[format]);
        return -EINVAL;
    }
    if (cJSON_IsObject(obj) && cJSON_GetArraySize(obj) == 0) {
        cg_errs_add(errs, path, "must not be empty");
        return -EINVAL;
    }
    if (cJSON_IsObject(obj) && cJSON_GetArraySize(obj) > CG_MQTT_MATCH_MAX) {
        cg_errs_add(errs, path, "at most %d conditions", CG_MQTT_MATCH_MAX);
        return -EINVAL;
    }
    void *mem = NULL;
    int rc = object_begin(obj, path, sizeof(*r->match), &mem, errs);
    if (rc <= 0) {
        return rc;
    }
    r->match = mem;
    for (const cJSON *it = obj->child; it; it = it->next) {
        cg_path_key(p, sizeof(p), path, it->string);
        struct cg_mqtt_match *e = &r->match[r->n_match];
        const char *key = strncmp(it->string, "$.", 2) == 0 ? it->string + 2 : it->string;
        if (key[0] == '\0') {
            cg_errs_add(errs, p, "path must not be empty");
            continue;
        }
        if (cJSON_IsString(it)) {
            e->type = CG_J_STRING;
            e->text = strdup(it->valuestring);
        } else if (cJSON_IsNumber(it)) {
            e->type = CG_J_NUMBER;
            e->num = it->valuedouble;
        } else if (cJSON_IsBool(it)) {
            e->type = cJSON_IsTrue(it) ? CG_J_TRUE : CG_J_FALSE;
        } else {
            cg_errs_add(errs, p, "must be a string, a number, true or false");
            continue;
        }
        e->path = strdup(key);
        if (e->path == NULL || (e->type == CG_J_STRING && e->text == NULL)) {
            free(e->path);
            free(e->text);
            return -ENOMEM;
        }
        r->n_match++;
    }
    return 0;
}

static int parse_rule(struct cg_mqtt_conf *m, const cJSON *obj, const char *path, struct cg_mqtt_rule *r,
                      struct cg_errs *errs)
{
    char p[512];
    struct rule_conf rc = {0};
    size_t before = cg_errs_count(errs);
    int ret = 0;
    if (cg_opt_parse(rule_opts, obj, path, &rc, errs) < 0 && !cJSON_IsObject(obj)) {
        cg_opt_free(rule_opts, &rc);
        return -EINVAL;
    }
    r->format = rc.format;
    if (rc.topic != NULL) {
        const char *why = NULL;
        cg_path_key(p, sizeof(p), path, "topic");
        int e = cg_topic_pattern_compile(&r->pat, rc.topic, &why);
        if (e == -ENOMEM) {
            ret = -ENOMEM;
            goto out;
        }
        if (e < 0) {
            cg_errs_add(errs, p, "%s, got '%s'", why, rc.topic);
        }
        r->pattern_text = xstrdup(rc.topic);
    }
    if (rc.measurement == NULL && rc.format != CG_MQTT_FMT_INFLUX) {
        cg_path_key(p, sizeof(p), path, "measurement");
        cg_errs_add(errs, p, "missing (required for format %s)", cg_mqtt_format_names[rc.format]);
    }
    if (rc.measurement != NULL && (rc.measurement[0] == '\0' || rc.measurement[0] == '_')) {
        cg_path_key(p, sizeof(p), path, "measurement");
        cg_errs_add(errs, p, "must not be empty or start with '_'");
    }
    r->measurement = rc.measurement;
    rc.measurement = NULL;
    r->topic_tag = rc.topic_tag;
    rc.topic_tag = NULL;
    r->payload_tags = rc.payload_tags - 1;

    cg_path_key(p, sizeof(p), path, "tags");
    if ((ret = parse_tags_object(cJSON_GetObjectItemCaseSensitive(obj, "tags"), p, false, &r->tags, &r->n_tags,
                                 errs)) == -ENOMEM) {
        goto out;
    }
    cg_path_key(p, sizeof(p), path, "static_tags");
    if ((ret = parse_tags_object(cJSON_GetObjectItemCaseSensitive(obj, "static_tags"), p, true, &r->static_tags,
                                 &r->n_static_tags, errs)) == -ENOMEM) {
        goto out;
    }
    ret = 0;
    if (r->pat.n_captures + r->n_tags + (r->topic_tag ? 1 : 0) > CG_POINT_MAX_TAGS / 2) {
        cg_errs_add(errs, path, "too many tags from the topic and the rule (max %d)", CG_POINT_MAX_TAGS / 2);
    }

    /* codec sections: only the one matching format */
    /* codec sections: only the one of this format (by CG_MQTT_FMT_*) */
    static const char *const section_of[] = {"json", "senml", "influx", "value", "lorawan", "lorawan"};
    static const char *const sections[] = {"json", "senml", "influx", "value", "lorawan"};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, sections[i]);
        if (s != NULL && strcmp(sections[i], section_of[rc.format]) != 0) {
            cg_path_key(p, sizeof(p), path, sections[i]);
            cg_errs_add(errs, p, "only for format %s (this rule is format %s)",
                        i == 4 ? "chirpstack_v4 or ttn_v3" : sections[i], cg_mqtt_format_names[rc.format]);
        }
    }
    cg_path_key(p, sizeof(p), path, "match");
    if ((ret = parse_match(cJSON_GetObjectItemCaseSensitive(obj, "match"), p, rc.format, r, errs)) == -ENOMEM) {
        goto out;
    }
    ret = 0;
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(obj, section_of[rc.format]);
    cg_path_key(p, sizeof(p), path, section_of[rc.format]);
    unsigned depth = (unsigned)m->c.max_json_depth;
    switch (rc.format) {
    case CG_MQTT_FMT_JSON: {
        cg_opt_parse(json_opts, sec, p, &r->jc, errs);
        char q[600];
        cg_path_key(q, sizeof(q), p, "fields");
        if (parse_map(sec ? cJSON_GetObjectItemCaseSensitive(sec, "fields") : NULL, q, true, &r->fields,
                      &r->n_fields, errs) == -ENOMEM) {
            ret = -ENOMEM;
            goto out;
        }
        cg_path_key(q, sizeof(q), p, "tags");
        if (parse_map(sec ? cJSON_GetObjectItemCaseSensitive(sec, "tags") : NULL, q, false, &r->jtags, &r->n_jtags,
                      errs) == -ENOMEM) {
            ret = -ENOMEM;
            goto out;
        }
        r->json = (struct cg_codec_json_conf){
            .records = r->jc.records,
            .time_path = r->jc.time,
            .time_format = (enum cg_time_format)r->jc.time_format,
            .fields = r->fields,
            .n_fields = r->n_fields,
            .tags = r->jtags,
            .n_tags = r->n_jtags,
            .max_depth = depth,
        };
        break;
    }
    case CG_MQTT_FMT_SENML:
        cg_opt_parse(senml_opts, sec, p, &r->sc, errs);
        r->senml = (struct cg_codec_senml_conf){.name_tag = r->sc.name_tag, .unit_tag = r->sc.unit_tag,
                                                .max_depth = depth};
        break;
    case CG_MQTT_FMT_INFLUX: {
        struct influx_conf ic = {0};
        cg_opt_parse(influx_opts, sec, p, &ic, errs);
        static const int64_t mult[] = {1, 1000, 1000000, 1000000000};
        r->lp.precision_ns = mult[ic.precision];
        cg_opt_free(influx_opts, &ic);
        break;
    }
    case CG_MQTT_FMT_VALUE:
        cg_opt_parse(value_opts, sec, p, &r->vc, errs);
        r->value = (struct cg_codec_value_conf){.field = r->vc.field, .type = (enum cg_value_type)r->vc.type};
        break;
    case CG_MQTT_FMT_CHIRPSTACK_V4:
    case CG_MQTT_FMT_TTN_V3: {
        struct lorawan_conf lc = {0};
        cg_opt_parse(lorawan_opts, sec, p, &lc, errs);
        bool cs = rc.format == CG_MQTT_FMT_CHIRPSTACK_V4;
        /* ChirpStack v4: "time" is the network server's reception time, always
         * set. TTS v3: uplink_message.received_at is the Network Server's
         * reception time, closest to the air time; the top-level received_at
         * is the Application Server's (later), rx_metadata[].time the
         * gateway's (only with a GPS, often absent or wrong). */
        r->json = (struct cg_codec_json_conf){
            .records = cs ? "object" : "uplink_message.decoded_payload",
            .records_why = cs ? "no decoded object (\"object\")"
                              : "no decoded payload (\"uplink_message.decoded_payload\")",
            .time_path = cs ? "$.time" : "$.uplink_message.received_at",
            .time_format = CG_TIME_RFC3339,
            .tags = cs ? chirpstack_v4_tags : ttn_v3_tags,
            .n_tags = cs ? 1 : 2,
            .max_depth = depth,
        };
        if (lc.radio) {
            r->json.radio = cs ? (struct cg_codec_radio_conf){.array = "rxInfo", .gateway_id = "gatewayId",
                                                              .rssi = "rssi", .snr = "snr"}
                               : (struct cg_codec_radio_conf){.array = "uplink_message.rx_metadata",
                                                              .gateway_id = "gateway_ids.gateway_id",
                                                              .rssi = "rssi", .snr = "snr"};
        }
        cg_opt_free(lorawan_opts, &lc);
        break;
    }
    }
out:
    cg_opt_free(rule_opts, &rc);
    if (ret == 0 && cg_errs_count(errs) > before) {
        ret = -EINVAL;
    }
    return ret;
}

static int add_sub(struct cg_mqtt_conf *m, const char *topic, int qos, const char *share, int64_t alarm,
                   const char *path, struct cg_errs *errs)
{
    const char *why = NULL, *g = NULL, *f = NULL;
    size_t gl = 0;
    int shared = cg_topic_share_split(topic, &g, &gl, &f, &why);
    if (shared < 0) {
        cg_errs_add(errs, path, "%s, got '%s'", why, topic);
        return -EINVAL;
    }
    if (shared && share != NULL) {
        cg_errs_add(errs, path, "give share_group or a $share/ topic, not both");
        return -EINVAL;
    }
    if (cg_topic_filter_check(f, &why) < 0) {
        cg_errs_add(errs, path, "%s, got '%s'", why, f);
        return -EINVAL;
    }
    if (share != NULL && (share[0] == '\0' || strpbrk(share, "/+#") != NULL)) {
        cg_errs_add(errs, path, "share_group must be non-empty without '/', '+' or '#', got '%s'", share);
        return -EINVAL;
    }
    for (size_t i = 0; i < m->n_subs; i++) {
        if (strcmp(m->subs[i].filter, f) == 0) {
            cg_errs_add(errs, path, "topic filter '%s' subscribed twice", f);
            return -EINVAL;
        }
    }
    struct cg_mqtt_sub *s = &m->subs[m->n_subs];
    memset(s, 0, sizeof(*s));
    size_t len = strlen(topic) + (share ? strlen(share) + 8 : 0) + 1;
    s->wire = malloc(len);
    if (s->wire == NULL) {
        return -ENOMEM;
    }
    if (m->observer) {
        snprintf(s->wire, len, "%s", f); /* a guest must not take the group's messages */
    } else if (share != NULL) {
        snprintf(s->wire, len, "$share/%s/%s", share, topic);
    } else {
        snprintf(s->wire, len, "%s", topic);
    }
    s->filter = s->wire + (strlen(s->wire) - strlen(f));
    s->qos = qos;
    s->silent_alarm_s = alarm < 0 ? m->c.silent_alarm_s : alarm;
    m->n_subs++;
    return 0;
}

static void sanitize_id(char *s)
{
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.')) {
            *s = '_';
        }
    }
}

int cg_mqtt_conf_parse(struct cg_mqtt_conf *m, const cJSON *conf, const char *path, struct cg_sink *sink,
                       struct cg_errs *errs)
{
    char p[512];
    int rc = 0;
    size_t before = cg_errs_count(errs);
    memset(m, 0, sizeof(*m));
    m->sink = sink;
    m->name = sink ? cg_sink_source_name(sink) : "mqtt";
    m->observer = sink != NULL && cg_sink_dry_run(sink) && !cg_sink_check_only(sink);

    cg_opt_parse(cg_mqtt_source_options, conf, path, &m->c, errs);
    if (m->c.url != NULL) {
        cg_path_key(p, sizeof(p), path, "url");
        if (cg_mqtt_broker_url(m->c.url, p, &m->url, &m->ssl, errs) == -ENOMEM) {
            rc = -ENOMEM;
            goto out;
        }
    }
    if (m->c.reconnect_min_ms > m->c.reconnect_max_ms) {
        cg_path_key(p, sizeof(p), path, "reconnect_min_ms");
        cg_errs_add(errs, p, "must not exceed reconnect_max_ms (%lld), got %lld", (long long)m->c.reconnect_max_ms,
                    (long long)m->c.reconnect_min_ms);
    }
    if (m->c.username != NULL && m->c.username[0] == '\0') {
        cg_path_key(p, sizeof(p), path, "username");
        cg_errs_add(errs, p, "must not be empty; leave username and password out for none");
    }
    if (m->c.password != NULL && m->c.username == NULL) {
        cg_path_key(p, sizeof(p), path, "password");
        cg_errs_add(errs, p, "needs username");
    }

    const cJSON *tls = cJSON_GetObjectItemCaseSensitive(conf, "tls");
    cg_path_key(p, sizeof(p), path, "tls");
    cg_opt_parse(tls_opts, tls, p, &m->tls, errs);
    m->has_tls_conf = tls != NULL;
    if (tls != NULL && !m->ssl && m->url != NULL) {
        cg_errs_add(errs, p, "given, but url is not ssl:// or mqtts://");
    }
    if ((m->tls.cert_file == NULL) != (m->tls.key_file == NULL)) {
        cg_errs_add(errs, p, "cert_file and key_file go together");
    }

    /* client id, status topic */
    char host[128] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if (m->c.client_id != NULL) {
        cg_path_key(p, sizeof(p), path, "client_id");
        if (m->c.client_id[0] == '\0' || strlen(m->c.client_id) > 256) {
            cg_errs_add(errs, p, "must be 1..256 bytes");
        }
        m->client_id = xstrdup(m->c.client_id);
    } else {
        size_t n = strlen(host) + strlen(m->name) + 16;
        m->client_id = malloc(n);
        if (m->client_id != NULL) {
            snprintf(m->client_id, n, "citygate-%s-%s", host, m->name);
            sanitize_id(m->client_id);
        }
    }
    if (m->client_id != NULL && m->observer) {
        /* Same id as the daemon: the broker would drop one of the two
         * connections on each connect (a "connection lost" loop in both) and
         * the guest would take messages of the daemon's persistent session. */
        size_t n = strlen(m->client_id) + 40;
        char *id = malloc(n);
        if (id != NULL) {
            snprintf(id, n, "%s-%s-%ld", m->client_id, (sink != NULL && cg_sink_test_mode(sink)) ? "test" : "dryrun",
                     (long)getpid());
        }
        free(m->client_id);
        m->client_id = id;
        m->c.clean_session = true;
    }
    if (m->client_id == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (m->c.status_topic == NULL) {
        size_t n = strlen(m->client_id) + 32;
        m->status_topic = malloc(n);
        if (m->status_topic == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        snprintf(m->status_topic, n, "citygate/%s/status", m->client_id);
    } else if (m->c.status_topic[0] != '\0') {
        const char *why;
        cg_path_key(p, sizeof(p), path, "status_topic");
        if (cg_topic_filter_check(m->c.status_topic, &why) < 0 || strpbrk(m->c.status_topic, "+#") != NULL) {
            cg_errs_add(errs, p, "must be a topic without wildcards, got '%s'", m->c.status_topic);
        }
        m->status_topic = xstrdup(m->c.status_topic);
    }
    if (m->observer) { /* no birth/will: the daemon's status topic is not the guest's to change */
        free(m->status_topic);
        m->status_topic = NULL;
    }

    /* rules */
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(conf, "rules");
    cg_path_key(p, sizeof(p), path, "rules");
    if (rules != NULL && (!cJSON_IsArray(rules) || cJSON_GetArraySize(rules) == 0)) {
        cg_errs_add(errs, p, "must be a non-empty array of rules");
    } else if (rules != NULL) {
        size_t n = (size_t)cJSON_GetArraySize(rules);
        m->rules = calloc(n, sizeof(*m->rules));
        if (m->rules == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        size_t i = 0;
        for (const cJSON *it = rules->child; it; it = it->next, i++) {
            char rp[512];
            cg_path_idx(rp, sizeof(rp), p, i);
            m->n_rules = i + 1;
            if (parse_rule(m, it, rp, &m->rules[i], errs) == -ENOMEM) {
                rc = -ENOMEM;
                goto out;
            }
            expect_fields(m, rp, &m->rules[i]);
        }
    }

    /* subscriptions: given, or one per rule filter */
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(conf, "subscriptions");
    cg_path_key(p, sizeof(p), path, "subscriptions");
    if (subs != NULL && (!cJSON_IsArray(subs) || cJSON_GetArraySize(subs) == 0)) {
        cg_errs_add(errs, p, "must be a non-empty array of {topic, qos}");
    } else if (subs != NULL) {
        size_t n = (size_t)cJSON_GetArraySize(subs);
        m->subs = calloc(n, sizeof(*m->subs));
        if (m->subs == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        size_t i = 0;
        for (const cJSON *it = subs->child; it; it = it->next, i++) {
            char sp[512], tp[600];
            struct sub_conf sc = {0};
            cg_path_idx(sp, sizeof(sp), p, i);
            if (cg_opt_parse(sub_opts, it, sp, &sc, errs) == 0) {
                cg_path_key(tp, sizeof(tp), sp, "topic");
                if (add_sub(m, sc.topic, (int)sc.qos, sc.share_group, sc.silent_alarm_s, tp, errs) == -ENOMEM) {
                    cg_opt_free(sub_opts, &sc);
                    rc = -ENOMEM;
                    goto out;
                }
            }
            cg_opt_free(sub_opts, &sc);
        }
    } else if (m->n_rules > 0) {
        m->subs = calloc(m->n_rules, sizeof(*m->subs));
        if (m->subs == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < m->n_rules; i++) {
            if (m->rules[i].pat.filter == NULL) {
                continue;
            }
            bool dup = false;
            for (size_t k = 0; k < m->n_subs; k++) {
                dup |= strcmp(m->subs[k].filter, m->rules[i].pat.filter) == 0;
            }
            if (!dup) {
                char rp[512];
                snprintf(rp, sizeof(rp), "%s.rules[%zu].topic", path, i);
                if (add_sub(m, m->rules[i].pat.filter, 1, NULL, -1, rp, errs) == -ENOMEM) {
                    rc = -ENOMEM;
                    goto out;
                }
            }
        }
    }
out:
    if (rc == 0 && cg_errs_count(errs) > before) {
        rc = -EINVAL;
    }
    if (rc < 0) {
        cg_mqtt_conf_done(m);
    }
    return rc;
}

void cg_mqtt_conf_done(struct cg_mqtt_conf *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->n_subs; i++) {
        free(m->subs[i].wire);
    }
    free(m->subs);
    for (size_t i = 0; i < m->n_rules; i++) {
        struct cg_mqtt_rule *r = &m->rules[i];
        cg_topic_pattern_done(&r->pat);
        free(r->pattern_text);
        free(r->measurement);
        free(r->topic_tag);
        for (size_t k = 0; k < r->n_tags; k++) {
            free((char *)r->tags[k].key);
            free((char *)r->tags[k].value);
        }
        free(r->tags);
        for (size_t k = 0; k < r->n_static_tags; k++) {
            free((char *)r->static_tags[k].key);
            free((char *)r->static_tags[k].value);
        }
        free(r->static_tags);
        for (size_t k = 0; k < r->n_fields; k++) {
            free((char *)r->fields[k].name);
            free((char *)r->fields[k].path);
        }
        free(r->fields);
        for (size_t k = 0; k < r->n_jtags; k++) {
            free((char *)r->jtags[k].name);
            free((char *)r->jtags[k].path);
        }
        free(r->jtags);
        cg_opt_free(json_opts, &r->jc);
        cg_opt_free(senml_opts, &r->sc);
        cg_opt_free(value_opts, &r->vc);
        for (size_t k = 0; k < r->n_match; k++) {
            free(r->match[k].path);
            free(r->match[k].text);
        }
        free(r->match);
    }
    free(m->rules);
    cg_opt_free(cg_mqtt_source_options, &m->c);
    cg_opt_free(tls_opts, &m->tls);
    free(m->client_id);
    free(m->status_topic);
    free(m->url);
    memset(m, 0, sizeof(*m));
}
