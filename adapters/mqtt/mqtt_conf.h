/* citygate — the MQTT source's configuration: option tables, validation, and
 * the parsed form (subscriptions, topic rules, codec settings) that mqtt.c runs
 * on. Parsing only: no I/O, no logging, no Paho; errors go to cg_errs with the
 * JSON path. mqtt.c owns the client life cycle and the message path. */
#ifndef CG_MQTT_CONF_H
#define CG_MQTT_CONF_H

#include <citygate/adapter.h>

#include <citygate/codec.h>
#include "topic.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CG_MQTT_V311 = 0, CG_MQTT_V5 = 1 };
enum {
    CG_MQTT_FMT_JSON = 0,
    CG_MQTT_FMT_SENML,
    CG_MQTT_FMT_INFLUX,
    CG_MQTT_FMT_VALUE,
    CG_MQTT_FMT_CHIRPSTACK_V4, /* the JSON codec with a preset mapping */
    CG_MQTT_FMT_TTN_V3,
};

#define CG_MQTT_MATCH_MAX 8 /* conditions per rule */

/* One "match" condition: the payload value at path equals this scalar. */
struct cg_mqtt_match {
    char *path;         /* dot path from the document root */
    enum cg_jtype type; /* CG_J_STRING, CG_J_NUMBER, CG_J_TRUE or CG_J_FALSE */
    char *text;         /* CG_J_STRING */
    double num;         /* CG_J_NUMBER */
};

enum { CG_MQTT_COMMIT_PER_MESSAGE = 0, CG_MQTT_COMMIT_GROUP = 1 };
/* commit "group": messages whose points may be held in memory at once (the
 * loss bound on kill -9, per connection; docs/reliability.md) */
#define CG_MQTT_GROUP_MESSAGES 64

extern const char *const cg_mqtt_commit_names[];  /* by CG_MQTT_COMMIT_*, NULL-terminated */
extern const char *const cg_mqtt_version_names[]; /* by CG_MQTT_V*, NULL-terminated */
extern const char *const cg_mqtt_format_names[];  /* by CG_MQTT_FMT_*, NULL-terminated */
extern const struct cg_opt cg_mqtt_source_options[];     /* sources[i] keys (adapter API options) */
extern const struct cg_adapter_section cg_mqtt_sections[]; /* tls, subscriptions[], rules[], ... */

struct cg_mqtt_tls_conf {
    char *ca_file, *cert_file, *key_file, *key_password;
    bool verify;
};

struct cg_mqtt_src_conf {
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
    int commit; /* CG_MQTT_COMMIT_* */
};

struct cg_mqtt_json_conf {
    char *records, *time;
    int time_format;
};

struct cg_mqtt_senml_conf {
    char *name_tag, *unit_tag;
};

struct cg_mqtt_value_conf {
    char *field;
    int type;
};


/* One subscription as sent to the broker. */
struct cg_mqtt_sub {
    char *wire;         /* as sent in SUBSCRIBE ($share/g/f or f) */
    const char *filter; /* the part matched against topics (inside wire) */
    int qos;
    int64_t silent_alarm_s; /* resolved: the source default applied */
};

/* One topic rule, with its codec settings ready for the decoders. */
struct cg_mqtt_rule {
    struct cg_topic_pattern pat;
    char *pattern_text;
    int format;        /* CG_MQTT_FMT_* */
    char *measurement; /* may be NULL for influx */
    char *topic_tag;
    int payload_tags;    /* -1 the source's setting, 0 protect, 1 override */
    struct cg_tag *tags; /* static tags */
    size_t n_tags;
    struct cg_tag *static_tags; /* the gateway's static tags renamed (value) or removed (NULL) on this rule */
    size_t n_static_tags;
    struct cg_mqtt_json_conf jc;
    struct cg_json_map *fields, *jtags;
    size_t n_fields, n_jtags;
    struct cg_codec_json_conf json;
    struct cg_mqtt_senml_conf sc;
    struct cg_codec_senml_conf senml;
    struct cg_codec_lp_conf lp;
    struct cg_mqtt_value_conf vc;
    struct cg_codec_value_conf value;
    struct cg_mqtt_match *match; /* all must hold; none: the topic decides alone */
    size_t n_match;
};

struct cg_mqtt_conf {
    struct cg_mqtt_src_conf c;
    struct cg_mqtt_tls_conf tls;
    bool has_tls_conf;
    struct cg_sink *sink; /* borrowed; NULL in unit tests */
    const char *name;     /* the source's name (borrowed from the sink) */
    /* --dry-run / --test: a guest beside a daemon that may run the same
     * config: own client id, clean session, no status topic, no share group */
    bool observer;
    char *client_id;
    char *status_topic; /* NULL: none */
    char *url;          /* normalised for Paho (tcp:// or ssl://) */
    bool ssl;
    struct cg_mqtt_sub *subs;
    size_t n_subs;
    struct cg_mqtt_rule *rules;
    size_t n_rules;
};

/* Reads and validates one "type": "mqtt" source object at path. Every
 * problem is added to errs (so one run reports them all); returns 0, -EINVAL
 * when errs got any, or -ENOMEM. On failure *c is released. sink may be NULL
 * (no check-config hints, no dry-run handling). */
int cg_mqtt_conf_parse(struct cg_mqtt_conf *c, const cJSON *conf, const char *path, struct cg_sink *sink,
                       struct cg_errs *errs);
/* Frees what parse allocated; safe on a zeroed or half-parsed conf. */
void cg_mqtt_conf_done(struct cg_mqtt_conf *c);

#endif
