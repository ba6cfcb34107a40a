/* Runs every compiled-in adapter through the lifecycle contract of
 * include/citygate/adapter.h, against real servers that
 * tests/integration/adapter_lifecycle.sh starts:
 *
 *   destroy(NULL); create() of a bad config, then destroy() of what it left;
 *   create() then destroy() (never started); create(), stop() without start(),
 *   destroy(); create(), start(), readings arrive, stop(), start() again,
 *   readings arrive again, stop(), stop() again, destroy().
 *
 * "Readings arrive" is the sink's accepted-points counter growing: each
 * adapter's config below makes a start produce points by itself (the
 * simulator is polled; the broker hands the retained message to every new
 * subscription). An adapter compiled in without a config here fails the run,
 * so a new adapter cannot skip the contract. Run under ASan, a leak or a
 * use-after-free on any of these paths fails the test too. */
#include "journal.h"
#include "registry.h"
#include "sink.h"

#include <MQTTAsync.h>
#include <stdatomic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

extern const struct cg_adapter cg_adapter_example;

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL: " __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                                       \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

/* Paho clients alive (linked with --wrap, see tests/lifecycle.cmake). */
static atomic_int paho_clients, paho_created;

int __real_MQTTAsync_createWithOptions(MQTTAsync *handle, const char *uri, const char *id, int ptype, void *pctx,
                                       MQTTAsync_createOptions *o);
void __real_MQTTAsync_destroy(MQTTAsync *handle);

int __wrap_MQTTAsync_createWithOptions(MQTTAsync *handle, const char *uri, const char *id, int ptype, void *pctx,
                                       MQTTAsync_createOptions *o);
int __wrap_MQTTAsync_createWithOptions(MQTTAsync *handle, const char *uri, const char *id, int ptype, void *pctx,
                                       MQTTAsync_createOptions *o)
{
    int e = __real_MQTTAsync_createWithOptions(handle, uri, id, ptype, pctx, o);
    if (e == MQTTASYNC_SUCCESS) {
        atomic_fetch_add(&paho_clients, 1);
        atomic_fetch_add(&paho_created, 1);
    }
    return e;
}

void __wrap_MQTTAsync_destroy(MQTTAsync *handle);
void __wrap_MQTTAsync_destroy(MQTTAsync *handle)
{
    if (handle != NULL && *handle != NULL) {
        atomic_fetch_sub(&paho_clients, 1);
    }
    __real_MQTTAsync_destroy(handle);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "adapter_conformance: %s not set (run through adapter_lifecycle.sh)\n", name);
        exit(2);
    }
    return v;
}

/* A valid config whose start produces readings, and an invalid one. */
static int configs(const char *type, char *good, size_t gn, char *bad, size_t bn)
{
    if (strcmp(type, "mqtt") == 0) {
        snprintf(good, gn,
                 "{\"type\":\"mqtt\",\"url\":\"%s\",\"client_id\":\"conformance-%d\",\"reconnect_min_ms\":100,"
                 "\"reconnect_max_ms\":500,\"rules\":[{\"topic\":\"conformance/{district}/count\",\"format\":\"json\","
                 "\"measurement\":\"counter\",\"json\":{\"fields\":{\"seq\":{\"path\":\"seq\",\"type\":\"int\"}}}}]}",
                 env("CG_TEST_MQTT_URL"), (int)getpid());
        snprintf(bad, bn, "{\"type\":\"mqtt\",\"url\":\"%s\",\"client_id\":\"\",\"keepalive\":5,\"rules\":[]}",
                 env("CG_TEST_MQTT_URL"));
        return 0;
    }
    if (strcmp(type, "modbus") == 0) {
        snprintf(good, gn,
                 "{\"type\":\"modbus\",\"transport\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%s,"
                 "\"profile_dirs\":[\"%s\"],\"response_timeout_ms\":500,\"retries\":0,"
                 "\"devices\":[{\"name\":\"m1\",\"unit_id\":1,\"profile\":\"eastron_sdm630\","
                 "\"poll_interval_ms\":200}]}",
                 env("CG_TEST_MODBUS_PORT"), env("CG_TEST_PROFILE_DIR"));
        snprintf(bad, bn,
                 "{\"type\":\"modbus\",\"transport\":\"tcp\",\"host\":\"127.0.0.1\",\"port\":%s,"
                 "\"profile_dirs\":[\"%s\"],"
                 "\"devices\":[{\"name\":\"m1\",\"unit_id\":1,\"profile\":\"eastron_sdm630\"},"
                 "{\"name\":\"m2\",\"unit_id\":1,\"profile\":\"no_such_profile\",\"poll_interval_ms\":-1}]}",
                 env("CG_TEST_MODBUS_PORT"), env("CG_TEST_PROFILE_DIR"));
        return 0;
    }
    if (strcmp(type, "exec") == 0) {
        snprintf(good, gn,
                 "{\"type\":\"exec\",\"command\":[\"sh\",\"-c\",\"while :; do echo conf,x=y v=1i; sleep 0.1; done\"],"
                 "\"restart_min_ms\":100,\"stop_timeout_ms\":500}");
        snprintf(bad, bn, "{\"type\":\"exec\",\"command\":[],\"format\":\"json\",\"restart_min_ms\":5}");
        return 0;
    }
    if (strcmp(type, "example") == 0) {
        snprintf(good, gn, "{\"type\":\"example\",\"interval_ms\":50}");
        snprintf(bad, bn, "{\"type\":\"example\",\"interval_ms\":\"often\"}");
        return 0;
    }
    return -1;
}

