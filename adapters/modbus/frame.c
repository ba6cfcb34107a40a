/* citygate modbus — request frames and reply validation (see frame.h). */
#include "frame.h"

#include <string.h>

void cg_mb_expect_init(struct cg_mb_expect *e, bool rtu, uint16_t tid, uint8_t unit, uint8_t function,
                       uint16_t address, uint16_t count)
{
    *e = (struct cg_mb_expect){.rtu = rtu, .tid = tid, .unit = unit, .function = function, .address = address,
                               .count = count};
    e->byte_count = function <= 2 ? (uint16_t)((count + 7) / 8) : (uint16_t)(2 * count);
}

uint16_t cg_mb_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
        }
    }
    return crc;
}

size_t cg_mb_frame_request(const struct cg_mb_expect *e, uint8_t *out)
{
    uint8_t pdu[5] = {e->function, (uint8_t)(e->address >> 8), (uint8_t)e->address, (uint8_t)(e->count >> 8),
                      (uint8_t)e->count};
    if (e->rtu) {
        out[0] = e->unit;
        memcpy(out + 1, pdu, sizeof pdu);
        uint16_t crc = cg_mb_crc16(out, 6);
        out[6] = (uint8_t)crc; /* the CRC goes low byte first (Modbus over serial line 6.2.2) */
        out[7] = (uint8_t)(crc >> 8);
        return 8;
    }
    out[0] = (uint8_t)(e->tid >> 8);
    out[1] = (uint8_t)e->tid;
    out[2] = out[3] = 0;
    out[4] = 0;
    out[5] = 1 + sizeof pdu;
    out[6] = e->unit;
    memcpy(out + 7, pdu, sizeof pdu);
    return 7 + sizeof pdu;
}

static bool crc_ok(const uint8_t *b, size_t len)
{
    uint16_t crc = cg_mb_crc16(b, len - 2);
    return b[len - 2] == (uint8_t)crc && b[len - 1] == (uint8_t)(crc >> 8);
}

/* The frame that may begin at buf[0]. */
static enum cg_mb_scan rtu_at(const struct cg_mb_expect *e, const uint8_t *buf, size_t n, size_t *used,
                              const uint8_t **data, unsigned *exception, unsigned *unit)
{
    *used = 1;
    if (n < 2) {
        return CG_MB_SCAN_MORE;
    }
    uint8_t fc = buf[1];
    *unit = buf[0];
    if ((fc & 0x80) && (fc & 0x7F) != 0) {
        if (n < CG_MB_RTU_MIN) {
            return CG_MB_SCAN_MORE;
        }
        if (!crc_ok(buf, CG_MB_RTU_MIN)) {
            return CG_MB_SCAN_JUNK;
        }
        *used = CG_MB_RTU_MIN;
        if (buf[0] == e->unit && fc == (e->function | 0x80)) {
            *exception = buf[2];
            return CG_MB_SCAN_EXCEPTION;
        }
        return CG_MB_SCAN_FOREIGN;
    }
    if (fc < 1 || fc > 4) {
        return CG_MB_SCAN_JUNK;
    }
    if (n < 3) {
        return CG_MB_SCAN_MORE;
    }
    size_t rlen = 5 + (size_t)buf[2];
    if (n >= rlen && crc_ok(buf, rlen)) {
        *used = rlen;
        if (buf[0] == e->unit && fc == e->function && buf[2] == e->byte_count) {
            *data = buf + 3;
            return CG_MB_SCAN_REPLY;
        }
        return CG_MB_SCAN_FOREIGN;
    }
    /* a read request (8 bytes): our own echo on a 2-wire bus, or another master */
    if (n >= 8 && crc_ok(buf, 8)) {
        *used = 8;
        return CG_MB_SCAN_FOREIGN;
    }
    return n < rlen || n < 8 ? CG_MB_SCAN_MORE : CG_MB_SCAN_JUNK;
}

static enum cg_mb_scan rtu_scan(const struct cg_mb_expect *e, const uint8_t *buf, size_t n, size_t *used,
                                const uint8_t **data, unsigned *exception, unsigned *unit)
{
    enum cg_mb_scan r = rtu_at(e, buf, n, used, data, exception, unit);
    if (r != CG_MB_SCAN_MORE) {
        return r;
    }
    for (size_t k = 1; k + CG_MB_RTU_MIN <= n; k++) {
        size_t u;
        const uint8_t *d;
        unsigned x, un;
        enum cg_mb_scan s = rtu_at(e, buf + k, n - k, &u, &d, &x, &un);
        if (s == CG_MB_SCAN_REPLY || s == CG_MB_SCAN_EXCEPTION) {
            *used = k;
            *unit = buf[0];
            return CG_MB_SCAN_JUNK;
        }
    }
    return CG_MB_SCAN_MORE;
}

static enum cg_mb_scan mbap_scan(const struct cg_mb_expect *e, const uint8_t *buf, size_t n, size_t *used,
                                 const uint8_t **data, unsigned *exception, unsigned *unit)
{
    if (n < 7) {
        return CG_MB_SCAN_MORE;
    }
    unsigned tid = (unsigned)buf[0] << 8 | buf[1];
    unsigned proto = (unsigned)buf[2] << 8 | buf[3];
    size_t len = (size_t)buf[4] << 8 | buf[5];
    *unit = buf[6];
    if (len < 2 || len > 254) { /* unit + PDU of at most 253 bytes (MBAP 4.1) */
        *used = n;
        return CG_MB_SCAN_DESYNC;
    }
    if (n < 6 + len) {
        return CG_MB_SCAN_MORE;
    }
    *used = 6 + len;
    if (tid != e->tid || proto != 0 || buf[6] != e->unit) {
        return CG_MB_SCAN_FOREIGN;
    }
    uint8_t fc = buf[7];
    if (fc == (e->function | 0x80) && len == 3) {
        *exception = buf[8];
        return CG_MB_SCAN_EXCEPTION;
    }
    if (fc == e->function && len == 3 + (size_t)e->byte_count && buf[8] == e->byte_count) {
        *data = buf + 9;
        return CG_MB_SCAN_REPLY;
    }
    return CG_MB_SCAN_FOREIGN;
}

enum cg_mb_scan cg_mb_frame_scan(const struct cg_mb_expect *e, const uint8_t *buf, size_t n, size_t *used,
                                 const uint8_t **data, unsigned *exception, unsigned *unit)
{
    *used = 0;
    *unit = 0;
    return e->rtu ? rtu_scan(e, buf, n, used, data, exception, unit)
                  : mbap_scan(e, buf, n, used, data, exception, unit);
}

void cg_mb_frame_words(const uint8_t *data, uint16_t count, uint16_t *out)
{
    for (uint16_t i = 0; i < count; i++) {
        out[i] = (uint16_t)(data[2 * i] << 8 | data[2 * i + 1]);
    }
}

void cg_mb_frame_bits(const uint8_t *data, uint16_t count, uint8_t *out)
{
    for (uint16_t i = 0; i < count; i++) {
        out[i] = (data[i / 8] >> (i % 8)) & 1;
    }
}
