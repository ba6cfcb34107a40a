/* Encoder round trip against a real influxd: encode tricky points, POST them to
 * /write, then read back (SHOW SERIES gives series keys in line-protocol form,
 * SELECT gives the values) and compare exactly. usage: lp_roundtrip URL DB */
#include "lineproto.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000000000000LL

static const struct cg_tag tags_a[] = {{"k ey,=", "v a,l=ue"}, {"district", "Юнусабад"}, {"empty", ""}};
static const struct cg_tag tags_b[] = {{"sensor", "a\\b"}, {"q", "\"quoted\""}, {"eq", "x=y"}};
static const struct cg_field fields_a[] = {CG_FIELD_F("pm 2,5", 12.5), CG_FIELD_F("tiny", 2.5e-7),
                                            CG_FIELD_F("big", 1.7976931348623157e308), CG_FIELD_I("count", -42),
                                            CG_FIELD_B("ok", true), CG_FIELD_S("note", "a \"q\" \\ b, c=d")};
static const struct cg_field fields_b[] = {CG_FIELD_F("third", 1.0 / 3.0), CG_FIELD_U("u", 4000000000ULL),
                                            CG_FIELD_S("utf8", "Ташкент ☀"), CG_FIELD_B("no", false)};
static const struct cg_field fields_c[] = {CG_FIELD_F("v", -0.1), CG_FIELD_I("i", 9007199254740991LL)};

static const struct cg_point points[] = {
    {"air quality,x=y", tags_a, 3, fields_a, 6, T0 + 1},
    {"traffic\"flow", tags_b, 3, fields_b, 4, T0 + 2},
    {"energy", NULL, 0, fields_c, 2, T0 + 3},
};
#define NPTS (sizeof(points) / sizeof(points[0]))

struct resp {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    char *d = realloc(r->data, r->len + sz * n + 1);
    if (d == NULL) {
        return 0;
    }
    memcpy(d + r->len, p, sz * n);
    r->data = d;
    r->len += sz * n;
    r->data[r->len] = '\0';
    return sz * n;
}

static long http(const char *url, const char *body, struct resp *out)
{
    CURL *c = curl_easy_init();
    long code = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    }
    curl_easy_cleanup(c);
    return code;
}

static cJSON *query(const char *base, const char *db, const char *q)
{
    CURL *c = curl_easy_init();
    char *eq = curl_easy_escape(c, q, 0);
    char url[4096];
    snprintf(url, sizeof(url), "%s/query?db=%s&epoch=ns&q=%s", base, db, eq);
    curl_free(eq);
    curl_easy_cleanup(c);
    struct resp r = {0};
    long code = http(url, NULL, &r);
    cJSON *j = code == 200 ? cJSON_Parse(r.data) : NULL;
    if (j == NULL) {
        fprintf(stderr, "query %s: HTTP %ld %s\n", q, code, r.data ? r.data : "");
    }
    free(r.data);
    return j;
}

/* The series key of an encoded line: everything before the first unescaped space. */
static size_t key_len(const char *line)
{
    for (size_t i = 0; line[i]; i++) {
        if (line[i] == '\\' && line[i + 1]) {
            i++;
        } else if (line[i] == ' ') {
            return i;
        }
    }
    return strlen(line);
}

