/* citygate — InfluxDB output: batches journal lines and POSTs them over HTTP.
 * See output_influx.h for the contract and docs/outputs.md for the user view. */
#include "output_influx.h"

#include "lineproto.h"
#include <citygate/log.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <zlib.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100                          /* how often an idle thread looks at the stop flag */
#define BATCH_HARD_MAX ((size_t)1 << 30)     /* a batch holds batch_bytes + one over-long line */
#define RESP_MAX 1024                        /* response body kept for the error reason */
#define REASON_MAX 300                       /* reason text kept in logs and the dead-letter file */
#define GZIP_LEVEL 1                         /* Z_BEST_SPEED: line protocol compresses ~10x anyway */

enum { TYPE_V1, TYPE_V2 };
enum { PREC_NS, PREC_US, PREC_MS, PREC_S };

static const char *const type_choices[] = {"influxdb_v1", "influxdb_v2", NULL};
static const char *const precision_choices[] = {"ns", "us", "ms", "s", NULL};
static const int64_t precision_divisor[] = {1, 1000, 1000000, 1000000000};
/* v1 /write spells microseconds "u"; v2 /api/v2/write spells it "us". */
static const char *const precision_v1[] = {"ns", "u", "ms", "s"};

struct cg_influx_conf {
    char *name;
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
    int64_t batch_lines;
    int64_t batch_bytes;
    int64_t flush_interval_ms;
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    bool gzip;
    int64_t retry_initial_ms;
    int64_t retry_max_ms;
    bool tls_verify;
    char *ca_file;
    char *dead_letter_file;
    int64_t dead_letter_max_bytes;
    int64_t bisect_max_requests;
    /* derived at parse time */
    char *write_url; /* base + endpoint + query; never holds credentials */
    char *base_url;  /* for log lines */
};

#define OFF(m) offsetof(struct cg_influx_conf, m)

const struct cg_opt cg_influx_options[] = {
    {.name = "name", .type = CG_OPT_STRING, .offset = OFF(name), .def = "influxdb",
     .doc = "output name (A-Z a-z 0-9 _ . -, up to 64); used in logs, stats and the dead-letter file name"},
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
    {.name = "batch_lines", .type = CG_OPT_INT, .offset = OFF(batch_lines), .def = "5000",
     .min = 1, .max = 1000000, .doc = "a batch is sent when it holds this many lines"},
    {.name = "batch_bytes", .type = CG_OPT_INT, .offset = OFF(batch_bytes), .def = "4194304",
     .min = 1024, .max = 268435456,
     .doc = "... or this many bytes of line protocol (before gzip); a longer single line goes alone"},
    {.name = "flush_interval_ms", .type = CG_OPT_INT, .offset = OFF(flush_interval_ms),
     .def = "1000", .min = 1, .max = 3600000,
     .doc = "... or when its first line has waited this long"},
    {.name = "timeout_ms", .type = CG_OPT_INT, .offset = OFF(timeout_ms), .def = "10000",
     .min = 100, .max = 600000, .doc = "whole-request timeout (then the batch is retried)"},
    {.name = "connect_timeout_ms", .type = CG_OPT_INT, .offset = OFF(connect_timeout_ms),
     .def = "5000", .min = 100, .max = 600000, .doc = "TCP + TLS connect timeout"},
    {.name = "gzip", .type = CG_OPT_BOOL, .offset = OFF(gzip), .def = "true",
     .doc = "send bodies with Content-Encoding: gzip"},
    {.name = "retry_initial_ms", .type = CG_OPT_INT, .offset = OFF(retry_initial_ms),
     .def = "500", .min = 1, .max = 3600000, .doc = "first retry waits up to this long"},
    {.name = "retry_max_ms", .type = CG_OPT_INT, .offset = OFF(retry_max_ms), .def = "60000",
     .min = 1, .max = 3600000,
     .doc = "longest backoff between retries; also the pace of retries after 401/403/404"},
    {.name = "tls_verify", .type = CG_OPT_BOOL, .offset = OFF(tls_verify), .def = "true",
     .doc = "verify the server certificate and host name (https)"},
    {.name = "ca_file", .type = CG_OPT_STRING, .offset = OFF(ca_file),
     .doc = "PEM file of CA certificates to verify the server with (default: the system store)"},
    {.name = "dead_letter_file", .type = CG_OPT_STRING, .offset = OFF(dead_letter_file),
     .doc = "where rejected lines go (default <state_dir>/deadletter-<name>.lp)"},
    {.name = "dead_letter_max_bytes", .type = CG_OPT_INT, .offset = OFF(dead_letter_max_bytes),
     .def = "104857600", .min = 0, .max = 1099511627776.0,
     .doc = "the dead-letter file stops growing here; further rejected lines are only counted"},
    {.name = "bisect_max_requests", .type = CG_OPT_INT, .offset = OFF(bisect_max_requests),
     .def = "200", .min = 1, .max = 100000,
     .doc = "requests one batch may spend isolating rejected lines; the rest is dead-lettered whole"},
    CG_OPT_END,
};

