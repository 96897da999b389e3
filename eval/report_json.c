/* report.json (see eval.h): the JSON entry of one evaluation, and an updater that keeps whatever the
 * file already holds: it validates the file and splits its top-level object (and the "evaluations"
 * object) into members whose raw text is copied verbatim (io/json.h); only the member being set is
 * rewritten, and the file is replaced atomically, so readers never see half a report. */
#include "eval/eval.h"
#include "io/json.h"
#include "base/status.h"
#include "eval/evalnet.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the entry */
char *report_json_entry(const eval_result *r, int indent) {
    json_buf b = {0};
    int in = indent + 2;
#define KEY(k) json_printf(&b, ",\n%*s\"%s\": ", in, "", k)
    json_printf(&b, "{\n%*s\"train\": ", in, "");
    json_str(&b, r->train);
    KEY("test");
    if (r->has_test) json_str(&b, r->test);
    else json_printf(&b, "null"); /* no labeled real test set: value, values and accuracies are null */
    KEY("label"), json_str(&b, r->label);
    KEY("task"), json_str(&b, r->task == EVAL_CLASSIFY ? "classification" : "regression");
    KEY("images"), json_printf(&b, "{\"channels\": %d, \"height\": %d, \"width\": %d}", r->C, r->H, r->W);
    KEY("n_train"), json_printf(&b, "%ld", r->n_train);
    KEY("n_test"), json_printf(&b, "%ld", r->n_test);
    KEY("recipe"), json_printf(&b, "{\"network\": \"%s\", \"steps\": %ld, \"batch\": %d, \"optimizer\": \"adam\", "
                                 "\"lr\": ", EVALNET_ARCH, r->steps, r->batch);
    json_num(&b, r->lr);
    json_printf(&b, ", \"lr_schedule\": \"%s\", \"seed\": %llu, \"repeats\": %d}", eval_lr_schedule_name(r->lr_cosine),
              (unsigned long long)r->seed, r->repeats);
    KEY("train_loss"), json_num(&b, r->train_loss);
    KEY("metric"), json_str(&b, r->metric);
    KEY("value"), json_num(&b, r->value);
    KEY(r->metric), json_num(&b, r->value);
    KEY("values"), json_nums(&b, r->values, r->repeats);
    if (r->task == EVAL_CLASSIFY) {
        if (r->repeats <= 1) KEY("correct"), json_printf(&b, "%ld", r->correct); /* a count of one seed's hits */
        KEY("classes"), json_printf(&b, "%d", r->outputs);
        KEY("class_accuracy"), json_nums(&b, r->class_accuracy, r->outputs);
        KEY("class_count"), json_printf(&b, "[");
        for (int k = 0; k < r->outputs; k++) json_printf(&b, "%s%ld", k ? ", " : "", r->class_count[k]);
        json_printf(&b, "]");
    } else {
        KEY("outputs"), json_printf(&b, "%d", r->outputs);
    }
    KEY("realism");
    if (!r->has_real) {
        json_printf(&b, "null");
    } else {
        int in2 = in + 2;
        json_printf(&b, "{\n%*s\"real\": ", in2, "");
        json_str(&b, r->real);
        json_printf(&b, ",\n%*s\"domain_accuracy\": ", in2, ""), json_num(&b, r->domain_accuracy);
        json_printf(&b, ",\n%*s\"domain_values\": ", in2, ""), json_nums(&b, r->domain_values, r->repeats);
        json_printf(&b, ",\n%*s\"domain_heldout_per_side\": %ld", in2, "", r->domain_heldout);
        json_printf(&b, ",\n%*s\"domain_steps\": %ld", in2, "", r->domain_steps);
        json_printf(&b, ",\n%*s\"frechet_distance\": ", in2, ""), json_num(&b, r->frechet);
        json_printf(&b, ",\n%*s\"frechet_rows_real\": %ld", in2, "", r->frechet_n_real);
        json_printf(&b, ",\n%*s\"frechet_rows_train\": %ld", in2, "", r->frechet_n_train);
        json_printf(&b, ",\n%*s\"features\": ", in2, ""), json_str(&b, r->feature_source);
        json_printf(&b, ",\n%*s\"histogram_l1\": ", in2, ""), json_num(&b, r->hist_l1);
        json_printf(&b, ",\n%*s\"histogram_w1\": ", in2, ""), json_num(&b, r->hist_w1);
        json_printf(&b, ",\n%*s\"histogram\": \"256-bin pixel intensities; l1: L1 distance of the normalised histograms "
                      "(0..2); w1: Wasserstein-1 in intensity units (0..1)\"", in2, "");
        json_printf(&b, "\n%*s}", in, "");
    }
    KEY("label_consistency");
    if (!r->has_consistency) {
        json_printf(&b, "null");
    } else {
        int in2 = in + 2;
        json_printf(&b, "{\n%*s\"source\": ", in2, ""), json_str(&b, r->consistency_source);
        json_printf(&b, ",\n%*s\"metric\": ", in2, ""), json_str(&b, r->consistency_metric);
        json_printf(&b, ",\n%*s\"rows\": %ld", in2, "", r->consistency_rows);
        json_printf(&b, ",\n%*s\"synthetic\": ", in2, ""), json_num(&b, r->consistency_synthetic);
        json_printf(&b, ",\n%*s\"refined\": ", in2, ""), json_num(&b, r->consistency_refined);
        json_printf(&b, ",\n%*s\"ratio\": ", in2, ""), json_num(&b, r->consistency_ratio);
        json_printf(&b, ",\n%*s\"changed\": ", in2, ""), json_num(&b, r->consistency_changed);
        json_printf(&b, "\n%*s}", in, "");
    }
    KEY("seconds"), json_num(&b, r->seconds);
    json_printf(&b, "\n%*s}", indent, "");
#undef KEY
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---------------------------------------------------------------- update in place */
static void put_member(json_buf *b, int indent, const char *text, const json_member *m, const char *key,
                       const char *value) {
    json_printf(b, "%*s", indent, "");
    if (m) json_printf(b, "\"%.*s\": ", (int)(m->key_end - m->key), text + m->key);
    else json_str(b, key), json_printf(b, ": ");
    if (value) json_printf(b, "%s", value);
    else json_raw(b, text + m->val, m->val_end - m->val);
}

/* Sets key (inside the object member `section` when non-NULL) to the JSON text value. */
static int update(const char *path, const char *section, const char *key, const char *value) {
    char *text = NULL;
    size_t len = 0;
    int rc = json_read_file(path, &text, &len);
    if (rc < 0) return rc;
    json_member *top = NULL, *sec = NULL;
    int ntop = 0, nsec = 0;
    if (rc == 0) {
        size_t i = 0;
        while (i < len && strchr(" \t\r\n", text[i]) && text[i]) i++;
        if ((rc = json_check(text, len))) rc = rp_err_prefix(RP_EFORMAT, "%s: ", path);
        else if (i >= len || text[i] != '{')
            rc = rp_err(RP_EFORMAT, "%s: expected a JSON object at the top level (a report written by eval)", path);
        else if ((rc = json_split_object(text, i, len, &top, &ntop))) rc = rp_err_prefix(rc, "%s: ", path);
    } else {
        rc = 0;
    }
    json_buf b = {0};
    json_printf(&b, "{\n");
    if (!text) json_printf(&b, "  \"refine_report\": 1");
    int found = 0, any = !text;
    const char *target = section ? section : key;
    for (int t = 0; !rc && t <= ntop; t++) {
        const json_member *m = t < ntop ? &top[t] : NULL;
        if (!m && found) break;
        int hit = m ? json_key_is(text, m, target) : 1;
        if (hit < 0) {
            rc = rp_err_prefix(hit, "%s: ", path);
            break;
        }
        if (any) json_printf(&b, ",\n");
        any = 1;
        if (!hit) {
            put_member(&b, 2, text, m, NULL, NULL);
            continue;
        }
        found = 1;
        if (!section) {
            put_member(&b, 2, text, NULL, key, value);
            continue;
        }
        /* merge into the section object */
        if (m && text[m->val] != '{') {
            rc = rp_err(RP_EFORMAT, "%s: \"%s\": expected an object", path, section);
            break;
        }
        if (m && (rc = json_split_object(text, m->val, m->val_end, &sec, &nsec))) {
            rc = rp_err_prefix(rc, "%s: \"%s\": ", path, section);
            break;
        }
        json_printf(&b, "  ");
        json_str(&b, section);
        json_printf(&b, ": {\n");
        int sfound = 0;
        for (int j = 0; !rc && j < nsec; j++) {
            int shit = json_key_is(text, &sec[j], key);
            if (shit < 0) {
                rc = rp_err_prefix(shit, "%s: ", path);
                break;
            }
            sfound |= shit;
            put_member(&b, 4, text, &sec[j], NULL, shit ? value : NULL);
            json_printf(&b, j + 1 < nsec || !sfound ? ",\n" : "\n");
        }
        if (!sfound) put_member(&b, 4, text, NULL, key, value), json_printf(&b, "\n");
        json_printf(&b, "  }");
    }
    json_printf(&b, "\n}\n");
    if (!rc && b.oom) rc = rp_err(RP_ENOMEM, "%s: out of memory", path);
    if (!rc && json_check(b.s, b.n)) rc = rp_err(RP_EINTERNAL, "%s: produced invalid JSON", path);
    if (!rc) rc = json_write_file(path, b.s, b.n);
    free(b.s), free(text), free(top), free(sec);
    return rc;
}

int report_json_update(const char *path, const char *name, const eval_result *res) {
    char *entry = report_json_entry(res, 4);
    if (!entry) return rp_err(RP_ENOMEM, "%s: out of memory", path);
    int rc = update(path, "evaluations", name && name[0] ? name : "default", entry);
    free(entry);
    return rc;
}

int report_json_set(const char *path, const char *key, const char *json_value) {
    if (json_check(json_value, strlen(json_value)))
        return rp_err_prefix(RP_EARG, "%s: value for \"%s\": ", path, key);
    return update(path, NULL, key, json_value);
}
