# Two commands: `make run` serves the app, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
export FLASK_APP := wsgi

.PHONY: run test fuzz lint bench load check-system venv venv-test secret migrate clean translations catalogs

# The virtual environment, rebuilt when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

venv: $(BIN)/.installed
venv-test: $(BIN)/.installed-test

# WeasyPrint draws text with Pango, in the Noto fonts; say how to get them when missing.
check-system:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))."; exit 1; }
	@if ! ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so' || ! ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so'; then \
	  echo "WeasyPrint needs the Pango libraries. On Debian or Ubuntu:"; \
	  echo "  sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0"; exit 1; fi
	@if ! fc-list 2>/dev/null | grep -q 'Noto Sans:' || ! fc-list 2>/dev/null | grep -q 'Noto Naskh Arabic'; then \
	  echo "The PDF reports need the Noto fonts (Latin and Arabic script). On Debian or Ubuntu:"; \
	  echo "  sudo apt-get install fonts-noto-core"; exit 1; fi

# A random secret key in instance/, unless SECRET_KEY is set in the environment.
secret:
	@mkdir -p -m 700 instance
	@if [ -z "$$SECRET_KEY" ] && [ ! -s instance/secret_key ]; then \
	  umask 077; $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > instance/secret_key; \
	  echo "Wrote a new secret key to instance/secret_key"; fi

migrate: venv secret
	$(BIN)/flask db upgrade

# bin/serve.py runs gunicorn (Flask's debug server with FLASK_DEBUG=1) and the
# scheduler beside it, and stops both on Ctrl-C.
# The catalogs: translations/<lang>/LC_MESSAGES/messages.po, written by people
# (see the README's "Translations"); the .mo files the app reads are built from
# them, only when a .po changed, and never committed.
TRANSLATION_LANGUAGES := fr ar es pt
PO_FILES := $(foreach lang,$(TRANSLATION_LANGUAGES),translations/$(lang)/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
BABEL_KEYWORDS := -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po | $(BIN)/.installed
	$(BIN)/pybabel compile --statistics -d translations -l $* -i $< -o $@

catalogs: $(MO_FILES)

# Re-extract every marked string and update the four catalogs (new strings come in
# empty, changed ones fuzzy: translate them in the same commit).
translations: venv
	@mkdir -p translations
	$(BIN)/pybabel extract --sort-by-file --no-wrap -F babel.cfg $(BABEL_KEYWORDS) \
	  --project Coalition --copyright-holder "Coalition" -o translations/messages.pot .
	@for lang in $(TRANSLATION_LANGUAGES); do \
	  if [ -f translations/$$lang/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update --no-wrap --ignore-obsolete -i translations/messages.pot -d translations -l $$lang; \
	  else \
	    $(BIN)/pybabel init --no-wrap -i translations/messages.pot -d translations -l $$lang; \
	  fi; \
	done
	$(BIN)/python bin/plural_headers.py $(PO_FILES)

run: check-system venv secret migrate catalogs
	@$(BIN)/flask seed-demo --if-empty
	@echo "Serving on http://$(HOST):$(PORT) (scheduler beside it). Stop with Ctrl-C."
	@exec $(BIN)/python bin/serve.py --host $(HOST) --port $(PORT) --workers $(WORKERS)

# The whole suite. TEST_DATABASE_URL=postgresql://… runs it against PostgreSQL.
test: check-system venv-test secret catalogs
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

# Every form and every page fuzzed, FUZZ_EXAMPLES cases each (1,000 by default; `make test`
# runs a quicker profile). See the README's "Fuzzing".
FUZZ_EXAMPLES ?= 1000
fuzz: check-system venv-test secret catalogs
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_fuzz.py -q $(PYTEST_ARGS)

# Page times, export, dry-run import and memory at 10,000 members (see bench/README.md).
# BENCH_ARGS="--members 2000 --requests 30" or "--database-url postgresql://…" to change them.
bench: venv catalogs
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Ten minutes of mixed traffic against gunicorn (4 workers), the scheduler and PostgreSQL,
# then the database checked against what was sent (see the README's "Load run").
# LOAD_MINUTES=1 for a short try; LOAD_DATABASE_URL=postgresql://… for another database
# (dropped and created again).
$(BIN)/.installed-load: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[load]'
	@touch $@

load: $(BIN)/.installed-load secret catalogs
	$(BIN)/python bench/load.py $(LOAD_ARGS)

lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info $(MO_FILES)
