/* citygate modbus — the adapter: one scheduler thread per serial bus or TCP
 * connection, polling its devices on their own intervals.
 *
 * Read-only by design: only function codes 1, 2, 3 and 4 are ever sent.
 *
 * Per connection, requests are strictly serialised (a bus has one master and
 * one transaction at a time); separate connections run in their own threads,
 * so a dead device only ever costs time on its own bus, and there it is bounded
 * by: abandoning a poll after the first read that times out on every retry,
 * and quarantining a device after quarantine_after failed polls. A timeout on
 * one unit id never tears down a shared link (neuron#1602); only I/O errors
 * (reset, EIO after a USB-serial replug, ...) and, on TCP, a garbled stream do.
 *
 * libmodbus does not keep the RTU 3.5-character inter-frame silence
 * (BlackZork/mqmgateway#40): we keep it ourselves before every request. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <modbus.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <citygate/adapter.h>
#include <citygate/backoff.h>

#include "conf.h"
#include "frame.h"
#include "probe.h"
#include "seriallock.h"

#define LAST_ERROR_MAX 200
#define ALL_GROUPS UINT_MAX /* poll_device: every poll group at once (--test) */
#define PENDING_MAX 8            /* RTU requests a device may still answer */
#define PENDING_HORIZON_TIMEOUTS 4 /* after that many response timeouts, a request is taken as lost */
#define THREAD_STACK (256 * 1024)
#define POOL_MIN 8               /* workers for TCP endpoints: at least, */
#define POOL_CONNS_PER_WORKER 32 /* one more per this many endpoints, */
#define POOL_MAX 256             /* at most */



struct group {
    const char *measurement; /* borrowed */
    struct cg_tag *tags;     /* device tags + register tags; strings borrowed */
    size_t n_tags;
    size_t *fields; /* indices into the device's fields */
    size_t n_fields;
};

struct conn;

struct dev {
    const struct cg_mb_device *c; /* borrowed from the source config */
    struct conn *conn;
    int64_t *due_ms; /* per poll group; INT64_MAX: a group without reads */
    unsigned health_group; /* the group with the shortest interval: one health point per its poll */
    int64_t quarantine_until_ms;
    int64_t response_timeout_ms;
    /* buffers, sized at create */
    uint16_t *words;  /* register requests, back to back */
    uint8_t *bits;    /* bit requests */
    size_t *req_off;  /* per request: offset into words or bits */
    bool *req_ok;
    struct cg_mb_value *vals;
    bool *val_ok;
    struct cg_field *fields;
    struct cg_point *points;
    struct group *groups;
    size_t n_groups;
    struct cg_complain complain; /* owned by the bus thread */
    struct cg_complain stray_complain;
    /* health, under adapter.lock */
    uint64_t stray;   /* late or stray frames discarded (attributed by unit id) */
    /* RTU: send times of requests not answered yet, oldest first (bus thread) */
    int64_t pending_us[PENDING_MAX];
    unsigned n_pending;
    uint64_t skipped; /* polls due while the link was being re-established */
    bool up;
    bool quarantined;
    uint64_t ok, failed, errors, consecutive;
    double latency_ms;
    int64_t last_ok_ns;
    char last_error[LAST_ERROR_MAX];
    bool has_error;
};

struct conn {
    struct adapter *a;
    char label[300]; /* "tcp 127.0.0.1:502" / "rtu /dev/ttyUSB0" */
    const char *host;
    int port;
    modbus_t *ctx;
    bool connected;
    int64_t next_connect_ms;
    struct cg_backoff backoff; /* reconnect delays: no jitter (min, 2 min, ... max) */
    int64_t last_io_us; /* end of the last exchange or byte received: the frame gap */
    /* receive side of our own framing (frame.h); bus thread only */
    uint8_t rx[2 * CG_MB_FRAME_MAX];
    size_t rx_n;
    bool junk_run;      /* counting a run of junk bytes once */
    bool resync;        /* TCP: the stream is out of step, reconnect before the next request */
    uint16_t tid;       /* MBAP transaction id of the last request */
    bool link_up;       /* under adapter.lock: connected, or not tried yet */
    uint64_t link_failures; /* under adapter.lock: failed connects and links lost */
    char link_error[LAST_ERROR_MAX]; /* under adapter.lock: why the link is down */
    struct dev *owed;   /* RTU: timed out, its answer may still come */
    struct cg_mb_expect owed_e;
    int64_t owed_until_us;
    pthread_mutex_t mu; /* guards ctx/connected against stop()'s shutdown */
    struct dev **devs;
    size_t n_devs, cap_devs;
    int64_t handoff_us; /* its worker's poll: when to wake another worker to watch the clock (0: done) */
    struct cg_complain complain;
};

struct adapter {
    struct cg_mb_source *src;
    struct cg_sink *sink;
    const char *name;
    struct dev *devs;
    size_t n_devs;
    struct conn *conns;
    size_t n_conns;
    int64_t frame_gap_us;
    int64_t *due_us; /* under sched, per connection: its next due poll; INT64_MAX while held */
    pthread_mutex_t lock; /* health fields of devs; stop flag */
    pthread_cond_t cond;
    atomic_bool stopping;
    bool lock_init;
    /* The worker pool (see worker_main), under sched. */
    pthread_mutex_t sched;
    pthread_cond_t lead;   /* the one idle worker that waits for the next due poll */
    pthread_cond_t follow; /* the other idle workers: no timeout, never woken by time */
    bool has_leader;
    int64_t lead_due_us;
    bool sched_init;
    pthread_t *workers;
    size_t n_workers, n_started;
    struct cg_mb_lock port_lock; /* RTU: the UUCP lock file of the serial port */
};
/* citygate --test: every device once, now, then nothing more (cli). */
static bool test_mode(const struct adapter *a)
{
    return a->sink && cg_sink_test_mode(a->sink);
}


static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
    return mono_us() / 1000;
}

/* Sleeps until the monotonic deadline (us) or until stop(); false if stopping. */
static bool sleep_until_us(struct adapter *a, int64_t deadline_us)
{
    pthread_mutex_lock(&a->lock);
    while (!atomic_load(&a->stopping)) {
        int64_t now = mono_us();
        if (now >= deadline_us) {
            break;
        }
        struct timespec ts = {.tv_sec = deadline_us / 1000000, .tv_nsec = (deadline_us % 1000000) * 1000};
        pthread_cond_timedwait(&a->cond, &a->lock, &ts);
    }
    bool go = !atomic_load(&a->stopping);
    pthread_mutex_unlock(&a->lock);
    return go;
}

/* ---- errors --------------------------------------------------------------- */

enum fault { F_EXCEPTION, F_BUSY, F_TIMEOUT, F_GARBAGE, F_LINK };

static enum fault classify(int err)
{
    if (err > MODBUS_ENOBASE && err <= MODBUS_ENOBASE + MODBUS_EXCEPTION_GATEWAY_TARGET) {
        int code = err - MODBUS_ENOBASE;
        if (code == MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY || code == MODBUS_EXCEPTION_ACKNOWLEDGE) {
            return F_BUSY;
        }
        if (code == MODBUS_EXCEPTION_GATEWAY_TARGET) {
            return F_TIMEOUT; /* the gateway's way of saying the device is silent */
        }
        return F_EXCEPTION;
    }
    switch (err) {
    case ETIMEDOUT:
        return F_TIMEOUT;
    case EMBBADCRC:
    case EMBBADDATA:
    case EMBBADEXC:
    case EMBUNKEXC:
    case EMBMDATA:
    case EMBBADSLAVE:
        return F_GARBAGE;
    default:
        return F_LINK; /* ECONNRESET, EPIPE, EIO, ENXIO, EBADF, ... */
    }
}

static void describe(int err, char *out, size_t n)
{
    if (err > MODBUS_ENOBASE && err <= MODBUS_ENOBASE + MODBUS_EXCEPTION_GATEWAY_TARGET) {
        const char *name = cg_mb_exception_name((unsigned)(err - MODBUS_ENOBASE));
        snprintf(out, n, "exception %d (%s)", err - MODBUS_ENOBASE, name ? name : "unknown");
    } else if (err == ETIMEDOUT) {
        snprintf(out, n, "no response (timeout)");
    } else {
        snprintf(out, n, "%s", modbus_strerror(err));
    }
}

/* ---- connection ----------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->ctx) {
        modbus_close(c->ctx);
        modbus_free(c->ctx);
        c->ctx = NULL;
    }
    c->connected = false;
    pthread_mutex_unlock(&c->mu);
    c->rx_n = 0; /* nothing of the old link may answer on the new one */
    c->owed = NULL;
    c->resync = false;
}

static void handoff(struct conn *c);

