# ConvLab — every target sets itself up: a fresh Debian/Ubuntu machine with Python 3.11 needs nothing else.
SHELL := /bin/bash
# The interpreter that creates the environment, found before the environment joins PATH.
ifndef PYTHON
PYTHON := $(shell command -v python3.11 || command -v python3)
endif
VENV := .venv
PY := $(VENV)/bin/python
# Every tool runs with the environment's bin first on PATH (nbgrader runs `alembic` by name).
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
STAMP := $(VENV)/.stamp-installed
MATHJAX := book/_static/mathjax/tex-mml-chtml.js
# Chapters with an assignment notebook (a chapter's folder may exist before its notebook).
CHAPTERS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard notebooks/ch[0-9][0-9]/*.ipynb)))))
JOBS ?= 2

.PHONY: setup book translations test test-fast release bench mutants gpu-check lint clean system-deps

setup: $(STAMP) $(MATHJAX)

system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	@bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[book,grader,cluster,dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ConvLab)" >/dev/null
	touch $@

$(MATHJAX):
	@bash scripts/fetch-mathjax.sh book/_static/mathjax

# Both editions, strict: English at the site's root (_build/html), then the Chinese edition
# (book/locales) under _build/html/zh from the same execution cache. A page runs only when its
# code or the convlab package changed (_build/.jupyter_cache).
book: setup
	$(PY) scripts/build-book.py -W --keep-going --all .
	$(PY) scripts/build-book.py --language zh_CN -W --keep-going --all .
	@echo
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html (中文: zh/index.html)"
	@echo "or serve it: $(PY) -m http.server -d _build/html 8000 --bind 127.0.0.1"

# After an edit to the English pages: extract the message templates (no execution) into
# _build/gettext, bring the Chinese catalogues up to date (new messages empty, changed ones
# fuzzy; one job: sphinx-intl's parallel update races on nested folders), then check them.
translations: setup
	rm -rf _build/gettext
	$(PY) scripts/build-book.py --execute off --builder custom --custom-builder gettext .
	$(VENV)/bin/sphinx-intl update -p _build/gettext -d book/locales -l zh_CN -j 1
	$(PY) scripts/check_translations.py --pot _build/gettext

test: setup
	$(PY) -m pytest -n $(JOBS) --timeout 1200 --durations=15 tests

test-fast: setup
	$(PY) -m pytest -n $(JOBS) -m "not slow and not book" tests

# The student edition needs the environment only (not MathJax); it writes release/ and keeps
# its gradebook in _build/, creating both.
release: $(STAMP)
	@mkdir -p _build release
	@for ch in $(CHAPTERS); do \
	  $(VENV)/bin/nbgrader generate_assignment $$ch --force --CourseDirectory.root=$(CURDIR) \
	    --CourseDirectory.source_directory=notebooks --CourseDirectory.release_directory=release \
	    --CourseDirectory.db_url=sqlite:///$(CURDIR)/_build/release-gradebook.db || exit 1; \
	done
	@echo "Student edition written to release/"

# One table: operator ratios, grading seconds per chapter, batch students per minute (threads
# and Dask), beside issue 12's figures; also written to _build/bench/table.md.
# BENCH_ARGS="--quick" for a smoke run, "--sections ops,grading" to pick sections.
bench: setup
	$(PY) -m bench $(BENCH_ARGS)

# Single-point mutants of each chapter's solutions graded by its hidden tests: a table, and
# _build/mutants/report.md and report.json. MUTANTS_ARGS="ch02 --training 2" narrows or widens it.
mutants: $(STAMP)
	$(PY) -m convlab.exercises.mutants --out _build/mutants $(MUTANTS_ARGS)

# On a CUDA machine whose python3 already has a CUDA build of torch, run the script directly:
# `bash scripts/gpu-check.sh` (it needs only torch, pytest and hypothesis).
gpu-check: setup
	PYTHON=$(PY) bash scripts/gpu-check.sh

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build release .pytest_cache .hypothesis
