/* Tests of the history buffer (refiner/history.c): the failure other SimGAN implementations
 * shipped was a buffer that never filled. Proves it fills, mixes old and new images in the
 * fake half-batches, replaces entries uniformly at random (not FIFO), and restores bit-exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "refiner/history.h"
#include "base/rng.h"

/* Every image is IMG floats all equal to its tag, so a stored entry names the push it came from. */
#define IMG 3

static void make_images(float *out, int n, float first_tag) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < IMG; j++) out[i * IMG + j] = first_tag + i;
}

static void test_fills_in_order(void **state) {
    (void)state;
    history h;
    rng_t rng;
    rng_seed(&rng, 1, 0);
    assert_int_equal(history_init(&h, 50, IMG, 4), 0);
    float img[4 * IMG];
    assert_false(history_ready(&h, 1));
    for (int p = 0; p < 12; p++) {
        make_images(img, 4, (float)(4 * p));
        history_push(&h, &rng, img, 4);
        assert_int_equal(h.count, 4 * (p + 1));
    }
    /* appended in order while not full */
    for (long i = 0; i < h.count; i++)
        for (int j = 0; j < IMG; j++) assert_true(h.data[i * IMG + j] == (float)i);
    assert_true(history_ready(&h, 48));
    assert_false(history_ready(&h, 49));
    make_images(img, 4, 48);
    history_push(&h, &rng, img, 4); /* 2 fit, 2 replace random entries */
    assert_int_equal(h.count, 50);
    assert_true(h.data[48 * IMG] == 48.0f && h.data[49 * IMG] == 49.0f);
    int found50 = 0, found51 = 0;
    for (long i = 0; i < 48; i++) {
        found50 += h.data[i * IMG] == 50.0f;
        found51 += h.data[i * IMG] == 51.0f;
    }
    assert_int_equal(found50, 1);
    assert_int_equal(found51, 1);
    make_images(img, 4, 100);
    history_push(&h, &rng, img, 4);
    assert_int_equal(h.count, 50);
    history_free(&h);
}

static void test_sample_distinct_and_uniform(void **state) {
    (void)state;
    history h;
    rng_t rng;
    rng_seed(&rng, 2, 0);
    assert_int_equal(history_init(&h, 20, IMG, 5), 0);
    float img[5 * IMG];
    for (int p = 0; p < 4; p++) {
        make_images(img, 5, (float)(5 * p));
        history_push(&h, &rng, img, 5);
    }
    int counts[20] = {0};
    const int trials = 20000;
    for (int t = 0; t < trials; t++) {
        history_sample(&h, &rng, img, 5);
        for (int i = 0; i < 5; i++) {
            int tag = (int)img[i * IMG];
            assert_true(tag >= 0 && tag < 20);
            assert_true(img[i * IMG + 1] == (float)tag && img[i * IMG + 2] == (float)tag);
            for (int q = 0; q < i; q++) assert_int_not_equal(tag, (int)img[q * IMG]); /* distinct */
            counts[tag]++;
        }
    }
    /* expected 5000 per entry; chi-square with 19 dof: mean 19, sd ~6.2 */
    double chi2 = 0, e = trials * 5.0 / 20;
    for (int i = 0; i < 20; i++) chi2 += (counts[i] - e) * (counts[i] - e) / e;
    assert_true(chi2 < 19 + 6 * 6.2);
    history_free(&h);
}

/* The D-step pattern: sample a half batch, then push a fresh one. Fake batches must mix images
 * from the latest pushes with much older ones. */
static void test_mixes_old_and_new(void **state) {
    (void)state;
    const int n = 4, cap = 40, steps = 300;
    history h;
    rng_t rng;
    rng_seed(&rng, 3, 0);
    assert_int_equal(history_init(&h, cap, IMG, n), 0);
    float fresh[4 * IMG], old[4 * IMG];
    long old_seen = 0, recent_seen = 0, drawn = 0;
    for (int s = 0; s < steps; s++) {
        make_images(fresh, n, (float)(n * s)); /* tag / n = the step that produced it */
        if (history_ready(&h, n)) {
            history_sample(&h, &rng, old, n);
            for (int i = 0; i < n; i++) {
                int age = s - (int)old[i * IMG] / n; /* in steps */
                assert_true(age >= 1);
                old_seen += age > cap / n;  /* older than a FIFO of this size could keep */
                recent_seen += age <= 2;
                drawn++;
            }
        }
        history_push(&h, &rng, fresh, n);
    }
    assert_int_equal(h.count, cap);
    assert_true(drawn == (long)(steps - 1) * n);
    /* random replacement: P(age > 10 steps) = 0.9^10 ~ 0.35 of stored entries */
    assert_true(old_seen > drawn / 10);
    assert_true(recent_seen > drawn / 20);
    history_free(&h);
}