/* ---- pure helpers ------------------------------------------------------- */

enum cg_influx_action cg_influx_classify(long status)
{
    if (status >= 200 && status <= 299) {
        return CG_INFLUX_OK;
    }
    if (status == 413) {
        return CG_INFLUX_SPLIT;
    }
    if (status == 401 || status == 403 || status == 404 || status == 407) {
        return CG_INFLUX_HOLD;
    }
    if (status == 408 || status == 429) {
        return CG_INFLUX_RETRY;
    }
    if (status >= 400 && status <= 499) {
        return CG_INFLUX_REJECT; /* 400, 422, 406 and every other 4xx: the data is the problem */
    }
    if (status >= 300 && status <= 399) {
        return CG_INFLUX_HOLD; /* redirects are not followed: the url is wrong */
    }
    return CG_INFLUX_RETRY; /* 0 (no answer), 1xx, 5xx, nonsense */
}

const char *cg_influx_action_name(enum cg_influx_action a)
{
    switch (a) {
    case CG_INFLUX_OK:
        return "ok";
    case CG_INFLUX_SPLIT:
        return "split";
    case CG_INFLUX_REJECT:
        return "reject";
    case CG_INFLUX_HOLD:
        return "hold";
    case CG_INFLUX_RETRY:
        return "retry";
    }
    return "?";
}

int cg_influx_parse_retry_after(const char *value, int64_t now_s, int64_t *delay_ms)
{
    if (value == NULL) {
        return -EINVAL;
    }
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r' ||
                     value[n - 1] == '\n')) {
        n--;
    }
    if (n == 0 || n > 64) {
        return -EINVAL;
    }
    char v[65];
    memcpy(v, value, n);
    v[n] = '\0';
    int64_t ms;
    if (isdigit((unsigned char)v[0])) {
        int64_t s = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)v[i])) {
                return -EINVAL;
            }
            if (s < CG_INFLUX_RETRY_AFTER_MAX_MS) { /* saturate, no overflow */
                s = s * 10 + (v[i] - '0');
            }
        }
        ms = s * 1000;
    } else {
        time_t t = curl_getdate(v, NULL);
        if (t == (time_t)-1) {
            return -EINVAL;
        }
        int64_t d = (int64_t)t - now_s;
        ms = d <= 0 ? 0 : (d > CG_INFLUX_RETRY_AFTER_MAX_MS / 1000 ? CG_INFLUX_RETRY_AFTER_MAX_MS : d * 1000);
    }
    if (ms > CG_INFLUX_RETRY_AFTER_MAX_MS) {
        ms = CG_INFLUX_RETRY_AFTER_MAX_MS;
    }
    *delay_ms = ms;
    return 0;
}

int64_t cg_influx_backoff_ms(int64_t initial_ms, int64_t max_ms, unsigned attempt, uint64_t rnd)
{
    if (initial_ms < 1) {
        initial_ms = 1;
    }
    if (max_ms < initial_ms) {
        max_ms = initial_ms;
    }
    int64_t ceil = initial_ms;
    for (unsigned i = 0; i < attempt && ceil < max_ms; i++) {
        ceil = ceil > max_ms / 2 ? max_ms : ceil * 2;
    }
    if (ceil > max_ms) {
        ceil = max_ms;
    }
    uint64_t span = (uint64_t)(ceil - initial_ms) + 1;
    return initial_ms + (int64_t)(rnd % span);
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

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-') {
            return false;
        }
    }
    return s[0] != '.';
}

/* Validates url; on success *base gets a heap copy without a trailing '/'. */
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

static size_t errs_total(const struct cg_errs *e)
{
    return e->n + e->lost;
}