/* TCP connect bounded by timeout_ms, on ctx's behalf. Not modbus_connect():
 * libmodbus waits for a connect with select(), whose fd_set aborts the process
 * (FORTIFY) once a descriptor passes 1023, i.e. beyond ~1000 endpoints. The
 * frames are ours anyway (frame.h); libmodbus keeps only the socket.
 * 0, or -1 with errno set. */
static int tcp_connect(modbus_t *ctx, const char *host, int port, int64_t timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char service[16];
    int err = ECONNREFUSED, fd = -1;
    snprintf(service, sizeof service, "%d", port);
    int g = getaddrinfo(host, service, &hints, &res);
    if (g != 0) {
        errno = g == EAI_SYSTEM && errno ? errno : EHOSTUNREACH;
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int pr;
            do {
                pr = poll(&pfd, 1, (int)timeout_ms);
            } while (pr < 0 && errno == EINTR);
            socklen_t len = sizeof err;
            if (pr == 0) {
                err = ETIMEDOUT;
            } else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
                err = errno;
            }
            rc = err == 0 ? 0 : -1;
        } else if (rc < 0) {
            err = errno;
        }
        if (rc == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = err;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* one request, one segment */
    /* blocking again: reads wait in poll() (rx_fill), sends are a few bytes */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    modbus_set_socket(ctx, fd);
    return 0;
}

static int conn_open(struct conn *c, const struct dev *d, char *why, size_t why_n)
{
    const struct cg_mb_source *s = c->a->src;
    modbus_t *ctx = NULL;
    int err;

    handoff(c); /* a connect blocks up to the response timeout */

    if (cg_mb_is_network(s->transport)) {
        char port[16];
        snprintf(port, sizeof port, "%d", c->port);
        ctx = modbus_new_tcp_pi(c->host, port);
    } else {
        static const char parity[] = {'N', 'E', 'O'};
        ctx = modbus_new_rtu(s->device, (int)s->baud, parity[s->parity], (int)s->data_bits, (int)s->stop_bits);
    }
    if (!ctx) {
        err = errno ? errno : ENOMEM;
        snprintf(why, why_n, "cannot create a context: %s", modbus_strerror(err));
        return -err;
    }
    /* the connect itself is bounded by the response timeout (TCP) */
    modbus_set_response_timeout(ctx, (uint32_t)(d->response_timeout_ms / 1000),
                                (uint32_t)(d->response_timeout_ms % 1000) * 1000);
    modbus_set_byte_timeout(ctx, (uint32_t)(s->byte_timeout_ms / 1000), (uint32_t)(s->byte_timeout_ms % 1000) * 1000);
    modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE);
    if (cg_mb_is_network(s->transport) ? tcp_connect(ctx, c->host, c->port, d->response_timeout_ms) < 0
                                       : modbus_connect(ctx) < 0) {
        err = errno;
        pid_t user = s->transport == CG_MB_RTU && err == EBUSY ? cg_mb_lock_find_user(s->device) : 0;
        if (user > 0) {
            snprintf(why, why_n, "cannot open %s: held exclusively (TIOCEXCL) by pid %ld", c->label, (long)user);
        } else {
            snprintf(why, why_n, "cannot connect to %s: %s", c->label, modbus_strerror(err));
        }
        modbus_free(ctx);
        return -err;
    }
    if (s->transport == CG_MB_RTU) {
        /* one master per line: nobody else may open the port while we have it */
        if (ioctl(modbus_get_socket(ctx), TIOCEXCL) < 0) {
            err = errno;
            snprintf(why, why_n, "%s: cannot take the port exclusively (TIOCEXCL): %s", c->label, strerror(err));
            modbus_close(ctx);
            modbus_free(ctx);
            return -err;
        }
        if (s->rs485 && modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) < 0) {
            err = errno;
            snprintf(why, why_n, "%s: cannot switch to RS-485 mode: %s", c->label, modbus_strerror(err));
            modbus_close(ctx);
            modbus_free(ctx);
            return -err;
        }
        if (s->rts != 0) {
            modbus_rtu_set_rts(ctx, s->rts == 1 ? MODBUS_RTU_RTS_UP : MODBUS_RTU_RTS_DOWN);
            if (s->rts_delay_us > 0) {
                modbus_rtu_set_rts_delay(ctx, (int)s->rts_delay_us);
            }
        }
    }
    pthread_mutex_lock(&c->mu);
    c->ctx = ctx;
    c->connected = true;
    pthread_mutex_unlock(&c->mu);
    c->last_io_us = mono_us();
    return 0;
}

/* ---- polling -------------------------------------------------------------- */

static void set_error(struct adapter *a, struct dev *d, const char *msg)
{
    pthread_mutex_lock(&a->lock);
    snprintf(d->last_error, sizeof d->last_error, "%s", msg);
    d->has_error = true;
    d->errors++;
    pthread_mutex_unlock(&a->lock);
}

/* Keeps the silence the bus needs before the next frame. */
static bool wait_turn(struct conn *c, const struct dev *d, bool first_of_poll)
{
    struct adapter *a = c->a;
    int64_t pause_ms = a->src->pause_between_requests_ms;
    if (!first_of_poll && d->c->s.pause_between_requests_ms > pause_ms) {
        pause_ms = d->c->s.pause_between_requests_ms;
    }
    int64_t gap = pause_ms * 1000 > a->frame_gap_us ? pause_ms * 1000 : a->frame_gap_us;
    if (gap <= 0) {
        return !atomic_load(&a->stopping);
    }
    return sleep_until_us(a, c->last_io_us + gap);
}

/* ---- frames --------------------------------------------------------------- */

static bool rtu_framing(const struct adapter *a)
{
    return a->src->transport != CG_MB_TCP;
}

/* The device of this connection a frame's unit id names, else cur. */
static struct dev *dev_of_unit(struct conn *c, struct dev *cur, unsigned unit)
{
    if (cur && (unsigned)cur->c->unit_id == unit) {
        return cur;
    }
    for (size_t i = 0; i < c->n_devs; i++) {
        if ((unsigned)c->devs[i]->c->unit_id == unit) {
            return c->devs[i];
        }
    }
    return cur ? cur : c->devs[0];
}

/* A discarded frame (or run of junk bytes): counted on the device it names,
 * logged rate-limited. Never decoded. */
static void count_stray(struct conn *c, struct dev *cur, unsigned unit, const char *what)
{
    struct adapter *a = c->a;
    struct dev *d = dev_of_unit(c, cur, unit);
    pthread_mutex_lock(&a->lock);
    uint64_t n = ++d->stray;
    pthread_mutex_unlock(&a->lock);
    cg_complain(&d->stray_complain, CG_LOG_WARN, a->name, "device %s: late or stray frame discarded (%s; %llu so far)",
                d->c->name, what, (unsigned long long)n);
}

/* A worker polling with the clock unwatched (worker_main) wakes an idle one
 * to watch it, once. */
static void handoff(struct conn *c)
{
    struct adapter *a = c->a;
    if (!c->handoff_us) {
        return;
    }
    c->handoff_us = 0;
    pthread_mutex_lock(&a->sched);
    if (!a->has_leader) {
        pthread_cond_signal(&a->follow);
    }
    pthread_mutex_unlock(&a->sched);
}

/* Reads what is there, waiting until deadline_us for the first byte.
 * > 0 bytes read, 0 on timeout, -errno when the link is gone. */
