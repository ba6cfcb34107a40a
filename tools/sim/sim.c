/* citygate-sim — a simulated city of Modbus devices, for tests, demos and
 * benchmarks.
 *
 * Serves any citygate profile over Modbus TCP (one port per device, or many
 * unit ids on one port, like a TCP-to-RTU gateway) and Modbus RTU on a serial
 * or PTY device. Values follow each register's "range" (a slow wave plus
 * noise; "counter" registers grow and wrap at the top of the range), are
 * deterministic for a seed and a step, and are encoded with the same code the
 * adapter decodes with, so a test can compare what citygate wrote with what
 * was served (--print-values).
 *
 * Faults (--fault): dead (never answers), timeout (drops answers), exception=N,
 * disconnect (closes the connection), garbage (bytes that are not a valid
 * answer), delay=MS. Reading a forbidden address answers ILLEGAL DATA ADDRESS
 * and is counted; so is any write attempt (FC 5/6/15/16), which citygate
 * must never make.
 *
 * One thread, poll(): a thousand ports cost a thousand sockets, nothing more. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <citygate/config.h>

#include "conf.h"
#include "decode.h"
#include "frame.h"

#define MAX_CONNS 8192
#define MAX_FAULTS 64
#define RTU_PORT -1 /* "port" of the RTU bus in device keys */

enum fault_kind { FK_NONE, FK_DEAD, FK_TIMEOUT, FK_EXCEPTION, FK_DISCONNECT, FK_GARBAGE, FK_DELAY };

struct fault {
    int port; /* RTU_PORT for the serial bus, 0 = any */
    int unit; /* -1 = any */
    enum fault_kind kind;
    int arg;
    double prob;
};

struct bank {
    uint32_t lo, hi; /* dense [lo, hi) */
    uint16_t *w;     /* registers */
    uint8_t *b;      /* bits */
};

struct device {
    int port;
    int unit;
    struct cg_mb_profile *prof; /* borrowed */
    size_t index;
    int64_t step; /* bank content is for this step; -1: none yet */
    struct bank t[4];
    struct fault *faults[MAX_FAULTS];
    size_t n_faults;
    uint64_t requests;
};

struct listener {
    int fd;
    int port;
};

struct conn {
    int fd;
    int port;
    uint8_t in[300];
    size_t in_len;
    uint8_t out[600];
    size_t out_len;
    int64_t due_ms; /* pending answer (delay fault) */
    bool pending;
    bool dead; /* closed; freed at the end of the loop round */
};

static struct {
    uint64_t seed;
    int64_t step_ms;
    char *dirs[CG_MB_MAX_PROFILE_DIRS];
    size_t n_dirs;
    struct cg_mb_profile *profiles[64];
    size_t n_profiles;
    struct device *devs;
    size_t n_devs;
    struct listener *ls;
    size_t n_ls;
    struct conn *conns[MAX_CONNS];
    size_t n_conns;
    struct fault faults[MAX_FAULTS];
    size_t n_faults;
    char *rtu_path;
    int rtu_fd;
    long baud;
    uint8_t rtu_in[512];
    size_t rtu_len;
    int64_t rtu_last_ms;
    char *stats_file;
    /* counters */
    uint64_t requests, answers, registers, bits, exceptions, forbidden_reads, write_attempts, dropped, garbage,
        disconnects;
} S = {.seed = 1, .step_ms = 1000, .rtu_fd = -1, .baud = 9600};

static volatile sig_atomic_t quit, dump;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: small, good, deterministic */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double unit01(uint64_t h)
{
    return (double)(h >> 11) / 9007199254740992.0;
}

static uint64_t rng_state = 42;
static double rnd(void)
{
    rng_state = mix(rng_state);
    return unit01(rng_state);
}

/* ---- values ------------------------------------------------------------- */

static void type_range(const struct cg_mb_field *f, double *lo, double *hi)
{
    if (f->has_range) {
        *lo = f->range_lo;
        *hi = f->range_hi;
        return;
    }
    switch (f->layout.type) {
    case CG_MB_INT8: *lo = -100, *hi = 100; break;
    case CG_MB_UINT8: *lo = 0, *hi = 200; break;
    case CG_MB_INT16: *lo = -1000 * f->scale, *hi = 1000 * f->scale; break;
    case CG_MB_BITS: *lo = 0, *hi = (double)((1u << f->layout.bits) - 1); break;
    default: *lo = 0, *hi = 1000 * (f->scale > 0 ? f->scale : 1); break;
    }
}

static int64_t clampi(double x, double lo, double hi)
{
    if (x < lo) {
        x = lo;
    }
    if (x > hi) {
        x = hi;
    }
    return (int64_t)llround(x);
}

