/* Fuzz target: locating a config error's path in arbitrary text. The input's
 * first line is the path, the rest the file. Must never crash or read past the
 * text (the copy has no NUL after it), and every answer must lie inside it. */
#include "conf_locate.h"

#include "fuzz_main.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t path_len = nl ? (size_t)(nl - data) : size;
    size_t len = nl ? size - path_len - 1 : 0;
    char *path = malloc(path_len + 1), *text = malloc(len ? len : 1);
    if (path == NULL || text == NULL) {
        free(path);
        free(text);
        return 0;
    }
    memcpy(path, data, path_len);
    path[path_len] = '\0';
    if (len) {
        memcpy(text, nl + 1, len);
    }
    struct cg_conf_pos pos;
    int rc = cg_conf_locate(text, len, path, path_len, &pos);
    if (rc >= 0 && (pos.offset >= len || pos.line == 0 || pos.column == 0)) {
        abort();
    }
    if (rc != 0 && rc != CG_CONF_LOCATE_ANCESTOR && rc != -ENOENT && rc != -EINVAL && rc != -E2BIG) {
        abort();
    }
    char out[96];
    size_t w = cg_conf_locate_describe(text, len, path, path_len, out, sizeof(out));
    if (w != strlen(out) || (w > 0) != (rc >= 0)) {
        abort();
    }
    free(path);
    free(text);
    return 0;
}
