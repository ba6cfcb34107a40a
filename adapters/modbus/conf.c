/* citygate modbus — profiles, devices and the source section, parsed with
 * declarative option tables. No logging: errors go to cg_errs with paths. */
#include "conf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATHSZ 512

static const char *const order_choices[] = {"ABCD", "CDAB", "BADC", "DCBA", NULL};
static const char *const table_choices[] = {"coil", "discrete", "input", "holding", NULL};
static const char *const type_choices[] = {"bool",   "int8",    "uint8",   "int16",  "uint16",
                                           "int32",  "uint32",  "int64",   "uint64", "float32",
                                           "float64", "string", "bits",    NULL};
static const char *const byte_choices[] = {"high", "low", NULL};
static const char *const output_choices[] = {"auto", "float", "int", "bool", "string", NULL};
static const char *const transport_choices[] = {"tcp", "rtu", "rtu_over_tcp", NULL};
static const char *const parity_choices[] = {"none", "even", "odd", NULL};
static const char *const rts_choices[] = {"none", "up", "down", NULL};
static const char *const budget_choices[] = {"warn", "refuse", "error", NULL}; /* error: old name of refuse */

/* ---- settings shared by profiles and devices ------------------------------ */

/* X(member, type, min, max, choices, doc) — order = bit in cg_mb_settings.set */
#define CG_MB_SETTINGS(X)                                                                                  \
    X(measurement, CG_OPT_STRING, 0, 0, NULL, "measurement for the device's fields")                         \
    X(byte_order, CG_OPT_ENUM, 0, 0, order_choices, "default byte order of multi-register values")           \
    X(address_base, CG_OPT_INT, 0, 1, NULL, "0: protocol addresses; 1: the 1-based numbers of manuals")      \
    X(poll_interval_ms, CG_OPT_INT, 10, 86400000, NULL, "how often the device is read")                    \
    X(max_registers_per_read, CG_OPT_INT, 1, 125, NULL, "largest register read the device accepts")          \
    X(max_bits_per_read, CG_OPT_INT, 1, 2000, NULL, "largest coil/discrete read the device accepts")         \
    X(max_gap_registers, CG_OPT_INT, 0, 123, NULL, "largest hole of unused registers read to save a request") \
    X(max_gap_bits, CG_OPT_INT, 0, 1999, NULL, "largest hole of unused bits read to save a request")         \
    X(one_request_per_field, CG_OPT_BOOL, 0, 0, NULL, "quirk: read each field on its own")                   \
    X(pause_after_connect_ms, CG_OPT_INT, 0, 60000, NULL, "quirk: wait after connecting before the first read") \
    X(pause_between_requests_ms, CG_OPT_INT, 0, 60000, NULL, "quirk: wait between two reads")                \
    X(close_after_poll, CG_OPT_BOOL, 0, 0, NULL, "quirk: disconnect after each poll (TCP)")                  \
    X(response_timeout_ms, CG_OPT_INT, 10, 10000, NULL, "per-device response timeout")                       \
    X(retries, CG_OPT_INT, 0, 10, NULL, "per-device retries of a failed read")

#define SETTING_NAME(m, t, lo, hi, ch, doc) #m,
static const char *const setting_names[] = {CG_MB_SETTINGS(SETTING_NAME) NULL};

#define SETTING_OPT(BASE, m, t, lo, hi, ch, text)                                                             \
    {.name = #m, .type = t, .offset = offsetof(BASE, s) + offsetof(struct cg_mb_settings, m), .def = NULL,   \
     .min = lo, .max = hi, .choices = ch, .doc = text},

/* ---- raw option structs --------------------------------------------------- */

struct reg_raw {
    char *name;
    int table;
    int64_t address;
    int type;
    int byte_order;
    int64_t bit, bits;
    int byte;
    int64_t registers, chars_per_register;
    double scale, offset;
    int output;
    char *unit, *description, *measurement, *group;
    bool counter;
};

