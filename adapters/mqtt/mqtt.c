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
 * connects with exponential backoff (cg_backoff, full jitter: uniform in
 * [reconnect_min_ms, ceiling], the ceiling doubling from reconnect_min_ms to
 * reconnect_max_ms; seeded per source, so gateways that lost the same broker
 * do not come back in step), and every successful connect subscribes
 * again to every filter, whatever the broker says about the session. The
 * same thread raises the per-subscription "connected but silent" alarm. */
#include <citygate/adapter.h>
#include <citygate/backoff.h>

#include "mqtt_conf.h"

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

/* Fixed header (5) + topic (2 + 65535) + packet id (2) + properties: what a
 * PUBLISH adds to its payload, at most (properties bounded generously). */
#define MQTT_PACKET_OVERHEAD_MAX (5u + 2u + 65535u + 2u + 4096u)

#define FIRST_BYTES 48
/* commit "group": no message for this long means Paho has nothing waiting
 * (it reads the next packet within microseconds of our callback returning) */
#define GROUP_IDLE_US 1000
#define TOPIC_CACHE_SLOTS 128
#define TOPIC_CACHE_LEN 128
#define TOPIC_CACHE_CAPS 8

struct topic_slot {
    bool used;
    uint16_t tlen;
    int16_t rule; /* index, or -1: no rule (unmatched) */
    uint8_t n_caps;
    uint32_t hash;
    uint64_t subs; /* bit i: subscription i matches */
    struct {
        const char *name; /* borrowed from the rule's pattern */
        uint16_t off, len; /* into the topic */
    } caps[TOPIC_CACHE_CAPS];
    char topic[TOPIC_CACHE_LEN];
};

/* ---- runtime state ------------------------------------------------------ */

struct mqtt;

struct sub {
    struct mqtt *m;
    const char *wire, *filter; /* borrowed from the configuration (struct cg_mqtt_sub) */
    int qos;
    int64_t silent_alarm_s;
    atomic_uint_fast64_t messages;
    atomic_int_fast64_t last_msg_ms;
    atomic_int subscribed; /* granted by the broker on this connection */
    atomic_int silent;
    struct cg_complain silent_c; /* watchdog thread only */
};

struct rule {
    const struct cg_mqtt_rule *cf;
    atomic_uint_fast64_t messages, bad, points;
    _Atomic(const char *) last_error; /* static text */
};

enum bad_kind { BAD_PARSE, BAD_TOO_LARGE, BAD_NONFINITE, BAD_UTF8, BAD_EMPTY, BAD_RANGE, BAD_REJECTED, BAD_N };
static const char *const bad_names[BAD_N] = {"parse", "too_large", "nonfinite", "utf8", "empty", "range",
                                             "rejected"};

struct mqtt {
    struct cg_mqtt_conf cf;
    struct cg_sink *sink;
    const char *name;
    struct sub *subs; /* one per cf.subs */
    size_t n_subs;
    struct rule *rules; /* one per cf.rules */
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
    struct cg_backoff backoff; /* lock */
    int64_t connected_ms;     /* lock */
    char last_error[256];     /* lock */
    atomic_int_fast64_t last_ok_ns;

    /* the receive thread's own */
    struct cg_batch batch;
    /* commit "group" (see emit()) */
    bool group;
    pthread_t committer;
    bool committer_started;
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_cond; /* CLOCK_MONOTONIC */
    bool commit_stop;           /* commit_lock */
    uint64_t commit_seq;        /* commit_lock: messages handed over */
    struct cg_complain commit_c; /* commit_lock */
    atomic_uint_fast64_t group_writes, group_lost;
    struct cg_arena match_arena; /* the payload's JSON for rules with "match" */
    struct topic_slot *tcache;   /* TOPIC_CACHE_SLOTS; see route() */
    struct cg_complain bad_c, unmatched_c, full_c, reject_c;
    struct cg_complain conn_c; /* under lock */

    atomic_uint_fast64_t messages, points, unmatched, held, redeliver, connects, conn_failures;
    atomic_uint_fast64_t bad[BAD_N];
};

static int64_t mono_ms(void)
{
    return cg_time_mono_ms();
}

/* now + ns (< 1 s) on clock, for pthread_cond_timedwait */
static struct timespec deadline(clockid_t clock, long ns)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_nsec += ns;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
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

