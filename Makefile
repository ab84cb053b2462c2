# One command to install and build the sample site, one to run the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/publisher: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/publisher
	$(BIN)/publisher build

test: $(BIN)/publisher
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

bench: $(BIN)/publisher
	$(BIN)/python bench/build.py --publisher-cmd $(BIN)/publisher

clean:
	rm -rf public .publisher-cache
