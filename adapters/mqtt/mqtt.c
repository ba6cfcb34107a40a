/* citygate — the MQTT source: Eclipse Paho MQTT C (async API), topic rules,
 * payload codecs, hand-over to the core.
 *
 * Delivery. Paho C acknowledges an incoming QoS 1 PUBLISH (PUBACK) and a QoS 2
 * one (PUBREC) itself, before messageArrived runs (MQTTProtocolClient.c,
 * "send puback before processing the publications"). Returning 0 from
 * messageArrived does not withhold the ack: Paho puts the already-acked
 * message on its own client-side queue (unbounded; written to its file store
 * when persistence is on) and retries it about once per receive cycle. So we
 * never use that as flow control. Instead the message is decoded and handed
 * to the core inside the callback, on Paho's receive thread, and while the
 * core's buffer is full the callback waits (emit_timeout_ms at a time, until
 * accepted or stopping). While it waits Paho reads nothing more from the
 * socket, so no further message is acknowledged: the broker keeps everything
 * else in the (persistent) session, and TCP back-pressure bounds memory. At
 * most one message per connection is ever "acked but not yet accepted" (the
 * one in hand). If the gateway stops while holding one, we return 0 and Paho's
 * file persistence (persistent sessions only) keeps it for the next start.
 *
 * Bad payloads (unparsable, too large, NaN/Inf, bad UTF-8, unmatched topics)
 * are acknowledged at once, counted and logged rate-limited with the topic and
 * the first bytes; they never hold the connection or any credit.
 *
 * Reconnects are ours, not Paho's automaticReconnect: a watchdog thread
 * connects with exponential backoff (reconnect_min_ms doubling to
 * reconnect_max_ms, +-20 % jitter), and every successful connect subscribes
 * again to every filter, whatever the broker says about the session. The
 * same thread raises the per-subscription "connected but silent" alarm. */
#include <citygate/adapter.h>

#include "codec.h"
#include "topic.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FIRST_BYTES 48

/* ---- configuration ------------------------------------------------------ */

enum { V311 = 0, V5 = 1 };
enum { FMT_JSON = 0, FMT_SENML, FMT_INFLUX, FMT_VALUE };

static const char *const version_choices[] = {"3.1.1", "5", NULL};
static const char *const format_choices[] = {"json", "senml", "influx", "value", NULL};
static const char *const time_choices[] = {"auto", "s", "ms", "us", "ns", "rfc3339", NULL};
static const char *const vtype_choices[] = {"auto", "float", "int", "uint", "bool", "string", NULL};
static const char *const prec_choices[] = {"ns", "us", "ms", "s", NULL};

struct tls_conf {
    char *ca_file, *cert_file, *key_file, *key_password;
    bool verify;
};

struct src_conf {
    char *url;
    int mqtt_version;
    char *client_id;
    bool clean_session;
    int64_t session_expiry_s, keepalive_s, connect_timeout_s;
    int64_t reconnect_min_ms, reconnect_max_ms;
    char *username, *password;
    char *status_topic, *status_online, *status_offline;
    int64_t max_payload_bytes, max_points_per_message, max_json_depth;
    int64_t emit_timeout_ms, receive_maximum, silent_alarm_s;
    bool leave_share_groups;
};

static const struct cg_opt src_opts[] = {
    {"type", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "\"mqtt\""},
    {"name", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "source name (logs, health, default client id)"},
    {"url", CG_OPT_STRING, offsetof(struct src_conf, url), NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "broker: tcp://host:1883 or ssl://host:8883 (mqtt:// and mqtts:// too)"},
    {"mqtt_version", CG_OPT_ENUM, offsetof(struct src_conf, mqtt_version), "3.1.1", 0, 0, version_choices, 0,
     "protocol version; 5 for shared subscriptions everywhere and session expiry"},
    {"client_id", CG_OPT_STRING, offsetof(struct src_conf, client_id), NULL, 0, 0, NULL, 0,
     "client identifier; default citygate-<hostname>-<source name>. Must be stable for persistent sessions"},
    {"clean_session", CG_OPT_BOOL, offsetof(struct src_conf, clean_session), "false", 0, 0, NULL, 0,
     "false: persistent session, the broker keeps QoS 1/2 messages while the gateway is away"},
    {"session_expiry_s", CG_OPT_INT, offsetof(struct src_conf, session_expiry_s), "604800", 0, 4294967295.0, NULL,
     0, "MQTT 5: how long the broker keeps the session after a disconnect"},
    CG_OPT_MQTT_KEEPALIVE_S(offsetof(struct src_conf, keepalive_s)),
    CG_OPT_MQTT_CONNECT_TIMEOUT_S(offsetof(struct src_conf, connect_timeout_s)),
    CG_OPT_RECONNECT_MIN_MS(offsetof(struct src_conf, reconnect_min_ms)),
    CG_OPT_RECONNECT_MAX_MS(offsetof(struct src_conf, reconnect_max_ms)),
    {"username", CG_OPT_STRING, offsetof(struct src_conf, username), NULL, 0, 0, NULL, 0, "user name"},
    {"password", CG_OPT_STRING, offsetof(struct src_conf, password), NULL, 0, 0, NULL, CG_OPT_SECRET,
     "password (or password_file)"},
    {"tls", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "TLS settings for ssl:// (object, see below)"},
    {"status_topic", CG_OPT_STRING, offsetof(struct src_conf, status_topic), NULL, 0, 0, NULL, 0,
     "retained online/offline topic (birth + last will); default citygate/<client_id>/status; \"\" = none"},
    {"status_online", CG_OPT_STRING, offsetof(struct src_conf, status_online), "online", 0, 0, NULL, 0,
     "birth message"},
    {"status_offline", CG_OPT_STRING, offsetof(struct src_conf, status_offline), "offline", 0, 0, NULL, 0,
     "last-will and clean-stop message"},
    {"max_payload_bytes", CG_OPT_INT, offsetof(struct src_conf, max_payload_bytes), "262144", 16, 268435455, NULL,
     0, "larger payloads are acknowledged, counted and dropped"},
    {"max_points_per_message", CG_OPT_INT, offsetof(struct src_conf, max_points_per_message), "1000", 1, 100000,
     NULL, 0, "readings one message may carry"},
    {"max_json_depth", CG_OPT_INT, offsetof(struct src_conf, max_json_depth), "32", 2, 256, NULL, 0,
     "JSON nesting limit"},
    {"emit_timeout_ms", CG_OPT_INT, offsetof(struct src_conf, emit_timeout_ms), "1000", 10, 60000, NULL, 0,
     "wait per attempt when the gateway buffer is full (the message is held, not acked, and retried)"},
    {"receive_maximum", CG_OPT_INT, offsetof(struct src_conf, receive_maximum), "64", 1, 65535, NULL, 0,
     "MQTT 5 Receive Maximum and in-flight limit for the status publishes"},
    {"silent_alarm_s", CG_OPT_INT, offsetof(struct src_conf, silent_alarm_s), "0", 0, 604800, NULL, 0,
     "default per-subscription alarm: connected but no message for this long (0 = off)"},
    {"leave_share_groups", CG_OPT_BOOL, offsetof(struct src_conf, leave_share_groups), "true", 0, 0, NULL, 0,
     "on a clean stop, unsubscribe $share subscriptions so the other members take the load at once"},
    {"subscriptions", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "array of {topic, qos, share_group, silent_alarm_s}; default: one per rule topic, QoS 1"},
    {"rules", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "array of topic rules: first match wins (see below)"},
    CG_OPT_END,
};

