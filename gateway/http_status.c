/* citygate — health, metrics and the live status page (see http_status.h). */
#include "http_status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define NS_PER_S ((int64_t)1000000000)
#define HTTP_BODY_MAX (16u * 1024u * 1024u) /* metrics/JSON of hundreds of devices fit easily */
#define HTTP_REASONS_MAX 4096
#define HTTP_AUTH_MAX 1024 /* longest Authorization header we look at */
#define HTTP_TOP_DROPS 10 /* discard-ledger rows in /status.json and on the page */

/* ---- configuration ------------------------------------------------------ */

#define H(m) offsetof(struct cg_http_conf, m)
const struct cg_opt cg_http_options[] = {
    {.name = "enabled", .type = CG_OPT_BOOL, .offset = H(enabled), .def = "true",
     .doc = "Serve /healthz, /metrics, /status.json and the status page."},
    {.name = "listen", .type = CG_OPT_STRING, .offset = H(listen), .def = "127.0.0.1:9273",
     .doc = "Address to listen on: `IPv4:PORT`, `[IPv6]:PORT` or `localhost:PORT`; \"\" disables. "
            "A non-loopback address requires `token` or `username`/`password`."},
    {.name = "token", .type = CG_OPT_STRING, .offset = H(token), .flags = CG_OPT_SECRET,
     .doc = "Bearer token required on every data endpoint (`Authorization: Bearer ...`); or `token_file`."},
    {.name = "username", .type = CG_OPT_STRING, .offset = H(username),
     .doc = "Basic-auth user name (with `password`)."},
    {.name = "password", .type = CG_OPT_STRING, .offset = H(password), .flags = CG_OPT_SECRET,
     .doc = "Basic-auth password; or `password_file`."},
    {.name = "max_connections", .type = CG_OPT_INT, .offset = H(max_connections), .def = "64", .min = 2,
     .max = 1024, .doc = "Concurrent HTTP connections accepted, in total."},
    {.name = "max_connections_per_client", .type = CG_OPT_INT, .offset = H(max_connections_per_client),
     .def = "8", .min = 1, .max = 1024,
     .doc = "Concurrent connections from one client address (more are closed at once), so one slow or hostile "
            "client cannot take every connection; must be below `max_connections`."},
    {.name = "timeout_s", .type = CG_OPT_INT, .offset = H(timeout_s), .def = "10", .min = 1, .max = 600,
     .doc = "A connection that sends nothing for this long (headers included) is closed."},
    {.name = "refresh_ms", .type = CG_OPT_INT, .offset = H(refresh_ms), .def = "2000", .min = 500,
     .max = 60000, .doc = "How often the status page refreshes itself."},
    CG_OPT_END,
};

static int parse_port(const char *s, uint16_t *port)
{
    char *end = NULL;
    if (*s < '0' || *s > '9') {
        return -EINVAL;
    }
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > 65535) {
        return -EINVAL;
    }
    *port = (uint16_t)v;
    return 0;
}

/* "IPv4:PORT", "[IPv6]:PORT", "localhost:PORT". Numeric only: a name that
 * resolves differently tomorrow should not move the listener. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *loopback)
{
    char host[128];
    const char *colon;
    uint16_t port;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host)) {
            return -EINVAL;
        }
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        if (parse_port(close + 2, &port) < 0) {
            return -EINVAL;
        }
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
            return -EINVAL;
        }
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof(*a6);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) ||
                    (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) && a6->sin6_addr.s6_addr[12] == 127);
        return 0;
    }
    colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host) || colon == s) {
        return -EINVAL;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (parse_port(colon + 1, &port) < 0) {
        return -EINVAL;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
        return -EINVAL;
    }
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    *len = sizeof(*a4);
    *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

bool cg_http_conf_enabled(const struct cg_http_conf *c)
{
    return c != NULL && c->enabled && c->listen != NULL && c->listen[0] != '\0';
}

int cg_http_conf_parse(const cJSON *obj, const char *path, struct cg_http_conf **out, struct cg_errs *errs)
{
    struct cg_http_conf *c = calloc(1, sizeof(*c));
    char p[512];
    if (c == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    size_t before = cg_errs_count(errs);
    cg_opt_parse(cg_http_options, obj, path, c, errs);
    if (cg_errs_count(errs) > before) {
        goto fail;
    }
    if ((c->username != NULL) != (c->password != NULL)) {
        cg_path_key(p, sizeof(p), path, c->username ? "password" : "username");
        cg_errs_add(errs, p, "missing: basic auth needs both username and password");
    }
    if (c->username && c->username[0] == '\0') {
        cg_path_key(p, sizeof(p), path, "username");
        cg_errs_add(errs, p, "must not be empty; leave username and password out for none");
    }
    if (c->username && strchr(c->username, ':')) {
        cg_path_key(p, sizeof(p), path, "username");
        cg_errs_add(errs, p, "must not contain ':' (basic auth separates user and password with it)");
    }
    if (c->max_connections_per_client >= c->max_connections) {
        cg_path_key(p, sizeof(p), path, "max_connections_per_client");
        cg_errs_add(errs, p, "must be below max_connections (%" PRId64 "), got %" PRId64
                             ": one client could then take every connection",
                    c->max_connections, c->max_connections_per_client);
    }
    if (cg_http_conf_enabled(c)) {
        cg_path_key(p, sizeof(p), path, "listen");
        if (parse_listen(c->listen, &c->addr, &c->addrlen, &c->loopback) < 0) {
            cg_errs_add(errs, p, "must be IPv4:PORT, [IPv6]:PORT or localhost:PORT (numeric address, port 0..65535); "
                                 "got '%s'", c->listen);
        } else if (!c->loopback && c->token == NULL && c->username == NULL) {
            cg_errs_add(errs, p, "'%s' is not a loopback address: set token (or token_file) or username and password, "
                                 "so metrics and status are not open to the network", c->listen);
        }
    }
    if (cg_errs_count(errs) > before) {
        goto fail;
    }
    *out = c;
    return 0;
fail:
    cg_http_conf_free(c);
    return -EINVAL;
}

void cg_http_conf_free(struct cg_http_conf *c)
{
    if (c == NULL) {
        return;
    }
    cg_opt_free(cg_http_options, c);
    free(c);
}

/* ---- Prometheus text format --------------------------------------------- */