int cg_influx_conf_parse(const cJSON *obj, const char *path, struct cg_influx_conf **out,
                         struct cg_errs *errs)
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

    if (c->name != NULL && !name_ok(c->name)) {
        cg_path_key(p, sizeof(p), path, "name");
        cg_errs_add(errs, p, "must be 1..64 characters of A-Z a-z 0-9 _ . - (not starting with '.'), got '%s'",
                    c->name);
    }
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
    if (c->retry_initial_ms > c->retry_max_ms) {
        cg_path_key(p, sizeof(p), path, "retry_initial_ms");
        cg_errs_add(errs, p, "must not exceed retry_max_ms (%" PRId64 "), got %" PRId64,
                    c->retry_max_ms, c->retry_initial_ms);
    }
    if (c->ca_file != NULL && access(c->ca_file, R_OK) != 0) {
        cg_path_key(p, sizeof(p), path, "ca_file");
        cg_errs_add(errs, p, "cannot read %s: %s", c->ca_file, strerror(errno));
    }
    if (c->dead_letter_file != NULL && c->dead_letter_file[0] == '\0') {
        cg_path_key(p, sizeof(p), path, "dead_letter_file");
        cg_errs_add(errs, p, "must not be empty");
    }
    if (errs_total(errs) != before) {
        goto fail;
    }
    if (build_write_url(c) < 0) {
        cg_errs_add(errs, path, "out of memory");
        rc = -ENOMEM;
        goto fail_rc;
    }
    *out = c;
    return 0;
fail:
    rc = -EINVAL;
fail_rc:
    cg_influx_conf_free(c);
    return rc;
}

void cg_influx_conf_free(struct cg_influx_conf *c)
{
    if (c == NULL) {
        return;
    }
    cg_opt_free(cg_influx_options, c);
    free(c->write_url);
    free(c->base_url);
    free(c);
}

const char *cg_influx_conf_url(const struct cg_influx_conf *c)
{
    return c->base_url ? c->base_url : "";
}

const char *cg_influx_conf_name(const struct cg_influx_conf *c)
{
    return c ? c->name : NULL;
}

/* ---- the output --------------------------------------------------------- */

struct cg_influx {
    const struct cg_influx_conf *conf;
    struct cg_journal *j;
    unsigned reader;
    char who[80];
    char *dl_path;
    int dl_fd;
    uint64_t dl_size;

    CURL *curl;
    struct curl_slist *headers;
    char curl_err[CURL_ERROR_SIZE];

    /* The batch: raw journal lines (ns timestamps). [0, done_off) is already
     * resolved (accepted or dead-lettered) when a retry interrupted it. */
    struct cg_buf batch;
    size_t batch_lines;
    size_t done_off;
    size_t done_lines;
    bool batch_full;
    int64_t batch_first_ms;
    unsigned bisect_used;
    uint64_t batch_rejected; /* lines rejected in this batch, for one log line */
    int reject_status;
    char reject_reason[REASON_MAX + 1];

    struct cg_buf body; /* rescaled lines */
    struct cg_buf gz;   /* compressed body */

    /* last response */
    struct cg_buf resp;
    char hdr_error[REASON_MAX + 1];
    char hdr_retry_after[80];
    long status;
    char reason[REASON_MAX + 1];

    unsigned attempt;
    int64_t retry_delay_ms;
    uint64_t rng;