static int rx_fill(struct conn *c, int64_t deadline_us)
{
    int fd = modbus_get_socket(c->ctx);
    if (fd < 0) {
        return -EBADF;
    }
    if (c->rx_n == sizeof c->rx) {
        return -ENOBUFS;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int pr;
    for (;;) {
        int64_t now = mono_us();
        int64_t until = c->handoff_us && c->handoff_us < deadline_us ? c->handoff_us : deadline_us;
        pr = poll(&pfd, 1, until > now ? (int)((until - now + 999) / 1000) : 0);
        if (pr != 0 || !c->handoff_us || until == deadline_us) {
            break;
        }
        handoff(c); /* this poll runs long: another worker takes the clock */
    }
    if (pr < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    if (pr == 0) {
        return 0;
    }
    ssize_t n = read(fd, c->rx + c->rx_n, sizeof c->rx - c->rx_n);
    if (n < 0) {
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    if (n == 0) {
        /* TCP: the peer closed; a serial port reads 0 when a hung-up PTY/USB
         * adapter has gone (POLLHUP) */
        return c->a->src->transport == CG_MB_RTU && !(pfd.revents & (POLLHUP | POLLERR)) ? 0 : -ECONNRESET;
    }
    c->rx_n += (size_t)n;
    c->last_io_us = mono_us();
    return (int)n;
}

static void rx_drop(struct conn *c, size_t n)
{
    memmove(c->rx, c->rx + n, c->rx_n - n);
    c->rx_n -= n;
}

/* ---- RTU: who still owes an answer -----------------------------------------
 * An RTU frame carries no transaction id, and a slow device answers every
 * request it got, however late, in order. So each device keeps the send times
 * of the requests it has not answered; a whole frame from it answers the
 * oldest. A reply is taken for the request just sent only when that request is
 * the only one pending: a retry never accepts the answer to an earlier try, and
 * the retry's own late answer is not taken for the next read of the same size.
 * A request unanswered after PENDING_HORIZON_TIMEOUTS response timeouts is
 * taken as lost (else one lost request would shift every later answer). */

static struct dev *dev_exact(struct conn *c, unsigned unit)
{
    for (size_t i = 0; i < c->n_devs; i++) {
        if ((unsigned)c->devs[i]->c->unit_id == unit) {
            return c->devs[i];
        }
    }
    return NULL;
}

static void pending_expire(struct dev *d, int64_t now_us)
{
    int64_t horizon = PENDING_HORIZON_TIMEOUTS * d->response_timeout_ms * 1000;
    while (d->n_pending > 0 && now_us - d->pending_us[0] > horizon) {
        memmove(d->pending_us, d->pending_us + 1, --d->n_pending * sizeof d->pending_us[0]);
    }
}

static void pending_push(struct dev *d, int64_t now_us)
{
    if (d->n_pending == PENDING_MAX) {
        memmove(d->pending_us, d->pending_us + 1, --d->n_pending * sizeof d->pending_us[0]);
    }
    d->pending_us[d->n_pending++] = now_us;
}

/* A whole frame from unit arrived: it answers that device's oldest request. */
static void pending_answered(struct conn *c, unsigned unit)
{
    struct dev *d = dev_exact(c, unit);
    if (d && d->n_pending > 0) {
        memmove(d->pending_us, d->pending_us + 1, --d->n_pending * sizeof d->pending_us[0]);
    }
}

/* Drops what has arrived. RTU: each whole frame is counted and answers its
 * device's oldest request; a run of junk counts once. MBAP: counted once (a
 * late answer's transaction id is never ours again). */
static void drop_rx(struct conn *c, struct dev *cur, const char *what)
{
    if (!rtu_framing(c->a)) {
        if (c->rx_n > 0) {
            count_stray(c, cur, c->rx_n > 6 ? c->rx[6] : 0, what);
        }
        c->rx_n = 0;
        return;
    }
    /* any expectation will do: only whole frames and their unit ids matter */
    struct cg_mb_expect any;
    cg_mb_expect_init(&any, true, 0, 0, 3, 0, 1);
    bool junk = false;
    while (c->rx_n > 0) {
        size_t used;
        const uint8_t *data;
        unsigned exc, unit;
        enum cg_mb_scan s = cg_mb_frame_scan(&any, c->rx, c->rx_n, &used, &data, &exc, &unit);
        if (s == CG_MB_SCAN_MORE) {
            count_stray(c, cur, c->rx[0], "incomplete frame");
            break;
        }
        if (s != CG_MB_SCAN_JUNK) {
            count_stray(c, cur, unit, what);
            pending_answered(c, unit);
        } else if (!junk) {
            count_stray(c, cur, cur->c->unit_id, "bytes that begin no frame");
        }
        junk = s == CG_MB_SCAN_JUNK;
        rx_drop(c, used);
    }
    c->rx_n = 0;
}

/* Drops whatever has arrived, counting frames; with quiet_us > 0 keeps doing
 * so until the line has been silent that long (at most until limit_us). */
static int discard_input(struct conn *c, struct dev *cur, int64_t quiet_us, int64_t limit_us)
{
    for (int round = 0;; round++) {
        drop_rx(c, cur, "arrived between requests");
        int64_t until = mono_us() + quiet_us;
        int rc = rx_fill(c, quiet_us > 0 ? (until < limit_us ? until : limit_us) : 0);
        if (rc <= 0) {
            return rc; /* silent (for quiet_us), or the link failed */
        }
        if (mono_us() >= limit_us || round > 64) {
            drop_rx(c, cur, "a line that does not fall silent");
            return 0; /* a babbling line: go ahead, the answer is validated anyway */
        }
    }
}

/* RTU, after a timeout: the answer may still be on its way, and on a real bus
 * it would collide with the next request. Until the device's response timeout
 * has passed once more (or its frame has come), every frame is discarded and
 * counted; then the line must fall silent. */
static int settle_owed(struct conn *c, struct dev *cur)
{
    struct dev *owed = c->owed;
    c->owed = NULL;
    for (;;) {
        while (c->rx_n > 0) {
            size_t used;
            const uint8_t *data;
            unsigned exc, unit;
            enum cg_mb_scan s = cg_mb_frame_scan(&c->owed_e, c->rx, c->rx_n, &used, &data, &exc, &unit);
            if (s == CG_MB_SCAN_MORE) {
                if (c->rx_n < sizeof c->rx) {
                    break;
                }
                s = CG_MB_SCAN_JUNK;
                used = 1;
            }
            if (s != CG_MB_SCAN_JUNK) {
                count_stray(c, owed, unit, "late answer to a request that timed out");
                pending_answered(c, unit);
            } else if (!c->junk_run) {
                count_stray(c, owed, owed->c->unit_id, "bytes that begin no frame");
            }
            c->junk_run = s == CG_MB_SCAN_JUNK;
            rx_drop(c, used);
        }
        if (owed->n_pending == 0 || mono_us() >= c->owed_until_us) {
            break;
        }
        int rc = rx_fill(c, c->owed_until_us);
        if (rc < 0) {
            return rc;
        }
    }
    int64_t gap = c->a->frame_gap_us > 2000 ? c->a->frame_gap_us : 2000;
    return discard_input(c, cur, gap, mono_us() + cur->response_timeout_ms * 1000);
}

static int send_request(struct conn *c, const uint8_t *req, size_t len)
{
    if (c->a->src->transport == CG_MB_RTU) {
        /* libmodbus adds the CRC and drives RTS / RS-485 direction */
        return modbus_send_raw_request(c->ctx, req, (int)len - 2) < 0 ? -(errno ? errno : EIO) : 0;
    }
    int fd = modbus_get_socket(c->ctx);
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -errno;
        }
        off += (size_t)n;
    }
    return 0;
}

/* One read request and its answer, validated field by field (frame.h).
 * 0 and the values in w or b; -ETIMEDOUT; -(MODBUS_ENOBASE + code) for an
 * exception; -errno when the link failed. A frame that is not the answer is
 * discarded and counted, and the answer still awaited until the timeout. */
static int transact(struct conn *c, struct dev *d, const struct cg_mb_request *r, uint16_t *w, uint8_t *b)
{
    static const uint8_t fc[] = {[CG_MB_COIL] = 1, [CG_MB_DISCRETE] = 2, [CG_MB_INPUT] = 4, [CG_MB_HOLDING] = 3};
    struct adapter *a = c->a;
    struct cg_mb_expect e;
    uint8_t req[CG_MB_FRAME_MAX];
    int rc;

    if (c->owed && (rc = settle_owed(c, d)) < 0) {
        return rc;
    }
    /* anything already here answers nothing we will ask */
    if ((rc = discard_input(c, d, 0, 0)) < 0) {
        return rc;
    }
    cg_mb_expect_init(&e, rtu_framing(a), ++c->tid, (uint8_t)d->c->unit_id, fc[r->table], (uint16_t)r->address,
                      (uint16_t)r->count);
    size_t len = cg_mb_frame_request(&e, req);
    pending_expire(d, mono_us());
    if ((rc = send_request(c, req, len)) < 0) {
        return rc;
    }
    int64_t sent_us = mono_us();
    if (e.rtu) {
        pending_push(d, sent_us);
    }
    c->last_io_us = sent_us;
    int64_t deadline = sent_us + d->response_timeout_ms * 1000;
    int64_t byte_us = a->src->byte_timeout_ms * 1000;
    c->junk_run = false;
    for (;;) {
        while (c->rx_n > 0) {
            size_t used;
            const uint8_t *data = NULL;
            unsigned exc = 0, unit = 0;
            enum cg_mb_scan s = cg_mb_frame_scan(&e, c->rx, c->rx_n, &used, &data, &exc, &unit);
            if (s == CG_MB_SCAN_MORE) {
                if (c->rx_n < sizeof c->rx) {
                    break;
                }
                s = CG_MB_SCAN_JUNK;
                used = 1;
            }
            if (s == CG_MB_SCAN_DESYNC) {
                count_stray(c, d, unit, "a header no Modbus frame can have");
                c->rx_n = 0;
                c->resync = true;
                return -EMBBADDATA;
            }
            if ((s == CG_MB_SCAN_REPLY || s == CG_MB_SCAN_EXCEPTION) && e.rtu && d->n_pending > 1) {
                /* same slave, same shape, but an earlier request of it is still
                 * unanswered: this is that one's late answer */
                pending_answered(c, e.unit);
                count_stray(c, d, e.unit, "late answer to an earlier request");
                rx_drop(c, used);
                continue;
            }
            if ((s == CG_MB_SCAN_REPLY || s == CG_MB_SCAN_EXCEPTION) && e.rtu) {
                pending_answered(c, e.unit);
            }
            if (s == CG_MB_SCAN_REPLY) {
                if (cg_mb_table_is_bits(r->table)) {
                    cg_mb_frame_bits(data, e.count, b);
                } else {
                    cg_mb_frame_words(data, e.count, w);
                }
                rx_drop(c, used);
                return 0;
            }
            if (s == CG_MB_SCAN_EXCEPTION) {
                rx_drop(c, used);
                return -(MODBUS_ENOBASE + (int)exc);
            }
            if (s == CG_MB_SCAN_FOREIGN) {
                char what[120];
                snprintf(what, sizeof what, "%s frame from unit %u while waiting for unit %d",
                         rtu_framing(a) ? "RTU" : "MBAP", unit, d->c->unit_id);
                /* an MBAP frame with our transaction id answers our request, whatever
                 * unit it names: count it on the device asked */
                bool ours = !e.rtu && ((unsigned)c->rx[0] << 8 | c->rx[1]) == e.tid;
                count_stray(c, d, ours ? (unsigned)d->c->unit_id : unit, what);
                if (e.rtu) {
                    pending_answered(c, unit);
                }
                c->junk_run = false;
            } else if (!c->junk_run) {
                count_stray(c, d, d->c->unit_id, "bytes that begin no frame");
                c->junk_run = true;
            }
            rx_drop(c, used);
        }
        int64_t until = deadline;
        if (c->rx_n > 0 && c->last_io_us + byte_us > until) {
            until = c->last_io_us + byte_us; /* a frame is arriving: let it finish */
        }
        if (until > deadline + d->response_timeout_ms * 1000) {
            until = deadline + d->response_timeout_ms * 1000; /* but a babbling line does not hold the bus */
        }
        if (mono_us() >= until) {
            break;
        }
        if ((rc = rx_fill(c, until)) < 0) {
            return rc;
        }
    }
    if (c->rx_n > 0 && !rtu_framing(a)) {
        count_stray(c, d, d->c->unit_id, "incomplete frame at the timeout");
        c->rx_n = 0;
        c->resync = true; /* the rest may still come and put the stream out of step */
    }
    /* RTU: a frame begun is kept, so that waiting out the late answer below
     * sees it whole and knows whose it was */
    if (rtu_framing(a)) {
        c->owed = d;
        c->owed_e = e;
        c->owed_until_us = mono_us() + d->response_timeout_ms * 1000;
    }
    return -ETIMEDOUT;
}

static int read_once(struct conn *c, struct dev *d, const struct cg_mb_request *r, uint16_t *w, uint8_t *b)
{
    int rc = transact(c, d, r, w, b);
    c->last_io_us = mono_us();
    return rc;
}

static void to_field(const struct cg_mb_field *f, const struct cg_mb_value *v, struct cg_field *out, bool *ok)
{
    double x = 0;
    *ok = true;
    out->key = f->name;
    /* the normaliser converts from the profile's unit to the schema's */
    out->unit = f->unit && f->unit[0] ? f->unit : NULL;
    switch (f->output) {
    case CG_MB_OUT_BOOL:
        out->type = CG_FIELD_BOOL;
        out->v.b = v->v.b;
        return;
    case CG_MB_OUT_STRING:
        out->type = CG_FIELD_STRING;
        out->v.s = v->s;
        return;
    default:
        break;
    }
    bool scaled = f->scale != 1 || f->offset != 0;
    if (f->output == CG_MB_OUT_INT && !scaled && v->kind == CG_MB_V_INT) {
        out->type = CG_FIELD_INT;
        out->v.i = v->v.i;
        return;
    }
    if (f->output == CG_MB_OUT_INT && !scaled && v->kind == CG_MB_V_UINT) {
        out->type = CG_FIELD_INT;
        out->v.i = (int64_t)v->v.u;
        *ok = v->v.u <= (uint64_t)INT64_MAX;
        return;
    }
    x = v->kind == CG_MB_V_INT ? (double)v->v.i : v->kind == CG_MB_V_UINT ? (double)v->v.u : v->v.f;
    x = x * f->scale + f->offset;
    if (f->output == CG_MB_OUT_INT) {
        out->type = CG_FIELD_INT;
        *ok = isfinite(x) && fabs(x) < 9.2e18;
        out->v.i = *ok ? llround(x) : 0;
        return;
    }
    out->type = CG_FIELD_FLOAT;
    out->v.f = x;
}

static void emit_health(struct adapter *a, struct dev *d, int64_t ts)
{
    if (!a->src->health) {
        return;
    }
    struct cg_field f[8];
    size_t nf = 0;
    pthread_mutex_lock(&a->lock);
    f[nf++] = CG_FIELD_B("up", d->up);
    f[nf++] = CG_FIELD_B("quarantined", d->quarantined);
    if (d->latency_ms >= 0) {
        f[nf++] = CG_FIELD_F("latency_ms", d->latency_ms);
    }
    f[nf++] = CG_FIELD_I("consecutive_failures", (int64_t)d->consecutive);
    f[nf++] = CG_FIELD_I("errors", (int64_t)d->errors);
    f[nf++] = CG_FIELD_I("polls_failed", (int64_t)d->failed);
    f[nf++] = CG_FIELD_I("polls_skipped", (int64_t)d->skipped);
    f[nf++] = CG_FIELD_I("stray_frames", (int64_t)d->stray);
    pthread_mutex_unlock(&a->lock);
    struct cg_point p = {.measurement = a->src->health_measurement,
                         .tags = d->c->tags,
                         .n_tags = d->c->n_tags,
                         .fields = f,
                         .n_fields = nf,
                         .time_ns = ts};
    cg_sink_emit(a->sink, &p, 1, (int)a->src->emit_timeout_ms);
}

static void set_link(struct conn *c, bool up, const char *why)
{
    pthread_mutex_lock(&c->a->lock);
    c->link_up = up;
    c->link_failures += up ? 0 : 1;
    snprintf(c->link_error, sizeof c->link_error, "%s", why ? why : "");
    pthread_mutex_unlock(&c->a->lock);
}

/* One poll of one device. Returns true when at least one read succeeded. */
static bool poll_device(struct conn *c, struct dev *d, unsigned group)
{
    struct adapter *a = c->a;
    const struct cg_mb_device *dc = d->c;
    const struct cg_mb_plan *plan = &dc->plan;
    char why[LAST_ERROR_MAX] = "", buf[160];
    bool link_down = false; /* the connection complains for itself, once */
    int64_t ts = cg_time_now_ns(); /* one timestamp for the whole poll */
    int64_t t0 = mono_us();
    size_t n_ok = 0, n_bad = 0;

    if (!c->connected) {
        /* Polls due while the link is being re-established are skipped, not
         * failed: a reconnect must not quarantine the devices behind it. */
        if (mono_ms() < c->next_connect_ms) {
            link_down = true;
            goto done;
        }
        if (conn_open(c, d, why, sizeof why) < 0) {
            c->next_connect_ms = mono_ms() + cg_backoff_next(&c->backoff);
            cg_complain(&c->complain, CG_LOG_WARN, a->name, "%s", why);
            set_link(c, false, why);
            link_down = true;
            goto done;
        }
        cg_complain_clear(&c->complain, a->name, c->label);
        set_link(c, true, NULL);
        cg_backoff_reset(&c->backoff);
        if (dc->s.pause_after_connect_ms > 0 &&
            !sleep_until_us(a, mono_us() + dc->s.pause_after_connect_ms * 1000)) {
            goto done;
        }
    }
    modbus_set_slave(c->ctx, dc->unit_id);
    modbus_set_response_timeout(c->ctx, (uint32_t)(d->response_timeout_ms / 1000),
                                (uint32_t)(d->response_timeout_ms % 1000) * 1000);

    for (size_t i = 0; i < plan->n_req; i++) {
        d->req_ok[i] = false; /* other groups' fields are not emitted by this poll */
    }
    bool first = true;
    for (size_t i = 0; i < plan->n_req; i++) {
        const struct cg_mb_request *r = &plan->req[i];
        bool bits = cg_mb_table_is_bits(r->table);
        if (group != ALL_GROUPS && r->group != group) {
            continue;
        }
        int rc = 0;
        enum fault f = F_EXCEPTION;
        d->req_ok[i] = false;
        for (int64_t attempt = 0; attempt <= dc->s.retries; attempt++) {
            if (!wait_turn(c, d, first)) {
                goto done;
            }
            first = false;
            rc = read_once(c, d, r, bits ? NULL : d->words + d->req_off[i], bits ? d->bits + d->req_off[i] : NULL);
            if (rc == 0) {
                break;
            }
            f = classify(-rc);
            if (c->resync && f != F_LINK) {
                /* TCP stream out of step (a partial frame, a bad header): start afresh
                 * so the rest of that frame cannot reach the next request */
                c->resync = false;
                conn_close(c);
                if (conn_open(c, d, why, sizeof why) < 0) {
                    f = F_LINK;
                    break;
                }
            }
            if (f == F_EXCEPTION || f == F_LINK) {
                break; /* retrying would only repeat the answer / fail the same way */
            }
        }
        if (rc == 0) {
            d->req_ok[i] = true;
            n_ok++;
            continue;
        }
        describe(-rc, buf, sizeof buf);
        if (f == F_LINK) {
            /* the link broke under the request: the link's fault, not the device's */
            snprintf(why, sizeof why, "%s: connection lost: %s", c->label, buf);
            conn_close(c);
            c->next_connect_ms = mono_ms() + a->src->reconnect_min_ms;
            cg_complain(&c->complain, CG_LOG_WARN, a->name, "%s", why);
            set_link(c, false, why);
            link_down = true;
            break;
        }
        n_bad++;
        snprintf(why, sizeof why, "%s reading %s %u..%u (unit %d)", buf, cg_mb_table_name(r->table),
                 r->address + (unsigned)dc->s.address_base, r->address + r->count - 1 + (unsigned)dc->s.address_base,
                 dc->unit_id);
        set_error(a, d, why);
        if (f == F_TIMEOUT && n_ok == 0) {
            break; /* silent device: do not spend the bus on its other reads */
        }
    }

    /* decode what arrived and emit, one point per (measurement, tags) */
    if (n_ok > 0) {
        size_t n_points = 0;
        size_t used = 0;
        for (size_t gi = 0; gi < d->n_groups; gi++) {
            const struct group *g = &d->groups[gi];
            size_t start = used;
            for (size_t k = 0; k < g->n_fields; k++) {
                size_t fi = g->fields[k];
                const struct cg_mb_field *f = &dc->fields[fi];
                size_t ri = plan->req_of[fi];
                if (!d->req_ok[ri]) {
                    continue;
                }
                const struct cg_mb_request *r = &plan->req[ri];
                int e;
                if (cg_mb_table_is_bits(f->table)) {
                    d->vals[fi] = (struct cg_mb_value){.kind = CG_MB_V_BOOL,
                                                       .v.b = d->bits[d->req_off[ri] + f->address - r->address] != 0};
                    e = 0;
                } else {
                    size_t off = d->req_off[ri] + f->address - r->address;
                    e = cg_mb_decode(&f->layout, d->words + off, r->count - (f->address - r->address), &d->vals[fi]);
                }
                bool ok = e == 0;
                if (ok) {
                    to_field(f, &d->vals[fi], &d->fields[used], &ok);
                }
                if (!ok) {
                    snprintf(buf, sizeof buf, "field %s: value cannot be written as %s", f->name,
                             f->output == CG_MB_OUT_INT ? "int" : "a field");
                    set_error(a, d, buf);
                    continue;
                }
                used++;
            }
            if (used > start) {
                d->points[n_points++] = (struct cg_point){.measurement = g->measurement,
                                                          .tags = g->tags,
                                                          .n_tags = g->n_tags,
                                                          .fields = d->fields + start,
                                                          .n_fields = used - start,
                                                          .time_ns = ts};
            }
        }
        if (n_points > 0) {
            int e = cg_sink_emit(a->sink, d->points, n_points, (int)a->src->emit_timeout_ms);
            if (e == -ETIMEDOUT) {
                set_error(a, d, "gateway buffer full: readings of this poll dropped");
            } else if (cg_sink_hold(e)) { /* counted by the core as refused */
                snprintf(buf, sizeof buf, "gateway buffer cannot write (%s): readings of this poll not stored",
                         strerror(-e));
                set_error(a, d, buf);
            }
        }
    }
    if (dc->s.close_after_poll && c->connected && cg_mb_is_network(a->src->transport)) {
        conn_close(c);
    }

done:;
    double latency = (double)(mono_us() - t0) / 1000.0;
    bool ok = n_ok > 0;
    bool skipped = !ok && n_bad == 0 && link_down;
    pthread_mutex_lock(&a->lock);
    if (skipped) {
        /* nothing was sent, or the link broke under it: no reading (so not up,
         * and its gap says "link down"), but not a failure of the device:
         * failed polls and quarantine are untouched */
        d->skipped++;
        d->up = false;
        d->latency_ms = -1;
        if (!d->has_error || strncmp(d->last_error, "link down", 9) == 0) {
            snprintf(d->last_error, sizeof d->last_error, "link down: %s", why[0] ? why : c->link_error);
            d->has_error = true;
        }
    } else {
        d->up = ok;
        d->latency_ms = ok ? latency : -1;
    }
    if (ok) {
        d->ok++;
        d->consecutive = 0;
        d->last_ok_ns = ts;
        if (n_bad == 0) {
            d->has_error = false;
        }
    } else if (!skipped) {
        d->failed++;
        d->consecutive++;
        if (why[0] && !d->has_error) {
            snprintf(d->last_error, sizeof d->last_error, "%s", why);
            d->has_error = true;
        }
    }
    uint64_t consecutive = d->consecutive;
    pthread_mutex_unlock(&a->lock);

    if (why[0]) {
        cg_log(CG_LOG_DEBUG, a->name, "device %s: %s", dc->name, why);
    }
    if (ok && n_bad == 0) {
        if (d->complain.failing) { /* no formatting on every good poll */
            char what[300];
            snprintf(what, sizeof what, "device %s", dc->name);
            cg_complain_clear(&d->complain, a->name, what);
        }
    } else if (why[0] && !link_down) {
        cg_complain(&d->complain, CG_LOG_WARN, a->name, "device %s: %s", dc->name, why);
    }
    if (!ok && !skipped && a->src->quarantine_after > 0 && consecutive >= (uint64_t)a->src->quarantine_after) {
        d->quarantine_until_ms = mono_ms() + a->src->quarantine_ms;
        pthread_mutex_lock(&a->lock);
        bool was = d->quarantined;
        d->quarantined = true;
        pthread_mutex_unlock(&a->lock);
        if (!was) {
            cg_log(CG_LOG_WARN, a->name, "device %s: %llu failed polls in a row, quarantined for %lld ms", dc->name,
                   (unsigned long long)consecutive, (long long)a->src->quarantine_ms);
        }
    } else if (ok) {
        pthread_mutex_lock(&a->lock);
        d->quarantined = false;
        pthread_mutex_unlock(&a->lock);
    }
    if (group == d->health_group || group == ALL_GROUPS) {
        emit_health(a, d, ts);
    }
    return ok;
}

/* ---- the worker pool --------------------------------------------------------
 * Connections do not get a thread each: a few workers share them all. A worker
 * takes the connection with the earliest due poll that no other worker holds,
 * polls that one device (blocking I/O on that one socket, bounded by the
 * device's own timeouts), and puts it back. So requests on a connection stay
 * strictly serialised, a silent endpoint holds at most one worker for its
 * timeouts, and memory and threads grow with the pool, not with endpoints.
 * Idle workers do not wake on time: one (the leader) sleeps until the next due
 * poll; the rest wait until the leader takes work and hands the role on. */

static int64_t conn_next_due_us(const struct conn *c)
{
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < c->n_devs; i++) {
        for (size_t j = 0; j < c->devs[i]->c->n_groups; j++) {
            due = c->devs[i]->due_ms[j] < due ? c->devs[i]->due_ms[j] : due;
        }
    }
    return due == INT64_MAX ? INT64_MAX : due * 1000;
}

