/* The configuration loader (io/config.h): the input up to its first NUL is an INI text given to
 * config_load_string, each further NUL-separated string a --set override (config_set_arg).
 * Whatever was accepted, the effective configuration written back as INI (config_to_ini, and the
 * commented form of `refine-pipeline config`) must read back to the same configuration: that
 * text is what run directories, checkpoints and datasets store and later load. */
#include "fuzz/fuzz.h"
#include "io/config.h"

#define MAX_SETS 16

static void round_trip(const char *ini, const char *what) {
    rp_config d;
    config_defaults(&d);
    int rc = config_load_string(&d, ini, what);
    FUZZ_CHECK(rc == 0, "%s does not load: %s\n--- text:\n%s", what, rp_errmsg(), ini);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = 0;
    rp_config c;
    config_defaults(&c);
    int rc = config_load_string(&c, text, "fuzz.ini");
    if (rc) FUZZ_CHECK_ERR(rc, "fuzz.ini");
    size_t at = strlen(text) + 1;
    for (int k = 0; k < MAX_SETS && at <= size; k++) {
        const char *set = text + at;
        at += strlen(set) + 1;
        rc = config_set_arg(&c, set);
        if (rc) FUZZ_CHECK_ERR(rc, "--set");
    }
    char *ini = config_to_ini(&c), *commented = config_to_ini_commented(&c);
    FUZZ_CHECK(ini && commented, "out of memory");
    round_trip(ini, "config_to_ini");
    round_trip(commented, "config_to_ini_commented");
    rp_config d;
    config_defaults(&d);
    config_load_string(&d, ini, "config_to_ini");
    char *again = config_to_ini(&d);
    FUZZ_CHECK(again && !strcmp(ini, again), "the config changed on the way through INI\n--- written:\n%s\n--- read back:\n%s",
               ini, again ? again : "(null)");
    config_defaults(&d);
    config_load_string(&d, commented, "config_to_ini_commented");
    free(again);
    again = config_to_ini(&d);
    FUZZ_CHECK(again && !strcmp(ini, again), "the config changed on the way through commented INI\n--- written:\n%s\n"
               "--- read back:\n%s", ini, again ? again : "(null)");
    free(again), free(ini), free(commented), free(text);
    return 0;
}