static void destroy(void *state);

/* ---- create: the configuration (mqtt_conf.c), then the runtime state ----- */

static int create(const cJSON *conf, const char *path, struct cg_sink *sink, void **state, struct cg_errs *errs)
{
    struct mqtt *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    pthread_mutex_init(&m->commit_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->commit_cond, &ca);
    pthread_condattr_destroy(&ca);
    m->sink = sink;
    m->name = cg_sink_source_name(sink);
    int rc = cg_mqtt_conf_parse(&m->cf, conf, path, sink, errs);
    if (rc < 0) {
        goto fail;
    }
    m->subs = calloc(m->cf.n_subs ? m->cf.n_subs : 1, sizeof(*m->subs));
    m->rules = calloc(m->cf.n_rules ? m->cf.n_rules : 1, sizeof(*m->rules));
    if (m->subs == NULL || m->rules == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < m->cf.n_subs; i++) {
        const struct cg_mqtt_sub *c = &m->cf.subs[i];
        m->subs[i] = (struct sub){.m = m, .wire = c->wire, .filter = c->filter, .qos = c->qos,
                                  .silent_alarm_s = c->silent_alarm_s};
    }
    for (size_t i = 0; i < m->cf.n_rules; i++) {
        m->rules[i].cf = &m->cf.rules[i];
    }
    m->n_subs = m->cf.n_subs;
    m->n_rules = m->cf.n_rules;
    *state = m;
    return 0;
fail:
    destroy(m);
    *state = NULL;
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

/* Hands the batch to the core. commit "group": under commit_lock, shared with
 * the committer thread, which appends the held group once no further message
 * arrived for GROUP_IDLE_US (Paho has nothing more waiting); the core appends
 * it by itself at CG_MQTT_GROUP_MESSAGES. */
static int emit(struct mqtt *m, const struct cg_batch *b, const struct cg_sink_rule *sr)
{
    if (!m->group) {
        return cg_sink_emit_rule(m->sink, b->points, b->n_points, (int)m->cf.c.emit_timeout_ms, sr);
    }
    pthread_mutex_lock(&m->commit_lock);
    bool was_empty = cg_sink_held(m->sink) == 0;
    int e = cg_sink_emit_rule(m->sink, b->points, b->n_points, (int)m->cf.c.emit_timeout_ms, sr);
    m->commit_seq++;
    if (was_empty && cg_sink_held(m->sink) > 0) {
        pthread_cond_signal(&m->commit_cond); /* once per group, not per message */
    } else if (!was_empty && cg_sink_held(m->sink) == 0 && e >= 0) {
        atomic_fetch_add(&m->group_writes, 1); /* written here: the group was full */
    }
    pthread_mutex_unlock(&m->commit_lock);
    return e;
}

/* Appends the held group; commit_lock held. */
static void commit_group(struct mqtt *m)
{
    unsigned held = cg_sink_held(m->sink);
    int e = cg_sink_flush(m->sink, (int)m->cf.c.emit_timeout_ms);
    if (e >= 0) {
        atomic_fetch_add(&m->group_writes, held > 0);
        cg_complain_clear(&m->commit_c, m->name, "group commit");
    } else {
        /* held and retried; a full group stops the receive thread meanwhile */
        cg_complain(&m->commit_c, CG_LOG_WARN, m->name, "group of %u messages not written yet (%s); retrying",
                    held, strerror(-e));
    }
}

static void *committer(void *arg)
{
    struct mqtt *m = arg;
    pthread_mutex_lock(&m->commit_lock);
    while (!m->commit_stop) {
        if (cg_sink_held(m->sink) == 0) {
            pthread_cond_wait(&m->commit_cond, &m->commit_lock);
            continue;
        }
        uint64_t seen = m->commit_seq;
        struct timespec ts = deadline(CLOCK_MONOTONIC, GROUP_IDLE_US * 1000L);
        pthread_cond_timedwait(&m->commit_cond, &m->commit_lock, &ts);
        if (m->commit_seq == seen && cg_sink_held(m->sink) > 0) {
            commit_group(m);
        }
    }
    pthread_mutex_unlock(&m->commit_lock);
    return NULL;
}

/* A rule's "match": every condition's path holds that exact value. */
static bool payload_matches(const struct cg_mqtt_rule *c, const struct cg_jval *doc)
{
    for (size_t i = 0; i < c->n_match; i++) {
        const struct cg_mqtt_match *w = &c->match[i];
        const struct cg_jval *v = cg_jdom_path(doc, w->path);
        if (v == NULL || v->type != w->type) {
            return false;
        }
        if (w->type == CG_J_STRING && (v->len != strlen(w->text) || memcmp(v->str, w->text, v->len) != 0)) {
            return false;
        }
        if (w->type == CG_J_NUMBER && v->num != w->num) {
            return false;
        }
    }
    return true;
}

/* ---- routing: subscriptions and rules of a topic, cached -------------------
 *
 * A gateway sees the same few thousand topics again and again; their routing
 * (which subscriptions count the message, which rule takes it, where its
 * {name} levels are) is kept in a small direct-mapped cache on the receive
 * thread, so a repeated topic costs one hash and one memcmp. Bounded: fixed
 * slots, topics up to TOPIC_CACHE_LEN bytes; a collision replaces the slot.
 * Not cached: routing that looked into the payload (a rule with "match"). */

static uint32_t topic_hash(const char *t, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)t[i]) * 16777619u;
    }
    return h;
}

