# The two commands are `make demo` and `make test`; each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test test-deps bench bench-deps fuzz lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Debian packages the tests need: Chromium for the GUI tests. npm packages go into .tools/ (git-ignored).
test-deps: install
	@command -v chromium >/dev/null || { apt-get -o DPkg::Lock::Timeout=300 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q chromium chromium-driver; }
	@test -d $(TOOLS)/node_modules/oauth2-mock-server || { mkdir -p $(TOOLS) && npm install --silent --no-audit --no-fund --prefix $(TOOLS) oauth2-mock-server@8.2.3; }

test: test-deps
	$(BIN)/pytest -q

bench-deps: install
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { apt-get -o DPkg::Lock::Timeout=300 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q wrk nginx-light; }

bench: bench-deps
	$(BIN)/python -m bench.run

# Coverage-guided fuzzing of what strangers can send; `make test` runs a short round of the same targets.
FUZZ_SECONDS ?= 60
fuzz: install
	$(BIN)/python -m fuzz.run all --seconds $(FUZZ_SECONDS)

demo: install
	$(BIN)/oidcgate demo

lint: install
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(TOOLS) .oidcgate-demo bench/.run fuzz/.artifacts