/* The value of field j of device d at step k, encoded into v. */
static void field_value(const struct device *d, size_t j, int64_t k, struct cg_mb_value *v)
{
    const struct cg_mb_field *f = &d->prof->fields[j];
    uint64_t h = mix(S.seed ^ mix((uint64_t)d->port * 1000003u + (uint64_t)d->unit) ^ mix(j + 77));
    uint64_t hk = mix(h ^ (uint64_t)k);
    double lo, hi, x;
    type_range(f, &lo, &hi);
    memset(v, 0, sizeof *v);
    if (f->layout.type == CG_MB_BOOL) {
        v->kind = CG_MB_V_BOOL;
        v->v.b = (hk % 5) == 0;
        return;
    }
    if (f->layout.type == CG_MB_STRING) {
        v->kind = CG_MB_V_STRING;
        unsigned cap = f->layout.regs * f->layout.chars_per_reg;
        snprintf(v->s, sizeof v->s, "SIM%d-%zu", d->unit, j);
        if (strlen(v->s) > cap) {
            v->s[cap] = '\0';
        }
        return;
    }
    if (f->counter) {
        /* A running total: grows by 1e-10..2e-10 of its range per step (a loop
         * counter ranged 0..4e9 counts 0.4..0.8 vehicles a step, about
         * 1500..3000 an hour at 1 s steps; an energy register ranged to 1e6 kWh
         * 0.36..0.72 kW) and wraps back to the bottom of the range past its top,
         * as device registers do. The step counts from the epoch, so without the
         * wrap every integer counter would sit clamped at its type's maximum. */
        double span = hi - lo;
        double v0 = span * 1e-4 * unit01(h), rate = span * 1e-10 * (1 + unit01(mix(h)));
        x = span > 0 ? lo + fmod(v0 + (double)k * rate, span) : lo;
    } else {
        /* A daily cycle (each device and field at its own phase) plus 2 %
         * noise: a value moves like a street sensor's, not by a third of its
         * range between two polls. */
        double step_s = S.step_ms > 0 ? (double)S.step_ms / 1000.0 : 1.0;
        double phase = unit01(h), t = (double)k * step_s / 86400.0;
        x = lo + (hi - lo) * (0.5 + 0.25 * sin(2 * M_PI * (t + phase)) + 0.02 * (unit01(hk) - 0.5));
    }
    double raw = (x - f->offset) / f->scale;
    switch (f->layout.type) {
    case CG_MB_FLOAT32:
    case CG_MB_FLOAT64:
        v->kind = CG_MB_V_FLOAT;
        v->v.f = f->layout.type == CG_MB_FLOAT32 ? (double)(float)raw : raw;
        return;
    case CG_MB_INT8: v->kind = CG_MB_V_INT, v->v.i = clampi(raw, -128, 127); return;
    case CG_MB_INT16: v->kind = CG_MB_V_INT, v->v.i = clampi(raw, -32768, 32767); return;
    case CG_MB_INT32: v->kind = CG_MB_V_INT, v->v.i = clampi(raw, -2147483648.0, 2147483647.0); return;
    case CG_MB_INT64: v->kind = CG_MB_V_INT, v->v.i = clampi(raw, -9e18, 9e18); return;
    case CG_MB_UINT8: v->kind = CG_MB_V_UINT, v->v.u = (uint64_t)clampi(raw, 0, 255); return;
    case CG_MB_UINT16: v->kind = CG_MB_V_UINT, v->v.u = (uint64_t)clampi(raw, 0, 65535); return;
    case CG_MB_UINT32: v->kind = CG_MB_V_UINT, v->v.u = (uint64_t)clampi(raw, 0, 4294967295.0); return;
    case CG_MB_UINT64: v->kind = CG_MB_V_UINT, v->v.u = (uint64_t)clampi(raw, 0, 9e18); return;
    case CG_MB_BITS:
        v->kind = CG_MB_V_UINT;
        v->v.u = (uint64_t)clampi(raw, 0, (double)((1u << f->layout.bits) - 1));
        return;
    default: return;
    }
}

static int64_t current_step(void)
{
    return S.step_ms > 0 ? now_ms() / S.step_ms : 0;
}

static int bank_init(struct device *d)
{
    uint32_t lo[4] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX}, hi[4] = {0};
    for (size_t j = 0; j < d->prof->n_fields; j++) {
        const struct cg_mb_field *f = &d->prof->fields[j];
        uint32_t end = f->address + cg_mb_layout_words(&f->layout);
        lo[f->table] = f->address < lo[f->table] ? f->address : lo[f->table];
        hi[f->table] = end > hi[f->table] ? end : hi[f->table];
    }
    for (int t = 0; t < 4; t++) {
        struct bank *b = &d->t[t];
        if (hi[t] <= lo[t]) {
            continue;
        }
        b->lo = lo[t];
        b->hi = hi[t];
        b->w = calloc(b->hi - b->lo, sizeof *b->w);
        b->b = calloc(b->hi - b->lo, 1);
        if (!b->w || !b->b) {
            return -ENOMEM;
        }
    }
    d->step = -1;
    return 0;
}

