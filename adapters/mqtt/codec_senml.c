/* citygate — SenML JSON (RFC 8428) payloads. Pure: bytes in, points out.
 *
 * Records are resolved as RFC 8428 §4.6 says: base name + name (§4.5.1),
 * base time + time with values below 2**28 relative to "now" (§4.5.3), unit
 * or base unit (§4.5.2), base value + value and base sum + sum (§4.5.4).
 * Labels ending in '_' we do not know are an error (§4.4); other unknown
 * labels are ignored. A record with no value and no sum (one that only sets
 * base fields, §5.1.7) yields no point. Each resolved record is one point:
 * tags <name_tag>=name and <unit_tag>=unit, fields value / string_value /
 * bool_value / data_value / sum, time rounded to the microsecond (doubles of
 * epoch seconds carry no more, §5). */
#include <citygate/codec.h>

#include <errno.h>
#include <math.h>
#include <string.h>

#define SENML_VERSION 10          /* RFC 8428 §4.4 */
#define SENML_RELATIVE 268435456.0 /* 2**28, §4.5.3 */

static bool name_ok(const char *s, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (i == 0 && !alnum) {
            return false;
        }
        if (!alnum && c != '-' && c != ':' && c != '.' && c != '/' && c != '_') {
            return false;
        }
    }
    return true;
}

struct rec {
    const struct cg_jval *bn, *bt, *bu, *bv, *bs, *bver, *n, *u, *v, *vs, *vb, *vd, *s, *t;
};

static bool is(const struct cg_jval *c, const char *label)
{
    return c->key_len == strlen(label) && memcmp(c->key, label, c->key_len) == 0;
}

static int read_record(const struct cg_jval *obj, struct rec *r, const char **why)
{
    memset(r, 0, sizeof(*r));
    struct {
        const char *label;
        const struct cg_jval **slot;
        enum cg_jtype type;
    } known[] = {
        {"bn", &r->bn, CG_J_STRING}, {"bt", &r->bt, CG_J_NUMBER}, {"bu", &r->bu, CG_J_STRING},
        {"bv", &r->bv, CG_J_NUMBER}, {"bs", &r->bs, CG_J_NUMBER}, {"bver", &r->bver, CG_J_NUMBER},
        {"n", &r->n, CG_J_STRING},   {"u", &r->u, CG_J_STRING},   {"v", &r->v, CG_J_NUMBER},
        {"vs", &r->vs, CG_J_STRING}, {"vb", &r->vb, CG_J_TRUE},   {"vd", &r->vd, CG_J_STRING},
        {"s", &r->s, CG_J_NUMBER},   {"t", &r->t, CG_J_NUMBER},   {"ut", NULL, CG_J_NUMBER},
    };
    for (const struct cg_jval *c = obj->child; c != NULL; c = c->next) {
        size_t k;
        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            if (is(c, known[k].label)) {
                break;
            }
        }
        if (k == sizeof(known) / sizeof(known[0])) {
            if (c->key_len > 0 && c->key[c->key_len - 1] == '_') {
                *why = "unknown must-understand SenML label (ends with '_')";
                return -EINVAL;
            }
            continue; /* §4.4: ignore what we do not recognise */
        }
        bool type_ok = known[k].type == CG_J_TRUE ? (c->type == CG_J_TRUE || c->type == CG_J_FALSE)
                                                  : c->type == known[k].type;
        if (!type_ok) {
            *why = "SenML label has the wrong JSON type";
            return -EINVAL;
        }
        if (c->type == CG_J_NUMBER && !isfinite(c->num)) {
            *why = "NaN or infinite value";
            return -EDOM;
        }
        if (known[k].slot != NULL) {
            *known[k].slot = c;
        }
    }
    return 0;
}

static const char *rc_why(int rc)
{
    switch (rc) {
    case -EILSEQ: return "text is not valid UTF-8";
    case -EMSGSIZE: return "too many records, or a name too long";
    case -EDOM: return "NaN or infinite value";
    case -ENOMEM: return "out of memory";
    default: return "invalid record";
    }
}

