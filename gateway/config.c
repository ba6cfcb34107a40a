/* citygate — declarative option tables: parsing, errors with JSON paths,
 * ${ENV} expansion and NAME_file secrets (see include/citygate/config.h). */
#include <citygate/array.h>
#include <citygate/config.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "path: message" on the heap (just "message" without a path); NULL when out of memory. */
static char *path_message(const char *path, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    char *s = NULL;
    if (asprintf(&s, "%s%s%s", path && *path ? path : "", path && *path ? ": " : "", msg) < 0) {
        return NULL;
    }
    return s;
}

void cg_errs_add(struct cg_errs *e, const char *path, const char *fmt, ...)
{
    if (e->n >= CG_ERRS_MAX) {
        e->lost++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = path_message(path, fmt, ap);
    va_end(ap);
    if (s == NULL) {
        e->lost++;
        return;
    }
    e->path_len[e->n] = path ? strlen(path) : 0;
    e->msg[e->n++] = s;
}

void cg_errs_warn(struct cg_errs *e, const char *path, const char *fmt, ...)
{
    if (e->n_warn >= CG_ERRS_MAX) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = path_message(path, fmt, ap);
    va_end(ap);
    if (s != NULL) {
        e->warn[e->n_warn++] = s;
    }
}

size_t cg_errs_count(const struct cg_errs *e)
{
    return e->n + e->lost;
}

void cg_errs_done(struct cg_errs *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->msg[i]);
        e->msg[i] = NULL;
        e->path_len[i] = 0;
    }
    e->n = 0;
    e->lost = 0;
    for (size_t i = 0; i < e->n_warn; i++) {
        free(e->warn[i]);
        e->warn[i] = NULL;
    }
    e->n_warn = 0;
}

void cg_path_key(char *out, size_t outsz, const char *base, const char *key)
{
    if (base == NULL || base[0] == '\0') {
        snprintf(out, outsz, "%s", key);
    } else {
        snprintf(out, outsz, "%s.%s", base, key);
    }
}

void cg_path_idx(char *out, size_t outsz, const char *base, size_t i)
{
    snprintf(out, outsz, "%s[%zu]", base ? base : "", i);
}

int cg_json_check_object(const cJSON *obj, const char *path, struct cg_errs *errs)
{
    if (!cJSON_IsObject(obj)) {
        cg_errs_add(errs, path, "must be an object");
        return -EINVAL;
    }
    int rc = 0;
    for (const cJSON *a = obj->child; a; a = a->next) {
        for (const cJSON *b = a->next; b; b = b->next) {
            if (a->string && b->string && strcmp(a->string, b->string) == 0) {
                char p[512];
                cg_path_key(p, sizeof(p), path, a->string);
                cg_errs_add(errs, p, "duplicate key");
                rc = -EINVAL;
                break;
            }
        }
    }
    return rc;
}

#define EXPAND_MAX (16 << 20) /* a config string after ${VAR} expansion */

char *cg_conf_expand_env(const char *s, const char *path, struct cg_errs *errs)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *out = malloc(cap);
    if (out == NULL) {
        cg_errs_add(errs, path, "out of memory");
        return NULL;
    }
    for (const char *p = s; *p;) {
        const char *ins = p;
        size_t n = 1;
        char name[256];
        if (p[0] == '$' && p[1] == '$') {
            n = 1;
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (end == NULL) {
                cg_errs_add(errs, path, "unterminated ${...} reference");
                free(out);
                return NULL;
            }
            size_t nl = (size_t)(end - (p + 2));
            if (nl == 0 || nl >= sizeof(name)) {
                cg_errs_add(errs, path, "bad ${...} reference");
                free(out);
                return NULL;
            }
            memcpy(name, p + 2, nl);
            name[nl] = '\0';
            ins = getenv(name);
            if (ins == NULL) {
                cg_errs_add(errs, path, "environment variable %s is not set", name);
                free(out);
                return NULL;
            }
            n = strlen(ins);
            p = end + 1;
        } else {
            p++;
        }
        if (n > EXPAND_MAX || len + n + 1 > EXPAND_MAX) {
            free(out);
            cg_errs_add(errs, path, "expands to more than %d bytes", EXPAND_MAX);
            return NULL;
        }
        if (cg_array_grow((void **)&out, &cap, len + n + 1, 1, EXPAND_MAX) < 0) {
            free(out);
            cg_errs_add(errs, path, "out of memory");
            return NULL;
        }
        memcpy(out + len, ins, n);
        len += n;
    }
    out[len] = '\0';
    return out;
}

#define SECRET_MAX 65536

