/* citygate — the adapter API: everything a source (Modbus, MQTT, yours) needs.
 *
 * An adapter is one const struct cg_adapter built with designated initialisers;
 * everything else in its files is static. The core drives it:
 *
 *   create()   parse and validate the source's JSON section; no I/O, no threads.
 *              Called for --check-config too, so it must report every config
 *              error through errs and never touch devices.
 *   start()    open connections lazily, start the adapter's own threads.
 *   stop()     ask the threads to finish and join them; must return within
 *              a few seconds even when devices hang (use timeouts).
 *   destroy()  free everything; accepts a half-built state (NULL-safe).
 *   health()   report per-device state; called from another thread (take a lock).
 *
 * Readings leave through cg_sink_emit(). The API carries a version so it can
 * grow: fields are only ever appended. */
#ifndef CITYGATE_ADAPTER_H
#define CITYGATE_ADAPTER_H

#include <cjson/cJSON.h>
#include <citygate/config.h>
#include <citygate/log.h>
#include <citygate/point.h>
#include <stdbool.h>

#define CG_ADAPTER_API_VERSION 1

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
 * unacknowledged), -ESHUTDOWN when the gateway is stopping. */
int cg_sink_emit(struct cg_sink *sink, const struct cg_point *points, size_t n, int timeout_ms);

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

/* True when citygate runs with --dry-run (adapters may log their plans). */
bool cg_sink_dry_run(const struct cg_sink *sink);

/* What a health item describes: a device (the default), or the link a source
 * reaches its devices through (a serial bus, a TCP gateway, an MQTT broker
 * connection). Gap records name the scope, so a dashboard can tell "sensor
 * offline" from "link down". */
enum cg_health_kind {
    CG_HEALTH_DEVICE = 0,
    CG_HEALTH_LINK,
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

struct cg_adapter {
    unsigned api_version; /* CG_ADAPTER_API_VERSION */
    const char *type;     /* the "type" value in sources[] */
    const char *summary;  /* one line for --help */

    int (*create)(const cJSON *conf, const char *path, struct cg_sink *sink, void **state,
                  struct cg_errs *errs);
    int (*start)(void *state);
    void (*stop)(void *state);
    void (*destroy)(void *state);
    void (*health)(void *state, cg_health_fn report, void *ctx); /* may be NULL */
};

#endif
