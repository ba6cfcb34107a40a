/* citygate — declarative config option tables, shared by the core and adapters.
 *
 * A module describes its options once, in a const table; cg_opt_parse() reads a
 * JSON object against it (types, bounds, enums, required keys, unknown and
 * duplicate keys, ${ENV} expansion, NAME_file secrets) and collects every error
 * with its JSON path, so `citygate --check-config` can list them all.
 * The same tables generate docs/config.md (`citygate --print-options`). */
#ifndef CITYGATE_CONFIG_H
#define CITYGATE_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- error list --------------------------------------------------------- */

#define CG_ERRS_MAX 200 /* past this, errors are counted, not stored */

struct cg_errs {
    char *msg[CG_ERRS_MAX]; /* owned; "path: message" */
    size_t n;
    size_t lost;
    /* msg[i] starts with a path of path_len[i] bytes (0: none), so the core can
     * say where that path is in the config file (gateway/conf_locate.h). */
    size_t path_len[CG_ERRS_MAX];
    /* Warnings: problems that leave the config usable (a secret file others
     * can read). Same "path: message" form; --check-config prints them and
     * the daemon logs them at start and on reload. Appended after path_len. */
    char *warn[CG_ERRS_MAX]; /* owned */
    size_t n_warn;
    /* Set by the core (gateway.secret_files: "refuse") before the sections
     * that read secrets: a secret file others can read is then an error. */
    bool refuse_open_secrets;
};

/* Adds "path: message" (just "message" when path is NULL or empty). Never fails
 * (an allocation failure is counted in lost). */