/* Earliest due (device, group) on a connection no worker holds; NULL if none.
 * Scans a->due_us (8 bytes per connection: 1000 endpoints in ~1 us), then the
 * one connection. *second_us: when the next other connection is due. */
static struct dev *sched_pick(struct adapter *a, size_t *group, int64_t *second_us)
{
    size_t best = SIZE_MAX;
    int64_t second = INT64_MAX; /* the next connection's due time, after best */
    for (size_t k = 0; k < a->n_conns; k++) {
        if (a->due_us[k] == INT64_MAX) {
            continue;
        }
        if (best == SIZE_MAX || a->due_us[k] < a->due_us[best]) {
            second = best == SIZE_MAX ? INT64_MAX : a->due_us[best];
            best = k;
        } else if (a->due_us[k] < second) {
            second = a->due_us[k];
        }
    }
    *second_us = second;
    if (best == SIZE_MAX) {
        return NULL;
    }
    const struct conn *c = &a->conns[best];
    struct dev *next = NULL;
    size_t g = 0;
    for (size_t i = 0; i < c->n_devs; i++) {
        struct dev *d = c->devs[i];
        for (size_t j = 0; j < d->c->n_groups; j++) {
            if (d->due_ms[j] != INT64_MAX && (!next || d->due_ms[j] < next->due_ms[g])) {
                next = d;
                g = j;
            }
        }
    }
    *group = g;
    return next;
}

