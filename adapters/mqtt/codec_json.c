/* citygate — JSON payloads with a field mapping. Pure: bytes in, points out.
 *
 * A document holds one reading (an object), an array of readings, or an
 * object with an array of readings at conf->records. Each reading becomes one
 * point: mapped fields and tags are looked up by dot path (relative to the
 * reading, or "$."-prefixed from the root), the timestamp from time_path.
 * Without a field mapping every scalar member is a field, nested objects
 * flattened with '_' ("pm": {"p25": 3} -> pm_p25). */
#include <citygate/codec.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct cg_jval *resolve(const struct cg_jval *root, const struct cg_jval *rec,
                                     const char *path)
{
    if (path[0] == '$') {
        if (path[1] == '\0') {
            return root;
        }
        if (path[1] == '.') {
            return cg_jdom_path(root, path + 2);
        }
    }
    return cg_jdom_path(rec, path);
}

static bool nonfinite_word(const char *s, size_t len)
{
    while (len > 0 && (*s == '+' || *s == '-')) {
        s++;
        len--;
    }
    return (len == 3 && strncasecmp(s, "nan", 3) == 0) || (len == 3 && strncasecmp(s, "inf", 3) == 0) ||
           (len == 8 && strncasecmp(s, "infinity", 8) == 0);
}

/* A string holding a number ("21.5") as a NUMBER value. */
static int string_number(struct cg_arena *a, const struct cg_jval *v, struct cg_jval *num)
{
    size_t a0 = 0, b = v->len;
    while (a0 < b && (v->str[a0] == ' ' || v->str[a0] == '\t')) {
        a0++;
    }
    while (b > a0 && (v->str[b - 1] == ' ' || v->str[b - 1] == '\t')) {
        b--;
    }
    if (nonfinite_word(v->str + a0, b - a0)) {
        return -EDOM;
    }
    if (!cg_number_syntax_ok(v->str + a0, b - a0)) {
        return -EINVAL;
    }
    char *buf = cg_arena_strndup(a, v->str + a0, b - a0);
    if (buf == NULL) {
        return -EMSGSIZE;
    }
    *num = (struct cg_jval){.type = CG_J_NUMBER, .str = buf + (buf[0] == '+'),
                            .len = b - a0 - (buf[0] == '+'), .num = strtod(buf, NULL)};
    return 0;
}

static int add_value(struct cg_batch *out, const char *key, size_t klen, const struct cg_jval *v,
                     enum cg_value_type type, const char **why)
{
    struct cg_jval tmp;
    int rc;
    if (v->type == CG_J_OBJECT || v->type == CG_J_ARRAY) {
        *why = "field value is an object or array";
        return -EINVAL;
    }
    if (v->type == CG_J_NULL) {
        return 0;
    }
    switch (type) {
    case CG_VT_AUTO:
        if (v->type == CG_J_NUMBER) {
            if (!isfinite(v->num)) {
                *why = "number overflows to infinity";
                return -EDOM;
            }
            return cg_batch_field_f(out, key, klen, v->num);
        }
        if (v->type == CG_J_STRING) {
            return cg_batch_field_s(out, key, klen, v->str, v->len);
        }
        return cg_batch_field_b(out, key, klen, v->type == CG_J_TRUE);
    case CG_VT_FLOAT:
    case CG_VT_INT:
    case CG_VT_UINT:
        if (v->type == CG_J_STRING) {
            rc = string_number(&out->arena, v, &tmp);
            if (rc < 0) {
                *why = rc == -EDOM ? "NaN or infinite value" : "field value is not a number";
                return rc;
            }
            v = &tmp;
        }
        if (v->type != CG_J_NUMBER) {
            *why = "field value is not a number";
            return -EINVAL;
        }
        if (type == CG_VT_FLOAT) {
            if (!isfinite(v->num)) {
                *why = "NaN or infinite value";
                return -EDOM;
            }
            return cg_batch_field_f(out, key, klen, v->num);
        }
        if (type == CG_VT_INT) {
            int64_t i;
            if (cg_jdom_int64(v, &i) < 0) {
                *why = "field value is not an integer in range";
                return -ERANGE;
            }
            return cg_batch_field_i(out, key, klen, i);
        } else {
            uint64_t u;
            if (cg_jdom_uint64(v, &u) < 0) {
                *why = "field value is not an unsigned integer in range";
                return -ERANGE;
            }
            return cg_batch_field_u(out, key, klen, u);
        }
    case CG_VT_BOOL:
        if (v->type == CG_J_TRUE || v->type == CG_J_FALSE) {
            return cg_batch_field_b(out, key, klen, v->type == CG_J_TRUE);
        }
        if (v->type == CG_J_NUMBER && (v->num == 0 || v->num == 1)) {
            return cg_batch_field_b(out, key, klen, v->num == 1);
        }
        if (v->type == CG_J_STRING && (strcmp(v->str, "true") == 0 || strcmp(v->str, "false") == 0)) {
            return cg_batch_field_b(out, key, klen, v->str[0] == 't');
        }
        *why = "field value is not a boolean";
        return -EINVAL;
    case CG_VT_STRING:
        if (v->type == CG_J_TRUE || v->type == CG_J_FALSE) {
            const char *s = v->type == CG_J_TRUE ? "true" : "false";
            return cg_batch_field_s(out, key, klen, s, strlen(s));
        }
        return cg_batch_field_s(out, key, klen, v->str, v->len);
    }
    return -EINVAL;
}

