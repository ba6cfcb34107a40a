/* citygate — the adapter API: everything a source (Modbus, MQTT, yours) needs.
 *
 * An adapter is one const struct cg_adapter built with designated initialisers;
 * everything else in its files is static. The core drives it:
 *
 *   create()   parse and validate the source's JSON section; no I/O, no threads.
 *              Called for --check-config too, so it must report every config
 *              error through errs and never touch devices. On failure it may
 *              still have set *state (a half-built state): the core then
 *              calls destroy() on it and nothing else.
 *   start()    open connections lazily, start the adapter's own threads.
 *   stop()     ask the threads to finish and join them; must return within
 *              a few seconds even when devices hang (use timeouts). No
 *              cg_sink_emit() and no callback may happen after it returns.
 *   destroy()  free everything; accepts NULL and a half-built state.
 *   health()   report per-device state; called from another thread (take a lock).
 *
 * The lifecycle every adapter must hold (tests/integration/adapter_conformance.c
 * runs each compiled-in adapter through it under ASan):
 *
 *   create -> destroy                     (never started: --check-config)
 *   create -> stop -> destroy             (stop without start is a no-op)
 *   create -> start -> stop -> start -> stop -> destroy
 *                                         (a reload that is rolled back stops
 *                                          the running sources and starts them
 *                                          again: the second start must work
 *                                          exactly like the first, with nothing
 *                                          leaked from the first run)
 *   stop -> stop                          (the second is a no-op)
 *   create (failed) -> destroy            (half-built state)
 *
 * start() that fails is not followed by stop(): it must leave a state that
 * destroy() frees (and that a later start() may retry). The core never calls
 * two of these at once on one state; health() may run concurrently with
 * start() and stop().
 *
 * Readings leave through cg_sink_emit().
 *
 * Versions. api_version is CG_ADAPTER_API(major, minor). The core accepts an
 * adapter whose major equals its own and whose minor is <= its own
 * (cg_adapter_api_compatible): a minor version only ever appends fields at
 * the end of a struct, so an adapter built against an older minor leaves
 * them zero (NULL options, no commands) and works unchanged. Anything that
 * changes the meaning or the layout of an existing field bumps the major,
 * and the core then refuses the adapter with "adapter 'x' was built for API
 * 1.0, this citygate has 2.0". History:
 *   1     create/start/stop/destroy/health; cg_health_item.kind, stray_frames
 *         and skipped were appended without a bump (read as 1.0).
 *   2.0   options, sections, commands; versions are major.minor. */
#ifndef CITYGATE_ADAPTER_H
#define CITYGATE_ADAPTER_H

#include <cjson/cJSON.h>
#include <citygate/config.h>
#include <citygate/log.h>
#include <citygate/point.h>
#include <errno.h>
#include <stdbool.h>

/* major in the high 16 bits, minor in the low 16 */
#define CG_ADAPTER_API(major, minor) ((unsigned)(major) << 16 | (unsigned)(minor))
#define CG_ADAPTER_API_MAJOR 2
#define CG_ADAPTER_API_MINOR 0
#define CG_ADAPTER_API_VERSION CG_ADAPTER_API(CG_ADAPTER_API_MAJOR, CG_ADAPTER_API_MINOR)
#define CG_ADAPTER_API_MAJOR_OF(v) ((v) >> 16)
#define CG_ADAPTER_API_MINOR_OF(v) ((v)&0xffffu)

/* True when a core of version core accepts an adapter built for version
 * adapter: same major, adapter's minor not newer. A plain 1 (the unversioned
 * API 1) reads as major 0 and is refused by a major-2 core. */
static inline bool cg_adapter_api_compatible(unsigned core, unsigned adapter)
{
    return CG_ADAPTER_API_MAJOR_OF(adapter) == CG_ADAPTER_API_MAJOR_OF(core) &&
           CG_ADAPTER_API_MINOR_OF(adapter) <= CG_ADAPTER_API_MINOR_OF(core);
}

struct cg_sink; /* opaque, owned by the core, outlives the adapter state */

/* Hands points to the core. The points are borrowed (copied before return).
 * Each point is validated and normalised (static tags added, names checked),
 * then encoded and queued for every output.
 *
 * timeout_ms: how long to wait when the gateway's buffer is full
 * (back-pressure); 0 = do not wait, -1 = wait until there is room or the
 * gateway stops.
 *
 * Returns the number of points accepted (invalid ones are counted and skipped:
 * see cg_sink_last_error), -ETIMEDOUT when the buffer stayed full (nothing was
 * taken: the caller still owns the readings, e.g. an MQTT message stays
 * unacknowledged), a storage error (-ENOSPC, -EIO, ...) when the disk buffer
 * cannot write (nothing was taken either; see cg_sink_hold), -ESHUTDOWN when
 * the gateway is stopping. */
