/* citygate — where a config error's JSON path is in the file the user edits.
 *
 * cJSON keeps no positions, so this module re-reads the raw bytes with a small
 * scanner of its own and follows a path in the syntax cg_errs uses
 * (cg_path_key / cg_path_idx): keys joined by '.', array indexes as "[N]",
 * e.g. "sources[0].rules[2].field". A path is matched as cJSON reads the text:
 * of duplicate keys the first one counts, escapes (\uXXXX, surrogate pairs)
 * are decoded before keys are compared, a key is compared only up to an
 * escaped NUL (where cJSON's C string ends), a leading UTF-8 BOM is skipped.
 *
 * Limits (documented in docs/config.md):
 *   - A key may itself contain '.' or '[' (tag keys are free text), so a path
 *     can be ambiguous; at each level the longest key that fits the rest of
 *     the path is taken.
 *   - Nesting is scanned without recursion, at most CG_CONF_LOCATE_MAX_DEPTH
 *     levels below the value being skipped (cJSON refuses deeper files).
 *   - Each lookup scans the text from the start: callers that locate many
 *     errors in a big file bound the work with CG_CONF_LOCATE_SCAN_BUDGET.
 *
 * Pure: no allocation, no logging, no global state; any bytes in, never reads
 * outside text[0..len). */
#ifndef CG_CONF_LOCATE_H
#define CG_CONF_LOCATE_H

#include <stddef.h>

#define CG_CONF_LOCATE_MAX_DEPTH 1024
/* Bytes of scanning one error list may cost (each lookup reads the file once):
 * the first SCAN_BUDGET / len errors get a position, the rest print without. */
#define CG_CONF_LOCATE_SCAN_BUDGET ((size_t)64 * 1024 * 1024)

/* cg_conf_locate() found only an ancestor of the path: the value (object,
 * array) that lacks the next key or index. */
#define CG_CONF_LOCATE_ANCESTOR 1

struct cg_conf_pos {
    size_t offset; /* byte offset in text */
    size_t line;   /* 1-based */
    size_t column; /* 1-based, in UTF-8 characters (a tab is one) */
};

/* Finds path (path_len bytes, need not be NUL-terminated) in text.
 * Returns 0 with *pos at the key when the path ends in a key (the opening
 * quote), at the element's first byte when it ends in an index;
 * CG_CONF_LOCATE_ANCESTOR with *pos at the first byte of the deepest value the
 * path reaches, when the rest is not in the text; -ENOENT when not even the
 * path's first step is there (the root is never an answer, and an empty path
 * has none); -EINVAL when the text is not JSON before the path is found;
 * -E2BIG when it nests deeper than CG_CONF_LOCATE_MAX_DEPTH. *pos is only
 * written on success. text and path are borrowed. */
int cg_conf_locate(const char *text, size_t len, const char *path, size_t path_len, struct cg_conf_pos *pos);

/* Line and column (1-based, columns in UTF-8 characters, lines end at '\n' so
 * CRLF counts once) of byte offset off in text; off past len counts to len. */
void cg_conf_locate_line_col(const char *text, size_t len, size_t off, size_t *line, size_t *column);

/* Writes where path is, for an error line: "(line L, column C)", or for an
 * ancestor "(in the object at line L, column C)" ("array"; "near" for a plain
 * value), or "" when the path is not in the text. Returns the length written
 * (0: nothing). out is always NUL-terminated when outsz > 0. */
size_t cg_conf_locate_describe(const char *text, size_t len, const char *path, size_t path_len, char *out,
                               size_t outsz);

#endif
