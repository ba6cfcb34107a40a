/* The MQTT source's configuration on its own (adapters/mqtt/mqtt_conf.c):
 * parsed without Paho or a running core, errors named by JSON path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mqtt_conf.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *json, struct cg_mqtt_conf *c, struct cg_errs *errs)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    int rc = cg_mqtt_conf_parse(c, j, "sources[0]", NULL, errs);
    cJSON_Delete(j);
    return rc;
}

/* Every text of want[] is among the errors (printed all if one is missing). */
static void assert_errors(const struct cg_errs *errs, const char *const *want, size_t n_want)
{
    for (size_t k = 0; k < n_want; k++) {
        bool found = false;
        for (size_t i = 0; i < errs->n; i++) {
            found |= strcmp(errs->msg[i], want[k]) == 0;
        }
        if (!found) {
            for (size_t i = 0; i < errs->n; i++) {
                fprintf(stderr, "got: %s\n", errs->msg[i]);
            }
            fail_msg("missing error: %s", want[k]);
        }
    }
}

static void test_rules_and_default_subscriptions(void **state)
{
    (void)state;
    struct cg_mqtt_conf c;
    struct cg_errs errs = {0};
    int rc = parse("{\"type\":\"mqtt\",\"name\":\"m\",\"url\":\"tcp://broker\",\"client_id\":\"cid\","
                   "\"rules\":[{\"topic\":\"city/{district}/air\",\"format\":\"json\",\"measurement\":\"air\","
                   "\"json\":{\"fields\":{\"pm25\":\"pm2_5\"}}},"
                   "{\"topic\":\"city/+/noise\",\"format\":\"value\",\"measurement\":\"noise\"}]}",
                   &c, &errs);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_string_equal(c.url, "tcp://broker:1883");
    assert_string_equal(c.status_topic, "citygate/cid/status");
    assert_int_equal(c.n_rules, 2);
    assert_int_equal(c.rules[0].format, CG_MQTT_FMT_JSON);
    assert_int_equal(c.rules[0].n_fields, 1);
    assert_string_equal(c.rules[0].fields[0].name, "pm25");
    assert_string_equal(c.rules[0].fields[0].path, "pm2_5");
    assert_string_equal(c.rules[1].value.field, "value");
    /* no "subscriptions": one per rule filter, QoS 1 */
    assert_int_equal(c.n_subs, 2);
    assert_string_equal(c.subs[0].wire, "city/+/air");
    assert_string_equal(c.subs[1].wire, "city/+/noise");
    assert_int_equal(c.subs[0].qos, 1);
    cg_mqtt_conf_done(&c);
    cg_errs_done(&errs);
}

/* The source and the MQTT uplink output read broker URLs with one function
 * (citygate/mqtt_url.h): the source now refuses a path after the host too. */
static void test_url_path_refused(void **state)
{
    (void)state;
    struct cg_mqtt_conf c;
    struct cg_errs errs = {0};
    int rc = parse("{\"type\":\"mqtt\",\"name\":\"m\",\"url\":\"mqtt://broker:1884/x\","
                   "\"rules\":[{\"topic\":\"x\",\"format\":\"value\",\"measurement\":\"m\",\"field\":\"v\"}]}",
                   &c, &errs);
    assert_int_equal(rc, -EINVAL);
    bool found = false;
    for (size_t i = 0; i < errs.n; i++) {
        found |= strcmp(errs.msg[i], "sources[0].url: must be tcp://host[:port] or ssl://host[:port] (mqtt://, "
                                     "mqtts://), got 'mqtt://broker:1884/x'") == 0;
    }
    assert_true(found);
    cg_errs_done(&errs);
}

static void test_errors_name_the_path(void **state)
{
    (void)state;
    struct cg_mqtt_conf c;
    struct cg_errs errs = {0};
    int rc = parse("{\"type\":\"mqtt\",\"name\":\"m\",\"url\":\"tcp://u:secret@broker\","
                   "\"subscriptions\":[{\"topic\":\"a/#/b\"}],"
                   "\"rules\":[{\"topic\":\"x\",\"format\":\"json\",\"senml\":{}}]}",
                   &c, &errs);
    assert_int_equal(rc, -EINVAL);
    const char *want[] = {
        "sources[0].url: must not contain credentials (user:password@): use the username and password "
        "(or password_file) keys",
        "sources[0].rules[0].measurement: missing (required for format json)",
        "sources[0].rules[0].senml: only for format senml (this rule is format json)",
        "sources[0].subscriptions[0].topic: ",
    };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        bool found = false;
        for (size_t i = 0; i < errs.n; i++) {
            found |= strncmp(errs.msg[i], want[k], strlen(want[k])) == 0;
        }
        if (!found) {
            for (size_t i = 0; i < errs.n; i++) {
                fprintf(stderr, "got: %s\n", errs.msg[i]);
            }
            fail_msg("missing error: %s", want[k]);
        }
    }
    for (size_t i = 0; i < errs.n; i++) {
        assert_null(strstr(errs.msg[i], "secret")); /* never echo a password */
    }
    cg_mqtt_conf_done(&c); /* released on failure: done again is harmless */
    cg_errs_done(&errs);
}

