/* The same client library citygate uses (Paho MQTT C async), doing nothing but
 * counting: what any Paho-based gateway can reach on this broker and machine.
 * usage: paho_count URL CLIENT_ID TOPIC N   (persistent session, QoS 1; N 0: register the session) */
#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_long got;
static atomic_int subscribed;
static const char *topic;

static int on_msg(void *ctx, char *t, int tl, MQTTAsync_message *m)
{
    (void)ctx;
    (void)tl;
    atomic_fetch_add(&got, 1);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(t);
    return 1;
}

static void on_sub(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    atomic_store(&subscribed, 1);
}

static void on_conn(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    MQTTAsync c = ctx;
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    o.onSuccess = on_sub;
    MQTTAsync_subscribe(c, topic, 1, &o);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: paho_count URL CLIENT_ID TOPIC N [default-trace]\n");
        return 2;
    }
    /* Paho records a trace entry for every function it enters, and formats a
     * protocol trace line for every packet, unless told otherwise; citygate
     * tells it otherwise, so this does too. "default-trace": leave it on. */
    if (argc == 5) {
        MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    }
    topic = argv[3];
    long n = atol(argv[4]);
    MQTTAsync c;
    if (MQTTAsync_create(&c, argv[1], argv[2], MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS) {
        return 1;
    }
    MQTTAsync_setCallbacks(c, NULL, NULL, on_msg, NULL);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.cleansession = 0;
    co.keepAliveInterval = 30;
    co.onSuccess = on_conn;
    co.context = c;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (MQTTAsync_connect(c, &co) != MQTTASYNC_SUCCESS) {
        return 1;
    }
    /* n == 0: only register the persistent session (connect, subscribe), then leave */
    long last = -1;
    int idle_ms = 0;
    for (int i = 0; i < 600000 && (n > 0 ? atomic_load(&got) < n : !atomic_load(&subscribed)); i++) {
        usleep(1000);
        long g = atomic_load(&got);
        idle_ms = g == last ? idle_ms + 1 : 0;
        last = g;
        if (idle_ms > 10000 && g > 0) {
            fprintf(stderr, "paho_count: stalled at %ld of %ld messages\n", g, n);
            break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%ld %.3f\n", atomic_load(&got), dt);
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnect(c, &d);
    usleep(100000);
    MQTTAsync_destroy(&c);
    return atomic_load(&got) >= n ? 0 : 1;
}