/* A writer that stops at the first error, so renderers read straight through. */
struct w {
    struct cg_buf *b;
    int rc;
};

static void wp(struct w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wp(struct w *w, const char *fmt, ...)
{
    if (w->rc < 0) {
        return;
    }
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        w->rc = -EINVAL;
        return;
    }
    if ((size_t)n >= sizeof(tmp)) { /* only fixed text is formatted here; never happens */
        w->rc = -ENOBUFS;
        return;
    }
    int rc = cg_buf_append(w->b, tmp, (size_t)n);
    if (rc < 0) {
        w->rc = rc;
    }
}

int cg_http_prom_escape(struct cg_buf *out, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        switch (*s) {
        case '\\':
            rc = cg_buf_append(out, "\\\\", 2);
            break;
        case '"':
            rc = cg_buf_append(out, "\\\"", 2);
            break;
        case '\n':
            rc = cg_buf_append(out, "\\n", 2);
            break;
        default:
            rc = cg_buf_putc(out, *s);
            break;
        }
    }
    return rc;
}

static void family(struct w *w, const char *name, const char *type, const char *help)
{
    wp(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} -- labels NULL-terminated pairs. */
static void sample_start(struct w *w, const char *name, const char *const *labels)
{
    wp(w, "%s", name);
    if (labels == NULL || labels[0] == NULL) {
        return;
    }
    wp(w, "{");
    for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
        wp(w, "%s%s=\"", i ? "," : "", labels[i]);
        if (w->rc == 0) {
            w->rc = cg_http_prom_escape(w->b, labels[i + 1]);
        }
        wp(w, "\"");
    }
    wp(w, "}");
}

static void sample_u(struct w *w, const char *name, const char *const *labels, uint64_t v)
{
    sample_start(w, name, labels);
    wp(w, " %" PRIu64 "\n", v);
}

static void sample_d(struct w *w, const char *name, const char *const *labels, double v)
{
    sample_start(w, name, labels);
    if (isnan(v)) {
        wp(w, " NaN\n");
    } else if (isinf(v)) {
        wp(w, " %sInf\n", v > 0 ? "+" : "-");
    } else {
        wp(w, " %.9g\n", v);
    }
}

/* Wall-clock ns as seconds with ms precision; 0 stays 0 ("never"). */
static void sample_ts(struct w *w, const char *name, const char *const *labels, int64_t ns)
{
    sample_start(w, name, labels);
    if (ns <= 0) {
        wp(w, " 0\n");
    } else {
        wp(w, " %" PRId64 ".%03" PRId64 "\n", ns / NS_PER_S, (ns % NS_PER_S) / 1000000);
    }
}

enum val_kind { V_U64, V_DBL, V_TS, V_BOOL, V_INT };

struct src_metric {
    const char *name, *type, *help;
    size_t off;
    enum val_kind kind;
};

#define SC(m) offsetof(struct cg_status_source, counters.m)
static const struct src_metric source_metrics[] = {
    {"citygate_source_points_in_total", "counter", "Readings accepted into the buffer.", SC(points_in), V_U64},
    {"citygate_source_points_rejected_total", "counter", "Invalid readings rejected (bad names, no fields).",
     SC(points_rejected), V_U64},
    {"citygate_source_points_refused_total", "counter", "Readings refused because the buffer stayed full.",
     SC(points_refused), V_U64},
    {"citygate_source_last_point_timestamp_seconds", "gauge", "When the source last delivered a reading (0 = never).",
     SC(last_ns), V_TS},
};