static void test_match_and_lorawan(void **state)
{
    (void)state;
    struct cg_mqtt_conf c;
    struct cg_errs errs = {0};
    int rc = parse("{\"type\":\"mqtt\",\"name\":\"m\",\"url\":\"tcp://broker\",\"rules\":["
                   "{\"topic\":\"a/+\",\"format\":\"chirpstack_v4\",\"measurement\":\"x\","
                   "\"match\":{\"deviceInfo.deviceProfileName\":\"LHT65\",\"$.fPort\":2},\"lorawan\":{\"radio\":true}},"
                   "{\"topic\":\"b\",\"format\":\"ttn_v3\",\"measurement\":\"y\"}]}",
                   &c, &errs);
    assert_int_equal(rc, 0);
    assert_int_equal(c.rules[0].n_match, 2);
    assert_string_equal(c.rules[0].match[0].path, "deviceInfo.deviceProfileName");
    assert_string_equal(c.rules[0].match[0].text, "LHT65");
    assert_string_equal(c.rules[0].match[1].path, "fPort");
    assert_true(c.rules[0].match[1].num == 2);
    assert_string_equal(c.rules[0].json.records, "object");
    assert_string_equal(c.rules[0].json.radio.array, "rxInfo");
    assert_string_equal(c.rules[1].json.records, "uplink_message.decoded_payload");
    assert_string_equal(c.rules[1].json.time_path, "$.uplink_message.received_at");
    assert_null(c.rules[1].json.radio.array); /* radio metadata is opt-in */
    cg_mqtt_conf_done(&c);

    rc = parse("{\"type\":\"mqtt\",\"name\":\"m\",\"url\":\"tcp://broker\",\"rules\":["
               "{\"topic\":\"a\",\"format\":\"value\",\"measurement\":\"x\",\"match\":{\"a\":1}},"
               "{\"topic\":\"b\",\"format\":\"json\",\"measurement\":\"y\",\"lorawan\":{},\"match\":{\"a\":[1]}}]}",
               &c, &errs);
    assert_int_equal(rc, -EINVAL);
    const char *want[] = {
        "sources[0].rules[0].match: only for formats json, chirpstack_v4 and ttn_v3 (this rule is format value)",
        "sources[0].rules[1].lorawan: only for format chirpstack_v4 or ttn_v3 (this rule is format json)",
        "sources[0].rules[1].match.a: must be a string, a number, true or false",
    };
    assert_errors(&errs, want, sizeof(want) / sizeof(want[0]));
    cg_errs_done(&errs);
}

/* The rule's maps go through the core's one map reader (cg_opt_parse_map):
 * tag values get ${ENV} like every string, and the errors are its texts. */
static void test_maps_one_reader(void **state)
{
    (void)state;
    struct cg_mqtt_conf c;
    struct cg_errs errs = {0};
    setenv("CG_TEST_DISTRICT", "north", 1);
    int rc = parse("{\"type\":\"mqtt\",\"name\":\"m\",\"url\":\"tcp://broker\",\"rules\":["
                   "{\"topic\":\"a\",\"format\":\"json\",\"measurement\":\"x\","
                   "\"tags\":{\"district\":\"${CG_TEST_DISTRICT}\"},"
                   "\"static_tags\":{\"old\":\"new_${CG_TEST_DISTRICT}\",\"gone\":null},"
                   "\"json\":{\"fields\":{\"pm25\":\"pm2_5\"},\"tags\":{\"dev\":{\"path\":\"id\"}}}}]}",
                   &c, &errs);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_int_equal(c.rules[0].n_tags, 1);
    assert_string_equal(c.rules[0].tags[0].key, "district");
    assert_string_equal(c.rules[0].tags[0].value, "north");
    assert_int_equal(c.rules[0].n_static_tags, 2);
    assert_string_equal(c.rules[0].static_tags[0].value, "new_north");
    assert_null(c.rules[0].static_tags[1].value);
    assert_int_equal(c.rules[0].n_jtags, 1);
    assert_string_equal(c.rules[0].jtags[0].path, "id");
    cg_mqtt_conf_done(&c);
    unsetenv("CG_TEST_DISTRICT");

    rc = parse("{\"type\":\"mqtt\",\"name\":\"m\",\"url\":\"tcp://broker\",\"rules\":["
               "{\"topic\":\"a\",\"format\":\"json\",\"measurement\":\"x\","
               "\"tags\":{\"n\":1,\"\":\"v\",\"e\":\"${CG_TEST_UNSET_VAR}\"},\"static_tags\":{\"s\":2},"
               "\"json\":{\"fields\":{\"\":\"p\",\"f\":3},\"tags\":[1]}}]}",
               &c, &errs);
    assert_int_equal(rc, -EINVAL);
    const char *want[] = {
        "sources[0].rules[0].tags.n: must be a string",
        "sources[0].rules[0].tags.: empty key",
        "sources[0].rules[0].tags.e: environment variable CG_TEST_UNSET_VAR is not set",
        "sources[0].rules[0].static_tags.s: must be a string or null",
        "sources[0].rules[0].json.fields.: empty key",
        "sources[0].rules[0].json.fields.f: must be a path (string) or {path, type, required}",
        "sources[0].rules[0].json.tags: must be an object",
    };
    assert_errors(&errs, want, sizeof(want) / sizeof(want[0]));
    cg_mqtt_conf_done(&c);
    cg_errs_done(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_and_default_subscriptions),
        cmocka_unit_test(test_errors_name_the_path),
        cmocka_unit_test(test_url_path_refused),
        cmocka_unit_test(test_maps_one_reader),
        cmocka_unit_test(test_match_and_lorawan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