    struct cg_complain c_fail;
    struct cg_complain c_reject;
    struct cg_complain c_dl;

    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* st, and the cv for backoff sleeps */
    pthread_cond_t cv;
    atomic_bool stop;
    _Atomic int64_t stop_deadline_ms;
    struct cg_influx_stats st;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t next_rand(struct cg_influx *o)
{
    /* xorshift64*: jitter only, not security */
    uint64_t x = o->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    o->rng = x;
    return x * 2685821657736338717ULL;
}

static bool hard_stopped(struct cg_influx *o)
{
    return atomic_load(&o->stop) && mono_ms() >= atomic_load(&o->stop_deadline_ms);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct cg_influx *o = ud;
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
    struct cg_influx *o = ud;
    size_t n = size * nitems;
    static const char *const err_names[] = {"X-Influx-Error:", "X-InfluxDB-Error:"};
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* a new response (after a 1xx): forget the previous one's headers */
        o->hdr_error[0] = '\0';
        o->hdr_retry_after[0] = '\0';
        return n;
    }
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(err_names[i]);
        if (n > k && strncasecmp(buf, err_names[i], k) == 0) {
            copy_header_value(o->hdr_error, sizeof(o->hdr_error), buf + k, n - k);
        }
    }
    if (n > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        copy_header_value(o->hdr_retry_after, sizeof(o->hdr_retry_after), buf + 12, n - 12);
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    return hard_stopped(ud) ? 1 : 0;
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
static void set_reason(struct cg_influx *o)
{
    o->reason[0] = '\0';
    cJSON *js = o->resp.len > 0 ? cJSON_ParseWithLength(o->resp.data, o->resp.len) : NULL;
    const cJSON *m = js ? cJSON_GetObjectItemCaseSensitive(js, "error") : NULL;
    if (!cJSON_IsString(m)) {
        m = js ? cJSON_GetObjectItemCaseSensitive(js, "message") : NULL;
    }
    if (cJSON_IsString(m)) {
        snprintf(o->reason, sizeof(o->reason), "%s", m->valuestring);
    } else if (o->hdr_error[0] != '\0') {
        snprintf(o->reason, sizeof(o->reason), "%s", o->hdr_error);
    } else if (o->resp.len > 0) {
        snprintf(o->reason, sizeof(o->reason), "%.*s", (int)o->resp.len, o->resp.data);
    }
    cJSON_Delete(js);
    sanitize(o->reason);
    size_t n = strlen(o->reason);
    while (n > 0 && o->reason[n - 1] == ' ') {
        o->reason[--n] = '\0';
    }
    if (n == 0) {
        snprintf(o->reason, sizeof(o->reason), "%s", status_text(o->status));
    }
}

static void set_last(struct cg_influx *o, int status, const char *err, bool ok)
{
    pthread_mutex_lock(&o->lock);
    o->st.last_status = status;
    o->st.up = ok;
    if (ok) {
        o->st.last_ok_ns = wall_ns();
    } else {
        snprintf(o->st.last_error, sizeof(o->st.last_error), "%s", err);
    }
    pthread_mutex_unlock(&o->lock);
}

/* One POST of p[0..len). 0 with o->status set (0 = transport error, o->reason
 * says why), or -ECANCELED when stopped at the deadline. */
static int post(struct cg_influx *o, const char *p, size_t len)
{
    const struct cg_influx_conf *c = o->conf;
    const char *body = p;
    size_t blen = len;
    int rc;
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
    o->hdr_retry_after[0] = '\0';
    o->curl_err[0] = '\0';
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    CURLcode cc = curl_easy_perform(o->curl);
    pthread_mutex_lock(&o->lock);
    o->st.requests++;
    pthread_mutex_unlock(&o->lock);
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        return -ECANCELED;
    }
    if (cc != CURLE_OK) {
        o->status = 0;
        snprintf(o->reason, sizeof(o->reason), "%s",
                 o->curl_err[0] ? o->curl_err : curl_easy_strerror(cc));
        sanitize(o->reason);
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
    o->status = status;
    if (status >= 200 && status <= 299) {
        o->reason[0] = '\0';
        pthread_mutex_lock(&o->lock);
        o->st.bytes_sent += blen;
        pthread_mutex_unlock(&o->lock);
    } else {
        set_reason(o);
    }
    return 0;
local_fail:
    /* Out of memory building the body: nothing was sent; try again later. */
    o->status = 0;
    snprintf(o->reason, sizeof(o->reason), "cannot build request body: %s", strerror(-rc));
    return 0;
}

static int open_dead_letter(struct cg_influx *o)
{
    if (o->dl_fd >= 0) {
        return 0;
    }
    int fd = open(o->dl_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        return -errno;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0) {
        o->dl_size = (uint64_t)sb.st_size;
    }
    o->dl_fd = fd;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes every line of p[0..len) to the dead-letter file with status and reason. */
static void dead_letter(struct cg_influx *o, const char *p, size_t len, size_t nlines, int status,
                        const char *reason)
{
    char ts[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char hdr[REASON_MAX + 200];
    int hl = snprintf(hdr, sizeof(hdr), "# %s output=%s status=%d reason=%s\n", ts, o->conf->name,
                      status, reason);
    if (hl < 0 || (size_t)hl >= sizeof(hdr)) {
        hl = (int)sizeof(hdr) - 1;
        hdr[hl - 1] = '\n';
    }
    uint64_t written = 0, dropped = 0;
    const char *end = p + len;
    struct cg_buf entry;
    cg_buf_init(&entry, BATCH_HARD_MAX);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        uint64_t need = (uint64_t)hl + l + 1;
        /* Opened (and its size taken) before the cap is checked: a file left by
         * an earlier run counts against the cap from the first line. */
        int orc = o->conf->dead_letter_max_bytes > 0 ? open_dead_letter(o) : 0;
        if (orc == 0 && o->dl_size + need > (uint64_t)o->conf->dead_letter_max_bytes) {
            dropped++;
            if (o->conf->dead_letter_max_bytes == 0) {
                cg_complain(&o->c_dl, CG_LOG_WARN, o->who,
                            "dead-letter file disabled (dead_letter_max_bytes 0): rejected lines are only counted");
            } else {
                cg_complain(&o->c_dl, CG_LOG_ERROR, o->who,
                            "dead-letter file %s is full (dead_letter_max_bytes %" PRId64
                            "): rejected lines are only counted now",
                            o->dl_path, o->conf->dead_letter_max_bytes);
            }
        } else {
            int rc = orc;
            cg_buf_reset(&entry);
            if (rc == 0) {
                rc = cg_buf_append(&entry, hdr, (size_t)hl);
            }
            if (rc == 0) {
                rc = cg_buf_append(&entry, p, l);
            }
            if (rc == 0) {
                rc = cg_buf_putc(&entry, '\n');
            }
            if (rc == 0) {
                rc = write_all(o->dl_fd, entry.data, entry.len);
            }
            if (rc < 0) {
                dropped++;
                cg_complain(&o->c_dl, CG_LOG_ERROR, o->who,
                            "cannot write dead-letter file %s: %s; rejected lines are only counted",
                            o->dl_path, strerror(-rc));
            } else {
                o->dl_size += entry.len;
                written++;
            }
        }
        p = nl ? nl + 1 : end;
    }
    cg_buf_done(&entry);
    (void)nlines;
    pthread_mutex_lock(&o->lock);
    o->st.lines_dead_lettered += written;
    o->st.lines_dropped += dropped;
    o->st.dead_letter_bytes = o->dl_size;
    pthread_mutex_unlock(&o->lock);
    o->batch_rejected += written + dropped;
    if (o->reject_status == 0) {
        o->reject_status = status;
        snprintf(o->reject_reason, sizeof(o->reject_reason), "%s", reason);
    }
}

/* Offset just past the k-th newline of p[0..len) (k >= 1). */
static size_t line_split(const char *p, size_t len, size_t k)
{
    size_t off = 0;
    while (k > 0 && off < len) {
        const char *nl = memchr(p + off, '\n', len - off);
        if (nl == NULL) {
            return len;
        }
        off = (size_t)(nl - p) + 1;
        k--;
    }
    return off;
}

static void resolved(struct cg_influx *o, size_t end, size_t nlines)
{
    o->done_off = end;
    o->done_lines += nlines;
}

/* Resolves batch[off, end) holding nlines lines, in order, so that what is
 * resolved is always a prefix of the batch. 0: all accepted or dead-lettered;
 * -EAGAIN: retry later (o->status / o->reason say why); -ECANCELED: stopped. */
static int deliver_range(struct cg_influx *o, size_t off, size_t end, size_t nlines, bool bisecting)
{
    const char *p = o->batch.data + off;
    size_t len = end - off;
    if (bisecting && o->bisect_used >= (unsigned)o->conf->bisect_max_requests) {
        char why[REASON_MAX + 1];
        snprintf(why, sizeof(why), "not isolated (bisect_max_requests reached); batch: %.240s",
                 o->reject_reason);
        dead_letter(o, p, len, nlines, o->reject_status, why);
        resolved(o, end, nlines);
        return 0;
    }
    if (bisecting) {
        o->bisect_used++;
        pthread_mutex_lock(&o->lock);
        o->st.bisect_requests++;
        pthread_mutex_unlock(&o->lock);
    }
    int rc = post(o, p, len);
    if (rc < 0) {
        return rc;
    }
    enum cg_influx_action a = cg_influx_classify(o->status);
    if (a == CG_INFLUX_OK) {
        set_last(o, (int)o->status, "", true);
        pthread_mutex_lock(&o->lock);
        o->st.lines_sent += nlines;
        pthread_mutex_unlock(&o->lock);
        resolved(o, end, nlines);
        return 0;
    }
    char err[256];
    snprintf(err, sizeof(err), "HTTP %ld: %.230s", o->status, o->reason);
    set_last(o, (int)o->status, o->status ? err : o->reason, false);
    if (a == CG_INFLUX_SPLIT || a == CG_INFLUX_REJECT) {
        if (nlines <= 1) {
            char why[REASON_MAX + 1];
            if (a == CG_INFLUX_SPLIT) {
                snprintf(why, sizeof(why), "line too large for the server (%.260s)", o->reason);
            } else {
                snprintf(why, sizeof(why), "%s", o->reason);
            }
            dead_letter(o, p, len, 1, (int)o->status, why);
            resolved(o, end, nlines);
            return 0;
        }
        if (a == CG_INFLUX_SPLIT) {
            pthread_mutex_lock(&o->lock);
            o->st.splits++;
            pthread_mutex_unlock(&o->lock);
        } else if (!bisecting) {
            o->reject_status = (int)o->status;
            snprintf(o->reject_reason, sizeof(o->reject_reason), "%s", o->reason);
        }
        size_t half = nlines / 2;
        size_t mid = off + line_split(p, len, half);
        rc = deliver_range(o, off, mid, half, bisecting || a == CG_INFLUX_REJECT);
        if (rc < 0) {
            return rc;
        }
        return deliver_range(o, mid, end, nlines - half, bisecting || a == CG_INFLUX_REJECT);
    }
    return -EAGAIN; /* HOLD or RETRY: the caller backs off */
}

static void log_failure(struct cg_influx *o, enum cg_influx_action a, size_t pending)
{
    const struct cg_influx_conf *c = o->conf;
    if (a == CG_INFLUX_HOLD) {
        const char *hint = "";
        if (o->status == 401 || o->status == 403 || o->status == 407) {
            hint = c->type == TYPE_V1 ? " (check username/password)" : " (check token)";
        } else if (o->status == 404) {
            hint = c->type == TYPE_V1 ? " (does the database exist?)" : " (do the org and bucket exist?)";
        } else {
            hint = " (redirects are not followed: check url)";
        }
        cg_complain(&o->c_fail, CG_LOG_ERROR, o->who,
                    "%s refused the write: HTTP %ld %s%s; keeping %zu lines, retrying every %" PRId64
                    " ms",
                    c->base_url, o->status, o->reason, hint, pending, o->retry_delay_ms);
    } else if (o->status == 0) {
        cg_complain(&o->c_fail, CG_LOG_WARN, o->who,
                    "cannot write to %s: %s; keeping %zu lines, retrying in %" PRId64 " ms",
                    c->base_url, o->reason, pending, o->retry_delay_ms);
    } else {
        cg_complain(&o->c_fail, CG_LOG_WARN, o->who,
                    "%s answered HTTP %ld %s; keeping %zu lines, retrying in %" PRId64 " ms",
                    c->base_url, o->status, o->reason, pending, o->retry_delay_ms);
    }
}

static void plan_retry(struct cg_influx *o, enum cg_influx_action a)
{
    const struct cg_influx_conf *c = o->conf;
    int64_t d;
    if (a == CG_INFLUX_HOLD) {
        d = c->retry_max_ms;
    } else {
        d = cg_influx_backoff_ms(c->retry_initial_ms, c->retry_max_ms, o->attempt, next_rand(o));
    }
    int64_t ra;
    if (o->hdr_retry_after[0] != '\0' &&
        cg_influx_parse_retry_after(o->hdr_retry_after, (int64_t)time(NULL), &ra) == 0) {
        d = ra > c->retry_initial_ms ? ra : c->retry_initial_ms;
    }
    if (o->attempt < 64) {
        o->attempt++;
    }
    o->retry_delay_ms = d;
}

/* Sleeps until mono deadline `until` or a stop whose deadline is sooner. */
static void sleep_until(struct cg_influx *o, int64_t until)
{
    pthread_mutex_lock(&o->lock);
    for (;;) {
        int64_t now = mono_ms();
        int64_t end = until;
        if (atomic_load(&o->stop)) {
            int64_t sd = atomic_load(&o->stop_deadline_ms);
            if (sd < end) {
                end = sd;
            }
        }
        if (now >= end) {
            break;
        }
        int64_t ms = end - now;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&o->cv, &o->lock, &ts);
    }
    pthread_mutex_unlock(&o->lock);
}

/* Tops the batch up from the journal (never past batch_lines / batch_bytes,
 * except that a single over-long line forms a batch of its own). */
static void fill(struct cg_influx *o)
{
    const struct cg_influx_conf *c = o->conf;
    size_t max_lines = (size_t)c->batch_lines;
    size_t max_bytes = (size_t)c->batch_bytes;
    if (o->batch_lines >= max_lines || (o->batch_lines > 0 && o->batch.len >= max_bytes)) {
        o->batch_full = true;
        return;
    }
    size_t before_lines = o->batch_lines;
    long unread = cg_journal_wait(o->j, o->reader, SIZE_MAX, 0);
    size_t room_bytes = o->batch_lines > 0 ? max_bytes - o->batch.len : max_bytes;
    /* With lines in the batch, a line that does not fit must stay in the
     * journal: capping the buffer makes the journal stop before it. */
    if (o->batch_lines > 0) {
        o->batch.max = max_bytes;
    }
    long n = cg_journal_read(o->j, o->reader, &o->batch, max_lines - o->batch_lines, room_bytes);
    o->batch.max = BATCH_HARD_MAX;
    if (n <= 0) {
        return;
    }
    o->batch_lines += (size_t)n;
    if (before_lines > 0 && o->batch.len > max_bytes) {
        /* The journal handed over one line past the cap anyway (it may always
         * take one line): put everything back and re-read exactly the lines
         * that fit, which one read from an empty batch does. */
        size_t keep = o->batch_lines - 1;
        cg_journal_rewind(o->j, o->reader);
        cg_buf_reset(&o->batch);
        long m = cg_journal_read(o->j, o->reader, &o->batch, keep, SIZE_MAX);
        o->batch_lines = m > 0 ? (size_t)m : 0;
        o->batch_full = true;
        return;
    }
    if (o->batch_lines >= max_lines || o->batch.len >= max_bytes) {
        o->batch_full = true;
        return;
    }
    size_t wanted = max_lines - before_lines;
    if (unread > 0 && (size_t)unread < wanted) {
        wanted = (size_t)unread;
    }
    if (unread > 0 && (size_t)n < wanted) {
        o->batch_full = true; /* the byte cap stopped the read */
    }
}

static void batch_reset(struct cg_influx *o)
{
    cg_buf_reset(&o->batch);
    o->batch_lines = 0;
    o->done_off = 0;
    o->done_lines = 0;
    o->batch_full = false;
    o->bisect_used = 0;
    o->batch_rejected = 0;
    o->reject_status = 0;
    o->reject_reason[0] = '\0';
    if (o->batch.cap > 2 * (size_t)o->conf->batch_bytes + 65536) {
        /* one huge line grew the buffer: give the memory back */
        cg_buf_done(&o->batch);
        cg_buf_init(&o->batch, BATCH_HARD_MAX);
    }
}

static void *run(void *arg)
{
    struct cg_influx *o = arg;
    const struct cg_influx_conf *c = o->conf;
    for (;;) {
        bool stopping = atomic_load(&o->stop);
        if (stopping && mono_ms() >= atomic_load(&o->stop_deadline_ms)) {
            break;
        }
        if (o->batch_lines == 0) {
            long n = cg_journal_wait(o->j, o->reader, 1, stopping ? 0 : POLL_MS);
            if (n == -ESHUTDOWN && !stopping) {
                sleep_until(o, mono_ms() + POLL_MS); /* nothing will come; wait for stop */
                continue;
            }
            if (n <= 0) {
                if (stopping) {
                    break; /* drained */
                }
                continue;
            }
            o->batch_first_ms = mono_ms();
            fill(o);
            continue;
        }
        if (!o->batch_full && !stopping) {
            int64_t left = o->batch_first_ms + c->flush_interval_ms - mono_ms();
            if (left > 0) {
                size_t room = (size_t)c->batch_lines - o->batch_lines;
                long w = cg_journal_wait(o->j, o->reader, room, left < POLL_MS ? (int)left : POLL_MS);
                if (w == -ESHUTDOWN) {
                    o->batch_full = true; /* nothing more will come: send now */
                }
                fill(o);
                continue;
            }
        }
        if (!o->batch_full) {
            fill(o); /* take what arrived meanwhile, up to the caps */
        }
        int rc = deliver_range(o, o->done_off, o->batch.len, o->batch_lines - o->done_lines, false);
        if (rc == -ECANCELED) {
            break;
        }
        if (rc == 0) {
            cg_journal_commit(o->j, o->reader);
            if (o->batch_rejected > 0) {
                cg_complain(&o->c_reject, CG_LOG_WARN, o->who,
                            "%" PRIu64 " of %zu lines rejected by %s (HTTP %d: %s); written to %s",
                            o->batch_rejected, o->batch_lines, c->base_url, o->reject_status,
                            o->reject_reason, o->dl_path);
            }
            pthread_mutex_lock(&o->lock);
            if (o->batch_rejected < o->batch_lines) {
                o->st.batches_sent++;
            }
            o->st.retry_at_ns = 0;
            pthread_mutex_unlock(&o->lock);
            if (o->attempt > 0) {
                cg_complain_clear(&o->c_fail, o->who, "writes");
            }
            o->attempt = 0;
            batch_reset(o);
            continue;
        }
        /* -EAGAIN: back off, keep the batch (the resolved prefix stays resolved) */
        enum cg_influx_action a = o->status == 0 ? CG_INFLUX_RETRY : cg_influx_classify(o->status);
        plan_retry(o, a);
        log_failure(o, a, o->batch_lines - o->done_lines);
        pthread_mutex_lock(&o->lock);
        o->st.retries++;
        o->st.retry_at_ns = wall_ns() + o->retry_delay_ms * 1000000;
        pthread_mutex_unlock(&o->lock);
        sleep_until(o, mono_ms() + o->retry_delay_ms);
        o->batch_full = false;
        fill(o);
        o->batch_full = true;
    }
    /* Whatever was read but not delivered goes back to the journal. */
    cg_journal_rewind(o->j, o->reader);
    batch_reset(o);
    return NULL;
}

struct cg_influx *cg_influx_new(const struct cg_influx_conf *conf, struct cg_journal *j,
                                unsigned reader, const char *state_dir)
{
    const struct cg_influx_conf *c = conf;
    struct cg_influx *o = NULL;
    char *hdr = NULL;
    if (conf == NULL || j == NULL || reader >= CG_JOURNAL_MAX_READERS) {
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        return NULL;
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return NULL;
    }
    o->conf = conf;
    o->j = j;
    o->reader = reader;
    o->dl_fd = -1;
    pthread_mutex_init(&o->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&o->stop, false);
    atomic_init(&o->stop_deadline_ms, INT64_MAX);
    cg_buf_init(&o->batch, BATCH_HARD_MAX);
    cg_buf_init(&o->body, BATCH_HARD_MAX);
    cg_buf_init(&o->gz, BATCH_HARD_MAX);
    cg_buf_init(&o->resp, RESP_MAX);
    snprintf(o->who, sizeof(o->who), "output.%s", c->name);
    o->rng = (uint64_t)wall_ns() ^ ((uint64_t)(uintptr_t)o << 17) ^ 0x9e3779b97f4a7c15ULL;
    if (o->rng == 0) {
        o->rng = 1;
    }

    if (c->dead_letter_file != NULL) {
        o->dl_path = strdup(c->dead_letter_file);
    } else if (asprintf(&o->dl_path, "%s/deadletter-%s.lp", state_dir ? state_dir : ".", c->name) < 0) {
        o->dl_path = NULL;
    }
    if (o->dl_path == NULL) {
        goto fail;
    }

    o->curl = curl_easy_init();
    if (o->curl == NULL) {
        goto fail;
    }
    static const char *const fixed[] = {"Content-Type: text/plain; charset=utf-8",
                                        "Expect:", /* no 100-continue round trip */
                                        NULL};
    for (size_t i = 0; fixed[i] != NULL; i++) {
        struct curl_slist *l = curl_slist_append(o->headers, fixed[i]);
        if (l == NULL) {
            goto fail;
        }
        o->headers = l;
    }
    if (c->gzip) {
        struct curl_slist *l = curl_slist_append(o->headers, "Content-Encoding: gzip");
        if (l == NULL) {
            goto fail;
        }
        o->headers = l;
    }
    if (c->type == TYPE_V2 && c->token != NULL && c->token[0] != '\0') {
        if (asprintf(&hdr, "Authorization: Token %s", c->token) < 0) {
            hdr = NULL;
            goto fail;
        }
        struct curl_slist *l = curl_slist_append(o->headers, hdr);
        explicit_bzero(hdr, strlen(hdr));
        free(hdr);
        hdr = NULL;
        if (l == NULL) {
            goto fail;
        }
        o->headers = l;
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
    return o;
fail:
    cg_influx_free(o);
    return NULL;
}

int cg_influx_start(struct cg_influx *o)
{
    if (o == NULL || o->started) {
        return -EINVAL;
    }
    atomic_store(&o->stop, false);
    atomic_store(&o->stop_deadline_ms, INT64_MAX);
    int rc = pthread_create(&o->thread, NULL, run, o);
    if (rc != 0) {
        return -rc;
    }
    o->started = true;
    return 0;
}

void cg_influx_stop(struct cg_influx *o, int drain_ms)
{
    if (o == NULL || !o->started) {
        return;
    }
    atomic_store(&o->stop_deadline_ms, mono_ms() + (drain_ms > 0 ? drain_ms : 0));
    pthread_mutex_lock(&o->lock);
    atomic_store(&o->stop, true);
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL);
    o->started = false;
}

void cg_influx_free(struct cg_influx *o)
{
    if (o == NULL) {
        return;
    }
    cg_influx_stop(o, 0);
    if (o->curl != NULL) {
        curl_easy_cleanup(o->curl);
    }
    for (struct curl_slist *l = o->headers; l != NULL; l = l->next) {
        explicit_bzero(l->data, strlen(l->data)); /* one of them holds the token */
    }
    curl_slist_free_all(o->headers);
    if (o->dl_fd >= 0) {
        close(o->dl_fd);
    }
    cg_buf_done(&o->batch);
    cg_buf_done(&o->body);
    cg_buf_done(&o->gz);
    cg_buf_done(&o->resp);
    free(o->dl_path);
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

void cg_influx_get_stats(struct cg_influx *o, struct cg_influx_stats *st)
{
    pthread_mutex_lock(&o->lock);
    *st = o->st;
    pthread_mutex_unlock(&o->lock);
    struct cg_journal_reader_stats rs;
    cg_journal_reader_stats(o->j, o->reader, &rs);
    st->journal_unread_lines = rs.unread_lines;
    st->journal_dropped_lines = rs.dropped_lines;
}