const struct cg_opt cg_mb_register_options[] = {
    {"name", CG_OPT_STRING, offsetof(struct reg_raw, name), NULL, 0, 0, NULL, CG_OPT_REQUIRED, "field key"},
    {"table", CG_OPT_ENUM, offsetof(struct reg_raw, table), "holding", 0, 0, table_choices, 0,
     "coil (FC1), discrete (FC2), input (FC4) or holding (FC3)"},
    {"address", CG_OPT_INT, offsetof(struct reg_raw, address), NULL, 0, 65536, NULL, CG_OPT_REQUIRED,
     "first register (or bit), in the address base in force"},
    {"type", CG_OPT_ENUM, offsetof(struct reg_raw, type), NULL, 0, 0, type_choices, 0,
     "value type (default uint16 for registers, bool for bits)"},
    {"byte_order", CG_OPT_ENUM, offsetof(struct reg_raw, byte_order), NULL, 0, 0, order_choices, 0,
     "byte order of this value (default: the device's)"},
    {"bit", CG_OPT_INT, offsetof(struct reg_raw, bit), "0", 0, 15, NULL, 0, "bool/bits: lowest bit"},
    {"bits", CG_OPT_INT, offsetof(struct reg_raw, bits), "1", 1, 16, NULL, 0, "bits: width"},
    {"byte", CG_OPT_ENUM, offsetof(struct reg_raw, byte), "high", 0, 0, byte_choices, 0,
     "int8/uint8, and strings with one character per register: which byte"},
    {"registers", CG_OPT_INT, offsetof(struct reg_raw, registers), "0", 1, CG_MB_STRING_MAX_REGS, NULL, 0,
     "string: length in registers"},
    {"chars_per_register", CG_OPT_INT, offsetof(struct reg_raw, chars_per_register), "2", 1, 2, NULL, 0,
     "string: 1 or 2"},
    {"scale", CG_OPT_DOUBLE, offsetof(struct reg_raw, scale), "1", -1e12, 1e12, NULL, 0, "value = raw * scale + offset"},
    {"offset", CG_OPT_DOUBLE, offsetof(struct reg_raw, offset), "0", -1e12, 1e12, NULL, 0, "added after scale"},
    {"output", CG_OPT_ENUM, offsetof(struct reg_raw, output), "auto", 0, 0, output_choices, 0,
     "field type written (auto: float when scaled or floating, else int)"},
    {"unit", CG_OPT_STRING, offsetof(struct reg_raw, unit), NULL, 0, 0, NULL, 0, "unit, for people (docs, plan, probe)"},
    {"description", CG_OPT_STRING, offsetof(struct reg_raw, description), NULL, 0, 0, NULL, 0, "free text"},
    {"measurement", CG_OPT_STRING, offsetof(struct reg_raw, measurement), NULL, 0, 0, NULL, 0,
     "measurement for this field (default: the device's)"},
    {.name = "tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .doc = "tags of this field's point (e.g. lane)"},
    {"range", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "[min, max] plausible values (probe, simulator)"},
    {"counter", CG_OPT_BOOL, offsetof(struct reg_raw, counter), "false", 0, 0, NULL, 0,
     "a monotonic total (energy, volume, vehicles)"},
    {"group", CG_OPT_STRING, offsetof(struct reg_raw, group), NULL, 0, 0, NULL, 0,
     "poll group (one of poll_groups): read at that group's interval"},
    CG_OPT_END,
};

struct forbid_raw {
    int table;
    int64_t from, to;
};

static const struct cg_opt forbid_opts[] = {
    {"table", CG_OPT_ENUM, offsetof(struct forbid_raw, table), NULL, 0, 0, table_choices, CG_OPT_REQUIRED, "table"},
    {"from", CG_OPT_INT, offsetof(struct forbid_raw, from), NULL, 0, 65536, NULL, CG_OPT_REQUIRED, "first address"},
    {"to", CG_OPT_INT, offsetof(struct forbid_raw, to), NULL, 0, 65536, NULL, 0, "last address (default: from)"},
    CG_OPT_END,
};

struct profile_raw {
    char *name, *description, *reference, *manufacturer, *model;
    struct cg_mb_settings s;
};

static const struct cg_opt profile_opts[] = {
    {"profile", CG_OPT_STRING, offsetof(struct profile_raw, name), NULL, 0, 0, NULL, 0, "must equal the file name"},
    {"description", CG_OPT_STRING, offsetof(struct profile_raw, description), NULL, 0, 0, NULL, 0, "free text"},
    {"reference", CG_OPT_STRING, offsetof(struct profile_raw, reference), NULL, 0, 0, NULL, 0,
     "the published register map followed"},
    {"manufacturer", CG_OPT_STRING, offsetof(struct profile_raw, manufacturer), NULL, 0, 0, NULL, 0, "free text"},
    {"model", CG_OPT_STRING, offsetof(struct profile_raw, model), NULL, 0, 0, NULL, 0, "free text"},
    {.name = "tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .doc = "tags of every point"},
    {"registers", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, CG_OPT_REQUIRED, "the register map"},
    {"forbidden", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "addresses never to read"},
    {"poll_groups", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "named register groups with their own poll_interval_ms: {\"energy\": {\"poll_interval_ms\": 60000}}"},
#define P_SET(m, t, lo, hi, ch, text) SETTING_OPT(struct profile_raw, m, t, lo, hi, ch, text)
    CG_MB_SETTINGS(P_SET)
    CG_OPT_END,
};

struct device_raw {
    char *name, *profile, *host;
    int64_t unit_id, port;
    struct cg_mb_settings s;
};

const struct cg_opt cg_mb_device_options[] = {
    {"name", CG_OPT_STRING, offsetof(struct device_raw, name), NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "device name (tag device=...)"},
    {"unit_id", CG_OPT_INT, offsetof(struct device_raw, unit_id), "1", 0, 255, NULL, 0,
     "Modbus unit id (RTU: 1..247)"},
    {"profile", CG_OPT_STRING, offsetof(struct device_raw, profile), NULL, 0, 0, NULL, 0, "profile name"},
    {"host", CG_OPT_STRING, offsetof(struct device_raw, host), NULL, 0, 0, NULL, 0,
     "TCP: this device's own host (own connection)"},
    {"port", CG_OPT_INT, offsetof(struct device_raw, port), "0", 1, 65535, NULL, 0, "TCP: this device's own port"},
    {.name = "tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING, .doc = "tags of this device's points"},
    {"registers", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "registers added to (or replacing) the profile's"},
    {"exclude", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "profile field names not to read"},
    {"forbidden", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "more addresses never to read"},
    {"poll_groups", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "override a profile group's poll_interval_ms, or define groups for this device's registers"},
#define D_SET(m, t, lo, hi, ch, text) SETTING_OPT(struct device_raw, m, t, lo, hi, ch, text)
    CG_MB_SETTINGS(D_SET)
    CG_OPT_END,
};

const struct cg_opt cg_mb_source_options[] = {
    {"type", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "\"modbus\""},
    {"name", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "source name"},
    {"transport", CG_OPT_ENUM, offsetof(struct cg_mb_source, transport), NULL, 0, 0, transport_choices,
     CG_OPT_REQUIRED, "tcp, rtu, or rtu_over_tcp (RTU frames over a TCP socket: serial device servers)"},
    {"host", CG_OPT_STRING, offsetof(struct cg_mb_source, host), NULL, 0, 0, NULL, 0, "TCP: host (IPv4 or name)"},
    {"port", CG_OPT_INT, offsetof(struct cg_mb_source, port), "502", 1, 65535, NULL, 0, "TCP: port"},
    {"device", CG_OPT_STRING, offsetof(struct cg_mb_source, device), NULL, 0, 0, NULL, 0,
     "RTU: serial device, e.g. /dev/ttyUSB0 (prefer /dev/serial/by-id/...)"},
    {"baud", CG_OPT_INT, offsetof(struct cg_mb_source, baud), "9600", 300, 4000000, NULL, 0, "RTU: baud rate"},
    {"parity", CG_OPT_ENUM, offsetof(struct cg_mb_source, parity), "none", 0, 0, parity_choices, 0, "RTU: parity"},
    {"data_bits", CG_OPT_INT, offsetof(struct cg_mb_source, data_bits), "8", 7, 8, NULL, 0, "RTU: data bits"},
    {"stop_bits", CG_OPT_INT, offsetof(struct cg_mb_source, stop_bits), "1", 1, 2, NULL, 0, "RTU: stop bits"},
    {"rs485", CG_OPT_BOOL, offsetof(struct cg_mb_source, rs485), "false", 0, 0, NULL, 0,
     "RTU: switch the UART to RS-485 mode (TIOCSRS485)"},
    {"rts", CG_OPT_ENUM, offsetof(struct cg_mb_source, rts), "none", 0, 0, rts_choices, 0,
     "RTU: drive RTS for direction control (up/down = level while sending)"},
    {"rts_delay_us", CG_OPT_INT, offsetof(struct cg_mb_source, rts_delay_us), "0", 0, 100000, NULL, 0,
     "RTU: RTS delay"},
    {"response_timeout_ms", CG_OPT_INT, offsetof(struct cg_mb_source, response_timeout_ms), "1000", 10, 10000, NULL,
     0, "time to wait for the first byte of a response"},
    {"byte_timeout_ms", CG_OPT_INT, offsetof(struct cg_mb_source, byte_timeout_ms), "100", 1, 10000, NULL, 0,
     "time allowed between two bytes of a response"},
    {"retries", CG_OPT_INT, offsetof(struct cg_mb_source, retries), "1", 0, 10, NULL, 0,
     "retries of a failed read (timeouts, busy, garbage)"},
    {"inter_frame_gap_us", CG_OPT_INT, offsetof(struct cg_mb_source, inter_frame_gap_us), "-1", -1, 1000000, NULL,
     0, "silence kept between frames; -1: 3.5 characters on RTU (1750 us above 19200 baud), 0 on TCP"},
    CG_OPT_RECONNECT_MIN_MS(offsetof(struct cg_mb_source, reconnect_min_ms)),
    CG_OPT_RECONNECT_MAX_MS(offsetof(struct cg_mb_source, reconnect_max_ms)),
    {"quarantine_after", CG_OPT_INT, offsetof(struct cg_mb_source, quarantine_after), "3", 0, 1000, NULL, 0,
     "failed polls in a row before a device is skipped for quarantine_ms (0: never)"},
    {"quarantine_ms", CG_OPT_INT, offsetof(struct cg_mb_source, quarantine_ms), "60000", 100, 86400000, NULL, 0,
     "how long a quarantined device is skipped"},
    {"poll_interval_ms", CG_OPT_INT, offsetof(struct cg_mb_source, poll_interval_ms), "10000", 10, 86400000, NULL,
     0, "default poll interval of the devices"},
    {"pause_between_requests_ms", CG_OPT_INT, offsetof(struct cg_mb_source, pause_between_requests_ms), "0", 0,
     60000, NULL, 0, "silence between any two requests on this bus (RTU-over-TCP converters)"},
    {"stagger", CG_OPT_BOOL, offsetof(struct cg_mb_source, stagger), "true", 0, 0, NULL, 0,
     "spread the devices' first polls over their interval"},
    {"health", CG_OPT_BOOL, offsetof(struct cg_mb_source, health), "true", 0, 0, NULL, 0,
     "write a health point per device and poll"},
    {"health_measurement", CG_OPT_STRING, offsetof(struct cg_mb_source, health_measurement), "citygate_device", 0,
     0, NULL, 0, "measurement of the health points"},
    {"budget_check", CG_OPT_ENUM, offsetof(struct cg_mb_source, budget_check), "warn", 0, 0, budget_choices, 0,
     "when a bus cannot fit its polls in their intervals: warn (also from --check-config, exit 0), or refuse the config"},
    {"emit_timeout_ms", CG_OPT_INT, offsetof(struct cg_mb_source, emit_timeout_ms), "1000", 0, 60000, NULL, 0,
     "how long a poll waits for room in the gateway's buffer"},
    {"profile_dirs", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "where profiles are looked up (default: <config dir>/profiles, /usr/share/citygate/profiles)"},
    {"devices", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, CG_OPT_REQUIRED, "the devices"},
    CG_OPT_END,
};

/* ---- helpers -------------------------------------------------------------- */

static void mark_set(const cJSON *obj, struct cg_mb_settings *s)
{
    for (unsigned i = 0; setting_names[i]; i++) {
        if (cJSON_GetObjectItemCaseSensitive(obj, setting_names[i])) {
            s->set |= 1u << i;
        }
    }
}

static bool merge_one(void *dst, const void *src, size_t sz, enum cg_opt_type t)
{
    if (t == CG_OPT_STRING) {
        char **d = dst;
        char *const *from = src;
        char *c = *from ? strdup(*from) : NULL;
        if (*from && !c) {
            return false;
        }
        free(*d);
        *d = c;
        return true;
    }
    memcpy(dst, src, sz);
    return true;
}

static int merge_settings(struct cg_mb_settings *dst, const struct cg_mb_settings *src)
{
#define MERGE(m, t, lo, hi, ch, doc)                                                                           \
    if (src->set & (1u << bit)) {                                                                              \
        if (!merge_one(&dst->m, &src->m, sizeof dst->m, t)) {                                                  \
            return -ENOMEM;                                                                                    \
        }                                                                                                      \
        dst->set |= 1u << bit;                                                                                 \
    }                                                                                                          \
    bit++;
    unsigned bit = 0;
    CG_MB_SETTINGS(MERGE)
#undef MERGE
    return 0;
}

static void free_settings(struct cg_mb_settings *s)
{
    free(s->measurement);
    s->measurement = NULL;
}

static void free_tags(struct cg_tag *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free((char *)t[i].key);
        free((char *)t[i].value);
    }
    free(t);
}

static bool name_ok(const char *s)
{
    return s && s[0] && strlen(s) < CG_POINT_MAX_NAME;
}

/* A "tags" object of a field, profile or device: read by the core's one map
 * reader (cg_opt_parse_map: types, duplicates, ${ENV}), the rules below are
 * Modbus's own. */
static const struct cg_opt tag_map = {.name = "tags", .type = CG_OPT_MAP, .elem = CG_OPT_STRING};

struct tags_out {
    struct cg_tag **t;
    size_t *n;
};

static int add_tag(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct tags_out *o = ctx;
    struct cg_tag **t = o->t;
    size_t *n = o->n;
    if (!name_ok(it->key) || strlen(it->str) >= CG_POINT_MAX_TAG_VALUE) {
        cg_errs_add(errs, it->path, "tag key must be 1..%d bytes, value below %d bytes", CG_POINT_MAX_NAME - 1,
                    CG_POINT_MAX_TAG_VALUE);
        return 0;
    }
    size_t i;
    for (i = 0; i < *n && strcmp((*t)[i].key, it->key) != 0; i++) {
    }
    if (i == *n) {
        if (*n >= CG_MB_MAX_TAGS) {
            cg_errs_add(errs, it->path, "more than %d tags", CG_MB_MAX_TAGS);
            return -EINVAL;
        }
        struct cg_tag *nt = realloc(*t, (*n + 1) * sizeof *nt);
        if (!nt) {
            return -ENOMEM;
        }
        *t = nt;
        nt[i].key = strdup(it->key);
        nt[i].value = NULL;
        (*n)++;
        if (!nt[i].key) {
            return -ENOMEM;
        }
    }
    char *v = strdup(it->str);
    if (!v) {
        return -ENOMEM;
    }
    free((char *)(*t)[i].value); /* later wins: instance over profile */
    (*t)[i].value = v;
    return 0;
}

/* Appends the tags of a JSON object to (*t, *n). */
static int parse_tags(const cJSON *obj, const char *path, struct cg_tag **t, size_t *n, struct cg_errs *errs)
{
    struct tags_out o = {.t = t, .n = n};
    return cg_opt_parse_map(&tag_map, obj, path, add_tag, &o, errs);
}

static int copy_tags(struct cg_tag **dst, size_t *nd, const struct cg_tag *src, size_t ns)
{
    for (size_t i = 0; i < ns; i++) {
        size_t k;
        for (k = 0; k < *nd && strcmp((*dst)[k].key, src[i].key) != 0; k++) {
        }
        if (k == *nd) {
            struct cg_tag *nt = realloc(*dst, (*nd + 1) * sizeof *nt);
            if (!nt) {
                return -ENOMEM;
            }
            *dst = nt;
            nt[k].key = strdup(src[i].key);
            nt[k].value = NULL;
            (*nd)++;
            if (!nt[k].key) {
                return -ENOMEM;
            }
        }
        char *v = strdup(src[i].value);
        if (!v) {
            return -ENOMEM;
        }
        free((char *)(*dst)[k].value);
        (*dst)[k].value = v;
    }
    return 0;
}

static void field_done(struct cg_mb_field *f)
{
    free(f->name);
    free(f->measurement);
    free(f->unit);
    free(f->description);
    free(f->group_name);
    free_tags(f->tags, f->n_tags);
    memset(f, 0, sizeof *f);
}

static int field_copy(struct cg_mb_field *dst, const struct cg_mb_field *src)
{
    *dst = *src;
    dst->name = dst->measurement = dst->unit = dst->description = dst->group_name = NULL;
    dst->tags = NULL;
    dst->n_tags = 0;
    if (!(dst->name = strdup(src->name)) || (src->measurement && !(dst->measurement = strdup(src->measurement))) ||
        (src->unit && !(dst->unit = strdup(src->unit))) ||
        (src->description && !(dst->description = strdup(src->description))) ||
        (src->group_name && !(dst->group_name = strdup(src->group_name))) ||
        copy_tags(&dst->tags, &dst->n_tags, src->tags, src->n_tags) < 0) {
        field_done(dst);
        return -ENOMEM;
    }
    return 0;
}

/* Two fields are "the same" (a device register replaces a profile one) when
 * name, measurement and tags agree. */
static bool same_field(const struct cg_mb_field *a, const struct cg_mb_field *b)
{
    if (strcmp(a->name, b->name) != 0) {
        return false;
    }
    if ((a->measurement == NULL) != (b->measurement == NULL) ||
        (a->measurement && strcmp(a->measurement, b->measurement) != 0) || a->n_tags != b->n_tags) {
        return false;
    }
    for (size_t i = 0; i < a->n_tags; i++) {
        size_t k;
        for (k = 0; k < b->n_tags; k++) {
            if (strcmp(a->tags[i].key, b->tags[k].key) == 0) {
                break;
            }
        }
        if (k == b->n_tags || strcmp(a->tags[i].value, b->tags[k].value) != 0) {
            return false;
        }
    }
    return true;
}

/* ---- poll groups ---------------------------------------------------------- */

static const struct cg_opt poll_group_opts[] = {
    {"poll_interval_ms", CG_OPT_INT, offsetof(struct cg_mb_poll_group, poll_interval_ms), NULL, 10, 86400000, NULL,
     CG_OPT_REQUIRED, "interval of this group's reads"},
    CG_OPT_END,
};

static void free_groups(struct cg_mb_poll_group *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++) {
        free(g[i].name);
    }
    free(g);
}

/* Edit distance of two short names (did you mean). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la > 63 || lb > 63) {
        return 99;
    }
    for (size_t k = 0; k <= lb; k++) {
        row[k] = k;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t k = 1; k <= lb; k++) {
            size_t up = row[k];
            size_t c = diag + (a[i - 1] != b[k - 1]);
            c = up + 1 < c ? up + 1 : c;
            c = row[k - 1] + 1 < c ? row[k - 1] + 1 : c;
            row[k] = c;
            diag = up;
        }
    }
    return row[lb];
}

/* The named group closest to name (at most 2 edits away), or NULL. */
static const char *closest_group(const char *name, const struct cg_mb_poll_group *g, size_t n)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = g[i].name ? edit_distance(name, g[i].name) : 99;
        if (d < bd) {
            bd = d;
            best = g[i].name;
        }
    }
    return best;
}

