/* citygate — the command line: options, usage, --print-options (every option
 * table, the output types' from their registry), --check-config, and how
 * config errors are shown (with line and column). */
#include "alarm.h"
#include "daemon.h"
#include "share.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void cg_cli_usage(FILE *f)
{
    fprintf(f,
            "usage: citygate --config FILE [--dry-run] [--run-for SECONDS] [--log-level LEVEL]\n"
            "       citygate --config FILE --test [--test-wait SECONDS]\n"
            "       citygate --check-config FILE\n"
            "       citygate --print-options        (option reference, markdown)\n"
            "       citygate --print-schema         (JSON Schema of the config file)\n"
            "       citygate --version | --help\n"
            "\n"
            "  -c, --config FILE        run with this JSON config\n"
            "  -t, --check-config FILE  validate FILE, list every error, exit 0 (valid) or 1\n"
            "  -n, --dry-run            poll/receive as configured, print line protocol to stdout\n"
            "                           instead of sending it (the buffer on disk is not touched)\n"
            "      --test               read every device once now, listen to MQTT for --test-wait\n"
            "                           seconds, print the points as line protocol, store nothing;\n"
            "                           exit 0 if every source produced a reading, else 1\n"
            "      --test-wait SECONDS  how long --test listens (default 5)\n"
            "      --run-for SECONDS    stop by itself after SECONDS (tests, demos)\n"
            "  -l, --log-level LEVEL    error, warn, info or debug (overrides gateway.log_level)\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain the buffer to the outputs (gateway.drain_timeout_ms), then exit 0;\n"
            "SIGHUP reloads the config (an invalid one is rejected and the running one stays).\n"
            "Sources compiled in:");
    for (const struct cg_adapter *const *a = cg_registry_adapters(); *a; a++) {
        fprintf(f, " %s", (*a)->type);
    }
    fprintf(f, "\nCommands (citygate COMMAND --help):");
    for (const struct cg_adapter *const *a = cg_registry_adapters(); *a; a++) {
        for (const struct cg_adapter_command *c = (*a)->commands; c && c->name; c++) {
            fprintf(f, "\n  %-10s %s (%s source)", c->name, c->summary, (*a)->type);
        }
    }
    fprintf(f, "\nDocs: man citygate(8); docs/ in the source tree.\n");
}

static const char *scalar_type(enum cg_opt_type t)
{
    switch (t) {
    case CG_OPT_STRING:
    case CG_OPT_ENUM:
        return "string";
    case CG_OPT_INT:
        return "integer";
    case CG_OPT_DOUBLE:
        return "number";
    case CG_OPT_BOOL:
        return "boolean";
    default:
        return "object";
    }
}

/* The "allowed" column of a value of type t described by o. */
static void allowed_text(enum cg_opt_type t, const struct cg_opt *o, char *allowed, size_t n)
{
    allowed[0] = '\0';
    if ((t == CG_OPT_INT || t == CG_OPT_DOUBLE) && o->max >= 1e15) { /* no upper limit in practice */
        snprintf(allowed, n, "at least %g", o->min);
    } else if (t == CG_OPT_INT) {
        snprintf(allowed, n, "%.0f..%.0f", o->min, o->max);
    } else if (t == CG_OPT_DOUBLE) {
        snprintf(allowed, n, "%g..%g", o->min, o->max);
    } else if (t == CG_OPT_ENUM) {
        size_t l = 0;
        for (int i = 0; o->choices[i] && l < n; i++) {
            l += (size_t)snprintf(allowed + l, n - l, "%s`%s`", i ? ", " : "", o->choices[i]);
        }
    }
}

static void print_table(const char *title, const struct cg_opt *t)
{
    printf("\n### %s\n\n| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n", title);
    for (const struct cg_opt *o = t; o->name; o++) {
        char type[64];
        char allowed[256] = "";
        if (o->type == CG_OPT_ARRAY || o->type == CG_OPT_MAP) {
            const char *el = o->sub ? "object" : o->elem == CG_OPT_ENUM ? "string" : scalar_type(o->elem);
            snprintf(type, sizeof(type), "%s of %ss%s", o->type == CG_OPT_ARRAY ? "array" : "map", el,
                     (o->flags & CG_OPT_NULLABLE) ? " or null" : "");
            if (o->sub == NULL) {
                allowed_text(o->elem, o, allowed, sizeof(allowed));
            }
            if (o->max_items > 0) {
                size_t l = strlen(allowed);
                snprintf(allowed + l, sizeof(allowed) - l, "%sat most %zu", l ? "; " : "", o->max_items);
            }
        } else {
            snprintf(type, sizeof(type), "%s", scalar_type(o->type));
            allowed_text(o->type, o, allowed, sizeof(allowed));
        }
        char secret[160] = "";
        if (o->flags & CG_OPT_SECRET) {
            snprintf(secret, sizeof(secret), " Secret: may be given as `%s_file`.", o->name);
        }
        printf("| `%s`%s | %s | %s%s%s | %s | %s%s |\n", o->name, (o->flags & CG_OPT_REQUIRED) ? " (required)" : "",
               type, o->def ? "`" : "", o->def ? o->def : "", o->def ? "`" : "", allowed, o->doc ? o->doc : "",
               secret);
    }
    /* Nested tables a module does not print on its own: "a.b", "a.b[]", "a.b.*". */
    for (const struct cg_opt *o = t; o->name; o++) {
        if (o->sub == NULL || (o->flags & CG_OPT_MODULE)) {
            continue;
        }
        char sub[256];
        snprintf(sub, sizeof(sub), "%s.%s%s", title, o->name,
                 o->type == CG_OPT_ARRAY ? "[]" : o->type == CG_OPT_MAP ? ".*" : "");
        print_table(sub, o->sub);
    }
}

