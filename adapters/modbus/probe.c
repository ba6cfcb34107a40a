/* citygate modbus — `citygate probe`: the tool for "my meter shows 1.13e9 V".
 *
 * Reads count registers starting one before the given address (so both the
 * 0-based and the 1-based reading of a manual's number are covered) and prints,
 * for both address bases, every type in every byte order, marking with '*'
 * the values inside the expected range (or merely plausible ones). Read-only
 * like the adapter: only function codes 1-4. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <modbus.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "frame.h"
#include "probe.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: citygate probe (--tcp HOST[:PORT] | --rtu DEVICE [--baud N] [--parity none|even|odd]\n"
            "                      [--data-bits N] [--stop-bits N]) [--unit N]\n"
            "                      [--table holding|input|coil|discrete] --address N [--base 0|1] [--count N]\n"
            "                      [--scale F] [--range MIN:MAX] [--timeout-ms N]\n"
            "Prints each type and byte order of the registers at N, for N as a protocol address\n"
            "(base 0: reads N..) and as a manual's 1-based register number (base 1: reads N-1..);\n"
            "--base picks one. A manual's 30001/40001 number is given without its table prefix:\n"
            "--table input --address 1 --base 1. Values are multiplied by --scale, then '*' marks\n"
            "those inside --range (default: finite, 0 or 1e-3 <= |x| <= 1e7).\n");
}

static bool plausible(double x, bool has_range, double lo, double hi)
{
    if (!isfinite(x)) {
        return false;
    }
    if (has_range) {
        return x >= lo && x <= hi;
    }
    double a = fabs(x);
    return a == 0 || (a >= 1e-3 && a <= 1e7);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One read with the adapter's reply validation (frame.h): a frame that is not
 * the answer (another unit id, transaction id, function or size) is skipped and
 * counted in *skipped, never shown as the device's values. 0, or -errno /
 * -(MODBUS_ENOBASE + exception). */