static size_t find_group(const char *name, const struct cg_mb_poll_group *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (g[i].name && strcmp(g[i].name, name) == 0) {
            return i;
        }
    }
    return n;
}

/* {"name": {"poll_interval_ms": N}, ...} appended to (*out, *n). */
static int parse_poll_groups(const cJSON *obj, const char *path, struct cg_mb_poll_group **out, size_t *n,
                             struct cg_errs *errs)
{
    char p[PATHSZ];
    if (!obj) {
        return 0;
    }
    if (!cJSON_IsObject(obj) || cJSON_GetArraySize(obj) > CG_MB_MAX_POLL_GROUPS) {
        cg_errs_add(errs, path, "must be an object of at most %d groups: {\"energy\": {\"poll_interval_ms\": 60000}}",
                    CG_MB_MAX_POLL_GROUPS);
        return -EINVAL;
    }
    struct cg_mb_poll_group *g = calloc((size_t)cJSON_GetArraySize(obj) + 1, sizeof *g);
    if (!g) {
        return -ENOMEM;
    }
    size_t k = 0;
    for (const cJSON *it = obj->child; it; it = it->next) {
        cg_path_key(p, sizeof p, path, it->string);
        if (!name_ok(it->string)) {
            cg_errs_add(errs, p, "a group name must be 1..%d bytes", CG_POINT_MAX_NAME - 1);
            continue;
        }
        struct cg_mb_poll_group one = {0};
        if (cg_opt_parse(poll_group_opts, it, p, &one, errs) < 0) {
            continue;
        }
        if (!(one.name = strdup(it->string))) {
            free_groups(g, k);
            return -ENOMEM;
        }
        g[k++] = one;
    }
    *out = g;
    *n = k;
    return 0;
}

/* ---- registers ------------------------------------------------------------ */

static int parse_register(const cJSON *obj, const char *path, int address_base, int default_order,
                          struct cg_mb_field *f, struct cg_errs *errs)
{
    struct reg_raw r = {0};
    char p[PATHSZ];
    size_t before = cg_errs_count(errs);
    int rc = 0;