static void bank_refresh(struct device *d)
{
    int64_t k = current_step();
    if (k == d->step) {
        return;
    }
    d->step = k;
    for (int t = 0; t < 4; t++) {
        struct bank *b = &d->t[t];
        if (b->w) {
            memset(b->w, 0, (b->hi - b->lo) * sizeof *b->w);
            memset(b->b, 0, b->hi - b->lo);
        }
    }
    for (size_t j = 0; j < d->prof->n_fields; j++) {
        const struct cg_mb_field *f = &d->prof->fields[j];
        struct bank *b = &d->t[f->table];
        struct cg_mb_value v;
        field_value(d, j, k, &v);
        if (cg_mb_table_is_bits(f->table)) {
            b->b[f->address - b->lo] = v.v.b;
        } else {
            cg_mb_encode(&f->layout, &v, b->w + (f->address - b->lo), b->hi - f->address);
        }
    }
}

/* The value citygate should write for field j, as text (line protocol style). */
static void print_value(const struct device *d, size_t j, FILE *out)
{
    const struct cg_mb_field *f = &d->prof->fields[j];
    const struct bank *b = &d->t[f->table];
    struct cg_mb_value v;
    fprintf(out, "{\"port\":%d,\"unit\":%d,\"field\":\"%s\",\"measurement\":\"%s\",\"tags\":{", d->port, d->unit,
            f->name, f->measurement ? f->measurement : "");
    for (size_t i = 0; i < f->n_tags; i++) {
        fprintf(out, "%s\"%s\":\"%s\"", i ? "," : "", f->tags[i].key, f->tags[i].value);
    }
    fprintf(out, "},\"value\":");
    if (cg_mb_table_is_bits(f->table)) {
        fprintf(out, "%s}\n", b->b[f->address - b->lo] ? "true" : "false");
        return;
    }
    if (cg_mb_decode(&f->layout, b->w + (f->address - b->lo), b->hi - f->address, &v) < 0) {
        fprintf(out, "null}\n");
        return;
    }
    bool scaled = f->scale != 1 || f->offset != 0;
    switch (f->output) {
    case CG_MB_OUT_BOOL: fprintf(out, "%s}\n", v.v.b ? "true" : "false"); return;
    case CG_MB_OUT_STRING: fprintf(out, "\"%s\"}\n", v.s); return;
    default: break;
    }
    if (f->output == CG_MB_OUT_INT && !scaled && v.kind != CG_MB_V_FLOAT) {
        fprintf(out, "%lld}\n", v.kind == CG_MB_V_INT ? (long long)v.v.i : (long long)v.v.u);
        return;
    }
    double x = v.kind == CG_MB_V_INT ? (double)v.v.i : v.kind == CG_MB_V_UINT ? (double)v.v.u : v.v.f;
    x = x * f->scale + f->offset;
    if (f->output == CG_MB_OUT_INT) {
        fprintf(out, "%lld}\n", (long long)llround(x));
    } else {
        fprintf(out, "%.17g}\n", x);
    }
}

/* ---- protocol ----------------------------------------------------------- */

static struct device *find_dev(int port, int unit)
{
    for (size_t i = 0; i < S.n_devs; i++) {
        if (S.devs[i].port == port && S.devs[i].unit == unit) {
            return &S.devs[i];
        }
    }
    return NULL;
}

static const struct fault *pick_fault(struct device *d)
{
    for (size_t i = 0; d && i < d->n_faults; i++) {
        if (d->faults[i]->kind == FK_DEAD || rnd() < d->faults[i]->prob) {
            return d->faults[i];
        }
    }
    return NULL;
}

static bool forbidden(const struct device *d, enum cg_mb_table t, uint32_t a, uint32_t n)
{
    for (size_t i = 0; i < d->prof->n_forbid; i++) {
        const struct cg_mb_forbid *f = &d->prof->forbid[i];
        if (f->table == t && f->from < a + n && f->to >= a) {
            return true;
        }
    }
    return false;
}

