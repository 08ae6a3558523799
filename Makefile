# The Chorus Handbook. `make serve` and `make test` do all set-up on a fresh machine.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1:8000

# Material and MkDocs print an end-of-life notice on every run; it is not ours to act on.
export NO_MKDOCS_2_WARNING := 1
export DISABLE_MKDOCS_2_WARNING := true

.PHONY: help setup serve build offline print check typecheck test drill lock clean

# Containers often set PYTHONDONTWRITEBYTECODE: then every process the tests and drills start (each
# service, each chorusctl) compiles the stack's modules again, about 0.8 s of CPU each. Keep the
# bytecode under .cache/pycache instead (the tree stays free of __pycache__, as the variable wants).
test drill: export PYTHONDONTWRITEBYTECODE :=
test drill: export PYTHONPYCACHEPREFIX := $(CURDIR)/.cache/pycache

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# Reinstall only when the pins change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "handbook: installing pinned dependencies into $(VENV)..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e . 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import handbook, chorus, mkdocs" || { echo "handbook: install failed (see above)"; exit 1; }
	@touch $(STAMP)

setup: $(STAMP) ## create .venv, install the pins, Graphviz, bubblewrap, Prometheus and Alertmanager
	@tools/bootstrap/graphviz.sh
	@tools/bootstrap/bubblewrap.sh
	@tools/bootstrap/prometheus.sh

serve: setup ## build and serve the site on http://127.0.0.1:8000 with live reload
	$(BIN)/mkdocs serve --dev-addr $(HOST) --livereload

build: setup ## build the static site into site/
	$(BIN)/mkdocs build --strict --site-dir site

offline: setup ## build the offline edition into site-offline/ (open site-offline/index.html from disk)
	HANDBOOK_OFFLINE=true $(BIN)/mkdocs build --strict --site-dir site-offline

print: offline ## the printable handbook: print/handbook.html (self-contained) and print/handbook.pdf
	@tools/bootstrap/chromium.sh
	$(BIN)/python -m handbook.printbook site-offline --out print

check: setup ## run `handbook check` over the tree
	$(BIN)/handbook check

typecheck: setup ## type-check both packages (chorus and handbook) with mypy and its pydantic plugin
	$(BIN)/python -m mypy

test: setup typecheck ## type-check, then run the whole test suite (installs Debian's Chromium for the browser tests when missing)
	@tools/bootstrap/chromium.sh
	$(BIN)/python -m pytest

drill: setup ## rehearse every runbook that declares a drill on a local Chorus + Prometheus
	$(BIN)/handbook drill --allow-destructive --jobs 3

lock: ## re-pin the transitive dependencies into constraints.txt
	$(BIN)/python -m pip freeze --exclude-editable --exclude chorus-handbook > constraints.txt

clean: ## remove the built site and the virtual environment
	rm -rf site site-offline print $(VENV)