#define DV(m) offsetof(struct cg_status_device, m)
static const struct src_metric device_metrics[] = {
    {"citygate_device_up", "gauge", "1 when the last poll or connection of the device succeeded.", DV(up), V_BOOL},
    {"citygate_device_quarantined", "gauge", "1 while the device is skipped after repeated failures.",
     DV(quarantined), V_BOOL},
    {"citygate_device_latency_seconds", "gauge", "Duration of the last poll.", DV(latency_ms), V_DBL},
    {"citygate_device_reads_total", "counter", "Successful polls or messages.", DV(ok), V_U64},
    {"citygate_device_errors_total", "counter", "Failed polls or rejected messages.", DV(failed), V_U64},
    {"citygate_device_consecutive_failures", "gauge", "Failures since the last success.", DV(consecutive_failures),
     V_U64},
    {"citygate_device_stray_frames_total", "counter", "Late or stray frames discarded (Modbus).", DV(stray_frames),
     V_U64},
    {"citygate_device_polls_skipped_total", "counter", "Polls skipped while the device's link was down.",
     DV(skipped), V_U64},
    {"citygate_device_last_success_timestamp_seconds", "gauge", "When the device last answered (0 = never).",
     DV(last_ok_ns), V_TS},
};

/* Links, subscriptions and rules: not devices, so an alert on
 * citygate_device_up never fires for a silent subscription. */
static const struct src_metric item_metrics[] = {
    {"citygate_source_item_up", "gauge",
     "1 when a source's link (bus, TCP gateway, broker connection), subscription or rule works; label kind.",
     DV(up), V_BOOL},
    {"citygate_source_item_reads_total", "counter", "Successful polls or messages through the item.", DV(ok), V_U64},
    {"citygate_source_item_errors_total", "counter", "Failed polls or rejected messages through the item.",
     DV(failed), V_U64},
    {"citygate_source_item_consecutive_failures", "gauge", "Failures since the item last worked.",
     DV(consecutive_failures), V_U64},
    {"citygate_source_item_last_success_timestamp_seconds", "gauge", "When the item last worked (0 = never).",
     DV(last_ok_ns), V_TS},
};

#define OS(m) offsetof(struct cg_status_output, st.m)
static const struct src_metric output_metrics[] = {
    {"citygate_output_up", "gauge", "1 when the last write got a 2xx answer.", OS(up), V_BOOL},
    {"citygate_output_last_status", "gauge", "HTTP status of the last write (0 = no answer).", OS(last_status), V_INT},
    {"citygate_output_lines_sent_total", "counter", "Lines accepted by the database.", OS(lines_sent), V_U64},
    {"citygate_output_lines_dead_lettered_total", "counter", "Lines the database rejected, kept in the dead-letter file.",
     OS(lines_dead_lettered), V_U64},
    {"citygate_output_lines_dropped_total", "counter", "Rejected lines that could not be kept (dead-letter file full).",
     OS(lines_dropped), V_U64},
    {"citygate_output_lines_lost_total", "counter", "Lines dropped by the buffer limit before this output took them.",
     OS(journal_dropped_lines), V_U64},
    {"citygate_output_requests_total", "counter", "Write requests attempted.", OS(requests), V_U64},
    {"citygate_output_retries_total", "counter", "Write requests repeating a failed one.", OS(retries), V_U64},
    {"citygate_output_sent_bytes_total", "counter", "Request bytes accepted (after compression).", OS(bytes_sent), V_U64},
    {"citygate_output_unsent_lines", "gauge", "Lines waiting for this output.", OS(journal_unread_lines), V_U64},
    {"citygate_output_dead_letter_bytes", "gauge", "Size of the dead-letter file.", OS(dead_letter_bytes), V_U64},
    {"citygate_output_last_success_timestamp_seconds", "gauge", "When the last write succeeded (0 = never).",
     OS(last_ok_ns), V_TS},
    /* outputs[].agreement (docs/outputs.md, "Data-sharing agreements") */
    {"citygate_output_lines_filtered_total", "counter", "Lines the output's agreement does not select (not errors).",
     OS(lines_filtered), V_U64},
    {"citygate_output_agreement_refused_total", "counter",
     "Lines the agreement could not read (not line protocol of this encoder): not sent to this output.",
     OS(lines_refused), V_U64},
    {"citygate_output_lines_late_total", "counter", "Lines for an aggregate window already sent: not sent.",
     OS(lines_late), V_U64},
    {"citygate_output_lines_series_limit_total", "counter",
     "Lines of series past aggregate.max_series: not sent.", OS(lines_no_series), V_U64},
    {"citygate_output_windows_sent_total", "counter", "Aggregate window lines the agreement emitted.",
     OS(windows_sent), V_U64},
    {"citygate_output_lines_duplicate_total", "counter",
     "Readings repeated (same series and timestamp) in an open aggregate window: counted once.",
     OS(lines_duplicate), V_U64},
};

static void sample_kind(struct w *w, const struct src_metric *m, const char *const *labels, const void *base)
{
    const char *p = (const char *)base + m->off;
    switch (m->kind) {
    case V_U64:
        sample_u(w, m->name, labels, *(const uint64_t *)p);
        break;
    case V_BOOL:
        sample_u(w, m->name, labels, *(const bool *)p ? 1 : 0);
        break;
    case V_INT:
        sample_d(w, m->name, labels, (double)*(const int *)p);
        break;
    case V_TS:
        sample_ts(w, m->name, labels, *(const int64_t *)p);
        break;
    case V_DBL: /* only latency: ms in the snapshot, seconds on the wire; < 0 = unknown */
        if (*(const double *)p >= 0) {
            sample_d(w, m->name, labels, *(const double *)p / 1000.0);
        }
        break;
    }
}