/* Builds the PDU answer to pdu (len bytes) into out; returns its length. */
static size_t answer(struct device *d, const uint8_t *pdu, size_t len, uint8_t *out)
{
    uint8_t fc = pdu[0];
    int exc = 0;
    S.requests++;
    d->requests++;
    if (fc == 5 || fc == 6 || fc == 15 || fc == 16) {
        S.write_attempts++;
        exc = 1;
    } else if (fc < 1 || fc > 4) {
        exc = 1;
    } else if (len != 5) {
        exc = 3;
    }
    uint32_t addr = 0, n = 0;
    enum cg_mb_table t = fc == 1 ? CG_MB_COIL : fc == 2 ? CG_MB_DISCRETE : fc == 4 ? CG_MB_INPUT : CG_MB_HOLDING;
    if (!exc) {
        addr = (uint32_t)(pdu[1] << 8 | pdu[2]);
        n = (uint32_t)(pdu[3] << 8 | pdu[4]);
        bool bits = fc <= 2;
        if (n < 1 || n > (bits ? 2000u : 125u)) {
            exc = 3;
        } else if (addr + n > 65536) {
            exc = 2;
        } else if (forbidden(d, t, addr, n)) {
            S.forbidden_reads++;
            exc = 2;
        }
    }
    if (exc) {
        S.exceptions++;
        out[0] = (uint8_t)(fc | 0x80);
        out[1] = (uint8_t)exc;
        return 2;
    }
    bank_refresh(d);
    const struct bank *b = &d->t[t];
    out[0] = fc;
    if (fc <= 2) {
        size_t nb = (n + 7) / 8;
        out[1] = (uint8_t)nb;
        memset(out + 2, 0, nb);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t a = addr + i;
            if (b->b && a >= b->lo && a < b->hi && b->b[a - b->lo]) {
                out[2 + i / 8] |= (uint8_t)(1u << (i % 8));
            }
        }
        S.bits += n;
        return 2 + nb;
    }
    out[1] = (uint8_t)(2 * n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = addr + i;
        uint16_t w = (b->w && a >= b->lo && a < b->hi) ? b->w[a - b->lo] : 0;
        out[2 + 2 * i] = (uint8_t)(w >> 8);
        out[3 + 2 * i] = (uint8_t)w;
    }
    S.registers += n;
    return 2 + 2 * n;
}

static bool tcp_request(struct conn *c);
static void write_all(int fd, const uint8_t *p, size_t n);

static void conn_drop(struct conn *c)
{
    if (!c->dead) {
        close(c->fd);
        c->dead = true;
    }
}

static void conns_compact(void)
{
    size_t k = 0;
    for (size_t i = 0; i < S.n_conns; i++) {
        if (S.conns[i]->dead) {
            free(S.conns[i]);
        } else {
            S.conns[k++] = S.conns[i];
        }
    }
    S.n_conns = k;
}

static void flush_due(struct conn *cn, int64_t now)
{
    if (!cn->dead && cn->pending && cn->due_ms <= now) {
        write_all(cn->fd, cn->out, cn->out_len);
        S.answers++;
        cn->pending = false;
        if (!tcp_request(cn)) {
            conn_drop(cn);
        }
    }
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return;
        }
        p += k;
        n -= (size_t)k;
    }
}

static size_t make_garbage(uint8_t *out, const uint8_t *req_hdr, bool tcp)
{
    size_t n = 0;
    if (tcp && rnd() < 0.7) {
        /* a well-framed answer whose PDU lies about its length */
        memcpy(out, req_hdr, 4);
        out[4] = 0;
        out[5] = 5;
        out[6] = req_hdr[6];
        out[7] = 3;
        out[8] = 200; /* byte count that is not there */
        out[9] = 0x12;
        out[10] = 0x34;
        return 11;
    }
    n = 3 + (size_t)(rnd() * 20);
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(rnd() * 256);
    }
    return n;
}

/* Returns false when the connection must be closed. */
static bool tcp_request(struct conn *c)
{
    while (!c->pending && c->in_len >= 7) {
        size_t len = (size_t)(c->in[4] << 8 | c->in[5]);
        if (len < 2 || len > 254 || c->in[2] != 0 || c->in[3] != 0) {
            return false; /* not Modbus/TCP */
        }
        if (c->in_len < 6 + len) {
            return true;
        }
        int unit = c->in[6];
        struct device *d = find_dev(c->port, unit);
        uint8_t pdu[260];
        size_t n;
        const struct fault *f = d ? pick_fault(d) : NULL;
        if (f && (f->kind == FK_DEAD || f->kind == FK_TIMEOUT)) {
            S.dropped++;
            S.requests++;
        } else if (f && f->kind == FK_DISCONNECT) {
            S.disconnects++;
            return false;
        } else {
            if (!d) {
                pdu[0] = (uint8_t)(c->in[7] | 0x80);
                pdu[1] = 0x0B; /* GATEWAY TARGET DEVICE FAILED TO RESPOND */
                n = 2;
                S.exceptions++;
            } else if (f && f->kind == FK_EXCEPTION) {
                S.requests++;
                S.exceptions++;
                pdu[0] = (uint8_t)(c->in[7] | 0x80);
                pdu[1] = (uint8_t)f->arg;
                n = 2;
            } else {
                n = answer(d, c->in + 7, len - 1, pdu);
            }
            if (f && f->kind == FK_GARBAGE) {
                S.garbage++;
                c->out_len = make_garbage(c->out, c->in, true);
            } else {
                memcpy(c->out, c->in, 4);
                c->out[4] = (uint8_t)((n + 1) >> 8);
                c->out[5] = (uint8_t)(n + 1);
                c->out[6] = (uint8_t)unit;
                memcpy(c->out + 7, pdu, n);
                c->out_len = 7 + n;
            }
            c->pending = true;
            c->due_ms = mono_ms() + (f && f->kind == FK_DELAY ? f->arg : 0);
        }
        memmove(c->in, c->in + 6 + len, c->in_len - 6 - len);
        c->in_len -= 6 + len;
    }
    return true;
}

