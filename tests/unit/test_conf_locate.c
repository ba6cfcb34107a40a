/* Locating config error paths in the raw text: line and column worked out by
 * hand for each case (counted in the comment beside the text), then
 * properties against cJSON's own reading of random documents, then garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "conf_locate.h"

#include <citygate/config.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANC CG_CONF_LOCATE_ANCESTOR

struct loc_case {
    const char *path;
    int rc;           /* 0, ANC, -ENOENT, -EINVAL, -E2BIG */
    size_t line, col; /* when rc >= 0 */
};

/* Locates each path in a heap copy of exactly len bytes (no NUL after it), so
 * ASan catches any read past the end. */
static int locate_copy(const char *text, size_t len, const char *path, struct cg_conf_pos *pos)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    int rc = cg_conf_locate(copy, len, path, strlen(path), pos);
    if (rc >= 0) {
        assert_true(pos->offset < len);
    }
    free(copy);
    return rc;
}

static void expect_locs(const char *text, size_t len, const struct loc_case *cases)
{
    for (const struct loc_case *c = cases; c->path; c++) {
        struct cg_conf_pos pos = {0};
        int rc = locate_copy(text, len, c->path, &pos);
        if (rc != c->rc || (rc >= 0 && (pos.line != c->line || pos.column != c->col))) {
            fail_msg("path '%s': rc %d at %zu:%zu, want rc %d at %zu:%zu", c->path, rc, pos.line, pos.column, c->rc,
                     c->line, c->col);
        }
    }
}

#define EXPECT_LOCS(text, ...) expect_locs(text, strlen(text), (const struct loc_case[]){__VA_ARGS__, {NULL, 0, 0, 0}})

/* A config as municipal IT write it: nested objects and arrays over lines. */
static const char nested[] = "{\n"                                         /* 1 */
                             "  \"gateway\": {\"id\": \"gw1\"},\n"         /* 2: id at 15 */
                             "  \"sources\": [\n"                          /* 3: '[' at 14 */
                             "    {\"type\": \"mqtt\",\n"                  /* 4: '{' 5, type 6 */
                             "     \"rules\": [\n"                         /* 5: rules 6, '[' 15 */
                             "       {\"topic\": \"a/{x}\", \"field\": 1},\n" /* 6: '{' 8, field 27, 1 at 36 */
                             "       {\"topic\": \"b\", \"format\": \"json\"}\n" /* 7: format 23 */
                             "     ]},\n"                                  /* 8 */
                             "    {\"type\": \"modbus\"}\n"                /* 9: '{' 5, type 6 */
                             "  ]\n"                                       /* 10 */
                             "}\n";

static void test_nested_objects_and_arrays(void **state)
{
    (void)state;
    EXPECT_LOCS(nested, {"gateway", 0, 2, 3}, {"gateway.id", 0, 2, 15}, {"sources", 0, 3, 3},
                {"sources[0]", 0, 4, 5}, {"sources[0].type", 0, 4, 6}, {"sources[0].rules", 0, 5, 6},
                {"sources[0].rules[0]", 0, 6, 8}, {"sources[0].rules[0].field", 0, 6, 27},
                {"sources[0].rules[1].format", 0, 7, 23}, {"sources[1]", 0, 9, 5}, {"sources[1].type", 0, 9, 6});
}

static void test_missing_paths_name_the_ancestor(void **state)
{
    (void)state;
    EXPECT_LOCS(nested,
                /* the object that lacks the key */
                {"sources[1].name", ANC, 9, 5}, {"gateway.state_dir", ANC, 2, 14},
                {"sources[0].rules[1].json.fields", ANC, 7, 8},
                /* the array that is too short */
                {"sources[0].rules[5]", ANC, 5, 15}, {"sources[7].type", ANC, 3, 14},
                /* a key asked of an array, an index of an object, a path through a plain value */
                {"sources.type", ANC, 3, 14}, {"gateway[0]", ANC, 2, 14},
                {"sources[0].rules[0].field.x", ANC, 6, 36},
                /* not even the first step: no position (the root is no help) */
                {"outputs", -ENOENT, 0, 0}, {"outputs[0].url", -ENOENT, 0, 0}, {"[0]", -ENOENT, 0, 0},
                {"", -ENOENT, 0, 0}, {"/etc/citygate/schema.json.measurements", -ENOENT, 0, 0});
}

