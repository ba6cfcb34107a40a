/* citygate — MQTT uplink output: publishes the normalised points to a central
 * broker, QoS 1, for cabinets that reach the city over a cellular link and a
 * broker rather than the database.
 *
 * The engine (output.c) hands over batches; send() publishes them (one message
 * per batch, or one per line) and returns OK only once the broker acknowledged
 * every message (PUBACK), so the journal is committed only for data the broker
 * holds. A broker outage, a lost connection or a missing PUBACK is RETRY: the
 * batch stays in the journal and is published again after the engine's
 * backoff (at-least-once: a message whose PUBACK was lost arrives twice). A
 * CONNACK refusal (bad credentials, not authorised, client id rejected) is
 * HOLD. The connection is made by send() itself, so the engine's backoff is
 * also the reconnect backoff. Paho keeps nothing on disk: the journal is the
 * store. docs/outputs.md has the user view. */
#include "alarm.h"
#include "output.h"
#include "lp_parse.h"

#include <citygate/mqtt_url.h>
#include <citygate/array.h>
#include <citygate/log.h>
#include <citygate/point.h> /* cg_time_mono_ms, cg_time_now_ns */

#include <MQTTAsync.h>
#include <cjson/cJSON.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_SLICE_MS 100      /* how often a wait looks at cancellation */
#define TOPIC_MAX 1024         /* an expanded topic; MQTT allows 65535, brokers less */
#define MEASUREMENT_MAX 256    /* {measurement} in a topic */
#define EARLY_MAX 1024         /* acks seen before their token was noted */

enum { MSG_BATCH, MSG_LINE };
enum { FMT_LP, FMT_JSON };

static const char *const type_choices[] = {"mqtt", NULL};
static const char *const message_choices[] = {"batch", "line", NULL};
static const char *const format_choices[] = {"line_protocol", "json", NULL};

struct tls_conf {
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *key_password;
    bool verify;
};

struct mqtt_conf {
    struct cg_output_common common; /* first: the engine reads it */
    int type;
    char *url;
    char *client_id;
    char *username;
    char *password;
    int64_t keepalive_s;
    int64_t connect_timeout_s;
    int64_t timeout_ms;
    char *topic;
    int message;
    int format;
    int64_t max_inflight;
    char *alert_topic;
    bool events_only;
    struct tls_conf tls;
    /* derived */
    bool ssl;
    bool has_tls;
    char *paho_url;  /* tcp://host:port or ssl://host:port */
    char *client_id_eff;
    bool topic_has_measurement;
};

#define OFF(m) offsetof(struct mqtt_conf, m)

static const struct cg_opt mqtt_options[] = {
    CG_OUTPUT_NAME_OPTION("mqtt"),
    {.name = "type", .type = CG_OPT_ENUM, .offset = OFF(type), .choices = type_choices, .flags = CG_OPT_REQUIRED,
     .doc = "mqtt: publish to a broker (QoS 1), the journal is committed on PUBACK"},
    {.name = "url", .type = CG_OPT_STRING, .offset = OFF(url), .flags = CG_OPT_REQUIRED,
     .doc = "broker: tcp://host:1883 or ssl://host:8883 (mqtt:// and mqtts:// too)"},
    {.name = "client_id", .type = CG_OPT_STRING, .offset = OFF(client_id),
     .doc = "client identifier; default citygate-<hostname>-<output name>"},
    {.name = "username", .type = CG_OPT_STRING, .offset = OFF(username), .doc = "user name"},
    {.name = "password", .type = CG_OPT_STRING, .offset = OFF(password), .flags = CG_OPT_SECRET,
     .doc = "password (or password_file)"},
    {.name = "tls", .type = CG_OPT_OTHER,
     .doc = "TLS settings for ssl:// (object: ca_file, cert_file, key_file, key_password, verify; as the MQTT "
            "source)"},
    {.name = "topic", .type = CG_OPT_STRING, .offset = OFF(topic), .def = "citygate/{client_id}/points",
     .doc = "topic template: {client_id}, {name} (output name), {hostname}; {measurement} with message line"},
    {.name = "message", .type = CG_OPT_ENUM, .offset = OFF(message), .def = "batch", .choices = message_choices,
     .doc = "batch: one message per batch (lines joined by newlines); line: one message per line"},
    {.name = "format", .type = CG_OPT_ENUM, .offset = OFF(format), .def = "line_protocol",
     .choices = format_choices,
     .doc = "payload: line_protocol (as stored, ns timestamps) or json (one JSON object per line)"},
    {.name = "alert_topic", .type = CG_OPT_STRING, .offset = OFF(alert_topic),
     .doc = "alarm events (docs/alarms.md) go here instead, one JSON message each, QoS 1, retained: the topic "
            "holds each alarm's state; {client_id}, {name}, {hostname}, and {TAG} for any tag of the event, e.g. "
            "city/alerts/{alarm}/{site}"},
    {.name = "events_only", .type = CG_OPT_BOOL, .offset = OFF(events_only), .def = "false",
     .doc = "send only alarm events (sirens, SCADA, civil protection); readings are passed over, not sent or counted"},
    CG_OPT_MQTT_KEEPALIVE_S(OFF(keepalive_s)),
    CG_OPT_MQTT_CONNECT_TIMEOUT_S(OFF(connect_timeout_s)),
    {.name = "timeout_ms", .type = CG_OPT_INT, .offset = OFF(timeout_ms), .def = "10000", .min = 100,
     .max = 600000, .doc = "time allowed for the PUBACKs of one batch (then the batch is retried)"},
    {.name = "max_inflight", .type = CG_OPT_INT, .offset = OFF(max_inflight), .def = "100", .min = 1,
     .max = 65535, .doc = "messages published and not yet acknowledged (message line)"},
    CG_OUTPUT_COMMON_OPTIONS,
    CG_OPT_END,
};

