/* citygate — InfluxDB output types (influxdb_v1: POST /write, influxdb_v2:
 * POST /api/v2/write): line protocol over one persistent libcurl handle.
 * The engine (output.c) batches, retries and bisects; this file turns a batch
 * into one HTTP request and its status into a verdict, status code by status
 * code (cg_influx_classify). See docs/outputs.md. */
#include "output_influx.h"

#include "lineproto.h"
#include "output.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <zlib.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX 1024      /* response body kept for the error reason */
#define REASON_MAX CG_OUTPUT_REASON_MAX
#define GZIP_LEVEL 1       /* Z_BEST_SPEED: line protocol compresses ~10x anyway */
#define BODY_MAX ((size_t)1 << 30)

enum { TYPE_V1, TYPE_V2 };
enum { PREC_NS, PREC_US, PREC_MS, PREC_S };

static const char *const type_choices[] = {"influxdb_v1", "influxdb_v2", NULL};
static const char *const precision_choices[] = {"ns", "us", "ms", "s", NULL};
static const int64_t precision_divisor[] = {1, 1000, 1000000, 1000000000};
/* v1 /write spells microseconds "u"; v2 /api/v2/write spells it "us". */
static const char *const precision_v1[] = {"ns", "u", "ms", "s"};

struct cg_influx_conf {
    struct cg_output_common common; /* first: the engine reads it */
    int type;
    char *url;
    char *database;
    char *retention_policy;
    char *username;
    char *password;
    char *org;
    char *bucket;
    char *token;
    int precision;
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    bool gzip;
    bool tls_verify;
    char *ca_file;
    /* derived at parse time */
    char *write_url; /* base + endpoint + query; never holds credentials */
    char *base_url;  /* for log lines */
};

#define OFF(m) offsetof(struct cg_influx_conf, m)

const struct cg_opt cg_influx_options[] = {
    CG_OUTPUT_NAME_OPTION("influxdb"),
    {.name = "type", .type = CG_OPT_ENUM, .offset = OFF(type), .choices = type_choices,
     .flags = CG_OPT_REQUIRED, .doc = "influxdb_v1 (POST /write) or influxdb_v2 (POST /api/v2/write)"},
    {.name = "url", .type = CG_OPT_STRING, .offset = OFF(url), .flags = CG_OPT_REQUIRED,
     .doc = "http:// or https:// base URL of the server, e.g. http://127.0.0.1:8086 (a path prefix is kept)"},
    {.name = "database", .type = CG_OPT_STRING, .offset = OFF(database),
     .doc = "v1: database to write to (required for influxdb_v1)"},
    {.name = "retention_policy", .type = CG_OPT_STRING, .offset = OFF(retention_policy),
     .doc = "v1: retention policy (rp=); the database default when unset"},
    {.name = "username", .type = CG_OPT_STRING, .offset = OFF(username),
     .doc = "v1: user for HTTP basic authentication"},
    {.name = "password", .type = CG_OPT_STRING, .offset = OFF(password), .flags = CG_OPT_SECRET,
     .doc = "v1: password (secret; or password_file)"},
    {.name = "org", .type = CG_OPT_STRING, .offset = OFF(org),
     .doc = "v2: organisation (org=); InfluxDB 2 needs it, VictoriaMetrics ignores it"},
    {.name = "bucket", .type = CG_OPT_STRING, .offset = OFF(bucket),
     .doc = "v2: bucket (required for influxdb_v2)"},
    {.name = "token", .type = CG_OPT_STRING, .offset = OFF(token), .flags = CG_OPT_SECRET,
     .doc = "v2: API token sent as 'Authorization: Token ...' (secret; or token_file)"},
    {.name = "precision", .type = CG_OPT_ENUM, .offset = OFF(precision), .def = "ns",
     .choices = precision_choices,
     .doc = "timestamp precision sent to the server (precision=); timestamps are truncated to it"},
    CG_OUTPUT_COMMON_OPTIONS,
    {.name = "timeout_ms", .type = CG_OPT_INT, .offset = OFF(timeout_ms), .def = "10000",
     .min = 100, .max = 600000, .doc = "whole-request timeout (then the batch is retried)"},
    {.name = "connect_timeout_ms", .type = CG_OPT_INT, .offset = OFF(connect_timeout_ms),
     .def = "5000", .min = 100, .max = 600000, .doc = "TCP + TLS connect timeout"},
    {.name = "gzip", .type = CG_OPT_BOOL, .offset = OFF(gzip), .def = "true",
     .doc = "send bodies with Content-Encoding: gzip"},
    {.name = "tls_verify", .type = CG_OPT_BOOL, .offset = OFF(tls_verify), .def = "true",
     .doc = "verify the server certificate and host name (https)"},
    {.name = "ca_file", .type = CG_OPT_STRING, .offset = OFF(ca_file),
     .doc = "PEM file of CA certificates to verify the server with (default: the system store)"},
    CG_OPT_END,
};