    memset(f, 0, sizeof *f);
    cg_opt_parse(cg_mb_register_options, obj, path, &r, errs);
    if (cg_errs_count(errs) > before) {
        goto out;
    }
    bool bits_table = cg_mb_table_is_bits((enum cg_mb_table)r.table);
    bool has_type = cJSON_GetObjectItemCaseSensitive(obj, "type") != NULL;
    enum cg_mb_type type = has_type ? (enum cg_mb_type)r.type : (bits_table ? CG_MB_BOOL : CG_MB_UINT16);
#define HAS(k) (cJSON_GetObjectItemCaseSensitive(obj, k) != NULL)
    if (!name_ok(r.name)) {
        cg_path_key(p, sizeof p, path, "name");
        cg_errs_add(errs, p, "must be 1..%d bytes", CG_POINT_MAX_NAME - 1);
    }
    if (r.address < address_base) {
        cg_path_key(p, sizeof p, path, "address");
        cg_errs_add(errs, p, "must be >= %d with address_base %d, got %lld", address_base, address_base,
                    (long long)r.address);
    }
    if (bits_table && type != CG_MB_BOOL) {
        cg_path_key(p, sizeof p, path, "type");
        cg_errs_add(errs, p, "a %s holds bits: type must be bool, got %s", table_choices[r.table], type_choices[type]);
    }
    if (HAS("bit") && !(type == CG_MB_BITS || (type == CG_MB_BOOL && !bits_table))) {
        cg_path_key(p, sizeof p, path, "bit");
        cg_errs_add(errs, p, "only for bool in a register and for bits");
    }
    if (HAS("bits") && type != CG_MB_BITS) {
        cg_path_key(p, sizeof p, path, "bits");
        cg_errs_add(errs, p, "only for type bits");
    }
    if (type == CG_MB_BITS && r.bit + r.bits > 16) {
        cg_path_key(p, sizeof p, path, "bits");
        cg_errs_add(errs, p, "bit %lld + bits %lld runs past bit 15", (long long)r.bit, (long long)r.bits);
    }
    if (HAS("byte") && !(type == CG_MB_INT8 || type == CG_MB_UINT8 || type == CG_MB_STRING)) {
        cg_path_key(p, sizeof p, path, "byte");
        cg_errs_add(errs, p, "only for int8, uint8 and string");
    }
    if (type == CG_MB_STRING && !HAS("registers")) {
        cg_path_key(p, sizeof p, path, "registers");
        cg_errs_add(errs, p, "missing (required for strings)");
    }
    if ((HAS("registers") || HAS("chars_per_register")) && type != CG_MB_STRING) {
        cg_path_key(p, sizeof p, path, HAS("registers") ? "registers" : "chars_per_register");
        cg_errs_add(errs, p, "only for strings");
    }
    if (r.scale == 0) {
        cg_path_key(p, sizeof p, path, "scale");
        cg_errs_add(errs, p, "must not be 0");
    }
    bool scaled = r.scale != 1 || r.offset != 0;
    if ((type == CG_MB_BOOL || type == CG_MB_STRING) && (scaled || (r.output != CG_MB_OUT_AUTO &&
                                                                    r.output != (type == CG_MB_BOOL
                                                                                     ? CG_MB_OUT_BOOL
                                                                                     : CG_MB_OUT_STRING)))) {
        cg_path_key(p, sizeof p, path, scaled ? "scale" : "output");
        cg_errs_add(errs, p, "a %s cannot be scaled or converted", type_choices[type]);
    } else if (type != CG_MB_BOOL && type != CG_MB_STRING &&
               (r.output == CG_MB_OUT_BOOL || r.output == CG_MB_OUT_STRING)) {
        cg_path_key(p, sizeof p, path, "output");
        cg_errs_add(errs, p, "a number is written as float or int, not %s", output_choices[r.output]);
    }
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(obj, "range");
    if (range) {
        cg_path_key(p, sizeof p, path, "range");
        if (!cJSON_IsArray(range) || cJSON_GetArraySize(range) != 2 || !cJSON_IsNumber(range->child) ||
            !cJSON_IsNumber(range->child->next) || !(range->child->valuedouble < range->child->next->valuedouble)) {
            cg_errs_add(errs, p, "must be [min, max] with min < max");
        } else {
            f->has_range = true;
            f->range_lo = range->child->valuedouble;
            f->range_hi = range->child->next->valuedouble;
        }
    }
    cg_path_key(p, sizeof p, path, "tags");
    rc = parse_tags(cJSON_GetObjectItemCaseSensitive(obj, "tags"), p, &f->tags, &f->n_tags, errs);
    if (rc == -ENOMEM) {
        goto out;
    }
    rc = 0;
    if (cg_errs_count(errs) > before) {
        goto out;
    }
#undef HAS
    f->name = r.name;
    r.name = NULL;
    f->measurement = r.measurement;
    r.measurement = NULL;
    f->unit = r.unit;
    r.unit = NULL;
    f->description = r.description;
    r.description = NULL;
    f->table = (enum cg_mb_table)r.table;
    f->address = (uint32_t)(r.address - address_base);
    f->layout = (struct cg_mb_layout){
        .type = type,
        .order = (enum cg_mb_order)(cJSON_GetObjectItemCaseSensitive(obj, "byte_order") ? r.byte_order
                                                                                         : default_order),
        .bit = (uint8_t)r.bit,
        .bits = (uint8_t)(type == CG_MB_BITS ? r.bits : 0),
        .low_byte = r.byte == 1,
        .chars_per_reg = (uint8_t)r.chars_per_register,
        .regs = (uint16_t)(type == CG_MB_STRING ? r.registers : 0),
    };
    f->order_set = cJSON_GetObjectItemCaseSensitive(obj, "byte_order") != NULL;
    f->scale = r.scale;
    f->offset = r.offset;
    f->counter = r.counter;
    f->group_name = r.group;
    r.group = NULL;
    f->reg_index = -1;
    if (r.output != CG_MB_OUT_AUTO) {
        f->output = (enum cg_mb_output)r.output;
    } else if (type == CG_MB_BOOL) {
        f->output = CG_MB_OUT_BOOL;
    } else if (type == CG_MB_STRING) {
        f->output = CG_MB_OUT_STRING;
    } else if (type == CG_MB_FLOAT32 || type == CG_MB_FLOAT64 || scaled) {
        f->output = CG_MB_OUT_FLOAT;
    } else {
        f->output = CG_MB_OUT_INT;
    }
out:
    cg_opt_free(cg_mb_register_options, &r);
    if (cg_errs_count(errs) > before || rc < 0) {
        field_done(f);
        return rc < 0 ? rc : -EINVAL;
    }
    return 0;
}

/* Parses a "registers" array, merging into (*fields, *n): a register equal
 * to an existing one (name, measurement, tags) replaces it. */
static int parse_registers(const cJSON *arr, const char *path, int address_base, int default_order,
                           bool replace, struct cg_mb_field **fields, size_t *n, struct cg_errs *errs)
{
    char p[PATHSZ];
    int rc = 0, i = 0;
    if (!arr) {
        return 0;
    }
    if (!cJSON_IsArray(arr)) {
        cg_errs_add(errs, path, "must be an array of registers");
        return -EINVAL;
    }
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        struct cg_mb_field f;
        cg_path_idx(p, sizeof p, path, (size_t)i);
        int e = parse_register(it, p, address_base, default_order, &f, errs);
        if (e == 0 && replace) {
            f.reg_index = i; /* the device's own: errors about it name its path */
        }
        if (e < 0) {
            rc = e == -ENOMEM ? e : (rc ? rc : e);
            if (e == -ENOMEM) {
                return e;
            }
            continue;
        }
        size_t k;
        for (k = 0; k < *n && !same_field(&(*fields)[k], &f); k++) {
        }
        if (k < *n && !replace) {
            cg_errs_add(errs, p, "field '%s' is defined twice (same measurement and tags)", f.name);
            field_done(&f);
            rc = -EINVAL;
            continue;
        }
        if (k < *n) {
            field_done(&(*fields)[k]);
            (*fields)[k] = f;
            continue;
        }
        if (*n >= CG_MB_MAX_FIELDS) {
            cg_errs_add(errs, p, "more than %d fields", CG_MB_MAX_FIELDS);
            field_done(&f);
            return -EINVAL;
        }
        struct cg_mb_field *nf = realloc(*fields, (*n + 1) * sizeof *nf);
        if (!nf) {
            field_done(&f);
            return -ENOMEM;
        }
        *fields = nf;
        nf[(*n)++] = f;
    }
    return rc;
}

