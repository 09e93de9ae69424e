# The two set-up commands: `make run` and `make check`. Both install what is
# missing first (tools/install-deps), then configure and build with meson.

BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=

# CI builds treat warnings as errors.
ifneq ($(CI),)
WERROR := -Dwerror=true
endif

.PHONY: all deps build build-asan run check clean

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
	GSETTINGS_SCHEMA_DIR=$(BUILD)/data $(BUILD)/app/flowanchor-studio

check: build build-asan
	@tools/run-tests $(BUILD) $(ASAN_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