/* ---- pure helpers ------------------------------------------------------- */

enum cg_output_verdict cg_influx_classify(long status)
{
    if (status >= 200 && status <= 299) {
        return CG_OUTPUT_OK;
    }
    if (status == 413) {
        return CG_OUTPUT_SPLIT;
    }
    if (status == 401 || status == 403 || status == 404 || status == 407) {
        return CG_OUTPUT_HOLD;
    }
    if (status == 408 || status == 429) {
        return CG_OUTPUT_RETRY;
    }
    if (status >= 400 && status <= 499) {
        return CG_OUTPUT_REJECT; /* 400, 422, 406 and every other 4xx: the data is the problem */
    }
    if (status >= 300 && status <= 399) {
        return CG_OUTPUT_HOLD; /* redirects are not followed: the url is wrong */
    }
    return CG_OUTPUT_RETRY; /* 0 (no answer), 1xx, 5xx, nonsense */
}



int cg_influx_gzip(struct cg_buf *out, const void *in, size_t len, int level)
{
    if (len > UINT32_MAX / 2) {
        return -ENOBUFS; /* zlib counts in uInt; batches are far smaller */
    }
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 16 + MAX_WBITS: a gzip wrapper (RFC 1952), which Content-Encoding: gzip means. */
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return -ENOMEM;
    }
    size_t start = out->len;
    size_t bound = deflateBound(&zs, (uLong)len) + 32; /* + gzip header/trailer slack */
    int rc = cg_buf_reserve(out, bound);
    if (rc < 0) {
        goto out;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        rc = -EIO;
        goto out;
    }
    out->len += bound - zs.avail_out;
    out->data[out->len] = '\0';
out:
    deflateEnd(&zs);
    if (rc < 0 && out->data != NULL) {
        cg_buf_truncate(out, start);
    }
    return rc;
}

/* ---- configuration ------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool has_key(const cJSON *obj, const char *key)
{
    char fk[64];
    snprintf(fk, sizeof(fk), "%s_file", key);
    return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL ||
           cJSON_GetObjectItemCaseSensitive(obj, fk) != NULL;
}

static void check_url(const char *url, const char *path, char **base, struct cg_errs *errs)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL, *query = NULL, *frag = NULL;
    if (u == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return;
    }
    /* The text itself is never echoed: it could carry credentials. */
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        cg_errs_add(errs, path, "not a valid URL (expected http://host:port or https://host:port)");
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        cg_errs_add(errs, path, "scheme must be http or https, got '%s'", scheme ? scheme : "");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host == NULL || host[0] == '\0') {
        cg_errs_add(errs, path, "missing host");
        goto out;
    }
    curl_url_get(u, CURLUPART_USER, &user, 0);
    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
    if (user != NULL || pass != NULL) {
        cg_errs_add(errs, path, "must not contain credentials (use username/password or token)");
        goto out;
    }
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
    if (query != NULL || frag != NULL) {
        cg_errs_add(errs, path, "must not contain a query or fragment");
        goto out;
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') {
        n--;
    }
    *base = strndup(url, n);
    if (*base == NULL) {
        cg_errs_add(errs, path, "out of memory");
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(pass);
    curl_free(query);
    curl_free(frag);
    curl_url_cleanup(u);
}

static int append_param(struct cg_buf *b, const char *sep, const char *key, const char *val)
{
    char *e = curl_easy_escape(NULL, val, 0);
    if (e == NULL) {
        return -ENOMEM;
    }
    int rc = cg_buf_printf(b, "%s%s=%s", sep, key, e);
    curl_free(e);
    return rc;
}

static int build_write_url(struct cg_influx_conf *c)
{
    struct cg_buf b;
    cg_buf_init(&b, 16384);
    int rc;
    if (c->type == TYPE_V1) {
        rc = cg_buf_printf(&b, "%s/write", c->base_url);
        if (rc == 0) {
            rc = append_param(&b, "?", "db", c->database);
        }
        if (rc == 0 && c->retention_policy != NULL && c->retention_policy[0] != '\0') {
            rc = append_param(&b, "&", "rp", c->retention_policy);
        }
        if (rc == 0) {
            rc = cg_buf_printf(&b, "&precision=%s", precision_v1[c->precision]);
        }
    } else {
        rc = cg_buf_printf(&b, "%s/api/v2/write?", c->base_url);
        const char *sep = "";
        if (rc == 0 && c->org != NULL && c->org[0] != '\0') {
            rc = append_param(&b, "", "org", c->org);
            sep = "&";
        }
        if (rc == 0) {
            rc = append_param(&b, sep, "bucket", c->bucket);
        }
        if (rc == 0) {
            rc = cg_buf_printf(&b, "&precision=%s", precision_choices[c->precision]);
        }
    }
    if (rc < 0) {
        cg_buf_done(&b);
        return rc;
    }
    c->write_url = b.data; /* the buffer's storage becomes the string */
    return 0;
}

