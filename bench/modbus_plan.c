/* Planner figures for every shipped profile: requests per poll with merging
 * versus one request per field, registers read, gap registers. Prints; never
 * fails on figures. Usage: modbus_plan_bench PROFILE_DIR [NAME...] */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int main(int argc, char **argv)
{
    char *dirs[1] = {argc > 1 ? argv[1] : "config/profiles"};
    char names[64][80];
    int n = 0;
    if (argc > 2) {
        for (int i = 2; i < argc && n < 64; i++) {
            snprintf(names[n++], sizeof names[0], "%s", argv[i]);
        }
    } else {
        DIR *d = opendir(dirs[0]);
        struct dirent *e;
        while (d && (e = readdir(d)) && n < 64) {
            size_t l = strlen(e->d_name);
            if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0) {
                snprintf(names[n++], sizeof names[0], "%.*s", (int)(l - 5), e->d_name);
            }
        }
        if (d) {
            closedir(d);
        }
    }
    printf("%-16s %6s %9s %13s %10s %10s\n", "profile", "fields", "requests", "one-per-field", "registers", "gap-regs");
    for (int i = 0; i < n; i++) {
        char conf[512];
        snprintf(conf, sizeof conf,
                 "{\"type\":\"modbus\",\"transport\":\"tcp\",\"host\":\"127.0.0.1\",\"profile_dirs\":[\"%s\"],"
                 "\"devices\":[{\"name\":\"d\",\"profile\":\"%s\"}]}",
                 dirs[0], names[i]);
        cJSON *j = cJSON_Parse(conf);
        struct cg_errs errs = {0};
        struct cg_mb_source *s = NULL;
        if (cg_mb_source_parse(j, "bench", NULL, &s, &errs) < 0) {
            for (size_t k = 0; k < errs.n; k++) {
                fprintf(stderr, "%s\n", errs.msg[k]);
            }
        } else {
            const struct cg_mb_device *d = &s->devices[0];
            printf("%-16s %6zu %9zu %13zu %10zu %10zu\n", names[i], d->n_fields, d->plan.n_req, d->plan_per_field,
                   d->plan.units_read, d->plan.units_read - d->plan.units_wanted);
        }
        cg_mb_source_free(s);
        cg_errs_done(&errs);
        cJSON_Delete(j);
    }
    return 0;
}
