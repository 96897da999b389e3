/* refine-pipeline import: real images (PNG folders/files, IDX/IDX.gz, file.h5:/path) into a
 * refine-dataset file; the work is in import.c. */
#include "cli/commands.h"
#include "cli/args.h"
#include "pipelines/import.h"
#include "base/status.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_size(const char *s, int *H, int *W) {
    char x;
    if (sscanf(s, "%d%c%d", H, &x, W) != 3 || (x != 'x' && x != 'X') || *H < 1 || *W < 1 || *H > 16384 || *W > 16384)
        return rp_err(RP_EARG, "import: --size expects HxW (e.g. 28x28), got \"%s\"", s);
    return 0;
}

/* The command line as run, recorded in the output's import_command attribute. */
static char *join_args(int argc, char **argv) {
    size_t n = 32;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    strcpy(s, "refine-pipeline import");
    for (int i = 0; i < argc; i++) strcat(strcat(s, " "), argv[i]);
    return s;
}

int cmd_import(int argc, char **argv) {
    const char *out = NULL, *size = NULL, *kind = "real", *scene = "external";
    arg_list labels = {0}, units = {0};
    int skip_bad = 0, crop = 0, rgb = 0;
    long chunk = 0;
    const arg_spec specs[] = {
        {"--output", "-o", ARG_STR, &out, "OUT.h5", "dataset to write (required)"},
        {"--size", NULL, ARG_STR, &size, "HxW", "resize every image to H x W (default: the first image's size)"},
        {"--crop", NULL, ARG_FLAG, &crop, NULL, "with --size: centre-crop (zero-pad) instead of resizing"},
        {"--rgb", NULL, ARG_FLAG, &rgb, NULL, "read PNGs as RGB, 3 channels (default: 8-bit gray)"},
        {"--labels", NULL, ARG_LIST, &labels, "NAME=SOURCE",
         "a label column -> /labels/NAME: file.h5:/path, file.idx, or file.csv:column[,column]"},
        {"--units", NULL, ARG_LIST, &units, "NAME=UNIT", "units attribute of a float label (radians, pixels, ...)"},
        {"--skip-bad", NULL, ARG_FLAG, &skip_bad, NULL, "report unreadable or odd files and continue"},
        {"--kind", NULL, ARG_STR, &kind, "KIND", "kind attribute: real (default), synthetic or refined"},
        {"--scene", NULL, ARG_STR, &scene, "NAME", "scene attribute: external (default), digits or eyes"},
        {"--chunk", NULL, ARG_LONG, &chunk, "N", "images per HDF5 chunk (default: about 1 MB)"},
        {0}};
    const arg_command cmd = {
        "import", "SOURCE... -o OUT.h5 [--labels NAME=SOURCE]... [--units NAME=UNIT]... [--size HxW [--crop]] "
                  "[--kind real|synthetic] [--skip-bad]",
        "Imports images into a refine-dataset HDF5 file. Each SOURCE is a folder of PNG files (read in byte "
        "order of their names; converted to 8-bit gray, or RGB with --rgb), a PNG file, an IDX or IDX.gz file (unsigned bytes, "
        "(N,H,W) or (N,H,W,C)), or an HDF5 dataset given as file.h5 or file.h5:/path (uint8 or float32 in "
        "[0,1]; labels and params come along from a single refine-dataset source). --labels NAME=SOURCE adds "
        "a label column from another file: an HDF5 dataset (file.h5:/path, shape (N) or (N,k)), an IDX file, or "
        "CSV columns (file.csv:column, or file.csv:pitch,yaw for several values; a header row names the "
        "columns). Integer values become classes, others float labels (give their --units). Rows match the "
        "images in import order, or, when the CSV has a filename column, the PNG files by name. An HDF5 "
        "source's other datasets with one row per image are listed when no --labels is given, so none is "
        "dropped unnoticed. --kind synthetic imports your own simulator's labeled output. Images keep the first "
        "image's size unless --size resizes (area when shrinking, bilinear when enlarging) or, with --crop, "
        "centre-crops them. Memory does not grow with the number of images; the output appears only when "
        "complete.",
        specs, 1, 256};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("import", rc);
    if (!out) return cmd_fail("import", rp_err(RP_EARG, "import: -o OUT.h5 is required (try 'refine-pipeline import --help')"));
    if (strcmp(kind, "real") && strcmp(kind, "synthetic") && strcmp(kind, "refined"))
        return cmd_fail("import", rp_err(RP_EARG, "import: --kind must be real, synthetic or refined, got \"%s\"", kind));
    if (chunk < 0) return cmd_fail("import", rp_err(RP_EARG, "import: --chunk must be positive"));
    /* --labels FILE.idx (no NAME=) is the class column, as it always was */
    char legacy[4200];
    for (int i = 0; i < labels.n; i++)
        if (!strchr(labels.v[i], '=')) {
            snprintf(legacy, sizeof legacy, "class=%s", labels.v[i]);
            labels.v[i] = legacy;
        }
    import_options o = {.labels = labels.v, .nlabels = labels.n, .units = units.v, .nunits = units.n,
                        .skip_bad = skip_bad, .rgb = rgb, .crop = crop, .kind = kind, .scene = scene,
                        .chunk = chunk, .quiet = common.quiet};
    /* --threads N: compression workers; the default (0) uses every core beyond the reading one */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = common.threads > 0 ? common.threads : cores > 1 ? (int)cores : 0;
    if (size && (rc = parse_size(size, &o.H, &o.W))) return cmd_fail("import", rc);
    if (crop && !size) return cmd_fail("import", rp_err(RP_EARG, "import: --crop needs --size HxW"));
    char *command = join_args(argc, argv);
    o.command = command;
    import_stats st;
    rc = import_files(common.pos, common.npos, out, &o, &st);
    free(command);
    if (rc) return cmd_fail("import", rc);
    if (!common.quiet) {
        fprintf(stderr, "import: wrote %s: %ld images of %dx%d", out, st.images, st.H, st.W);
        if (st.C > 1) fprintf(stderr, "x%d", st.C);
        fprintf(stderr, ", %d label/param column(s)", st.ncols);
        if (st.bad) fprintf(stderr, "; skipped %ld bad file(s)", st.bad);
        if (st.ignored) fprintf(stderr, "; ignored %ld non-PNG file(s) in folders", st.ignored);
        fprintf(stderr, "\n");
        if (st.hint[0]) { /* name the first such dataset in the example */
            const char *first = st.hint;
            int len = (int)strcspn(first, " ");
            fprintf(stderr, "import: note: %s also holds %s, with one row per image; not imported. To keep them, "
                    "one --labels NAME=FILE:/path each, e.g. --labels %.*s=%s:%.*s\n", common.pos[0], st.hint,
                    len > 1 ? len - 1 : len, first + 1, common.pos[0], len, first);
        }
    }
    return 0;
}