static bool in_our_groups(gid_t gid)
{
    gid_t groups[256];
    if (gid == getegid()) {
        return true;
    }
    int n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
    for (int i = 0; i < n; i++) {
        if (groups[i] == gid) {
            return true;
        }
    }
    return false;
}

/* A secret file must be private to citygate: the packaged recipe is
 * root:citygate 0640, so the group may read it when it is a group citygate
 * runs as; anyone else reading (or replacing) it is a leak. */
static void check_secret_mode(int fd, const char *file, const char *path, struct cg_errs *errs)
{
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        return;
    }
    const char *who = NULL, *fix = NULL;
    if (sb.st_mode & S_IRWXO) {
        who = sb.st_mode & S_IROTH ? "readable by others" : "writable by others";
        fix = "o-rwx";
    } else if ((sb.st_mode & S_IRWXG) && !in_our_groups(sb.st_gid)) {
        who = sb.st_mode & S_IRGRP ? "readable by its group, which citygate does not run as"
                                   : "writable by its group, which citygate does not run as";
        fix = "g-rwx";
    }
    if (who == NULL) {
        return;
    }
    unsigned mode = (unsigned)(sb.st_mode & 07777);
    if (errs->refuse_open_secrets) {
        cg_errs_add(errs, path, "%s is %s (mode %04o): chmod %s %s (gateway.secret_files is \"refuse\")", file,
                    who, mode, fix, file);
    } else {
        cg_errs_warn(errs, path, "%s is %s (mode %04o): chmod %s %s", file, who, mode, fix, file);
    }
}

char *cg_conf_read_secret(const char *file, const char *path, struct cg_errs *errs)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cg_errs_add(errs, path, "cannot read %s: %s", file, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SECRET_MAX + 1);
    size_t len = 0;
    if (buf == NULL) {
        close(fd);
        cg_errs_add(errs, path, "out of memory");
        return NULL;
    }
    check_secret_mode(fd, file, path, errs);
    for (;;) {
        ssize_t n = read(fd, buf + len, SECRET_MAX + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            cg_errs_add(errs, path, "cannot read %s: %s", file, strerror(errno));
            goto fail;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len > SECRET_MAX) {
            cg_errs_add(errs, path, "%s is larger than %d bytes", file, SECRET_MAX);
            goto fail;
        }
    }
    close(fd);
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }
    buf[len] = '\0';
    if (len == 0) {
        cg_errs_add(errs, path, "%s is empty", file);
        free(buf);
        return NULL;
    }
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

static const char *type_name(enum cg_opt_type t)
{
    switch (t) {
    case CG_OPT_STRING:
        return "a string";
    case CG_OPT_INT:
        return "an integer";
    case CG_OPT_DOUBLE:
        return "a number";
    case CG_OPT_BOOL:
        return "true or false";
    case CG_OPT_ENUM:
        return "a string";
    default:
        return "a value";
    }
}

static void *member(void *target, const struct cg_opt *o)
{
    return (char *)target + o->offset;
}

static void set_string(void *target, const struct cg_opt *o, char *v)
{
    char **slot = member(target, o);
    free(*slot);
    *slot = v;
}

static int enum_index(const struct cg_opt *o, const char *s)
{
    for (int i = 0; o->choices && o->choices[i]; i++) {
        if (strcmp(o->choices[i], s) == 0) {
            return i;
        }
    }
    return -1;
}

/* The stored value of choice i: the table's own (values) or the position. */
static int enum_value(const struct cg_opt *o, int i)
{
    return o->values ? o->values[i] : i;
}

static size_t n_choices(const struct cg_opt *o)
{
    size_t n = 0;
    while (o->choices && o->choices[n]) {
        n++;
    }
    return n;
}


static size_t distance(const char *a, const char *b);

/* "must be one of a, b, c; got 'x' (did you mean 'b'?)" */
static void enum_error(const struct cg_opt *o, const cJSON *it, const char *p, struct cg_errs *errs)
{
    char list[512] = "";
    size_t ll = 0;
    for (int i = 0; o->choices && o->choices[i] && ll < sizeof(list) - 1; i++) {
        ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%s", i ? ", " : "", o->choices[i]);
    }
    if (!cJSON_IsString(it)) {
        cg_errs_add(errs, p, "must be one of %s", list);
        return;
    }
    const char *best = cg_conf_closest(it->valuestring, o->choices, n_choices(o));
    if (best != NULL && distance(it->valuestring, best) >= strlen(it->valuestring)) {
        best = NULL; /* nothing of the word kept ('h' -> 's'): not a typo of it */
    }
    cg_errs_add(errs, p, "must be one of %s; got '%s'%s%s%s", list, it->valuestring, best ? " (did you mean '" : "",
                best ? best : "", best ? "'?)" : "");
}