static void rtu_frame(void)
{
    /* every read request (FC 1-4) is 8 bytes: unit, fc, addr, count, crc */
    while (S.rtu_len >= 8) {
        uint16_t crc = cg_mb_crc16(S.rtu_in, 6);
        if ((uint16_t)(S.rtu_in[6] | S.rtu_in[7] << 8) != crc) {
            memmove(S.rtu_in, S.rtu_in + 1, --S.rtu_len);
            continue;
        }
        int unit = S.rtu_in[0];
        struct device *d = find_dev(RTU_PORT, unit);
        uint8_t out[600];
        size_t n = 0;
        if (d) {
            const struct fault *f = pick_fault(d);
            if (f && (f->kind == FK_DEAD || f->kind == FK_TIMEOUT || f->kind == FK_DISCONNECT)) {
                S.dropped++;
                S.requests++;
            } else if (f && f->kind == FK_GARBAGE) {
                S.garbage++;
                S.requests++;
                n = make_garbage(out, S.rtu_in, false);
            } else {
                if (f && f->kind == FK_EXCEPTION) {
                    S.requests++;
                    S.exceptions++;
                    out[1] = (uint8_t)(S.rtu_in[1] | 0x80);
                    out[2] = (uint8_t)f->arg;
                    n = 3;
                } else {
                    n = 1 + answer(d, S.rtu_in + 1, 5, out + 1);
                }
                out[0] = (uint8_t)unit;
                uint16_t c2 = cg_mb_crc16(out, n);
                out[n++] = (uint8_t)c2;
                out[n++] = (uint8_t)(c2 >> 8);
                if (f && f->kind == FK_DELAY) {
                    usleep((useconds_t)f->arg * 1000);
                }
            }
        }
        if (n) {
            /* the master waits for the silence before answering is allowed */
            write_all(S.rtu_fd, out, n);
            S.answers++;
        }
        memmove(S.rtu_in, S.rtu_in + 8, S.rtu_len - 8);
        S.rtu_len -= 8;
    }
}

static int open_rtu(const char *path)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "citygate-sim: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) {
        cfmakeraw(&tio);
        speed_t sp = S.baud >= 115200 ? B115200 : S.baud >= 57600 ? B57600 : S.baud >= 38400 ? B38400
                     : S.baud >= 19200 ? B19200 : S.baud >= 9600 ? B9600 : B4800;
        cfsetispeed(&tio, sp);
        cfsetospeed(&tio, sp);
        tcsetattr(fd, TCSANOW, &tio);
    }
    return fd;
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
        fprintf(stderr, "citygate-sim: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- setup -------------------------------------------------------------- */

static struct cg_mb_profile *profile(const char *name)
{
    for (size_t i = 0; i < S.n_profiles; i++) {
        if (strcmp(S.profiles[i]->name, name) == 0) {
            return S.profiles[i];
        }
    }
    if (S.n_profiles == sizeof S.profiles / sizeof S.profiles[0]) {
        return NULL;
    }
    struct cg_errs errs = {0};
    struct cg_mb_profile *p = NULL;
    if (cg_mb_profile_load(name, S.dirs, S.n_dirs, "--tcp/--rtu", &p, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "citygate-sim: %s\n", errs.msg[i]);
        }
        cg_errs_done(&errs);
        return NULL;
    }
    cg_errs_done(&errs);
    S.profiles[S.n_profiles++] = p;
    return p;
}

/* "1", "1-5", "1,3,9" */
static int parse_units(const char *s, int *units, int max)
{
    int n = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long a = strtol(tok, &end, 10), b = a;
        if (*end == '-') {
            b = strtol(end + 1, &end, 10);
        }
        if (*end || a < 0 || b > 255 || b < a) {
            free(copy);
            return -1;
        }
        for (long u = a; u <= b && n < max; u++) {
            units[n++] = (int)u;
        }
    }
    free(copy);
    return n;
}

