# The two set-up commands: `make run` and `make check`. Both install what is
# missing first (tools/install-deps), then configure and build with meson.

BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=

# CI builds treat warnings as errors.
ifneq ($(CI),)
WERROR := -Dwerror=true
endif

.PHONY: all deps build build-asan run check goldens clean

all: build

deps:
	@tools/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(WERROR) $(MESON_OPTS)

# The sanitizer build covers the engine and the fuzz target; clang is needed
# for libFuzzer, and CUDA stays off (ASan and the CUDA runtime do not mix).
$(ASAN_BUILD)/build.ninja:
	CC=clang meson setup $(ASAN_BUILD) $(WERROR) -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dcuda=disabled -Dapp=disabled -Dfuzz=true $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	meson compile -C $(ASAN_BUILD)

run: build
	GSETTINGS_SCHEMA_DIR=$(BUILD)/data $(BUILD)/app/flowanchor-studio data/sample/flowanchor-sample.mp4

check: build build-asan
	@tools/run-tests $(BUILD) $(ASAN_BUILD)

# Developers only: rewrites tests/data/ from the reference libraries (torch on
# the CPU, diffusers, transformers, tokenizers), pinned in
# tools/reference/requirements.txt. Tests never need Python or a network.
REF_VENV ?= .venv-reference
goldens:
	@tools/install-deps --reference
	test -x $(REF_VENV)/bin/python || python3 -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install -q --disable-pip-version-check -r tools/reference/requirements.txt
	$(REF_VENV)/bin/python tools/reference/make_goldens.py

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
