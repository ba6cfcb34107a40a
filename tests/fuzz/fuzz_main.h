/* citygate — the plain main() every fuzz target also builds with, so its corpus
 * replays as an ordinary ctest test (Fluent Bit's habit): every file of the
 * corpus directories given, then deterministic mutations of each (bit flips,
 * truncations, duplicated and inserted runs), all under ASan/UBSan in the suite.
 * With clang -fsanitize=fuzzer the same LLVMFuzzerTestOneInput runs under
 * libFuzzer instead (define CG_LIBFUZZER). */
#ifndef CG_FUZZ_MAIN_H
#define CG_FUZZ_MAIN_H
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh flat scratch directory for one input, on tmpfs when there is one
 * (the disk buffer fsyncs its directory for every new segment). 0 or -1. */
static inline int fuzz_tmpdir(char out[64], const char *tag)
{
    snprintf(out, 64, "/dev/shm/cgfuzz%sXXXXXX", tag);
    if (mkdtemp(out) != NULL) {
        return 0;
    }
    snprintf(out, 64, "/tmp/cgfuzz%sXXXXXX", tag);
    return mkdtemp(out) != NULL ? 0 : -1;
}

/* rm -rf of a flat directory, without a fork per input. */
static inline void fuzz_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char p[512];
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

#ifndef CG_LIBFUZZER
#define CG_FUZZ_MUTATIONS 400

static uint64_t fuzz_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fuzz_mutate_and_run(const uint8_t *in, size_t n, uint64_t seed)
{
    uint8_t *buf = malloc(2 * n + 64);
    if (buf == NULL) {
        return;
    }
    for (int m = 0; m < CG_FUZZ_MUTATIONS; m++) {
        memcpy(buf, in, n);
        size_t len = n;
        int edits = 1 + (int)(fuzz_rng(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            uint64_t r = fuzz_rng(&seed);
            size_t at = len ? (size_t)(r >> 8) % len : 0;
            switch (r % 5) {
            case 0: /* flip a bit */
                if (len) {
                    buf[at] ^= (uint8_t)(1u << ((r >> 3) % 8));
                }
                break;
            case 1: /* truncate */
                len = at;
                break;
            case 2: /* an interesting byte */
            {
                static const uint8_t bytes[] = {0, '"', '\\', ',', '=', ' ', '\n', '{', '}', '[', ']', ':', 0xff, 0xc3, '-', 'e', '9'};
                if (len) {
                    buf[at] = bytes[(r >> 16) % sizeof(bytes)];
                }
                break;
            }
            case 3: /* duplicate a run */
            {
                size_t run = len - at < 16 ? len - at : 16;
                if (len + run <= 2 * n + 64) {
                    memmove(buf + at + run, buf + at, len - at);
                    len += run;
                }
                break;
            }
            default: /* delete a run */
            {
                size_t run = (r >> 20) % 8;
                if (at + run <= len) {
                    memmove(buf + at, buf + at + run, len - at - run);
                    len -= run;
                }
                break;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    size_t files = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (d == NULL) {
            fprintf(stderr, "%s: cannot open\n", argv[a]);
            return 1;
        }
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (e->d_name[0] == '.') {
                continue;
            }
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[a], e->d_name);
            FILE *f = fopen(path, "rb");
            if (f == NULL) {
                continue;
            }
            static uint8_t data[1 << 20];
            size_t n = fread(data, 1, sizeof(data), f);
            fclose(f);
            LLVMFuzzerTestOneInput(data, n);
            fuzz_mutate_and_run(data, n, 0x9e3779b97f4a7c15ULL ^ files);
            files++;
        }
        closedir(d);
    }
    if (files == 0) {
        fprintf(stderr, "no corpus files\n");
        return 1;
    }
    printf("%zu corpus files, %zu inputs run: no crash\n", files, files * (CG_FUZZ_MUTATIONS + 1));
    return 0;
}
#endif
#endif