static int parse_forbidden(const cJSON *arr, const char *path, int address_base, struct cg_mb_forbid **out,
                           size_t *n, struct cg_errs *errs)
{
    char p[PATHSZ];
    int i = 0, rc = 0;
    if (!arr) {
        return 0;
    }
    if (!cJSON_IsArray(arr)) {
        cg_errs_add(errs, path, "must be an array of {\"table\", \"from\", \"to\"}");
        return -EINVAL;
    }
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        struct forbid_raw r = {0};
        cg_path_idx(p, sizeof p, path, (size_t)i);
        if (cg_opt_parse(forbid_opts, it, p, &r, errs) < 0) {
            rc = -EINVAL;
            continue;
        }
        if (!cJSON_GetObjectItemCaseSensitive(it, "to")) {
            r.to = r.from;
        }
        if (r.from < address_base || r.to < r.from) {
            cg_errs_add(errs, p, "must have %d <= from <= to, got %lld..%lld", address_base, (long long)r.from,
                        (long long)r.to);
            rc = -EINVAL;
            continue;
        }
        struct cg_mb_forbid *nf = realloc(*out, (*n + 1) * sizeof *nf);
        if (!nf) {
            return -ENOMEM;
        }
        *out = nf;
        nf[(*n)++] = (struct cg_mb_forbid){.table = (enum cg_mb_table)r.table,
                                           .from = (uint32_t)(r.from - address_base),
                                           .to = (uint32_t)(r.to - address_base)};
    }
    return rc;
}

/* ---- profiles ------------------------------------------------------------- */

void cg_mb_profile_free(struct cg_mb_profile *p)
{
    if (!p) {
        return;
    }
    free(p->name);
    free(p->file);
    free(p->description);
    free(p->reference);
    free_settings(&p->settings);
    free_tags(p->tags, p->n_tags);
    for (size_t i = 0; i < p->n_fields; i++) {
        field_done(&p->fields[i]);
    }
    free(p->fields);
    free(p->forbid);
    free_groups(p->groups, p->n_groups);
    free(p);
}

int cg_mb_profile_parse(const cJSON *doc, const char *name, const char *file, struct cg_mb_profile **out,
                        struct cg_errs *errs)
{
    struct profile_raw r = {0};
    struct cg_mb_profile *p = NULL;
    char path[PATHSZ];
    size_t before = cg_errs_count(errs);
    int rc = 0;

    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p || !(p->name = strdup(name)) || !(p->file = strdup(file))) {
        rc = -ENOMEM;
        goto fail;
    }
    snprintf(path, sizeof path, "%s", file);
    /* keep going after errors in the profile's own keys: list its registers' too */
    cg_opt_parse(profile_opts, doc, path, &r, errs);
    if (!cJSON_IsObject(doc)) {
        goto fail;
    }
    if (r.name && strcmp(r.name, name) != 0) {
        cg_errs_add(errs, path, "declares profile '%s' but is named '%s'", r.name, name);
    }
    mark_set(doc, &r.s);
    p->settings = r.s;
    r.s.measurement = NULL;
    p->description = r.description;
    r.description = NULL;
    p->reference = r.reference;
    r.reference = NULL;
    int base = (r.s.set & (1u << 2)) ? (int)p->settings.address_base : 0;
    int order = (r.s.set & (1u << 1)) ? p->settings.byte_order : CG_MB_ABCD;
    char sub[PATHSZ];
    cg_path_key(sub, sizeof sub, path, "tags");
    if ((rc = parse_tags(cJSON_GetObjectItemCaseSensitive(doc, "tags"), sub, &p->tags, &p->n_tags, errs)) ==
        -ENOMEM) {
        goto fail;
    }
    cg_path_key(sub, sizeof sub, path, "registers");
    if ((rc = parse_registers(cJSON_GetObjectItemCaseSensitive(doc, "registers"), sub, base, order, false,
                              &p->fields, &p->n_fields, errs)) == -ENOMEM) {
        goto fail;
    }
    cg_path_key(sub, sizeof sub, path, "forbidden");
    if ((rc = parse_forbidden(cJSON_GetObjectItemCaseSensitive(doc, "forbidden"), sub, base, &p->forbid,
                              &p->n_forbid, errs)) == -ENOMEM) {
        goto fail;
    }
    cg_path_key(sub, sizeof sub, path, "poll_groups");
    if ((rc = parse_poll_groups(cJSON_GetObjectItemCaseSensitive(doc, "poll_groups"), sub, &p->groups,
                                &p->n_groups, errs)) == -ENOMEM) {
        goto fail;
    }
    for (size_t i = 0; i < p->n_fields; i++) {
        const char *g = p->fields[i].group_name;
        if (g && find_group(g, p->groups, p->n_groups) == p->n_groups) {
            const char *near = closest_group(g, p->groups, p->n_groups);
            cg_errs_add(errs, path, "register '%s': no poll group '%s' in poll_groups%s%s%s", p->fields[i].name, g,
                        near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        }
    }
    rc = 0;
    if (cg_errs_count(errs) > before) {
        goto fail;
    }
    cg_opt_free(profile_opts, &r);
    *out = p;
    return 0;
fail:
    cg_opt_free(profile_opts, &r);
    cg_mb_profile_free(p);
    return rc < 0 ? rc : -EINVAL;
}

static char *read_file(const char *file, int *err)
{
    char *buf = NULL;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CG_MB_MAX_PROFILE_BYTES) {
        *err = -EFBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        *err = -ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) {
                continue;
            }
            *err = k < 0 ? -errno : -EIO;
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)k;
    }
    buf[got] = '\0';
out:
    close(fd);
    return buf;
}

static bool profile_name_ok(const char *s)
{
    if (!s || !s[0] || strlen(s) > 64) {
        return false;
    }
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.')) {
            return false;
        }
    }
    return true;
}

int cg_mb_profile_load(const char *name, char *const *dirs, size_t n_dirs, const char *errpath,
                       struct cg_mb_profile **out, struct cg_errs *errs)
{
    char file[PATH_MAX];
    *out = NULL;
    if (!profile_name_ok(name) || name[0] == '.') {
        cg_errs_add(errs, errpath, "profile name must be 1..64 of [A-Za-z0-9_.-], got '%s'", name ? name : "");
        return -EINVAL;
    }
    for (size_t i = 0; i < n_dirs; i++) {
        int err = 0;
        snprintf(file, sizeof file, "%s/%s.json", dirs[i], name);
        char *text = read_file(file, &err);
        if (!text) {
            if (err == -ENOENT || err == -ENOTDIR) {
                continue;
            }
            cg_errs_add(errs, errpath, "cannot read profile %s: %s", file, strerror(-err));
            return err;
        }
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithOpts(text, &end, true);
        if (!doc) {
            size_t off = end ? (size_t)(end - text) : 0;
            unsigned line = 1;
            for (size_t k = 0; k < off; k++) {
                line += text[k] == '\n';
            }
            cg_errs_add(errs, errpath, "profile %s: invalid JSON near line %u", file, line);
            free(text);
            return -EINVAL;
        }
        free(text);
        int rc = cg_mb_profile_parse(doc, name, file, out, errs);
        cJSON_Delete(doc);
        return rc;
    }
    char list[1024] = "", near[80] = "";
    size_t ll = 0, best = 3;
    for (size_t i = 0; i < n_dirs && ll < sizeof list - 1; i++) {
        ll += (size_t)snprintf(list + ll, sizeof list - ll, "%s%s", i ? ", " : "", dirs[i]);
        if (ll >= sizeof list) {
            ll = sizeof list - 1;
        }
        /* did you mean: the closest profile file in the same directories */
        DIR *dir = opendir(dirs[i]);
        struct dirent *de;
        while (dir && (de = readdir(dir)) != NULL) {
            size_t len = strlen(de->d_name);
            char cand[80];
            if (len <= 5 || len - 5 >= sizeof cand || strcmp(de->d_name + len - 5, ".json") != 0) {
                continue;
            }
            memcpy(cand, de->d_name, len - 5);
            cand[len - 5] = '\0';
            size_t d = edit_distance(name, cand);
            if (d < best) {
                best = d;
                snprintf(near, sizeof near, "%s", cand);
            }
        }
        if (dir) {
            closedir(dir);
        }
    }
    cg_errs_add(errs, errpath, "profile '%s' not found in %s%s%s%s", name, list, near[0] ? " (did you mean '" : "",
                near, near[0] ? "'?)" : "");
    return -ENOENT;
}

/* ---- devices and source --------------------------------------------------- */

static void device_done(struct cg_mb_device *d)
{
    free(d->name);
    free(d->profile);
    free(d->host);
    free_settings(&d->s);
    free_tags(d->tags, d->n_tags);
    for (size_t i = 0; i < d->n_fields; i++) {
        field_done(&d->fields[i]);
    }
    free(d->fields);
    free(d->forbid);
    free_groups(d->groups, d->n_groups);
    cg_mb_plan_done(&d->plan);
}