/* One due slot of one device: poll it (or, quarantined, only report it), then
 * move its due time on. The caller holds the connection. */
static void run_slot(struct adapter *a, struct dev *next, size_t g)
{
    int64_t now = mono_ms();
    if (next->quarantine_until_ms > now) {
        if (g == next->health_group) {
            emit_health(a, next, cg_time_now_ns());
        }
    } else {
        /* --test: one poll of all the device's groups, one timestamp */
        poll_device(next->conn, next, test_mode(a) ? ALL_GROUPS : (unsigned)g);
    }
    if (test_mode(a)) {
        for (size_t k = 0; k < next->c->n_groups; k++) {
            if (next->due_ms[k] != INT64_MAX) {
                next->due_ms[k] = INT64_MAX / 2000; /* polled once: not again until stopped */
            }
        }
        return;
    }
    /* keep the phase: skip slots a slow poll ran over, never burst */
    int64_t iv = next->c->groups[g].poll_interval_ms;
    next->due_ms[g] += iv;
    now = mono_ms();
    if (next->due_ms[g] <= now) {
        next->due_ms[g] += ((now - next->due_ms[g]) / iv + 1) * iv;
    }
}

static void *worker_main(void *arg)
{
    struct adapter *a = arg;
    pthread_mutex_lock(&a->sched);
    while (!atomic_load(&a->stopping)) {
        if (a->has_leader) {
            pthread_cond_wait(&a->follow, &a->sched);
            continue;
        }
        size_t g;
        int64_t after_us; /* the next poll due on another connection */
        struct dev *next = sched_pick(a, &g, &after_us);
        int64_t now = mono_us();
        if (!next || next->due_ms[g] * 1000 > now) {
            /* lead: sleep until that poll is due, or until a worker puts back
             * a connection that is due sooner (INT64_MAX: all are held) */
            int64_t until = next ? next->due_ms[g] * 1000 : INT64_MAX;
            a->has_leader = true;
            a->lead_due_us = until;
            if (until == INT64_MAX) {
                pthread_cond_wait(&a->lead, &a->sched);
            } else {
                struct timespec ts = {.tv_sec = until / 1000000, .tv_nsec = (until % 1000000) * 1000};
                pthread_cond_timedwait(&a->lead, &a->sched, &ts);
            }
            a->has_leader = false;
            continue;
        }
        struct conn *c = next->conn;
        size_t ck = (size_t)(c - a->conns);
        a->due_us[ck] = INT64_MAX; /* held: not picked by others */
        /* Someone must watch the clock while this poll runs. A quick poll of
         * a connected TCP device without pauses ends before the next one is
         * due, and waking another worker for it would double the wake-ups:
         * then the poll itself wakes one (handoff()) if it is still waiting
         * for an answer when the next poll is due. Anything else hands the
         * clock on now. */
        c->handoff_us = 0;
        if (after_us == INT64_MAX) {
            /* every other connection is held: their workers come back */
        } else if (after_us > now && c->connected && a->src->transport == CG_MB_TCP &&
                   a->frame_gap_us == 0 && a->src->pause_between_requests_ms == 0 &&
                   next->c->s.pause_between_requests_ms == 0 && !next->c->s.close_after_poll && !test_mode(a)) {
            c->handoff_us = after_us;
        } else {
            pthread_cond_signal(&a->follow);
        }
        pthread_mutex_unlock(&a->sched);
        run_slot(a, next, g);
        c->handoff_us = 0;
        pthread_mutex_lock(&a->sched);
        a->due_us[ck] = conn_next_due_us(c);
        if (a->has_leader && a->due_us[ck] < a->lead_due_us) {
            pthread_cond_signal(&a->lead);
        }
    }
    pthread_mutex_unlock(&a->sched);
    return NULL;
}