/* Bit i: subscription i's filter matches (subscriptions beyond 64 not cached). */
static uint64_t route_subs(struct mqtt *m, const char *topic, size_t tlen)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < m->n_subs && i < 64; i++) {
        if (cg_topic_filter_match(m->subs[i].filter, topic, tlen)) {
            bits |= (uint64_t)1 << i;
        }
    }
    return bits;
}

static void count_subs(struct mqtt *m, uint64_t bits, int64_t now)
{
    for (size_t i = 0; bits != 0 && i < 64; i++, bits >>= 1) {
        if (bits & 1) {
            atomic_fetch_add(&m->subs[i].messages, 1);
            atomic_store(&m->subs[i].last_msg_ms, now);
        }
    }
}

static struct rule *route(struct mqtt *m, const char *topic, size_t tlen, const void *payload, size_t plen,
                          struct cg_topic_capture *caps, size_t *n_caps, int64_t now)
{
    bool cacheable = m->tcache != NULL && tlen <= TOPIC_CACHE_LEN && m->n_subs <= 64;
    uint32_t h = topic_hash(topic, tlen);
    struct topic_slot *ts = cacheable ? &m->tcache[h % TOPIC_CACHE_SLOTS] : NULL;
    if (ts != NULL && ts->used && ts->hash == h && ts->tlen == tlen && memcmp(ts->topic, topic, tlen) == 0) {
        count_subs(m, ts->subs, now);
        *n_caps = ts->n_caps;
        for (size_t i = 0; i < ts->n_caps; i++) {
            caps[i] = (struct cg_topic_capture){.name = ts->caps[i].name, .value = topic + ts->caps[i].off,
                                                .len = ts->caps[i].len};
        }
        return ts->rule < 0 ? NULL : &m->rules[ts->rule];
    }
    uint64_t subs = route_subs(m, topic, tlen);
    for (size_t i = 64; i < m->n_subs; i++) {
        if (cg_topic_filter_match(m->subs[i].filter, topic, tlen)) {
            atomic_fetch_add(&m->subs[i].messages, 1);
            atomic_store(&m->subs[i].last_msg_ms, now);
        }
    }
    count_subs(m, subs, now);
    struct rule *r = NULL;
    const struct cg_jval *doc = NULL;
    int doc_rc = 1; /* 1: not parsed yet */
    for (size_t i = 0; i < m->n_rules; i++) {
        const struct cg_mqtt_rule *c = &m->cf.rules[i];
        if (!cg_topic_pattern_match(&c->pat, topic, tlen, caps, CG_TOPIC_MAX_LEVELS, n_caps)) {
            continue;
        }
        if (c->n_match > 0) {
            cacheable = false; /* the payload decided */
            if (doc_rc == 1) { /* parsed once per message, only when a rule asks for it */
                const char *w = NULL;
                cg_arena_reset(&m->match_arena);
                doc_rc = plen <= (size_t)m->cf.c.max_payload_bytes
                             ? cg_jdom_parse(&m->match_arena, payload, plen, (unsigned)m->cf.c.max_json_depth,
                                             &doc, &w)
                             : -EMSGSIZE;
            }
            if (doc_rc < 0 || !payload_matches(c, doc)) {
                continue; /* not this rule's payload: a later rule may take it */
            }
        }
        r = &m->rules[i];
        break;
    }
    if (r == NULL) {
        *n_caps = 0;
    }
    if (cacheable && *n_caps <= TOPIC_CACHE_CAPS) {
        *ts = (struct topic_slot){.used = true, .hash = h, .tlen = (uint16_t)tlen, .subs = subs,
                                  .rule = r ? (int16_t)(r - m->rules) : -1, .n_caps = (uint8_t)*n_caps};
        memcpy(ts->topic, topic, tlen);
        for (size_t i = 0; i < *n_caps; i++) {
            ts->caps[i].name = caps[i].name;
            ts->caps[i].off = (uint16_t)(caps[i].value - topic);
            ts->caps[i].len = (uint16_t)caps[i].len;
        }
    }
    return r;
}

