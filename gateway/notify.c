/* citygate — sd_notify wrappers (see notify.h). */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static int enabled(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s != NULL && s[0] != '\0';
}

/* One line: a newline would start a new assignment in the notify message. */
static void one_line(char *s)
{
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r') {
            *s = ' ';
        }
    }
}

void cg_notify_ready(const char *status)
{
    if (!enabled()) {
        return;
    }
    char st[CG_NOTIFY_STATUS_MAX];
    snprintf(st, sizeof(st), "%s", status ? status : "running");
    one_line(st);
    /* unset_environment = 0: the watchdog needs NOTIFY_SOCKET for life. */
    sd_notifyf(0, "READY=1\nSTATUS=%s", st);
}

void cg_notify_status(const char *fmt, ...)
{
    if (!enabled()) {
        return;
    }
    char st[CG_NOTIFY_STATUS_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st, sizeof(st), fmt, ap);
    va_end(ap);
    one_line(st);
    sd_notifyf(0, "STATUS=%s", st);
}

void cg_notify_stopping(void)
{
    if (enabled()) {
        sd_notify(0, "STOPPING=1\nSTATUS=stopping: sending what is buffered");
    }
}

void cg_notify_reloading(void)
{
    if (!enabled()) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading configuration", usec);
}

void cg_notify_watchdog(void)
{
    if (enabled()) {
        sd_notify(0, "WATCHDOG=1");
    }
}

int64_t cg_notify_watchdog_interval_ms(void)
{
    uint64_t usec = 0;
    /* Checks WATCHDOG_PID against our PID too; 0 keeps the environment. */
    if (sd_watchdog_enabled(0, &usec) <= 0) {
        return 0;
    }
    int64_t ms = (int64_t)(usec / 1000);
    return ms > 0 ? ms : 1;
}