void cg_mb_source_free(struct cg_mb_source *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n_devices; i++) {
        device_done(&s->devices[i]);
    }
    free(s->devices);
    for (size_t i = 0; i < s->n_profile_dirs; i++) {
        free(s->profile_dirs[i]);
    }
    cg_opt_free(cg_mb_source_options, s);
    free(s);
}

struct profile_cache {
    struct cg_mb_profile **p;
    size_t n;
    char **failed; /* names that did not load: their errors are listed once */
    size_t n_failed;
};

static int cached_profile(struct profile_cache *c, const struct cg_mb_source *s, const char *name,
                          const char *errpath, struct cg_mb_profile **out, struct cg_errs *errs)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->p[i]->name, name) == 0) {
            *out = c->p[i];
            return 0;
        }
    }
    for (size_t i = 0; i < c->n_failed; i++) {
        if (strcmp(c->failed[i], name) == 0) {
            *out = NULL;
            return -EINVAL;
        }
    }
    int rc = cg_mb_profile_load(name, s->profile_dirs, s->n_profile_dirs, errpath, out, errs);
    if (rc < 0) {
        char **nf = rc == -ENOMEM ? NULL : realloc(c->failed, (c->n_failed + 1) * sizeof *nf);
        if (nf) {
            c->failed = nf;
            if ((nf[c->n_failed] = strdup(name)) != NULL) {
                c->n_failed++;
            }
        }
        return rc;
    }
    struct cg_mb_profile **np = realloc(c->p, (c->n + 1) * sizeof *np);
    if (!np) {
        cg_mb_profile_free(*out);
        *out = NULL;
        return -ENOMEM;
    }
    c->p = np;
    np[c->n++] = *out;
    return 0;
}

/* The device's poll groups: [0] the default (its poll_interval_ms), then the
 * profile's, with the device's overrides; a group the device names that the
 * profile lacks is its own, for its own registers. Every field gets its index. */
static int resolve_groups(const cJSON *obj, const char *path, const struct cg_mb_profile *prof,
                          struct cg_mb_device *d, struct cg_errs *errs)
{
    char p[PATHSZ], gp[PATHSZ];
    struct cg_mb_poll_group *own = NULL;
    size_t n_own = 0, n_prof = prof ? prof->n_groups : 0;
    int rc = 0;

    cg_path_key(p, sizeof p, path, "poll_groups");
    if ((rc = parse_poll_groups(cJSON_GetObjectItemCaseSensitive(obj, "poll_groups"), p, &own, &n_own, errs)) ==
        -ENOMEM) {
        return rc;
    }
    rc = 0;
    if (!(d->groups = calloc(1 + n_prof + n_own, sizeof *d->groups))) {
        rc = -ENOMEM;
        goto out;
    }
    d->groups[d->n_groups++] = (struct cg_mb_poll_group){.name = NULL, .poll_interval_ms = d->s.poll_interval_ms};
    for (size_t i = 0; i < n_prof; i++) {
        if (!(d->groups[d->n_groups].name = strdup(prof->groups[i].name))) {
            rc = -ENOMEM;
            goto out;
        }
        d->groups[d->n_groups++].poll_interval_ms = prof->groups[i].poll_interval_ms;
    }
    for (size_t k = 0; k < n_own; k++) {
        size_t g = find_group(own[k].name, d->groups, d->n_groups);
        if (g < d->n_groups) {
            d->groups[g].poll_interval_ms = own[k].poll_interval_ms;
            continue;
        }
        bool used = false;
        for (size_t i = 0; i < d->n_fields; i++) {
            used |= d->fields[i].reg_index >= 0 && d->fields[i].group_name &&
                    strcmp(d->fields[i].group_name, own[k].name) == 0;
        }
        if (!used) {
            const char *near = closest_group(own[k].name, d->groups, d->n_groups);
            cg_path_key(gp, sizeof gp, p, own[k].name);
            char where[300];
            snprintf(where, sizeof where, prof ? "profile '%s'" : "%s", prof ? prof->name : "this device's registers");
            cg_errs_add(errs, gp, "no poll group '%s' in %s%s%s%s", own[k].name, where,
                        near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            continue;
        }
        d->groups[d->n_groups++] = own[k];
        own[k].name = NULL;
    }
    for (size_t i = 0; i < d->n_fields; i++) {
        struct cg_mb_field *f = &d->fields[i];
        if (!f->group_name) {
            f->group = 0;
            continue;
        }
        size_t g = find_group(f->group_name, d->groups, d->n_groups);
        if (g == d->n_groups) {
            const char *near = closest_group(f->group_name, d->groups, d->n_groups);
            if (f->reg_index >= 0) {
                char rp[PATHSZ], ri[PATHSZ];
                cg_path_key(rp, sizeof rp, path, "registers");
                cg_path_idx(ri, sizeof ri, rp, (size_t)f->reg_index);
                cg_path_key(gp, sizeof gp, ri, "group");
            } else {
                snprintf(gp, sizeof gp, "%s", path);
            }
            cg_errs_add(errs, gp, "no poll group '%s': define it in poll_groups%s%s%s", f->group_name,
                        near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            continue;
        }
        f->group = (unsigned)g;
    }
out:
    free_groups(own, n_own);
    return rc;
}

static int parse_device(const cJSON *obj, const char *path, struct cg_mb_source *s, struct profile_cache *cache,
                        struct cg_mb_device *d, struct cg_errs *errs)
{
    struct device_raw r = {0};
    struct cg_mb_profile *prof = NULL;
    char p[PATHSZ];
    size_t before = cg_errs_count(errs);
    int rc = 0;

    /* keep going after errors in the device's own keys: one --check-config run
     * lists its profile's and registers' problems too */
    if (cg_opt_parse(cg_mb_device_options, obj, path, &r, errs) < 0 && !cJSON_IsObject(obj)) {
        goto out;
    }
    mark_set(obj, &r.s);
    if (!name_ok(r.name) || strlen(r.name) >= CG_POINT_MAX_TAG_VALUE) {
        cg_path_key(p, sizeof p, path, "name");
        cg_errs_add(errs, p, "must be 1..%d bytes", CG_POINT_MAX_NAME - 1);
    }
    if (s->transport != CG_MB_TCP && (r.unit_id < 1 || r.unit_id > 247)) {
        cg_path_key(p, sizeof p, path, "unit_id");
        cg_errs_add(errs, p, "must be 1..247, got %lld", (long long)r.unit_id);
    }
    if (s->transport == CG_MB_TCP && r.unit_id > 247 && r.unit_id != 255) {
        cg_path_key(p, sizeof p, path, "unit_id");
        cg_errs_add(errs, p, "must be 0..247 or 255 on TCP, got %lld", (long long)r.unit_id);
    }
    if (s->transport == CG_MB_RTU && (r.host || cJSON_GetObjectItemCaseSensitive(obj, "port"))) {
        cg_path_key(p, sizeof p, path, r.host ? "host" : "port");
        cg_errs_add(errs, p, "only for transport tcp (an RTU bus is one serial device)");
    }
    if (cg_mb_is_network(s->transport) && !r.host && !s->host) {
        cg_path_key(p, sizeof p, path, "host");
        cg_errs_add(errs, p, "missing: give the source's host or each device's");
    }
    if (r.profile) {
        cg_path_key(p, sizeof p, path, "profile");
        rc = cached_profile(cache, s, r.profile, p, &prof, errs);
        if (rc == -ENOMEM) {
            goto out;
        }
        rc = 0;
    }

    /* effective settings: built-in defaults < source < profile < instance */
    d->s = (struct cg_mb_settings){
        .byte_order = CG_MB_ABCD,
        .poll_interval_ms = s->poll_interval_ms,
        .max_registers_per_read = CG_MB_MAX_READ_REGS,
        .max_bits_per_read = CG_MB_MAX_READ_BITS,
        .response_timeout_ms = s->response_timeout_ms,
        .retries = s->retries,
    };
    if ((prof && merge_settings(&d->s, &prof->settings) < 0) || merge_settings(&d->s, &r.s) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    if (!d->s.measurement && !(d->s.measurement = strdup(prof ? prof->name : "modbus"))) {
        rc = -ENOMEM;
        goto out;
    }
    if (!name_ok(d->s.measurement)) {
        cg_path_key(p, sizeof p, path, "measurement");
        cg_errs_add(errs, p, "must be 1..%d bytes", CG_POINT_MAX_NAME - 1);
    }
    d->measurement = d->s.measurement;
    d->order = (enum cg_mb_order)d->s.byte_order;
    d->name = r.name;
    r.name = NULL;
    d->profile = r.profile;
    r.profile = NULL;
    d->host = r.host;
    r.host = NULL;
    d->port = (int)(r.port ? r.port : s->port);
    d->unit_id = (int)r.unit_id;

    /* tags: device=<name>, then profile tags, then instance tags */
    struct cg_tag dev_tag = {.key = "device", .value = d->name ? d->name : "?"}; /* no name: already an error */
    if (copy_tags(&d->tags, &d->n_tags, &dev_tag, 1) < 0 ||
        (prof && copy_tags(&d->tags, &d->n_tags, prof->tags, prof->n_tags) < 0)) {
        rc = -ENOMEM;
        goto out;
    }
    cg_path_key(p, sizeof p, path, "tags");
    if (parse_tags(cJSON_GetObjectItemCaseSensitive(obj, "tags"), p, &d->tags, &d->n_tags, errs) == -ENOMEM) {
        rc = -ENOMEM;
        goto out;
    }

    /* fields: the profile's (a byte_order override applies to those that did not
     * set their own), minus excluded ones, then the instance's registers */
    const cJSON *exclude = cJSON_GetObjectItemCaseSensitive(obj, "exclude");
    cg_path_key(p, sizeof p, path, "exclude");
    if (exclude && !cJSON_IsArray(exclude)) {
        cg_errs_add(errs, p, "must be an array of field names");
        exclude = NULL;
    }
    for (const cJSON *e = exclude ? exclude->child : NULL; e; e = e->next) {
        bool found = false;
        for (size_t i = 0; prof && cJSON_IsString(e) && i < prof->n_fields; i++) {
            found |= strcmp(prof->fields[i].name, e->valuestring) == 0;
        }
        if (!found && (prof || !d->profile)) { /* a profile that failed to load has said so */
            cg_errs_add(errs, p, "'%s' is not a field of profile '%s'", cJSON_IsString(e) ? e->valuestring : "?",
                        d->profile ? d->profile : "(none)");
        }
    }
    for (size_t i = 0; prof && i < prof->n_fields; i++) {
        bool skip = false;
        for (const cJSON *e = exclude ? exclude->child : NULL; e; e = e->next) {
            skip |= cJSON_IsString(e) && strcmp(prof->fields[i].name, e->valuestring) == 0;
        }
        if (skip) {
            continue;
        }
        struct cg_mb_field *nf = realloc(d->fields, (d->n_fields + 1) * sizeof *nf);
        if (!nf) {
            rc = -ENOMEM;
            goto out;
        }
        d->fields = nf;
        if (field_copy(&nf[d->n_fields], &prof->fields[i]) < 0) {
            rc = -ENOMEM;
            goto out;
        }
        d->n_fields++;
    }
    if ((r.s.set & (1u << 1)) && prof) {
        /* the instance says the whole device uses another order: re-apply it to
         * fields whose order came from the profile default */
        for (size_t i = 0; i < d->n_fields; i++) {
            if (!d->fields[i].order_set) {
                d->fields[i].layout.order = d->order;
            }
        }
    }
    cg_path_key(p, sizeof p, path, "registers");
    if (parse_registers(cJSON_GetObjectItemCaseSensitive(obj, "registers"), p, (int)d->s.address_base, d->order,
                        true, &d->fields, &d->n_fields, errs) == -ENOMEM) {
        rc = -ENOMEM;
        goto out;
    }
    if (d->n_fields == 0 && (prof || !d->profile) && cg_errs_count(errs) == before) { /* else the profile said why */
        cg_errs_add(errs, path, "no registers: name a profile or list registers");
    }
    if (prof && prof->n_forbid) {
        if (!(d->forbid = malloc(prof->n_forbid * sizeof *d->forbid))) {
            rc = -ENOMEM;
            goto out;
        }
        memcpy(d->forbid, prof->forbid, prof->n_forbid * sizeof *d->forbid);
        d->n_forbid = prof->n_forbid;
    }
    cg_path_key(p, sizeof p, path, "forbidden");
    if (parse_forbidden(cJSON_GetObjectItemCaseSensitive(obj, "forbidden"), p, (int)d->s.address_base, &d->forbid,
                        &d->n_forbid, errs) == -ENOMEM) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = resolve_groups(obj, path, prof, d, errs)) < 0) {
        goto out;
    }
    if (cg_errs_count(errs) > before) {
        goto out;
    }

    /* the plan, and what it would be without merging */
    struct cg_mb_span *spans = calloc(d->n_fields, sizeof *spans);
    if (!spans) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < d->n_fields; i++) {
        spans[i] = (struct cg_mb_span){.table = d->fields[i].table,
                                       .address = d->fields[i].address,
                                       .count = cg_mb_layout_words(&d->fields[i].layout),
                                       .group = d->fields[i].group};
    }
    struct cg_mb_plan_limits lim = {.max_regs = (unsigned)d->s.max_registers_per_read,
                                    .max_bits = (unsigned)d->s.max_bits_per_read,
                                    .max_gap_regs = (unsigned)d->s.max_gap_registers,
                                    .max_gap_bits = (unsigned)d->s.max_gap_bits,
                                    .one_per_field = d->s.one_request_per_field};
    size_t bad = 0;
    int e = cg_mb_plan_build(spans, d->n_fields, d->forbid, d->n_forbid, &lim, &d->plan, &bad);
    if (e == 0) {
        struct cg_mb_plan single;
        lim.one_per_field = true;
        if (cg_mb_plan_build(spans, d->n_fields, NULL, 0, &lim, &single, NULL) == 0) {
            d->plan_per_field = single.n_req;
            cg_mb_plan_done(&single);
        }
    }
    free(spans);
    if (e == -ENOMEM) {
        rc = e;
        goto out;
    }
    if (e < 0) {
        const struct cg_mb_field *f = &d->fields[bad];
        unsigned base = (unsigned)d->s.address_base;
        cg_errs_add(errs, path, "field '%s' (%s %u, %u %s): %s", f->name, table_choices[f->table], f->address + base,
                    cg_mb_layout_words(&f->layout), cg_mb_table_is_bits(f->table) ? "bits" : "registers",
                    e == -ERANGE  ? "runs past address 65535"
                    : e == -E2BIG ? "longer than max_registers_per_read / max_bits_per_read"
                                  : "covers an address marked forbidden");
    }
out:
    cg_opt_free(cg_mb_device_options, &r);
    if (rc < 0) {
        return rc;
    }
    return cg_errs_count(errs) > before ? -EINVAL : 0;
}