/* Returns 1: done (ack), 0: keep (stopping while the message is in hand). */
static int handle(struct mqtt *m, const char *topic, size_t tlen, const void *payload, size_t plen)
{
    char fb[FIRST_BYTES * 4 + 8];
    int64_t now = mono_ms();
    atomic_fetch_add(&m->messages, 1);

    if (tlen > CG_TOPIC_MAX_LEN || memchr(topic, '\0', tlen) != NULL) {
        count_subs(m, route_subs(m, topic, tlen), now);
        atomic_fetch_add(&m->unmatched, 1);
        cg_complain(&m->unmatched_c, CG_LOG_WARN, m->name, "topic of %zu bytes not handled (too long or NUL)",
                    tlen);
        return 1;
    }
    struct cg_topic_capture caps[CG_TOPIC_MAX_LEVELS];
    size_t n_caps = 0;
    struct rule *r = route(m, topic, tlen, payload, plen, caps, &n_caps, now);
    if (r == NULL) {
        atomic_fetch_add(&m->unmatched, 1);
        cg_complain(&m->unmatched_c, CG_LOG_WARN, m->name, "no rule matches topic '%.*s' (counted, acked)",
                    (int)tlen, topic);
        return 1;
    }
    const struct cg_mqtt_rule *rule = r->cf;
    atomic_fetch_add(&r->messages, 1);
    if (plen > (size_t)m->cf.c.max_payload_bytes) {
        atomic_fetch_add(&m->bad[BAD_TOO_LARGE], 1);
        atomic_fetch_add(&r->bad, 1);
        atomic_store(&r->last_error, "payload larger than max_payload_bytes");
        first_bytes(payload, plen, fb, sizeof(fb));
        cg_complain(&m->bad_c, CG_LOG_WARN, m->name, "topic '%.*s': payload of %zu bytes > max_payload_bytes %lld "
                    "(dropped, acked): %s", (int)tlen, topic, plen, (long long)m->cf.c.max_payload_bytes, fb);
        return 1;
    }

    struct cg_batch *b = &m->batch;
    cg_batch_reset(b);
    b->now_ns = cg_time_now_ns();
    /* the rule's tags: static ones, topic captures, the topic itself */
    struct cg_tag tags[CG_POINT_MAX_TAGS];
    size_t nt = 0;
    for (size_t i = 0; i < rule->n_tags && nt < CG_POINT_MAX_TAGS; i++) {
        tags[nt++] = rule->tags[i];
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
    if (rc == 0 && rule->topic_tag != NULL && nt < CG_POINT_MAX_TAGS) {
        char *v = cg_arena_strndup(&b->arena, topic, tlen);
        if (v == NULL) {
            rc = -EMSGSIZE;
            why = "topic too large";
        } else {
            tags[nt++] = (struct cg_tag){.key = rule->topic_tag, .value = v};
        }
    }
    b->base_tags = tags;
    b->n_base_tags = nt;
    if (rc == 0) {
        switch (rule->format) {
        case CG_MQTT_FMT_JSON:
        case CG_MQTT_FMT_CHIRPSTACK_V4:
        case CG_MQTT_FMT_TTN_V3:
            rc = cg_codec_json_decode(&rule->json, rule->measurement, payload, plen, b, &why);
            break;
        case CG_MQTT_FMT_SENML:
            rc = cg_codec_senml_decode(&rule->senml, rule->measurement, payload, plen, b, &why);
            break;
        case CG_MQTT_FMT_INFLUX: rc = cg_codec_lp_decode(&rule->lp, rule->measurement, payload, plen, b, &why); break;
        default: rc = cg_codec_value_decode(&rule->value, rule->measurement, payload, plen, b, &why); break;
        }
    }
    if (rc < 0) {
        enum bad_kind k = kind_of(rc);
        atomic_fetch_add(&m->bad[k], 1);
        atomic_fetch_add(&r->bad, 1);
        atomic_store(&r->last_error, why ? why : "bad payload");
        first_bytes(payload, plen, fb, sizeof(fb));
        cg_complain(&m->bad_c, CG_LOG_WARN, m->name, "topic '%.*s': bad %s payload (%s; dropped, acked): %s",
                    (int)tlen, topic, cg_mqtt_format_names[rule->format], why ? why : bad_names[k], fb);
        return 1;
    }
    cg_complain_clear(&m->bad_c, m->name, "bad payloads");
    cg_batch_finish(b);
    for (size_t i = 0; i < b->n_skipped; i++) {
        cg_sink_count_skipped(m->sink, b->skipped[i].measurement ? b->skipped[i].measurement : rule->measurement,
                              b->skipped[i].name, b->skipped[i].n);
    }

    /* Hand over. While the buffer is full we hold this message and read
     * nothing else: nothing more gets acknowledged (see the top comment). */
    for (;;) {
        struct cg_sink_rule sr = {.tags = b->base_tags,
                                  .n_tags = b->n_base_tags,
                                  .payload_tags = rule->payload_tags,
                                  .static_tags = rule->static_tags,
                                  .n_static_tags = rule->n_static_tags};
        int e = emit(m, b, &sr);
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
    m->next_connect_ms = mono_ms() + cg_backoff_next(&m->backoff);
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
        cg_complain(&m->conn_c, CG_LOG_WARN, m->name, "%s: connection lost%s%s; reconnecting", m->cf.url,
                    cause ? ": " : "", cause ? cause : "");
    }
    m->connecting = false;
    cg_backoff_reset(&m->backoff);
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
    if (m->cf.status_topic == NULL) {
        return;
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int e = MQTTAsync_send(m->client, m->cf.status_topic, (int)strlen(text), text, 1, 1, &ro);
    if (e != MQTTASYNC_SUCCESS) {
        cg_log(CG_LOG_WARN, m->name, "status '%s' to %s not sent: %s", text, m->cf.status_topic, MQTTAsync_strerror(e));
    }
}

static void connected(struct mqtt *m, int session_present)
{
    pthread_mutex_lock(&m->lock);
    m->connecting = false;
    cg_backoff_reset(&m->backoff);
    m->connected_ms = mono_ms();
    m->last_error[0] = '\0';
    cg_complain_clear(&m->conn_c, m->name, "broker connection");
    pthread_mutex_unlock(&m->lock);
    atomic_store(&m->connected, 1);
    atomic_fetch_add(&m->connects, 1);
    cg_log(CG_LOG_INFO, m->name, "connected to %s as %s (MQTT %s, %s session%s)", m->cf.url, m->cf.client_id,
           cg_mqtt_version_names[m->cf.c.mqtt_version], m->cf.c.clean_session ? "clean" : "persistent",
           session_present ? ", resumed" : "");
    /* always subscribe again: a broker may have lost the session (restart
     * without persistence, expiry), and re-subscribing an existing one is harmless */
    for (size_t i = 0; i < m->n_subs; i++) {
        struct sub *s = &m->subs[i];
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.context = s;
        if (m->cf.c.mqtt_version == CG_MQTT_V5) {
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
    publish_status(m, m->cf.c.status_online);
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
        cg_complain(&m->conn_c, CG_LOG_WARN, m->name, "%s: %s; retrying in %lld ms", m->cf.url, m->last_error,
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
    MQTTAsync_connectOptions *o = m->cf.c.mqtt_version == CG_MQTT_V5 ? &co5 : &co;

    o->keepAliveInterval = (int)m->cf.c.keepalive_s;
    o->connectTimeout = (int)m->cf.c.connect_timeout_s;
    o->maxInflight = (int)m->cf.c.receive_maximum;
    o->automaticReconnect = 0;
    o->context = m;
    o->username = m->cf.c.username;
    o->password = m->cf.c.password;
    if (m->cf.c.mqtt_version == CG_MQTT_V5) {
        o->cleanstart = m->cf.c.clean_session;
        o->onSuccess5 = on_connect_ok5;
        o->onFailure5 = on_connect_fail5;
        MQTTProperty pr = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
        pr.value.integer4 = m->cf.c.clean_session ? 0 : (unsigned)m->cf.c.session_expiry_s;
        MQTTProperties_add(&props, &pr);
        MQTTProperty rm = {.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM};
        rm.value.integer2 = (unsigned short)m->cf.c.receive_maximum;
        MQTTProperties_add(&props, &rm);
        /* MQTT 5.0, 3.1.2.11.4: the broker must not send a packet larger than
         * this, so an oversized payload never reaches Paho's (or our) memory.
         * Room for the largest topic and the header, so that no message
         * within max_payload_bytes is ever held back. */
        MQTTProperty mp = {.identifier = MQTTPROPERTY_CODE_MAXIMUM_PACKET_SIZE};
        mp.value.integer4 = (unsigned)m->cf.c.max_payload_bytes + MQTT_PACKET_OVERHEAD_MAX;
        MQTTProperties_add(&props, &mp);
        o->connectProperties = &props;
    } else {
        o->cleansession = m->cf.c.clean_session;
        o->onSuccess = on_connect_ok;
        o->onFailure = on_connect_fail;
        o->MQTTVersion = MQTTVERSION_3_1_1;
    }
    if (m->cf.status_topic != NULL) {
        will.topicName = m->cf.status_topic;
        will.message = m->cf.c.status_offline;
        will.retained = 1;
        will.qos = 1;
        o->will = &will;
    }
    if (m->cf.ssl) {
        ssl.trustStore = m->cf.tls.ca_file;
        ssl.keyStore = m->cf.tls.cert_file;
        ssl.privateKey = m->cf.tls.key_file;
        ssl.privateKeyPassword = m->cf.tls.key_password;
        ssl.enableServerCertAuth = m->cf.has_tls_conf ? m->cf.tls.verify : 1;
        ssl.verify = m->cf.has_tls_conf ? m->cf.tls.verify : 1;
        ssl.ssl_error_cb = on_ssl_error;
        ssl.ssl_error_context = m;
        if (!m->cf.has_tls_conf || m->cf.tls.ca_file == NULL) {
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
        cg_complain(&m->conn_c, CG_LOG_WARN, m->name, "%s: %s", m->cf.url, m->last_error);
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
        struct timespec ts = deadline(CLOCK_REALTIME, 200 * 1000000L);
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
    cg_batch_init(&m->batch, (size_t)m->cf.c.max_points_per_message, (size_t)m->cf.c.max_payload_bytes * 4 + 65536);
    cg_arena_init(&m->match_arena, (size_t)m->cf.c.max_payload_bytes * 4 + 65536);
    free(m->tcache);
    m->tcache = calloc(TOPIC_CACHE_SLOTS, sizeof(*m->tcache)); /* NULL: routing without the cache */

    /* Paho's file store keeps a message we had to give back at stop (see
     * the top comment) and the status publishes in flight. Only useful, and
     * only used, with a persistent session. */
    int ptype = MQTTCLIENT_PERSISTENCE_NONE;
    char pdir[PATH_MAX];
    const char *sd = cg_sink_state_dir(m->sink);
    if (!m->cf.c.clean_session && sd != NULL && sd[0] != '\0') {
        snprintf(pdir, sizeof(pdir), "%s/mqtt", sd);
        int e = mkdir_p(pdir);
        if (e == 0) {
            ptype = MQTTCLIENT_PERSISTENCE_DEFAULT;
        } else {
            cg_log(CG_LOG_WARN, m->name, "%s: %s; Paho keeps its state in memory only", pdir, strerror(-e));
        }
    }
    MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
    cro.MQTTVersion = m->cf.c.mqtt_version == CG_MQTT_V5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    cro.sendWhileDisconnected = 0;
    int e = MQTTAsync_createWithOptions(&m->client, m->cf.url, m->cf.client_id, ptype,
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
    /* Only Paho's receive thread emits (and, for "group", the committer
     * under commit_lock): calls on this sink are serialised. */
    m->group = m->cf.c.commit == CG_MQTT_COMMIT_GROUP;
    e = cg_sink_group(m->sink, m->group ? CG_MQTT_GROUP_MESSAGES : 1);
    if (e < 0) {
        cg_log(CG_LOG_ERROR, m->name, "cannot set commit mode: %s", strerror(-e));
        return e;
    }
    if (m->group) {
        m->commit_stop = false;
        if (pthread_create(&m->committer, NULL, committer, m) != 0) {
            return -EAGAIN;
        }
        m->committer_started = true;
    }
    /* seed 0: from the clock and this source's address, so two sources (or
     * two gateways) do not draw the same delays */
    cg_backoff_init(&m->backoff, m->cf.c.reconnect_min_ms, m->cf.c.reconnect_max_ms, CG_BACKOFF_FULL, 0);
    m->next_connect_ms = 0;
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
           "connect_failures=%llu group_writes=%llu group_lost=%llu",
           (unsigned long long)atomic_load(&m->messages), (unsigned long long)atomic_load(&m->points),
           (unsigned long long)bad, detail, (unsigned long long)atomic_load(&m->unmatched),
           (unsigned long long)atomic_load(&m->held), (unsigned long long)atomic_load(&m->redeliver),
           (unsigned long long)atomic_load(&m->connects), (unsigned long long)atomic_load(&m->conn_failures),
           (unsigned long long)atomic_load(&m->group_writes), (unsigned long long)atomic_load(&m->group_lost));
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
    if (m->client_created && MQTTAsync_isConnected(m->client) && m->cf.c.leave_share_groups) {
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
        if (m->cf.status_topic != NULL) {
            MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
            if (MQTTAsync_send(m->client, m->cf.status_topic, (int)strlen(m->cf.c.status_offline),
                               m->cf.c.status_offline, 1,
                               1, &ro) == MQTTASYNC_SUCCESS) {
                MQTTAsync_waitForCompletion(m->client, ro.token, 2000);
            }
        }
        MQTTAsync_disconnectOptions dopt = MQTTAsync_disconnectOptions_initializer;
        MQTTAsync_disconnectOptions dopt5 = MQTTAsync_disconnectOptions_initializer5;
        MQTTAsync_disconnectOptions *d = m->cf.c.mqtt_version == CG_MQTT_V5 ? &dopt5 : &dopt;
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
    if (m->committer_started) {
        pthread_mutex_lock(&m->commit_lock);
        m->commit_stop = true;
        pthread_cond_signal(&m->commit_cond);
        pthread_mutex_unlock(&m->commit_lock);
        pthread_join(m->committer, NULL);
        m->committer_started = false;
    }
    if (m->group) {
        /* no callback any more: write what the group holds (acknowledged
         * messages, nobody else has them) */
        for (int i = 0; i < 5 && cg_sink_held(m->sink) > 0; i++) {
            pthread_mutex_lock(&m->commit_lock);
            commit_group(m);
            pthread_mutex_unlock(&m->commit_lock);
        }
        if (cg_sink_held(m->sink) > 0) {
            cg_log(CG_LOG_ERROR, m->name, "stopping with %u acknowledged messages not written (buffer cannot "
                   "take them): lost", cg_sink_held(m->sink));
            atomic_fetch_add(&m->group_lost, cg_sink_held(m->sink));
        }
    }
    cg_batch_done(&m->batch);
    cg_arena_done(&m->match_arena);
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
    free(m->subs);
    free(m->rules);
    cg_mqtt_conf_done(&m->cf);
    cg_batch_done(&m->batch);
    cg_arena_done(&m->match_arena);
    free(m->tcache);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->commit_lock);
    pthread_cond_destroy(&m->commit_cond);
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
                    .device = m->cf.url,
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
        snprintf(dev, sizeof(dev), "rule %s", r->cf->pattern_text ? r->cf->pattern_text : "?");
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
    .options = cg_mqtt_source_options,
    .sections = cg_mqtt_sections,
};