int cg_cli_print_options(void)
{
    printf("<!-- generated by `citygate --print-options`; do not edit by hand -->\n");
    printf("## Option reference\n");
    print_table("top level", cg_conf_top_options);
    print_table("gateway", cg_gateway_options);
    print_table("buffer", cg_buffer_options);
    /* One table per output type from the registry; types sharing a table
     * print it once, titled with all their names. */
    const struct cg_output_type *const *types = cg_output_types();
    for (size_t i = 0; types[i] != NULL; i++) {
        bool seen = false;
        for (size_t k = 0; k < i; k++) {
            seen = seen || types[k]->options == types[i]->options;
        }
        if (seen) {
            continue;
        }
        char title[256];
        size_t l = (size_t)snprintf(title, sizeof(title), "outputs[] (type ");
        for (size_t k = i, n = 0; types[k] != NULL && l < sizeof(title); k++) {
            if (types[k]->options == types[i]->options) {
                l += (size_t)snprintf(title + l, sizeof(title) - l, "%s%s", n++ ? " / " : "", types[k]->name);
            }
        }
        snprintf(title + l, l < sizeof(title) ? sizeof(title) - l : 0, ")");
        print_table(title, types[i]->options);
    }
    print_table("outputs[].agreement (any type; docs/outputs.md)", cg_share_options);
    print_table("outputs[].agreement.aggregate", cg_share_aggregate_options);
    print_table("http", cg_http_options);
    print_table("normalise", cg_norm_options);
    print_table("sources[].normalise", cg_norm_source_options);
    print_table("alarms[]", cg_alarm_options);
    /* Each source type's own keys, from the adapter's tables (API 2.0). */
    for (const struct cg_adapter *const *a = cg_registry_adapters(); *a; a++) {
        char title[256];
        snprintf(title, sizeof(title), "sources[] (type %s)", (*a)->type);
        if ((*a)->options != NULL) {
            print_table(title, (*a)->options);
        }
        for (const struct cg_adapter_section *s = (*a)->sections; s && s->path; s++) {
            snprintf(title, sizeof(title), "sources[] (type %s).%s", (*a)->type, s->path);
            print_table(title, s->options);
            if (s->doc != NULL) {
                printf("\n%s\n", s->doc);
            }
        }
    }
    printf("\nKeys marked secret can be given as `KEY_file`: the file's content (one trailing newline\n"
           "removed) is the value, so the secret never sits in the main file. Every string value may\n"
           "use `${ENV}` references (`$$` for a literal `$`). How each source uses its keys is in\n"
           "docs/modbus.md, docs/mqtt.md and docs/exec.md.\n");
    return 0;
}