/* A field of y that reads a register some field of x reads too, or NULL. */
static const struct cg_mb_field *shared_register(const struct cg_mb_device *x, const struct cg_mb_device *y)
{
    for (size_t i = 0; i < y->n_fields; i++) {
        const struct cg_mb_field *f = &y->fields[i];
        uint32_t f_end = f->address + cg_mb_layout_words(&f->layout);
        for (size_t k = 0; k < x->n_fields; k++) {
            const struct cg_mb_field *g = &x->fields[k];
            if (g->table == f->table && g->address < f_end && f->address < g->address + cg_mb_layout_words(&g->layout)) {
                return f;
            }
        }
    }
    return NULL;
}

static void profile_cache_done(struct profile_cache *c)
{
    for (size_t k = 0; k < c->n; k++) {
        cg_mb_profile_free(c->p[k]);
    }
    free(c->p);
    for (size_t k = 0; k < c->n_failed; k++) {
        free(c->failed[k]);
    }
    free(c->failed);
}

int cg_mb_source_parse(const cJSON *conf, const char *path, const char *config_dir, struct cg_mb_source **out,
                       struct cg_errs *errs)
{
    struct cg_mb_source *s = NULL;
    struct profile_cache cache = {0};
    char p[PATHSZ];
    size_t before = cg_errs_count(errs);
    int rc = 0;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s) {
        return -ENOMEM;
    }
    /* keep going after errors in the source's own keys, so that one run of
     * --check-config lists the devices' problems too */
    cg_opt_parse(cg_mb_source_options, conf, path, s, errs);
    if (!cJSON_IsObject(conf)) {
        goto fail;
    }
    if (s->transport == CG_MB_RTU && !s->device) {
        cg_path_key(p, sizeof p, path, "device");
        cg_errs_add(errs, p, "missing (required for transport rtu)");
    }
    if (cg_mb_is_network(s->transport) && s->device) {
        cg_path_key(p, sizeof p, path, "device");
        cg_errs_add(errs, p, "only for transport rtu");
    }
    if (s->reconnect_max_ms < s->reconnect_min_ms) {
        cg_path_key(p, sizeof p, path, "reconnect_max_ms");
        cg_errs_add(errs, p, "must be >= reconnect_min_ms (%lld), got %lld", (long long)s->reconnect_min_ms,
                    (long long)s->reconnect_max_ms);
    }
    if (!name_ok(s->health_measurement)) {
        cg_path_key(p, sizeof p, path, "health_measurement");
        cg_errs_add(errs, p, "must be 1..%d bytes", CG_POINT_MAX_NAME - 1);
    }
    const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(conf, "profile_dirs");
    cg_path_key(p, sizeof p, path, "profile_dirs");
    if (dirs) {
        if (!cJSON_IsArray(dirs) || cJSON_GetArraySize(dirs) < 1 || cJSON_GetArraySize(dirs) > CG_MB_MAX_PROFILE_DIRS) {
            cg_errs_add(errs, p, "must be an array of 1..%d directories", CG_MB_MAX_PROFILE_DIRS);
        }
        for (const cJSON *d = cJSON_IsArray(dirs) ? dirs->child : NULL;
             d && s->n_profile_dirs < CG_MB_MAX_PROFILE_DIRS; d = d->next) {
            if (!cJSON_IsString(d) || !d->valuestring[0]) {
                cg_errs_add(errs, p, "entries must be directory names");
                continue;
            }
            char *x = cg_conf_expand_env(d->valuestring, p, errs);
            if (!x) {
                continue;
            }
            if (x[0] != '/' && config_dir) {
                char *abs = NULL;
                if (asprintf(&abs, "%s/%s", config_dir, x) < 0) {
                    abs = NULL;
                }
                free(x);
                x = abs;
                if (!x) {
                    rc = -ENOMEM;
                    goto fail;
                }
            }
            s->profile_dirs[s->n_profile_dirs++] = x;
        }
    } else {
        char *a = NULL;
        if (asprintf(&a, "%s/profiles", config_dir ? config_dir : ".") < 0) {
            rc = -ENOMEM;
            goto fail;
        }
        s->profile_dirs[s->n_profile_dirs++] = a;
        if (!(s->profile_dirs[s->n_profile_dirs++] = strdup("/usr/share/citygate/profiles"))) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(conf, "devices");
    cg_path_key(p, sizeof p, path, "devices");
    if (!cJSON_IsArray(devs) || cJSON_GetArraySize(devs) < 1 || cJSON_GetArraySize(devs) > CG_MB_MAX_DEVICES) {
        cg_errs_add(errs, p, "must be an array of 1..%d devices", CG_MB_MAX_DEVICES);
        goto fail;
    }
    s->devices = calloc((size_t)cJSON_GetArraySize(devs), sizeof *s->devices);
    if (!s->devices) {
        rc = -ENOMEM;
        goto fail;
    }
    size_t i = 0;
    for (const cJSON *d = devs->child; d; d = d->next, i++) {
        char dp[PATHSZ];
        cg_path_idx(dp, sizeof dp, p, i);
        struct cg_mb_device *dev = &s->devices[s->n_devices++];
        if (parse_device(d, dp, s, &cache, dev, errs) == -ENOMEM) {
            rc = -ENOMEM;
            goto fail;
        }
        for (size_t k = 0; dev->name && k + 1 < s->n_devices; k++) {
            const struct cg_mb_device *o = &s->devices[k];
            if (o->name && strcmp(o->name, dev->name) == 0) {
                cg_errs_add(errs, dp, "name '%s' is already used by devices[%zu]", dev->name, k);
            }
            bool same_conn = s->transport == CG_MB_RTU ||
                             (o->port == dev->port && strcmp(o->host ? o->host : s->host ? s->host : "",
                                                             dev->host ? dev->host : s->host ? s->host : "") == 0);
            const struct cg_mb_field *both = NULL;
            if (o->name && dev->name && same_conn && o->unit_id == dev->unit_id &&
                (both = shared_register(o, dev)) != NULL) {
                /* one unit id may be listed twice (other registers, other
                 * intervals), but never reading the same register twice */
                char up[PATHSZ];
                cg_path_key(up, sizeof up, dp, "unit_id");
                cg_errs_add(errs, up,
                            "unit id %d is already used by devices[%zu] on the same %s, and both read %s %u; "
                            "list each register once (poll_groups give registers their own intervals)",
                            dev->unit_id, k, s->transport == CG_MB_RTU ? "bus" : "connection",
                            table_choices[both->table], both->address + (unsigned)dev->s.address_base);
            }
        }
    }
    if (cg_errs_count(errs) > before) {
        goto fail;
    }
    profile_cache_done(&cache);
    *out = s;
    return 0;
fail:
    profile_cache_done(&cache);
    cg_mb_source_free(s);
    return rc < 0 ? rc : -EINVAL;
}