static void conf_free(struct cg_output_common *common)
{
    struct cg_influx_conf *c = (struct cg_influx_conf *)common;
    if (c == NULL) {
        return;
    }
    cg_opt_free(cg_influx_options, c);
    free(c->write_url);
    free(c->base_url);
    free(c);
}

static size_t errs_total(const struct cg_errs *e)
{
    return e->n + e->lost;
}

static int conf_parse(const cJSON *obj, const char *path, struct cg_output_common **out, struct cg_errs *errs)
{
    char p[256];
    size_t before = errs_total(errs);
    struct cg_influx_conf *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    pthread_once(&curl_once, curl_init);
    int rc = cg_opt_parse(cg_influx_options, obj, path, c, errs);
    if (rc < 0 && !cJSON_IsObject(obj)) {
        goto fail;
    }

    (void)cg_output_check_common(&c->common, path, errs);
    if (c->url != NULL) {
        cg_path_key(p, sizeof(p), path, "url");
        check_url(c->url, p, &c->base_url, errs);
    }

    /* Keys of the other protocol version are mistakes worth naming. Only the
     * type key decides; if it is broken, cg_opt_parse said so already. */
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (cJSON_IsString(type)) {
        static const char *const v1_only[] = {"database", "retention_policy", "username", "password", NULL};
        static const char *const v2_only[] = {"org", "bucket", "token", NULL};
        bool v1 = strcmp(type->valuestring, "influxdb_v1") == 0;
        bool v2 = strcmp(type->valuestring, "influxdb_v2") == 0;
        if (v1 || v2) {
            const char *const *wrong = v1 ? v2_only : v1_only;
            for (size_t i = 0; wrong[i] != NULL; i++) {
                if (has_key(obj, wrong[i])) {
                    cg_path_key(p, sizeof(p), path, wrong[i]);
                    cg_errs_add(errs, p, "only for type %s", v1 ? "influxdb_v2" : "influxdb_v1");
                }
            }
            const char *req = v1 ? "database" : "bucket";
            if (!has_key(obj, req)) {
                cg_path_key(p, sizeof(p), path, req);
                cg_errs_add(errs, p, "required for type %s", type->valuestring);
            } else {
                char *val = v1 ? c->database : c->bucket;
                if (val != NULL && val[0] == '\0') {
                    cg_path_key(p, sizeof(p), path, req);
                    cg_errs_add(errs, p, "must not be empty");
                }
            }
            if (c->username != NULL && c->username[0] == '\0') {
                cg_path_key(p, sizeof(p), path, "username");
                cg_errs_add(errs, p, "must not be empty; leave username and password out for none");
            }
            if (v1 && has_key(obj, "password") && !has_key(obj, "username")) {
                cg_path_key(p, sizeof(p), path, "password");
                cg_errs_add(errs, p, "needs username");
            }
        }
    }
    if (c->ca_file != NULL && access(c->ca_file, R_OK) != 0) {
        cg_path_key(p, sizeof(p), path, "ca_file");
        cg_errs_add(errs, p, "cannot read %s: %s", c->ca_file, strerror(errno));
    }
    if (errs_total(errs) != before) {
        goto fail;
    }
    if (build_write_url(c) < 0) {
        cg_errs_add(errs, path, "out of memory");
        rc = -ENOMEM;
        goto fail_rc;
    }
    *out = &c->common;
    return 0;
fail:
    rc = -EINVAL;
fail_rc:
    conf_free(&c->common);
    return rc;
}

static const char *conf_target(const struct cg_output_common *common)
{
    const struct cg_influx_conf *c = (const struct cg_influx_conf *)common;
    return c->base_url ? c->base_url : "";
}

static const char *hold_hint(const struct cg_output_common *common, int status)
{
    const struct cg_influx_conf *c = (const struct cg_influx_conf *)common;
    if (status == 401 || status == 403 || status == 407) {
        return c->type == TYPE_V1 ? " (check username/password)" : " (check token)";
    }
    if (status == 404) {
        return c->type == TYPE_V1 ? " (does the database exist?)" : " (do the org and bucket exist?)";
    }
    return " (redirects are not followed: check url)";
}

