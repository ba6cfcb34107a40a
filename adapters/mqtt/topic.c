/* citygate — MQTT topic filters and topic rules (see topic.h). */
#include "topic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cg_topic_filter_check(const char *f, const char **why)
{
    size_t len = strlen(f);
    if (len == 0) {
        *why = "empty topic filter";
        return -EINVAL;
    }
    if (len > CG_TOPIC_MAX_LEN) {
        *why = "topic filter too long";
        return -EINVAL;
    }
    size_t levels = 1;
    for (size_t i = 0; i < len; i++) {
        char c = f[i];
        bool start = i == 0 || f[i - 1] == '/';
        bool end = i + 1 == len || f[i + 1] == '/';
        if (c == '/') {
            levels++;
        } else if (c == '+' && !(start && end)) {
            *why = "'+' must occupy a whole topic level";
            return -EINVAL;
        } else if (c == '#' && !(start && i + 1 == len)) {
            *why = "'#' must be the last topic level";
            return -EINVAL;
        }
    }
    if (levels > CG_TOPIC_MAX_LEVELS) {
        *why = "too many topic levels";
        return -EINVAL;
    }
    return 0;
}

int cg_topic_share_split(const char *s, const char **group, size_t *group_len, const char **filter,
                         const char **why)
{
    static const char pfx[] = "$share/";
    if (strncmp(s, pfx, sizeof(pfx) - 1) != 0) {
        *filter = s;
        return 0;
    }
    const char *g = s + sizeof(pfx) - 1;
    const char *slash = strchr(g, '/');
    if (slash == NULL || slash == g) {
        *why = "shared subscription needs $share/<group>/<filter>";
        return -EINVAL;
    }
    for (const char *c = g; c < slash; c++) {
        if (*c == '+' || *c == '#') {
            *why = "share group name cannot contain '+' or '#'";
            return -EINVAL;
        }
    }
    *group = g;
    *group_len = (size_t)(slash - g);
    *filter = slash + 1;
    return 1;
}

bool cg_topic_filter_match(const char *f, const char *t, size_t len)
{
    size_t i = 0; /* into t */
    if (len > 0 && t[0] == '$' && (f[0] == '+' || f[0] == '#')) {
        return false; /* §4.7.2 */
    }
    for (;;) {
        if (*f == '#') {
            return true; /* also matches the parent level: "a/#" matches "a" */
        }
        const char *fend = strchr(f, '/');
        size_t flen = fend ? (size_t)(fend - f) : strlen(f);
        const char *tend = memchr(t + i, '/', len - i);
        size_t tlen = tend ? (size_t)(tend - (t + i)) : len - i;
        if (!(flen == 1 && f[0] == '+') && (flen != tlen || memcmp(f, t + i, flen) != 0)) {
            return false;
        }
        i += tlen;
        if (fend == NULL) {
            return i == len;
        }
        f = fend + 1;
        if (i == len) {
            /* topic ended; only a trailing "#" still matches */
            return strcmp(f, "#") == 0;
        }
        i++; /* the '/' */
    }
}