/* ---- timing --------------------------------------------------------------- */

double cg_mb_char_us(const struct cg_mb_source *s)
{
    double bits = 1.0 + (double)s->data_bits + (s->parity ? 1.0 : 0.0) + (double)s->stop_bits;
    return bits * 1e6 / (double)(s->baud ? s->baud : 9600);
}

int64_t cg_mb_frame_gap_us(const struct cg_mb_source *s)
{
    if (s->inter_frame_gap_us >= 0) {
        return s->inter_frame_gap_us;
    }
    if (s->transport == CG_MB_TCP) {
        return 0;
    }
    /* RTU over TCP: the device server sends at `baud` on the line, and the
     * slaves need the same silence there */
    /* Modbus over serial line v1.02, 2.5.1.1: 3.5 character times; above
     * 19200 baud a fixed 1750 us is recommended. */
    if (s->baud > 19200) {
        return 1750;
    }
    return (int64_t)ceil(3.5 * cg_mb_char_us(s));
}

double cg_mb_request_ms(const struct cg_mb_source *s, const struct cg_mb_request *r)
{
    if (s->transport == CG_MB_TCP) {
        return 2.0; /* a LAN round trip plus the device's answer time, typically */
    }
    /* request 8 bytes; response 5 + data bytes; plus the gaps and a turnaround
     * allowance of 5 ms for the device to answer */
    unsigned data = cg_mb_table_is_bits(r->table) ? (r->count + 7) / 8 : 2 * r->count;
    double chars = 8.0 + 5.0 + data;
    return chars * cg_mb_char_us(s) / 1000.0 + 2.0 * (double)cg_mb_frame_gap_us(s) / 1000.0 + 5.0;
}

void cg_mb_budget_compute(const struct cg_mb_source *s, const size_t *devs, size_t n, struct cg_mb_budget *out)
{
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < n; k++) {
        const struct cg_mb_device *d = &s->devices[devs[k]];
        double busy = 0, worst = 0;
        int64_t pause = d->s.pause_between_requests_ms > s->pause_between_requests_ms ? d->s.pause_between_requests_ms
                                                                                       : s->pause_between_requests_ms;
        int64_t shortest = 0; /* the shortest interval of a group with reads */
        /* each read at its own group's interval */
        for (size_t i = 0; i < d->plan.n_req; i++) {
            int64_t iv = d->groups ? d->groups[d->plan.req[i].group].poll_interval_ms : d->s.poll_interval_ms;
            busy += (cg_mb_request_ms(s, &d->plan.req[i]) + (double)pause) * 1000.0 / (double)iv;
            out->requests_per_s += 1000.0 / (double)iv;
            shortest = shortest == 0 || iv < shortest ? iv : shortest;
        }
        if (d->s.close_after_poll) {
            busy += (double)d->s.pause_after_connect_ms * 1000.0 / (double)(shortest ? shortest : d->s.poll_interval_ms);
        }
        /* a dead device: its first read times out on every try, then the poll is
         * abandoned (the remaining reads are skipped); with RTU framing each
         * timeout is followed by up to one more timeout waiting out a late answer */
        worst = (double)d->s.pause_after_connect_ms + (double)d->s.response_timeout_ms * (double)(1 + d->s.retries) *
                                                          (s->transport == CG_MB_TCP ? 1.0 : 2.0);
        out->busy_ms_per_s += busy;
        int64_t iv = shortest ? shortest : d->s.poll_interval_ms;
        if (out->worst_dev_interval_ms == 0 || worst - (double)iv > out->worst_dev_ms - (double)out->worst_dev_interval_ms) {
            out->worst_dev_ms = worst;
            out->worst_dev = devs[k];
            out->worst_dev_interval_ms = iv;
        }
    }
}

/* The nested parts of a modbus source section, for the adapter definition
 * (--print-options, the JSON Schema). Profile files have their own format
 * (docs/profiles.md). */
const struct cg_adapter_section cg_mb_sections[] = {
    {"devices[]", cg_mb_device_options, "One entry per device; settings left out come from the profile, then the source."},
    {"devices[].registers[]", cg_mb_register_options, "Registers added to (or replacing) the profile's, by name."},
    {"devices[].forbidden[]", forbid_opts, "Address ranges never read, on top of the profile's."},
    {"devices[].poll_groups{}", poll_group_opts, "Each value of the poll_groups map, keyed by group name."},
    {NULL, NULL, NULL},
};
