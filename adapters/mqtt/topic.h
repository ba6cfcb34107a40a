/* citygate — MQTT topic filters and topic rules. Pure: no logging, no globals.
 *
 * Filters follow MQTT 3.1.1 §4.7 / MQTT 5 §4.7: '+' one level, '#' the rest
 * (last, whole level), and wildcards at the first level never match topics
 * starting with '$'. Shared subscriptions ($share/<group>/<filter>, MQTT 5
 * §4.8.2) are split into group and filter.
 *
 * Rule patterns are filters whose levels may also be "{name}": one level,
 * captured as tag <name>. "city/{district}/aq/{sensor_id}" matches
 * "city/north/aq/s17" with district=north, sensor_id=s17. */
#ifndef CG_MQTT_TOPIC_H
#define CG_MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define CG_TOPIC_MAX_LEVELS 32
#define CG_TOPIC_MAX_LEN 1024

enum cg_topic_seg_kind { CG_SEG_LITERAL, CG_SEG_PLUS, CG_SEG_HASH, CG_SEG_CAPTURE };

struct cg_topic_seg {
    enum cg_topic_seg_kind kind;
    const char *text; /* literal text or capture name (points into pattern->buf) */
    size_t len;
};

struct cg_topic_pattern {
    struct cg_topic_seg segs[CG_TOPIC_MAX_LEVELS];
    size_t n_segs;
    size_t n_captures;
    char *buf;    /* owned: the split pattern */
    char *filter; /* owned: the MQTT filter form ({name} -> +) */
};

struct cg_topic_capture {
    const char *name; /* borrowed from the pattern */
    const char *value; /* points into the topic; not NUL-terminated */
    size_t len;
};

/* Checks an MQTT subscription filter (after any $share prefix). 0 or -EINVAL with *why. */
int cg_topic_filter_check(const char *filter, const char **why);
/* Splits "$share/group/filter": *group (len) and *filter point into s.
 * Returns 1 if shared, 0 if not, -EINVAL if malformed. */
int cg_topic_share_split(const char *s, const char **group, size_t *group_len, const char **filter,
                         const char **why);
/* Does topic (len bytes) match filter (no $share prefix)? */
bool cg_topic_filter_match(const char *filter, const char *topic, size_t len);

/* Compiles a rule pattern; 0 or -EINVAL (*why) / -ENOMEM. Free with _done. */
int cg_topic_pattern_compile(struct cg_topic_pattern *p, const char *pattern, const char **why);
void cg_topic_pattern_done(struct cg_topic_pattern *p); /* NULL-safe, idempotent */
/* true on match, with up to max captures filled (*n set). */
bool cg_topic_pattern_match(const struct cg_topic_pattern *p, const char *topic, size_t len,
                            struct cg_topic_capture *caps, size_t max, size_t *n);

#endif