/* ---- the connection ----------------------------------------------------- */

struct influx {
    const struct cg_influx_conf *conf;
    struct cg_output *engine;
    CURL *curl;
    struct curl_slist *headers;
    char curl_err[CURL_ERROR_SIZE];
    struct cg_buf body; /* rescaled lines */
    struct cg_buf gz;   /* compressed body */
    /* last response */
    struct cg_buf resp;
    char hdr_error[REASON_MAX + 1];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct influx *o = ud;
    size_t n = size * nmemb;
    size_t room = o->resp.len < RESP_MAX ? RESP_MAX - o->resp.len : 0;
    if (room > 0) {
        (void)cg_buf_append(&o->resp, ptr, n < room ? n : room);
    }
    return n; /* the rest is read and discarded so the connection stays reusable */
}

static void copy_header_value(char *dst, size_t dstsz, const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) {
        n--;
    }
    if (n >= dstsz) {
        n = dstsz - 1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct influx *o = ud;
    size_t n = size * nitems;
    static const char *const err_names[] = {"X-Influx-Error:", "X-InfluxDB-Error:"};
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* a new response (after a 1xx): forget the previous one's headers */
        o->hdr_error[0] = '\0';
        return n;
    }
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(err_names[i]);
        if (n > k && strncasecmp(buf, err_names[i], k) == 0) {
            copy_header_value(o->hdr_error, sizeof(o->hdr_error), buf + k, n - k);
        }
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct influx *o = ud;
    return cg_output_cancelled(o->engine) ? 1 : 0;
}

static void sanitize(char *s)
{
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t') {
            *s = ' ';
        }
    }
}

static const char *status_text(long status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 413:
        return "Request Entity Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "(no reason given)";
    }
}

/* The server's words for a failure: the JSON "error" (v1) / "message" (v2) of
 * the body, else X-Influx-Error / X-InfluxDB-Error, else the body itself. */
static void set_reason(struct influx *o, long status, char reason[REASON_MAX + 1])
{
    reason[0] = '\0';
    cJSON *js = o->resp.len > 0 ? cJSON_ParseWithLength(o->resp.data, o->resp.len) : NULL;
    const cJSON *m = js ? cJSON_GetObjectItemCaseSensitive(js, "error") : NULL;
    if (!cJSON_IsString(m)) {
        m = js ? cJSON_GetObjectItemCaseSensitive(js, "message") : NULL;
    }
    if (cJSON_IsString(m)) {
        snprintf(reason, REASON_MAX + 1, "%s", m->valuestring);
    } else if (o->hdr_error[0] != '\0') {
        snprintf(reason, REASON_MAX + 1, "%s", o->hdr_error);
    } else if (o->resp.len > 0) {
        snprintf(reason, REASON_MAX + 1, "%.*s", (int)o->resp.len, o->resp.data);
    }
    cJSON_Delete(js);
    sanitize(reason);
    size_t n = strlen(reason);
    while (n > 0 && reason[n - 1] == ' ') {
        reason[--n] = '\0';
    }
    if (n == 0) {
        snprintf(reason, REASON_MAX + 1, "%s", status_text(status));
    }
}

/* One POST of p[0..len). 0 with res filled, or -ECANCELED when stopped at the
 * deadline. Every status is classified by cg_influx_classify. */