static int probe_read(modbus_t *ctx, bool rtu, int tbl, long unit, long first, long n, long timeout_ms, uint16_t *w,
                      uint8_t *b, unsigned *skipped)
{
    static const uint8_t fc[] = {[CG_MB_COIL] = 1, [CG_MB_DISCRETE] = 2, [CG_MB_INPUT] = 4, [CG_MB_HOLDING] = 3};
    struct cg_mb_expect e;
    uint8_t req[CG_MB_FRAME_MAX], rx[2 * CG_MB_FRAME_MAX];
    size_t rx_n = 0;
    int fd = modbus_get_socket(ctx);
    cg_mb_expect_init(&e, rtu, 1, (uint8_t)unit, fc[tbl], (uint16_t)first, (uint16_t)n);
    size_t len = cg_mb_frame_request(&e, req);
    if (rtu ? modbus_send_raw_request(ctx, req, (int)len - 2) < 0 : send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
        return -(errno ? errno : EIO);
    }
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        while (rx_n > 0) {
            size_t used;
            const uint8_t *data = NULL;
            unsigned exc = 0, u = 0;
            enum cg_mb_scan s = cg_mb_frame_scan(&e, rx, rx_n, &used, &data, &exc, &u);
            if (s == CG_MB_SCAN_MORE && rx_n < sizeof rx) {
                break;
            }
            if (s == CG_MB_SCAN_REPLY) {
                if (b) {
                    cg_mb_frame_bits(data, (uint16_t)n, b);
                } else {
                    cg_mb_frame_words(data, (uint16_t)n, w);
                }
                return 0;
            }
            if (s == CG_MB_SCAN_EXCEPTION) {
                return -(MODBUS_ENOBASE + (int)exc);
            }
            if (s == CG_MB_SCAN_DESYNC) {
                return -EMBBADDATA;
            }
            (*skipped)++;
            used = used ? used : 1;
            memmove(rx, rx + used, rx_n - used);
            rx_n -= used;
        }
        int64_t left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (pr <= 0) {
            return pr < 0 && errno != EINTR ? -errno : -ETIMEDOUT;
        }
        ssize_t got = read(fd, rx + rx_n, sizeof rx - rx_n);
        if (got < 0 && errno != EAGAIN && errno != EINTR) {
            return -errno;
        }
        if (got == 0 && !rtu) {
            return -ECONNRESET;
        }
        rx_n += got > 0 ? (size_t)got : 0;
    }
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || *end || v < lo || v > hi) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int cg_modbus_probe_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tcp", required_argument, NULL, 't'},      {"rtu", required_argument, NULL, 'r'},
        {"baud", required_argument, NULL, 'b'},     {"parity", required_argument, NULL, 'p'},
        {"data-bits", required_argument, NULL, 'D'}, {"stop-bits", required_argument, NULL, 'S'},
        {"unit", required_argument, NULL, 'u'},     {"table", required_argument, NULL, 'T'},
        {"address", required_argument, NULL, 'a'},  {"count", required_argument, NULL, 'c'},
        {"range", required_argument, NULL, 'R'},    {"timeout-ms", required_argument, NULL, 'o'},
        {"base", required_argument, NULL, 'B'},     {"scale", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *tcp = NULL, *rtu = NULL, *table = "holding";
    long baud = 9600, data_bits = 8, stop_bits = 1, unit = 1, address = -1, count = 4, timeout_ms = 1000;
    long only_base = -1; /* -1: both readings */
    double scale = 1;
    const char *range_text = NULL;
    char parity = 'N';
    bool has_range = false;
    double lo = 0, hi = 0;
    modbus_t *ctx = NULL;
    int rc = 2, c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int e = 0;
        switch (c) {
        case 't': tcp = optarg; break;
        case 'r': rtu = optarg; break;
        case 'b': e = parse_long(optarg, 300, 4000000, &baud); break;
        case 'p':
            parity = strcmp(optarg, "even") == 0 ? 'E' : strcmp(optarg, "odd") == 0 ? 'O' : 'N';
            e = (strcmp(optarg, "none") && strcmp(optarg, "even") && strcmp(optarg, "odd")) ? -EINVAL : 0;
            break;
        case 'D': e = parse_long(optarg, 7, 8, &data_bits); break;
        case 'S': e = parse_long(optarg, 1, 2, &stop_bits); break;
        case 'u': e = parse_long(optarg, 0, 255, &unit); break;
        case 'T': table = optarg; break;
        case 'a': e = parse_long(optarg, 0, 65535, &address); break;
        case 'c': e = parse_long(optarg, 1, 120, &count); break;
        case 'o': e = parse_long(optarg, 10, 60000, &timeout_ms); break;
        case 'R':
            e = sscanf(optarg, "%lf:%lf", &lo, &hi) == 2 && lo <= hi ? 0 : -EINVAL;
            has_range = true;
            range_text = optarg;
            break;
        case 'B': e = parse_long(optarg, 0, 1, &only_base); break;
        case 's': {
            char *end;
            errno = 0;
            scale = strtod(optarg, &end);
            e = errno || *end || !isfinite(scale) || scale == 0 ? -EINVAL : 0;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (e < 0) {
            fprintf(stderr, "citygate probe: bad value '%s' for %s\n", optarg, argv[optind - 1]);
            return 2;
        }
    }
    int tbl = strcmp(table, "holding") == 0  ? CG_MB_HOLDING
              : strcmp(table, "input") == 0  ? CG_MB_INPUT
              : strcmp(table, "coil") == 0   ? CG_MB_COIL
              : strcmp(table, "discrete") == 0 ? CG_MB_DISCRETE
                                              : -1;
    if ((!tcp == !rtu) || address < 0 || tbl < 0) {
        usage(stderr);
        return 2;
    }
    if (only_base == 1 && address == 0) {
        fprintf(stderr, "citygate probe: --address 0 is not a 1-based register number (--base 1 starts at 1)\n");
        return 2;
    }
    /* a manual's 5-digit number with its table prefix (Modicon convention):
     * 30001 = input register 1, 40001 = holding register 1. Protocol addresses
     * that high exist (SunSpec starts at 40000), so it is explained, not guessed. */
    static const struct {
        int table;
        long from;
        char prefix;
        const char *what;
    } prefixes[] = {{CG_MB_DISCRETE, 10001, '1', "discrete input"},
                    {CG_MB_INPUT, 30001, '3', "input"},
                    {CG_MB_HOLDING, 40001, '4', "holding"}};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (tbl == prefixes[i].table && address >= prefixes[i].from && address < prefixes[i].from + 9999) {
            printf("note: %ld looks like a manual's %s register number with its '%c' prefix: that is --address %ld "
                   "--base 1 (protocol address %ld)\n",
                   address, prefixes[i].what, prefixes[i].prefix, address - prefixes[i].from + 1,
                   address - prefixes[i].from);
        }
    }
    if (tcp) {
        char host[256];
        const char *port = "502";
        snprintf(host, sizeof host, "%s", tcp);
        char *colon = strrchr(host, ':');
        if (colon) {
            *colon = '\0';
            port = tcp + (colon - host) + 1;
        }
        ctx = modbus_new_tcp_pi(host, port);
    } else {
        ctx = modbus_new_rtu(rtu, (int)baud, parity, (int)data_bits, (int)stop_bits);
    }
    if (!ctx || modbus_set_slave(ctx, (int)unit) < 0) {
        fprintf(stderr, "citygate probe: %s\n", modbus_strerror(errno));
        goto out;
    }
    modbus_set_response_timeout(ctx, (uint32_t)(timeout_ms / 1000), (uint32_t)(timeout_ms % 1000) * 1000);
    if (modbus_connect(ctx) < 0) {
        fprintf(stderr, "citygate probe: cannot connect to %s: %s\n", tcp ? tcp : rtu, modbus_strerror(errno));
        rc = 1;
        goto out;
    }
    long first = only_base == 0 ? address : address > 0 ? address - 1 : 0;
    long n = only_base == 1 ? count : address - first + count;
    if (first + n > 65536) {
        n = 65536 - first;
    }
    uint16_t w[130] = {0};
    uint8_t b[130] = {0};
    unsigned skipped = 0;
    bool bit_table = tbl == CG_MB_COIL || tbl == CG_MB_DISCRETE;
    int got = probe_read(ctx, rtu != NULL, tbl, unit, first, n, timeout_ms, w, bit_table ? b : NULL, &skipped);
    if (skipped > 0) {
        printf("note: %u frame(s) were not the answer (another unit id, transaction id, function or size) and were "
               "skipped\n",
               skipped);
    }
    if (got < 0) {
        int err = -got;
        if (err > MODBUS_ENOBASE && err < MODBUS_ENOBASE + 16) {
            const char *name = cg_mb_exception_name((unsigned)(err - MODBUS_ENOBASE));
            fprintf(stderr, "citygate probe: exception %d (%s) reading %s %ld..%ld of unit %ld%s\n",
                    err - MODBUS_ENOBASE, name ? name : "?", table, first, first + n - 1, unit,
                    err - MODBUS_ENOBASE == 2 ? ": the device has no such address; try the address -1 or +1, "
                                                "or a smaller --count"
                                              : "");
        } else {
            fprintf(stderr, "citygate probe: reading %s %ld..%ld of unit %ld: %s\n", table, first, first + n - 1,
                    unit, modbus_strerror(err));
        }
        rc = 1;
        goto out;
    }
    static const char *const table_long[] = {[CG_MB_COIL] = "coils", [CG_MB_DISCRETE] = "discrete inputs",
                                             [CG_MB_INPUT] = "input registers", [CG_MB_HOLDING] = "holding registers"};
    printf("%s, protocol addresses %ld..%ld, unit %ld, via %s\n", table_long[tbl], first, first + n - 1, unit,
           tcp ? tcp : rtu);
    if (tbl == CG_MB_COIL || tbl == CG_MB_DISCRETE) {
        for (long i = 0; i < n; i++) {
            printf("  %5ld  %d\n", first + i, b[i]);
        }
        rc = 0;
        goto out;
    }
    printf("raw:");
    for (long i = 0; i < n; i++) {
        printf(" %ld=0x%04x", first + i, w[i]);
    }
    printf("\n");
    if (scale != 1) {
        printf("values x %g (--scale)%s%s\n", scale, range_text ? ", then marked when inside --range " : "",
               range_text ? range_text : "");
    }
    static const enum cg_mb_type types[] = {CG_MB_INT16,   CG_MB_UINT16, CG_MB_INT32,  CG_MB_UINT32, CG_MB_FLOAT32,
                                            CG_MB_INT64,   CG_MB_UINT64, CG_MB_FLOAT64};
    for (int base = 0; base <= 1; base++) {
        if (only_base >= 0 && base != only_base) {
            continue;
        }
        long off = address - base - first; /* word index where the value starts */
        if (off < 0) {
            printf("\n-- base 1: --address %ld is not a 1-based register number (no register before 0)\n", address);
            continue;
        }
        if (base == 0) {
            printf("\n-- base 0: --address %ld is protocol address %ld (in a profile: \"address_base\": 0, "
                   "\"address\": %ld)\n",
                   address, address, address);
        } else {
            printf("\n-- base 1: --address %ld is register number %ld = protocol address %ld (in a profile: "
                   "\"address_base\": 1, \"address\": %ld)\n",
                   address, address, address - 1, address);
        }
        printf("  %-8s %22s %22s %22s %22s\n", "type", "ABCD", "CDAB", "BADC", "DCBA");
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            struct cg_mb_layout l = {.type = types[t]};
            if ((long)cg_mb_layout_words(&l) > n - off) {
                continue;
            }
            printf("  %-8s", cg_mb_type_name(types[t]));
            for (int o = 0; o < CG_MB_ORDER_COUNT; o++) {
                struct cg_mb_value v;
                char cell[40];
                l.order = (enum cg_mb_order)o;
                if (cg_mb_decode(&l, w + off, (size_t)(n - off), &v) < 0) {
                    snprintf(cell, sizeof cell, "-");
                    printf(" %22s", cell);
                    continue;
                }
                double x = v.kind == CG_MB_V_INT ? (double)v.v.i : v.kind == CG_MB_V_UINT ? (double)v.v.u : v.v.f;
                x *= scale;
                if (v.kind == CG_MB_V_FLOAT || scale != 1) {
                    snprintf(cell, sizeof cell, "%.7g", x);
                } else if (v.kind == CG_MB_V_INT) {
                    snprintf(cell, sizeof cell, "%lld", (long long)v.v.i);
                } else {
                    snprintf(cell, sizeof cell, "%llu", (unsigned long long)v.v.u);
                }
                printf(" %21s%c", cell, plausible(x, has_range, lo, hi) ? '*' : ' ');
            }
            printf("\n");
        }
        struct cg_mb_layout sl = {.type = CG_MB_STRING, .chars_per_reg = 2, .regs = (uint16_t)(n - off)};
        struct cg_mb_value v;
        if (sl.regs > 0 && cg_mb_decode(&sl, w + off, (size_t)(n - off), &v) == 0) {
            printf("  %-8s \"%s\"", "string", v.s);
            sl.order = CG_MB_BADC;
            cg_mb_decode(&sl, w + off, (size_t)(n - off), &v);
            printf("  bytes swapped: \"%s\"\n", v.s);
        }
    }
    rc = 0;
out:
    if (ctx) {
        modbus_close(ctx);
        modbus_free(ctx);
    }
    return rc;
}
