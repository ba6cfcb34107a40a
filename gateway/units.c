/* citygate — unit conversion tables (see units.h for the formulas). */
#include "units.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define R_J_MOL_K 8.314462618 /* CODATA 2018, exact since the 2019 SI */
#define P_REF_PA 101325.0

/* One spelling of one unit. base = v * scale + offset, in the kind's base unit
 * (the first row of each kind, scale 1). molar != 0: a mixing ratio whose scale
 * is multiplied by M / Vm (ug/m3 per ppb), so scale is 1 for ppb, 1000 for ppm. */
struct unit_row {
    const char *kind;
    const char *name;
    double scale;
    double offset;
    int molar;
};

/* Spellings include what vendors and UCUM write (micro sign U+00B5 and Greek
 * mu U+03BC both occur, as do superscript cubes). The first spelling of a unit
 * is the one documented. */
static const struct unit_row rows[] = {
    /* temperature, base degC */
    {"temperature", "degC", 1, 0, 0},
    {"temperature", "°C", 1, 0, 0},
    {"temperature", "C", 1, 0, 0},
    {"temperature", "Cel", 1, 0, 0},
    {"temperature", "celsius", 1, 0, 0},
    {"temperature", "degF", 5.0 / 9.0, -32.0 * 5.0 / 9.0, 0},
    {"temperature", "°F", 5.0 / 9.0, -32.0 * 5.0 / 9.0, 0},
    {"temperature", "F", 5.0 / 9.0, -32.0 * 5.0 / 9.0, 0},
    {"temperature", "[degF]", 5.0 / 9.0, -32.0 * 5.0 / 9.0, 0},
    {"temperature", "fahrenheit", 5.0 / 9.0, -32.0 * 5.0 / 9.0, 0},
    {"temperature", "K", 1, -273.15, 0},
    {"temperature", "kelvin", 1, -273.15, 0},
    /* concentration, base ug/m3 */
    {"concentration", "ug/m3", 1, 0, 0},
    {"concentration", "µg/m3", 1, 0, 0},
    {"concentration", "μg/m3", 1, 0, 0},
    {"concentration", "ug/m³", 1, 0, 0},
    {"concentration", "µg/m³", 1, 0, 0},
    {"concentration", "μg/m³", 1, 0, 0},
    {"concentration", "mg/m3", 1000, 0, 0},
    {"concentration", "mg/m³", 1000, 0, 0},
    {"concentration", "ng/m3", 0.001, 0, 0},
    {"concentration", "ng/m³", 0.001, 0, 0},
    {"concentration", "ppb", 1, 0, 1},
    {"concentration", "ppm", 1000, 0, 1},
    /* speed, base km/h */
    {"speed", "km/h", 1, 0, 0},
    {"speed", "kmh", 1, 0, 0},
    {"speed", "kph", 1, 0, 0},
    {"speed", "m/s", 3.6, 0, 0},
    {"speed", "mph", 1.609344, 0, 0},
    {"speed", "kn", 1.852, 0, 0},
    {"speed", "knot", 1.852, 0, 0},
    {"speed", "ft/s", 1.09728, 0, 0},
    /* energy, base kWh (1 kWh = 3.6e6 J) */
    {"energy", "kWh", 1, 0, 0},
    {"energy", "Wh", 1e-3, 0, 0},
    {"energy", "MWh", 1e3, 0, 0},
    {"energy", "GWh", 1e6, 0, 0},
    {"energy", "J", 1.0 / 3.6e6, 0, 0},
    {"energy", "kJ", 1.0 / 3.6e3, 0, 0},
    {"energy", "MJ", 1.0 / 3.6, 0, 0},
    {"energy", "GJ", 1e3 / 3.6, 0, 0},
    /* reactive energy, base kvarh */
    {"reactive_energy", "kvarh", 1, 0, 0},
    {"reactive_energy", "varh", 1e-3, 0, 0},
    {"reactive_energy", "Mvarh", 1e3, 0, 0},
    /* power, base kW */
    {"power", "kW", 1, 0, 0},
    {"power", "W", 1e-3, 0, 0},
    {"power", "MW", 1e3, 0, 0},
    {"reactive_power", "kvar", 1, 0, 0},
    {"reactive_power", "var", 1e-3, 0, 0},
    {"reactive_power", "Mvar", 1e3, 0, 0},
    {"apparent_power", "kVA", 1, 0, 0},
    {"apparent_power", "VA", 1e-3, 0, 0},
    {"apparent_power", "MVA", 1e3, 0, 0},
    /* volume, base m3 */
    {"volume", "m3", 1, 0, 0},
    {"volume", "m³", 1, 0, 0},
    {"volume", "l", 1e-3, 0, 0},
    {"volume", "L", 1e-3, 0, 0},
    {"volume", "litre", 1e-3, 0, 0},
    {"volume", "liter", 1e-3, 0, 0},
    {"volume", "ml", 1e-6, 0, 0},
    {"volume", "hl", 0.1, 0, 0},
    {"volume", "gal", 3.785411784e-3, 0, 0}, /* US liquid gallon, exactly 231 in3 */
    {"volume", "gal_us", 3.785411784e-3, 0, 0},
    {"volume", "gal_imp", 4.54609e-3, 0, 0},
    {"volume", "ft3", 0.028316846592, 0, 0},
    /* flow, base m3/h */
    {"flow", "m3/h", 1, 0, 0},
    {"flow", "m³/h", 1, 0, 0},
    {"flow", "m3/s", 3600, 0, 0},
    {"flow", "l/s", 3.6, 0, 0},
    {"flow", "l/min", 0.06, 0, 0},
    {"flow", "l/h", 1e-3, 0, 0},
    {"flow", "gal/min", 3.785411784e-3 * 60, 0, 0},
    {"flow", "gpm", 3.785411784e-3 * 60, 0, 0},
    /* pressure, base hPa */
    {"pressure", "hPa", 1, 0, 0},
    {"pressure", "mbar", 1, 0, 0},
    {"pressure", "Pa", 0.01, 0, 0},
    {"pressure", "kPa", 10, 0, 0},
    {"pressure", "MPa", 1e4, 0, 0},
    {"pressure", "bar", 1e3, 0, 0},
    {"pressure", "atm", 1013.25, 0, 0},
    {"pressure", "psi", 68.9475729316836, 0, 0},     /* 6894.757293168 Pa */
    {"pressure", "inHg", 33.86388640341, 0, 0},      /* at 0 °C: 3386.388640341 Pa */
    {"pressure", "mmHg", 1.33322387415, 0, 0},       /* 133.322387415 Pa */
    /* ratio, base percent */
    {"ratio", "%", 1, 0, 0},
    {"ratio", "percent", 1, 0, 0},
    {"ratio", "%RH", 1, 0, 0},
    {"ratio", "fraction", 100, 0, 0},
    {"ratio", "permille", 0.1, 0, 0},
    {"ratio", "‰", 0.1, 0, 0},
    /* plain numbers */
    {"dimensionless", "1", 1, 0, 0},
    {"count", "1", 1, 0, 0},
    {"count", "count", 1, 0, 0},
    {"count", "vehicles", 1, 0, 0},
    {"count", "veh", 1, 0, 0},
    {"count", "pcs", 1, 0, 0},
    /* running totals (a register that only grows, then wraps) */
    {"counter", "1", 1, 0, 0},
    {"counter", "count", 1, 0, 0},
    {"counter", "vehicles", 1, 0, 0},
    {"counter", "veh", 1, 0, 0},
    {"counter", "pcs", 1, 0, 0},
    {"index", "1", 1, 0, 0},
    {"flag", "1", 1, 0, 0},
    {"text", "", 1, 0, 0},
    /* time */
    {"duration", "s", 1, 0, 0},
    {"duration", "sec", 1, 0, 0},
    {"duration", "ms", 1e-3, 0, 0},
    {"duration", "us", 1e-6, 0, 0},
    {"duration", "min", 60, 0, 0},
    {"duration", "h", 3600, 0, 0},
    {"duration", "d", 86400, 0, 0},
    {"timestamp", "ns", 1, 0, 0},
    {"timestamp", "us", 1e3, 0, 0},
    {"timestamp", "ms", 1e6, 0, 0},
    {"timestamp", "s", 1e9, 0, 0},
    /* length, base m */
    {"length", "m", 1, 0, 0},
    {"length", "cm", 0.01, 0, 0},
    {"length", "mm", 1e-3, 0, 0},
    {"length", "km", 1e3, 0, 0},
    {"length", "in", 0.0254, 0, 0},
    {"length", "ft", 0.3048, 0, 0},
    {"rate", "mm/h", 1, 0, 0},
    {"rate", "mm/min", 60, 0, 0},
    {"rate", "in/h", 25.4, 0, 0},
    {"angle", "deg", 1, 0, 0},
    {"angle", "°", 1, 0, 0},
    {"angle", "rad", 57.29577951308232, 0, 0}, /* 180 / pi */
    {"irradiance", "W/m2", 1, 0, 0},
    {"irradiance", "W/m²", 1, 0, 0},
    {"irradiance", "kW/m2", 1e3, 0, 0},
    {"illuminance", "lx", 1, 0, 0},
    {"illuminance", "lux", 1, 0, 0},
    {"illuminance", "klx", 1e3, 0, 0},
    /* levels are logarithmic: only spellings, no conversion */
    {"sound_level", "dBA", 1, 0, 0},
    {"sound_level", "dB(A)", 1, 0, 0},
    {"voltage", "V", 1, 0, 0},
    {"voltage", "mV", 1e-3, 0, 0},
    {"voltage", "kV", 1e3, 0, 0},
    {"current", "A", 1, 0, 0},
    {"current", "mA", 1e-3, 0, 0},
    {"current", "kA", 1e3, 0, 0},
    {"frequency", "Hz", 1, 0, 0},
    {"frequency", "kHz", 1e3, 0, 0},
    {"data", "B", 1, 0, 0},
    {"data", "kB", 1e3, 0, 0},
    {"data", "KiB", 1024, 0, 0},
    {"data", "MB", 1e6, 0, 0},
    {"data", "MiB", 1048576, 0, 0},
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

double cg_units_molar_volume_l(enum cg_units_ref ref)
{
    double t_k = ref == CG_UNITS_REF_25C ? 298.15 : 293.15;
    return R_J_MOL_K * t_k / P_REF_PA * 1000.0;
}

static const struct unit_row *find(const char *kind, const char *unit)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(rows[i].kind, kind) == 0 && strcmp(rows[i].name, unit) == 0) {
            return &rows[i];
        }
    }
    return NULL;
}