static int send_batch(void *state, const char *p, size_t len, size_t nlines, struct cg_output_result *res)
{
    struct influx *o = state;
    const struct cg_influx_conf *c = o->conf;
    const char *body = p;
    size_t blen = len;
    int rc;
    (void)nlines;
    if (c->precision != PREC_NS) {
        cg_buf_reset(&o->body);
        rc = cg_lp_rescale_time(&o->body, p, len, precision_divisor[c->precision]);
        if (rc < 0) {
            goto local_fail;
        }
        body = o->body.data;
        blen = o->body.len;
    }
    if (c->gzip) {
        cg_buf_reset(&o->gz);
        rc = cg_influx_gzip(&o->gz, body, blen, GZIP_LEVEL);
        if (rc < 0) {
            goto local_fail;
        }
        body = o->gz.data;
        blen = o->gz.len;
    }
    cg_buf_reset(&o->resp);
    o->hdr_error[0] = '\0';
    o->curl_err[0] = '\0';
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    CURLcode cc = curl_easy_perform(o->curl);
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        return -ECANCELED;
    }
    if (cc != CURLE_OK) {
        res->status = 0;
        res->verdict = CG_OUTPUT_RETRY;
        snprintf(res->reason, sizeof(res->reason), "%s", o->curl_err[0] ? o->curl_err : curl_easy_strerror(cc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
    res->status = (int)status;
    res->verdict = cg_influx_classify(status);
    if (res->verdict == CG_OUTPUT_OK) {
        res->bytes_sent = blen;
        return 0;
    }
    set_reason(o, status, res->reason);
    /* Retry-After (delay-seconds or HTTP-date, RFC 9110 10.2.3) as libcurl
     * parsed it; 0 when absent or unparseable. */
    curl_off_t ra = 0;
    if (curl_easy_getinfo(o->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0) {
        res->retry_after_ms = ra > CG_OUTPUT_RETRY_AFTER_MAX_MS / 1000 ? CG_OUTPUT_RETRY_AFTER_MAX_MS : (int64_t)ra * 1000;
    }
    return 0;
local_fail:
    /* Out of memory building the body: nothing was sent; try again later. */
    res->status = 0;
    res->verdict = CG_OUTPUT_RETRY;
    snprintf(res->reason, sizeof(res->reason), "cannot build request body: %s", strerror(-rc));
    return 0;
}

static void close_conn(void *state)
{
    struct influx *o = state;
    if (o == NULL) {
        return;
    }
    if (o->curl != NULL) {
        curl_easy_cleanup(o->curl);
    }
    for (struct curl_slist *l = o->headers; l != NULL; l = l->next) {
        explicit_bzero(l->data, strlen(l->data)); /* one of them holds the token */
    }
    curl_slist_free_all(o->headers);
    cg_buf_done(&o->body);
    cg_buf_done(&o->gz);
    cg_buf_done(&o->resp);
    free(o);
}

static int add_header(struct influx *o, const char *h)
{
    struct curl_slist *l = curl_slist_append(o->headers, h);
    if (l == NULL) {
        return -ENOMEM;
    }
    o->headers = l;
    return 0;
}

static int open_conn(const struct cg_output_common *common, struct cg_output *engine, void **state)
{
    const struct cg_influx_conf *c = (const struct cg_influx_conf *)common;
    struct influx *o = NULL;
    char *hdr = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        return -ENOMEM;
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return -ENOMEM;
    }
    o->conf = c;
    o->engine = engine;
    cg_buf_init(&o->body, BODY_MAX);
    cg_buf_init(&o->gz, BODY_MAX);
    cg_buf_init(&o->resp, RESP_MAX);
    o->curl = curl_easy_init();
    if (o->curl == NULL) {
        goto fail;
    }
    /* "Expect:": no 100-continue round trip */
    if (add_header(o, "Content-Type: text/plain; charset=utf-8") < 0 || add_header(o, "Expect:") < 0 ||
        (c->gzip && add_header(o, "Content-Encoding: gzip") < 0)) {
        goto fail;
    }
    if (c->type == TYPE_V2 && c->token != NULL && c->token[0] != '\0') {
        if (asprintf(&hdr, "Authorization: Token %s", c->token) < 0) {
            hdr = NULL;
            goto fail;
        }
        int rc = add_header(o, hdr);
        explicit_bzero(hdr, strlen(hdr));
        free(hdr);
        if (rc < 0) {
            goto fail;
        }
    }
    CURL *h = o->curl;
    curl_easy_setopt(h, CURLOPT_URL, c->write_url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "citygate/" CG_VERSION);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, o->curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, o);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, o);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, o);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
    if (c->ca_file != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    }
    if (c->type == TYPE_V1 && c->username != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->password ? c->password : "");
    }
    *state = o;
    return 0;
fail:
    close_conn(o);
    return -ENOMEM;
}

static const struct cg_output_ops influx_ops = {
    .conf_parse = conf_parse,
    .conf_free = conf_free,
    .target = conf_target,
    .open = open_conn,
    .send = send_batch,
    .close = close_conn,
    .hold_hint = hold_hint,
};

const struct cg_output_type cg_output_influxdb_v1 = {
    .api_version = CG_OUTPUT_API_VERSION,
    .name = "influxdb_v1",
    .summary = "InfluxDB 1.x HTTP API (POST /write), line protocol",
    .status_word = "HTTP",
    .options = cg_influx_options,
    .ops = &influx_ops,
};

const struct cg_output_type cg_output_influxdb_v2 = {
    .api_version = CG_OUTPUT_API_VERSION,
    .name = "influxdb_v2",
    .summary = "InfluxDB 2.x / VictoriaMetrics HTTP API (POST /api/v2/write), line protocol",
    .status_word = "HTTP",
    .options = cg_influx_options,
    .ops = &influx_ops,
};
