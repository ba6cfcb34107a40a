/* citygate — normaliser internals shared by normalise_conf.c and normalise.c.
 * Not for adapters. */
#ifndef CG_NORMALISE_INT_H
#define CG_NORMALISE_INT_H

#include "normalise.h"
#include "units.h"
#include <stdatomic.h>

enum { POLICY_MARK = 0, POLICY_DROP = 1, POLICY_INHERIT = -1 };
enum { TIME_CLAMP = 0, TIME_DROP = 1, TIME_KEEP = 2 };
enum { SCHEMA_OPEN = 0, SCHEMA_STRICT = 1 }; /* names the schema does not know: written, or dropped */
enum priv_action { PRIV_KEEP = 0, PRIV_DROP, PRIV_HASH, PRIV_TRUNCATE };

#define AGG_MEAN 0x1u
#define AGG_MIN 0x2u
#define AGG_MAX 0x4u
#define AGG_COUNT 0x8u

struct name_map {
    char *from, *to;
};
struct name_num {
    char *name;
    double v;
};
struct priv_rule {
    char *key;
    enum priv_action act;
    int keep; /* TRUNCATE: characters kept */
};
struct quantity_policy {
    const struct cg_schema_meas *meas;
    const struct cg_schema_field *field;
    int out_of_range, impossible; /* POLICY_* */
};

/* Counters as an array of atomics, in the order of struct cg_norm_counters
 * (all uint64_t, no padding). */
#define N_COUNTERS (sizeof(struct cg_norm_counters) / sizeof(uint64_t))
struct counters {
    atomic_uint_fast64_t c[N_COUNTERS];
};
void norm_counters_add(struct counters *dst, const struct cg_norm_counters *src);
void norm_counters_read(const struct counters *src, struct cg_norm_counters *dst);

struct cg_norm_conf {
    /* option table targets */
    bool enabled;
    char *schema_file;
    int schema_policy; /* SCHEMA_* */
    int out_of_range; /* POLICY_* */
    int impossible;
    char *quality_tag;
    int gas_reference; /* enum cg_units_ref */
    int64_t max_future_s, max_past_s;
    int future_policy, past_policy; /* TIME_* */
    bool clock_check;
    int64_t clock_report_s;
    int64_t max_tag_values;
    int64_t max_series;
    int64_t max_state_mb;
    size_t max_state_bytes; /* from max_state_mb */
    int64_t max_tag_keys;
    int64_t series_idle_s;
    char *privacy_salt;
    int64_t privacy_salt_rotate_s;
    int64_t privacy_hash_chars;
    int64_t stuck_polls;
    int64_t window_grace_s;
    /* parsed by hand */
    struct name_num *budgets; /* measurement -> max tag values */
    size_t n_budgets;
    struct quantity_policy *policies;
    size_t n_policies;
    struct cg_schema *schema;
    cg_norm_clock_fn clock_fn;
    void *clock_ctx;
};

struct cg_norm_source {
    const struct cg_norm_conf *conf;
    char *name;
    void *user;
    /* option table targets */
    int schema_policy; /* -1 inherit, else SCHEMA_* */
    int64_t stuck_polls; /* -1 inherit */
    bool jump_check;
    int64_t heartbeat_s;
    int64_t window_s;
    /* parsed by hand */
    struct name_map *meas_map, *field_map, *tag_map;
    size_t n_meas_map, n_field_map, n_tag_map;
    struct name_map *static_map; /* configured static tag -> new key; to NULL = removed */
    size_t n_static_map;
    int payload_tags; /* 0 protect, 1 override */
    struct name_map *units; /* canonical field -> unit */
    size_t n_units;
    struct priv_rule *privacy;
    size_t n_privacy;
    struct name_num *max_step, *deadband; /* deadband key "*" = every numeric field */
    size_t n_max_step, n_deadband;
    unsigned aggregates;
    struct counters cnt;
};

const char *norm_map(const struct name_map *m, size_t n, const char *from);
const struct name_num *norm_num(const struct name_num *m, size_t n, const char *name);
const struct priv_rule *norm_priv(const struct cg_norm_source *s, const char *key);

#endif