static void apply_default(const struct cg_opt *o, void *target)
{
    switch (o->type) {
    case CG_OPT_STRING:
        set_string(target, o, o->def ? strdup(o->def) : NULL);
        break;
    case CG_OPT_INT:
        *(int64_t *)member(target, o) = o->def ? strtoll(o->def, NULL, 10) : 0;
        break;
    case CG_OPT_DOUBLE:
        *(double *)member(target, o) = o->def ? strtod(o->def, NULL) : 0.0;
        break;
    case CG_OPT_BOOL:
        *(bool *)member(target, o) = o->def && strcmp(o->def, "true") == 0;
        break;
    case CG_OPT_ENUM:
        *(int *)member(target, o) = enum_value(o, o->def ? enum_index(o, o->def) : 0);
        break;
    default:
        break;
    }
}

/* Edit distance, for "did you mean" on unknown keys (names are short). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) {
        return 99;
    }
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = i;
    }
    for (size_t k = 0; k <= lb; k++) {
        d[0][k] = k;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t k = 1; k <= lb; k++) {
            size_t c = d[i - 1][k - 1] + (a[i - 1] != b[k - 1]);
            if (d[i - 1][k] + 1 < c) {
                c = d[i - 1][k] + 1;
            }
            if (d[i][k - 1] + 1 < c) {
                c = d[i][k - 1] + 1;
            }
            d[i][k] = c;
        }
    }
    return d[la][lb];
}

const char *cg_conf_closest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t bd = 3; /* at most two edits: a typo, not another word */
    for (size_t i = 0; word != NULL && i < n; i++) {
        size_t d = candidates[i] ? distance(word, candidates[i]) : 99;
        if (d < bd) {
            bd = d;
            best = candidates[i];
        }
    }
    return best;
}

static const struct cg_opt *find_opt(const struct cg_opt *table, const char *key, int *is_file)
{
    *is_file = 0;
    for (const struct cg_opt *o = table; o->name; o++) {
        if (strcmp(o->name, key) == 0) {
            return o;
        }
    }
    size_t kl = strlen(key);
    if (kl > 5 && strcmp(key + kl - 5, "_file") == 0) {
        for (const struct cg_opt *o = table; o->name; o++) {
            if ((o->flags & CG_OPT_SECRET) && strlen(o->name) == kl - 5 && strncmp(o->name, key, kl - 5) == 0) {
                *is_file = 1;
                return o;
            }
        }
    }
    return NULL;
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (v == floor(v) && fabs(v) < 1e18) {
        snprintf(buf, n, "%lld", (long long)v);
    } else {
        snprintf(buf, n, "%g", v);
    }
}

