/* Unit conversion: table-driven against reference values worked out by hand
 * from the definitions (formula in each comment), not from units.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "units.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Molar volume Vm = R T / p, R = 8.314462618 J/(mol K), p = 101325 Pa:
 * 20 °C: 8.314462618 * 293.15 / 101325 * 1000 = 24.055116866 l/mol
 * 25 °C: 8.314462618 * 298.15 / 101325 * 1000 = 24.465403697 l/mol */
#define VM20 24.055116866189984
#define VM25 24.46540369658722

struct conv_case {
    const char *kind, *from, *to;
    double molar, in, want, rel_tol;
    enum cg_units_ref ref;
};

static const struct conv_case cases[] = {
    /* temperature: degC = (degF - 32) * 5/9; degC = K - 273.15 */
    {"temperature", "degF", "degC", 0, 212, 100, 1e-12, CG_UNITS_REF_20C},
    {"temperature", "degF", "degC", 0, 32, 0, 1e-12, CG_UNITS_REF_20C},
    {"temperature", "°F", "degC", 0, -40, -40, 1e-12, CG_UNITS_REF_20C},
    {"temperature", "K", "degC", 0, 273.15, 0, 1e-12, CG_UNITS_REF_20C},
    {"temperature", "K", "degC", 0, 0, -273.15, 1e-12, CG_UNITS_REF_20C},
    {"temperature", "degC", "K", 0, 20, 293.15, 1e-12, CG_UNITS_REF_20C},
    {"temperature", "degC", "degF", 0, 100, 212, 1e-12, CG_UNITS_REF_20C},
    {"temperature", "°C", "degC", 0, 21.5, 21.5, 0, CG_UNITS_REF_20C},
    /* gases, ug/m3 = ppb * M / Vm (the example in the EU directive's spirit):
     * NO2 M = 46.0055: 1 ppb at 20 °C = 46.0055 / 24.055117 = 1.9125037 ug/m3 */
    {"concentration", "ppb", "ug/m3", 46.0055, 1, 1.9125036995626399, 1e-9, CG_UNITS_REF_20C},
    {"concentration", "ppb", "ug/m3", 46.0055, 40, 40 * 1.9125036995626399, 1e-9, CG_UNITS_REF_20C},
    /* NO2 1 ppm at 25 °C = 1000 * 46.0055 / 24.465404 = 1880.43086 ug/m3 */
    {"concentration", "ppm", "ug/m3", 46.0055, 1, 1880.4308553640378, 1e-9, CG_UNITS_REF_25C},
    /* O3 M = 47.9982: 1 ppb at 25 °C = 47.9982 / 24.465404 = 1.9618806 ug/m3 */
    {"concentration", "ppb", "ug/m3", 47.9982, 1, 1.961880563887669, 1e-9, CG_UNITS_REF_25C},
    /* SO2 M = 64.064: 1 ppb at 20 °C = 2.6632172 ug/m3 */
    {"concentration", "ppb", "ug/m3", 64.064, 1, 2.663217159008835, 1e-9, CG_UNITS_REF_20C},
    /* CO M = 28.0101, canonical mg/m3: 1 ppm at 20 °C = 28.0101 / 24.055117 = 1.1644134 mg/m3 */
    {"concentration", "ppm", "mg/m3", 28.0101, 1, 1.1644133826416299, 1e-9, CG_UNITS_REF_20C},
    /* CO 1000 ppb = 1 ppm */
    {"concentration", "ppb", "mg/m3", 28.0101, 1000, 1.1644133826416299, 1e-9, CG_UNITS_REF_20C},
    /* CO2 M = 44.0095, canonical ppm: 1000 ug/m3 = 1000 / (1000 * 44.0095 / 24.055117) = 0.5465892 ppm */
    {"concentration", "ug/m3", "ppm", 44.0095, 1000, 0.5465891879296512, 1e-9, CG_UNITS_REF_20C},
    {"concentration", "ppb", "ppm", 0, 2500, 2.5, 1e-12, CG_UNITS_REF_20C}, /* no molar mass needed */
    {"concentration", "mg/m3", "ug/m3", 0, 1.5, 1500, 1e-12, CG_UNITS_REF_20C},
    {"concentration", "µg/m³", "ug/m3", 0, 12, 12, 0, CG_UNITS_REF_20C},
    {"concentration", "ng/m3", "ug/m3", 0, 500, 0.5, 1e-12, CG_UNITS_REF_20C},
    /* speed: 1 mile = 1.609344 km exactly; 1 m/s = 3.6 km/h; 1 kn = 1.852 km/h */
    {"speed", "mph", "km/h", 0, 60, 96.56064, 1e-12, CG_UNITS_REF_20C},
    {"speed", "m/s", "km/h", 0, 10, 36, 1e-12, CG_UNITS_REF_20C},
    {"speed", "km/h", "m/s", 0, 36, 10, 1e-12, CG_UNITS_REF_20C},
    {"speed", "kn", "m/s", 0, 10, 5.144444444444444, 1e-12, CG_UNITS_REF_20C},
    /* energy: 1 kWh = 1000 Wh = 3.6e6 J */
    {"energy", "Wh", "kWh", 0, 1500, 1.5, 1e-12, CG_UNITS_REF_20C},
    {"energy", "MWh", "kWh", 0, 2, 2000, 1e-12, CG_UNITS_REF_20C},
    {"energy", "J", "kWh", 0, 3.6e6, 1, 1e-12, CG_UNITS_REF_20C},
    {"energy", "GJ", "MWh", 0, 3.6, 1, 1e-12, CG_UNITS_REF_20C},
    {"reactive_energy", "varh", "kvarh", 0, 250, 0.25, 1e-12, CG_UNITS_REF_20C},
    /* power */
    {"power", "W", "kW", 0, 2500, 2.5, 1e-12, CG_UNITS_REF_20C},
    {"power", "MW", "kW", 0, 1.2, 1200, 1e-12, CG_UNITS_REF_20C},
    {"apparent_power", "VA", "kVA", 0, 230, 0.23, 1e-12, CG_UNITS_REF_20C},
    /* volume: 1 US gal = 231 in3 = 3.785411784 l */
    {"volume", "l", "m3", 0, 1000, 1, 1e-12, CG_UNITS_REF_20C},
    {"volume", "gal", "m3", 0, 1, 0.003785411784, 1e-12, CG_UNITS_REF_20C},
    {"volume", "ft3", "m3", 0, 1, 0.028316846592, 1e-12, CG_UNITS_REF_20C},
    /* flow: 1 l/s = 3.6 m3/h; 1 gal/min = 3.785411784e-3 * 60 = 0.22712470704 m3/h */
    {"flow", "l/s", "m3/h", 0, 1, 3.6, 1e-12, CG_UNITS_REF_20C},
    {"flow", "l/min", "m3/h", 0, 100, 6, 1e-12, CG_UNITS_REF_20C},
    {"flow", "gal/min", "m3/h", 0, 1, 0.22712470704, 1e-12, CG_UNITS_REF_20C},
    /* pressure: 1 hPa = 100 Pa; 1 bar = 1000 hPa; 1 inHg = 3386.388640341 Pa; 1 mmHg = 133.322387415 Pa */
    {"pressure", "Pa", "hPa", 0, 101325, 1013.25, 1e-12, CG_UNITS_REF_20C},
    {"pressure", "kPa", "hPa", 0, 101.325, 1013.25, 1e-12, CG_UNITS_REF_20C},
    {"pressure", "bar", "hPa", 0, 1, 1000, 1e-12, CG_UNITS_REF_20C},
    {"pressure", "mbar", "hPa", 0, 1013, 1013, 0, CG_UNITS_REF_20C},
    {"pressure", "inHg", "hPa", 0, 29.92, 1013.2074811900274, 1e-9, CG_UNITS_REF_20C},
    {"pressure", "mmHg", "hPa", 0, 760, 1013.2501443540001, 1e-9, CG_UNITS_REF_20C},
    {"pressure", "psi", "hPa", 0, 14.6959, 1013.246637046676, 1e-9, CG_UNITS_REF_20C},
    {"pressure", "MPa", "bar", 0, 0.35, 3.5, 1e-12, CG_UNITS_REF_20C},
    /* ratios */
    {"ratio", "fraction", "%", 0, 0.42, 42, 1e-12, CG_UNITS_REF_20C},
    {"ratio", "%RH", "%", 0, 55, 55, 0, CG_UNITS_REF_20C},
    {"ratio", "permille", "%", 0, 5, 0.5, 1e-12, CG_UNITS_REF_20C},
    /* others */
    {"duration", "ms", "s", 0, 1500, 1.5, 1e-12, CG_UNITS_REF_20C},
    {"duration", "s", "ms", 0, 2, 2000, 1e-12, CG_UNITS_REF_20C},
    {"length", "in", "mm", 0, 1, 25.4, 1e-12, CG_UNITS_REF_20C},
    {"count", "vehicles", "1", 0, 17, 17, 0, CG_UNITS_REF_20C},
    /* identity: NULL / "" mean "already canonical" */
    {"temperature", NULL, "degC", 0, 21, 21, 0, CG_UNITS_REF_20C},
    {"temperature", "", "degC", 0, 21, 21, 0, CG_UNITS_REF_20C},
};