/* The health items of every source: devices (labels source, device) or
 * everything else (labels source, item, kind), one family per table row. */
static void render_items(struct w *w, const struct cg_status *st, const struct src_metric *table, size_t n,
                         bool devices)
{
    for (size_t m = 0; m < n; m++) {
        family(w, table[m].name, table[m].type, table[m].help);
        for (size_t i = 0; i < st->n_sources; i++) {
            for (size_t k = 0; k < st->sources[i].n_devices; k++) {
                const struct cg_status_device *d = &st->sources[i].devices[k];
                if ((d->kind == CG_HEALTH_DEVICE) != devices) {
                    continue;
                }
                const char *dl[] = {"source", st->sources[i].name, "device", d->name, NULL};
                const char *il[] = {"source", st->sources[i].name, "item", d->name, "kind",
                                    cg_status_kind_name(d->kind), NULL};
                sample_kind(w, &table[m], devices ? dl : il, d);
            }
        }
    }
}

int cg_http_render_metrics(const struct cg_status *st, struct cg_buf *out)
{
    struct w w = {.b = out, .rc = 0};
    char reasons[HTTP_REASONS_MAX];
    const char *build[] = {"version", st->version, "gateway", st->gateway_id, NULL};

    family(&w, "citygate_build_info", "gauge", "Version of citygate and the gateway id, as labels; always 1.");
    sample_u(&w, "citygate_build_info", build, 1);
    family(&w, "citygate_healthy", "gauge", "1 when /healthz says ok, 0 when degraded.");
    sample_u(&w, "citygate_healthy", NULL, cg_status_healthy(st, reasons, sizeof(reasons)) ? 1 : 0);
    family(&w, "citygate_clock_synchronized", "gauge",
           "1 when the system clock is synchronised (adjtimex), 0 when not; absent when not checked.");
    if (st->clock != CG_STATUS_CLOCK_UNCHECKED) {
        sample_u(&w, "citygate_clock_synchronized", NULL, st->clock == CG_STATUS_CLOCK_SYNCED ? 1 : 0);
    }

    for (size_t m = 0; m < sizeof(source_metrics) / sizeof(source_metrics[0]); m++) {
        family(&w, source_metrics[m].name, source_metrics[m].type, source_metrics[m].help);
        for (size_t i = 0; i < st->n_sources; i++) {
            const char *l[] = {"source", st->sources[i].name, "type", st->sources[i].type, NULL};
            sample_kind(&w, &source_metrics[m], l, &st->sources[i]);
        }
    }
    render_items(&w, st, device_metrics, sizeof(device_metrics) / sizeof(device_metrics[0]), true);
    render_items(&w, st, item_metrics, sizeof(item_metrics) / sizeof(item_metrics[0]), false);
    for (size_t m = 0; m < sizeof(output_metrics) / sizeof(output_metrics[0]); m++) {
        family(&w, output_metrics[m].name, output_metrics[m].type, output_metrics[m].help);
        for (size_t i = 0; i < st->n_outputs; i++) {
            const char *l[] = {"output", st->outputs[i].name, NULL};
            sample_kind(&w, &output_metrics[m], l, &st->outputs[i]);
        }
    }
    family(&w, "citygate_output_oldest_unsent_age_seconds", "gauge",
           "Upper bound of how long the oldest waiting line has waited (0 = nothing waits).");
    for (size_t i = 0; i < st->n_outputs; i++) {
        const char *l[] = {"output", st->outputs[i].name, NULL};
        sample_u(&w, "citygate_output_oldest_unsent_age_seconds", l,
                 (uint64_t)cg_status_oldest_unsent_s(st, &st->outputs[i]));
    }

    family(&w, "citygate_journal_bytes", "gauge", "Bytes of readings held in the buffer.");
    sample_u(&w, "citygate_journal_bytes", NULL, st->journal.bytes);
    family(&w, "citygate_journal_lines", "gauge", "Lines held in the buffer.");
    sample_u(&w, "citygate_journal_lines", NULL, st->journal.lines);
    family(&w, "citygate_journal_capacity_bytes", "gauge", "Buffer size limit (gateway.buffer_max_bytes).");
    sample_u(&w, "citygate_journal_capacity_bytes", NULL, st->journal.max_bytes);
    family(&w, "citygate_journal_appended_lines_total", "counter", "Lines appended to the buffer.");
    sample_u(&w, "citygate_journal_appended_lines_total", NULL, st->journal.appended_lines);
    family(&w, "citygate_journal_refused_total", "counter", "Appends refused because the buffer stayed full.");
    sample_u(&w, "citygate_journal_refused_total", NULL, st->journal.refused);
    family(&w, "citygate_buffer_write_errors_total", "counter",
           "Disk buffer writes or syncs that failed (disk full, I/O error); the readings were held, not taken.");
    sample_u(&w, "citygate_buffer_write_errors_total", NULL, st->journal.write_errors);
    family(&w, "citygate_buffer_corrupt_records_total", "counter",
           "Damaged disk buffer records (or segment tails) skipped while reading; their lines count as lost.");
    sample_u(&w, "citygate_buffer_corrupt_records_total", NULL, st->journal.corrupt_records);
    if (st->has_alarms) {
        family(&w, "citygate_alarms_active", "gauge", "Alarm series raised now (docs/alarms.md).");
        sample_u(&w, "citygate_alarms_active", NULL, st->alarms.active);
        family(&w, "citygate_alarm_transitions_total", "counter", "Alarm events by transition.");
        const char *raised[] = {"state", "raised", NULL}, *cleared[] = {"state", "cleared", NULL};
        sample_u(&w, "citygate_alarm_transitions_total", raised, st->alarms.raised);
        sample_u(&w, "citygate_alarm_transitions_total", cleared, st->alarms.cleared);
        family(&w, "citygate_alarm_series", "gauge", "Series the alarm rules follow.");
        sample_u(&w, "citygate_alarm_series", NULL, st->alarms.series);
        family(&w, "citygate_alarm_series_refused_total", "counter",
               "Readings not evaluated by the alarms: max_series reached.");
        sample_u(&w, "citygate_alarm_series_refused_total", NULL, st->alarms.series_refused);
        family(&w, "citygate_alarm_lane_errors_total", "counter",
               "Alarm events whose lane append or state write failed (logged).");
        sample_u(&w, "citygate_alarm_lane_errors_total", NULL, st->alarms.lane_errors);
    }
    family(&w, "citygate_fields_nonfinite_total", "counter", "Fields dropped for being NaN or infinite.");
    sample_u(&w, "citygate_fields_nonfinite_total", NULL, st->fields_nonfinite);
    family(&w, "citygate_uint_clipped_total", "counter", "Unsigned values clipped to the signed 64-bit range.");
    sample_u(&w, "citygate_uint_clipped_total", NULL, st->uint_clipped);
    if (w.rc == 0) {
        w.rc = cg_drops_render_metrics(st->drops, st->n_drops, out);
    }

    /* The standard process_* names, so stock "process" dashboards work. */
    family(&w, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    sample_d(&w, "process_cpu_seconds_total", NULL, st->cpu_user_s + st->cpu_system_s);
    family(&w, "process_resident_memory_bytes", "gauge", "Resident memory size.");
    sample_u(&w, "process_resident_memory_bytes", NULL, st->rss_bytes);
    family(&w, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
    sample_ts(&w, "process_start_time_seconds", NULL, st->started_ns);
    return w.rc;
}

/* ---- JSON for the status page ------------------------------------------- */

static double age_or_null_s(const struct cg_status *st, int64_t ns)
{
    if (ns <= 0) {
        return -1;
    }
    return st->now_ns > ns ? (double)(st->now_ns - ns) / 1e9 : 0.0;
}

static void add_age(cJSON *o, const char *key, const struct cg_status *st, int64_t ns)
{
    double a = age_or_null_s(st, ns);
    if (a < 0) {
        cJSON_AddNullToObject(o, key);
    } else {
        cJSON_AddNumberToObject(o, key, floor(a * 10) / 10);
    }
}

int cg_http_render_json(const struct cg_status *st, struct cg_buf *out)
{
    int rc = -ENOMEM;
    char *text = NULL;
    char reasons[HTTP_REASONS_MAX];
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) {
        goto out;
    }
    bool healthy = cg_status_healthy(st, reasons, sizeof(reasons));
    cJSON_AddStringToObject(root, "gateway_id", st->gateway_id);
    cJSON_AddStringToObject(root, "version", st->version);
    cJSON_AddNumberToObject(root, "now_ms", (double)(st->now_ns / 1000000));
    cJSON_AddNumberToObject(root, "uptime_s", (double)(st->now_ns > st->started_ns && st->started_ns > 0
                                                           ? (st->now_ns - st->started_ns) / NS_PER_S
                                                           : 0));
    cJSON_AddStringToObject(root, "health", healthy ? "ok" : "degraded");
    cJSON *rs = cJSON_AddArrayToObject(root, "reasons");
    for (char *line = reasons, *nl; rs && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL) {
            cJSON_AddItemToArray(rs, cJSON_CreateString(line));
            break;
        }
        *nl = '\0';
        cJSON_AddItemToArray(rs, cJSON_CreateString(line));
    }
    cJSON *ck = cJSON_AddObjectToObject(root, "clock");
    if (ck) {
        cJSON_AddBoolToObject(ck, "checked", st->clock != CG_STATUS_CLOCK_UNCHECKED);
        if (st->clock == CG_STATUS_CLOCK_UNCHECKED) {
            cJSON_AddNullToObject(ck, "synchronized");
        } else {
            cJSON_AddBoolToObject(ck, "synchronized", st->clock == CG_STATUS_CLOCK_SYNCED);
        }
        cJSON_AddBoolToObject(ck, "affects_health", !st->clock_ignored);
    }
    cJSON *j = cJSON_AddObjectToObject(root, "buffer");
    if (j) {
        cJSON_AddNumberToObject(j, "bytes", (double)st->journal.bytes);
        cJSON_AddNumberToObject(j, "lines", (double)st->journal.lines);
        cJSON_AddNumberToObject(j, "max_bytes", (double)st->journal.max_bytes);
        cJSON_AddNumberToObject(j, "used_pct", st->journal.max_bytes
                                                   ? floor((double)st->journal.bytes * 1000.0 /
                                                           (double)st->journal.max_bytes) / 10.0
                                                   : 0.0);
        cJSON_AddNumberToObject(j, "appended_lines", (double)st->journal.appended_lines);
        cJSON_AddNumberToObject(j, "refused", (double)st->journal.refused);
    }
    cJSON *al = st->has_alarms ? cJSON_AddObjectToObject(root, "alarms") : NULL;
    if (al) {
        cJSON_AddNumberToObject(al, "active", (double)st->alarms.active);
        cJSON_AddNumberToObject(al, "raised", (double)st->alarms.raised);
        cJSON_AddNumberToObject(al, "cleared", (double)st->alarms.cleared);
        cJSON_AddNumberToObject(al, "series", (double)st->alarms.series);
        cJSON_AddNumberToObject(al, "series_refused", (double)st->alarms.series_refused);
        cJSON_AddNumberToObject(al, "lane_errors", (double)st->alarms.lane_errors);
        cJSON *list = cJSON_AddArrayToObject(al, "raised_now");
        for (size_t i = 0; list && i < st->n_active_alarms; i++) {
            cJSON *o = cJSON_CreateObject();
            if (o == NULL || !cJSON_AddItemToArray(list, o)) {
                cJSON_Delete(o);
                break;
            }
            cJSON_AddStringToObject(o, "alarm", st->active_alarms[i].alarm);
            cJSON_AddStringToObject(o, "series", st->active_alarms[i].series);
            cJSON_AddNumberToObject(o, "since_ms", (double)(st->active_alarms[i].since_ns / 1000000));
        }
    }
    cJSON *pr = cJSON_AddObjectToObject(root, "process");
    if (pr) {
        cJSON_AddNumberToObject(pr, "rss_bytes", (double)st->rss_bytes);
        cJSON_AddNumberToObject(pr, "cpu_s", floor((st->cpu_user_s + st->cpu_system_s) * 100) / 100);
    }
    cJSON *srcs = cJSON_AddArrayToObject(root, "sources");
    for (size_t i = 0; srcs && i < st->n_sources; i++) {
        const struct cg_status_source *s = &st->sources[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(srcs, o)) {
            cJSON_Delete(o);
            goto out;
        }
        cJSON_AddStringToObject(o, "name", s->name);
        cJSON_AddStringToObject(o, "type", s->type);
        cJSON_AddNumberToObject(o, "points_in", (double)s->counters.points_in);
        cJSON_AddNumberToObject(o, "points_rejected", (double)s->counters.points_rejected);
        cJSON_AddNumberToObject(o, "points_refused", (double)s->counters.points_refused);
        add_age(o, "last_point_age_s", st, s->counters.last_ns);
        cJSON_AddStringToObject(o, "last_lines", s->last_lines);
        cJSON *devs = cJSON_AddArrayToObject(o, "devices");
        for (size_t k = 0; devs && k < s->n_devices; k++) {
            const struct cg_status_device *d = &s->devices[k];
            cJSON *dj = cJSON_CreateObject();
            if (dj == NULL || !cJSON_AddItemToArray(devs, dj)) {
                cJSON_Delete(dj);
                goto out;
            }
            cJSON_AddStringToObject(dj, "name", d->name);
            cJSON_AddStringToObject(dj, "kind", cg_status_kind_name(d->kind));
            cJSON_AddStringToObject(dj, "state", d->quarantined ? "quarantined" : d->up ? "up" : "down");
            cJSON_AddNumberToObject(dj, "ok", (double)d->ok);
            cJSON_AddNumberToObject(dj, "failed", (double)d->failed);
            cJSON_AddNumberToObject(dj, "consecutive_failures", (double)d->consecutive_failures);
            cJSON_AddNumberToObject(dj, "skipped", (double)d->skipped);
            cJSON_AddNumberToObject(dj, "stray_frames", (double)d->stray_frames);
            if (d->latency_ms >= 0) {
                cJSON_AddNumberToObject(dj, "latency_ms", floor(d->latency_ms * 10) / 10);
            } else {
                cJSON_AddNullToObject(dj, "latency_ms");
            }
            add_age(dj, "last_ok_age_s", st, d->last_ok_ns);
            cJSON_AddStringToObject(dj, "last_error", d->last_error);
        }
    }
    cJSON *outs = cJSON_AddArrayToObject(root, "outputs");
    for (size_t i = 0; outs && i < st->n_outputs; i++) {
        const struct cg_status_output *o = &st->outputs[i];
        cJSON *oj = cJSON_CreateObject();
        if (oj == NULL || !cJSON_AddItemToArray(outs, oj)) {
            cJSON_Delete(oj);
            goto out;
        }
        cJSON_AddStringToObject(oj, "name", o->name);
        cJSON_AddStringToObject(oj, "url", o->url);
        cJSON_AddStringToObject(oj, "state", o->st.up ? "up" : o->st.requests == 0 ? "idle" : "down");
        cJSON_AddNumberToObject(oj, "last_status", o->st.last_status);
        cJSON_AddStringToObject(oj, "last_error", o->st.last_error);
        cJSON_AddNumberToObject(oj, "lines_sent", (double)o->st.lines_sent);
        cJSON_AddNumberToObject(oj, "lines_dead_lettered", (double)o->st.lines_dead_lettered);
        cJSON_AddNumberToObject(oj, "lines_dropped", (double)o->st.lines_dropped);
        cJSON_AddNumberToObject(oj, "lines_lost", (double)o->st.journal_dropped_lines);
        cJSON_AddNumberToObject(oj, "lines_filtered", (double)o->st.lines_filtered);
        cJSON_AddNumberToObject(oj, "unsent_lines", (double)o->st.journal_unread_lines);
        cJSON_AddNumberToObject(oj, "oldest_unsent_s", (double)cg_status_oldest_unsent_s(st, o));
        add_age(oj, "last_ok_age_s", st, o->st.last_ok_ns);
        cJSON_AddNumberToObject(oj, "retry_in_s", o->st.retry_at_ns > st->now_ns
                                                      ? (double)((o->st.retry_at_ns - st->now_ns) / NS_PER_S)
                                                      : 0.0);
    }
    /* The largest discard and unmapped counts (docs/reliability.md), so a
     * reading that was not stored as it came is visible on the page too. */
    cJSON *dr = cJSON_AddArrayToObject(root, "discarded");
    for (size_t i = 0; dr != NULL && i < st->n_drops && i < HTTP_TOP_DROPS; i++) {
        const struct cg_drops_row *r = &st->drops[i];
        cJSON *rj = cJSON_CreateObject();
        if (rj == NULL || !cJSON_AddItemToArray(dr, rj)) {
            cJSON_Delete(rj);
            goto out;
        }
        cJSON_AddStringToObject(rj, "cause", cg_drops_cause_name(r->cause));
        cJSON_AddStringToObject(rj, "what", cg_drops_cause_text(r->cause));
        cJSON_AddBoolToObject(rj, "written", cg_drops_cause_kept(r->cause));
        cJSON_AddStringToObject(rj, "source", r->source);
        cJSON_AddStringToObject(rj, "measurement", r->measurement);
        cJSON_AddStringToObject(rj, "field", r->field);
        cJSON_AddNumberToObject(rj, "count", (double)r->count);
    }
    text = cJSON_PrintUnformatted(root);
    if (text == NULL) {
        goto out;
    }
    rc = cg_buf_append(out, text, strlen(text));
    if (rc == 0) {
        rc = cg_buf_putc(out, '\n');
    }
out:
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}