void cg_topic_pattern_done(struct cg_topic_pattern *p)
{
    if (p == NULL) {
        return;
    }
    free(p->buf);
    free(p->filter);
    p->buf = NULL;
    p->filter = NULL;
    p->n_segs = 0;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

int cg_topic_pattern_compile(struct cg_topic_pattern *p, const char *pattern, const char **why)
{
    memset(p, 0, sizeof(*p));
    size_t len = strlen(pattern);
    if (len == 0 || len > CG_TOPIC_MAX_LEN) {
        *why = len ? "topic pattern too long" : "empty topic pattern";
        return -EINVAL;
    }
    p->buf = strdup(pattern);
    p->filter = malloc(len + 1);
    if (p->buf == NULL || p->filter == NULL) {
        cg_topic_pattern_done(p);
        return -ENOMEM;
    }
    char *s = p->buf;
    size_t flen = 0;
    for (;;) {
        char *slash = strchr(s, '/');
        if (slash) {
            *slash = '\0';
        }
        size_t n = strlen(s);
        if (p->n_segs == CG_TOPIC_MAX_LEVELS) {
            *why = "too many topic levels";
            goto bad;
        }
        struct cg_topic_seg *seg = &p->segs[p->n_segs++];
        if (n > 0 && s[0] == '{') {
            if (n < 3 || s[n - 1] != '}') {
                *why = "a capture must be a whole level: {name}";
                goto bad;
            }
            for (size_t i = 1; i + 1 < n; i++) {
                if (!name_char(s[i])) {
                    *why = "capture names use letters, digits, '_', '-' and '.'";
                    goto bad;
                }
            }
            for (size_t k = 0; k + 1 < p->n_segs; k++) {
                if (p->segs[k].kind == CG_SEG_CAPTURE && p->segs[k].len == n - 2 &&
                    memcmp(p->segs[k].text, s + 1, n - 2) == 0) {
                    *why = "capture name used twice";
                    goto bad;
                }
            }
            seg->kind = CG_SEG_CAPTURE;
            seg->text = s + 1;
            seg->len = n - 2;
            s[n - 1] = '\0';
            p->n_captures++;
            p->filter[flen++] = '+';
        } else if (strcmp(s, "+") == 0) {
            seg->kind = CG_SEG_PLUS;
            p->filter[flen++] = '+';
        } else if (strcmp(s, "#") == 0) {
            if (slash != NULL) {
                *why = "'#' must be the last topic level";
                goto bad;
            }
            seg->kind = CG_SEG_HASH;
            p->filter[flen++] = '#';
        } else {
            if (strpbrk(s, "+#{}") != NULL) {
                *why = "'+', '#', '{' and '}' must occupy a whole topic level";
                goto bad;
            }
            seg->kind = CG_SEG_LITERAL;
            seg->text = s;
            seg->len = n;
            memcpy(p->filter + flen, s, n);
            flen += n;
        }
        if (slash == NULL) {
            break;
        }
        p->filter[flen++] = '/';
        s = slash + 1;
    }
    p->filter[flen] = '\0';
    return 0;
bad:
    cg_topic_pattern_done(p);
    return -EINVAL;
}

bool cg_topic_pattern_match(const struct cg_topic_pattern *p, const char *t, size_t len,
                            struct cg_topic_capture *caps, size_t max, size_t *n)
{
    size_t i = 0, nc = 0;
    *n = 0;
    if (p->n_segs == 0) {
        return false;
    }
    if (len > 0 && t[0] == '$' && p->segs[0].kind != CG_SEG_LITERAL) {
        return false; /* wildcards do not match $SYS etc. (§4.7.2) */
    }
    for (size_t s = 0; s < p->n_segs; s++) {
        const struct cg_topic_seg *seg = &p->segs[s];
        if (seg->kind == CG_SEG_HASH) {
            *n = nc;
            return true;
        }
        if (i > len) {
            return false;
        }
        const char *tend = memchr(t + i, '/', len - i);
        size_t tlen = tend ? (size_t)(tend - (t + i)) : len - i;
        if (seg->kind == CG_SEG_LITERAL) {
            if (seg->len != tlen || memcmp(seg->text, t + i, tlen) != 0) {
                return false;
            }
        } else if (seg->kind == CG_SEG_CAPTURE) {
            if (nc < max) {
                caps[nc++] = (struct cg_topic_capture){.name = seg->text, .value = t + i, .len = tlen};
            }
        }
        i += tlen;
        bool last = s + 1 == p->n_segs;
        if (i == len) {
            if (last) {
                *n = nc;
                return true;
            }
            /* "a/#" matches "a" */
            if (s + 2 == p->n_segs && p->segs[s + 1].kind == CG_SEG_HASH) {
                *n = nc;
                return true;
            }
            return false;
        }
        if (last) {
            return false;
        }
        i++; /* '/' */
    }
    return false;
}