void cg_errs_add(struct cg_errs *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a warning (see warn above). Never fails. */
void cg_errs_warn(struct cg_errs *e, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t cg_errs_count(const struct cg_errs *e);
void cg_errs_done(struct cg_errs *e); /* frees the messages and warnings; e can be reused */

/* Builds "base.key" or "base[i]" into out (truncated safely). */
void cg_path_key(char *out, size_t outsz, const char *base, const char *key);
void cg_path_idx(char *out, size_t outsz, const char *base, size_t i);

/* ---- option tables ------------------------------------------------------ */

enum cg_opt_type {
    CG_OPT_STRING, /* char * (heap, owned by the target; NULL when unset) */
    CG_OPT_INT,    /* int64_t, bounds min..max */
    CG_OPT_DOUBLE, /* double, bounds min..max, finite */
    CG_OPT_BOOL,   /* bool */
    CG_OPT_ENUM,   /* int: index into choices */
    CG_OPT_OTHER,  /* parsed by the module itself; listed so it is not "unknown" */
    /* Beyond scalars. OBJECT is parsed by cg_opt_parse into the struct
     * embedded at offset, with the table sub. ARRAY and MAP are read by the
     * module (cg_opt_parse per element with sub; cg_opt_parse_map): the
     * table only describes them (docs, JSON Schema) and reserves the key. */
    CG_OPT_OBJECT, /* nested object: keys in sub (embedded struct at offset) */
    CG_OPT_ARRAY,  /* array: elements are objects with keys sub, or (sub NULL) of type elem */
    CG_OPT_MAP,    /* object of "any key": value; values of type elem (sub for OBJECT values) */
};

#define CG_OPT_REQUIRED 0x1u /* must be present (or NAME_file for secrets) */
#define CG_OPT_SECRET 0x2u   /* may come from NAME_file; never logged or printed; never "" */
#define CG_OPT_NULLABLE 0x4u /* MAP: a value may be null (passed to the callback as str NULL) */
#define CG_OPT_MODULE 0x8u   /* OBJECT: read by the module, not cg_opt_parse; the table describes it */

struct cg_opt {
    const char *name;
    enum cg_opt_type type;
    size_t offset;      /* offsetof(target struct, member); unused for OTHER */
    const char *def;    /* default as JSON-ish text ("5000", "true", "ns"); NULL: none */
    double min, max;    /* INT / DOUBLE bounds, inclusive */
    const char *const *choices; /* ENUM: NULL-terminated list */
    unsigned flags;
    const char *doc; /* one line for docs/config.md */
    /* Appended; positional initialisers above stay valid. */
    const struct cg_opt *sub; /* OBJECT: its keys; ARRAY / MAP: keys of each object element */
    enum cg_opt_type elem;    /* ARRAY / MAP: type of each element (min, max, choices apply to it) */
    size_t max_items;         /* ARRAY / MAP: most elements (0: no limit of the table's own) */
    size_t min_items;         /* ARRAY: fewest elements */
    /* ENUM: the value stored for choices[i] (NULL: i). Lets a table say
     * "inherit" = -1 instead of the module shifting positions by hand. */
    const int *values;
};

/* Keys that mean the same thing in several modules are defined once, here,
 * with one set of limits (docs/config.md, "Shared keys"). off: offsetof the
 * int64_t member. A reconnect delay below 100 ms hammers a device or broker
 * that is down (10 attempts a second per source); both adapters used to take
 * reconnect_max_ms down to 10 (Modbus) or 100 (MQTT): 100 is the floor now
 * for both delays' ceiling, and reconnect_min_ms keeps 10 so a test or a
 * local broker can reconnect quickly on the first attempts. */
#define CG_OPT_RECONNECT_MIN_MS(off)                                                                           \
    {.name = "reconnect_min_ms", .type = CG_OPT_INT, .offset = (off), .def = "500", .min = 10, .max = 600000, \
     .doc = "first reconnect delay; doubles on each failure up to reconnect_max_ms"}
#define CG_OPT_RECONNECT_MAX_MS(off)                                                                            \
    {.name = "reconnect_max_ms", .type = CG_OPT_INT, .offset = (off), .def = "30000", .min = 100, .max = 3600000, \
     .doc = "longest reconnect delay (at least reconnect_min_ms)"}
/* MQTT connections (the MQTT source and the MQTT uplink output). */
#define CG_OPT_MQTT_KEEPALIVE_S(off)                                                                  \
    {.name = "keepalive_s", .type = CG_OPT_INT, .offset = (off), .def = "30", .min = 5, .max = 3600, \
     .doc = "keep-alive interval"}
#define CG_OPT_MQTT_CONNECT_TIMEOUT_S(off)                                                                 \
    {.name = "connect_timeout_s", .type = CG_OPT_INT, .offset = (off), .def = "10", .min = 1, .max = 300, \
     .doc = "time allowed for TCP + TLS + CONNACK"}
/* The rows of an MQTT "tls" object; T has members ca_file, cert_file,
 * key_file, key_password (char *) and verify (bool). */
#define CG_OPT_MQTT_TLS_ROWS(T)                                                                                \
    {.name = "ca_file", .type = CG_OPT_STRING, .offset = offsetof(T, ca_file),                                \
     .doc = "PEM CA bundle to verify the broker (default: system store)"},                                   \
        {.name = "cert_file", .type = CG_OPT_STRING, .offset = offsetof(T, cert_file),                        \
         .doc = "PEM client certificate (mutual TLS)"},                                                      \
        {.name = "key_file", .type = CG_OPT_STRING, .offset = offsetof(T, key_file), .doc = "PEM client key"}, \
        {.name = "key_password", .type = CG_OPT_STRING, .offset = offsetof(T, key_password),                  \
         .flags = CG_OPT_SECRET, .doc = "password of an encrypted key (or key_password_file)"},               \
        {.name = "verify", .type = CG_OPT_BOOL, .offset = offsetof(T, verify), .def = "true",                 \
         .doc = "verify the broker certificate and host name"}

#define CG_OPT_END {.name = NULL}

/* Applies the table's defaults, then reads obj. Every problem is added to errs
 * with its path (base path `path`). Returns 0, or -EINVAL if any error was added
 * by this call. The target must start zeroed; free it with cg_opt_free(). */
int cg_opt_parse(const struct cg_opt *table, const cJSON *obj, const char *path, void *target,
                 struct cg_errs *errs);
/* Frees the STRING members the table owns in target, OBJECT members'
 * included (NULL-safe). */
void cg_opt_free(const struct cg_opt *table, void *target);

/* ---- string maps ---------------------------------------------------------- */

/* One entry of a map read by cg_opt_parse_map, borrowed for the callback. */
struct cg_map_item {
    const char *key;   /* the JSON key (never "") */
    const char *path;  /* "path.key", for errors */
    const char *str;   /* STRING: the value, ${ENV} expanded; NULL for null (CG_OPT_NULLABLE) */
    double num;        /* INT / DOUBLE: the value, within the entry's min..max */
    int idx;           /* ENUM: the value (values[i] or the choice's position) */
    const cJSON *json; /* the raw value (OBJECT: read it with the entry's sub table) */
    size_t index;      /* 0 for the first entry */
};

/* Called once per well-typed entry; adds its own errors (a name that is not a
 * schema name) to errs. A negative return stops the walk. */
typedef int (*cg_map_fn)(void *ctx, const struct cg_map_item *item, struct cg_errs *errs);

/* The one reader of "name": value objects (tags, renames, per-field numbers,
 * per-quantity policies): map is its CG_OPT_MAP table entry. Checks obj is an
 * object with no duplicate keys, at most map->max_items entries and no empty
 * key; each value has map->elem's type (STRING: ${ENV} expanded; INT / DOUBLE:
 * within min..max; ENUM: a choice by name, with "did you mean"; OBJECT: an
 * object; null only with CG_OPT_NULLABLE). Errors name "path.key". obj NULL
 * (key absent) is 0 with no call. Returns 0, -EINVAL when an error was added,
 * or the callback's negative return. */
int cg_opt_parse_map(const struct cg_opt *map, const cJSON *obj, const char *path, cg_map_fn fn, void *ctx,
                     struct cg_errs *errs);

/* The table entry called name (NULL: none), e.g. to hand a MAP entry to
 * cg_opt_parse_map. */
const struct cg_opt *cg_opt_find(const struct cg_opt *table, const char *name);

/* Writes a JSON Schema (draft 2020-12) object describing a table's keys
 * into out (an object): "type", "properties", "required",
 * "additionalProperties": false, and the NAME_file forms of secrets.
 * 0 or -ENOMEM. */
int cg_opt_schema(const struct cg_opt *table, cJSON *out);

/* For "did you mean" on names that are not option keys (a profile's field
 * names, schema names, device names): the candidate within two edits of word,
 * the closest one, or NULL. cg_opt_parse uses it for unknown keys; adapters
 * use it for their own names, e.g.
 *   const char *s = cg_conf_closest(name, fields, n);
 *   cg_errs_add(errs, p, "'%s' is not a field of profile '%s'%s%s%s", name, prof,
 *               s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : ""); */
const char *cg_conf_closest(const char *word, const char *const *candidates, size_t n);

/* Checks obj is an object with no duplicate keys; adds errors. 0 or -EINVAL. */
int cg_json_check_object(const cJSON *obj, const char *path, struct cg_errs *errs);

/* Expands ${NAME} (and $$ -> $) in s. Returns a heap string, or NULL with an
 * error added (undefined variable, unterminated reference). */
char *cg_conf_expand_env(const char *s, const char *path, struct cg_errs *errs);

/* Reads a secret file: whole content, one trailing newline stripped, at most
 * 64 KiB. Heap string or NULL with an error added. A file that others (or a
 * group citygate does not run as) may read or write adds a warning, or an
 * error when errs->refuse_open_secrets is set. */
char *cg_conf_read_secret(const char *file, const char *path, struct cg_errs *errs);

#endif
