/* citygate modbus — request frames and the validation of every reply against
 * its request. Pure code: no I/O, no logging.
 *
 * libmodbus 3.1.6 accepts an MBAP answer whatever its unit id and protocol id
 * and, over RTU, takes the first frame that arrives for the answer: a late
 * reply to an earlier request of the same size is decoded as this one's. So we
 * frame and check ourselves: a reply is accepted only when every field it
 * carries matches the request (MBAP: transaction id, protocol id 0, unit id,
 * length; RTU: slave id and CRC; both: function code and byte count). */
#ifndef CG_MODBUS_FRAME_H
#define CG_MODBUS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CG_MB_FRAME_MAX 260 /* MBAP 7 + PDU 253; RTU 256 */
#define CG_MB_RTU_MIN 5     /* slave, function, exception code or byte count, CRC */

/* What the answer to one request must look like. */
struct cg_mb_expect {
    bool rtu;            /* RTU framing (slave id + CRC), else MBAP */
    uint16_t tid;        /* MBAP transaction id */
    uint8_t unit;        /* slave / unit id */
    uint8_t function;    /* 1..4 */
    uint16_t address;
    uint16_t count;      /* registers or bits asked for */
    uint16_t byte_count; /* data bytes the answer must carry */
};

/* Fills e from a read request (function 1..4). */
void cg_mb_expect_init(struct cg_mb_expect *e, bool rtu, uint16_t tid, uint8_t unit, uint8_t function,
                       uint16_t address, uint16_t count);

/* Writes the request frame (RTU with its CRC, or MBAP) to out (at least
 * CG_MB_FRAME_MAX bytes); returns its length. */
size_t cg_mb_frame_request(const struct cg_mb_expect *e, uint8_t *out);

uint16_t cg_mb_crc16(const uint8_t *p, size_t n);

enum cg_mb_scan {
    CG_MB_SCAN_MORE = 0,  /* a frame may be starting: read more */
    CG_MB_SCAN_REPLY,     /* the answer: *data holds byte_count bytes */
    CG_MB_SCAN_EXCEPTION, /* the device's exception answer: *exception */
    CG_MB_SCAN_FOREIGN,   /* a whole, well-formed frame that is not the answer */
    CG_MB_SCAN_JUNK,      /* bytes that begin no frame */
    CG_MB_SCAN_DESYNC,    /* MBAP: a header no frame can have; the stream is out of step */
};

/* Looks at the bytes received so far (buf[0..n)). Except for MORE, *used is
 * the number of leading bytes the result covers (the caller drops them).
 * FOREIGN sets *unit to the frame's unit id. Over RTU, when buf[0] could begin
 * a longer frame but a complete answer already sits further on, the bytes
 * before it are JUNK (a late frame's tail must not hide the answer). */
enum cg_mb_scan cg_mb_frame_scan(const struct cg_mb_expect *e, const uint8_t *buf, size_t n, size_t *used,
                                 const uint8_t **data, unsigned *exception, unsigned *unit);

/* Register values of a REPLY (big-endian words) into out[count]. */
void cg_mb_frame_words(const uint8_t *data, uint16_t count, uint16_t *out);
/* Bits of a REPLY (LSB first) into out[count] as 0/1. */
void cg_mb_frame_bits(const uint8_t *data, uint16_t count, uint8_t *out);

#endif
