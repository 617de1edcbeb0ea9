# The lab's two commands: `make lab` and `make test`. Both are idempotent: a second run
# installs and downloads nothing.
SHELL := /bin/bash
ROOT  := $(abspath .)
BUILD := $(ROOT)/build
VENV  := $(ROOT)/.venv
# Debian's interpreter starts in ~8 ms; a pyenv shim costs ~70 ms per start, so prefer the system one.
PYTHON ?= $(shell for p in /usr/bin/python3 python3.13 python3.12 python3.11 python3; do \
	  command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	  && { command -v $$p; break; }; done)
PY    := $(VENV)/bin/python
# Jupyter, IPython and matplotlib write their state inside build/, never to $HOME.
export JUPYTER_CONFIG_DIR   ?= $(BUILD)/jupyter/config
export JUPYTER_DATA_DIR     ?= $(BUILD)/jupyter/data
export JUPYTER_RUNTIME_DIR  ?= $(BUILD)/jupyter/runtime
export IPYTHONDIR           ?= $(BUILD)/ipython
export MPLCONFIGDIR         ?= $(BUILD)/matplotlib
export MINICONTAINER_BUILD  := $(BUILD)
LAB_PORT ?= 8888
PYTEST_ARGS ?=

.PHONY: lab test setup system venv guest bench clean help dirs course hub-proxy docker-cli images

help:
	@echo "make lab    - install everything, open JupyterLab on the course (127.0.0.1:$(LAB_PORT))"
	@echo "make test   - install everything, run every test and every notebook"
	@echo "make bench  - run the benchmarks in bench/ (ratios against runc, crun and raw QEMU)"
	@echo "make course - render the executed chapters into a static HTML site: build/course/index.html"

setup: system venv guest docker-cli

system:
	@scripts/install-system-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.11 found (apt-get install python3)" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[notebooks,dev]' --config-settings editable_mode=compat
	@touch $@

guest: venv
	@$(PY) -m minicontainer.monitor
	@# the static timer every environment of chapter 08's overhead table is timed with
	@$(PY) -m vmcompare.timer
	@# bytecode ahead of time: this environment may set PYTHONDONTWRITEBYTECODE, and compiling
	@# the runtime's modules on every `minicontainer run` would cost ~20 ms
	@$(PY) -m compileall -q minicontainer vmcompare >/dev/null

	@$(VENV)/bin/vmcompare fetch-kernel --quiet

dirs:
	@mkdir -p $(JUPYTER_CONFIG_DIR) $(JUPYTER_DATA_DIR) $(JUPYTER_RUNTIME_DIR) $(IPYTHONDIR) $(MPLCONFIGDIR)

lab: setup dirs images
	@token=$$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n'); \
	echo ""; \
	echo "  The course: http://127.0.0.1:$(LAB_PORT)/lab/tree/00-preflight.ipynb?token=$$token"; \
	echo "  (only this machine can reach it; the token keeps other local users out; Ctrl-C stops it)"; \
	echo ""; \
	exec $(VENV)/bin/jupyter lab --no-browser --ip 127.0.0.1 --port $(LAB_PORT) --allow-root \
	  --ServerApp.root_dir=$(ROOT)/notebooks --IdentityProvider.token=$$token

test: setup dirs hub-proxy images
	$(PY) -m pytest $(PYTEST_ARGS) tests notebooks \
	  --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg

bench: setup
	$(PY) bench/start_latency.py
	$(PY) bench/boot_overhead.py
	$(PY) bench/layers.py
	$(PY) bench/overhead.py --seccomp

# The docker CLI from Debian's docker.io (client only: no daemon installed or started), in build/,
# for `minicontainer engine`; fetched even where a docker CLI is on PATH: the tests drive both.
DOCKER_CLI := $(BUILD)/docker-cli/docker
docker-cli: $(DOCKER_CLI)

$(DOCKER_CLI):
	@scripts/fetch-docker-cli.sh $(BUILD)/docker-cli

# The course's images: debian:bookworm-slim from Debian's packages (mmdebstrap, once: cached in
# build/images/ by recipe hash) and busybox, in the lab's state root build/lab-root, pushed to the
# lab registry (build/registry, 127.0.0.1:5000) as library/debian:bookworm-slim and library/busybox.
images: system venv
	@scripts/lab-images.sh $(VENV) $(BUILD)/lab-root $(BUILD)/registry

# configurable-http-proxy for the JupyterHub smoke test and docs/classroom-hub.md, from npm, kept in
# build/hub/ (not global). 4.6.x runs on Debian 12's Node.js 18; 5.x needs Node.js >= 20.
HUB_PROXY := $(BUILD)/hub/node_modules/.bin/configurable-http-proxy
hub-proxy: $(HUB_PROXY)

$(HUB_PROXY):
	@command -v npm >/dev/null || { echo "error: npm not found (scripts/install-system-deps.sh installs it)" >&2; exit 1; }
	npm install --prefix $(BUILD)/hub --no-audit --no-fund --no-save --loglevel=error configurable-http-proxy@4.6.3

# The executed chapters as a static site for reading without Jupyter (works offline, from file://).
course: venv
	$(PY) scripts/build_course.py --notebooks $(ROOT)/notebooks --out $(BUILD)/course

clean:
	rm -rf $(BUILD)
