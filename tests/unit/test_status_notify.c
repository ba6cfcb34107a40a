/* sd_notify wrappers: what reaches NOTIFY_SOCKET, the watchdog interval, and
 * that nothing happens (and nothing breaks) without systemd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int sock = -1;
static char path[108];

static int setup(void **state)
{
    snprintf(path, sizeof(path), "/tmp/cg_notify_%d.sock", (int)getpid());
    unlink(path);
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof(a)) < 0) {
        return -1;
    }
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setenv("NOTIFY_SOCKET", path, 1);
    return 0;
}

static int teardown(void **state)
{
    close(sock);
    unlink(path);
    unsetenv("NOTIFY_SOCKET");
    return 0;
}

/* Next datagram, "" after the timeout. */
static const char *next_msg(void)
{
    static char buf[1024];
    ssize_t n = recv(sock, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_messages(void **state)
{
    cg_notify_ready("running: 2 sources, 1 output");
    assert_string_equal(next_msg(), "READY=1\nSTATUS=running: 2 sources, 1 output");
    cg_notify_status("%d points in, %s", 42, "city-db up\nREADY=1");
    assert_string_equal(next_msg(), "STATUS=42 points in, city-db up READY=1"); /* one line only */
    cg_notify_watchdog();
    assert_string_equal(next_msg(), "WATCHDOG=1");
    cg_notify_stopping();
    assert_string_equal(next_msg(), "STOPPING=1\nSTATUS=stopping: sending what is buffered");
    cg_notify_reloading();
    const char *m = next_msg();
    unsigned long long usec = 0;
    assert_int_equal(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%llu\n", &usec), 1);
    assert_true(usec > 0);
    assert_non_null(strstr(m, "\nSTATUS=reloading configuration"));
    /* the socket stays usable for the life of the process (watchdog) */
    assert_non_null(getenv("NOTIFY_SOCKET"));
    cg_notify_watchdog();
    assert_string_equal(next_msg(), "WATCHDOG=1");
}

static void test_long_status(void **state)
{
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cg_notify_status("%s", big);
    const char *m = next_msg();
    assert_int_equal(strlen(m), strlen("STATUS=") + CG_NOTIFY_STATUS_MAX - 1);
}

static void test_watchdog_interval(void **state)
{
    char pid[32];
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(cg_notify_watchdog_interval_ms(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(cg_notify_watchdog_interval_ms(), 30000);
    assert_non_null(getenv("WATCHDOG_USEC")); /* not unset: asked again after a reload */
    assert_int_equal(cg_notify_watchdog_interval_ms(), 30000);
    setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
    assert_int_equal(cg_notify_watchdog_interval_ms(), 0);
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
}

static void test_no_systemd(void **state)
{
    unsetenv("NOTIFY_SOCKET");
    cg_notify_ready("x");
    cg_notify_status("y");
    cg_notify_watchdog();
    cg_notify_stopping();
    cg_notify_reloading();
    assert_string_equal(next_msg(), ""); /* nothing was sent */
    setenv("NOTIFY_SOCKET", path, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_long_status),
        cmocka_unit_test(test_watchdog_interval),
        cmocka_unit_test(test_no_systemd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
