/* citygate — the entry point: the probe sub-command, the command line
 * (cli.c), then --check-config or the daemon (daemon.c). */
#include "daemon.h"

#include <stdio.h>
#include <string.h>

/* Provided by the Modbus adapter when it is compiled in. */
extern int cg_modbus_probe_main(int argc, char **argv) __attribute__((weak));

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "probe") == 0) {
        if (cg_modbus_probe_main == NULL) {
            fprintf(stderr, "citygate: probe needs the modbus adapter, which this build does not have\n");
            return 2;
        }
        return cg_modbus_probe_main(argc - 1, argv + 1);
    }
    struct cg_cli cli;
    int rc = cg_cli_parse(argc, argv, &cli);
    if (rc >= 0) {
        return rc;
    }
    if (cli.check != NULL) {
        return cg_cli_check_config(cli.check);
    }
    return cg_daemon_run(cli.config, cli.dry_run, cli.test, cli.test ? cli.test_wait_s : cli.run_for_s, cli.level);
}
