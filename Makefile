# Strata. `make templates` builds out/$(ENV)/; `make test` runs every check.
ENV ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
STAMP := $(VENV)/.installed

.PHONY: templates all test imports pytest scan golden bench docs clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# checkov pins older boto3 and friends: it lives in its own venv so it never
# holds the project's dependencies back.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $@

templates: $(STAMP)
	$(BIN)/strata build --env $(ENV)

all: $(STAMP)
	$(BIN)/strata build --all

test: imports pytest scan

# The layout's import contract (setup.cfg [importlinter]): imports point one way.
imports: $(STAMP)
	$(BIN)/lint-imports

# The scan tests call checkov too, so it is installed before pytest runs.
pytest: $(STAMP) $(CHECKOV_VENV)/.installed
	$(BIN)/pytest -q

# Security scan of every environment's output: zero failed checks. A check
# that does not apply is skipped in that resource's Metadata, with a reason.
scan: $(STAMP) $(CHECKOV_VENV)/.installed
	$(BIN)/strata build --all
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --framework cloudformation --directory out --skip-path '/lambda/' --skip-download

golden: $(STAMP)
	$(BIN)/python -m tests.golden

bench: $(STAMP)
	$(BIN)/python bench/build.py

clean:
	rm -rf out

docs: $(STAMP)
	$(BIN)/python -m generator.build.docs