/* Workers for n connections: a serial bus (one connection) is sequential
 * anyway; many TCP endpoints share a pool that grows slowly with them, so a
 * few silent endpoints (each holding a worker for its timeouts) do not stall
 * the rest. */
static size_t pool_size(size_t n_conns)
{
    size_t n = POOL_MIN + n_conns / POOL_CONNS_PER_WORKER;
    n = n > POOL_MAX ? POOL_MAX : n;
    return n < n_conns ? n : n_conns;
}

/* ---- plan report ---------------------------------------------------------- */

static void log_plan(struct adapter *a, const struct cg_mb_device *d, enum cg_log_level level)
{
    char buf[1500];
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < d->plan.n_req && n < sizeof buf - 1; i++) {
        const struct cg_mb_request *r = &d->plan.req[i];
        const struct cg_mb_poll_group *g = &d->groups[r->group];
        char grp[200] = "";
        if (g->name) {
            snprintf(grp, sizeof grp, " (%s, every %lld ms)", g->name, (long long)g->poll_interval_ms);
        }
        int w = snprintf(buf + n, sizeof buf - n, "%s%s %u..%u%s", i ? ", " : "", cg_mb_table_name(r->table),
                         r->address + (unsigned)d->s.address_base,
                         r->address + r->count - 1 + (unsigned)d->s.address_base, grp);
        n = w < 0 ? n : n + (size_t)w >= sizeof buf ? sizeof buf - 1 : n + (size_t)w;
    }
    cg_log(level, a->name,
           "device %s (unit %d%s%s): %zu fields in %zu read%s [%s]; %zu reads without merging; "
           "%zu of %zu %s read are gap; every %lld ms",
           d->name, d->unit_id, d->profile ? ", profile " : "", d->profile ? d->profile : "", d->n_fields,
           d->plan.n_req, d->plan.n_req == 1 ? "" : "s", buf, d->plan_per_field,
           d->plan.units_read - d->plan.units_wanted, d->plan.units_read, "registers/bits",
           (long long)d->s.poll_interval_ms);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void dev_done(struct dev *d)
{
    free(d->due_ms);
    free(d->words);
    free(d->bits);
    free(d->req_off);
    free(d->req_ok);
    free(d->vals);
    free(d->val_ok);
    free(d->fields);
    free(d->points);
    for (size_t i = 0; d->groups && i < d->n_groups; i++) {
        free(d->groups[i].tags);
        free(d->groups[i].fields);
    }
    free(d->groups);
}

static void mb_destroy(void *state)
{
    struct adapter *a = state;
    if (!a) {
        return;
    }
    for (size_t i = 0; a->conns && i < a->n_conns; i++) {
        conn_close(&a->conns[i]);
        pthread_mutex_destroy(&a->conns[i].mu);
        free(a->conns[i].devs);
    }
    free(a->conns);
    for (size_t i = 0; a->devs && i < a->n_devs; i++) {
        dev_done(&a->devs[i]);
    }
    free(a->devs);
    cg_mb_lock_release(&a->port_lock);
    if (a->lock_init) {
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->cond);
    }
    if (a->sched_init) {
        pthread_mutex_destroy(&a->sched);
        pthread_cond_destroy(&a->lead);
        pthread_cond_destroy(&a->follow);
    }
    free(a->workers);
    free(a->due_us);
    cg_mb_source_free(a->src);
    free(a);
}

static bool same_tags(const struct cg_mb_field *x, const struct cg_mb_field *y)
{
    if (x->n_tags != y->n_tags) {
        return false;
    }
    for (size_t i = 0; i < x->n_tags; i++) {
        size_t k;
        for (k = 0; k < y->n_tags && strcmp(x->tags[i].key, y->tags[k].key) != 0; k++) {
        }
        if (k == y->n_tags || strcmp(x->tags[i].value, y->tags[k].value) != 0) {
            return false;
        }
    }
    return true;
}