int cg_cli_print_schema(void)
{
    char *text = cg_conf_schema_text();
    if (text == NULL) {
        fprintf(stderr, "citygate: --print-schema: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* " (line L, column C)" when error i's path is in the file's text, else "".
 * Each lookup reads the text once: a huge file with many errors gets positions
 * for as many as CG_CONF_LOCATE_SCAN_BUDGET allows. */
static const char *err_where(const struct cg_errs *errs, size_t i, const struct cg_config_text *raw, char *buf,
                             size_t n)
{
    buf[0] = ' ';
    if (raw == NULL || raw->data == NULL || errs->path_len[i] == 0 ||
        (i + 1) * raw->len > CG_CONF_LOCATE_SCAN_BUDGET ||
        cg_conf_locate_describe(raw->data, raw->len, errs->msg[i], errs->path_len[i], buf + 1, n - 1) == 0) {
        return "";
    }
    return buf;
}

void cg_cli_print_errs(const char *file, const struct cg_config_text *raw, struct cg_errs *errs)
{
    char where[96];
    fprintf(stderr, "citygate: %s: %zu error%s\n", file, cg_errs_count(errs), cg_errs_count(errs) == 1 ? "" : "s");
    for (size_t i = 0; i < errs->n; i++) {
        fprintf(stderr, "  %s%s\n", errs->msg[i], err_where(errs, i, raw, where, sizeof(where)));
    }
    if (errs->lost) {
        fprintf(stderr, "  ... and %zu more\n", errs->lost);
    }
}

void cg_cli_log_errs(const char *what, const struct cg_config_text *raw, struct cg_errs *errs)
{
    char where[96];
    cg_log(CG_LOG_ERROR, "citygate", "%s: %zu error%s", what, cg_errs_count(errs), cg_errs_count(errs) == 1 ? "" : "s");
    for (size_t i = 0; i < errs->n; i++) {
        cg_log(CG_LOG_ERROR, "citygate", "  %s%s", errs->msg[i], err_where(errs, i, raw, where, sizeof(where)));
    }
}

/* Config warnings (a secret file others can read): logged, the config stands. */
void cg_cli_log_warnings(const struct cg_errs *errs)
{
    for (size_t i = 0; i < errs->n_warn; i++) {
        cg_log(CG_LOG_WARN, "citygate", "%s", errs->warn[i]);
    }
}

/* ---- commands ------------------------------------------------------------- */

int cg_cli_check_config(const char *file)
{
    struct cg_errs errs = {0};
    struct cg_config_text raw = {0};
    struct cg_config *conf = NULL;
    size_t n_out = 0, n_src = 0;
    char mem[512] = "";
    if (cg_daemon_load_conf(file, &conf, &raw, &errs) == 0) {
        n_out = conf->n_outputs;
        n_src = conf->n_sources;
        if (conf->norm && cg_norm_conf_enabled(conf->norm)) {
            cg_norm_conf_memory_ceiling(conf->norm, mem, sizeof(mem));
        }
        cg_daemon_gen_free(cg_daemon_gen_create(conf, false, false, true, &errs));
    }
    int bad = cg_errs_count(&errs) > 0;
    for (size_t i = 0; i < errs.n_warn; i++) {
        fprintf(stderr, "citygate: warning: %s\n", errs.warn[i]);
    }
    if (bad) {
        cg_cli_print_errs(file, &raw, &errs);
    } else {
        printf("%s: OK (%zu output%s, %zu source%s)\n", file, n_out, n_out == 1 ? "" : "s", n_src,
               n_src == 1 ? "" : "s");
        if (mem[0]) {
            printf("%s\n", mem);
        }
        fflush(stdout);
    }
    cg_errs_done(&errs);
    cg_config_text_done(&raw);
    return bad ? 1 : 0;
}

/* Parses the command line into *cli. -1: go on (run or check); otherwise the
 * exit code, after printing what was asked (--help, --version,
 * --print-options) or the usage error. */
int cg_cli_parse(int argc, char **argv, struct cg_cli *cli)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 't'},
        {"dry-run", no_argument, NULL, 'n'},
        {"test", no_argument, NULL, 'T'},
        {"test-wait", required_argument, NULL, 'w'},
        {"run-for", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'},
        {"print-options", no_argument, NULL, 'P'},
        {"print-schema", no_argument, NULL, 'S'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *cli = (struct cg_cli){.test_wait_s = 5};
    int c;
    while ((c = getopt_long(argc, argv, "c:t:nl:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cli->config = optarg;
            break;
        case 't':
            cli->check = optarg;
            break;
        case 'n':
            cli->dry_run = true;
            break;
        case 'T':
            cli->test = true;
            break;
        case 'w': {
            char *end;
            errno = 0;
            cli->test_wait_s = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || cli->test_wait_s < 1 || cli->test_wait_s > 3600) {
                fprintf(stderr, "citygate: --test-wait: expected 1..3600 seconds, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'r': {
            char *end;
            errno = 0;
            cli->run_for_s = strtol(optarg, &end, 10);
            if (errno || *end || cli->run_for_s <= 0) {
                fprintf(stderr, "citygate: --run-for: expected a positive number of seconds, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'l': {
            enum cg_log_level l;
            if (cg_log_parse_level(optarg, &l) < 0) {
                fprintf(stderr, "citygate: --log-level: expected error, warn, info or debug, got '%s'\n", optarg);
                return 2;
            }
            cli->level = optarg;
            break;
        }
        case 'P':
            return cg_cli_print_options();
        case 'S':
            return cg_cli_print_schema();
        case 'V':
            printf("citygate %s\n", CG_VERSION);
            return 0;
        case 'h':
            cg_cli_usage(stdout);
            return 0;
        default:
            cg_cli_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "citygate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cli->check == NULL && cli->config == NULL) {
        cg_cli_usage(stderr);
        return 2;
    }
    if (cli->check == NULL && cli->test && (cli->dry_run || cli->run_for_s)) {
        fprintf(stderr, "citygate: --test goes with neither --dry-run nor --run-for (use --test-wait)\n");
        return 2;
    }
    return -1;
}