int cg_opt_parse(const struct cg_opt *table, const cJSON *obj, const char *path, void *target, struct cg_errs *errs)
{
    size_t before = cg_errs_count(errs);
    char p[512];
    for (const struct cg_opt *o = table; o->name; o++) {
        apply_default(o, target);
    }
    if (obj == NULL) { /* section absent: defaults, but required keys are missing */
        for (const struct cg_opt *o = table; o->name; o++) {
            if (o->type == CG_OPT_OBJECT && o->sub != NULL && !(o->flags & CG_OPT_MODULE)) {
                cg_path_key(p, sizeof(p), path, o->name);
                cg_opt_parse(o->sub, NULL, p, member(target, o), errs);
            }
            if (o->flags & CG_OPT_REQUIRED) {
                cg_path_key(p, sizeof(p), path, o->name);
                cg_errs_add(errs, p, "missing (required)");
            }
        }
        return cg_errs_count(errs) > before ? -EINVAL : 0;
    }
    if (cg_json_check_object(obj, path, errs) < 0 && !cJSON_IsObject(obj)) {
        return -EINVAL;
    }
    for (const cJSON *it = obj->child; it; it = it->next) {
        int is_file;
        cg_path_key(p, sizeof(p), path, it->string);
        const struct cg_opt *o = find_opt(table, it->string, &is_file);
        if (o == NULL) {
            const char *names[256];
            size_t nn = 0;
            for (const struct cg_opt *q = table; q->name && nn < 256; q++) {
                names[nn++] = q->name;
            }
            const char *best = cg_conf_closest(it->string, names, nn);
            if (best) {
                cg_errs_add(errs, p, "unknown key (did you mean '%s'?)", best);
            } else {
                cg_errs_add(errs, p, "unknown key");
            }
            continue;
        }
        if (o->type == CG_OPT_OTHER || o->type == CG_OPT_ARRAY || o->type == CG_OPT_MAP ||
            (o->type == CG_OPT_OBJECT && (o->flags & CG_OPT_MODULE))) {
            continue; /* the module reads it */
        }
        if (is_file) {
            if (!cJSON_IsString(it)) {
                cg_errs_add(errs, p, "must be a file name (string)");
                continue;
            }
            if (cJSON_GetObjectItemCaseSensitive(obj, o->name) != NULL) {
                cg_errs_add(errs, p, "give either %s or %s_file, not both", o->name, o->name);
                continue;
            }
            char *file = cg_conf_expand_env(it->valuestring, p, errs);
            if (file == NULL) {
                continue;
            }
            char *secret = cg_conf_read_secret(file, p, errs);
            free(file);
            if (secret != NULL) {
                set_string(target, o, secret);
            }
            continue;
        }
        switch (o->type) {
        case CG_OPT_STRING: {
            if (!cJSON_IsString(it)) {
                cg_errs_add(errs, p, "must be %s", type_name(o->type));
                break;
            }
            char *v = cg_conf_expand_env(it->valuestring, p, errs);
            if (v != NULL && v[0] == '\0' && (o->flags & CG_OPT_SECRET)) {
                /* "" (or an unset-looking ${VAR}) would let anyone in who
                 * sends an empty credential: no secret is written by leaving
                 * the key out, never by emptying it. */
                cg_errs_add(errs, p, "must not be empty%s; leave the key out for none",
                            strchr(it->valuestring, '$') ? " (its ${...} expands to \"\")" : "");
                free(v);
                break;
            }
            if (v != NULL) {
                set_string(target, o, v);
            }
            break;
        }
        case CG_OPT_INT: {
            char a[40], b[40], g[40];
            double v = it->valuedouble;
            if (!cJSON_IsNumber(it) || v != floor(v) || fabs(v) > 9.0e15) {
                cg_errs_add(errs, p, "must be an integer");
                break;
            }
            if (v < o->min || v > o->max) {
                fmt_num(a, sizeof(a), o->min);
                fmt_num(b, sizeof(b), o->max);
                fmt_num(g, sizeof(g), v);
                cg_errs_add(errs, p, "must be %s..%s, got %s", a, b, g);
                break;
            }
            *(int64_t *)member(target, o) = (int64_t)v;
            break;
        }
        case CG_OPT_DOUBLE: {
            char a[40], b[40], g[40];
            double v = it->valuedouble;
            if (!cJSON_IsNumber(it) || !isfinite(v)) {
                cg_errs_add(errs, p, "must be a number");
                break;
            }
            if (v < o->min || v > o->max) {
                fmt_num(a, sizeof(a), o->min);
                fmt_num(b, sizeof(b), o->max);
                fmt_num(g, sizeof(g), v);
                cg_errs_add(errs, p, "must be %s..%s, got %s", a, b, g);
                break;
            }
            *(double *)member(target, o) = v;
            break;
        }
        case CG_OPT_BOOL:
            if (!cJSON_IsBool(it)) {
                cg_errs_add(errs, p, "must be true or false");
                break;
            }
            *(bool *)member(target, o) = cJSON_IsTrue(it);
            break;
        case CG_OPT_ENUM: {
            int idx = cJSON_IsString(it) ? enum_index(o, it->valuestring) : -1;
            if (idx < 0) {
                enum_error(o, it, p, errs);
                break;
            }
            *(int *)member(target, o) = enum_value(o, idx);
            break;
        }
        case CG_OPT_OBJECT:
            if (o->sub != NULL) { /* not CG_OPT_MODULE: skipped above */
                cg_opt_parse(o->sub, it, p, member(target, o), errs);
            }
            break;
        default:
            break;
        }
    }
    for (const struct cg_opt *o = table; o->name; o++) {
        if (!(o->flags & CG_OPT_REQUIRED)) {
            continue;
        }
        int present = cJSON_GetObjectItemCaseSensitive(obj, o->name) != NULL;
        if (!present && (o->flags & CG_OPT_SECRET)) {
            char fk[256];
            snprintf(fk, sizeof(fk), "%s_file", o->name);
            present = cJSON_GetObjectItemCaseSensitive(obj, fk) != NULL;
        }
        if (!present) {
            cg_path_key(p, sizeof(p), path, o->name);
            cg_errs_add(errs, p, "missing (required)");
        }
    }
    return cg_errs_count(errs) > before ? -EINVAL : 0;
}

