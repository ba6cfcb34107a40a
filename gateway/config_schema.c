/* citygate — JSON Schema (draft 2020-12) from option tables (see
 * include/citygate/config.h). The same tables parse the config and print
 * docs/config.md, so the schema an editor validates with cannot drift from
 * what citygate accepts. */
#include <citygate/config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int scalar_schema(enum cg_opt_type t, const struct cg_opt *o, cJSON *s);

/* A default as JSON: the table writes it as text ("5000", "true", "ns"). */
static cJSON *default_value(const struct cg_opt *o)
{
    char *end = NULL;
    switch (o->type) {
    case CG_OPT_INT:
    case CG_OPT_DOUBLE: {
        double v = strtod(o->def, &end);
        return end != o->def && *end == '\0' ? cJSON_CreateNumber(v) : NULL;
    }
    case CG_OPT_BOOL:
        return cJSON_CreateBool(strcmp(o->def, "true") == 0);
    case CG_OPT_STRING:
    case CG_OPT_ENUM:
        return cJSON_CreateString(o->def);
    default:
        return NULL;
    }
}

static int add_enum(const struct cg_opt *o, cJSON *s)
{
    cJSON *e = cJSON_AddArrayToObject(s, "enum");
    for (size_t i = 0; e && o->choices && o->choices[i]; i++) {
        if (!cJSON_AddItemToArray(e, cJSON_CreateString(o->choices[i]))) {
            return -ENOMEM;
        }
    }
    return e ? 0 : -ENOMEM;
}

static int scalar_schema(enum cg_opt_type t, const struct cg_opt *o, cJSON *s)
{
    switch (t) {
    case CG_OPT_STRING:
        if (!cJSON_AddStringToObject(s, "type", "string")) {
            return -ENOMEM;
        }
        /* A secret is never "" (config.c): leave the key out for none. */
        if ((o->flags & CG_OPT_SECRET) && !cJSON_AddNumberToObject(s, "minLength", 1)) {
            return -ENOMEM;
        }
        return 0;
    case CG_OPT_INT:
    case CG_OPT_DOUBLE:
        if (!cJSON_AddStringToObject(s, "type", t == CG_OPT_INT ? "integer" : "number") ||
            !cJSON_AddNumberToObject(s, "minimum", o->min) || !cJSON_AddNumberToObject(s, "maximum", o->max)) {
            return -ENOMEM;
        }
        return 0;
    case CG_OPT_BOOL:
        return cJSON_AddStringToObject(s, "type", "boolean") ? 0 : -ENOMEM;
    case CG_OPT_ENUM:
        return cJSON_AddStringToObject(s, "type", "string") ? add_enum(o, s) : -ENOMEM;
    default:
        return 0; /* OTHER: the module checks it; any JSON value here */
    }
}

/* The schema of one value described by o (its elements' for ARRAY / MAP). */
static int value_schema(const struct cg_opt *o, cJSON *s)
{
    switch (o->type) {
    case CG_OPT_OBJECT:
        return o->sub ? cg_opt_schema(o->sub, s) : (cJSON_AddStringToObject(s, "type", "object") ? 0 : -ENOMEM);
    case CG_OPT_ARRAY:
    case CG_OPT_MAP: {
        bool arr = o->type == CG_OPT_ARRAY;
        cJSON *el = cJSON_CreateObject();
        if (el == NULL) {
            return -ENOMEM;
        }
        int rc = o->sub ? cg_opt_schema(o->sub, el) : scalar_schema(o->elem, o, el);
        if (rc == 0 && o->elem == CG_OPT_OBJECT && o->sub == NULL) {
            rc = cJSON_AddStringToObject(el, "type", "object") ? 0 : -ENOMEM;
        }
        const cJSON *one = cJSON_GetObjectItem(el, "type");
        if (rc == 0 && !arr && (o->flags & CG_OPT_NULLABLE) && cJSON_IsString(one)) {
            /* "type": ["string", "null"] */
            cJSON *ty = cJSON_CreateArray();
            if (ty == NULL || !cJSON_AddItemToArray(ty, cJSON_CreateString(one->valuestring)) ||
                !cJSON_AddItemToArray(ty, cJSON_CreateString("null")) || !cJSON_ReplaceItemInObject(el, "type", ty)) {
                cJSON_Delete(ty);
                rc = -ENOMEM;
            }
        }
        if (rc < 0 || !cJSON_AddStringToObject(s, "type", arr ? "array" : "object")) {
            cJSON_Delete(el);
            return -ENOMEM;
        }
        cJSON_AddItemToObject(s, arr ? "items" : "additionalProperties", el);
        if (!arr && !cJSON_AddItemToObject(s, "propertyNames", cJSON_Parse("{\"minLength\": 1}"))) {
            return -ENOMEM;
        }
        if (o->min_items > 0 && !cJSON_AddNumberToObject(s, arr ? "minItems" : "minProperties", (double)o->min_items)) {
            return -ENOMEM;
        }
        if (o->max_items > 0 && !cJSON_AddNumberToObject(s, arr ? "maxItems" : "maxProperties", (double)o->max_items)) {
            return -ENOMEM;
        }
        return 0;
    }
    default:
        return scalar_schema(o->type, o, s);
    }
}

