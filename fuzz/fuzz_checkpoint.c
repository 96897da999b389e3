/* Checkpoint loading (refiner/checkpoint.h) on whole HDF5 files: checkpoint_read_config,
 * checkpoint_load_refiner (what `refine --checkpoint` does) and, when the stored configuration
 * describes a small training state, checkpoint_load into a state built from it (what
 * `train --resume` does), for 28x28 images. Each either succeeds with a usable result or fails
 * with an error naming the file; nothing stays open. */
#include "fuzz/fuzz_h5.h"
#include "refiner/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_h5_init();
    const char *path = fuzz_path("ckpt.h5");
    fuzz_write(path, data, size);
    rp_config cfg;
    int rc = checkpoint_read_config(path, &cfg);
    if (rc) FUZZ_CHECK_ERR(rc, path);
    fuzz_h5_all_closed("checkpoint_read_config");
    int have_cfg = !rc;

    refiner r;
    rp_config rcfg;
    long step = -1;
    rc = checkpoint_load_refiner(path, &r, &rcfg, &step);
    fuzz_h5_all_closed("checkpoint_load_refiner");
    if (rc) {
        FUZZ_CHECK_ERR(rc, path);
    } else {
        FUZZ_CHECK(r.cfg.C >= 1 && r.cfg.F >= 1 && r.cfg.B >= 0 && r.p.data && r.p.count > 0, "C %d F %d B %d", r.cfg.C,
                   r.cfg.F, r.cfg.B);
        FUZZ_CHECK(rcfg.refiner.filters == r.cfg.F && rcfg.refiner.blocks == r.cfg.B, "config and refiner differ");
        refiner_free(&r);
    }

    train_setup u;
    if (have_cfg && cfg.refiner.filters <= 8 && cfg.refiner.blocks <= 2 && cfg.train.batch <= 16 &&
        cfg.train.history_size <= 2000 && !train_setup_from_config(&u, &cfg, 1, 28, 28)) {
        train_state s;
        if (!train_state_init(&s, &u)) {
            train_counters k;
            rc = checkpoint_load(path, &s, &k);
            fuzz_h5_all_closed("checkpoint_load");
            if (rc) FUZZ_CHECK_ERR(rc, path);
            else FUZZ_CHECK(k.step >= 0 && s.hist.count >= 0 && s.hist.count <= s.hist.capacity, "step %ld, history %ld",
                            k.step, (long)s.hist.count);
            train_state_free(&s);
        }
    }
    return 0;
}
