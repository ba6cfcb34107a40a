/* Fuzz target: the disk buffer driven through its API by the input: appends of
 * 1..64 lines of varying length, reads with commit or rewind on two readers,
 * flushes, ticks and reopens, with segments of 256..4351 bytes so records
 * straddle segment and read-ahead boundaries. (fuzz_wal feeds raw segment
 * bytes, which rarely get past the checksums; this one reaches the read paths.)
 *
 * Checked against a model, nothing is ever dropped here (the budget is far
 * above what an input can append):
 *   - every line read is well formed and is the next one that reader expects:
 *     reader r gets sequence numbers 0, 1, 2, ... in order, without gap or
 *     repeat, except that a rewind goes back to its last commit;
 *   - a reopen (after a flush) resumes every reader at its last commit;
 *   - at the end, each reader reads up to the last line appended. */
#include "journal.h"

#include "fuzz_main.h"

#include <stdbool.h>
#include <unistd.h>

#define READERS 2
#define MAX_LINE 256

struct model {
    uint64_t appended;               /* lines appended so far: seq 0..appended-1 */
    uint64_t next[READERS];          /* seq the reader's next read must start at */
    uint64_t committed[READERS];     /* seq after its last committed line */
};

static const char *const names[READERS] = {"a", "b"};

static struct cg_journal *open_j(const char *dir, size_t seg_bytes)
{
    struct cg_journal_opts o = {.dir = dir, .max_bytes = 256u << 20, .segment_bytes = seg_bytes,
                                .fsync = CG_JOURNAL_FSYNC_NEVER, .reader_names = names, .n_readers = READERS};
    char err[256];
    struct cg_journal *j = cg_journal_open(&o, NULL, err, sizeof(err));
    if (j == NULL) {
        fprintf(stderr, "open: %s\n", err);
        abort();
    }
    return j;
}

/* Reads at most max lines for reader r and checks each against the model. */
static void read_check(struct cg_journal *j, struct model *m, unsigned r, size_t max, size_t max_bytes,
                       struct cg_buf *b)
{
    cg_buf_reset(b);
    long n = cg_journal_read(j, r, b, max, max_bytes);
    if (n < 0) {
        abort();
    }
    const char *p = b->data, *e = b->data ? b->data + b->len : NULL; /* cg_buf allocates lazily */
    for (long i = 0; i < n; i++) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        unsigned long long seq, ts;
        if (nl == NULL || sscanf(p, "%llu %llu", &seq, &ts) != 2 || seq != ts || seq != m->next[r]) {
            fprintf(stderr, "reader %u: line %ld of %ld: want seq %llu, got '%.40s'\n", r, i, n,
                    (unsigned long long)m->next[r], p);
            abort();
        }
        m->next[r]++;
        p = nl + 1;
    }
    if (p != e || m->next[r] > m->appended) {
        abort();
    }
    /* nothing left unread while lines remain, unless a limit stopped it (a
     * line is under MAX_LINE bytes, and one that does not fit is left) */
    if ((size_t)n < max && b->len + MAX_LINE <= max_bytes && m->next[r] != m->appended) {
        fprintf(stderr, "reader %u: read %ld of max %zu, stopped at %llu of %llu\n", r, n, max,
                (unsigned long long)m->next[r], (unsigned long long)m->appended);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    char dir[64];
    if (fuzz_tmpdir(dir, "walops") < 0) {
        return 0;
    }
    size_t seg_bytes = 256 + (size_t)data[0] * 16;
    struct model m = {0};
    struct cg_journal *j = open_j(dir, seg_bytes);
    struct cg_buf lines, b;
    cg_buf_init(&lines, 1 << 20);
    cg_buf_init(&b, 1 << 24);
    for (size_t i = 1; i + 1 < size; i += 2) {
        uint8_t op = data[i], arg = data[i + 1];
        unsigned r = op & 1u;
        switch ((op >> 1) % 6) {
        case 0:
        case 1: { /* append 1..64 lines, padded by arg so record sizes vary */
            unsigned k = 1 + arg % 64;
            cg_buf_reset(&lines);
            for (unsigned q = 0; q < k; q++) {
                /* the journal only sees lines: "seq seq padding" is enough */
                unsigned long long seq = m.appended + q;
                int pad = (int)((arg * 7u + q * 13u) % 200u);
                if (cg_buf_printf(&lines, "%llu %llu %.*s\n", seq, seq, pad,
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") <
                    0) {
                    abort();
                }
            }
            if (cg_journal_append(j, lines.data, lines.len, k, 0) != 0) {
                abort();
            }
            m.appended += k;
            break;
        }
        case 2: /* read and commit */
            read_check(j, &m, r, 1 + arg, (size_t)arg * 64 + 1, &b);
            cg_journal_commit(j, r);
            m.committed[r] = m.next[r];
            break;
        case 3: /* read, then give it back */
            read_check(j, &m, r, 1 + arg, 1 << 20, &b);
            cg_journal_rewind(j, r);
            m.next[r] = m.committed[r];
            break;
        case 4: /* reopen: positions flushed, uncommitted reads forgotten */
            cg_journal_flush(j);
            cg_journal_free(j);
            j = open_j(dir, seg_bytes);
            for (unsigned q = 0; q < READERS; q++) {
                m.next[q] = m.committed[q];
            }
            break;
        default:
            cg_journal_tick(j);
            break;
        }
    }
    for (unsigned q = 0; q < READERS; q++) {
        while (m.next[q] < m.appended) {
            uint64_t before = m.next[q];
            read_check(j, &m, q, 100000, 1 << 24, &b);
            cg_journal_commit(j, q);
            if (m.next[q] == before) {
                abort(); /* lines held but not readable */
            }
        }
    }
    cg_buf_done(&lines);
    cg_buf_done(&b);
    cg_journal_free(j);
    fuzz_rmdir(dir);
    return 0;
}