static int dev_init(struct dev *d, const struct cg_mb_device *c)
{
    const struct cg_mb_plan *p = &c->plan;
    size_t n_words = 0, n_bits = 0;
    d->c = c;
    d->latency_ms = -1;
    d->response_timeout_ms = c->s.response_timeout_ms;
    if (!(d->req_off = calloc(p->n_req + 1, sizeof *d->req_off)) || !(d->req_ok = calloc(p->n_req + 1, 1)) ||
        !(d->due_ms = calloc(c->n_groups + 1, sizeof *d->due_ms))) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->n_req; i++) {
        if (cg_mb_table_is_bits(p->req[i].table)) {
            d->req_off[i] = n_bits;
            n_bits += p->req[i].count;
        } else {
            d->req_off[i] = n_words;
            n_words += p->req[i].count;
        }
    }
    size_t nf = c->n_fields;
    if (!(d->words = calloc(n_words + 1, sizeof *d->words)) || !(d->bits = calloc(n_bits + 1, 1)) ||
        !(d->vals = calloc(nf, sizeof *d->vals)) || !(d->val_ok = calloc(nf, 1)) ||
        !(d->fields = calloc(nf, sizeof *d->fields)) || !(d->points = calloc(nf, sizeof *d->points)) ||
        !(d->groups = calloc(nf, sizeof *d->groups))) {
        return -ENOMEM;
    }
    /* group fields by (measurement, register tags), in profile order */
    for (size_t i = 0; i < nf; i++) {
        const struct cg_mb_field *f = &c->fields[i];
        const char *m = f->measurement ? f->measurement : c->measurement;
        size_t g;
        for (g = 0; g < d->n_groups; g++) {
            const struct cg_mb_field *f0 = &c->fields[d->groups[g].fields[0]];
            if (strcmp(d->groups[g].measurement, m) == 0 && same_tags(f, f0)) {
                break;
            }
        }
        struct group *gr = &d->groups[g];
        if (g == d->n_groups) {
            d->n_groups++;
            gr->measurement = m;
            if (!(gr->fields = calloc(nf, sizeof *gr->fields)) ||
                !(gr->tags = calloc(c->n_tags + f->n_tags, sizeof *gr->tags))) {
                return -ENOMEM;
            }
            for (size_t k = 0; k < c->n_tags; k++) {
                gr->tags[gr->n_tags++] = c->tags[k];
            }
            for (size_t k = 0; k < f->n_tags; k++) {
                size_t j;
                for (j = 0; j < gr->n_tags && strcmp(gr->tags[j].key, f->tags[k].key) != 0; j++) {
                }
                gr->tags[j] = f->tags[k];
                if (j == gr->n_tags) {
                    gr->n_tags++;
                }
            }
        }
        gr->fields[gr->n_fields++] = i;
    }
    return 0;
}

static int mb_create(const cJSON *conf, const char *path, struct cg_sink *sink, void **state, struct cg_errs *errs)
{
    struct adapter *a = calloc(1, sizeof *a);
    int rc;
    if (!a) {
        return -ENOMEM;
    }
    *state = NULL;
    a->sink = sink;
    a->name = sink ? cg_sink_source_name(sink) : path;
    rc = cg_mb_source_parse(conf, path, sink ? cg_sink_config_dir(sink) : NULL, &a->src, errs);
    if (rc < 0) {
        goto fail;
    }
    struct cg_mb_source *s = a->src;
    if (s->health && sink) {
        cg_sink_own_measurement(sink, s->health_measurement); /* citygate_device is reserved otherwise */
    }
    a->frame_gap_us = cg_mb_frame_gap_us(s);
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        rc = -ENOMEM;
        goto fail;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&a->cond, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&a->lock);
        rc = -ENOMEM;
        goto fail;
    }
    a->lock_init = true;
    if (pthread_mutex_init(&a->sched, NULL) != 0) {
        pthread_condattr_destroy(&ca);
        rc = -ENOMEM;
        goto fail;
    }
    if (pthread_cond_init(&a->lead, &ca) != 0) {
        pthread_mutex_destroy(&a->sched);
        pthread_condattr_destroy(&ca);
        rc = -ENOMEM;
        goto fail;
    }
    if (pthread_cond_init(&a->follow, NULL) != 0) {
        pthread_cond_destroy(&a->lead);
        pthread_mutex_destroy(&a->sched);
        pthread_condattr_destroy(&ca);
        rc = -ENOMEM;
        goto fail;
    }
    pthread_condattr_destroy(&ca);
    a->sched_init = true;

    a->devs = calloc(s->n_devices, sizeof *a->devs);
    a->conns = calloc(s->n_devices, sizeof *a->conns); /* at most one per device */
    if (!a->devs || !a->conns) {
        rc = -ENOMEM;
        goto fail;
    }
    a->n_devs = s->n_devices;
    for (size_t i = 0; i < s->n_devices; i++) {
        struct cg_mb_device *dc = &s->devices[i];
        struct dev *d = &a->devs[i];
        if ((rc = dev_init(d, dc)) < 0) {
            goto fail;
        }
        const char *host = dc->host ? dc->host : s->host;
        size_t k;
        for (k = 0; k < a->n_conns; k++) {
            if (s->transport == CG_MB_RTU ||
                (a->conns[k].port == dc->port && strcmp(a->conns[k].host, host) == 0)) {
                break;
            }
        }
        struct conn *c = &a->conns[k];
        if (k == a->n_conns) {
            a->n_conns++;
            c->a = a;
            c->host = host;
            c->port = dc->port;
            cg_backoff_init(&c->backoff, s->reconnect_min_ms, s->reconnect_max_ms, CG_BACKOFF_NONE, 1);
            c->link_up = true;
            if (cg_mb_is_network(s->transport)) {
                snprintf(c->label, sizeof c->label, "%s %s:%d", s->transport == CG_MB_TCP ? "tcp" : "rtu-over-tcp",
                         host, dc->port);
            } else {
                snprintf(c->label, sizeof c->label, "rtu %s", s->device);
            }
            if (pthread_mutex_init(&c->mu, NULL) != 0) {
                rc = -ENOMEM;
                goto fail;
            }
        }
        if (c->n_devs == c->cap_devs) {
            /* grown, not sized for every device: 1000 endpoints of one device
             * each would otherwise cost 1000 x 1000 pointers */
            size_t cap = c->cap_devs ? 2 * c->cap_devs : 1;
            struct dev **nd = realloc(c->devs, cap * sizeof *nd);
            if (!nd) {
                rc = -ENOMEM;
                goto fail;
            }
            c->devs = nd;
            c->cap_devs = cap;
        }
        c->devs[c->n_devs++] = d;
        d->conn = c;
    }

    a->n_workers = pool_size(a->n_conns);
    if (!(a->workers = calloc(a->n_workers + 1, sizeof *a->workers)) ||
        !(a->due_us = calloc(a->n_conns + 1, sizeof *a->due_us))) {
        rc = -ENOMEM;
        goto fail;
    }

    /* the poll budget of every bus / connection */
    bool check_only = sink && cg_sink_check_only(sink);
    /* --check-config judges the config exactly as the daemon would run it */
    bool refuse = s->budget_check != 0;
    /* --check-config: names the city schema does not know are reported now */
    for (size_t i = 0; check_only && i < s->n_devices; i++) {
        const struct cg_mb_device *dv = &s->devices[i];
        char dp[512];
        snprintf(dp, sizeof dp, "%s.devices[%zu]%s%s%s", path, i, dv->profile ? " (profile " : "",
                 dv->profile ? dv->profile : "", dv->profile ? ")" : "");
        for (size_t k = 0; k < dv->n_fields; k++) {
            const struct cg_mb_field *f = &dv->fields[k];
            cg_sink_expect_field(sink, dp, f->measurement ? f->measurement : dv->measurement, f->name);
        }
    }
    size_t *idx = calloc(s->n_devices, sizeof *idx);
    if (!idx) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t k = 0; k < a->n_conns; k++) {
        struct conn *c = &a->conns[k];
        struct cg_mb_budget b;
        for (size_t i = 0; i < c->n_devs; i++) {
            idx[i] = (size_t)(c->devs[i] - a->devs);
        }
        cg_mb_budget_compute(s, idx, c->n_devs, &b);
        if (b.busy_ms_per_s > 1000.0) {
            char msg[600];
            snprintf(msg, sizeof msg,
                     "%s: the planned reads need about %.0f ms of every second (%.1f requests/s, %zu devices): "
                     "the bus cannot keep the poll intervals; raise poll_interval_ms, the baud rate, or split the bus",
                     c->label, b.busy_ms_per_s, b.requests_per_s, c->n_devs);
            if (refuse) {
                cg_errs_add(errs, path, "%s", msg);
            } else {
                cg_log(CG_LOG_WARN, a->name, "%s", msg);
            }
        }
        const struct cg_mb_device *w = &s->devices[b.worst_dev];
        if (b.worst_dev_ms > (double)b.worst_dev_interval_ms) {
            char msg[600];
            char p[512];
            snprintf(p, sizeof p, "%s.devices[%zu]", path, b.worst_dev);
            snprintf(msg, sizeof msg,
                     "when device %s does not answer, one poll takes up to %.0f ms (response_timeout_ms x "
                     "(1 + retries), twice that with RTU framing, + pause_after_connect_ms), longer than its (shortest) poll interval, %lld ms",
                     w->name, b.worst_dev_ms, (long long)b.worst_dev_interval_ms);
            if (refuse) {
                cg_errs_add(errs, p, "%s", msg);
            } else {
                cg_log(CG_LOG_WARN, a->name, "%s", msg);
            }
        }
    }
    free(idx);
    if (cg_errs_count(errs) > 0 && refuse) {
        rc = -EINVAL;
        goto fail;
    }
    bool dry = sink && cg_sink_dry_run(sink);
    size_t reads = 0, single = 0;
    for (size_t i = 0; i < s->n_devices; i++) {
        reads += s->devices[i].plan.n_req;
        single += s->devices[i].plan_per_field;
        if (!check_only) {
            log_plan(a, &s->devices[i], dry ? CG_LOG_INFO : CG_LOG_DEBUG);
        }
    }
    if (!check_only) {
        cg_log(CG_LOG_INFO, a->name, "%zu device%s on %zu %s; %zu reads per round instead of %zu one per field",
               s->n_devices, s->n_devices == 1 ? "" : "s", a->n_conns,
               cg_mb_is_network(s->transport) ? (a->n_conns == 1 ? "connection" : "connections") : "serial bus", reads,
               single);
    }
    *state = a;
    return 0;
