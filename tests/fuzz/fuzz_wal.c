/* Fuzz target: the disk buffer's recovery on arbitrary segment bytes (a torn,
 * corrupt or hostile file in the state directory). Opening must never crash,
 * every line read back must end in '\n', and appending after recovery works. */
#include "journal.h"

#include "fuzz_main.h"

#include <fcntl.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[64];
    if (fuzz_tmpdir(dir, "wal") < 0) {
        return 0;
    }
    char seg[256], pos[256];
    snprintf(seg, sizeof(seg), "%s/seg-0000000000000001.wal", dir);
    snprintf(pos, sizeof(pos), "%s/pos-out", dir);
    int fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        if (write(fd, data, size) < 0) {
            /* nothing: an empty segment is a case too */
        }
        close(fd);
    }
    /* a position file taken from the input too */
    fd = open(pos, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        if (write(fd, data, size < 24 ? size : 24) < 0) {
        }
        close(fd);
    }
    static const char *const names[] = {"out"};
    struct cg_journal_opts o = {.dir = dir, .max_bytes = 1 << 20, .fsync = CG_JOURNAL_FSYNC_NEVER,
                                .reader_names = names, .n_readers = 1};
    char err[256];
    struct cg_journal_recovery rec;
    struct cg_journal *j = cg_journal_open(&o, &rec, err, sizeof(err));
    if (j != NULL) {
        struct cg_buf b;
        cg_buf_init(&b, 1 << 22);
        for (int i = 0; i < 100; i++) {
            cg_buf_reset(&b);
            long n = cg_journal_read(j, 0, &b, 1000, 1 << 20);
            if (n <= 0) {
                break;
            }
            if (b.len == 0 || b.data[b.len - 1] != '\n') {
                abort();
            }
            cg_journal_commit(j, 0);
        }
        if (cg_journal_append(j, "m v=1i 1\n", 9, 1, 0) != 0) {
            abort();
        }
        cg_buf_reset(&b);
        if (cg_journal_read(j, 0, &b, 10, 1 << 20) != 1) {
            abort();
        }
        cg_buf_done(&b);
        cg_journal_free(j);
    }
    fuzz_rmdir(dir);
    return 0;
}