static const struct cg_opt tls_opts[] = {
    CG_OPT_MQTT_TLS_ROWS(struct tls_conf),
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
    {"format", CG_OPT_ENUM, offsetof(struct rule_conf, format), NULL, 0, 0, format_choices, CG_OPT_REQUIRED,
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
    CG_OPT_END,
};

struct json_conf {
    char *records, *time;
    int time_format;
};

static const struct cg_opt json_opts[] = {
    {"records", CG_OPT_STRING, offsetof(struct json_conf, records), NULL, 0, 0, NULL, 0,
     "dot path to an array of readings (default: the root array, or the root object as one reading)"},
    {"time", CG_OPT_STRING, offsetof(struct json_conf, time), NULL, 0, 0, NULL, 0,
     "dot path of the timestamp (default: reception time)"},
    {"time_format", CG_OPT_ENUM, offsetof(struct json_conf, time_format), "auto", 0, 0, time_choices, 0,
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

struct senml_conf {
    char *name_tag, *unit_tag;
};

static const struct cg_opt senml_opts[] = {
    {"name_tag", CG_OPT_STRING, offsetof(struct senml_conf, name_tag), "name", 0, 0, NULL, 0,
     "tag for the resolved name (base name + name)"},
    {"unit_tag", CG_OPT_STRING, offsetof(struct senml_conf, unit_tag), "unit", 0, 0, NULL, 0,
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

struct value_conf {
    char *field;
    int type;
};

static const struct cg_opt value_opts[] = {
    {"field", CG_OPT_STRING, offsetof(struct value_conf, field), "value", 0, 0, NULL, 0, "field key"},
    {"type", CG_OPT_ENUM, offsetof(struct value_conf, type), "auto", 0, 0, vtype_choices, 0,
     "auto: number -> float, true/false -> bool"},
    CG_OPT_END,
};

/* ---- runtime state ------------------------------------------------------ */

struct mqtt;

struct sub {
    struct mqtt *m;
    char *wire;         /* as sent in SUBSCRIBE ($share/g/f or f) */
    const char *filter; /* the part matched against topics (inside wire) */
    int qos;
    int64_t silent_alarm_s;
    atomic_uint_fast64_t messages;
    atomic_int_fast64_t last_msg_ms;
    atomic_int subscribed; /* granted by the broker on this connection */
    atomic_int silent;
    struct cg_complain silent_c; /* watchdog thread only */
};

struct rule {
    struct cg_topic_pattern pat;
    char *pattern_text;
    int format;
    char *measurement; /* may be NULL for influx */
    char *topic_tag;
    int payload_tags; /* -1 the source's setting, 0 protect, 1 override */
    struct cg_tag *tags; /* static tags */
    size_t n_tags;
    struct cg_tag *static_tags; /* the gateway's static tags renamed (value) or removed (NULL) on this rule */
    size_t n_static_tags;
    struct json_conf jc;
    struct cg_json_map *fields, *jtags;
    size_t n_fields, n_jtags;
    struct cg_codec_json_conf json;
    struct senml_conf sc;
    struct cg_codec_senml_conf senml;
    struct cg_codec_lp_conf lp;
    struct value_conf vc;
    struct cg_codec_value_conf value;
    atomic_uint_fast64_t messages, bad, points;
    _Atomic(const char *) last_error; /* static text */
};

enum bad_kind { BAD_PARSE, BAD_TOO_LARGE, BAD_NONFINITE, BAD_UTF8, BAD_EMPTY, BAD_RANGE, BAD_REJECTED, BAD_N };
static const char *const bad_names[BAD_N] = {"parse", "too_large", "nonfinite", "utf8", "empty", "range",
                                             "rejected"};

struct mqtt {
    struct src_conf c;
    struct tls_conf tls;
    bool has_tls_conf;
    struct cg_sink *sink;
    const char *name;
    /* --dry-run / --test: a guest beside a daemon that may run the same
     * config: own client id, clean session, no status topic, no share group */
    bool observer;
    char *client_id;
    char *status_topic; /* NULL: none */
    char *url;          /* normalised for Paho (tcp:// or ssl://) */
    bool ssl;
    struct sub *subs;
    size_t n_subs;
    struct rule *rules;
    size_t n_rules;

    MQTTAsync client;
    bool client_created;
    pthread_t watchdog;
    bool watchdog_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_int stopping;
    atomic_int connected;
    bool connecting;          /* lock */
    int64_t next_connect_ms;  /* lock */
    int64_t backoff_ms;       /* lock */
    int64_t connected_ms;     /* lock */
    char last_error[256];     /* lock */
    atomic_int_fast64_t last_ok_ns;

    /* the receive thread's own */
    struct cg_batch batch;
    struct cg_complain bad_c, unmatched_c, full_c, reject_c;
    struct cg_complain conn_c; /* under lock */

    atomic_uint_fast64_t messages, points, unmatched, held, redeliver, connects, conn_failures;
    atomic_uint_fast64_t bad[BAD_N];
};

static int64_t mono_ms(void)
{
    return cg_time_mono_ms();
}

static void set_error(struct mqtt *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct mqtt *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&m->lock);
    vsnprintf(m->last_error, sizeof(m->last_error), fmt, ap);
    pthread_mutex_unlock(&m->lock);
    va_end(ap);
}

/* ---- create: parse and validate (no I/O) -------------------------------- */

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
static void expect_fields(struct mqtt *m, const char *path, const struct rule *r)
{
    if (m->sink == NULL || r->measurement == NULL) {
        return;
    }
    switch (r->format) {
    case FMT_JSON:
        for (size_t i = 0; i < r->n_fields; i++) {
            cg_sink_expect_field(m->sink, path, r->measurement, r->fields[i].name);
        }
        if (r->n_fields == 0) {
            cg_sink_expect_field(m->sink, path, r->measurement, NULL);
        }
        break;
    case FMT_SENML:
        cg_sink_expect_field(m->sink, path, r->measurement, "value");
        break;
    case FMT_VALUE:
        cg_sink_expect_field(m->sink, path, r->measurement, r->value.field ? r->value.field : "value");
        break;
    default:
        cg_sink_expect_field(m->sink, path, r->measurement, NULL);
        break;
    }
}

static int parse_rule(struct mqtt *m, const cJSON *obj, const char *path, struct rule *r, struct cg_errs *errs)
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
    if (rc.measurement == NULL && rc.format != FMT_INFLUX) {
        cg_path_key(p, sizeof(p), path, "measurement");
        cg_errs_add(errs, p, "missing (required for format %s)", format_choices[rc.format]);
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
    static const char *const sections[] = {"json", "senml", "influx", "value"};
    for (int i = 0; i < 4; i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, sections[i]);
        if (s != NULL && i != rc.format) {
            cg_path_key(p, sizeof(p), path, sections[i]);
            cg_errs_add(errs, p, "only for format %s (this rule is format %s)", sections[i],
                        format_choices[rc.format]);
        }
    }
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(obj, sections[rc.format]);
    cg_path_key(p, sizeof(p), path, sections[rc.format]);
    unsigned depth = (unsigned)m->c.max_json_depth;
    switch (rc.format) {
    case FMT_JSON: {
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
    case FMT_SENML:
        cg_opt_parse(senml_opts, sec, p, &r->sc, errs);
        r->senml = (struct cg_codec_senml_conf){.name_tag = r->sc.name_tag, .unit_tag = r->sc.unit_tag,
                                                .max_depth = depth};
        break;
    case FMT_INFLUX: {
        struct influx_conf ic = {0};
        cg_opt_parse(influx_opts, sec, p, &ic, errs);
        static const int64_t mult[] = {1, 1000, 1000000, 1000000000};
        r->lp.precision_ns = mult[ic.precision];
        cg_opt_free(influx_opts, &ic);
        break;
    }
    case FMT_VALUE:
        cg_opt_parse(value_opts, sec, p, &r->vc, errs);
        r->value = (struct cg_codec_value_conf){.field = r->vc.field, .type = (enum cg_value_type)r->vc.type};
        break;
    }
out:
    cg_opt_free(rule_opts, &rc);
    if (ret == 0 && cg_errs_count(errs) > before) {
        ret = -EINVAL;
    }
    return ret;
}

static int add_sub(struct mqtt *m, const char *topic, int qos, const char *share, int64_t alarm, const char *path,
                   struct cg_errs *errs)
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
    struct sub *s = &m->subs[m->n_subs];
    memset(s, 0, sizeof(*s));
    s->m = m;
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

static void destroy(void *state);

static void sanitize_id(char *s)
{
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.')) {
            *s = '_';
        }
    }
}

static int create(const cJSON *conf, const char *path, struct cg_sink *sink, void **state, struct cg_errs *errs)
{
    char p[512];
    int rc = 0;
    size_t before = cg_errs_count(errs);
    struct mqtt *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    m->sink = sink;
    m->name = cg_sink_source_name(sink);
    m->observer = cg_sink_dry_run(sink) && !cg_sink_check_only(sink);
    *state = m;

    cg_opt_parse(src_opts, conf, path, &m->c, errs);
    if (m->c.url != NULL) {
        const char *u = m->c.url;
        const char *rest = NULL;
        if (strncmp(u, "tcp://", 6) == 0 || strncmp(u, "mqtt://", 7) == 0) {
            rest = strchr(u, '/') + 2;
        } else if (strncmp(u, "ssl://", 6) == 0 || strncmp(u, "mqtts://", 8) == 0) {
            rest = strchr(u, '/') + 2;
            m->ssl = true;
        }
        cg_path_key(p, sizeof(p), path, "url");
        size_t hostlen = rest ? strcspn(rest, "/?#") : 0;
        if (rest != NULL && memchr(rest, '@', hostlen) != NULL) {
            /* Never echo the URL: the part before '@' is a password. */
            cg_errs_add(errs, p, "must not contain credentials (user:password@): use the username and password "
                                 "(or password_file) keys");
        } else if (rest == NULL || rest[0] == '\0' || rest[0] == ':') {
            cg_errs_add(errs, p, "must be tcp://host[:port] or ssl://host[:port] (mqtt://, mqtts://), got '%s'", u);
        } else {
            size_t n = strlen(rest) + 16;
            m->url = malloc(n);
            if (m->url == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            bool has_port = strrchr(rest, ':') != NULL && strrchr(rest, ']') < strrchr(rest, ':');
            snprintf(m->url, n, "%s://%s%s", m->ssl ? "ssl" : "tcp", rest,
                     has_port ? "" : (m->ssl ? ":8883" : ":1883"));
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
            snprintf(id, n, "%s-%s-%ld", m->client_id, cg_sink_test_mode(sink) ? "test" : "dryrun", (long)getpid());
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
        destroy(m);
        *state = NULL;
    }
    return rc;
}

/* ---- message path (Paho receive thread) ---------------------------------- */

static void first_bytes(const void *payload, size_t len, char *out, size_t outsz)
{
    const unsigned char *p = payload;
    size_t o = 0;
    for (size_t i = 0; i < len && i < FIRST_BYTES && o + 5 < outsz; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
            out[o++] = (char)p[i];
        } else {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", p[i]);
        }
    }
    if (len > FIRST_BYTES && o + 4 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static enum bad_kind kind_of(int rc)
{
    switch (rc) {
    case -EMSGSIZE: return BAD_TOO_LARGE;
    case -EDOM: return BAD_NONFINITE;
    case -EILSEQ: return BAD_UTF8;
    case -ENODATA: return BAD_EMPTY;
    case -ERANGE: return BAD_RANGE;
    default: return BAD_PARSE;
    }
}

/* Returns 1: done (ack), 0: keep (stopping while the message is in hand). */
static int handle(struct mqtt *m, const char *topic, size_t tlen, const void *payload, size_t plen)
{
    char fb[FIRST_BYTES * 4 + 8];
    int64_t now = mono_ms();
    atomic_fetch_add(&m->messages, 1);

    for (size_t i = 0; i < m->n_subs; i++) {
        struct sub *s = &m->subs[i];
        if (cg_topic_filter_match(s->filter, topic, tlen)) {
            atomic_fetch_add(&s->messages, 1);
            atomic_store(&s->last_msg_ms, now);
        }
    }
    if (tlen > CG_TOPIC_MAX_LEN || memchr(topic, '\0', tlen) != NULL) {
        atomic_fetch_add(&m->unmatched, 1);
        cg_complain(&m->unmatched_c, CG_LOG_WARN, m->name, "topic of %zu bytes not handled (too long or NUL)",
                    tlen);
        return 1;
    }
    struct rule *r = NULL;
    struct cg_topic_capture caps[CG_TOPIC_MAX_LEVELS];
    size_t n_caps = 0;
    for (size_t i = 0; i < m->n_rules; i++) {
        if (cg_topic_pattern_match(&m->rules[i].pat, topic, tlen, caps, CG_TOPIC_MAX_LEVELS, &n_caps)) {
            r = &m->rules[i];
            break;
        }
    }
    if (r == NULL) {
        atomic_fetch_add(&m->unmatched, 1);
        cg_complain(&m->unmatched_c, CG_LOG_WARN, m->name, "no rule matches topic '%.*s' (counted, acked)",
                    (int)tlen, topic);
        return 1;
    }
    atomic_fetch_add(&r->messages, 1);
    if (plen > (size_t)m->c.max_payload_bytes) {
        atomic_fetch_add(&m->bad[BAD_TOO_LARGE], 1);
        atomic_fetch_add(&r->bad, 1);
        atomic_store(&r->last_error, "payload larger than max_payload_bytes");
        first_bytes(payload, plen, fb, sizeof(fb));
        cg_complain(&m->bad_c, CG_LOG_WARN, m->name, "topic '%.*s': payload of %zu bytes > max_payload_bytes %lld "
                    "(dropped, acked): %s", (int)tlen, topic, plen, (long long)m->c.max_payload_bytes, fb);
        return 1;
    }

    struct cg_batch *b = &m->batch;
    cg_batch_reset(b);
    b->now_ns = cg_time_now_ns();
    /* the rule's tags: static ones, topic captures, the topic itself */
    struct cg_tag tags[CG_POINT_MAX_TAGS];
    size_t nt = 0;
    for (size_t i = 0; i < r->n_tags && nt < CG_POINT_MAX_TAGS; i++) {
        tags[nt++] = r->tags[i];
    }
    int rc = 0;
    const char *why = NULL;
    for (size_t i = 0; i < n_caps && nt < CG_POINT_MAX_TAGS; i++) {
        char *v = cg_arena_strndup(&b->arena, caps[i].value, caps[i].len);
        if (v == NULL) {
            rc = -EMSGSIZE;
            why = "topic too large";
            break;
        }
        if (!cg_utf8_valid(v, caps[i].len)) {
            rc = -EILSEQ;
            why = "topic level is not valid UTF-8";
            break;
        }
        tags[nt++] = (struct cg_tag){.key = caps[i].name, .value = v};
    }
    if (rc == 0 && r->topic_tag != NULL && nt < CG_POINT_MAX_TAGS) {
        char *v = cg_arena_strndup(&b->arena, topic, tlen);
        if (v == NULL) {
            rc = -EMSGSIZE;
            why = "topic too large";
        } else {
            tags[nt++] = (struct cg_tag){.key = r->topic_tag, .value = v};
        }
    }
    b->base_tags = tags;
    b->n_base_tags = nt;
    if (rc == 0) {
        switch (r->format) {
        case FMT_JSON: rc = cg_codec_json_decode(&r->json, r->measurement, payload, plen, b, &why); break;
        case FMT_SENML: rc = cg_codec_senml_decode(&r->senml, r->measurement, payload, plen, b, &why); break;
        case FMT_INFLUX: rc = cg_codec_lp_decode(&r->lp, r->measurement, payload, plen, b, &why); break;
        default: rc = cg_codec_value_decode(&r->value, r->measurement, payload, plen, b, &why); break;
        }
    }
    if (rc < 0) {
        enum bad_kind k = kind_of(rc);
        atomic_fetch_add(&m->bad[k], 1);
        atomic_fetch_add(&r->bad, 1);
        atomic_store(&r->last_error, why ? why : "bad payload");
        first_bytes(payload, plen, fb, sizeof(fb));
        cg_complain(&m->bad_c, CG_LOG_WARN, m->name, "topic '%.*s': bad %s payload (%s; dropped, acked): %s",
                    (int)tlen, topic, format_choices[r->format], why ? why : bad_names[k], fb);
        return 1;
    }
    cg_complain_clear(&m->bad_c, m->name, "bad payloads");
    cg_batch_finish(b);
    for (size_t i = 0; i < b->n_skipped; i++) {
        cg_sink_count_skipped(m->sink, b->skipped[i].measurement ? b->skipped[i].measurement : r->measurement,
                              b->skipped[i].name, b->skipped[i].n);
    }

    /* Hand over. While the buffer is full we hold this message and read
     * nothing else: nothing more gets acknowledged (see the top comment). */
    for (;;) {
        struct cg_sink_rule sr = {.tags = b->base_tags,
                                  .n_tags = b->n_base_tags,
                                  .payload_tags = r->payload_tags,
                                  .static_tags = r->static_tags,
                                  .n_static_tags = r->n_static_tags};
        int e = cg_sink_emit_rule(m->sink, b->points, b->n_points, (int)m->c.emit_timeout_ms, &sr);
        if (e >= 0) {
            cg_complain_clear(&m->full_c, m->name, "gateway buffer");
            atomic_fetch_add(&m->points, (uint64_t)e);
            atomic_fetch_add(&r->points, (uint64_t)e);
            atomic_store(&m->last_ok_ns, b->now_ns);
            if ((size_t)e < b->n_points) {
                const char *le = cg_sink_last_error();
                atomic_fetch_add(&m->bad[BAD_REJECTED], 1);
                atomic_store(&r->last_error, le ? le : "points rejected by the core");
                cg_complain(&m->reject_c, CG_LOG_WARN, m->name, "topic '%.*s': %zu of %zu points rejected: %s",
                            (int)tlen, topic, b->n_points - (size_t)e, b->n_points, le ? le : "invalid");
            } else {
                cg_complain_clear(&m->reject_c, m->name, "point rejections");
            }
            return 1;
        }
        if (cg_sink_hold(e)) { /* buffer full, or its disk full or failing: nothing was taken */
            atomic_fetch_add(&m->held, 1);
            if (e == -ETIMEDOUT) {
                cg_complain(&m->full_c, CG_LOG_WARN, m->name,
                            "gateway buffer full: holding the message from '%.*s' and reading nothing more from the "
                            "broker until there is room", (int)tlen, topic);
            } else {
                cg_complain(&m->full_c, CG_LOG_WARN, m->name,
                            "gateway buffer cannot write (%s): holding the message from '%.*s' and reading nothing "
                            "more from the broker until it can", strerror(-e), (int)tlen, topic);
            }
            if (atomic_load(&m->stopping)) {
                atomic_fetch_add(&m->redeliver, 1);
                return 0;
            }
            continue;
        }
        if (e == -ESHUTDOWN) {
            atomic_fetch_add(&m->redeliver, 1);
            return 0;
        }
        /* never fits (e.g. larger than the whole buffer): drop, or it blocks forever */
        atomic_fetch_add(&m->bad[BAD_TOO_LARGE], 1);
        atomic_fetch_add(&r->bad, 1);
        atomic_store(&r->last_error, "message does not fit the gateway buffer");
        cg_complain(&m->reject_c, CG_LOG_ERROR, m->name, "topic '%.*s': %zu points refused by the core (%s), dropped",
                    (int)tlen, topic, b->n_points, strerror(-e));
        return 1;
    }
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct mqtt *m = ctx;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    if (handle(m, topic, tlen, msg->payload, msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0) == 0) {
        return 0; /* Paho keeps it queued (and persisted) for redelivery */
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

/* ---- connection (Paho threads + our watchdog) ----------------------------- */

static void schedule_reconnect(struct mqtt *m)
{
    /* lock held */
    int64_t b = m->backoff_ms;
    int64_t jitter = b / 5;
    int64_t delay = b - jitter + (jitter > 0 ? (int64_t)(rand() % (int)(2 * jitter + 1)) : 0);
    m->next_connect_ms = mono_ms() + delay;
    m->backoff_ms = b * 2 > m->c.reconnect_max_ms ? m->c.reconnect_max_ms : b * 2;
}

static void on_lost(void *ctx, char *cause)
{
    struct mqtt *m = ctx;
    atomic_store(&m->connected, 0);
    for (size_t i = 0; i < m->n_subs; i++) {
        atomic_store(&m->subs[i].subscribed, 0);
    }
    pthread_mutex_lock(&m->lock);
    snprintf(m->last_error, sizeof(m->last_error), "connection lost%s%s", cause ? ": " : "", cause ? cause : "");
    if (!atomic_load(&m->stopping)) {
        cg_complain(&m->conn_c, CG_LOG_WARN, m->name, "%s: connection lost%s%s; reconnecting", m->url,
                    cause ? ": " : "", cause ? cause : "");
    }
    m->connecting = false;
    m->backoff_ms = m->c.reconnect_min_ms;
    schedule_reconnect(m);
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (cause) {
        MQTTAsync_free(cause);
    }
}

static void sub_result(struct sub *s, int code)
{
    struct mqtt *m = s->m;
    if (code >= 0x80) {
        set_error(m, "subscription %s refused by the broker (reason 0x%02x)", s->wire, code);
        cg_log(CG_LOG_ERROR, m->name, "subscription '%s' refused by the broker (reason 0x%02x)", s->wire, code);
        return;
    }
    atomic_store(&s->subscribed, 1);
    if (code < s->qos) {
        cg_log(CG_LOG_WARN, m->name, "subscription '%s': broker granted QoS %d, asked %d", s->wire, code, s->qos);
    } else {
        cg_log(CG_LOG_DEBUG, m->name, "subscribed to '%s' (QoS %d)", s->wire, code);
    }
}

static void on_sub_ok(void *ctx, MQTTAsync_successData *r)
{
    sub_result(ctx, r ? r->alt.qos : 0);
}

static void on_sub_ok5(void *ctx, MQTTAsync_successData5 *r)
{
    sub_result(ctx, r ? (int)r->reasonCode : 0);
}

static void on_sub_fail(void *ctx, MQTTAsync_failureData *r)
{
    sub_result(ctx, 0x80);
    (void)r;
}

static void on_sub_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
    sub_result(ctx, r && r->reasonCode >= 0x80 ? (int)r->reasonCode : 0x80);
}

static void publish_status(struct mqtt *m, const char *text)
{
    if (m->status_topic == NULL) {
        return;
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int e = MQTTAsync_send(m->client, m->status_topic, (int)strlen(text), text, 1, 1, &ro);
    if (e != MQTTASYNC_SUCCESS) {
        cg_log(CG_LOG_WARN, m->name, "status '%s' to %s not sent: %s", text, m->status_topic, MQTTAsync_strerror(e));
    }
}

static void connected(struct mqtt *m, int session_present)
{
    pthread_mutex_lock(&m->lock);
    m->connecting = false;
    m->backoff_ms = m->c.reconnect_min_ms;
    m->connected_ms = mono_ms();
    m->last_error[0] = '\0';
    cg_complain_clear(&m->conn_c, m->name, "broker connection");
    pthread_mutex_unlock(&m->lock);
    atomic_store(&m->connected, 1);
    atomic_fetch_add(&m->connects, 1);
    cg_log(CG_LOG_INFO, m->name, "connected to %s as %s (MQTT %s, %s session%s)", m->url, m->client_id,
           version_choices[m->c.mqtt_version], m->c.clean_session ? "clean" : "persistent",
           session_present ? ", resumed" : "");
    /* always subscribe again: a broker may have lost the session (restart
     * without persistence, expiry), and re-subscribing an existing one is harmless */
    for (size_t i = 0; i < m->n_subs; i++) {
        struct sub *s = &m->subs[i];
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.context = s;
        if (m->c.mqtt_version == V5) {
            ro.onSuccess5 = on_sub_ok5;
            ro.onFailure5 = on_sub_fail5;
        } else {
            ro.onSuccess = on_sub_ok;
            ro.onFailure = on_sub_fail;
        }
        int e = MQTTAsync_subscribe(m->client, s->wire, s->qos, &ro);
        if (e != MQTTASYNC_SUCCESS) {
            cg_log(CG_LOG_ERROR, m->name, "subscribe '%s': %s", s->wire, MQTTAsync_strerror(e));
        }
    }
    publish_status(m, m->c.status_online);
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *r)
{
    connected(ctx, r ? r->alt.connect.sessionPresent : 0);
}

static void on_connect_ok5(void *ctx, MQTTAsync_successData5 *r)
{
    connected(ctx, r ? r->alt.connect.sessionPresent : 0);
}

static void connect_failed(struct mqtt *m, int code, int reason, const char *msg)
{
    atomic_fetch_add(&m->conn_failures, 1);
    pthread_mutex_lock(&m->lock);
    m->connecting = false;
    if (reason > 0) {
        snprintf(m->last_error, sizeof(m->last_error), "connect failed: %s (reason 0x%02x)",
                 msg ? msg : MQTTReasonCode_toString((enum MQTTReasonCodes)reason), reason);
    } else if (msg != NULL && strcmp(msg, "CONNACK return code") == 0 && code >= 1 && code <= 5) {
        static const char *const connack[] = {"", "unacceptable protocol version", "client identifier rejected",
                                              "server unavailable", "bad user name or password", "not authorized"};
        snprintf(m->last_error, sizeof(m->last_error), "connect failed: %s (CONNACK %d)", connack[code], code);
    } else {
        snprintf(m->last_error, sizeof(m->last_error), "connect failed: %s", msg ? msg : MQTTAsync_strerror(code));
    }
    schedule_reconnect(m);
    int64_t wait = m->next_connect_ms - mono_ms();
    if (!atomic_load(&m->stopping)) {
        cg_complain(&m->conn_c, CG_LOG_WARN, m->name, "%s: %s; retrying in %lld ms", m->url, m->last_error,
                    (long long)(wait > 0 ? wait : 0));
    }
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    connect_failed(ctx, r ? r->code : -1, 0, r ? r->message : NULL);
}

static void on_connect_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
    connect_failed(ctx, r ? r->code : -1, r ? (int)r->reasonCode : 0, r ? r->message : NULL);
}

static int on_ssl_error(const char *str, size_t len, void *ctx)
{
    struct mqtt *m = ctx;
    set_error(m, "TLS: %.*s", (int)(len > 200 ? 200 : len), str);
    return 0;
}

static void start_connect(struct mqtt *m)
{
    /* called without m->lock; m->connecting already set */
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTAsync_connectOptions *o = m->c.mqtt_version == V5 ? &co5 : &co;

    o->keepAliveInterval = (int)m->c.keepalive_s;
    o->connectTimeout = (int)m->c.connect_timeout_s;
    o->maxInflight = (int)m->c.receive_maximum;
    o->automaticReconnect = 0;
    o->context = m;
    o->username = m->c.username;
    o->password = m->c.password;
    if (m->c.mqtt_version == V5) {
        o->cleanstart = m->c.clean_session;
        o->onSuccess5 = on_connect_ok5;
        o->onFailure5 = on_connect_fail5;
        MQTTProperty pr = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
        pr.value.integer4 = m->c.clean_session ? 0 : (unsigned)m->c.session_expiry_s;
        MQTTProperties_add(&props, &pr);
        MQTTProperty rm = {.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM};
        rm.value.integer2 = (unsigned short)m->c.receive_maximum;
        MQTTProperties_add(&props, &rm);
        o->connectProperties = &props;
    } else {
        o->cleansession = m->c.clean_session;
        o->onSuccess = on_connect_ok;
        o->onFailure = on_connect_fail;
        o->MQTTVersion = MQTTVERSION_3_1_1;
    }
    if (m->status_topic != NULL) {
        will.topicName = m->status_topic;
        will.message = m->c.status_offline;
        will.retained = 1;
        will.qos = 1;
        o->will = &will;
    }
    if (m->ssl) {
        ssl.trustStore = m->tls.ca_file;
        ssl.keyStore = m->tls.cert_file;
        ssl.privateKey = m->tls.key_file;
        ssl.privateKeyPassword = m->tls.key_password;
        ssl.enableServerCertAuth = m->has_tls_conf ? m->tls.verify : 1;
        ssl.verify = m->has_tls_conf ? m->tls.verify : 1;
        ssl.ssl_error_cb = on_ssl_error;
        ssl.ssl_error_context = m;
        if (!m->has_tls_conf || m->tls.ca_file == NULL) {
            ssl.CApath = "/etc/ssl/certs";
        }
        o->ssl = &ssl;
    }
    /* Never call into Paho holding m->lock: Paho runs our callbacks with its
     * own mutex held, and they take m->lock. */
    int e = MQTTAsync_connect(m->client, o);
    MQTTProperties_free(&props);
    if (e != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&m->lock);
        m->connecting = false;
        snprintf(m->last_error, sizeof(m->last_error), "connect: %s", MQTTAsync_strerror(e));
        schedule_reconnect(m);
        cg_complain(&m->conn_c, CG_LOG_WARN, m->name, "%s: %s", m->url, m->last_error);
        pthread_mutex_unlock(&m->lock);
    }
}

static void check_silence(struct mqtt *m, int64_t now)
{
    int64_t since;
    pthread_mutex_lock(&m->lock);
    since = m->connected_ms;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < m->n_subs; i++) {
        struct sub *s = &m->subs[i];
        if (s->silent_alarm_s <= 0) {
            continue;
        }
        int64_t last = atomic_load(&s->last_msg_ms);
        int64_t ref = last > since ? last : since;
        bool silent = atomic_load(&m->connected) && now - ref > s->silent_alarm_s * 1000;
        if (silent) {
            if (!atomic_exchange(&s->silent, 1) || s->silent_c.failing) {
                cg_complain(&s->silent_c, CG_LOG_WARN, m->name,
                            "subscription '%s': connected but silent for %lld s (silent_alarm_s %lld)", s->wire,
                            (long long)((now - ref) / 1000), (long long)s->silent_alarm_s);
            }
        } else if (atomic_exchange(&s->silent, 0)) {
            char what[600];
            snprintf(what, sizeof(what), "subscription '%s' silence", s->wire);
            cg_complain_clear(&s->silent_c, m->name, what);
        }
    }
}

static void *watchdog(void *arg)
{
    struct mqtt *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!atomic_load(&m->stopping)) {
        int64_t now = mono_ms();
        bool go = !atomic_load(&m->connected) && !m->connecting && now >= m->next_connect_ms;
        if (go) {
            m->connecting = true;
        }
        pthread_mutex_unlock(&m->lock);
        if (go) {
            start_connect(m);
        }
        check_silence(m, now);
        pthread_mutex_lock(&m->lock);
        if (atomic_load(&m->stopping)) {
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0750) < 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0750) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

/* Paho's own errors, into our log. */
static void paho_trace(enum MQTTASYNC_TRACE_LEVELS level, char *message)
{
    cg_log(level >= MQTTASYNC_TRACE_SEVERE ? CG_LOG_WARN : CG_LOG_DEBUG, "paho", "%s", message);
}

/* Paho C as Debian builds it records a trace entry for every function it
 * enters (time stamp, log mutex) and formats a protocol trace line for every
 * packet, whoever reads them, until its trace level is raised: about a quarter
 * of its CPU per message (bench/mqtt.sh, paho_count with and without). Keep
 * errors only, routed to our log. MQTT_C_CLIENT_TRACE in the environment (Paho's
 * own switch for full tracing) is left alone. The setting is process-wide and
 * idempotent, so every start sets it again. */
static void paho_trace_errors_only(void)
{
    if (getenv("MQTT_C_CLIENT_TRACE") != NULL) {
        return;
    }
    MQTTAsync_setTraceCallback(paho_trace);
    /* Paho ignores levels above ERROR ("the lowest we can go is LOG_ERROR") */
    MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
}

static int start(void *state)
{
    struct mqtt *m = state;
    /* start() after stop() (a rolled-back reload) begins from scratch: stop()
     * destroyed the client and the batch; clear what the last run left. */
    atomic_store(&m->stopping, 0);
    atomic_store(&m->connected, 0);
    m->connecting = false;
    paho_trace_errors_only();
    cg_batch_init(&m->batch, (size_t)m->c.max_points_per_message, (size_t)m->c.max_payload_bytes * 4 + 65536);

    /* Paho's file store keeps a message we had to give back at stop (see
     * the top comment) and the status publishes in flight. Only useful, and
     * only used, with a persistent session. */
    int ptype = MQTTCLIENT_PERSISTENCE_NONE;
    char pdir[PATH_MAX];
    const char *sd = cg_sink_state_dir(m->sink);
    if (!m->c.clean_session && sd != NULL && sd[0] != '\0') {
        snprintf(pdir, sizeof(pdir), "%s/mqtt", sd);
        int e = mkdir_p(pdir);
        if (e == 0) {
            ptype = MQTTCLIENT_PERSISTENCE_DEFAULT;
        } else {
            cg_log(CG_LOG_WARN, m->name, "%s: %s; Paho keeps its state in memory only", pdir, strerror(-e));
        }
    }
    MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
    cro.MQTTVersion = m->c.mqtt_version == V5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    cro.sendWhileDisconnected = 0;
    int e = MQTTAsync_createWithOptions(&m->client, m->url, m->client_id, ptype,
                                        ptype == MQTTCLIENT_PERSISTENCE_DEFAULT ? pdir : NULL, &cro);
    if (e != MQTTASYNC_SUCCESS) {
        cg_log(CG_LOG_ERROR, m->name, "cannot create the MQTT client: %s", MQTTAsync_strerror(e));
        return -EINVAL;
    }
    m->client_created = true;
    e = MQTTAsync_setCallbacks(m->client, m, on_lost, on_message, NULL);
    if (e != MQTTASYNC_SUCCESS) {
        cg_log(CG_LOG_ERROR, m->name, "cannot set MQTT callbacks: %s", MQTTAsync_strerror(e));
        return -EINVAL;
    }
    m->backoff_ms = m->c.reconnect_min_ms;
    m->next_connect_ms = 0;
    srand((unsigned)(cg_time_now_ns() ^ (int64_t)getpid()));
    if (pthread_create(&m->watchdog, NULL, watchdog, m) != 0) {
        return -EAGAIN;
    }
    m->watchdog_started = true;
    return 0;
}

static void log_stats(struct mqtt *m)
{
    uint64_t bad = 0;
    char detail[256] = "";
    size_t o = 0;
    for (int k = 0; k < BAD_N; k++) {
        uint64_t v = atomic_load(&m->bad[k]);
        bad += v;
        if (v) {
            o += (size_t)snprintf(detail + o, sizeof(detail) - o, " %s=%llu", bad_names[k], (unsigned long long)v);
        }
    }
    cg_log(CG_LOG_INFO, m->name,
           "mqtt stats: messages=%llu points=%llu bad=%llu%s unmatched=%llu held=%llu redeliver=%llu connects=%llu "
           "connect_failures=%llu",
           (unsigned long long)atomic_load(&m->messages), (unsigned long long)atomic_load(&m->points),
           (unsigned long long)bad, detail, (unsigned long long)atomic_load(&m->unmatched),
           (unsigned long long)atomic_load(&m->held), (unsigned long long)atomic_load(&m->redeliver),
           (unsigned long long)atomic_load(&m->connects), (unsigned long long)atomic_load(&m->conn_failures));
}

static void stop(void *state)
{
    struct mqtt *m = state;
    if (m == NULL) {
        return;
    }
    atomic_store(&m->stopping, 1);
    pthread_mutex_lock(&m->lock);
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (m->watchdog_started) {
        pthread_join(m->watchdog, NULL);
        m->watchdog_started = false;
    }
    if (m->client_created && MQTTAsync_isConnected(m->client) && m->c.leave_share_groups) {
        /* Brokers keep handing a share group's messages to a member's
         * persistent session while it is away (mosquitto does, round robin):
         * a member that stops on purpose leaves its groups, so the others
         * take the whole load at once. */
        for (size_t i = 0; i < m->n_subs; i++) {
            if (strncmp(m->subs[i].wire, "$share/", 7) != 0) {
                continue;
            }
            MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
            if (MQTTAsync_unsubscribe(m->client, m->subs[i].wire, &ro) == MQTTASYNC_SUCCESS) {
                MQTTAsync_waitForCompletion(m->client, ro.token, 2000);
                cg_log(CG_LOG_INFO, m->name, "left share group: unsubscribed '%s'", m->subs[i].wire);
            }
        }
    }
    if (m->client_created && MQTTAsync_isConnected(m->client)) {
        /* a clean DISCONNECT suppresses the will: say "offline" ourselves */
        if (m->status_topic != NULL) {
            MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
            if (MQTTAsync_send(m->client, m->status_topic, (int)strlen(m->c.status_offline), m->c.status_offline, 1,
                               1, &ro) == MQTTASYNC_SUCCESS) {
                MQTTAsync_waitForCompletion(m->client, ro.token, 2000);
            }
        }
        MQTTAsync_disconnectOptions dopt = MQTTAsync_disconnectOptions_initializer;
        MQTTAsync_disconnectOptions dopt5 = MQTTAsync_disconnectOptions_initializer5;
        MQTTAsync_disconnectOptions *d = m->c.mqtt_version == V5 ? &dopt5 : &dopt;
        d->timeout = 1000;
        MQTTAsync_disconnect(m->client, d);
        for (int i = 0; i < 30 && MQTTAsync_isConnected(m->client); i++) {
            usleep(50 * 1000);
        }
    }
    atomic_store(&m->connected, 0);
    /* No callback runs after this: the next start() creates a fresh client
     * (a kept message stays in Paho's file store for it). */
    if (m->client_created) {
        MQTTAsync_destroy(&m->client);
        m->client_created = false;
    }
    cg_batch_done(&m->batch);
    log_stats(m);
}

static void destroy(void *state)
{
    struct mqtt *m = state;
    if (m == NULL) {
        return;
    }
    if (m->client_created) {
        MQTTAsync_destroy(&m->client);
        m->client_created = false;
    }
    for (size_t i = 0; i < m->n_subs; i++) {
        free(m->subs[i].wire);
    }
    free(m->subs);
    for (size_t i = 0; i < m->n_rules; i++) {
        struct rule *r = &m->rules[i];
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
    }
    free(m->rules);
    cg_opt_free(src_opts, &m->c);
    cg_opt_free(tls_opts, &m->tls);
    free(m->client_id);
    free(m->status_topic);
    free(m->url);
    cg_batch_done(&m->batch);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
}

static void health(void *state, cg_health_fn report, void *ctx)
{
    struct mqtt *m = state;
    char err[256], dev[600];
    uint64_t bad = 0;
    for (int k = 0; k < BAD_N; k++) {
        bad += atomic_load(&m->bad[k]);
    }
    pthread_mutex_lock(&m->lock);
    snprintf(err, sizeof(err), "%s", m->last_error);
    pthread_mutex_unlock(&m->lock);
    int64_t last_ok = atomic_load(&m->last_ok_ns);
    bool up = atomic_load(&m->connected);
    report(ctx, &(struct cg_health_item){
                    .device = m->url,
                    .kind = CG_HEALTH_LINK,
                    .up = up,
                    .ok = atomic_load(&m->messages),
                    .failed = bad,
                    .consecutive_failures = up ? 0 : atomic_load(&m->conn_failures),
                    .latency_ms = -1,
                    .last_ok_ns = last_ok,
                    .last_error = err[0] ? err : NULL,
                });
    for (size_t i = 0; i < m->n_subs; i++) {
        struct sub *s = &m->subs[i];
        bool silent = atomic_load(&s->silent);
        snprintf(dev, sizeof(dev), "subscription %s", s->wire);
        report(ctx, &(struct cg_health_item){
                        .device = dev,
                        .kind = CG_HEALTH_SUBSCRIPTION,
                        .up = up && atomic_load(&s->subscribed) && !silent,
                        .ok = atomic_load(&s->messages),
                        .latency_ms = -1,
                        .last_error = silent ? "connected but silent" :
                                      (up && !atomic_load(&s->subscribed)) ? "not subscribed" : NULL,
                    });
    }
    for (size_t i = 0; i < m->n_rules; i++) {
        struct rule *r = &m->rules[i];
        snprintf(dev, sizeof(dev), "rule %s", r->pattern_text ? r->pattern_text : "?");
        report(ctx, &(struct cg_health_item){
                        .device = dev,
                        .kind = CG_HEALTH_RULE,
                        .up = true,
                        .ok = atomic_load(&r->messages) - atomic_load(&r->bad),
                        .failed = atomic_load(&r->bad),
                        .latency_ms = -1,
                        .last_error = atomic_load(&r->last_error),
                    });
    }
    report(ctx, &(struct cg_health_item){
                    .device = "unmatched topics",
                    .kind = CG_HEALTH_RULE,
                    .up = true,
                    .failed = atomic_load(&m->unmatched),
                    .latency_ms = -1,
                });
}

const struct cg_adapter cg_adapter_mqtt = {
    .api_version = CG_ADAPTER_API_VERSION,
    .type = "mqtt",
    .summary = "MQTT 3.1.1/5 subscriber (Paho): topic rules, JSON/SenML/line protocol/value payloads",
    .create = create,
    .start = start,
    .stop = stop,
    .destroy = destroy,
    .health = health,
};
