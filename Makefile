# The two commands are `make demo` and `make test`; each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
LLHTTP := $(VENV)/.llhttp-build

.PHONY: install compiled clean-compiled demo test test-deps bench bench-deps fuzz lint clean

install: $(STAMP) $(LLHTTP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# llhttp (inside httptools) scans header names and values 16 bytes at a time when it is compiled for
# SSE4.2 (x86-64) or NEON (arm64, always on). PyPI's x86-64 wheels are built for the baseline CPU and scan
# byte by byte, about 6 instructions a byte: a 1 KB session cookie or token costs 7k instructions, a tenth
# of a proxied request. Where the CPU has SSE4.2 (every x86-64 server since 2009), httptools is rebuilt
# from its source release with it (about 10 s; uncached, since pip's wheel cache does not key on CFLAGS).
# $(LLHTTP) says which build is installed (bench/results.md quotes it).
$(LLHTTP): $(STAMP)
	@if grep -qw sse4_2 /proc/cpuinfo 2>/dev/null; then \
		version=$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("httptools"))') && \
		if CFLAGS=-msse4.2 $(BIN)/pip install -q --no-cache-dir --force-reinstall --no-deps --no-binary httptools \
				"httptools==$$version"; then echo "httptools $$version, built here with -msse4.2" > $@; \
		else echo "warning: httptools could not be built with SSE4.2; the data plane keeps PyPI's wheel" >&2; \
			echo "httptools $$version, PyPI's wheel (the SSE4.2 build failed)" > $@; fi; \
	else echo "httptools, PyPI's wheel (this CPU has no SSE4.2)" > $@; fi

# The data plane's per-request modules compiled to C by mypyc (it comes with mypy); see
# src/oidcgate/compiled.py. The manifest records what was compiled, so a changed source is rebuilt here
# and refused at import until it is. Modules off the per-request path (worker, supervisor, the status and
# admin APIs, config intake...) stay interpreted.
COMPILED := http/cookies http/fields $(addprefix proxy/,accesslog balancer eager errors exchange forward head \
	headers memo metrics modes observers paths phases pipeline record reply router runtime server state \
	upstream usage) shared_state/held
MANIFEST := src/oidcgate/compiled.manifest

compiled: $(MANIFEST)

$(MANIFEST): $(COMPILED:%=src/oidcgate/%.py) Makefile $(STAMP)
	@$(MAKE) -s clean-compiled
	@echo "compiling the data plane's hot path with mypyc (about a minute; log: src/build.log)"
	@cd src && ../$(BIN)/mypyc --config-file ../pyproject.toml $(COMPILED:%=oidcgate/%.py) > build.log 2>&1 \
		|| { cat build.log; exit 1; }
	@cd src/oidcgate && sha256sum $(COMPILED:%=%.py) > compiled.manifest.new && mv compiled.manifest.new compiled.manifest

clean-compiled:
	rm -rf src/build src/build.log src/*__mypyc*.so $(MANIFEST)
	find src/oidcgate -name '*.so' -delete

# Debian packages the tests need: Chromium for the GUI tests. npm packages go into .tools/ (git-ignored).
test-deps: install
	@command -v chromium >/dev/null || { apt-get -o DPkg::Lock::Timeout=300 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q chromium chromium-driver; }
	@test -d $(TOOLS)/node_modules/oauth2-mock-server || { mkdir -p $(TOOLS) && npm install --silent --no-audit --no-fund --prefix $(TOOLS) oauth2-mock-server@8.2.3; }

test: test-deps compiled
	$(BIN)/pytest -q

bench-deps: install
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { apt-get -o DPkg::Lock::Timeout=300 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q wrk nginx-light; }

bench: bench-deps compiled
	$(BIN)/python -m bench.run

# Coverage-guided fuzzing of what strangers can send; `make test` runs a short round of the same targets.
FUZZ_SECONDS ?= 60
fuzz: install
	$(BIN)/python -m fuzz.run all --seconds $(FUZZ_SECONDS)

demo: install compiled
	$(BIN)/oidcgate demo

lint: install
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/mypy

clean: clean-compiled
	rm -rf $(VENV) $(TOOLS) .oidcgate-demo bench/.run fuzz/.artifacts