static void test_keys_with_escapes_and_utf8(void **state)
{
    (void)state;
    /* Columns count characters: "ключ" is 8 bytes but 4 columns, the escaped
     * keys count as written.  {1 "a\"b" 2-7 :8 1 10 ,11 "caf\u00e9" 13-23
     * {26 "x" 27 }33 "ключ" 36-41 3 44 "\ud83d\ude00" 47-60 4 63 "z" 66 */
    EXPECT_LOCS("{\"a\\\"b\": 1, \"caf\\u00e9\": {\"x\": 2}, \"ключ\": 3, \"\\ud83d\\ude00\": 4, \"z\": 5}",
                {"a\"b", 0, 1, 2}, {"café", 0, 1, 13}, {"café.x", 0, 1, 27}, {"ключ", 0, 1, 36},
                {"\xF0\x9F\x98\x80", 0, 1, 47}, {"z", 0, 1, 66}, {"caf", -ENOENT, 0, 0}, {"a", -ENOENT, 0, 0},
                {"café.y", ANC, 1, 26});
    /* Every short escape; a key cut at an escaped NUL reads as cJSON's C string. */
    EXPECT_LOCS("{\"\\b\\f\\n\\r\\t\\/\\\\\": 1, \"a\\u0000b\": 2, \"\\u00E9\\u20AC\": 3}",
                {"\b\f\n\r\t/\\", 0, 1, 2}, {"a", 0, 1, 23}, {"é€", 0, 1, 38});
    /* A leading UTF-8 BOM is skipped (cJSON does) and takes no column. */
    EXPECT_LOCS("\xEF\xBB\xBF{\"a\": 1, \"b\": 2}", {"a", 0, 1, 2}, {"b", 0, 1, 10});
    /* Raw UTF-8 before the key on the same line. */
    EXPECT_LOCS("{\"d\": \"Чиланзар — 9\", \"e\": 1}", {"e", 0, 1, 23});
}

static void test_strings_hold_json_punctuation(void **state)
{
    (void)state;
    /* {1 "a"2 value 7-18 "b"21 [26 "]"27 "["32 {37 "c"38 "}"43 }46 ]47 "d"50 */
    EXPECT_LOCS("{\"a\": \"}{][,:\\\"\\\\\", \"b\": [\"]\", \"[\", {\"c\": \"}\"}], \"d\": 1}", {"b[1]", 0, 1, 32},
                {"b[2]", 0, 1, 37}, {"b[2].c", 0, 1, 38}, {"d", 0, 1, 50}, {"b[3]", ANC, 1, 26});
}

static void test_index_paths(void **state)
{
    (void)state;
    /* [1 [2 1 3 [6 3 10 {15 "x"16 [21 true 22 null 28 */
    EXPECT_LOCS("[[1, [2, 3]], {\"x\": [true, null]}]", {"[0]", 0, 1, 2}, {"[0][1][1]", 0, 1, 10},
                {"[1].x[1]", 0, 1, 28}, {"[1].x[2]", ANC, 1, 21}, {"[1]x", ANC, 1, 15},
                {"[99999999999999999999999]", -ENOENT, 0, 0});
    /* An empty array and object; a path whose index step is not "[N]". */
    EXPECT_LOCS("{\"a\": [], \"b\": {}}", {"a[0]", ANC, 1, 7}, {"b.c", ANC, 1, 16}, {"a[x]", -ENOENT, 0, 0},
                {"a[]", -ENOENT, 0, 0});
}

