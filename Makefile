# The two commands: `make run` (start the gateway on its embedded defaults) and `make test` (every check).
VENV   ?= .venv
PYTHON ?= python3
STAMP  := $(VENV)/.installed-stamp
JS_STAMP := tests/js/node_modules/.installed-stamp

.PHONY: run test lint typecheck pytest js-deps clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev,pipecat]'
	@touch $(STAMP)

# The official JavaScript socket.io-client and ws for the tests that play a JavaScript application.
$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd tests/js && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed-stamp; \
	else echo "npm not found: the JavaScript client tests will be skipped"; fi

js-deps: $(JS_STAMP)

run: $(STAMP)
	$(VENV)/bin/callgate serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The package strictly; tests/ and bench/ as pyproject.toml's override for them says (not strict).
typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict callgate
	$(VENV)/bin/mypy tests bench

pytest: $(STAMP) js-deps
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