/* Replacement is uniform over slots and not FIFO: counts per slot pass a chi-square test,
 * each push replaces distinct slots, and some entries outlive what a FIFO would allow. */
static void test_replaces_at_random(void **state) {
    (void)state;
    const int n = 5, cap = 100, pushes = 2000;
    history h;
    rng_t rng;
    rng_seed(&rng, 4, 0);
    assert_int_equal(history_init(&h, cap, IMG, n), 0);
    float img[5 * IMG];
    for (int p = 0; p < cap / n; p++) {
        make_images(img, n, (float)(n * p));
        history_push(&h, &rng, img, n);
    }
    assert_int_equal(h.count, cap);
    float *before = malloc(sizeof(float) * cap * IMG);
    int replaced[100] = {0}, contiguous = 0;
    long born[100], max_age = 0;
    for (int i = 0; i < cap; i++) born[i] = 0;
    for (int p = 0; p < pushes; p++) {
        memcpy(before, h.data, sizeof(float) * cap * IMG);
        make_images(img, n, (float)(cap + n * p));
        history_push(&h, &rng, img, n);
        int changed = 0, lo = cap, hi = -1;
        for (int i = 0; i < cap; i++)
            if (memcmp(before + i * IMG, h.data + i * IMG, sizeof(float) * IMG)) {
                changed++;
                replaced[i]++;
                if (p - born[i] > max_age) max_age = p - born[i];
                born[i] = p;
                if (i < lo) lo = i;
                if (i > hi) hi = i;
            }
        assert_int_equal(changed, n); /* distinct slots, every fresh image stored */
        contiguous += hi - lo == n - 1;
    }
    double e = (double)pushes * n / cap, chi2 = 0;
    for (int i = 0; i < cap; i++) {
        assert_true(replaced[i] > 0);
        chi2 += (replaced[i] - e) * (replaced[i] - e) / e;
    }
    /* 99 dof: mean 99, sd 14 */
    assert_true(chi2 < 99 + 5 * 14);
    assert_true(contiguous < pushes / 100); /* a FIFO would replace contiguous runs every time */
    assert_true(max_age > 3 * cap / n);     /* a FIFO keeps nothing longer than cap/n pushes */
    free(before);
    history_free(&h);
}

static void test_restore_bit_exact(void **state) {
    (void)state;
    history a, b;
    rng_t ra, rb;
    rng_seed(&ra, 5, 0);
    assert_int_equal(history_init(&a, 30, IMG, 4), 0);
    assert_int_equal(history_init(&b, 30, IMG, 4), 0);
    float img[4 * IMG], sa[4 * IMG], sb[4 * IMG];
    for (int p = 0; p < 5; p++) {
        for (int i = 0; i < 4 * IMG; i++) img[i] = rng_uniform(&ra) * 2 - 1; /* arbitrary floats */
        history_push(&a, &ra, img, 4);
    }
    assert_int_equal(history_restore(&b, a.data, a.count), 0);
    assert_int_equal(b.count, a.count);
    rb = ra;
    for (int s = 0; s < 50; s++) {
        history_sample(&a, &ra, sa, 4);
        history_sample(&b, &rb, sb, 4);
        assert_memory_equal(sa, sb, sizeof sa);
        for (int i = 0; i < 4 * IMG; i++) img[i] = (float)s;
        history_push(&a, &ra, img, 4);
        history_push(&b, &rb, img, 4);
    }
    assert_memory_equal(a.data, b.data, sizeof(float) * 30 * IMG);
    assert_int_equal(history_restore(&b, a.data, 31), -2); /* more than fits: RP_EFORMAT */
    history_free(&a);
    history_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fills_in_order),
        cmocka_unit_test(test_sample_distinct_and_uniform),
        cmocka_unit_test(test_mixes_old_and_new),
        cmocka_unit_test(test_replaces_at_random),
        cmocka_unit_test(test_restore_bit_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
