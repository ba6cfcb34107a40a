/* citygate — line protocol reader (see lp_parse.h). */
#include "lp_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Length of the name or tag token at s up to an unescaped stop character. */
static size_t name_len(const char *s, size_t len, const char *stops)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] == '\\' && i + 1 < len && strchr(", =", s[i + 1]) != NULL) {
            i += 2;
            continue;
        }
        if (strchr(stops, s[i]) != NULL) {
            break;
        }
        i++;
    }
    return i;
}

/* Length of a quoted string value at s (s[0] == '"'), quotes included; 0 when
 * it does not end. */
static size_t string_len(const char *s, size_t len)
{
    for (size_t i = 1; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\')) {
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

static int read_value(struct cg_lp_field *f)
{
    const char *v = f->val.p;
    size_t n = f->val.n;
    if (n == 0) {
        return -EINVAL;
    }
    if (v[0] == '"') {
        f->kind = CG_LP_STRING;
        return 0;
    }
    static const char *const yes[] = {"t", "T", "true", "True", "TRUE", NULL};
    static const char *const no[] = {"f", "F", "false", "False", "FALSE", NULL};
    for (size_t k = 0; yes[k] != NULL; k++) {
        bool y = strlen(yes[k]) == n && memcmp(v, yes[k], n) == 0;
        bool f0 = strlen(no[k]) == n && memcmp(v, no[k], n) == 0;
        if (y || f0) {
            f->kind = CG_LP_BOOL;
            f->num = y ? 1 : 0;
            return 0;
        }
    }
    char tmp[64];
    if (n >= sizeof(tmp)) {
        return -EINVAL;
    }
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    f->kind = CG_LP_FLOAT;
    if (tmp[n - 1] == 'i' || tmp[n - 1] == 'u') {
        f->kind = tmp[n - 1] == 'i' ? CG_LP_INT : CG_LP_UINT;
        tmp[--n] = '\0';
    }
    char *end = NULL;
    errno = 0;
    if (f->kind == CG_LP_FLOAT) {
        f->num = strtod(tmp, &end);
    } else if (f->kind == CG_LP_INT) {
        f->num = (double)strtoll(tmp, &end, 10);
    } else {
        f->num = (double)strtoull(tmp, &end, 10);
    }
    /* the encoder never writes nan/inf/hex: refuse rather than guess */
    if (n == 0 || end != tmp + n || errno != 0 || strpbrk(tmp, "nNxX") != NULL) {
        return -EINVAL;
    }
    return 0;
}

int cg_lp_parse(const char *line, size_t len, struct cg_lp_line *out)
{
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        len--;
    }
    size_t i = name_len(line, len, ", ");
    if (i == 0) {
        return -EINVAL;
    }
    out->measurement = (struct cg_lp_span){line, i};
    out->n_tags = 0;
    out->n_fields = 0;
    out->has_ts = false;
    out->ts = 0;
    while (i < len && line[i] == ',') {
        if (out->n_tags >= CG_POINT_MAX_TAGS) {
            return -EINVAL;
        }
        struct cg_lp_tag *t = &out->tags[out->n_tags++];
        i++;
        size_t k = name_len(line + i, len - i, "=, ");
        if (k == 0 || i + k >= len || line[i + k] != '=') {
            return -EINVAL;
        }
        t->key = (struct cg_lp_span){line + i, k};
        i += k + 1;
        k = name_len(line + i, len - i, ", ");
        if (k == 0) {
            return -EINVAL;
        }
        t->val = (struct cg_lp_span){line + i, k};
        i += k;
    }
    if (i >= len || line[i] != ' ') {
        return -EINVAL;
    }
    do {
        if (out->n_fields >= CG_POINT_MAX_FIELDS) {
            return -EINVAL;
        }
        struct cg_lp_field *f = &out->fields[out->n_fields++];
        i++;
        size_t k = name_len(line + i, len - i, "=, ");
        if (k == 0 || i + k >= len || line[i + k] != '=') {
            return -EINVAL;
        }
        f->key = (struct cg_lp_span){line + i, k};
        i += k + 1;
        k = i < len && line[i] == '"' ? string_len(line + i, len - i) : name_len(line + i, len - i, ", ");
        f->val = (struct cg_lp_span){line + i, k};
        if (read_value(f) < 0) {
            return -EINVAL;
        }
        i += k;
    } while (i < len && line[i] == ',');
    if (i < len) {
        if (line[i] != ' ') {
            return -EINVAL;
        }
        i++;
        size_t k = 0;
        bool neg = i < len && line[i] == '-';
        if (neg) {
            k++;
        }
        while (i + k < len && line[i + k] >= '0' && line[i + k] <= '9') {
            k++;
        }
        if (k == (neg ? 1u : 0u) || k > 20 || i + k != len) {
            return -EINVAL;
        }
        char tmp[24];
        memcpy(tmp, line + i, k);
        tmp[k] = '\0';
        errno = 0;
        out->ts = strtoll(tmp, NULL, 10);
        if (errno != 0) {
            return -EINVAL;
        }
        out->has_ts = true;
    }
    return 0;
}

size_t cg_lp_unescape(struct cg_lp_span s, bool string, char *out, size_t outsz)
{
    const char *p = s.p;
    size_t n = s.n;
    if (string && n >= 2 && p[0] == '"') {
        p++;
        n -= 2;
    }
    const char *esc = string ? "\"\\" : ", =";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\\' && i + 1 < n && strchr(esc, p[i + 1]) != NULL) {
            ch = p[++i];
        }
        if (k + 1 < outsz) {
            out[k] = ch;
        }
        k++;
    }
    if (outsz > 0) {
        out[k < outsz ? k : outsz - 1] = '\0';
    }
    return k;
}