fail:
    mb_destroy(a);
    return rc;
}

/* RTU: the port's lock file, before anything is sent on the line. */
static int take_port(struct adapter *a)
{
    const char *dev = a->src->device;
    pid_t holder = 0;
    if (a->src->transport != CG_MB_RTU || a->port_lock.held) {
        return 0;
    }
    int e = cg_mb_lock_take(&a->port_lock, dev, &holder);
    if (e == -EBUSY) {
        char real[PATH_MAX];
        if (!realpath(dev, real)) {
            snprintf(real, sizeof real, "%s", dev);
        }
        cg_log(CG_LOG_ERROR, a->name,
               "serial port %s (%s) is in use by pid %ld (lock file %s); refusing to be a second master on the line",
               dev, real, (long)holder, a->port_lock.file);
        return e;
    }
    if (e < 0) {
        /* no lock directory we may write to: TIOCEXCL still keeps others out */
        cg_log(CG_LOG_WARN, a->name, "serial port %s: cannot create the lock file %s: %s; relying on TIOCEXCL alone",
               dev, a->port_lock.file[0] ? a->port_lock.file : "(none)", strerror(-e));
    }
    return 0;
}

static void mb_stop(void *state);

static int mb_start(void *state)
{
    struct adapter *a = state;
    int64_t now = mono_ms();
    int lrc = take_port(a);
    if (lrc < 0) {
        return lrc;
    }
    atomic_store(&a->stopping, false);
    for (size_t i = 0; i < a->n_devs; i++) {
        struct dev *d = &a->devs[i];
        /* staggered start: device i of n begins i/n of its interval late (not
         * in --test: every device once, now); a slow group (energy every
         * minute) starts with the device, not a minute on */
        bool stagger = a->src->stagger && !test_mode(a);
        for (size_t g = 0; g < d->c->n_groups; g++) {
            int64_t iv = d->c->groups[g].poll_interval_ms;
            bool has_reads = false;
            for (size_t k = 0; k < d->c->plan.n_req; k++) {
                has_reads |= d->c->plan.req[k].group == g;
            }
            if (iv > d->c->s.poll_interval_ms) {
                iv = d->c->s.poll_interval_ms;
            }
            d->due_ms[g] = !has_reads ? INT64_MAX
                                      : now + (stagger ? (int64_t)((double)iv * (double)i / (double)a->n_devs) : 0);
            if (has_reads && (d->due_ms[d->health_group] == INT64_MAX ||
                              d->c->groups[g].poll_interval_ms < d->c->groups[d->health_group].poll_interval_ms)) {
                d->health_group = (unsigned)g;
            }
        }
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    a->has_leader = false;
    for (size_t k = 0; k < a->n_conns; k++) {
        a->due_us[k] = conn_next_due_us(&a->conns[k]);
    }
    for (a->n_started = 0; a->n_started < a->n_workers; a->n_started++) {
        int e = pthread_create(&a->workers[a->n_started], &attr, worker_main, a);
        if (e != 0) {
            pthread_attr_destroy(&attr);
            cg_log(CG_LOG_ERROR, a->name, "cannot start a polling thread: %s", strerror(e));
            mb_stop(a);
            return -e;
        }
    }
    pthread_attr_destroy(&attr);
    return 0;
}

static void mb_stop(void *state)
{
    struct adapter *a = state;
    if (!a) {
        return;
    }
    pthread_mutex_lock(&a->lock);
    atomic_store(&a->stopping, true);
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    /* wake reads blocked on a silent TCP peer; RTU waits at most one timeout */
    for (size_t k = 0; k < a->n_conns; k++) {
        struct conn *c = &a->conns[k];
        pthread_mutex_lock(&c->mu);
        if (c->ctx && c->connected && cg_mb_is_network(a->src->transport)) {
            int fd = modbus_get_socket(c->ctx);
            if (fd >= 0) {
                shutdown(fd, SHUT_RDWR);
            }
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (a->sched_init) {
        pthread_mutex_lock(&a->sched);
        pthread_cond_broadcast(&a->lead);
        pthread_cond_broadcast(&a->follow);
        pthread_mutex_unlock(&a->sched);
    }
    for (size_t k = 0; k < a->n_started; k++) {
        pthread_join(a->workers[k], NULL);
    }
    a->n_started = 0;
    for (size_t k = 0; k < a->n_conns; k++) {
        conn_close(&a->conns[k]);
    }
    /* the port is closed now: a reload's new generation takes it over */
    cg_mb_lock_release(&a->port_lock);
}

static void mb_health(void *state, cg_health_fn report, void *ctx)
{
    struct adapter *a = state;
    for (size_t i = 0; i < a->n_devs; i++) {
        struct dev *d = &a->devs[i];
        char err[LAST_ERROR_MAX];
        pthread_mutex_lock(&a->lock);
        struct cg_health_item it = {.device = d->c->name,
                                    .up = d->up,
                                    .quarantined = d->quarantined,
                                    .ok = d->ok,
                                    .failed = d->failed,
                                    .consecutive_failures = d->consecutive,
                                    .latency_ms = d->latency_ms,
                                    .last_ok_ns = d->last_ok_ns,
                                    .last_error = NULL,
                                    .stray_frames = d->stray,
                                    .skipped = d->skipped};
        if (d->has_error) {
            snprintf(err, sizeof err, "%s", d->last_error);
            it.last_error = err;
        }
        pthread_mutex_unlock(&a->lock);
        report(ctx, &it);
    }
    /* Each bus or TCP connection as a link of its own: down when none of its
     * devices answers (a dead gateway, an unplugged RS-485 adapter), so gap
     * records can say "bus down" rather than N devices down. */
    for (size_t k = 0; k < a->n_conns; k++) {
        struct conn *c = &a->conns[k];
        uint64_t ok = 0, failed = 0;
        bool any_up = false;
        char err[LAST_ERROR_MAX];
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < c->n_devs; i++) {
            ok += c->devs[i]->ok;
            failed += c->devs[i]->failed;
            any_up = any_up || c->devs[i]->up;
        }
        bool link_up = c->link_up;
        failed += c->link_failures;
        snprintf(err, sizeof err, "link down: %s", c->link_error);
        pthread_mutex_unlock(&a->lock);
        report(ctx, &(struct cg_health_item){.device = c->label,
                                             .kind = CG_HEALTH_LINK,
                                             .up = link_up && any_up,
                                             .ok = ok,
                                             .failed = failed,
                                             .latency_ms = -1,
                                             .last_error = !link_up ? err
                                                           : any_up ? NULL
                                                                    : "no device on this link answers"});
    }
}

const struct cg_adapter cg_adapter_modbus = {
    .api_version = CG_ADAPTER_API_VERSION,
    .type = "modbus",
    .summary = "Modbus TCP and RTU devices, read-only, described by profiles",
    .create = mb_create,
    .start = mb_start,
    .stop = mb_stop,
    .destroy = mb_destroy,
    .health = mb_health,
    .options = cg_mb_source_options,
    .sections = cg_mb_sections,
    .commands = (const struct cg_adapter_command[]){
        {"probe", "read raw Modbus registers from a live device, every decoding side by side",
         cg_modbus_probe_main},
        {NULL, NULL, NULL},
    },
};