static int add_tag(struct cg_batch *out, const char *key, const struct cg_jval *v, const char **why)
{
    switch (v->type) {
    case CG_J_STRING:
    case CG_J_NUMBER:
        return cg_batch_tag(out, key, strlen(key), v->str, v->len);
    case CG_J_TRUE:
        return cg_batch_tag(out, key, strlen(key), "true", 4);
    case CG_J_FALSE:
        return cg_batch_tag(out, key, strlen(key), "false", 5);
    case CG_J_NULL:
        return 0;
    default:
        *why = "tag value is an object or array";
        return -EINVAL;
    }
}

static bool is_mapped(const struct cg_codec_json_conf *conf, const char *key, size_t klen)
{
    if (conf->time_path != NULL && strlen(conf->time_path) == klen &&
        memcmp(conf->time_path, key, klen) == 0) {
        return true;
    }
    for (size_t i = 0; i < conf->n_tags; i++) {
        if (strlen(conf->tags[i].path) == klen && memcmp(conf->tags[i].path, key, klen) == 0) {
            return true;
        }
    }
    return false;
}

/* Every scalar member, nested objects joined with '_'. Arrays and nulls skipped. */
static int flatten(const struct cg_codec_json_conf *conf, struct cg_batch *out,
                   const struct cg_jval *obj, char *prefix, size_t plen, const char **why)
{
    for (const struct cg_jval *c = obj->child; c != NULL; c = c->next) {
        if (plen == 0 && is_mapped(conf, c->key, c->key_len)) {
            continue;
        }
        if (c->type == CG_J_ARRAY || c->type == CG_J_NULL) {
            cg_batch_skip(out, prefix, plen, c->key, c->key_len); /* counted by the caller, never silent */
            continue;
        }
        size_t n = plen + (plen ? 1 : 0) + c->key_len;
        if (n > CG_POINT_MAX_NAME) {
            *why = "field name too long";
            return -EMSGSIZE;
        }
        if (plen) {
            prefix[plen] = '_';
        }
        memcpy(prefix + plen + (plen ? 1 : 0), c->key, c->key_len);
        int rc;
        if (c->type == CG_J_OBJECT) {
            rc = flatten(conf, out, c, prefix, n, why);
        } else {
            rc = add_value(out, prefix, n, c, CG_VT_AUTO, why);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* The best receiving gateway's RSSI, SNR and id (see struct cg_codec_radio_conf). */
static int add_radio(const struct cg_codec_radio_conf *rc_, const struct cg_jval *root, struct cg_batch *out,
                     const char **why)
{
    const struct cg_jval *arr = cg_jdom_path(root, rc_->array);
    if (arr == NULL || arr->type != CG_J_ARRAY) {
        return 0; /* radio metadata is optional: the reading stands without it */
    }
    const struct cg_jval *best = NULL, *best_snr = NULL, *best_rssi = NULL;
    for (const struct cg_jval *g = arr->child; g != NULL; g = g->next) {
        if (g->type != CG_J_OBJECT) {
            continue;
        }
        const struct cg_jval *snr = cg_jdom_path(g, rc_->snr), *rssi = cg_jdom_path(g, rc_->rssi);
        snr = snr && snr->type == CG_J_NUMBER ? snr : NULL;
        rssi = rssi && rssi->type == CG_J_NUMBER ? rssi : NULL;
        bool better = best == NULL || (snr && (!best_snr || snr->num > best_snr->num)) ||
                      (snr && best_snr && snr->num == best_snr->num && rssi &&
                       (!best_rssi || rssi->num > best_rssi->num)) ||
                      (!snr && !best_snr && rssi && (!best_rssi || rssi->num > best_rssi->num));
        if (better) {
            best = g;
            best_snr = snr;
            best_rssi = rssi;
        }
    }
    if (best == NULL) {
        return 0;
    }
    int rc = 0;
    if (best_rssi != NULL) {
        rc = add_value(out, "rssi", 4, best_rssi, CG_VT_FLOAT, why);
    }
    if (rc == 0 && best_snr != NULL) {
        rc = add_value(out, "snr", 3, best_snr, CG_VT_FLOAT, why);
    }
    const struct cg_jval *id = cg_jdom_path(best, rc_->gateway_id);
    if (rc == 0 && id != NULL && id->type == CG_J_STRING) {
        rc = add_value(out, "gateway_id", 10, id, CG_VT_STRING, why);
    }
    return rc;
}

static const char *rc_why(int rc)
{
    switch (rc) {
    case -EDOM: return "NaN or infinite value";
    case -EILSEQ: return "text is not valid UTF-8";
    case -EMSGSIZE: return "too many points, tags or fields, or a name too long";
    case -ENOMEM: return "out of memory";
    default: return "invalid value";
    }
}

static int decode_record(const struct cg_codec_json_conf *conf, const char *measurement,
                         const struct cg_jval *root, const struct cg_jval *rec, struct cg_batch *out,
                         const char **why)
{
    int rc;
    if (rec->type != CG_J_OBJECT) {
        *why = "reading is not a JSON object";
        return -EINVAL;
    }
    int64_t t = out->now_ns;
    if (conf->time_path != NULL) {
        const struct cg_jval *tv = resolve(root, rec, conf->time_path);
        if (tv != NULL && tv->type != CG_J_NULL) {
            rc = cg_time_from_json(tv, conf->time_format, &t);
            if (rc < 0) {
                *why = "bad timestamp";
                return rc == -ENOENT ? -EINVAL : rc;
            }
        }
    }
    rc = cg_batch_begin(out, measurement, strlen(measurement), false, t);
    if (rc < 0) {
        *why = rc_why(rc);
        return rc;
    }
    for (size_t i = 0; i < conf->n_tags; i++) {
        const struct cg_jval *v = resolve(root, rec, conf->tags[i].path);
        if (v == NULL) {
            if (conf->tags[i].required) {
                *why = "required tag missing";
                return -EINVAL;
            }
            continue;
        }
        *why = NULL;
        rc = add_tag(out, conf->tags[i].name, v, why);
        if (rc < 0) {
            *why = *why ? *why : rc_why(rc);
            return rc;
        }
    }
    if (conf->n_fields > 0) {
        for (size_t i = 0; i < conf->n_fields; i++) {
            const struct cg_jval *v = resolve(root, rec, conf->fields[i].path);
            if (v == NULL) {
                if (conf->fields[i].required) {
                    *why = "required field missing";
                    return -EINVAL;
                }
                continue;
            }
            *why = NULL;
            rc = add_value(out, conf->fields[i].name, strlen(conf->fields[i].name), v,
                           conf->fields[i].type, why);
            if (rc < 0) {
                *why = *why ? *why : rc_why(rc);
                return rc;
            }
        }
    } else {
        char prefix[CG_POINT_MAX_NAME + 1];
        *why = NULL;
        rc = flatten(conf, out, rec, prefix, 0, why);
        if (rc < 0) {
            *why = *why ? *why : rc_why(rc);
            return rc;
        }
    }
    if (conf->radio.array != NULL) {
        *why = NULL;
        rc = add_radio(&conf->radio, root, out, why);
        if (rc < 0) {
            *why = *why ? *why : rc_why(rc);
            return rc;
        }
    }
    return cg_batch_end(out);
}

int cg_codec_json_decode(const struct cg_codec_json_conf *conf, const char *measurement,
                         const char *payload, size_t len, struct cg_batch *out, const char **why)
{
    const struct cg_jval *root = NULL;
    int rc = cg_jdom_parse(&out->arena, payload, len, conf->max_depth ? conf->max_depth : 32, &root, why);
    if (rc < 0) {
        return rc;
    }
    const struct cg_jval *recs = root;
    if (conf->records != NULL && conf->records[0] != '\0') {
        recs = resolve(root, root, conf->records);
        if (recs == NULL) {
            *why = conf->records_why ? conf->records_why : "records path not found in payload";
            return -EINVAL;
        }
    }
    if (recs->type == CG_J_ARRAY) {
        for (const struct cg_jval *r = recs->child; r != NULL; r = r->next) {
            rc = decode_record(conf, measurement, root, r, out, why);
            if (rc < 0) {
                return rc;
            }
        }
    } else {
        rc = decode_record(conf, measurement, root, recs, out, why);
        if (rc < 0) {
            return rc;
        }
    }
    if (out->n_points == 0) {
        *why = "no fields in payload";
        return -ENODATA;
    }
    return 0;
}