static const struct cg_opt tls_options[] = {
    CG_OPT_MQTT_TLS_ROWS(struct tls_conf),
    CG_OPT_END,
};

/* ---- configuration ------------------------------------------------------ */

static void conf_free(struct cg_output_common *common)
{
    struct mqtt_conf *c = (struct mqtt_conf *)common;
    if (c == NULL) {
        return;
    }
    cg_opt_free(mqtt_options, c);
    cg_opt_free(tls_options, &c->tls);
    free(c->paho_url);
    free(c->client_id_eff);
    free(c);
}

/* Placeholders known in topic templates; {measurement} only per line. */
/* An alert topic: no wildcards; {client_id} {name} {hostname} or a tag key. */
static void check_alert_topic(const char *t, const char *p, struct cg_errs *errs)
{
    if (t[0] == '\0' || strlen(t) > TOPIC_MAX / 2) {
        cg_errs_add(errs, p, "must be 1..%d bytes", TOPIC_MAX / 2);
    } else if (strpbrk(t, "+#") != NULL) {
        cg_errs_add(errs, p, "must not contain the wildcards + or #, got '%s'", t);
    } else {
        for (const char *s = strchr(t, '{'); s != NULL; s = strchr(s + 1, '{')) {
            const char *e = strchr(s, '}');
            if (e == NULL || e == s + 1 || memchr(s + 1, '{', (size_t)(e - s - 1)) != NULL) {
                cg_errs_add(errs, p, "bad placeholder at '%.20s' (use {client_id}, {name}, {hostname} or {TAG})", s);
                return;
            }
        }
    }
}