static void test_conversions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct conv_case *c = &cases[i];
        struct cg_unit_conv conv = {0};
        char msg[256] = "";
        int rc = cg_units_conv(c->kind, c->from, c->to, c->molar, c->ref, &conv, msg, sizeof(msg));
        if (rc != 0) {
            fail_msg("case %zu (%s %s -> %s): %s", i, c->kind, c->from ? c->from : "NULL", c->to, msg);
        }
        double got = cg_units_apply(&conv, c->in);
        double tol = c->rel_tol * fabs(c->want) + 1e-12;
        if (fabs(got - c->want) > tol) {
            fail_msg("case %zu (%s %g %s -> %s): got %.17g, want %.17g", i, c->kind, c->in, c->from ? c->from : "NULL",
                     c->to, got, c->want);
        }
    }
}

static void test_molar_volume(void **state)
{
    (void)state;
    assert_true(fabs(cg_units_molar_volume_l(CG_UNITS_REF_20C) - VM20) < 1e-9);
    assert_true(fabs(cg_units_molar_volume_l(CG_UNITS_REF_25C) - VM25) < 1e-9);
}

struct err_case {
    const char *kind, *from, *to;
    double molar;
    const char *msg; /* expected substring */
};

static const struct err_case errors[] = {
    {"temperature", "degR", "degC", 0, "unit 'degR' is not a temperature unit (known: degC,"},
    {"concentration", "ppb", "ug/m3", 0, "converting 'ppb' to 'ug/m3' needs the molar mass of the gas"},
    {"concentration", "ug/m3", "ppm", 0, "needs the molar mass"},
    {"pressure", "hPa", "furlong", 0, "unit 'furlong' is not a pressure unit"},
    {"speed", "kWh", "km/h", 0, "unit 'kWh' is not a speed unit"},
    {"loudness", "sone", "phon", 0, "unknown quantity kind 'loudness'"},
    {"temperature", "degF", NULL, 0, "no canonical temperature unit"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        const struct err_case *e = &errors[i];
        struct cg_unit_conv conv = {.scale = 7, .offset = 7};
        char msg[512] = "";
        assert_int_equal(cg_units_conv(e->kind, e->from, e->to, e->molar, CG_UNITS_REF_20C, &conv, msg, sizeof(msg)),
                         -EINVAL);
        if (strstr(msg, e->msg) == NULL) {
            fail_msg("case %zu: message '%s' lacks '%s'", i, msg, e->msg);
        }
        assert_true(conv.scale == 7 && conv.offset == 7); /* untouched on failure */
    }
}

static void test_known(void **state)
{
    (void)state;
    assert_true(cg_units_known("temperature", "K"));
    assert_true(cg_units_known("temperature", NULL));
    assert_true(cg_units_known("temperature", ""));
    assert_false(cg_units_known("temperature", "kelvins"));
    assert_false(cg_units_known("nonsense", "K"));
    assert_true(cg_units_kind_known("flow"));
    assert_false(cg_units_kind_known("vibes"));
    char list[256];
    cg_units_list("flow", list, sizeof(list));
    assert_string_equal(list, "m3/h, m³/h, m3/s, l/s, l/min, l/h, gal/min, gpm");
    char tiny[8];
    cg_units_list("pressure", tiny, sizeof(tiny)); /* truncates, stays terminated */
    assert_true(strlen(tiny) < sizeof(tiny));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_molar_volume),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
