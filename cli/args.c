/* Option-table parser behind every subcommand (see args.h). */
#include "cli/args.h"
#include "base/dist.h"
#include "base/status.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const arg_spec *find_spec(const arg_spec *specs, const char *name) {
    for (const arg_spec *s = specs; s && s->name; s++)
        if (!strcmp(s->name, name) || (s->alias && !strcmp(s->alias, name))) return s;
    return NULL;
}

static void print_help(const arg_command *cmd) {
    printf("usage: refine-pipeline %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->synopsis, cmd->description);
    for (const arg_spec *s = cmd->specs; s && s->name; s++) {
        char left[96];
        snprintf(left, sizeof left, "%s%s%s%s%s", s->alias ? s->alias : "", s->alias ? ", " : "", s->name,
                 s->metavar ? " " : "", s->metavar ? s->metavar : "");
        printf("  %-30s %s%s\n", left, s->help, s->kind == ARG_LIST ? " (repeatable)" : "");
    }
    printf("  %-30s %s\n", "--config FILE.ini", "read settings from an INI file");
    printf("  %-30s %s\n", "--set SECTION.KEY=VALUE", "override one setting (repeatable; after --config)");
    printf("  %-30s %s\n", "--threads N", "threads to use (default: all cores)");
    printf("  %-30s %s\n", "--quiet", "print only errors");
    printf("  %-30s %s\n", "-h, --help", "show this help");
}

static int parse_number(const char *cmd, const char *opt, const char *v, double *out, int whole) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d) || (whole && d != floor(d)))
        return rp_err(RP_EARG, "%s expects %s, got \"%s\" (try 'refine-pipeline %s --help')", opt,
                      whole ? "a whole number" : "a number", v, cmd);
    *out = d;
    return 0;
}

int args_parse(const arg_command *cmd, args_common *c, int argc, char **argv) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(cmd);
            return 1;
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (c->npos >= (int)(sizeof c->pos / sizeof c->pos[0]))
                return rp_err(RP_EARG, "too many arguments");
            c->pos[c->npos++] = a;
            continue;
        }
        /* --opt=value form */
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        if (eq && eq - a < (long)sizeof name) {
            memcpy(name, a, eq - a);
            name[eq - a] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        const arg_spec *s = find_spec(cmd->specs, name);
        int common_kind = !s && (!strcmp(name, "--config") || !strcmp(name, "--set") || !strcmp(name, "--threads") ||
                                 !strcmp(name, "--quiet"));
        if (!s && !common_kind)
            return rp_err(RP_EARG, "unknown option %s (try 'refine-pipeline %s --help')", name, cmd->name);
        int is_flag = s ? s->kind == ARG_FLAG : !strcmp(name, "--quiet");
        if (is_flag) {
            if (val) return rp_err(RP_EARG, "option %s takes no value", name);
            if (s) *(int *)s->dst = 1;
            else c->quiet = 1;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) return rp_err(RP_EARG, "option %s needs a value", name);
            val = argv[++i];
        }
        double d;
        if (!s) {
            if (!strcmp(name, "--config")) c->config_path = val;
            else if (!strcmp(name, "--set")) {
                if (c->nsets >= (int)(sizeof c->sets / sizeof c->sets[0]))
                    return rp_err(RP_EARG, "too many --set options");
                c->sets[c->nsets++] = val;
            } else {
                if (parse_number(cmd->name, name, val, &d, 1)) return RP_EARG;
                if (d < 0 || d > 1024) return rp_err(RP_EARG, "--threads must be in [0, 1024]");
                c->threads = (int)d;
            }
            continue;
        }
        switch (s->kind) {
        case ARG_INT:
            if (parse_number(cmd->name, name, val, &d, 1)) return RP_EARG;
            if (d < -2147483647.0 || d > 2147483647.0) return rp_err(RP_EARG, "%s out of range", name);
            *(int *)s->dst = (int)d;
            break;
        case ARG_LONG:
            if (parse_number(cmd->name, name, val, &d, 1)) return RP_EARG;
            *(long *)s->dst = (long)d;
            break;
        case ARG_DOUBLE:
            if (parse_number(cmd->name, name, val, &d, 0)) return RP_EARG;
            *(double *)s->dst = d;
            break;
        case ARG_LIST: {
            arg_list *l = s->dst;
            if (l->n >= (int)(sizeof l->v / sizeof l->v[0])) return rp_err(RP_EARG, "too many %s options", name);
            l->v[l->n++] = val;
            break;
        }
        default:
            *(const char **)s->dst = val;
        }
    }
    if (rp_dist_rank() != 0) c->quiet = 1; /* under MPI, rank 0 speaks for the job (errors still print) */
    if (c->npos < cmd->min_pos || c->npos > cmd->max_pos) {
        if (cmd->max_pos == 0)
            return rp_err(RP_EARG, "unexpected argument \"%s\" (try 'refine-pipeline %s --help')",
                          c->pos[0], cmd->name);
        return rp_err(RP_EARG, "expected %s%d argument%s, got %d (try 'refine-pipeline %s --help')",
                      cmd->min_pos == cmd->max_pos ? "" : "at least ", cmd->min_pos, cmd->min_pos == 1 ? "" : "s",
                      c->npos, cmd->name);
    }
    return 0;
}

int args_load_config(const args_common *c, rp_config *cfg) {
    config_defaults(cfg);
    int rc;
    if (c->config_path && (rc = config_load_file(cfg, c->config_path))) return rc;
    for (int i = 0; i < c->nsets; i++)
        if ((rc = config_set_arg(cfg, c->sets[i]))) return rc;
    return 0;
}