bool cg_units_kind_known(const char *kind)
{
    for (size_t i = 0; kind && i < N_ROWS; i++) {
        if (strcmp(rows[i].kind, kind) == 0) {
            return true;
        }
    }
    return false;
}

bool cg_units_known(const char *kind, const char *unit)
{
    if (unit == NULL || unit[0] == '\0') {
        return true;
    }
    return kind != NULL && find(kind, unit) != NULL;
}

void cg_units_list(const char *kind, char *buf, size_t bufsz)
{
    size_t len = 0;
    if (bufsz == 0) {
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < N_ROWS && len < bufsz; i++) {
        if (strcmp(rows[i].kind, kind) != 0) {
            continue;
        }
        int n = snprintf(buf + len, bufsz - len, "%s%s", len ? ", " : "", rows[i].name);
        if (n < 0) {
            break;
        }
        len += (size_t)n;
    }
}

static int unknown(const char *kind, const char *unit, char *msg, size_t msgsz)
{
    char list[512];
    if (!cg_units_kind_known(kind)) {
        snprintf(msg, msgsz, "unknown quantity kind '%s'", kind ? kind : "(null)");
        return -EINVAL;
    }
    cg_units_list(kind, list, sizeof(list));
    snprintf(msg, msgsz, "unit '%s' is not a %s unit (known: %s)", unit, kind, list);
    return -EINVAL;
}