static int add_devices(int port_from, int port_to, const char *prof_name, const char *units_s)
{
    struct cg_mb_profile *p = profile(prof_name);
    int units[256];
    int nu = parse_units(units_s ? units_s : "1", units, 256);
    if (!p || nu <= 0) {
        fprintf(stderr, "citygate-sim: bad device spec (profile '%s', units '%s')\n", prof_name,
                units_s ? units_s : "1");
        return -1;
    }
    size_t add = (size_t)(port_to - port_from + 1) * (size_t)nu;
    struct device *nd = realloc(S.devs, (S.n_devs + add) * sizeof *nd);
    if (!nd) {
        return -1;
    }
    S.devs = nd;
    for (int port = port_from; port <= port_to; port++) {
        for (int k = 0; k < nu; k++) {
            struct device *d = &S.devs[S.n_devs];
            memset(d, 0, sizeof *d);
            d->port = port;
            d->unit = units[k];
            d->prof = p;
            d->index = S.n_devs++;
            if (bank_init(d) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* PORT[-PORT2]=PROFILE[@UNITS] */
static int parse_tcp(const char *spec)
{
    char *s = strdup(spec), *eq = strchr(s, '='), *at, *end;
    int rc = -1;
    if (!eq) {
        goto out;
    }
    *eq = '\0';
    at = strchr(eq + 1, '@');
    if (at) {
        *at++ = '\0';
    }
    long a = strtol(s, &end, 10), b = a;
    if (*end == '-') {
        b = strtol(end + 1, &end, 10);
    }
    if (*end || a < 1 || b > 65535 || b < a) {
        goto out;
    }
    rc = add_devices((int)a, (int)b, eq + 1, at);
out:
    if (rc < 0) {
        fprintf(stderr, "citygate-sim: --tcp %s: expected PORT[-PORT2]=PROFILE[@UNITS]\n", spec);
    }
    free(s);
    return rc;
}

/* PORT/UNIT:KIND[=ARG][:PROB]  (PORT may be "rtu" or "*", UNIT may be "*") */
static int parse_fault(const char *spec)
{
    char kind[32] = "";
    char where[32] = "", unit[16] = "";
    double prob = 1.0;
    int arg = 0;
    struct fault *f = &S.faults[S.n_faults];
    if (S.n_faults >= MAX_FAULTS || sscanf(spec, "%31[^/]/%15[^:]:%31[^:]:%lf", where, unit, kind, &prob) < 3) {
        fprintf(stderr, "citygate-sim: --fault %s: expected PORT/UNIT:KIND[=ARG][:PROB]\n", spec);
        return -1;
    }
    char *eq = strchr(kind, '=');
    if (eq) {
        *eq = '\0';
        arg = atoi(eq + 1);
    }
    f->port = strcmp(where, "rtu") == 0 ? RTU_PORT : strcmp(where, "*") == 0 ? 0 : atoi(where);
    f->unit = strcmp(unit, "*") == 0 ? -1 : atoi(unit);
    f->prob = prob;
    f->arg = arg;
    static const char *const names[] = {"", "dead", "timeout", "exception", "disconnect", "garbage", "delay"};
    f->kind = FK_NONE;
    for (int i = 1; i < 7; i++) {
        if (strcmp(kind, names[i]) == 0) {
            f->kind = (enum fault_kind)i;
        }
    }
    if (f->kind == FK_NONE || (f->kind == FK_EXCEPTION && (arg < 1 || arg > 255))) {
        fprintf(stderr, "citygate-sim: --fault %s: kind is dead, timeout, exception=N, disconnect, garbage or "
                        "delay=MS\n",
                spec);
        return -1;
    }
    S.n_faults++;
    return 0;
}

static void write_stats(void)
{
    FILE *f = S.stats_file ? fopen(S.stats_file, "w") : stderr;
    if (!f) {
        return;
    }
    fprintf(f,
            "{\"requests\":%llu,\"answers\":%llu,\"registers\":%llu,\"bits\":%llu,\"exceptions\":%llu,"
            "\"forbidden_reads\":%llu,\"write_attempts\":%llu,\"dropped\":%llu,\"garbage\":%llu,\"disconnects\":%llu,"
            "\"devices\":{",
            (unsigned long long)S.requests, (unsigned long long)S.answers, (unsigned long long)S.registers,
            (unsigned long long)S.bits, (unsigned long long)S.exceptions, (unsigned long long)S.forbidden_reads,
            (unsigned long long)S.write_attempts, (unsigned long long)S.dropped, (unsigned long long)S.garbage,
            (unsigned long long)S.disconnects);
    for (size_t i = 0; i < S.n_devs && S.n_devs <= 64; i++) {
        fprintf(f, "%s\"%d/%d\":%llu", i ? "," : "", S.devs[i].port, S.devs[i].unit,
                (unsigned long long)S.devs[i].requests);
    }
    fprintf(f, "}}\n");
    if (f != stderr) {
        fclose(f);
    }
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1) {
        dump = 1;
    } else {
        quit = 1;
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: citygate-sim [options]\n"
            "  --profile-dir DIR       where profiles are (repeatable; default ./profiles,\n"
            "                          /usr/share/citygate/profiles)\n"
            "  --tcp PORT[-PORT2]=PROFILE[@UNITS]\n"
            "                          serve PROFILE on 127.0.0.1:PORT (each port of a range),\n"
            "                          as unit ids UNITS (\"1\", \"1-8\", \"1,5\"; default 1)\n"
            "  --rtu PATH=PROFILE[@UNITS]  serve on a serial/PTY device (e.g. one end of socat)\n"
            "  --baud N                RTU baud rate (default 9600)\n"
            "  --fault PORT/UNIT:KIND[=ARG][:PROB]\n"
            "                          KIND: dead, timeout, exception=N, disconnect, garbage,\n"
            "                          delay=MS; PORT may be rtu or *, UNIT may be *; PROB 0..1\n"
            "  --seed N                values are a function of seed, device and step (default 1)\n"
            "  --step-ms MS            values change every MS of wall time (default 1000; 0 = fixed)\n"
            "  --print-values          print every field's served value (JSON lines) and go on\n"
            "  --stats FILE            write counters (JSON) there on exit and on SIGUSR1\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"profile-dir", required_argument, NULL, 'd'}, {"tcp", required_argument, NULL, 't'},
        {"rtu", required_argument, NULL, 'r'},         {"baud", required_argument, NULL, 'b'},
        {"fault", required_argument, NULL, 'f'},       {"seed", required_argument, NULL, 's'},
        {"step-ms", required_argument, NULL, 'k'},     {"print-values", no_argument, NULL, 'p'},
        {"stats", required_argument, NULL, 'S'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char *tcp_specs[256], *rtu_specs[16];
    size_t n_tcp = 0, n_rtu = 0;
    bool print = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (S.n_dirs < CG_MB_MAX_PROFILE_DIRS) {
                S.dirs[S.n_dirs++] = optarg;
            }
            break;
        case 't':
            if (n_tcp < 256) {
                tcp_specs[n_tcp++] = optarg;
            }
            break;
        case 'r':
            if (n_rtu < 16) {
                rtu_specs[n_rtu++] = optarg;
            }
            break;
        case 'b': S.baud = atol(optarg); break;
        case 'f':
            if (parse_fault(optarg) < 0) {
                return 2;
            }
            break;
        case 's': S.seed = strtoull(optarg, NULL, 10); break;
        case 'k': S.step_ms = atoll(optarg); break;
        case 'p': print = true; break;
        case 'S': S.stats_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (S.n_dirs == 0) {
        S.dirs[S.n_dirs++] = "profiles";
        S.dirs[S.n_dirs++] = "/usr/share/citygate/profiles";
    }
    if (n_tcp == 0 && n_rtu == 0) {
        usage(stderr);
        return 2;
    }
    rng_state = mix(S.seed ^ 0xfeed);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (size_t i = 0; i < n_tcp; i++) {
        if (parse_tcp(tcp_specs[i]) < 0) {
            return 2;
        }
    }
    for (size_t r = 0; r < n_rtu; r++) {
        char *s = strdup(rtu_specs[r]), *eq = strrchr(s, '='), *at;
        if (!eq || (S.rtu_path && strncmp(S.rtu_path, s, (size_t)(eq - s)) != 0)) {
            fprintf(stderr, "citygate-sim: --rtu %s: expected PATH=PROFILE[@UNITS], one PATH for all\n",
                    rtu_specs[r]);
            free(s);
            return 2;
        }
        *eq = '\0';
        at = strchr(eq + 1, '@');
        if (at) {
            *at++ = '\0';
        }
        if (add_devices(RTU_PORT, RTU_PORT, eq + 1, at) < 0) {
            free(s);
            return 2;
        }
        if (!S.rtu_path) {
            S.rtu_path = s;
        } else {
            free(s);
        }
    }
    for (size_t i = 0; i < S.n_devs; i++) {
        struct device *d = &S.devs[i];
        for (size_t k = 0; k < S.n_faults; k++) {
            struct fault *f = &S.faults[k];
            if ((f->port == 0 || f->port == d->port) && (f->unit < 0 || f->unit == d->unit) &&
                d->n_faults < MAX_FAULTS) {
                d->faults[d->n_faults++] = f;
            }
        }
    }
    if (print) {
        for (size_t i = 0; i < S.n_devs; i++) {
            bank_refresh(&S.devs[i]);
            for (size_t j = 0; j < S.devs[i].prof->n_fields; j++) {
                print_value(&S.devs[i], j, stdout);
            }
        }
        fflush(stdout);
    }
    /* listeners: one per distinct port */
    S.ls = calloc(S.n_devs + 1, sizeof *S.ls);
    for (size_t i = 0; i < S.n_devs; i++) {
        int port = S.devs[i].port;
        bool have = port == RTU_PORT;
        for (size_t k = 0; k < S.n_ls && !have; k++) {
            have = S.ls[k].port == port;
        }
        if (!have) {
            int fd = listen_on(port);
            if (fd < 0) {
                return 1;
            }
            S.ls[S.n_ls++] = (struct listener){.fd = fd, .port = port};
        }
    }
    if (S.rtu_path && (S.rtu_fd = open_rtu(S.rtu_path)) < 0) {
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "citygate-sim: %zu devices on %zu TCP ports%s%s, seed %llu\n", S.n_devs, S.n_ls,
            S.rtu_path ? " and RTU " : "", S.rtu_path ? S.rtu_path : "", (unsigned long long)S.seed);

    size_t cap = S.n_ls + MAX_CONNS + 1;
    struct pollfd *pfd = calloc(cap, sizeof *pfd);
    struct conn **pc = calloc(cap, sizeof *pc);
    if (!pfd || !pc) {
        return 1;
    }
    while (!quit) {
        if (dump) {
            dump = 0;
            write_stats();
        }
        size_t n = 0, n_conn_fds;
        int timeout = 1000;
        int64_t now = mono_ms();
        for (size_t i = 0; i < S.n_ls; i++) {
            pfd[n++] = (struct pollfd){.fd = S.ls[i].fd, .events = POLLIN};
        }
        for (size_t i = 0; i < S.n_conns; i++) {
            struct conn *cn = S.conns[i];
            pc[n] = cn;
            pfd[n++] = (struct pollfd){.fd = cn->fd, .events = cn->pending ? 0 : POLLIN};
            if (cn->pending) {
                int64_t wait = cn->due_ms - now;
                timeout = wait < 0 ? 0 : (wait < timeout ? (int)wait : timeout);
            }
        }
        n_conn_fds = n;
        if (S.rtu_fd >= 0) {
            pfd[n++] = (struct pollfd){.fd = S.rtu_fd, .events = POLLIN};
            if (S.rtu_len > 0 && timeout > 5) {
                timeout = 5;
            }
        }
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno != EINTR) {
            break;
        }
        now = mono_ms();
        for (size_t i = S.n_ls; i < n_conn_fds; i++) {
            struct conn *cn = pc[i];
            if (r > 0 && !cn->dead && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t got = read(cn->fd, cn->in + cn->in_len, sizeof cn->in - cn->in_len);
                if (got <= 0) {
                    conn_drop(cn);
                    continue;
                }
                cn->in_len += (size_t)got;
                if (!tcp_request(cn)) {
                    conn_drop(cn);
                    continue;
                }
            }
            flush_due(cn, now);
        }
        conns_compact();
        if (r > 0) {
            for (size_t i = 0; i < S.n_ls; i++) {
                if (!(pfd[i].revents & POLLIN)) {
                    continue;
                }
                int fd = accept4(S.ls[i].fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                    continue;
                }
                struct conn *cn = S.n_conns < MAX_CONNS ? calloc(1, sizeof *cn) : NULL;
                if (!cn) {
                    close(fd);
                    continue;
                }
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                cn->fd = fd;
                cn->port = S.ls[i].port;
                S.conns[S.n_conns++] = cn;
            }
        }
        if (S.rtu_fd >= 0) {
            if (r > 0 && (pfd[n - 1].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t got = read(S.rtu_fd, S.rtu_in + S.rtu_len, sizeof S.rtu_in - S.rtu_len);
                if (got > 0) {
                    S.rtu_len += (size_t)got;
                    S.rtu_last_ms = now;
                    rtu_frame();
                    if (S.rtu_len == sizeof S.rtu_in) {
                        S.rtu_len = 0;
                    }
                } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    /* the other end of the PTY is gone: wait for it to come back */
                    usleep(100000);
                }
            } else if (S.rtu_len > 0 && now - S.rtu_last_ms > 50) {
                S.rtu_len = 0; /* a partial frame followed by silence: drop it */
            }
        }
    }
    write_stats();
    for (size_t i = 0; i < S.n_conns; i++) {
        close(S.conns[i]->fd);
        free(S.conns[i]);
    }
    for (size_t i = 0; i < S.n_ls; i++) {
        close(S.ls[i].fd);
    }
    if (S.rtu_fd >= 0) {
        close(S.rtu_fd);
    }
    for (size_t i = 0; i < S.n_devs; i++) {
        for (int t = 0; t < 4; t++) {
            free(S.devs[i].t[t].w);
            free(S.devs[i].t[t].b);
        }
    }
    free(S.devs);
    free(S.ls);
    free(pfd);
    free(pc);
    free(S.rtu_path);
    for (size_t i = 0; i < S.n_profiles; i++) {
        cg_mb_profile_free(S.profiles[i]);
    }
    return 0;
}
