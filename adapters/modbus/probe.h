/* citygate modbus — `citygate probe`: read raw registers from a live device
 * and print every interpretation side by side. */
#ifndef CG_MODBUS_PROBE_H
#define CG_MODBUS_PROBE_H

/* argv[0] = "probe". Returns the process exit code. */
int cg_modbus_probe_main(int argc, char **argv);

#endif