int cg_sink_emit(struct cg_sink *sink, const struct cg_point *points, size_t n, int timeout_ms);

/* What a source's own configuration says about the points of one call (an
 * MQTT rule). Borrowed for the call. */
struct cg_sink_rule {
    /* tags set by the configuration (topic captures, rule tags; the codec lets
     * them win over the payload's): on these points they may replace the
     * gateway's static tags of the same key. Only the keys are used. */
    const struct cg_tag *tags;
    size_t n_tags;
    /* any other tag with a static tag's key: 1 the point's value is written
     * (override), 0 the configured one (protect; counted, logged once), < 0 as
     * the source's normalise.payload_tags says */
    int payload_tags;
    /* the gateway's static tags on these points: key = static tag, value = the
     * key to write it under, or NULL to leave it out (after the source's own
     * normalise.static_tags) */
    const struct cg_tag *static_tags;
    size_t n_static_tags;
};

/* As cg_sink_emit, with the rule the points came through (may be NULL). */
int cg_sink_emit_rule(struct cg_sink *sink, const struct cg_point *points, size_t n, int timeout_ms,
                      const struct cg_sink_rule *rule);

/* Group commit. By default every cg_sink_emit() call is appended to the
 * buffer (and, with buffer.fsync "always", synced) before it returns, and
 * calls may come from any thread. A source that serialises its calls on one
 * sink (never two at once, e.g. one receive thread, or a lock) may call
 * cg_sink_group(sink, n) from start():
 *
 *   n = 1  each call is still appended before it returns; the sink reuses
 *          one encode buffer instead of allocating one per call.
 *   n > 1  a call's lines are taken into memory and the call returns the
 *          number of points taken; the held lines of up to n calls are
 *          appended as one record (one write, one sync) when the n-th call
 *          arrives, or when the source calls cg_sink_flush(). Until then a
 *          crash (kill -9, power loss) loses them: the source must flush when
 *          it has nothing more in hand, and documents the loss bound (n calls).
 *   n = 0  back to the default.
 *
 * With n > 1 a failing cg_sink_emit (-ETIMEDOUT, a storage error) took
 * nothing of that call; calls taken before stay held. Returns 0, -EINVAL
 * (n > CG_SINK_GROUP_MAX) or -EBUSY (n <= 1 while lines are held: flush first). */
#define CG_SINK_GROUP_MAX 1024
int cg_sink_group(struct cg_sink *sink, unsigned n);
/* Appends the held lines as one record (same returns and timeout as
 * cg_sink_emit: the lines appended, 0 when none were held, or a negative
 * errno with everything still held, to be retried). Same thread rule as above. */
int cg_sink_flush(struct cg_sink *sink, int timeout_ms);
/* How many calls' lines are held, not yet appended. */
unsigned cg_sink_held(const struct cg_sink *sink);

/* A codec skipped n values of a payload it cannot store (a JSON array or
 * null member when every member becomes a field): counted in
 * citygate_discarded_total{cause="payload_skipped"} and logged once per
 * (source, measurement, field). */
void cg_sink_count_skipped(struct cg_sink *sink, const char *measurement, const char *field, uint64_t n);
/* True when cg_sink_emit took nothing but can take the same points later: the
 * buffer stayed full, or the disk under it is full or failing. Hold them (an
 * MQTT message stays unacknowledged) and try again; never drop them. */
static inline bool cg_sink_hold(int rc)
{
    return rc == -ETIMEDOUT || rc == -ENOSPC || rc == -EDQUOT || rc == -EIO || rc == -EROFS || rc == -EMFILE ||
           rc == -ENFILE || rc == -EFBIG || rc == -EACCES || rc == -EPERM || rc == -ENOENT;
}

/* Why the last point of the last cg_sink_emit() call on this thread was rejected
 * (static text), or NULL. */
const char *cg_sink_last_error(void);

/* The source's configured name ("sources[2]" if unnamed): use it in logs. */
const char *cg_sink_source_name(const struct cg_sink *sink);

/* Directory of the main config file (for relative paths such as profile dirs). */
const char *cg_sink_config_dir(const struct cg_sink *sink);

/* The gateway's state directory (persistent, writable; e.g. /var/lib/citygate). */
const char *cg_sink_state_dir(const struct cg_sink *sink);

/* True when the source is only being validated (citygate --check-config):
 * create() may then turn warnings that make the config unusable in practice
 * (a poll plan that cannot fit its interval) into errors. */
bool cg_sink_check_only(const struct cg_sink *sink);

/* Measurement names starting with "citygate" (citygate, citygate_device,
 * citygate_norm, ...) are reserved for points the gateway writes about itself:
 * points under them are refused (counted, logged once) so that a payload
 * cannot forge health or self metrics. An adapter that writes such points
 * itself (device health) names the measurement here, at create time. The
 * name is copied; at most 4 per source. */