void cg_opt_free(const struct cg_opt *table, void *target)
{
    if (target == NULL) {
        return;
    }
    for (const struct cg_opt *o = table; o->name; o++) {
        if (o->type == CG_OPT_STRING) {
            set_string(target, o, NULL);
        } else if (o->type == CG_OPT_OBJECT && o->sub != NULL && !(o->flags & CG_OPT_MODULE)) {
            cg_opt_free(o->sub, member(target, o));
        }
    }
}

const struct cg_opt *cg_opt_find(const struct cg_opt *table, const char *name)
{
    for (const struct cg_opt *o = table; o && o->name; o++) {
        if (strcmp(o->name, name) == 0) {
            return o;
        }
    }
    return NULL;
}

/* Checks one map value against map->elem; fills item. 0 or -EINVAL (added). */
static int map_value(const struct cg_opt *map, const cJSON *it, struct cg_map_item *item, char **expanded,
                     struct cg_errs *errs)
{
    char a[40], b[40], g[40];
    const char *p = item->path;
    if (cJSON_IsNull(it) && (map->flags & CG_OPT_NULLABLE)) {
        return 0;
    }
    switch (map->elem) {
    case CG_OPT_STRING:
        if (!cJSON_IsString(it)) {
            cg_errs_add(errs, p, "must be a string%s", (map->flags & CG_OPT_NULLABLE) ? " or null" : "");
            return -EINVAL;
        }
        *expanded = cg_conf_expand_env(it->valuestring, p, errs);
        item->str = *expanded;
        return *expanded ? 0 : -EINVAL;
    case CG_OPT_INT:
    case CG_OPT_DOUBLE: {
        double v = it->valuedouble;
        bool isint = map->elem == CG_OPT_INT;
        if (!cJSON_IsNumber(it) || !isfinite(v) || (isint && (v != floor(v) || fabs(v) > 9.0e15))) {
            cg_errs_add(errs, p, "must be %s", isint ? "an integer" : "a number");
            return -EINVAL;
        }
        if (v < map->min || v > map->max) {
            fmt_num(a, sizeof(a), map->min);
            fmt_num(b, sizeof(b), map->max);
            fmt_num(g, sizeof(g), v);
            if (map->max >= 1e15) { /* "no upper limit" in practice: do not print one */
                cg_errs_add(errs, p, "must be at least %s, got %s", a, g);
            } else {
                cg_errs_add(errs, p, "must be %s..%s, got %s", a, b, g);
            }
            return -EINVAL;
        }
        item->num = v;
        return 0;
    }
    case CG_OPT_BOOL:
        if (!cJSON_IsBool(it)) {
            cg_errs_add(errs, p, "must be true or false");
            return -EINVAL;
        }
        item->num = cJSON_IsTrue(it);
        return 0;
    case CG_OPT_ENUM: {
        int idx = cJSON_IsString(it) ? enum_index(map, it->valuestring) : -1;
        if (idx < 0) {
            enum_error(map, it, p, errs);
            return -EINVAL;
        }
        item->idx = enum_value(map, idx);
        return 0;
    }
    case CG_OPT_OBJECT:
        if (!cJSON_IsObject(it)) {
            cg_errs_add(errs, p, "must be an object");
            return -EINVAL;
        }
        return 0;
    default:
        return 0;
    }
}

int cg_opt_parse_map(const struct cg_opt *map, const cJSON *obj, const char *path, cg_map_fn fn, void *ctx,
                     struct cg_errs *errs)
{
    size_t before = cg_errs_count(errs);
    char p[512];
    if (obj == NULL) {
        return 0;
    }
    if (cg_json_check_object(obj, path, errs) < 0 && !cJSON_IsObject(obj)) {
        return -EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(obj);
    if (map->max_items > 0 && n > map->max_items) {
        cg_errs_add(errs, path, "at most %zu entries, got %zu", map->max_items, n);
        return -EINVAL;
    }
    size_t i = 0;
    for (const cJSON *it = obj->child; it; it = it->next, i++) {
        cg_path_key(p, sizeof(p), path, it->string);
        if (it->string[0] == '\0') {
            cg_errs_add(errs, p, "empty key");
            continue;
        }
        struct cg_map_item item = {.key = it->string, .path = p, .json = it, .index = i};
        char *expanded = NULL;
        if (map_value(map, it, &item, &expanded, errs) < 0) {
            continue;
        }
        int rc = fn(ctx, &item, errs);
        free(expanded);
        if (rc < 0) {
            return rc;
        }
    }
    return cg_errs_count(errs) > before ? -EINVAL : 0;
}
