/* citygate — the JSON Schema of the whole config file, generated from the
 * option tables (citygate --print-schema; config/citygate.schema.json).
 * Outputs and sources are chosen by "type": one if/then per output type of
 * the output registry and per compiled-in adapter that describes its keys. */
#include "conf.h"

#include "normalise.h"
#include "output.h"
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_ID "https://citygate.invalid/citygate.schema.json"

/* An adapter's option table (API 2: the `options` field of struct
 * cg_adapter); NULL: the source's own keys are not described and the schema
 * accepts any of them for that type. */
static const struct cg_opt *adapter_options(const struct cg_adapter *a)
{
    return a->options;
}

/* {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": then} */
static int add_case(cJSON *all, const char *name, cJSON *then)
{
    cJSON *c = cJSON_CreateObject(), *f = NULL, *p = NULL, *t = NULL, *r = NULL;
    if (c == NULL || !cJSON_AddItemToArray(all, c)) {
        cJSON_Delete(c);
        cJSON_Delete(then);
        return -ENOMEM;
    }
    if ((f = cJSON_AddObjectToObject(c, "if")) == NULL || (p = cJSON_AddObjectToObject(f, "properties")) == NULL ||
        (t = cJSON_AddObjectToObject(p, "type")) == NULL || !cJSON_AddStringToObject(t, "const", name) ||
        (r = cJSON_AddArrayToObject(f, "required")) == NULL || !cJSON_AddItemToArray(r, cJSON_CreateString("type"))) {
        cJSON_Delete(then);
        return -ENOMEM;
    }
    cJSON_AddItemToObject(c, "then", then);
    return 0;
}

static cJSON *table_schema(const struct cg_opt *t)
{
    cJSON *s = cJSON_CreateObject();
    if (s == NULL || cg_opt_schema(t, s) < 0) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

/* outputs[] items: "type" names one of the registry's output types. */
static int outputs_items(cJSON *items)
{
    cJSON *props = NULL, *ty = NULL, *en = NULL, *all = NULL, *req = NULL;
    if ((req = cJSON_AddArrayToObject(items, "required")) == NULL ||
        !cJSON_AddItemToArray(req, cJSON_CreateString("type")) ||
        (props = cJSON_AddObjectToObject(items, "properties")) == NULL ||
        (ty = cJSON_AddObjectToObject(props, "type")) == NULL || (en = cJSON_AddArrayToObject(ty, "enum")) == NULL ||
        (all = cJSON_AddArrayToObject(items, "allOf")) == NULL) {
        return -ENOMEM;
    }
    for (const struct cg_output_type *const *t = cg_output_types(); *t != NULL; t++) {
        if (!cJSON_AddItemToArray(en, cJSON_CreateString((*t)->name)) ||
            add_case(all, (*t)->name, table_schema((*t)->options)) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

/* sources[] items: "type" names a compiled-in adapter; "name" and
 * "normalise" are the core's keys of every source. */
static int sources_items(cJSON *items)
{
    cJSON *props = NULL, *ty = NULL, *en = NULL, *all = NULL, *req = NULL, *name = NULL;
    if ((req = cJSON_AddArrayToObject(items, "required")) == NULL ||
        !cJSON_AddItemToArray(req, cJSON_CreateString("type")) ||
        (props = cJSON_AddObjectToObject(items, "properties")) == NULL ||
        (ty = cJSON_AddObjectToObject(props, "type")) == NULL || (en = cJSON_AddArrayToObject(ty, "enum")) == NULL ||
        (name = cJSON_AddObjectToObject(props, "name")) == NULL ||
        !cJSON_AddStringToObject(name, "description", "source name (logs, health, gap records); default TYPE-INDEX") ||
        !cJSON_AddStringToObject(name, "type", "string") || !cJSON_AddNumberToObject(name, "minLength", 1) ||
        (all = cJSON_AddArrayToObject(items, "allOf")) == NULL) {
        return -ENOMEM;
    }
    cJSON *norm = table_schema(cg_norm_source_options);
    if (norm == NULL) {
        return -ENOMEM;
    }
    cJSON_AddItemToObject(props, "normalise", norm);
    for (const struct cg_adapter *const *a = cg_registry_adapters(); *a != NULL; a++) {
        if (!cJSON_AddItemToArray(en, cJSON_CreateString((*a)->type))) {
            return -ENOMEM;
        }
        const struct cg_opt *opts = adapter_options(*a);
        if (opts == NULL) {
            continue;
        }
        cJSON *then = table_schema(opts);
        cJSON *tp = then ? cJSON_GetObjectItem(then, "properties") : NULL;
        if (tp == NULL) {
            cJSON_Delete(then);
            return -ENOMEM;
        }
        /* the core's keys, unless the adapter's table lists them itself */
        const char *core[] = {"type", "name", "normalise"};
        for (size_t i = 0; i < 3; i++) {
            if (cJSON_GetObjectItem(tp, core[i]) == NULL) {
                cJSON_AddItemToObject(tp, core[i], cJSON_CreateTrue());
            }
        }
        if (add_case(all, (*a)->type, then) < 0) {
            return -ENOMEM;
        }
    }
    if (cJSON_GetArraySize(all) == 0) { /* no adapter describes its keys: allOf must not be empty */
        cJSON_DeleteItemFromObject(items, "allOf");
    }
    return 0;
}

char *cg_conf_schema_text(void)
{
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    if (root == NULL || !cJSON_AddStringToObject(root, "$schema", "https://json-schema.org/draft/2020-12/schema") ||
        !cJSON_AddStringToObject(root, "$id", SCHEMA_ID) ||
        !cJSON_AddStringToObject(root, "title", "citygate configuration") ||
        !cJSON_AddStringToObject(root, "description",
                                 "Generated by `citygate --print-schema` from the option tables; do not edit by hand. "
                                 "Checks types, ranges, names and unknown keys; citygate --check-config checks the "
                                 "rest (files, names across sections, duplicate keys).") ||
        cg_conf_top_schema(root) < 0) {
        goto out;
    }
    cJSON *props = cJSON_GetObjectItem(root, "properties");
    cJSON *outs = cJSON_GetObjectItem(props, "outputs");
    cJSON *srcs = cJSON_GetObjectItem(props, "sources");
    cJSON *oi = outs ? cJSON_GetObjectItem(outs, "items") : NULL;
    cJSON *si = srcs ? cJSON_GetObjectItem(srcs, "items") : NULL;
    if (oi == NULL || si == NULL || outputs_items(oi) < 0 || sources_items(si) < 0) {
        goto out;
    }
    text = cJSON_Print(root);
out:
    cJSON_Delete(root);
    return text;
}
