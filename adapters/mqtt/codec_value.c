/* citygate — a bare number or boolean as the whole payload ("21.5", "true").
 * Pure: bytes in, one point out. Blanks and a trailing newline are allowed;
 * anything else (units, NaN, hex, empty) is an error. */
#include <citygate/codec.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int cg_codec_value_decode(const struct cg_codec_value_conf *conf, const char *measurement,
                          const char *payload, size_t len, struct cg_batch *out, const char **why)
{
    size_t a = 0, b = len;
    while (a < b && blank(payload[a])) {
        a++;
    }
    while (b > a && blank(payload[b - 1])) {
        b--;
    }
    const char *v = payload + a;
    size_t n = b - a;
    const char *key = conf->field && conf->field[0] ? conf->field : "value";
    size_t klen = strlen(key);
    int rc;
    if (n == 0) {
        *why = "empty payload";
        return -EINVAL;
    }
    bool is_true = (n == 4 && strncasecmp(v, "true", 4) == 0);
    bool is_false = (n == 5 && strncasecmp(v, "false", 5) == 0);
    char num[72];
    if (is_true || is_false) {
        if (conf->type != CG_VT_AUTO && conf->type != CG_VT_BOOL) {
            *why = "payload is a boolean, a number was expected";
            return -EINVAL;
        }
        if ((rc = cg_batch_begin(out, measurement, strlen(measurement), false, out->now_ns)) < 0 ||
            (rc = cg_batch_field_b(out, key, klen, is_true)) < 0) {
            *why = "cannot build point";
            return rc;
        }
        return cg_batch_end(out);
    }
    const char *w = v;
    size_t wn = n;
    if (*w == '-' || *w == '+') {
        w++;
        wn--;
    }
    if ((wn == 3 && (strncasecmp(w, "nan", 3) == 0 || strncasecmp(w, "inf", 3) == 0)) ||
        (wn == 8 && strncasecmp(w, "infinity", 8) == 0)) {
        *why = "NaN or infinite value";
        return -EDOM;
    }
    if (n > 64 || !cg_number_syntax_ok(v, n)) {
        *why = "payload is not a number or boolean";
        return -EINVAL;
    }
    memcpy(num, v, n);
    num[n] = '\0';
    if ((rc = cg_batch_begin(out, measurement, strlen(measurement), false, out->now_ns)) < 0) {
        *why = "cannot build point";
        return rc;
    }
    switch (conf->type) {
    case CG_VT_BOOL: {
        double d = strtod(num, NULL);
        if (d != 0 && d != 1) {
            *why = "payload is not a boolean (0/1/true/false)";
            return -EINVAL;
        }
        rc = cg_batch_field_b(out, key, klen, d == 1);
        break;
    }
    case CG_VT_INT:
    case CG_VT_UINT: {
        struct cg_jval j = {.type = CG_J_NUMBER, .str = num + (num[0] == '+'), .len = n,
                            .num = strtod(num, NULL)};
        if (conf->type == CG_VT_INT) {
            int64_t i;
            rc = cg_jdom_int64(&j, &i) < 0 ? -ERANGE : cg_batch_field_i(out, key, klen, i);
        } else {
            uint64_t u;
            rc = cg_jdom_uint64(&j, &u) < 0 ? -ERANGE : cg_batch_field_u(out, key, klen, u);
        }
        if (rc == -ERANGE) {
            *why = "payload is not an integer in range";
            return rc;
        }
        break;
    }
    case CG_VT_STRING:
        rc = cg_batch_field_s(out, key, klen, num, n);
        break;
    default: {
        double d = strtod(num, NULL);
        if (!isfinite(d)) {
            *why = "NaN or infinite value";
            return -EDOM;
        }
        rc = cg_batch_field_f(out, key, klen, d);
        break;
    }
    }
    if (rc < 0) {
        *why = "cannot build point";
        return rc;
    }
    return cg_batch_end(out);
}
