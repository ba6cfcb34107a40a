/* citygate modbus — decoding register words into values, and back.
 *
 * Pure code: no I/O, no logging, no globals. Words arrive exactly as they
 * travelled on the wire (each uint16_t is big-endian on the wire, as libmodbus
 * hands them over); the byte order of multi-register values is ours to apply.
 * We never use libmodbus' modbus_get_float_*(): they have had byte-order bugs
 * (stephane/libmodbus#611, #358).
 *
 * Byte orders, named after the wire position of the bytes of a big-endian
 * value A B C D (A = most significant):
 *   ABCD  big endian, high word first           (Modbus "natural" order)
 *   CDAB  words swapped, bytes in words normal  (many meters, "word swap")
 *   BADC  bytes swapped inside each word
 *   DCBA  little endian
 * The same two switches (word swap, byte swap) apply to 16- and 64-bit values:
 * a 16-bit value only sees the byte swap; a 64-bit CDAB value is GHEFCDAB. */
#ifndef CG_MODBUS_DECODE_H
#define CG_MODBUS_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cg_mb_table {
    CG_MB_COIL = 0,     /* FC 1, bits */
    CG_MB_DISCRETE,     /* FC 2, bits */
    CG_MB_INPUT,        /* FC 4, registers */
    CG_MB_HOLDING,      /* FC 3, registers */
};

enum cg_mb_type {
    CG_MB_BOOL = 0, /* a coil / discrete input, or one bit of a register */
    CG_MB_INT8,     /* one byte (high or low) of a register */
    CG_MB_UINT8,
    CG_MB_INT16,
    CG_MB_UINT16,
    CG_MB_INT32,
    CG_MB_UINT32,
    CG_MB_INT64,
    CG_MB_UINT64,
    CG_MB_FLOAT32,
    CG_MB_FLOAT64,
    CG_MB_STRING, /* fixed number of registers, 1 or 2 characters each */
    CG_MB_BITS,   /* unsigned bit field inside one register */
    CG_MB_TYPE_COUNT,
};

enum cg_mb_order { CG_MB_ABCD = 0, CG_MB_CDAB, CG_MB_BADC, CG_MB_DCBA, CG_MB_ORDER_COUNT };

#define CG_MB_STRING_MAX_REGS 64 /* a string field spans at most this many registers */

/* Where a value sits in its words and how to read it. */
struct cg_mb_layout {
    enum cg_mb_type type;
    enum cg_mb_order order;
    uint8_t bit;           /* BOOL in a register, BITS: lowest bit, 0..15 */
    uint8_t bits;          /* BITS: width 1..16 */
    bool low_byte;         /* INT8/UINT8: the low byte; STRING with 1 char/register: char in the low byte */
    uint8_t chars_per_reg; /* STRING: 1 or 2 */
    uint16_t regs;         /* STRING: number of registers, 1..CG_MB_STRING_MAX_REGS */
};

enum cg_mb_kind { CG_MB_V_INT, CG_MB_V_UINT, CG_MB_V_FLOAT, CG_MB_V_BOOL, CG_MB_V_STRING };

struct cg_mb_value {
    enum cg_mb_kind kind;
    union {
        int64_t i;
        uint64_t u;
        double f;
        bool b;
    } v;
    char s[CG_MB_STRING_MAX_REGS * 2 + 1]; /* STRING: NUL-terminated, printable ASCII */
};

/* Registers a value of this layout occupies (1 for BOOL/INT8/BITS). */
unsigned cg_mb_layout_words(const struct cg_mb_layout *l);

/* Decodes from nw register words. -EINVAL when the layout is invalid or nw is
 * too short. Strings stop at the first NUL, lose trailing spaces and have
 * bytes outside printable ASCII replaced by '?'. */
int cg_mb_decode(const struct cg_mb_layout *l, const uint16_t *w, size_t nw, struct cg_mb_value *out);

/* The inverse (for the simulator and tests): writes the value into w. BOOL,
 * BITS and 8-bit types only change their own bits. The value kind must match
 * the type family (INT for signed, UINT for unsigned/BITS, FLOAT, BOOL,
 * STRING); out-of-range integers are truncated to the type's width. */
int cg_mb_encode(const struct cg_mb_layout *l, const struct cg_mb_value *v, uint16_t *w, size_t nw);

/* Names, for config, logs and the probe. NULL / -1 when unknown. */
const char *cg_mb_type_name(enum cg_mb_type t);
int cg_mb_type_from_name(const char *s);
const char *cg_mb_order_name(enum cg_mb_order o);
int cg_mb_order_from_name(const char *s);
const char *cg_mb_table_name(enum cg_mb_table t);
static inline bool cg_mb_table_is_bits(enum cg_mb_table t)
{
    return t == CG_MB_COIL || t == CG_MB_DISCRETE;
}

/* Modbus exception code -> name ("ILLEGAL DATA ADDRESS"), or NULL. */
const char *cg_mb_exception_name(unsigned code);

#endif
