# One command to install and build the sample site, one to run the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench bench-send clean catalogs

$(BIN)/publisher: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q publisher  # as pip does for an installed package (keeps start-up short)
	touch $@

run: $(BIN)/publisher
	$(BIN)/publisher build

test: $(BIN)/publisher
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

bench: $(BIN)/publisher
	$(BIN)/python bench/build.py --publisher-cmd $(BIN)/publisher

# Mail one post to 100,000 subscribers through a local smtp-sink; needs postfix's smtp-sink/smtp-source
# (the script prints how to get them). BENCH_SEND_ARGS=--quick for 10,000.
bench-send: $(BIN)/publisher
	$(BIN)/python bench/send.py --publisher-cmd $(BIN)/publisher $(BENCH_SEND_ARGS)

clean:
	rm -rf public .publisher-cache

# Re-extract the translatable strings and recompile the gettext catalogs after editing templates or .po files.
catalogs: $(BIN)/publisher
	$(BIN)/pybabel extract -F babel.cfg --no-location --omit-header -o publisher/locale/messages.pot .
	$(BIN)/pybabel update -i publisher/locale/messages.pot -d publisher/locale --no-fuzzy-matching
	$(BIN)/pybabel compile -d publisher/locale
