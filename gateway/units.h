/* citygate — unit conversion to the schema's canonical units. Pure and
 * table-driven: no allocation, no logging, no globals that change.
 *
 * A quantity has a kind ("temperature", "concentration", "pressure"...) and a
 * canonical unit (from config/schema.json). Every unit of a kind converts to
 * the kind's base unit by an affine map  base = v * scale + offset; a source
 * unit then converts to the canonical unit by composing the two maps, so one
 * table row per unit covers every canonical choice (hPa for air pressure and
 * bar for water pressure are both "pressure").
 *
 * Gas concentrations: ppb and ppm (volume mixing ratios) convert to mass
 * concentration with the ideal gas law,
 *
 *     c [ug/m3] = x [ppb] * M [g/mol] / Vm [l/mol],   Vm = R * T / p
 *
 * R = 8.314462618 J/(mol K), p = 101325 Pa and T = 293.15 K (20 °C, the
 * reference of EU Directive 2008/50/EC Annex VI for gaseous pollutants:
 * Vm = 24.055 l/mol) or T = 298.15 K (25 °C, US EPA / WHO: Vm = 24.465 l/mol).
 * Example: 1 ppb NO2 (M = 46.0055 g/mol) at 20 °C = 1.9125 ug/m3. */
#ifndef CG_UNITS_H
#define CG_UNITS_H

#include <stdbool.h>
#include <stddef.h>

enum cg_units_ref {
    CG_UNITS_REF_20C = 0, /* 293.15 K, 101.325 kPa (EU 2008/50/EC), default */
    CG_UNITS_REF_25C,     /* 298.15 K, 101.325 kPa (US EPA, WHO) */
};

/* canonical = v * scale + offset */
struct cg_unit_conv {
    double scale;
    double offset;
};

/* Molar volume of an ideal gas at the reference conditions, litres per mole. */
double cg_units_molar_volume_l(enum cg_units_ref ref);

/* True when kind is a kind the table knows. */
bool cg_units_kind_known(const char *kind);

/* True when unit is a spelling the table knows for kind. NULL and "" always are
 * (they mean "already canonical"). */
bool cg_units_known(const char *kind, const char *unit);

/* Conversion from unit `from` to unit `to` of kind `kind`. molar_mass_g_mol is
 * needed (> 0) only between a mass concentration and ppb/ppm. from NULL or ""
 * means "already canonical" (identity). Returns 0 and fills *out, or -EINVAL
 * with a one-line reason in msg ("unit 'ppq' is not a concentration unit
 * (known: ug/m3, mg/m3, ...)"); *out untouched on failure. */
int cg_units_conv(const char *kind, const char *from, const char *to, double molar_mass_g_mol,
                  enum cg_units_ref ref, struct cg_unit_conv *out, char *msg, size_t msgsz);

static inline double cg_units_apply(const struct cg_unit_conv *c, double v)
{
    return v * c->scale + c->offset;
}

/* Lists the units of kind, comma separated, into buf (for docs and errors). */
void cg_units_list(const char *kind, char *buf, size_t bufsz);

#endif
