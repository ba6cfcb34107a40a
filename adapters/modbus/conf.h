/* citygate modbus — the parsed configuration: profiles, devices, buses.
 *
 * A profile (config/profiles/NAME.json) describes a device model once: its
 * registers, types, scaling and quirks. A device instance in sources[].devices[]
 * names a profile and may override any of its settings, replace registers (same
 * name, measurement and tags) or add its own. Parsing does no I/O except
 * reading profile files, and never logs: every problem goes to cg_errs with the
 * JSON path (or the profile file) it concerns. */
#ifndef CG_MODBUS_CONF_H
#define CG_MODBUS_CONF_H

#include <cjson/cJSON.h>
#include <citygate/adapter.h>
#include <citygate/config.h>
#include <citygate/point.h>
#include <stdbool.h>
#include <stdint.h>

#include "decode.h"
#include "plan.h"

#define CG_MB_MAX_DEVICES 4096      /* per source */
#define CG_MB_MAX_FIELDS 1024       /* per device */
#define CG_MB_MAX_TAGS 32           /* per device + register */
#define CG_MB_MAX_PROFILE_BYTES (1 << 20)
#define CG_MB_MAX_PROFILE_DIRS 8
#define CG_MB_MAX_POLL_GROUPS 16    /* per profile / device, besides the default group */

/* A named group of registers polled at its own interval (power every second,
 * energy counters every minute). */
struct cg_mb_poll_group {
    char *name; /* NULL: the default group (registers that name none) */
    int64_t poll_interval_ms;
};

/* Settings a profile sets and a device instance may override. */
struct cg_mb_settings {
    char *measurement;
    int byte_order; /* enum cg_mb_order */
    int64_t address_base;
    int64_t poll_interval_ms;
    int64_t max_registers_per_read;
    int64_t max_bits_per_read;
    int64_t max_gap_registers;
    int64_t max_gap_bits;
    bool one_request_per_field;
    int64_t pause_after_connect_ms;
    int64_t pause_between_requests_ms;
    bool close_after_poll;
    int64_t response_timeout_ms;
    int64_t retries;
    uint32_t set; /* bit i: option i of the settings table was given */
};

enum cg_mb_output { CG_MB_OUT_AUTO = 0, CG_MB_OUT_FLOAT, CG_MB_OUT_INT, CG_MB_OUT_BOOL, CG_MB_OUT_STRING };

/* One field: where it lives, how to decode it and where it goes. */
struct cg_mb_field {
    char *name;        /* field key */
    char *measurement; /* NULL: the device's */
    struct cg_tag *tags; /* register tags, owned */
    size_t n_tags;
    enum cg_mb_table table;
    uint32_t address; /* protocol address (0-based) */
    struct cg_mb_layout layout;
    bool order_set; /* the register gave its own byte_order */
    double scale, offset;
    enum cg_mb_output output; /* resolved: never AUTO after parsing */
    char *unit;
    char *description;
    bool has_range;
    double range_lo, range_hi;
    bool counter; /* monotonic (energy, volume, vehicles) */
    char *group_name; /* poll group, NULL = the default */
    unsigned group;   /* resolved: index into the device's groups */
    int reg_index;    /* position in the device's own "registers", -1 = from the profile */
};

struct cg_mb_profile {
    char *name;
    char *file; /* where it was read from */
    char *description;
    char *reference; /* the published register map it follows */
    struct cg_mb_settings settings;
    struct cg_tag *tags;
    size_t n_tags;
    struct cg_mb_field *fields;
    size_t n_fields;
    struct cg_mb_forbid *forbid;
    size_t n_forbid;
    struct cg_mb_poll_group *groups;
    size_t n_groups;
};

/* Effective settings of a device after profile + overrides, with defaults. */
struct cg_mb_device {
    char *name;
    int unit_id;
    char *profile; /* name, or NULL */
    char *host;    /* TCP: own connection; NULL = the source's */
    int port;
    struct cg_mb_settings s;
    char *measurement; /* borrowed from s */
    enum cg_mb_order order;
    struct cg_tag *tags; /* device=<name> + profile tags + instance tags, owned */
    size_t n_tags;
    struct cg_mb_field *fields;
    size_t n_fields;
    struct cg_mb_forbid *forbid;
    size_t n_forbid;
    struct cg_mb_plan plan; /* reads of every group; each read names its group */
    size_t plan_per_field; /* requests if every field were read on its own */
    struct cg_mb_poll_group *groups; /* [0] the default group (poll_interval_ms), then named ones */
    size_t n_groups;
};

