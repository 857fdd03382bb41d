# dreamfarm — top-level build.
#   make          build everything into build/bin/
#   make run      install missing packages, build, start coordinator + local worker
#   make test     install what tests need, build (normal + ASan/UBSan), run all tests
#   make bench    benchmarks (ratios against PyTorch / reference runs)
#   make weights  download VGG-16 weights into data/weights/
#   make soak     long soak / fuzz runs (not part of make test)
#
# Source layout conventions (no need to edit this file to add a source):
#   common/*.c            -> build/lib/libcommon.a   (+ generated protobuf-c code)
#   worker/*.c            -> build/lib/libworker.a   (main_*.c excluded)
#   worker/cuda/*.cu      -> build/lib/libdreamgpu.a when nvcc is found,
#                            else worker/nocuda/*.c (reports "not compiled in")
#   server/*.c *.cc       -> build/lib/libserver.a   (main_*.c excluded)
#   {worker,server}/main_NAME.c -> build/bin/NAME
#   tests/tools/NAME.c          -> build/tests/NAME (test-only programs: demo, fuzz, hostile peer)
#   tests/unit/test_NAME.c      -> build/tests/test_NAME (cmocka)

SHELL      := /bin/bash
BUILD      ?= build
SAN        ?= 0
CC         ?= cc
CXX        ?= c++
NVCC       ?= $(shell command -v nvcc 2>/dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; })
CUDA_HOME  ?= /usr/local/cuda
NO_CUDA    ?= 0
PKGS       := libzmq libprotobuf-c vpx libwebsockets libpng libjpeg libcjson sqlite3 libavformat libavcodec libavutil freetype2 openssl libedit
# OpenBLAS: the OpenMP build when installed. It shares libgomp's thread pool with the
# engine's OpenMP loops; with the pthread build, OpenMP's spinning threads and OpenBLAS's
# threads fight over the cores (measured: ~1.6 s vs ~0.85 s per 224x224 step on 2 cores).
# Else whatever pkg-config's openblas is.
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null)
BLAS_OMP   ?= /usr/lib/$(MULTIARCH)/openblas-openmp
ifneq ($(wildcard $(BLAS_OMP)/libopenblas.so),)
  BLAS_CFLAGS := $(shell PKG_CONFIG_PATH=$(BLAS_OMP)/pkgconfig pkg-config --cflags openblas 2>/dev/null)
  BLAS_LIBS   := -L$(BLAS_OMP) -Wl,-rpath,$(BLAS_OMP) -lopenblas
else
  BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
  BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null)
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(BLAS_CFLAGS)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(BLAS_LIBS)

OPT        ?= -O2 -march=x86-64-v2 -g
WARN       := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
              -Wformat=2 -Wvla
# (C++ has no -Wmissing-prototypes / -Wstrict-prototypes: the .cc rule filters them out)
CFLAGS_ALL := -std=gnu11 $(OPT) $(WARN) -pthread -fopenmp -Icommon -Iworker -Iserver -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
CXXFLAGS_ALL := -std=gnu++17 $(OPT) $(filter-out -Wmissing-prototypes -Wstrict-prototypes,$(WARN)) -pthread -Icommon -Iworker -Iserver -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
LDLIBS_ALL := $(PKG_LIBS) -lstdc++ -lm -pthread -fopenmp
ifeq ($(SAN),1)
  CFLAGS_ALL   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  CXXFLAGS_ALL += -fsanitize=address,undefined -fno-omit-frame-pointer
  LDLIBS_ALL   += -fsanitize=address,undefined
  NO_CUDA := 1
endif

