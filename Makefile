# graphrun — build, test, demo.  `make help` lists the targets.
#
# Sources are picked up by wildcard: a new src/foo.c joins the library, a new
# tests/test_foo.c becomes its own Check executable run by `make check`.

CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
BLAS_CF := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LD := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
CHECK_LD:= $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -pthread)
ALL_CF  := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Isrc -I$(B) $(BLAS_CF) $(CFLAGS) $(XCFLAGS)
LDLIBS  := $(BLAS_LD) -lm $(XLDFLAGS)

B       ?= build
SRC     := $(sort $(wildcard src/*.c))
LIBOBJ  := $(patsubst src/%.c,$(B)/%.o,$(filter-out src/main.c,$(SRC))) $(B)/parser.o $(B)/lexer.o
TESTS   := $(patsubst tests/%.c,$(B)/tests/%,$(sort $(wildcard tests/test_*.c)))
BIN     ?= graphrun

.PHONY: all deps deps-bench demo check check-asan test-run bench clean help docs data-brown
all: $(BIN)

help:
	@echo "make deps        install missing Debian packages (apt-get), saying which"
	@echo "make             build ./graphrun"
	@echo "make demo        build, then trace and draw models/problem1.g"
	@echo "make check       build and run every test (also under ASan+UBSan)"
	@echo "make bench       benchmarks (bench/; long: trains every model on data/ and Brown)"
	@echo "make deps-bench  install python3-torch (apt-get) for bench/'s PyTorch comparison"

# ---- dependencies -----------------------------------------------------------
# Debian packages the build, the tests and the drawings need.  Installs only
# what is missing and says so; needs root or sudo for that one step.
DEB_PKGS := gcc make flex bison pkg-config libopenblas-dev check graphviz python3 python3-nltk
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
$(B)/parser.o: $(B)/parser.c $(B)/lexer.h
	$(CC) $(ALL_CF) -Wno-unused-function -Wno-sign-compare -c -o $@ $<
$(B)/lexer.o: $(B)/lexer.c $(B)/parser.h
	$(CC) $(ALL_CF) -Wno-unused-function -Wno-sign-compare -Wno-shadow -Wno-strict-prototypes -c -o $@ $<
$(B)/%.o: src/%.c $(B)/parser.h $(B)/lexer.h | $(B)
	$(CC) $(ALL_CF) -MMD -MP -c -o $@ $<
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

# Runs every tests/test_*.c executable; each prints Check's summary line, the
# last line totals them.  Then the whole suite again under ASan + UBSan.
check: deps
	@$(MAKE) --no-print-directory test-run
	@$(MAKE) --no-print-directory check-asan
test-run: $(BIN) $(TESTS)
	@GRAPHRUN=./$(BIN) ./tests/run-all $(TESTS)
check-asan:
	@echo "== the same tests under AddressSanitizer + UBSan =="
	@$(MAKE) --no-print-directory B=build-asan BIN=build-asan/graphrun OPT=-O1 \
	  XCFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  XLDFLAGS="-fsanitize=address,undefined" test-run

# ---- demo -------------------------------------------------------------------
demo: deps $(BIN)
	./$(BIN) models/problem1.g --trace
	./$(BIN) models/problem1.g --dot --values > $(B)/problem1.dot
	dot -Tsvg $(B)/problem1.dot -o $(B)/problem1.svg
	@echo "demo: drawing written to $(B)/problem1.svg (docs/problem1.svg is the committed copy)"

clean:
	rm -rf build build-asan $(BIN)

# ---- drawings shown in the README ---------------------------------------------
docs: $(BIN)
	./$(BIN) models/problem1.g --dot --values | dot -Tsvg -o docs/problem1.svg
	./$(BIN) models/problem2.g --dot --no-params | dot -Tsvg -o docs/problem2.svg
	./$(BIN) models/problem2.g --dot --no-ops --no-params | dot -Tsvg -o docs/problem2_values.svg

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

deps-bench:
	@$(MAKE) --no-print-directory deps DEB_PKGS="python3-torch npm"
