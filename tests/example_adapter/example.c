/* A complete citygate source: writes ticks,source=<name> n=<i> every interval_ms. */
#include <citygate/adapter.h>
#include <pthread.h>
#include <stdlib.h>

struct conf { char *measurement; int64_t interval_ms; };
static const struct cg_opt options[] = {
    {"type", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "\"example\""},
    {"name", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "source name"},
    {"measurement", CG_OPT_STRING, offsetof(struct conf, measurement), "ticks", 0, 0, NULL, 0, "measurement"},
    {"interval_ms", CG_OPT_INT, offsetof(struct conf, interval_ms), "1000", 10, 3600000, NULL, 0, "period"},
    CG_OPT_END,
};
struct ex { struct conf c; struct cg_sink *sink; pthread_t t; pthread_mutex_t mu; pthread_cond_t cv; int run; };

static int create(const cJSON *json, const char *path, struct cg_sink *sink, void **state, struct cg_errs *errs)
{
    struct ex *x = calloc(1, sizeof(*x));
    if (x == NULL) { return -ENOMEM; }
    *state = x; /* half-built is fine: the core calls destroy() on failure */
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    x->sink = sink;
    return cg_opt_parse(options, json, path, &x->c, errs); /* errors carry their JSON path */
}
static void *loop(void *arg)
{
    struct ex *x = arg;
    pthread_mutex_lock(&x->mu);
    for (int64_t i = 0; x->run; i++) {
        pthread_mutex_unlock(&x->mu);
        struct cg_tag tag = {"source", cg_sink_source_name(x->sink)};
        struct cg_field f = CG_FIELD_I("n", i);
        struct cg_point p = {x->c.measurement, &tag, 1, &f, 1, cg_time_now_ns()};
        cg_sink_emit(x->sink, &p, 1, 1000); /* copied before it returns */
        int64_t due = cg_time_now_ns() + x->c.interval_ms * 1000000; /* epoch ns, as CLOCK_REALTIME */
        struct timespec until = {due / 1000000000, due % 1000000000};
        pthread_mutex_lock(&x->mu);
        while (x->run && pthread_cond_timedwait(&x->cv, &x->mu, &until) == 0) {}
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}
static int start(void *s) { struct ex *x = s; x->run = 1; return -pthread_create(&x->t, NULL, loop, x); }
static void stop(void *s)
{
    struct ex *x = s;
    pthread_mutex_lock(&x->mu);
    int was = x->run;
    x->run = 0;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    if (was) { pthread_join(x->t, NULL); } /* no emit after stop() returns */
}
static void destroy(void *s)
{
    struct ex *x = s;
    if (x != NULL) { cg_opt_free(options, &x->c); pthread_cond_destroy(&x->cv); pthread_mutex_destroy(&x->mu); }
    free(x);
}
const struct cg_adapter cg_adapter_example = {
    .api_version = CG_ADAPTER_API_VERSION, .type = "example", .summary = "ticks: the docs' example source",
    .create = create, .start = start, .stop = stop, .destroy = destroy, .options = options,
};