static void test_duplicates_and_odd_keys(void **state)
{
    (void)state;
    /* Of duplicate keys cJSON reads the first: so do we. */
    EXPECT_LOCS("{\"a\": 1, \"a\": {\"b\": 2}}", {"a", 0, 1, 2}, {"a.b", ANC, 1, 7});
    /* Tag keys are free text: the longest key that fits the path wins.
     * {1 "tags"2 {10 "a"11 {16 "b"17 "a.b"26 "c[0]"36 "c"47 [52 */
    EXPECT_LOCS("{\"tags\": {\"a\": {\"b\": 1}, \"a.b\": 2, \"c[0]\": 3, \"c\": [4]}}", {"tags.a", 0, 1, 11},
                {"tags.a.b", 0, 1, 26}, {"tags.c[0]", 0, 1, 36}, {"tags.c", 0, 1, 47}, {"tags.a.b.c", ANC, 1, 33});
    /* An empty key (cg_path_key makes "x." of it), a key starting with '['. */
    EXPECT_LOCS("{\"x\": {\"\": 1, \"[0]\": 2}}", {"x.", 0, 1, 8}, {"x.[0]", 0, 1, 15}, {"x[0]", ANC, 1, 7});
}

static void test_crlf_line_endings(void **state)
{
    (void)state;
    EXPECT_LOCS("{\r\n  \"a\": 1,\r\n  \"b\": {\r\n    \"c\": 2\r\n  }\r\n}\r\n", {"a", 0, 2, 3}, {"b", 0, 3, 3},
                {"b.c", 0, 4, 5}, {"b.d", ANC, 3, 8});
}

static void test_malformed_and_truncated_text(void **state)
{
    (void)state;
    static const char *const paths[] = {"gateway.id", "sources[0].rules[0].field", "sources[1].type", "sources[1].name",
                                        "sources[0].rules[1].format", "outputs", NULL};
    size_t n = strlen(nested);
    /* Every prefix: no crash, no read past the end (ASan), only known answers. */
    for (size_t cut = 0; cut <= n; cut++) {
        for (size_t k = 0; paths[k]; k++) {
            struct cg_conf_pos pos;
            int rc = locate_copy(nested, cut, paths[k], &pos);
            assert_true(rc == 0 || rc == ANC || rc == -ENOENT || rc == -EINVAL);
        }
    }
    /* Broken text after the member we want does not hide it; before it, it does. */
    size_t upto = (size_t)(strstr(nested, "\"field\": 1") - nested) + 10;
    expect_locs(nested, upto, (const struct loc_case[]){{"sources[0].rules[0].field", 0, 6, 27}, {NULL, 0, 0, 0}});
    EXPECT_LOCS("{\"a\": tru, \"b\": 1}", {"a", 0, 1, 2}, {"b", -EINVAL, 0, 0});
    EXPECT_LOCS("{\"a\": [1, 2,], \"b\": 1}", {"b", -EINVAL, 0, 0}, {"a[1]", 0, 1, 11});
    EXPECT_LOCS("{\"a\": \"\\x\", \"b\": 1}", {"b", -EINVAL, 0, 0});
    EXPECT_LOCS("{\"\\ud83d\": 1}", {"x", -EINVAL, 0, 0});
    EXPECT_LOCS("{\"\\ude00\\ud83d\": 1}", {"x", -EINVAL, 0, 0});
    EXPECT_LOCS("{\"a\\u12\": 1}", {"x", -EINVAL, 0, 0});
    EXPECT_LOCS("{\"a\" 1}", {"a", -EINVAL, 0, 0});
    EXPECT_LOCS("{\"a\": 1 \"b\": 2}", {"b", -EINVAL, 0, 0});
    EXPECT_LOCS("[1 2]", {"[1]", -EINVAL, 0, 0});
    EXPECT_LOCS("{\"a\": {\"b\": 1]}", {"c", -EINVAL, 0, 0});
    EXPECT_LOCS("", {"a", -ENOENT, 0, 0});
    EXPECT_LOCS("   ", {"a", -ENOENT, 0, 0}, {"[0]", -ENOENT, 0, 0});
    EXPECT_LOCS("\"str\"", {"a", -ENOENT, 0, 0});
    EXPECT_LOCS("{\"a\":", {"a", -EINVAL, 0, 0});
    EXPECT_LOCS("[", {"[0]", -EINVAL, 0, 0});
    /* NUL bytes inside the text are just bytes. */
    expect_locs("{\"a\": \"x\0y\", \"b\": 1}", 20, (const struct loc_case[]){{"b", 0, 1, 14}, {NULL, 0, 0, 0}});
}