/* RTU_TCP: RTU frames (slave id + CRC) on a TCP socket, as serial device
 * servers in transparent mode pass them to and from the RS-485 line. */
enum cg_mb_transport { CG_MB_TCP = 0, CG_MB_RTU, CG_MB_RTU_TCP };

static inline bool cg_mb_is_network(int transport)
{
    return transport != CG_MB_RTU;
}

struct cg_mb_source {
    int transport;
    char *host;
    int64_t port;
    char *device;
    int64_t baud;
    int parity; /* 0 none, 1 even, 2 odd */
    int64_t data_bits, stop_bits;
    bool rs485;
    int rts; /* 0 none, 1 up, 2 down */
    int64_t rts_delay_us;
    int64_t response_timeout_ms;
    int64_t byte_timeout_ms;
    int64_t retries;
    int64_t inter_frame_gap_us; /* -1: 3.5 characters (RTU), 0 (TCP) */
    int64_t reconnect_min_ms, reconnect_max_ms;
    int64_t quarantine_after, quarantine_ms;
    int64_t poll_interval_ms;
    int64_t pause_between_requests_ms;
    bool stagger;
    bool health;
    char *health_measurement;
    int budget_check; /* 0 warn, 1 refuse, 2 error (= refuse) */
    int64_t emit_timeout_ms;
    char *profile_dirs[CG_MB_MAX_PROFILE_DIRS];
    size_t n_profile_dirs;
    struct cg_mb_device *devices;
    size_t n_devices;
};

/* Reads a profile by name from dirs (first hit wins). errpath names the
 * config key that asked for it. */
int cg_mb_profile_load(const char *name, char *const *dirs, size_t n_dirs, const char *errpath,
                       struct cg_mb_profile **out, struct cg_errs *errs);
/* Parses a profile document already in memory (file: for messages). */
int cg_mb_profile_parse(const cJSON *doc, const char *name, const char *file, struct cg_mb_profile **out,
                        struct cg_errs *errs);
void cg_mb_profile_free(struct cg_mb_profile *p);

/* Parses a whole modbus source section. config_dir resolves relative profile
 * dirs (may be NULL). Profiles are cached per call. */
int cg_mb_source_parse(const cJSON *conf, const char *path, const char *config_dir, struct cg_mb_source **out,
                       struct cg_errs *errs);
void cg_mb_source_free(struct cg_mb_source *s);

/* RTU character time in microseconds for the source's framing. */
double cg_mb_char_us(const struct cg_mb_source *s);
/* Effective inter-frame gap in microseconds (0 for TCP unless set). */
int64_t cg_mb_frame_gap_us(const struct cg_mb_source *s);

/* Poll-budget check of one bus (one scheduler): estimated busy time per
 * second when all goes well, and worst case when every device times out. */
struct cg_mb_budget {
    double busy_ms_per_s;  /* > 1000: the bus cannot keep up even when healthy */
    double worst_dev_ms;   /* the longest single poll of a dead device */
    size_t worst_dev;      /* its index */
    int64_t worst_dev_interval_ms; /* its shortest poll-group interval */
    double requests_per_s;
};
void cg_mb_budget_compute(const struct cg_mb_source *s, const size_t *devs, size_t n, struct cg_mb_budget *out);
/* Estimated duration of one healthy request (ms). */
double cg_mb_request_ms(const struct cg_mb_source *s, const struct cg_mb_request *r);

/* Table of the source options (for docs / --print-options). */
extern const struct cg_opt cg_mb_source_options[];
extern const struct cg_opt cg_mb_device_options[];
extern const struct cg_opt cg_mb_register_options[];
extern const struct cg_adapter_section cg_mb_sections[]; /* devices[], registers[], ... */

#endif