static int check_value(const struct cg_field *f, const cJSON *v)
{
    switch (f->type) {
    case CG_FIELD_FLOAT:
        return cJSON_IsNumber(v) && v->valuedouble == f->v.f;
    case CG_FIELD_INT:
        return cJSON_IsNumber(v) && v->valuedouble == (double)f->v.i;
    case CG_FIELD_UINT:
        return cJSON_IsNumber(v) && v->valuedouble == (double)f->v.u;
    case CG_FIELD_BOOL:
        return cJSON_IsBool(v) && cJSON_IsTrue(v) == f->v.b;
    case CG_FIELD_STRING:
        return cJSON_IsString(v) && strcmp(v->valuestring, f->v.s) == 0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: lp_roundtrip URL DB\n");
        return 2;
    }
    const char *base = argv[1], *db = argv[2];
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    size_t starts[NPTS];
    for (size_t i = 0; i < NPTS; i++) {
        starts[i] = b.len;
        const char *why = NULL;
        if (cg_lp_encode(&b, &points[i], NULL, NULL, &why) != 0) {
            fprintf(stderr, "encode %zu: %s\n", i, why);
            return 1;
        }
    }
    printf("%s", b.data);
    char url[1024];
    snprintf(url, sizeof(url), "%s/write?db=%s&precision=ns", base, db);
    struct resp r = {0};
    long code = http(url, b.data, &r);
    if (code != 204) {
        fprintf(stderr, "write: HTTP %ld %s\n", code, r.data ? r.data : "");
        return 1;
    }
    free(r.data);

    int failures = 0;
    /* 1. series keys, byte for byte */
    cJSON *j = query(base, db, "SHOW SERIES");
    const cJSON *vals = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(
                                                cJSON_GetObjectItem(j, "results"), 0), "series"), 0), "values");
    for (size_t i = 0; i < NPTS; i++) {
        const char *line = b.data + starts[i];
        size_t kl = key_len(line);
        int found = 0;
        for (const cJSON *row = vals ? vals->child : NULL; row; row = row->next) {
            const cJSON *k = cJSON_GetArrayItem(row, 0);
            if (cJSON_IsString(k) && strlen(k->valuestring) == kl && memcmp(k->valuestring, line, kl) == 0) {
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "series key %.*s not found in SHOW SERIES\n", (int)kl, line);
            failures++;
        }
    }
    if (cJSON_GetArraySize(vals) != (int)NPTS) {
        fprintf(stderr, "SHOW SERIES: %d series, want %zu\n", cJSON_GetArraySize(vals), NPTS);
        failures++;
    }
    cJSON_Delete(j);

    /* 2. every field value and the timestamp */
    for (size_t i = 0; i < NPTS; i++) {
        char q[1024], m[512];
        size_t ml = 0;
        for (const char *p = points[i].measurement; *p && ml < sizeof(m) - 2; p++) {
            if (*p == '"' || *p == '\\') {
                m[ml++] = '\\';
            }
            m[ml++] = *p;
        }
        m[ml] = '\0';
        snprintf(q, sizeof(q), "SELECT * FROM \"%s\"", m);
        j = query(base, db, q);
        const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0), "series"), 0);
        const cJSON *cols = cJSON_GetObjectItem(s, "columns");
        const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "values"), 0);
        if (row == NULL) {
            fprintf(stderr, "%s: no rows\n", points[i].measurement);
            failures++;
            cJSON_Delete(j);
            continue;
        }
        const cJSON *t = cJSON_GetArrayItem(row, 0);
        if (!cJSON_IsNumber(t) || (long long)t->valuedouble != (long long)(double)points[i].time_ns) {
            fprintf(stderr, "%s: wrong time\n", points[i].measurement);
            failures++;
        }
        for (size_t f = 0; f < points[i].n_fields; f++) {
            const struct cg_field *fd = &points[i].fields[f];
            int idx = -1, c = 0;
            for (const cJSON *col = cols->child; col; col = col->next, c++) {
                if (strcmp(col->valuestring, fd->key) == 0) {
                    idx = c;
                }
            }
            const cJSON *v = idx >= 0 ? cJSON_GetArrayItem(row, idx) : NULL;
            if (v == NULL || !check_value(fd, v)) {
                char *txt = v ? cJSON_PrintUnformatted(v) : NULL;
                fprintf(stderr, "%s.%s: value mismatch (got %s)\n", points[i].measurement, fd->key, txt ? txt : "nothing");
                free(txt);
                failures++;
            }
        }
        cJSON_Delete(j);
    }
    cg_buf_done(&b);
    if (failures) {
        fprintf(stderr, "%d mismatches\n", failures);
        return 1;
    }
    printf("round trip: %zu points, all series keys and values identical\n", NPTS);
    return 0;
}
