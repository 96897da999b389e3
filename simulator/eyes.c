/* placeholder */
#include "simulator/sim.h"
#include "io/status.h"
int sim_eye_render_opts(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out, int glint) {
    return rp_err(RP_EINTERNAL, "eyes: not yet");
}
int sim_eye_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out) {
    return sim_eye_render_opts(img, H, W, seed, index, out, 1);
}
