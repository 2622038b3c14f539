# bim — quick start:
#   make demo    install what is missing, build, start bimd + nginx, deploy examples/hello, print its URL
#   make test    install what is missing, build, run every test (unit, integration, e2e)
#   make         build bim and bimd (needs the toolchain: run `make setup` once on a fresh machine)
#   make unit    build and run the fast unit tests only (no apt, no Docker)
#   make install install bim, bimd, templates and bimd.service under PREFIX (default /usr/local)
#   make deb     build the Debian package (build/package/bim_<version>_<arch>.deb)
#   make screenshots  run the dashboard suite in headless chromium and refresh docs/dashboard-apps.png
BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FAILPOINTS ?= OFF
# ccache, where a developer installed it, makes rebuilds (and several work trees) cheap; CI has none.
CCACHE := $(shell command -v ccache 2>/dev/null)
ifneq ($(CCACHE),)
CMAKE_LAUNCHER := -DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE)
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
endif

.PHONY: all build setup test unit demo demo-stop bench clean install deb screenshots

all: build

# `make` builds without the crash-test failpoints, `make test` with them (BIM_FAILPOINTS): each
# configures the same build dir, and switching recompiles only the files that use failpoints.
build:
	@command -v cmake >/dev/null 2>&1 || { echo "error: cmake is not installed; run 'make setup' first (installs the toolchain with apt)" >&2; exit 2; }
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBIM_FAILPOINTS=$(FAILPOINTS) $(CMAKE_LAUNCHER) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

setup:
	@bash scripts/setup.sh

test:
	@$(MAKE) --no-print-directory setup
	@$(MAKE) --no-print-directory build FAILPOINTS=ON
	@cd $(BUILD) && ctest --output-on-failure --timeout 1800 -j 2

unit: build
	@cd $(BUILD) && ctest --output-on-failure -L '^unit$$'

# The README's dashboard picture: the dashboard suite's screenshot of the apps page.
screenshots: build
	@cd $(BUILD) && ctest --output-on-failure -L '^dashboard$$'
	@mkdir -p docs && cp $(BUILD)/dashboard-screenshots/apps.png docs/dashboard-apps.png
	@echo "updated docs/dashboard-apps.png"

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX) --strip

deb: build
	@cd $(BUILD) && cpack -G DEB -B $(abspath $(BUILD))/package >/dev/null
	@ls $(abspath $(BUILD))/package/*.deb

demo:
	@$(MAKE) --no-print-directory setup
	@$(MAKE) --no-print-directory build
	@bash scripts/demo.sh start

demo-stop:
	@bash scripts/demo.sh stop

bench:
	@$(MAKE) --no-print-directory build
	@bash bench/deploy_bench.sh
	@$(BUILD)/routing_bench --routes 10000,50000 --apps 10,100,1000 --ready 10 --releases 200
	@bash bench/upload_bench.sh
	@bash bench/http_bench.sh $(BUILD)
	@bash bench/cluster_bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)
