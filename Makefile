# Two commands set everything up from a fresh clone with only python3 installed:
#   make demo   - venv, install, migrate SQLite, seed a demo tenant and user, serve the FastAPI example
#   make test   - venv if needed, then the whole test suite (SQLite always; PostgreSQL when reachable)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= .demo
DEMO_DB  ?= sqlite:///$(DEMO_DIR)/saas_core_demo.sqlite3
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv test lint typecheck docs demo check clean bench revision

venv: $(STAMP)

# pip 23 cannot read PEP 735 dependency groups, so the dev tools live in the `dev` extra;
# pip itself is upgraded first so editable installs of hatchling projects work everywhere.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

check: lint typecheck test docs

demo: $(STAMP)
	@mkdir -p $(DEMO_DIR)
	$(BIN)/saas-core demo --database-url "$(DEMO_DB)" --host $(HOST) --port $(PORT)

# Regenerate the (unreleased) initial migration from the models; see the script's docstring.
revision: $(STAMP)
	$(BIN)/python scripts/regenerate_initial_revision.py

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_DIR) site .pytest_cache .mypy_cache .ruff_cache .hypothesis
