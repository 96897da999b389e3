# refine-pipeline: one static library (librefine.a) linked into thin binaries
# (the CLI, one cmocka runner per tests/test_*.c, one benchmark per bench/bench_*.c).
# Sources are discovered by wildcard: adding a file to a module folder needs no edit here.

CC      ?= cc
BUILD   ?= build
PKGS     = hdf5 openblas zlib libpng inih
# Recursively expanded on purpose: pkg-config is asked only when a recipe runs,
# i.e. after `deps` has installed what was missing.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
CMOCKA_LIBS = $(shell pkg-config --libs cmocka)
NATIVE  := $(shell $(CC) -march=native -E -x c /dev/null >/dev/null 2>&1 && echo -march=native)
OPT     ?= -O2 $(NATIVE)
CFLAGS  += -std=c11 -D_GNU_SOURCE -fno-math-errno -Wall -Wextra -Wno-unused-parameter -g $(OPT) -I. $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lm -lpthread

# the layers, bottom up (scripts/check_layers.sh keeps every #include pointing down)
LIB_DIRS  = base nn losses io simulator refiner eval pipelines cli
LIB_SRCS  = $(filter-out cli/main.c base/dist_mpi.c,$(sort $(wildcard $(addsuffix /*.c,$(LIB_DIRS)))))
LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB       = $(BUILD)/librefine.a
CLI       = $(BUILD)/refine-pipeline
# The MPI build: the same library with base/dist_mpi.c in place of base/dist.c (Open MPI).
MPI_CLI   = $(if $(shell pkg-config --exists ompi-c && echo yes),$(BUILD)/refine-pipeline-mpi)
TEST_SRCS = $(sort $(wildcard tests/test_*.c))
TEST_BINS = $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT = $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))
BENCH_SRCS = $(sort $(wildcard bench/bench_*.c))
BENCH_BINS = $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
HDRS      = $(wildcard */*.h)
# Fuzz targets (fuzz/fuzz_NAME.c; docs/hardening.md): replayed over tests/corpus/NAME/ by `make check`.
FUZZ_SRCS   = $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES  = $(FUZZ_SRCS:fuzz/fuzz_%.c=%)
FUZZ_REPLAY = $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/fuzz_%)

.PHONY: all deps build check test asan debug bench run data clean fuzz fuzz-bins
all: deps
	@$(MAKE) --no-print-directory build

build: $(CLI) $(MPI_CLI) $(TEST_BINS) $(BENCH_BINS)

deps:
	@bash scripts/deps.sh

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Per-file instruction sets: the SIMD kernels are chosen at run time by CPU features, so each is
# compiled for its own level whatever -march says (-mno-avx512f keeps the AVX2 file AVX2-only).
$(BUILD)/nn/conv2d_fast_avx512.o: CFLAGS += -mavx2 -mfma -mavx512f -mavx512bw -mavx512dq -mavx512vl
$(BUILD)/nn/conv2d_fast_avx2.o: CFLAGS += -mavx2 -mfma -mno-avx512f
# Their plain-C loops (weight transforms, im2col, masks, max-pool) vectorize only with -O3's cost model.
$(BUILD)/nn/conv2d_fast.o $(BUILD)/nn/conv2d_nhwc.o: CFLAGS += -O3

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(CLI): cli/main.c $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) cli/main.c $(LIB) $(LDLIBS) -o $@

$(BUILD)/refine-pipeline-mpi: cli/main.c base/dist_mpi.c $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags ompi-c) $(LDFLAGS) cli/main.c base/dist_mpi.c $(LIB) $(LDLIBS) \
	  $(shell pkg-config --libs ompi-c) -o $@

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT) $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(TEST_SUPPORT) $(LIB) $(LDLIBS) $(CMOCKA_LIBS) -o $@

$(BUILD)/bench/%: bench/%.c $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# A fuzz target linked with fuzz/replay.c (no fuzzer needed): replays the files it is given.
$(BUILD)/fuzz-replay/fuzz_%: fuzz/fuzz_%.c fuzz/replay.c $(wildcard fuzz/*.h) $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< fuzz/replay.c $(LIB) $(LDLIBS) -o $@

# The seed writer of fuzz/make_seeds.sh.
$(BUILD)/fuzz-replay/seeds: fuzz/seeds.c $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# `make test`: deps, build, then `make check`.
test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory check

# `make check`: the layering rule, every test runner, then the README's examples as shown.
check: $(TEST_BINS) $(CLI) $(MPI_CLI) $(FUZZ_REPLAY)
	@bash scripts/check_layers.sh $(BUILD)
	@for t in $(FUZZ_NAMES); do $(BUILD)/fuzz-replay/fuzz_$$t tests/corpus/$$t || exit 1; done
	@bash scripts/run_tests.sh $(TEST_BINS)
	@bash scripts/check_readme.sh $(BUILD)

# Tests under AddressSanitizer + UndefinedBehaviorSanitizer, in their own build tree.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan \
	  OPT="-O2 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" check

# Unoptimised build with floating-point exception traps (RP_TRAP_FPE) to find the first NaN.
debug: deps
	@$(MAKE) --no-print-directory BUILD=build/debug OPT="-O0 -DRP_TRAP_FPE" build

bench: deps
	@$(MAKE) --no-print-directory build
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done

data: deps
	@bash scripts/deps.sh --data
	@bash scripts/fetch_mnist.sh

# The main job on the built-in default: simulate -> train -> refine -> eval -> report.
run: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory data
	$(CLI) run --run-dir runs/default

# `make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="idx png"]`: libFuzzer (Debian's clang) with ASan + UBSan,
# each target in turn for FUZZ_SECONDS, then its corpus merged into tests/corpus/NAME/ (fuzz/fuzz.sh).
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_OPT      = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
fuzz: deps
	@FUZZ_CC=$(FUZZ_CC) bash fuzz/fuzz.sh --deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) OPT="$(FUZZ_OPT)" fuzz-bins
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/fuzz.sh $(or $(FUZZ_TARGETS),$(FUZZ_NAMES))

# With BUILD=build/fuzz and clang (as `make fuzz` calls it): build/fuzz/fuzz_NAME.
fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/fuzz_%)
$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined $< $(LIB) $(LDLIBS) -o $@

clean:
	rm -rf $(BUILD)