PROTO_SRC  := $(wildcard proto/*.proto)
PROTO_C    := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTO_SRC))
PROTO_H    := $(PROTO_C:.c=.h)

COMMON_SRC := $(wildcard common/*.c)
WORKER_SRC := $(filter-out worker/main_%.c,$(wildcard worker/*.c))
SERVER_SRC := $(filter-out server/main_%.c,$(wildcard server/*.c))
SERVER_CXX := $(wildcard server/*.cc)
MAIN_SRC   := $(wildcard worker/main_*.c server/main_*.c)
CUDA_SRC   := $(wildcard worker/cuda/*.cu)
NOCUDA_SRC := $(wildcard worker/nocuda/*.c)
TEST_SRC   := $(wildcard tests/unit/test_*.c)
TEST_SUPPORT := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))

obj = $(patsubst %,$(BUILD)/obj/%.o,$(1))
# not intermediates (make would delete them after the first build, and the next make would
# regenerate the protobuf header and recompile every object, and recompile the test objects)
.SECONDARY: $(PROTO_C) $(PROTO_H) $(call obj,$(TEST_SRC) $(TEST_SUPPORT))

ifneq ($(NVCC),)
ifneq ($(NO_CUDA),1)
ifneq ($(CUDA_SRC),)
  HAVE_CUDA := 1
endif
endif
endif
ifeq ($(HAVE_CUDA),1)
  CUDA_ARCH  ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
  NVCCFLAGS  ?= -O3 -std=c++17 $(CUDA_ARCH) -Icommon -Iworker -Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter,-fPIC -Werror all-warnings
  GPU_OBJ    := $(call obj,$(CUDA_SRC))
  GPU_LIBS   := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart
else
  GPU_OBJ    := $(call obj,$(NOCUDA_SRC))
  GPU_LIBS   :=
endif

LIB_COMMON := $(BUILD)/lib/libcommon.a
LIB_WORKER := $(BUILD)/lib/libworker.a
LIB_SERVER := $(BUILD)/lib/libserver.a
LIB_GPU    := $(BUILD)/lib/libdreamgpu.a
LIBS       := $(LIB_SERVER) $(LIB_WORKER) $(LIB_GPU) $(LIB_COMMON)
# Link order = the include layering: server -> worker -> gpu -> common (each library uses only
# those after it). The one cycle: worker's backend table calls the CUDA backend, whose 3x3
# convs call worker/backend.c's generic GEMM lowering; only that pair is grouped.
LINK_LIBS  := $(LIB_SERVER) -Wl,--start-group $(LIB_WORKER) $(LIB_GPU) -Wl,--end-group $(LIB_COMMON)
BINS       := $(foreach m,$(MAIN_SRC),$(BUILD)/bin/$(patsubst main_%.c,%,$(notdir $(m))))
TESTS      := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all bins deps deps-test run test unit-tests bench weights soak clean asan gpu-check data
all: $(BINS) $(TESTS)
bins: $(BINS)

deps:
	@tools/install-deps.sh
deps-test:
	@tools/install-deps.sh --test

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

$(BUILD)/obj/%.c.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@
$(BUILD)/obj/%.cc.o: %.cc $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@
# -MMD -MP -MF: header dependencies of each .cu (build/obj/.../X.cu.d, included below), so an
# edit to cuda_internal.h or backend.h rebuilds the .cu objects that include it
$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@
$(BUILD)/obj/$(BUILD)/gen/%.c.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Werror,$(CFLAGS_ALL)) -c $< -o $@

$(LIB_COMMON): $(call obj,$(COMMON_SRC) $(PROTO_C))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIB_WORKER): $(call obj,$(WORKER_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIB_SERVER): $(call obj,$(SERVER_SRC) $(SERVER_CXX))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $(filter %.o,$^)
$(LIB_GPU): $(GPU_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^

define main_rule
$(BUILD)/bin/$(patsubst main_%.c,%,$(notdir $(1))): $(call obj,$(1)) $(LIBS)
	@mkdir -p $(BUILD)/bin
	$(CC) $(CFLAGS_ALL) -o $$@ $$< $(LINK_LIBS) $(GPU_LIBS) $(LDLIBS_ALL)
endef
$(foreach m,$(MAIN_SRC),$(eval $(call main_rule,$(m))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.c.o $(call obj,$(TEST_SUPPORT)) $(LIBS)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -o $@ $< $(call obj,$(TEST_SUPPORT)) $(LINK_LIBS) $(GPU_LIBS) $(LDLIBS_ALL) -lcmocka

# test-only programs (a hostile worker for farm_hostile.sh): tests/tools/NAME.c -> $(BUILD)/tests/NAME
TOOL_SRC   := $(wildcard tests/tools/*.c)
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TOOL_SRC))
all: $(TEST_TOOLS)
$(TEST_TOOLS): $(BUILD)/tests/%: $(BUILD)/obj/tests/tools/%.c.o $(LIBS)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LINK_LIBS) $(GPU_LIBS) $(LDLIBS_ALL)

# libFuzzer harnesses (tests/fuzz/, clang + libclang-rt-dev): each runs FUZZ_SECONDS; the
# smoke (seed corpus + 1 s each) runs in `make test` as tests/integration/fuzz_smoke.sh
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

data: data/prior.safetensors

# the sub-makes build in parallel unless the user already chose -j
PAR = $$(case " $$MAKEFLAGS" in *" -j"*|*" --jobserver"*) ;; *) echo -j$$(nproc 2>/dev/null || echo 2) ;; esac)

run: deps
	@$(MAKE) --no-print-directory $(PAR) bins
	@tools/run-local.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT="-O1 -g" build-asan/tests-only
build-asan/tests-only: $(TESTS)
	@true

test: deps-test
	@$(MAKE) --no-print-directory $(PAR) all
	@$(MAKE) --no-print-directory $(PAR) asan
	@tests/run-tests.sh

bench: deps-test
	@$(MAKE) --no-print-directory $(PAR) all
	@bench/run-bench.sh

weights:
	@tools/get-weights.sh

soak: deps-test
	@$(MAKE) --no-print-directory $(PAR) all
	@tests/run-tests.sh --soak

gpu-check:
	@tools/gpu-check.sh

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- install / images (docs/deploy.md) ------------------------------------------------------
#   make install PREFIX=/usr/local [DESTDIR=...]   binaries, data, page, systemd units
#   make images [BASE=...] [BINARIES=compile|prebuilt] [CUDA_BASE=... CUDA_DEVEL_BASE=...]
#   make images-base   the local debootstrapped Debian 12 base (cached under build/images/)
PREFIX     ?= /usr/local
DESTDIR    ?=
INSTALL_BINS := dreamd dreamctl dream-worker dream
.PHONY: install images images-base
# install copies what `make` built (it builds nothing: no relink with other flags)
install:
	@for b in $(INSTALL_BINS); do [ -x $(BUILD)/bin/$$b ] || { echo "install: $(BUILD)/bin/$$b missing: run make first" >&2; exit 1; }; done
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/dreamfarm/data \
	  $(DESTDIR)$(PREFIX)/share/dreamfarm/web $(DESTDIR)$(PREFIX)/share/dreamfarm/examples \
	  $(DESTDIR)$(PREFIX)/share/doc/dreamfarm $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(addprefix $(BUILD)/bin/,$(INSTALL_BINS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 data/imagenet_classes.txt data/prior.safetensors data/LICENSE.prior $(DESTDIR)$(PREFIX)/share/dreamfarm/data/
	install -m 644 web/* $(DESTDIR)$(PREFIX)/share/dreamfarm/web/
	install -m 644 deploy/dreamd.conf deploy/dream-worker.conf $(DESTDIR)$(PREFIX)/share/dreamfarm/examples/
	install -m 644 docs/deploy.md $(DESTDIR)$(PREFIX)/share/doc/dreamfarm/
	for u in deploy/systemd/*.service; do \
	  sed 's#/usr/local/#$(PREFIX)/#g' $$u >$(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$u) || exit 1; \
	  chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$u); done
images:
	@docker/build-images.sh
images-base:
	@docker/make-base.sh