static char *repeat(const char *unit, size_t n, const char *tail)
{
    size_t ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(ul * n + tl + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + i * ul, unit, ul);
    }
    memcpy(s + ul * n, tail, tl + 1);
    return s;
}

static void test_deep_nesting_is_bounded(void **state)
{
    (void)state;
    /* 200000 open brackets: the first element is found without skipping, the
     * second needs the first skipped, which is deeper than the limit. */
    char *s = repeat("[", 200000, "");
    struct cg_conf_pos pos;
    assert_int_equal(locate_copy(s, strlen(s), "[0][0][0]", &pos), 0);
    assert_int_equal(pos.column, 4);
    assert_int_equal(locate_copy(s, strlen(s), "[1]", &pos), -E2BIG);
    free(s);
    s = repeat("{\"a\":", 100000, "1");
    assert_int_equal(locate_copy(s, strlen(s), "a.a.a", &pos), 0);
    assert_int_equal(pos.column, 12);
    assert_int_equal(locate_copy(s, strlen(s), "b", &pos), -E2BIG);
    free(s);
    /* Within the limit (and cJSON's 1000) a deep value is skipped over. */
    char *open = repeat("[", 900, "1");
    char *text = repeat("]", 900, ", 7]");
    char *doc = malloc(strlen(open) + strlen(text) + 2);
    assert_non_null(doc);
    sprintf(doc, "[%s%s", open, text);
    assert_int_equal(locate_copy(doc, strlen(doc), "[1]", &pos), 0);
    assert_int_equal(pos.column, 1 + 900 + 1 + 900 + 3);
    free(open);
    free(text);
    free(doc);
}