int cg_opt_schema(const struct cg_opt *table, cJSON *out)
{
    cJSON *props = NULL, *req = NULL, *all = NULL;
    if (!cJSON_AddStringToObject(out, "type", "object") || (props = cJSON_AddObjectToObject(out, "properties")) == NULL) {
        return -ENOMEM;
    }
    for (const struct cg_opt *o = table; o->name; o++) {
        cJSON *s = cJSON_CreateObject();
        if (s == NULL || !cJSON_AddItemToObject(props, o->name, s)) {
            cJSON_Delete(s);
            return -ENOMEM;
        }
        if (o->doc && !cJSON_AddStringToObject(s, "description", o->doc)) {
            return -ENOMEM;
        }
        if (value_schema(o, s) < 0) {
            return -ENOMEM;
        }
        cJSON *d = o->def ? default_value(o) : NULL;
        if (d != NULL) {
            cJSON_AddItemToObject(s, "default", d);
        }
        char fk[256];
        snprintf(fk, sizeof(fk), "%s_file", o->name);
        if (o->flags & CG_OPT_SECRET) {
            char doc[320];
            snprintf(doc, sizeof(doc), "file holding %s (one trailing newline removed); instead of %s", o->name,
                     o->name);
            cJSON *f = cJSON_CreateObject();
            if (f == NULL || !cJSON_AddItemToObject(props, fk, f) || !cJSON_AddStringToObject(f, "description", doc) ||
                !cJSON_AddStringToObject(f, "type", "string") || !cJSON_AddNumberToObject(f, "minLength", 1)) {
                return -ENOMEM;
            }
            /* "give either NAME or NAME_file, not both" */
            if (all == NULL && (all = cJSON_AddArrayToObject(out, "allOf")) == NULL) {
                return -ENOMEM;
            }
            char both[600];
            snprintf(both, sizeof(both), "{\"not\": {\"required\": [\"%s\", \"%s\"]}}", o->name, fk);
            if (!cJSON_AddItemToArray(all, cJSON_Parse(both))) {
                return -ENOMEM;
            }
        }
        if (!(o->flags & CG_OPT_REQUIRED)) {
            continue;
        }
        if (o->flags & CG_OPT_SECRET) {
            char any[600];
            snprintf(any, sizeof(any), "{\"anyOf\": [{\"required\": [\"%s\"]}, {\"required\": [\"%s\"]}]}", o->name,
                     fk);
            if (all == NULL && (all = cJSON_AddArrayToObject(out, "allOf")) == NULL) {
                return -ENOMEM;
            }
            if (!cJSON_AddItemToArray(all, cJSON_Parse(any))) {
                return -ENOMEM;
            }
            continue;
        }
        if (req == NULL && (req = cJSON_AddArrayToObject(out, "required")) == NULL) {
            return -ENOMEM;
        }
        if (!cJSON_AddItemToArray(req, cJSON_CreateString(o->name))) {
            return -ENOMEM;
        }
    }
    return cJSON_AddFalseToObject(out, "additionalProperties") ? 0 : -ENOMEM;
}