int cg_codec_senml_decode(const struct cg_codec_senml_conf *conf, const char *measurement,
                          const char *payload, size_t len, struct cg_batch *out, const char **why)
{
    const struct cg_jval *root = NULL;
    int rc = cg_jdom_parse(&out->arena, payload, len, conf->max_depth ? conf->max_depth : 8, &root, why);
    if (rc < 0) {
        return rc;
    }
    if (root->type != CG_J_ARRAY) {
        *why = "a SenML pack is a JSON array";
        return -EINVAL;
    }
    const char *bn = "";
    size_t bn_len = 0;
    const struct cg_jval *bu = NULL;
    double bt = 0, bv = 0, bs = 0;
    bool has_bv = false, has_bs = false;
    double version = -1;
    char name[2 * CG_POINT_MAX_TAG_VALUE + 1];

    for (const struct cg_jval *o = root->child; o != NULL; o = o->next) {
        struct rec r;
        if (o->type != CG_J_OBJECT) {
            *why = "a SenML record is a JSON object";
            return -EINVAL;
        }
        if ((rc = read_record(o, &r, why)) < 0) {
            return rc;
        }
        if (r.bver != NULL) {
            if (r.bver->num > SENML_VERSION) {
                *why = "SenML version newer than 10";
                return -EINVAL;
            }
            if (version >= 0 && r.bver->num != version) {
                *why = "SenML records with different versions in one pack";
                return -EINVAL;
            }
            version = r.bver->num;
        }
        if (r.bn != NULL) {
            bn = r.bn->str;
            bn_len = r.bn->len;
        }
        if (r.bt != NULL) {
            bt = r.bt->num;
        }
        if (r.bu != NULL) {
            bu = r.bu;
        }
        if (r.bv != NULL) {
            bv = r.bv->num;
            has_bv = true;
        }
        if (r.bs != NULL) {
            bs = r.bs->num;
            has_bs = true;
        }
        int n_values = (r.v != NULL) + (r.vs != NULL) + (r.vb != NULL) + (r.vd != NULL);
        if (n_values > 1) {
            *why = "SenML record with more than one value";
            return -EINVAL;
        }
        bool numeric = r.v != NULL || (n_values == 0 && has_bv);
        bool has_sum = r.s != NULL || has_bs;
        if (!numeric && n_values == 0 && !has_sum) {
            continue; /* only base fields */
        }
        size_t n_len = r.n ? r.n->len : 0;
        if (bn_len + n_len > sizeof(name) - 1) {
            *why = "SenML name too long";
            return -EMSGSIZE;
        }
        memcpy(name, bn, bn_len);
        if (n_len) {
            memcpy(name + bn_len, r.n->str, n_len);
        }
        name[bn_len + n_len] = '\0';
        if (!name_ok(name, bn_len + n_len)) {
            *why = "invalid SenML name (RFC 8428 §4.5.1)";
            return -EINVAL;
        }
        double t = bt + (r.t ? r.t->num : 0);
        int64_t t_ns;
        if (t < SENML_RELATIVE) {
            double rel_us = t * 1e6;
            if (!isfinite(rel_us) || fabs(rel_us) > 9e15) {
                *why = "SenML time out of range";
                return -ERANGE;
            }
            t_ns = out->now_ns + (int64_t)llround(rel_us) * 1000;
        } else {
            double us = t * 1e6;
            if (!isfinite(us) || us > 9.2e15) {
                *why = "SenML time out of range";
                return -ERANGE;
            }
            t_ns = (int64_t)llround(us) * 1000;
        }
        const struct cg_jval *unit = r.u ? r.u : bu;

        if ((rc = cg_batch_begin(out, measurement, strlen(measurement), false, t_ns)) < 0 ||
            (conf->name_tag && conf->name_tag[0] &&
             (rc = cg_batch_tag(out, conf->name_tag, strlen(conf->name_tag), name, bn_len + n_len)) < 0) ||
            (conf->unit_tag && conf->unit_tag[0] && unit != NULL &&
             (rc = cg_batch_tag(out, conf->unit_tag, strlen(conf->unit_tag), unit->str, unit->len)) < 0)) {
            *why = rc_why(rc);
            return rc;
        }
        if (numeric) {
            double v = bv + (r.v ? r.v->num : 0);
            rc = cg_batch_field_f(out, "value", 5, v);
        } else if (r.vs != NULL) {
            rc = cg_batch_field_s(out, "string_value", 12, r.vs->str, r.vs->len);
        } else if (r.vb != NULL) {
            rc = cg_batch_field_b(out, "bool_value", 10, r.vb->type == CG_J_TRUE);
        } else if (r.vd != NULL) {
            rc = cg_batch_field_s(out, "data_value", 10, r.vd->str, r.vd->len);
        }
        if (rc == 0 && has_sum) {
            rc = cg_batch_field_f(out, "sum", 3, bs + (r.s ? r.s->num : 0));
        }
        if (rc < 0 || (rc = cg_batch_end(out)) < 0) {
            *why = rc_why(rc);
            return rc;
        }
    }
    if (out->n_points == 0) {
        *why = "SenML pack without any value";
        return -ENODATA;
    }
    return 0;
}