static void test_describe_and_line_col(void **state)
{
    (void)state;
    char out[96];
    const char *t = nested;
    size_t n = strlen(t);
    assert_int_equal(cg_conf_locate_describe(t, n, "sources[0].rules[0].field", 25, out, sizeof(out)), 19);
    assert_string_equal(out, "(line 6, column 27)");
    cg_conf_locate_describe(t, n, "sources[1].name", 15, out, sizeof(out));
    assert_string_equal(out, "(in the object at line 9, column 5)");
    cg_conf_locate_describe(t, n, "sources[0].rules[9]", 19, out, sizeof(out));
    assert_string_equal(out, "(in the array at line 5, column 15)");
    cg_conf_locate_describe(t, n, "gateway.id.x", 12, out, sizeof(out));
    assert_string_equal(out, "(near line 2, column 21)");
    assert_int_equal(cg_conf_locate_describe(t, n, "outputs", 7, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* path_len: only the path's bytes count (it is the head of "path: msg"). */
    cg_conf_locate_describe(t, n, "gateway.id: must be a name", 10, out, sizeof(out));
    assert_string_equal(out, "(line 2, column 15)");
    /* A short buffer truncates, still terminated. */
    assert_int_equal(cg_conf_locate_describe(t, n, "gateway", 7, out, 8), 7);
    assert_string_equal(out, "(line 2");
    assert_int_equal(cg_conf_locate_describe(NULL, 0, "gateway", 7, out, sizeof(out)), 0);

    size_t line, col;
    cg_conf_locate_line_col("ab\ncd\r\néf", 10, 9, &line, &col);
    assert_int_equal(line, 3);
    assert_int_equal(col, 2);
    cg_conf_locate_line_col("ab", 2, 99, &line, &col); /* past the end: counts to it */
    assert_int_equal(line, 1);
    assert_int_equal(col, 3);
}

static void test_errs_record_the_path(void **state)
{
    (void)state;
    struct cg_errs e = {0};
    cg_errs_add(&e, "sources[0].type", "missing (required)");
    cg_errs_add(&e, NULL, "no path");
    cg_errs_add(&e, "", "empty path");
    assert_int_equal(e.path_len[0], 15);
    assert_int_equal(e.path_len[1], 0);
    assert_int_equal(e.path_len[2], 0);
    assert_memory_equal(e.msg[0], "sources[0].type", 15);
    cg_errs_done(&e);
}

/* ---- properties against cJSON, and garbage -------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* Keys from pieces that need escaping or are multi-byte; never '.' or '[', so
 * the path is unambiguous and must be found exactly. */
static void random_key(char *k, size_t ksz)
{
    static const char *const pieces[] = {"a", "b", "z", "_", "\"", "\\", "\n", "\x01", "é", "Ω", "\xF0\x9F\x98\x80",
                                         "/", " ", "]", "}", ":", ","};
    size_t n = 1 + rnd(4), len = 0;
    k[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
        if (len + strlen(p) + 1 < ksz) {
            strcat(k, p);
            len += strlen(p);
        }
    }
}

static cJSON *random_value(int depth)
{
    switch (depth > 3 ? 3 + rnd(3) : rnd(6)) {
    case 0: {
        cJSON *o = cJSON_CreateObject();
        for (uint32_t i = rnd(4); i > 0; i--) {
            char k[32];
            random_key(k, sizeof(k));
            if (cJSON_GetObjectItemCaseSensitive(o, k) == NULL) {
                cJSON_AddItemToObject(o, k, random_value(depth + 1));
            }
        }
        return o;
    }
    case 1:
    case 2: {
        cJSON *a = cJSON_CreateArray();
        for (uint32_t i = rnd(4); i > 0; i--) {
            cJSON_AddItemToArray(a, random_value(depth + 1));
        }
        return a;
    }
    case 3:
        return cJSON_CreateString(rnd(2) ? "}{][,:\"\\" : "x\ty");
    case 4:
        return cJSON_CreateNumber(rnd(2) ? -12.5e3 : 7);
    default:
        return rnd(2) ? cJSON_CreateBool(rnd(2)) : cJSON_CreateNull();
    }
}

/* Every node of doc is found where the text has it. */
static void check_every_node(const char *text, const cJSON *node, const char *path, size_t *checked)
{
    size_t i = 0;
    for (const cJSON *c = node->child; c; c = c->next, i++) {
        char p[512];
        struct cg_conf_pos pos;
        if (cJSON_IsObject(node)) {
            cg_path_key(p, sizeof(p), path, c->string);
        } else {
            cg_path_idx(p, sizeof(p), path, i);
        }
        assert_true(strlen(p) < sizeof(p) - 1);
        int rc = cg_conf_locate(text, strlen(text), p, strlen(p), &pos);
        if (rc != 0) {
            fail_msg("path '%s': rc %d in\n%s", p, rc, text);
        }
        char *want = NULL;
        if (cJSON_IsObject(node)) { /* the key, as cJSON writes it */
            cJSON *k = cJSON_CreateString(c->string);
            want = cJSON_PrintUnformatted(k);
            cJSON_Delete(k);
        } else {
            want = cJSON_PrintUnformatted(c);
        }
        assert_non_null(want);
        /* a container's first byte only: the pretty text has whitespace inside */
        size_t n = cJSON_IsObject(node) || (!cJSON_IsObject(c) && !cJSON_IsArray(c)) ? strlen(want) : 1;
        assert_memory_equal(text + pos.offset, want, n);
        free(want);
        /* one step further than the text goes: this node is the ancestor */
        char q[600];
        snprintf(q, sizeof(q), "%s.no_such_key", p);
        assert_int_equal(cg_conf_locate(text, strlen(text), q, strlen(q), &pos), ANC);
        (*checked)++;
        check_every_node(text, c, p, checked);
    }
}

static void test_every_node_of_random_documents(void **state)
{
    (void)state;
    size_t checked = 0;
    for (int i = 0; i < 400; i++) {
        cJSON *doc = cJSON_CreateObject();
        for (uint32_t k = 1 + rnd(5); k > 0; k--) {
            char key[32];
            random_key(key, sizeof(key));
            if (cJSON_GetObjectItemCaseSensitive(doc, key) == NULL) {
                cJSON_AddItemToObject(doc, key, random_value(0));
            }
        }
        char *pretty = cJSON_Print(doc), *flat = cJSON_PrintUnformatted(doc);
        assert_non_null(pretty);
        assert_non_null(flat);
        check_every_node(pretty, doc, "", &checked);
        check_every_node(flat, doc, "", &checked);
        free(pretty);
        free(flat);
        cJSON_Delete(doc);
    }
    assert_true(checked > 1000);
}

static void test_random_and_mutated_input_never_crashes(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]\",:\\u0123456789abcdefnrtlsxyz.-+eE \n\r\t\xC3\xA9\xF0\x9F\x98\x80";
    static const char *const paths[] = {"a",          "a.b",     "a[0]",          "sources[0].rules[0].field",
                                        "[0]",        "[1].x[2]", "x.",            "sources[0].rules[1].format",
                                        "gateway.id", "gateway", "sources[1].type", "sources[0].name"};
    char buf[512], path[64];
    size_t found = 0, broken = 0;
    for (int it = 0; it < 6000; it++) {
        size_t len;
        if (it % 2) { /* random bytes, biased to JSON's alphabet */
            len = rnd(sizeof(buf));
            for (size_t i = 0; i < len; i++) {
                buf[i] = rnd(8) ? alphabet[rnd(sizeof(alphabet) - 1)] : (char)rnd(256);
            }
        } else { /* a valid document with a few bytes flipped, inserted or cut */
            len = strlen(nested) < sizeof(buf) ? strlen(nested) : sizeof(buf);
            memcpy(buf, nested, len);
            for (uint32_t m = 1 + rnd(2); m > 0 && len > 0; m--) {
                size_t at = rnd((uint32_t)len);
                switch (rnd(3)) {
                case 0:
                    buf[at] = alphabet[rnd(sizeof(alphabet) - 1)];
                    break;
                case 1:
                    if (len < sizeof(buf)) {
                        memmove(buf + at + 1, buf + at, len - at);
                        buf[at] = (char)rnd(256);
                        len++;
                    }
                    break;
                default:
                    len = at;
                }
            }
        }
        if (rnd(3) == 0) { /* a random path too */
            size_t pl = rnd(sizeof(path));
            for (size_t i = 0; i < pl; i++) {
                path[i] = alphabet[rnd(sizeof(alphabet) - 1)];
            }
            path[pl] = '\0';
        } else {
            snprintf(path, sizeof(path), "%s", paths[rnd(sizeof(paths) / sizeof(paths[0]))]);
        }
        struct cg_conf_pos pos;
        int rc = locate_copy(buf, len, path, &pos);
        assert_true(rc == 0 || rc == ANC || rc == -ENOENT || rc == -EINVAL || rc == -E2BIG);
        found += rc >= 0;
        broken += rc == -EINVAL;
        char out[96];
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        size_t w = cg_conf_locate_describe(copy, len, path, strlen(path), out, sizeof(out));
        assert_int_equal(w, strlen(out));
        assert_true((w > 0) == (rc >= 0));
        free(copy);
    }
    /* the mutated documents still lead somewhere often enough to be a test */
    print_message("found %zu, broken text %zu of 6000\n", found, broken);
    assert_true(found > 300 && broken > 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_objects_and_arrays),
        cmocka_unit_test(test_missing_paths_name_the_ancestor),
        cmocka_unit_test(test_keys_with_escapes_and_utf8),
        cmocka_unit_test(test_strings_hold_json_punctuation),
        cmocka_unit_test(test_index_paths),
        cmocka_unit_test(test_duplicates_and_odd_keys),
        cmocka_unit_test(test_crlf_line_endings),
        cmocka_unit_test(test_malformed_and_truncated_text),
        cmocka_unit_test(test_deep_nesting_is_bounded),
        cmocka_unit_test(test_describe_and_line_col),
        cmocka_unit_test(test_errs_record_the_path),
        cmocka_unit_test(test_every_node_of_random_documents),
        cmocka_unit_test(test_random_and_mutated_input_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