static uint64_t accepted(struct cg_sink *s)
{
    struct cg_sink_counters c;
    cg_sink_counters(s, &c);
    return c.points_in;
}

/* Until the sink has accepted more than `from` points, at most 15 s. */
static int wait_points(struct cg_sink *s, uint64_t from)
{
    for (int i = 0; i < 150; i++) {
        if (accepted(s) > from) {
            return 0;
        }
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
    return -1;
}

static void count_item(void *ctx, const struct cg_health_item *h)
{
    (void)h;
    (*(int *)ctx)++;
}

static void *create_ok(const struct cg_adapter *a, const char *conf, struct cg_sink *sink)
{
    cJSON *j = cJSON_Parse(conf);
    struct cg_errs errs = {0};
    void *state = NULL;
    int e = a->create(j, "sources[0]", sink, &state, &errs);
    CHECK(e >= 0 && cg_errs_count(&errs) == 0, "%s: create() of a valid config: %d, %zu errors (%s)", a->type, e,
          cg_errs_count(&errs), errs.n ? errs.msg[0] : "");
    cg_errs_done(&errs);
    cJSON_Delete(j);
    return state;
}

static void run(const struct cg_adapter *a, struct cg_pipeline *pl)
{
    char good[2048], bad[2048];
    if (configs(a->type, good, sizeof(good), bad, sizeof(bad)) < 0) {
        CHECK(0, "adapter '%s' is compiled in but has no conformance config in %s", a->type, __FILE__);
        return;
    }
    CHECK(a->api_version == CG_ADAPTER_API_VERSION, "%s: api_version %u", a->type, a->api_version);
    /* API 2.0: the adapter documents its keys; every top-level key of its
     * conformance config is in its options table */
    CHECK(a->options != NULL, "%s: no options table", a->type);
    cJSON *gj = cJSON_Parse(good);
    for (const cJSON *k = gj ? gj->child : NULL; k && a->options; k = k->next) {
        const struct cg_opt *o = a->options;
        while (o->name && strcmp(o->name, k->string) != 0) {
            o++;
        }
        CHECK(o->name != NULL, "%s: key '%s' of a valid config is not in its options table", a->type, k->string);
    }
    cJSON_Delete(gj);
    struct cg_sink *sink = cg_sink_new(pl, a->type, NULL);

    /* destroy() accepts NULL and whatever a failed create() left */
    a->destroy(NULL);
    cJSON *j = cJSON_Parse(bad);
    struct cg_errs errs = {0};
    void *state = NULL;
    int e = a->create(j, "sources[0]", sink, &state, &errs);
    CHECK(e < 0 || cg_errs_count(&errs) > 0, "%s: create() of a bad config reported no error", a->type);
    a->destroy(state);
    cg_errs_done(&errs);
    cJSON_Delete(j);
    printf("ok: %s: bad config refused, half-built state destroyed\n", a->type);

    /* created, never started */
    a->destroy(create_ok(a, good, sink));
    /* stop without start */
    state = create_ok(a, good, sink);
    if (state != NULL) {
        a->stop(state);
        a->destroy(state);
    }
    printf("ok: %s: destroy without start, stop without start\n", a->type);

    /* start, stop, start again: readings flow both times */
    state = create_ok(a, good, sink);
    if (state == NULL) {
        cg_sink_free(sink);
        return;
    }
    for (int round = 1; round <= 3; round++) {
        uint64_t before = accepted(sink);
        e = a->start(state);
        CHECK(e == 0, "%s: start() #%d: %d", a->type, round, e);
        CHECK(wait_points(sink, before) == 0, "%s: no readings within 15 s after start() #%d", a->type, round);
        if (a->health != NULL) {
            int items = 0;
            a->health(state, count_item, &items);
            CHECK(items > 0, "%s: health() reported nothing", a->type);
        }
        a->stop(state);
        printf("ok: %s: start #%d: %llu readings, stopped\n", a->type, round,
               (unsigned long long)(accepted(sink) - before));
    }
    uint64_t after_stop = accepted(sink);
    nanosleep(&(struct timespec){0, 600 * 1000000L}, NULL);
    CHECK(accepted(sink) == after_stop, "%s: readings arrived after stop()", a->type);
    a->stop(state); /* twice: harmless */
    a->destroy(state);
    cg_sink_free(sink);
    CHECK(atomic_load(&paho_clients) == 0, "%s: %d Paho clients left after destroy() (%d created)", a->type,
          atomic_load(&paho_clients), atomic_load(&paho_created));
    /* exec: every program was reaped (a zombie would be reaped here) */
    pid_t z = waitpid(-1, NULL, WNOHANG);
    CHECK(z <= 0, "%s: child %d was left unreaped (a zombie)", a->type, (int)z);
    if (strcmp(a->type, "mqtt") == 0) {
        printf("ok: mqtt: %d Paho clients created over 3 starts, none left\n", atomic_load(&paho_created));
    }
}

int main(void)
{
    char state_dir[] = "/tmp/cg-conformance.XXXXXX";
    if (mkdtemp(state_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    struct cg_journal_opts o = {.max_bytes = 16 * 1024 * 1024, .n_readers = 1};
    char err[256] = "";
    struct cg_journal *jr = cg_journal_open(&o, NULL, err, sizeof(err));
    if (jr == NULL) {
        fprintf(stderr, "journal: %s\n", err);
        return 2;
    }
    struct cg_pipeline pl = {.journal = jr, .config_dir = state_dir, .state_dir = state_dir};
    /* version negotiation: same major, adapter minor <= core minor */
    CHECK(cg_adapter_api_compatible(CG_ADAPTER_API(2, 3), CG_ADAPTER_API(2, 0)), "2.0 adapter refused by 2.3 core");
    CHECK(cg_adapter_api_compatible(CG_ADAPTER_API(2, 0), CG_ADAPTER_API(2, 0)), "2.0 adapter refused by 2.0 core");
    CHECK(!cg_adapter_api_compatible(CG_ADAPTER_API(2, 0), CG_ADAPTER_API(2, 1)), "2.1 adapter taken by 2.0 core");
    CHECK(!cg_adapter_api_compatible(CG_ADAPTER_API(2, 0), 1), "unversioned API 1 adapter taken by 2.0 core");
    CHECK(!cg_adapter_api_compatible(CG_ADAPTER_API(3, 0), CG_ADAPTER_API(2, 0)), "2.0 adapter taken by 3.0 core");
    int n = 0;
    for (const struct cg_adapter *const *a = cg_registry_adapters(); *a; a++, n++) {
        run(*a, &pl);
    }
    CHECK(n >= 3, "only %d adapters compiled in", n);
    /* the docs' example adapter (tests/example_adapter/example.c), not in the registry */
    run(&cg_adapter_example, &pl);
    cg_journal_shutdown(jr);
    cg_journal_free(jr);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", state_dir);
    }
    printf("%s: %d adapters, %d failures\n", failures ? "FAIL" : "PASS", n, failures);
    return failures ? 1 : 0;
}
