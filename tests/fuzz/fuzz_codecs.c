/* Fuzz target: every MQTT payload codec on the same bytes, and every point a
 * codec accepts through the line-protocol encoder. Nothing may crash, leak or
 * hit undefined behaviour; a codec either returns points or an error. */
#include <citygate/codec.h>
#include "lineproto.h"

#include "fuzz_main.h"

static const struct cg_json_map fields[] = {{.name = "pm25", .path = "pm.p25"},
                                            {.name = "n", .path = "n", .type = CG_VT_INT},
                                            {.name = "ok", .path = "ok"}};
static const struct cg_json_map tags[] = {{.name = "model", .path = "$.meta.model"}};
static const struct cg_codec_json_conf json_any = {.time_path = "ts", .max_depth = 16};
static const struct cg_codec_json_conf json_map = {.records = "readings", .time_path = "ts",
                                                   .time_format = CG_TIME_MS, .fields = fields, .n_fields = 3,
                                                   .tags = tags, .n_tags = 1, .max_depth = 16};
static const struct cg_codec_json_conf json_rfc = {.time_path = "time", .time_format = CG_TIME_RFC3339, .max_depth = 8};
static const struct cg_codec_senml_conf senml = {.name_tag = "name", .unit_tag = "unit", .max_depth = 8};
static const struct cg_codec_lp_conf lp = {.precision_ns = 1};
static const struct cg_codec_value_conf value = {.field = "value"};

static void encode_all(struct cg_batch *b)
{
    struct cg_buf out;
    cg_buf_init(&out, 1 << 22);
    for (size_t i = 0; i < b->n_points; i++) {
        const char *why = NULL;
        cg_lp_encode(&out, &b->points[i], NULL, NULL, &why);
    }
    cg_buf_done(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cg_batch b;
    cg_batch_init(&b, 1000, 1 << 20);
    const char *p = (const char *)data;
    const char *why = NULL;
    for (int k = 0; k < 6; k++) {
        cg_batch_reset(&b);
        b.now_ns = 1700000000000000000LL;
        int rc;
        switch (k) {
        case 0: rc = cg_codec_json_decode(&json_any, "m", p, size, &b, &why); break;
        case 1: rc = cg_codec_json_decode(&json_map, "m", p, size, &b, &why); break;
        case 2: rc = cg_codec_json_decode(&json_rfc, "m", p, size, &b, &why); break;
        case 3: rc = cg_codec_senml_decode(&senml, "m", p, size, &b, &why); break;
        case 4: rc = cg_codec_lp_decode(&lp, NULL, p, size, &b, &why); break;
        default: rc = cg_codec_value_decode(&value, "m", p, size, &b, &why); break;
        }
        if (rc >= 0) {
            cg_batch_finish(&b);
            encode_all(&b);
        }
    }
    cg_batch_done(&b);
    return 0;
}