int cg_units_conv(const char *kind, const char *from, const char *to, double molar_mass_g_mol,
                  enum cg_units_ref ref, struct cg_unit_conv *out, char *msg, size_t msgsz)
{
    if (kind == NULL || !cg_units_kind_known(kind)) {
        return unknown(kind, "", msg, msgsz);
    }
    if (from == NULL || from[0] == '\0' || (to != NULL && strcmp(from, to) == 0)) {
        out->scale = 1;
        out->offset = 0;
        return 0;
    }
    const struct unit_row *f = find(kind, from);
    if (f == NULL) {
        return unknown(kind, from, msg, msgsz);
    }
    const struct unit_row *t = to && to[0] ? find(kind, to) : NULL;
    if (t == NULL) {
        if (to == NULL || to[0] == '\0') {
            snprintf(msg, msgsz, "no canonical %s unit to convert '%s' to", kind, from);
            return -EINVAL;
        }
        return unknown(kind, to, msg, msgsz);
    }
    double sf = f->scale, st = t->scale;
    if (f->molar != t->molar) {
        if (!(molar_mass_g_mol > 0)) {
            snprintf(msg, msgsz, "converting '%s' to '%s' needs the molar mass of the gas", from, to);
            return -EINVAL;
        }
        double k = molar_mass_g_mol / cg_units_molar_volume_l(ref); /* ug/m3 per ppb */
        if (f->molar) {
            sf *= k;
        } else {
            st *= k;
        }
    }
    out->scale = sf / st;
    out->offset = (f->offset - t->offset) / st;
    return 0;
}
