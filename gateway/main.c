/* citygate — the entry point: an adapter's sub-command (`citygate probe`,
 * found in the registry), the command line (cli.c), then --check-config or
 * the daemon (daemon.c). */
#include "daemon.h"

#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] != '-') {
        const struct cg_adapter_command *cmd = cg_registry_command(argv[1]);
        if (cmd != NULL) {
            return cmd->main(argc - 1, argv + 1);
        }
        /* not a command: cg_cli_parse says "unexpected argument" */
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