/* ---- the status page ---------------------------------------------------- */

/* One document, no external assets (works on a cabinet laptop with no
 * internet). Everything from the gateway is inserted with textContent. */
/* gateway/status_page.html, embedded at build time (cmake/embed.cmake):
 * status_page_html[] with its length, NUL-terminated. */
#include "status_page_html.h"

/* ---- the server --------------------------------------------------------- */

struct cg_http {
    struct MHD_Daemon *mhd;
    const struct cg_http_conf *conf; /* &own */
    /* A private copy: a reload frees the config the server was started
     * with, while the server (and its credentials) keep running. */
    struct cg_http_conf own;
    cg_status_collect_fn collect;
    void *ctx;
    char *page; /* status_page with the refresh interval filled in */
    size_t page_len;
    int port;
};

static bool ct_equal(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (lb == 0) { /* config refuses empty secrets; an empty one never matches either */
        return false;
    }
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++) {
        d |= (unsigned char)a[i] ^ (unsigned char)b[lb ? i % lb : 0];
    }
    return d == 0;
}

static bool authorized(const struct cg_http *h, struct MHD_Connection *conn)
{
    const struct cg_http_conf *c = h->conf;
    if (c->token == NULL && c->username == NULL) {
        return true;
    }
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (v == NULL || strlen(v) > HTTP_AUTH_MAX) {
        return false;
    }
    if (c->token && strncasecmp(v, "Bearer ", 7) == 0) {
        const char *t = v + 7;
        while (*t == ' ') {
            t++;
        }
        return ct_equal(t, strlen(t), c->token);
    }
    if (c->username && strncasecmp(v, "Basic ", 6) == 0) {
        char *pass = NULL;
        char *user = MHD_basic_auth_get_username_password(conn, &pass);
        /* Both compared in full whatever the first one says: the time taken
         * tells nothing about which part was wrong. */
        bool user_ok = user != NULL && ct_equal(user, strlen(user), c->username);
        bool pass_ok = pass != NULL && ct_equal(pass, strlen(pass), c->password);
        if (pass != NULL) {
            explicit_bzero(pass, strlen(pass));
        }
        MHD_free(user);
        MHD_free(pass);
        return user_ok && pass_ok;
    }
    return false;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *body,
                             size_t len, const char *h1, const char *v1)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (h1 != NULL) {
        MHD_add_response_header(r, h1, v1);
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return reply(conn, status, "text/plain; charset=utf-8", text, strlen(text), NULL, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
    static int first_call_marker;
    struct cg_http *h = cls;
    if (*con_cls == NULL) { /* headers only so far; a body (if any) follows */
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* we take no bodies: discard */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "method not allowed\n", 19,
                     MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
        return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8", h->page, h->page_len,
                     "Content-Security-Policy",
                     "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                     "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'");
    }
    bool healthz = strcmp(url, "/healthz") == 0;
    bool metrics = strcmp(url, "/metrics") == 0;
    bool json = strcmp(url, "/status.json") == 0;
    if (!healthz && !metrics && !json) {
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /, /healthz, /metrics or /status.json\n");
    }
    if (!authorized(h, conn)) {
        return reply(conn, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8", "authentication required\n", 24,
                     MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                     h->conf->username ? "Basic realm=\"citygate\", charset=\"UTF-8\"" : "Bearer realm=\"citygate\"");
    }
    struct cg_status st;
    memset(&st, 0, sizeof(st));
    if (h->collect(h->ctx, &st) < 0) {
        cg_status_done(&st);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot collect the status: out of memory\n");
    }
    cg_status_add_process(&st);
    enum MHD_Result ret;
    struct cg_buf b;
    cg_buf_init(&b, HTTP_BODY_MAX);
    if (healthz) {
        char reasons[HTTP_REASONS_MAX], notes[HTTP_REASONS_MAX];
        bool ok = cg_status_healthy(&st, reasons, sizeof(reasons));
        cg_status_notes(&st, notes, sizeof(notes));
        int rc = cg_buf_printf(&b, "%s\n%s", ok ? "ok" : "degraded", reasons);
        for (char *line = notes, *nl; rc >= 0 && *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (nl == NULL) {
                break;
            }
            *nl = '\0';
            rc = cg_buf_printf(&b, "note: %s\n", line);
        }
        ret = rc < 0 ? reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n")
                     : reply_text(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, b.data);
    } else {
        int rc = metrics ? cg_http_render_metrics(&st, &b) : cg_http_render_json(&st, &b);
        if (rc < 0) {
            ret = reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render: response too large\n");
        } else {
            ret = reply(conn, MHD_HTTP_OK,
                        metrics ? "text/plain; version=0.0.4; charset=utf-8" : "application/json", b.data, b.len,
                        NULL, NULL);
        }
    }
    cg_buf_done(&b);
    cg_status_done(&st);
    return ret;
}

static char *fill_page(int64_t refresh_ms, size_t *len)
{
    static const char mark[] = "@REFRESH_MS@";
    const char *at = strstr(status_page_html, mark);
    char num[32];
    snprintf(num, sizeof(num), "%" PRId64, refresh_ms);
    size_t n = status_page_html_len + strlen(num);
    char *p = malloc(n + 1);
    if (p == NULL || at == NULL) {
        free(p);
        return NULL;
    }
    size_t pre = (size_t)(at - status_page_html);
    memcpy(p, status_page_html, pre);
    memcpy(p + pre, num, strlen(num));
    strcpy(p + pre + strlen(num), at + sizeof(mark) - 1);
    *len = strlen(p);
    return p;
}

struct cg_http *cg_http_start(const struct cg_http_conf *c, cg_status_collect_fn collect, void *ctx, char *err,
                              size_t errlen)
{
    struct cg_http *h = NULL;
    int fd = -1;
    if (errlen) {
        err[0] = '\0';
    }
    if (!cg_http_conf_enabled(c)) {
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL || (h->page = fill_page(c->refresh_ms, &h->page_len)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    h->own = *c;
    h->own.listen = h->own.token = h->own.username = h->own.password = NULL;
    if ((c->listen && (h->own.listen = strdup(c->listen)) == NULL) ||
        (c->token && (h->own.token = strdup(c->token)) == NULL) ||
        (c->username && (h->own.username = strdup(c->username)) == NULL) ||
        (c->password && (h->own.password = strdup(c->password)) == NULL)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    h->conf = &h->own;
    h->collect = collect;
    h->ctx = ctx;
    /* Our own socket, so "address in use" reaches the log with its errno. */
    fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (c->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)&c->addr, c->addrlen) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", c->listen, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0) {
        h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (c->addr.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->max_connections_per_client,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->timeout_s, MHD_OPTION_END);
    if (h->mhd == NULL) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", c->listen);
        goto fail;
    }
    return h;
fail:
    if (fd >= 0) {
        close(fd);
    }
    if (h) {
        cg_opt_free(cg_http_options, &h->own);
        free(h->page);
        free(h);
    }
    return NULL;
}

int cg_http_port(const struct cg_http *h)
{
    return h ? h->port : 0;
}

void cg_http_stop(struct cg_http *h)
{
    if (h == NULL) {
        return;
    }
    MHD_stop_daemon(h->mhd); /* joins its thread and closes the listening socket */
    cg_opt_free(cg_http_options, &h->own);
    free(h->page);
    free(h);
}