static void check_topic(struct mqtt_conf *c, const char *p, struct cg_errs *errs)
{
    const char *t = c->topic;
    if (t[0] == '\0' || strlen(t) > TOPIC_MAX / 2) {
        cg_errs_add(errs, p, "must be 1..%d bytes", TOPIC_MAX / 2);
        return;
    }
    if (strpbrk(t, "+#") != NULL) {
        cg_errs_add(errs, p, "must not contain the wildcards + or #, got '%s'", t);
        return;
    }
    for (const char *s = strchr(t, '{'); s != NULL; s = strchr(s + 1, '{')) {
        const char *e = strchr(s, '}');
        size_t n = e ? (size_t)(e - s - 1) : 0;
        if (e != NULL && n == 11 && strncmp(s + 1, "measurement", n) == 0) {
            c->topic_has_measurement = true;
        } else if (e == NULL || !((n == 9 && strncmp(s + 1, "client_id", n) == 0) ||
                                  (n == 4 && strncmp(s + 1, "name", n) == 0) ||
                                  (n == 8 && strncmp(s + 1, "hostname", n) == 0))) {
            cg_errs_add(errs, p,
                        "unknown placeholder at '%.20s' (known: {client_id}, {name}, {hostname}, {measurement})", s);
            return;
        }
    }
    if (c->topic_has_measurement && c->message != MSG_LINE) {
        cg_errs_add(errs, p, "{measurement} needs \"message\": \"line\" (a batch holds many measurements)");
    }
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

static int conf_parse(const cJSON *obj, const char *path, struct cg_output_common **out, struct cg_errs *errs)
{
    char p[256];
    size_t before = errs->n + errs->lost;
    struct mqtt_conf *c = calloc(1, sizeof(*c));
    int rc = -EINVAL;
    if (c == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    cg_opt_parse(mqtt_options, obj, path, c, errs);
    if (!cJSON_IsObject(obj)) {
        goto fail;
    }
    (void)cg_output_check_common(&c->common, path, errs);
    if (c->url != NULL) {
        cg_path_key(p, sizeof(p), path, "url");
        (void)cg_mqtt_broker_url(c->url, p, &c->paho_url, &c->ssl, errs);
    }
    if (c->topic != NULL) {
        cg_path_key(p, sizeof(p), path, "topic");
        check_topic(c, p, errs);
    }
    if (c->alert_topic != NULL) {
        cg_path_key(p, sizeof(p), path, "alert_topic");
        check_alert_topic(c->alert_topic, p, errs);
    }
    if (c->events_only && c->alert_topic == NULL) {
        cg_path_key(p, sizeof(p), path, "events_only");
        cg_errs_add(errs, p, "needs \"alert_topic\"");
    }
    if (c->username != NULL && c->username[0] == '\0') {
        cg_path_key(p, sizeof(p), path, "username");
        cg_errs_add(errs, p, "must not be empty; leave username and password out for none");
    }
    if (c->password != NULL && c->username == NULL) {
        cg_path_key(p, sizeof(p), path, "password");
        cg_errs_add(errs, p, "needs username");
    }
    const cJSON *tls = cJSON_GetObjectItemCaseSensitive(obj, "tls");
    cg_path_key(p, sizeof(p), path, "tls");
    cg_opt_parse(tls_options, tls, p, &c->tls, errs);
    c->has_tls = tls != NULL;
    if (tls != NULL && !c->ssl && c->paho_url != NULL) {
        cg_errs_add(errs, p, "given, but url is not ssl:// or mqtts://");
    }
    if ((c->tls.cert_file == NULL) != (c->tls.key_file == NULL)) {
        cg_errs_add(errs, p, "cert_file and key_file go together");
    }
    const char *files[] = {c->tls.ca_file, c->tls.cert_file, c->tls.key_file};
    const char *keys[] = {"ca_file", "cert_file", "key_file"};
    for (size_t i = 0; i < 3; i++) {
        if (files[i] != NULL && access(files[i], R_OK) != 0) {
            char pk[300];
            cg_path_key(pk, sizeof(pk), p, keys[i]);
            cg_errs_add(errs, pk, "cannot read %s: %s", files[i], strerror(errno));
        }
    }
    if (c->client_id != NULL) {
        cg_path_key(p, sizeof(p), path, "client_id");
        if (c->client_id[0] == '\0' || strlen(c->client_id) > 256) {
            cg_errs_add(errs, p, "must be 1..256 bytes");
        }
    }
    if (errs->n + errs->lost != before) {
        goto fail;
    }
    if (c->client_id != NULL) {
        c->client_id_eff = strdup(c->client_id);
    } else {
        char host[128] = "host";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        if (asprintf(&c->client_id_eff, "citygate-%s-%s", host, c->common.name) < 0) {
            c->client_id_eff = NULL;
        } else {
            sanitize_id(c->client_id_eff);
        }
    }
    if (c->client_id_eff == NULL) {
        cg_errs_add(errs, path, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    *out = &c->common;
    return 0;
fail:
    conf_free(&c->common);
    return rc;
}

static const char *conf_target(const struct cg_output_common *common)
{
    const struct mqtt_conf *c = (const struct mqtt_conf *)common;
    return c->paho_url ? c->paho_url : "";
}

/* CONNACK return codes (MQTT 3.1.1, 3.2.2.3) that mean "the configuration is
 * wrong": keep the data, retry slowly, say so loudly. */
static const char *hold_hint(const struct cg_output_common *common, int status)
{
    (void)common;
    switch (status) {
    case 1:
        return " (unacceptable protocol version)";
    case 2:
        return " (client id rejected: check client_id)";
    case 4:
        return " (bad user name or password)";
    case 5:
        return " (not authorised: check username/password and the broker's ACL)";
    default:
        return "";
    }
}

/* ---- the connection ----------------------------------------------------- */

struct mqtt {
    const struct mqtt_conf *c;
    struct cg_output *engine;
    MQTTAsync client;
    bool created;
    char topic[TOPIC_MAX]; /* expanded, without {measurement} */
    char alert_topic[TOPIC_MAX]; /* expanded, without the tags */

    pthread_mutex_t lock; /* everything below; Paho's callbacks take it */
    pthread_cond_t cv;
    bool connected;
    bool connect_done;  /* the connect attempt finished (ok or failed) */
    int connect_code;   /* 0 ok; CONNACK code 1..5; or a Paho error (< 0) */
    char error[CG_OUTPUT_REASON_MAX + 1];
    unsigned gen;       /* connection generation: acks of an older one are ignored */
    size_t inflight;    /* published in this send(), not yet acked */
    size_t acked;
    bool pub_failed;
    char pub_error[CG_OUTPUT_REASON_MAX + 1];
    int *tokens;        /* tokens of this send()'s messages in flight */
    size_t n_tokens;
    size_t n_tokens_max;
    /* PUBACKs that arrived before publish() could note their token (Paho may
     * run the callback before MQTTAsync_sendMessage returns to us, and we must
     * not hold m->lock across the call). */
    int early[EARLY_MAX];
    size_t n_early;

    char *payload;      /* JSON conversion / per-line buffer */
    size_t payload_cap;
};

static void set_error(struct mqtt *m, const char *text)
{
    snprintf(m->error, sizeof(m->error), "%s", text);
}

static void on_lost(void *ctx, char *cause)
{
    struct mqtt *m = ctx;
    pthread_mutex_lock(&m->lock);
    m->connected = false;
    m->gen++;
    if (!m->pub_failed) {
        m->pub_failed = true;
        snprintf(m->pub_error, sizeof(m->pub_error), "connection lost%s%s", cause ? ": " : "",
                 cause ? cause : "");
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->lock);
    MQTTAsync_free(cause);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    (void)ctx;
    (void)topic_len;
    MQTTAsync_freeMessage(&msg); /* we subscribe to nothing */
    MQTTAsync_free(topic);
    return 1;
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *r)
{
    struct mqtt *m = ctx;
    (void)r;
    pthread_mutex_lock(&m->lock);
    m->connected = true;
    m->connect_done = true;
    m->connect_code = 0;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->lock);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct mqtt *m = ctx;
    pthread_mutex_lock(&m->lock);
    m->connected = false;
    m->connect_done = true;
    m->connect_code = r ? r->code : MQTTASYNC_FAILURE;
    if (r != NULL && r->message != NULL) {
        set_error(m, r->message);
    } else {
        set_error(m, MQTTAsync_strerror(m->connect_code));
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->lock);
}

/* Under m->lock: forgets tok if it belongs to this send(); true if it did. */
static bool take_token(struct mqtt *m, int tok)
{
    for (size_t i = 0; i < m->n_tokens; i++) {
        if (m->tokens[i] == tok) {
            m->tokens[i] = m->tokens[--m->n_tokens];
            return true;
        }
    }
    return false;
}

static void on_pub_ok(void *ctx, MQTTAsync_successData *r)
{
    struct mqtt *m = ctx;
    pthread_mutex_lock(&m->lock);
    if (r != NULL && take_token(m, r->token)) {
        m->inflight--;
        m->acked++;
        pthread_cond_broadcast(&m->cv);
    } else if (r != NULL && m->n_early < EARLY_MAX) {
        m->early[m->n_early++] = r->token;
    }
    pthread_mutex_unlock(&m->lock);
}

static void on_pub_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct mqtt *m = ctx;
    pthread_mutex_lock(&m->lock);
    if (r != NULL && take_token(m, r->token)) {
        m->inflight--;
        if (!m->pub_failed) {
            m->pub_failed = true;
            snprintf(m->pub_error, sizeof(m->pub_error), "publish failed: %s",
                     r->message ? r->message : MQTTAsync_strerror(r->code));
        }
        pthread_cond_broadcast(&m->cv);
    }
    pthread_mutex_unlock(&m->lock);
}

static void timed_wait(struct mqtt *m, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)ms * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_cond_timedwait(&m->cv, &m->lock, &ts);
}

/* Connects if needed. 0 when connected; -ECANCELED; or -EAGAIN with res filled. */
static int ensure_connected(struct mqtt *m, struct cg_output_result *res)
{
    const struct mqtt_conf *c = m->c;
    pthread_mutex_lock(&m->lock);
    bool up = m->connected;
    m->connect_done = false;
    m->error[0] = '\0';
    pthread_mutex_unlock(&m->lock);
    if (up && MQTTAsync_isConnected(m->client)) {
        return 0;
    }
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    co.keepAliveInterval = (int)c->keepalive_s;
    co.connectTimeout = (int)c->connect_timeout_s;
    co.maxInflight = (int)c->max_inflight;
    co.cleansession = 1; /* the journal, not the broker session, keeps what is unsent */
    co.automaticReconnect = 0;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.context = m;
    co.onSuccess = on_connect_ok;
    co.onFailure = on_connect_fail;
    co.username = c->username;
    co.password = c->password;
    if (c->ssl) {
        ssl.trustStore = c->tls.ca_file;
        ssl.keyStore = c->tls.cert_file;
        ssl.privateKey = c->tls.key_file;
        ssl.privateKeyPassword = c->tls.key_password;
        ssl.enableServerCertAuth = c->has_tls ? c->tls.verify : 1;
        ssl.verify = c->has_tls ? c->tls.verify : 1;
        if (!c->has_tls || c->tls.ca_file == NULL) {
            ssl.CApath = "/etc/ssl/certs";
        }
        co.ssl = &ssl;
    }
    /* Never call into Paho holding m->lock: Paho runs our callbacks with its
     * own mutex held, and they take m->lock. */
    int e = MQTTAsync_connect(m->client, &co);
    pthread_mutex_lock(&m->lock);
    if (e != MQTTASYNC_SUCCESS) {
        m->connect_done = true;
        m->connect_code = e;
        set_error(m, MQTTAsync_strerror(e));
    }
    int64_t end = cg_time_mono_ms() + c->connect_timeout_s * 1000 + 2000;
    while (!m->connect_done && cg_time_mono_ms() < end) {
        if (cg_output_cancelled(m->engine)) {
            pthread_mutex_unlock(&m->lock);
            return -ECANCELED;
        }
        timed_wait(m, WAIT_SLICE_MS);
    }
    int code = m->connect_done ? m->connect_code : MQTTASYNC_FAILURE;
    if (!m->connect_done) {
        set_error(m, "no CONNACK in time");
    }
    if (code == 0) {
        pthread_mutex_unlock(&m->lock);
        cg_log(CG_LOG_INFO, cg_output_who(m->engine), "connected to %s as %s", c->paho_url, c->client_id_eff);
        return 0;
    }
    /* CONNACK codes, each on purpose (MQTT 3.1.1 3.2.2.3): 3 (server
     * unavailable) is transient; 1, 2, 4, 5 are configuration problems. */
    if (code == 1 || code == 2 || code == 4 || code == 5) {
        res->verdict = CG_OUTPUT_HOLD;
        res->status = code;
        snprintf(res->reason, sizeof(res->reason), "connection refused: %s", m->error);
    } else {
        res->verdict = CG_OUTPUT_RETRY;
        res->status = code == 3 ? 3 : 0;
        snprintf(res->reason, sizeof(res->reason), "connect failed: %s", m->error);
    }
    pthread_mutex_unlock(&m->lock);
    return -EAGAIN;
}

/* The topic for one line: the template with {measurement} from the line
 * (its unescaped-comma/space-terminated first token, escapes kept out). */
static void line_topic(const struct mqtt *m, const char *line, size_t len, char *out, size_t n)
{
    if (!m->c->topic_has_measurement) {
        snprintf(out, n, "%s", m->topic);
        return;
    }
    char meas[MEASUREMENT_MAX];
    size_t k = 0;
    for (size_t i = 0; i < len && k < sizeof(meas) - 1; i++) {
        if (line[i] == '\\' && i + 1 < len) {
            i++;
        } else if (line[i] == ',' || line[i] == ' ') {
            break;
        }
        /* a topic level must not carry wildcards or separators */
        char ch = line[i];
        meas[k++] = (ch == '/' || ch == '+' || ch == '#') ? '_' : ch;
    }
    meas[k] = '\0';
    size_t o = 0;
    for (const char *s = m->topic; *s && o < n - 1;) {
        if (strncmp(s, "{measurement}", 13) == 0) {
            o += (size_t)snprintf(out + o, n - o, "%s", meas);
            s += 13;
        } else {
            out[o++] = *s++;
        }
    }
    out[o < n ? o : n - 1] = '\0';
}

/* Publishes payload[0..len) to topic; 0, or -EAGAIN with pub_error set. */
static int publish_msg(struct mqtt *m, const char *topic, const char *payload, size_t len, bool retained);

static int publish(struct mqtt *m, const char *topic, const char *payload, size_t len)
{
    return publish_msg(m, topic, payload, len, false);
}

static int publish_msg(struct mqtt *m, const char *topic, const char *payload, size_t len, bool retained)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    msg.payload = (void *)(uintptr_t)payload;
    msg.payloadlen = (int)len;
    msg.qos = 1;
    msg.retained = retained;
    ro.context = m;
    ro.onSuccess = on_pub_ok;
    ro.onFailure = on_pub_fail;
    /* Never call into Paho holding m->lock (see ensure_connected); an ack
     * that beats us to the lock waits in m->early. */
    int e = MQTTAsync_sendMessage(m->client, topic, &msg, &ro);
    pthread_mutex_lock(&m->lock);
    if (e != MQTTASYNC_SUCCESS) {
        if (!m->pub_failed) {
            m->pub_failed = true;
            snprintf(m->pub_error, sizeof(m->pub_error), "publish: %s", MQTTAsync_strerror(e));
        }
        pthread_mutex_unlock(&m->lock);
        return -EAGAIN;
    }
    for (size_t i = 0; i < m->n_early; i++) {
        if (m->early[i] == ro.token) {
            m->early[i] = m->early[--m->n_early];
            m->acked++;
            pthread_mutex_unlock(&m->lock);
            return 0;
        }
    }
    m->tokens[m->n_tokens++] = ro.token;
    m->inflight++;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* ---- line protocol -> JSON line ---------------------------------------- */

enum { LP_TOKEN_MAX = 65536 };

/* Reads line[0..len) (no newline) into root's "measurement", tags and fields
 * (gateway/lp_parse.c splits it); the timestamp's digits go to ts ("" when
 * there is none). a and b are LP_TOKEN_MAX scratch buffers. 0, -EINVAL or
 * -ENOMEM. */
static int lp_parse(const char *line, size_t len, cJSON *root, cJSON *tags, cJSON *fields, char *a, char *b,
                    char ts[24])
{
    struct cg_lp_line *l = malloc(sizeof(*l));
    int rc = -ENOMEM;
    if (l == NULL) {
        goto out;
    }
    rc = -EINVAL;
    if (cg_lp_parse(line, len, l) < 0) {
        goto out;
    }
    rc = -ENOMEM;
    cg_lp_unescape(l->measurement, false, a, LP_TOKEN_MAX);
    if (cJSON_AddStringToObject(root, "measurement", a) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < l->n_tags; i++) {
        cg_lp_unescape(l->tags[i].key, false, a, LP_TOKEN_MAX);
        cg_lp_unescape(l->tags[i].val, false, b, LP_TOKEN_MAX);
        if (cJSON_AddStringToObject(tags, a, b) == NULL) {
            goto out;
        }
    }
    for (size_t i = 0; i < l->n_fields; i++) {
        const struct cg_lp_field *f = &l->fields[i];
        cJSON *added = NULL;
        cg_lp_unescape(f->key, false, a, LP_TOKEN_MAX);
        if (f->kind == CG_LP_STRING) {
            cg_lp_unescape(f->val, true, b, LP_TOKEN_MAX);
            added = cJSON_AddStringToObject(fields, a, b);
        } else if (f->kind == CG_LP_BOOL) {
            added = cJSON_AddBoolToObject(fields, a, f->num != 0);
        } else {
            /* the encoder's numbers are JSON numbers as they stand, without i / u */
            size_t n = f->val.n - (f->kind == CG_LP_FLOAT ? 0 : 1);
            snprintf(b, LP_TOKEN_MAX, "%.*s", (int)n, f->val.p);
            added = cJSON_AddRawToObject(fields, a, b);
        }
        if (added == NULL) {
            goto out;
        }
    }
    ts[0] = '\0';
    if (l->has_ts) {
        snprintf(ts, 24, "%" PRId64, l->ts);
    }
    rc = 0;
out:
    free(l);
    return rc;
}

/* One line of line protocol as the encoder wrote it (gateway/lineproto.c)
 * to {"measurement":..,"tags":{..},"fields":{..},"time":ns}\n. Integers
 * (i/u suffix) and floats become JSON numbers, t/f booleans, strings strings.
 * *out is malloc'ed (caller frees). 0, -EINVAL (not a line this encoder
 * writes) or -ENOMEM. */
static int lp_to_json(const char *line, size_t len, char **out, size_t *out_len)
{
    char *a = malloc(LP_TOKEN_MAX), *b = malloc(LP_TOKEN_MAX);
    cJSON *root = cJSON_CreateObject(), *tags = cJSON_CreateObject(), *fields = cJSON_CreateObject();
    int rc = -ENOMEM;
    char *txt = NULL;
    char ts[24];
    if (a == NULL || b == NULL || root == NULL || tags == NULL || fields == NULL) {
        goto out;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        len--;
    }
    rc = lp_parse(line, len, root, tags, fields, a, b, ts);
    if (rc < 0) {
        goto out;
    }
    rc = -ENOMEM;
    cJSON_AddItemToObject(root, "tags", tags);
    tags = NULL;
    cJSON_AddItemToObject(root, "fields", fields);
    fields = NULL;
    if (ts[0] != '\0' && cJSON_AddRawToObject(root, "time", ts) == NULL) {
        goto out;
    }
    txt = cJSON_PrintUnformatted(root);
    char *line_out = txt ? malloc(strlen(txt) + 2) : NULL;
    if (line_out == NULL) {
        goto out;
    }
    size_t n = strlen(txt);
    memcpy(line_out, txt, n);
    line_out[n] = '\n';
    line_out[n + 1] = '\0';
    *out = line_out;
    *out_len = n + 1;
    rc = 0;
out:
    cJSON_Delete(root);
    cJSON_Delete(tags);
    cJSON_Delete(fields);
    cJSON_free(txt);
    free(a);
    free(b);
    return rc;
}

/* Waits (under m->lock) until at most `limit` messages are in flight, a
 * failure, the deadline or cancellation. 0, -EAGAIN (failed / timed out), or
 * -ECANCELED. */
static int wait_acks(struct mqtt *m, size_t limit, int64_t deadline)
{
    while (m->inflight > limit && !m->pub_failed) {
        if (cg_output_cancelled(m->engine)) {
            return -ECANCELED;
        }
        if (cg_time_mono_ms() >= deadline) {
            m->pub_failed = true;
            snprintf(m->pub_error, sizeof(m->pub_error), "no PUBACK within %" PRId64 " ms", m->c->timeout_ms);
            break;
        }
        timed_wait(m, WAIT_SLICE_MS);
    }
    return m->pub_failed ? -EAGAIN : 0;
}

/* Marks this send() failed with reason (first failure wins). */
static void fail_send(struct mqtt *m, const char *reason, int err)
{
    pthread_mutex_lock(&m->lock);
    if (!m->pub_failed) {
        m->pub_failed = true;
        snprintf(m->pub_error, sizeof(m->pub_error), "%s: %s", reason, strerror(err));
    }
    pthread_mutex_unlock(&m->lock);
}

/* Appends line[0..len) as JSON to m->payload at offset at; *end gets the new
 * end. 0 or -errno. */
static int append_payload(struct mqtt *m, const char *js, size_t n, size_t at, size_t *end);

static int append_json(struct mqtt *m, const char *line, size_t len, size_t at, size_t *end)
{
    char *js = NULL;
    size_t n = 0;
    int rc = lp_to_json(line, len, &js, &n);
    if (rc == 0) {
        rc = append_payload(m, js, n, at, end);
    }
    free(js);
    return rc;
}

static int append_payload(struct mqtt *m, const char *js, size_t n, size_t at, size_t *end)
{
    /* an MQTT payload length is an int (paho's payloadlen) */
    int rc = n > INT_MAX || at > INT_MAX - n - 1
                 ? -E2BIG
                 : cg_array_grow((void **)&m->payload, &m->payload_cap, at + n + 1, 1, (size_t)INT_MAX);
    if (rc == 0) {
        memcpy(m->payload + at, js, n);
        *end = at + n;
    }
    return rc;
}

/* ---- alarm events (alert_topic) ------------------------------------------ */

static bool is_event(const char *line, size_t len)
{
    static const char ev[] = CG_ALARM_MEASUREMENT ",";
    return len > sizeof(ev) - 1 && memcmp(line, ev, sizeof(ev) - 1) == 0;
}

/* The value of tag key in line (unescaped, gateway/lp_parse.c), or false. */
static bool event_tag(const char *line, size_t len, const char *key, char *out, size_t outsz)
{
    struct cg_lp_line *l = malloc(sizeof(*l)); /* ~15 KiB: not on the stack */
    bool found = false;
    if (l != NULL && cg_lp_parse(line, len, l) == 0) {
        char k[MEASUREMENT_MAX];
        for (size_t i = 0; i < l->n_tags && !found; i++) {
            cg_lp_unescape(l->tags[i].key, false, k, sizeof(k));
            if (strcmp(k, key) == 0) {
                cg_lp_unescape(l->tags[i].val, false, out, outsz);
                found = true;
            }
        }
    }
    free(l);
    return found;
}

/* m->alert_topic with each {TAG} replaced by the event's tag value ("_" when
 * it has none); a level cannot carry / + #. */
static void event_topic(const struct mqtt *m, const char *line, size_t len, char *out, size_t n)
{
    size_t o = 0;
    for (const char *s = m->alert_topic; *s && o < n - 1;) {
        const char *e = *s == '{' ? strchr(s, '}') : NULL;
        if (e == NULL) {
            out[o++] = *s++;
            continue;
        }
        char key[MEASUREMENT_MAX], val[TOPIC_MAX / 2];
        snprintf(key, sizeof(key), "%.*s", (int)(e - s - 1), s + 1);
        if (!event_tag(line, len, key, val, sizeof(val)) || val[0] == '\0') {
            snprintf(val, sizeof(val), "_");
        }
        for (const char *v = val; *v && o < n - 1; v++) {
            out[o++] = (*v == '/' || *v == '+' || *v == '#') ? '_' : *v;
        }
        s = e + 1;
    }
    out[o] = '\0';
}

/* One alarm event as JSON, retained on its topic: the topic holds the alarm's
 * state for whoever subscribes later (a siren controller after a reboot). */
static int publish_event(struct mqtt *m, const char *line, size_t len, int64_t deadline, uint64_t *bytes)
{
    char *js = NULL;
    size_t n = 0;
    char topic[TOPIC_MAX];
    int rc = lp_to_json(line, len, &js, &n);
    while (rc == 0 && n > 0 && js[n - 1] == '\n') {
        n--; /* one JSON object, as a retained state reads best */
    }
    if (rc < 0) {
        free(js);
        fail_send(m, "cannot convert an alarm event to JSON", -rc);
        return -EAGAIN;
    }
    pthread_mutex_lock(&m->lock);
    rc = wait_acks(m, m->n_tokens_max - 1, deadline);
    pthread_mutex_unlock(&m->lock);
    if (rc == 0) {
        event_topic(m, line, len, topic, sizeof(topic));
        rc = publish_msg(m, topic, js, n, true);
        *bytes += n;
    }
    free(js);
    return rc;
}

/* Publishes lines[0..len) as configured: one message per batch or per line,
 * line protocol as stored or converted to JSON lines. 0 (all published, acks
 * pending), -EAGAIN (m->pub_error says why) or -ECANCELED. */
static int publish_lines(struct mqtt *m, const char *p, size_t len, int64_t deadline, uint64_t *bytes)
{
    const struct mqtt_conf *c = m->c;
    if (c->message == MSG_BATCH && c->format == FMT_LP && c->alert_topic == NULL) {
        *bytes = len;
        return publish(m, m->topic, p, len);
    }
    char topic[TOPIC_MAX];
    size_t jlen = 0;
    bool any = false; /* a line for the batch message */
    for (const char *s = p, *end = p + len; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t l = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
        const char *msg = s;
        size_t mlen = l;
        if (c->alert_topic != NULL && (is_event(s, l) || c->events_only)) {
            int rc = is_event(s, l) ? publish_event(m, s, l, deadline, bytes) : 0;
            if (rc < 0) {
                return rc;
            }
            s += l;
            continue;
        }
        any = true;
        if (c->format == FMT_LP && c->message == MSG_BATCH) {
            int rc = append_payload(m, s, l, jlen, &jlen);
            if (rc < 0) {
                fail_send(m, "cannot build the batch message", -rc);
                return -EAGAIN;
            }
        } else if (c->format == FMT_JSON) {
            int rc = append_json(m, s, l, c->message == MSG_BATCH ? jlen : 0, &jlen);
            if (rc < 0) {
                fail_send(m, "cannot convert a line to JSON", -rc);
                return -EAGAIN;
            }
            msg = m->payload;
            mlen = jlen;
        }
        if (c->message == MSG_LINE) {
            pthread_mutex_lock(&m->lock);
            int rc = wait_acks(m, (size_t)c->max_inflight - 1, deadline);
            pthread_mutex_unlock(&m->lock);
            if (rc == 0) {
                line_topic(m, s, l, topic, sizeof(topic));
                rc = publish(m, topic, msg, mlen);
            }
            if (rc < 0) {
                return rc;
            }
            *bytes += mlen;
        }
        s += l;
    }
    if (c->message == MSG_BATCH && any) {
        pthread_mutex_lock(&m->lock);
        int rc = wait_acks(m, m->n_tokens_max - 1, deadline);
        pthread_mutex_unlock(&m->lock);
        if (rc < 0) {
            return rc;
        }
        *bytes += jlen;
        return publish(m, m->topic, m->payload, jlen);
    }
    return 0;
}

static int send_batch(void *state, const char *p, size_t len, size_t nlines, struct cg_output_result *res)
{
    struct mqtt *m = state;
    const struct mqtt_conf *c = m->c;
    int rc = ensure_connected(m, res);
    if (rc == -ECANCELED) {
        return rc;
    }
    if (rc < 0) {
        return 0; /* res says why */
    }
    pthread_mutex_lock(&m->lock);
    m->inflight = 0;
    m->acked = 0;
    m->n_tokens = 0;
    m->n_early = 0; /* the connection of any older ack is gone */
    m->pub_failed = false;
    m->pub_error[0] = '\0';
    pthread_mutex_unlock(&m->lock);

    int64_t deadline = cg_time_mono_ms() + c->timeout_ms;
    uint64_t bytes = 0;
    rc = publish_lines(m, p, len, deadline, &bytes);
    pthread_mutex_lock(&m->lock);
    if (rc == 0) {
        rc = wait_acks(m, 0, deadline);
    }
    if (rc == -ECANCELED) {
        pthread_mutex_unlock(&m->lock);
        return rc;
    }
    if (rc == 0) {
        res->verdict = CG_OUTPUT_OK;
        res->bytes_sent = bytes;
    } else {
        /* Anything short of every PUBACK: the batch is published again (QoS 1
         * is at-least-once). A fresh connection drops the old session. */
        res->verdict = CG_OUTPUT_RETRY;
        res->status = 0;
        snprintf(res->reason, sizeof(res->reason), "%s (%zu of %zu lines acknowledged)", m->pub_error,
                 c->message == MSG_LINE ? m->acked : 0, nlines);
        m->n_tokens = 0;
        m->inflight = 0;
        m->connected = false; /* reconnect before the next attempt */
    }
    pthread_mutex_unlock(&m->lock);
    if (rc != 0 && MQTTAsync_isConnected(m->client)) {
        /* Drop the connection (and with it every ack still on its way) so
         * the retry starts on a clean session. */
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 1000;
        MQTTAsync_disconnect(m->client, &d);
        for (int i = 0; i < 40 && MQTTAsync_isConnected(m->client); i++) {
            usleep(50 * 1000);
        }
    }
    return 0;
}

static void close_conn(void *state)
{
    struct mqtt *m = state;
    if (m == NULL) {
        return;
    }
    if (m->created) {
        if (MQTTAsync_isConnected(m->client)) {
            MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
            d.timeout = 1000;
            MQTTAsync_disconnect(m->client, &d);
            for (int i = 0; i < 20 && MQTTAsync_isConnected(m->client); i++) {
                usleep(50 * 1000);
            }
        }
        MQTTAsync_destroy(&m->client);
    }
    free(m->tokens);
    free(m->payload);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* A topic template with {client_id}, {name} and {hostname} filled in; other
 * placeholders ({measurement}, an alert topic's tags) stay for later. */
static void expand_topic(struct mqtt *m, const char *tmpl, char *out, size_t n)
{
    const struct mqtt_conf *c = m->c;
    char host[128] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    size_t o = 0;
    for (const char *s = tmpl; *s && o < n - 1;) {
        const char *val = NULL;
        size_t skip = 0;
        if (strncmp(s, "{client_id}", 11) == 0) {
            val = c->client_id_eff;
            skip = 11;
        } else if (strncmp(s, "{name}", 6) == 0) {
            val = c->common.name;
            skip = 6;
        } else if (strncmp(s, "{hostname}", 10) == 0) {
            val = host;
            skip = 10;
        }
        if (val != NULL) {
            int w = snprintf(out + o, n - o, "%s", val);
            o = w < 0 ? o : (o + (size_t)w < n ? o + (size_t)w : n - 1);
            s += skip;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
}

static int open_conn(const struct cg_output_common *common, struct cg_output *engine, void **state)
{
    const struct mqtt_conf *c = (const struct mqtt_conf *)common;
    struct mqtt *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    m->c = c;
    m->engine = engine;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    expand_topic(m, c->topic, m->topic, sizeof(m->topic));
    if (c->alert_topic != NULL) {
        expand_topic(m, c->alert_topic, m->alert_topic, sizeof(m->alert_topic));
    }
    size_t nt = c->message == MSG_LINE || c->alert_topic ? (size_t)c->max_inflight : 1;
    m->n_tokens_max = nt;
    m->tokens = calloc(nt, sizeof(*m->tokens));
    if (m->tokens == NULL) {
        goto fail;
    }
    MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
    cro.sendWhileDisconnected = 0;
    cro.MQTTVersion = MQTTVERSION_3_1_1;
    if (MQTTAsync_createWithOptions(&m->client, c->paho_url, c->client_id_eff, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                    &cro) != MQTTASYNC_SUCCESS) {
        goto fail;
    }
    m->created = true;
    if (MQTTAsync_setCallbacks(m->client, m, on_lost, on_message, NULL) != MQTTASYNC_SUCCESS) {
        goto fail;
    }
    *state = m;
    return 0;
fail:
    close_conn(m);
    return -ENOMEM;
}

static bool events_only(const struct cg_output_common *common)
{
    return ((const struct mqtt_conf *)common)->events_only;
}

static const struct cg_output_ops mqtt_ops = {
    .events_only = events_only,
    .conf_parse = conf_parse,
    .conf_free = conf_free,
    .target = conf_target,
    .open = open_conn,
    .send = send_batch,
    .close = close_conn,
    .hold_hint = hold_hint,
};

const struct cg_output_type cg_output_mqtt = {
    .api_version = CG_OUTPUT_API_VERSION,
    .name = "mqtt",
    .summary = "MQTT uplink: line protocol or JSON lines to a central broker, QoS 1, committed on PUBACK",
    .status_word = "MQTT CONNACK",
    .options = mqtt_options,
    .ops = &mqtt_ops,
};
