# Relance — `make run` starts everything, `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask
export FLASK_APP := wsgi

.PHONY: install run test test-fast lint translations clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

## uv (from PyPI, into the venv) installs the packages in parallel, compiled (the tests run with
## PYTHONDONTWRITEBYTECODE=1 on CI: without .pyc every process would compile them again): 12 s where pip took 26 s;
## pip does it when uv cannot be had.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	if $(BIN)/pip install --quiet uv; then $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'; \
	else $(BIN)/pip install --quiet -e '.[dev]'; fi
	touch $@

install: $(VENV)/.installed

## Web server + worker with the demo data (SQLite and Huey's SQLite storage under instance/).
run: install
	$(FLASK) db upgrade
	$(FLASK) relance demo --if-empty
	$(FLASK) relance serve

## The whole test suite (SQLite; also PostgreSQL and Redis when RELANCE_TEST_* are set), one pytest-xdist
## worker per core and one more: many tests wait on the servers, consumers and browsers they start, and an extra
## worker keeps the cores busy meanwhile (on 2 cores: 287 s instead of 307). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
## .pyc files written (a machine may set PYTHONDONTWRITEBYTECODE): the consumers, CLIs and servers the tests start
## then load the code compiled once instead of compiling it each.
test test-fast: export PYTHONDONTWRITEBYTECODE :=
test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

## The quick loop while working: the same without the browser tests and the slow ones (@pytest.mark.slow).
test-fast: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal -m "not slow and not browser"

## ruff, then mypy on relance/ (its settings: [tool.mypy] in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## Extract strings, update the catalogs and compile them.
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot --no-location --sort-output --omit-header .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --omit-header --ignore-obsolete
	-$(BIN)/python scripts/merge_translations.py
	$(BIN)/pybabel compile -d translations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
