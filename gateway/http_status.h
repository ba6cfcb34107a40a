/* citygate — health, metrics and the live status page over HTTP (libmicrohttpd).
 *
 *   GET /healthz      200 "ok" or 503 "degraded" + one reason per line
 *   GET /metrics      Prometheus text format 0.0.4
 *   GET /status.json  the snapshot as JSON (what the status page shows)
 *   GET /             the status page: one self-contained HTML document that
 *                     polls /status.json; it holds no data itself, so it is
 *                     served without authentication
 *
 * Bound to 127.0.0.1:9273 by default. When a token or username/password is
 * configured every data endpoint requires it (Bearer token or Basic auth);
 * listening on a non-loopback address without either is a config error. */
#ifndef CG_HTTP_STATUS_H
#define CG_HTTP_STATUS_H

#include "buf.h"
#include "status.h"
#include <citygate/config.h>
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cg_http_conf {
    bool enabled;
    char *listen;   /* "HOST:PORT", "[V6]:PORT"; "" disables */
    char *token;    /* secret (or token_file) */
    char *username; /* Basic auth, with password */
    char *password; /* secret (or password_file) */
    int64_t max_connections;
    int64_t max_connections_per_client;
    int64_t timeout_s;
    int64_t refresh_ms; /* status page refresh */
    /* derived by cg_http_conf_parse */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool loopback;
};

extern const struct cg_opt cg_http_options[];

/* obj may be NULL (section absent: defaults). path is the JSON path of the
 * section ("http"). On success *out is a new conf (caller frees) and 0 is
 * returned; otherwise every problem is in errs and -EINVAL / -ENOMEM returned,
 * *out untouched. A non-loopback listen address without auth is an error. */
int cg_http_conf_parse(const cJSON *obj, const char *path, struct cg_http_conf **out, struct cg_errs *errs);
void cg_http_conf_free(struct cg_http_conf *c); /* NULL-safe */
/* True when the server should run (enabled and listen is not ""). */
bool cg_http_conf_enabled(const struct cg_http_conf *c);

struct cg_http;

/* Starts the server thread. c is copied (a reload may free it while the
 * server runs on with the settings it started with); collect is
 * called from the server's threads, once per request, with ctx. Returns NULL
 * with a message in err (e.g. "cannot listen on 127.0.0.1:9273: Address
 * already in use") on failure. Returns NULL with err = "" when the conf
 * disables the server. */
struct cg_http *cg_http_start(const struct cg_http_conf *c, cg_status_collect_fn collect, void *ctx, char *err,
                              size_t errlen);
void cg_http_stop(struct cg_http *h); /* NULL-safe; waits for running requests */
/* The port actually bound (useful with port 0). */
int cg_http_port(const struct cg_http *h);

/* ---- pure renderers (unit-tested); append to out; 0 or -ENOBUFS/-ENOMEM --- */
int cg_http_render_metrics(const struct cg_status *st, struct cg_buf *out);
int cg_http_render_json(const struct cg_status *st, struct cg_buf *out);
/* Appends a Prometheus label value with \\, \" and \n escaped. */
int cg_http_prom_escape(struct cg_buf *out, const char *s);

/* The derived figures shared by the health rules and the renderers are in
 * status.h (cg_status_oldest_unsent_s, cg_status_output_down_s). */

#endif