void cg_sink_own_measurement(struct cg_sink *sink, const char *measurement);

/* Config time: the source will write field (NULL: any field) of measurement;
 * path names the config item that says so ("sources[0].devices[2]",
 * "sources[1].rules[0]"). Under --check-config the core warns (once per
 * source, measurement and field) when the city schema does not know the
 * name, says whether it will be written unchanged or dropped, and names the
 * closest schema name. Does nothing otherwise. */
void cg_sink_expect_field(struct cg_sink *sink, const char *path, const char *measurement, const char *field);

/* True when citygate runs with --dry-run or --test: readings are printed, not
 * stored. Adapters may log their plans, and must not disturb the daemon that
 * may run on the same config at the same time: no shared session or client
 * identity (MQTT: own client id, clean session, no status topic, no share
 * group). */
bool cg_sink_dry_run(const struct cg_sink *sink);

/* True when citygate runs with --test (then cg_sink_dry_run() is true too):
 * read every device once, now (no stagger), and then nothing more; the core
 * stops the sources after --test-wait seconds. */
bool cg_sink_test_mode(const struct cg_sink *sink);

/* What a health item describes: a device (the default), or the link a source
 * reaches its devices through (a serial bus, a TCP gateway, an MQTT broker
 * connection), a subscription, or a rule (how messages are read, including a
 * source's "unmatched topics"). Gap records name the scope, so a dashboard can
 * tell "sensor offline" from "link down"; /metrics keeps devices in the
 * citygate_device_* families and every other kind in citygate_source_item_*
 * with a kind label. Values are only ever appended. */
enum cg_health_kind {
    CG_HEALTH_DEVICE = 0,
    CG_HEALTH_LINK,
    CG_HEALTH_SUBSCRIPTION,
    CG_HEALTH_RULE,
};

/* Per-device state reported by health(). */
struct cg_health_item {
    const char *device;     /* device or subscription name */
    bool up;                /* last poll / connection succeeded */
    bool quarantined;       /* skipped after repeated failures */
    uint64_t ok;            /* successful polls or messages */
    uint64_t failed;        /* failed polls or rejected messages */
    uint64_t consecutive_failures;
    double latency_ms;      /* last poll duration, or -1 */
    int64_t last_ok_ns;     /* 0 = never */
    const char *last_error; /* NULL = none */
    enum cg_health_kind kind; /* appended in API version 1: zero = device */
    uint64_t stray_frames;    /* appended: late or stray frames discarded (Modbus) */
    uint64_t skipped;         /* appended: polls skipped while the link was down */
};

typedef void (*cg_health_fn)(void *ctx, const struct cg_health_item *item);

/* A nested part of a source's JSON section, with its own option table: an
 * object ("tls"), the entries of an array ("devices[]", "rules[]"), or the
 * values of a map ("poll_groups{}"). path is relative to the source section,
 * parts joined with '.': "rules[].json". --print-options prints one table per
 * section under "sources[] (type x).path"; the JSON Schema reads the same
 * list. NULL-terminated ({.path = NULL}). */
struct cg_adapter_section {
    const char *path;
    const struct cg_opt *options;
    const char *doc; /* one line: what the section is */
};

/* A sub-command: `citygate <name> ARGS...` runs main(argc, argv) with argv[0]
 * = name, before the daemon's command line is parsed, and exits with its
 * return value. For tools that belong to one adapter (`citygate probe` reads
 * raw Modbus registers). NULL-terminated ({.name = NULL}). */
struct cg_adapter_command {
    const char *name;    /* unique among all compiled-in adapters */
    const char *summary; /* one line for --help */
    int (*main)(int argc, char **argv);
};

struct cg_adapter {
    unsigned api_version; /* CG_ADAPTER_API_VERSION (see Versions above) */
    const char *type;     /* the "type" value in sources[] */
    const char *summary;  /* one line for --help */

    int (*create)(const cJSON *conf, const char *path, struct cg_sink *sink, void **state,
                  struct cg_errs *errs);
    int (*start)(void *state);
    void (*stop)(void *state);
    void (*destroy)(void *state);
    void (*health)(void *state, cg_health_fn report, void *ctx); /* may be NULL */

    /* ---- 2.0 ---- */
    /* The keys of the source's own section (sources[i]): every key create()
     * accepts, "type" and "name" included, with type, default, bounds and a
     * line of help. Tables are declarative: create() should parse with the
     * same table (cg_opt_parse) so the docs cannot drift. NULL: undocumented. */
    const struct cg_opt *options;
    const struct cg_adapter_section *sections; /* nested parts; may be NULL */
    const struct cg_adapter_command *commands; /* may be NULL */
};

#endif
