/* citygate — telling systemd how we are (sd_notify, Type=notify services).
 *
 * Every call is a no-op when NOTIFY_SOCKET is unset (not started by systemd,
 * tests, --check-config). NOTIFY_SOCKET is never unset by us: the watchdog has
 * to be fed for the whole life of the process. Thread-safe (sd_notify opens a
 * fresh socket per call). */
#ifndef CG_NOTIFY_H
#define CG_NOTIFY_H

#include <stdint.h>

/* READY=1 with a STATUS line: call once the config is loaded and the outputs run. */
void cg_notify_ready(const char *status);
/* STATUS=<one line>; longer text is cut at CG_NOTIFY_STATUS_MAX bytes. */
#define CG_NOTIFY_STATUS_MAX 256
void cg_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1: the drain on SIGTERM has begun. */
void cg_notify_stopping(void);
/* RELOADING=1 + MONOTONIC_USEC (systemd >= 253 wants both for Type=notify-reload);
 * follow with cg_notify_ready() once the new config runs (or the old one stays). */
void cg_notify_reloading(void);
/* WATCHDOG=1: call only while the main loop is healthy. */
void cg_notify_watchdog(void);
/* The watchdog interval systemd expects (WatchdogSec), in ms; 0 when there is
 * no watchdog for this process. Feed at half of it. */
int64_t cg_notify_watchdog_interval_ms(void);

#endif
