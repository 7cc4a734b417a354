# dlcourse: two commands do everything on a fresh machine with Python 3.11+ and make.
#   make book   create .venv, install the pinned toolchain, build the HTML book
#   make test   lint, unit tests, nbval on every chapter (on this machine's kernels, on another
#               machine's simulated, and again for determinism), strict book build, browser tests
# See README.md for the rest.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb))
JB_STRICT := $(BIN)/jupyter-book build -W -n --keep-going .
export PYTHONHASHSEED := 0

.PHONY: help venv book build pdf pdf-if-chromium test test-gpu lint unit nbval nbval-portable nbval-determinism browser execute lab bench vendor clean distclean

help:
	@echo "make book     - create .venv, install everything, build the HTML book into _build/html"
	@echo "make pdf      - print the built book to _build/pdf/dlcourse.pdf with the system Chromium"
	@echo "make test     - ruff, unit tests, nbval (this machine, a simulated other machine, determinism), strict build, browser tests"
	@echo "make nbval-portable MACHINE=avx2|generic|generic-4-threads - nbval with another machine's kernels forced"
	@echo "make execute  - re-run every notebook top to bottom in a fresh kernel, storing outputs"
	@echo "make lab      - open the notebooks in JupyterLab on the project's kernel"
	@echo "make bench    - run benchmarks/run.py, write bench.json and dlcourse/bench_data/<date>_<machine>.json"
	@echo "make clean    - remove the built book, caches and nbval records (make distclean: .venv too)"
	@echo "make test-gpu - on a GPU machine: NumPy vs GPU agreement tests and nbval with DLCOURSE_DEVICE=cuda"

# The virtual environment, rebuilt when a pin changes, and from scratch when it was made by a
# Python older than 3.11 (numpy 2.4 and the rest need 3.11+).
PY_OK := import sys; sys.exit(sys.version_info < (3, 11))
$(STAMP): requirements.txt requirements-test.txt constraints.txt pyproject.toml
	@$(PYTHON) -c '$(PY_OK)' || { echo "make: $(PYTHON) is Python $$($(PYTHON) -c 'import sys; print(*sys.version_info[:3], sep=".")'), but the course needs 3.11 or newer; run make PYTHON=python3.11 (or 3.12) book."; exit 1; }
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c '$(PY_OK)'; then \
	  echo "make: $(VENV) was made by a Python older than 3.11; removing it"; rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -r requirements-test.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dlcourse)" >/dev/null
	$(BIN)/python -m pip check
	touch $@

venv: $(STAMP)

# The HTML book, built strictly (warnings fail) from the outputs stored in the notebooks.
build: $(STAMP)
	rm -rf _build
	@start=$$(date +%s); $(JB_STRICT) >_build.log 2>&1 || { cat _build.log; exit 1; }; \
	  end=$$(date +%s); rm -f _build.log; echo "book built in $$((end - start)) s (strict: -W -n --keep-going)"

# The PDF, printed from the built site by the system Chromium (Playwright) and joined by pypdf.
# make pdf must make it. make book and make test make it when a Chromium is there to print it,
# and say so when not (with CI=true it must be there).
pdf: $(STAMP)
	@test -f _build/html/index.html || $(MAKE) --no-print-directory build
	$(BIN)/python _ext/book_pdf.py

pdf-if-chromium: $(STAMP)
	$(BIN)/python _ext/book_pdf.py --if-chromium

book: build
	@$(MAKE) --no-print-directory pdf-if-chromium
	@echo "Open the book: file://$(CURDIR)/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check dlcourse tests benchmarks _ext
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

unit: $(STAMP)
	$(BIN)/python -m pytest tests -n 2 --ignore=tests/browser -q

# Every chapter notebook re-runs in a fresh kernel; its outputs must match the stored ones, exactly
# unless a cell declares otherwise (tests/nbval_portable.py: tolerance, timing or exempt, with a reason).
# The stored outputs are CPU outputs: a CUDA GPU is hidden here (make test-gpu tests the GPU path).
PYTEST_NBVAL := $(BIN)/python -m pytest -p tests.nbval_portable --nbval --nbval-current-env \
	--nbval-sanitize-with tests/nbval_sanitize.cfg -q
NBVAL := CUDA_VISIBLE_DEVICES= $(PYTEST_NBVAL) -n 2 --dist loadfile
RUNS := .nbval-runs
MACHINE ?= auto

# 1. On this machine's own kernels; records what each cell printed, for the determinism check.
nbval: $(STAMP)
	rm -rf $(RUNS)/this-machine
	@$(BIN)/python -m tests.nbval_portable kernels
	$(NBVAL) --nbval-portable-record $(RUNS)/this-machine $(NOTEBOOKS)
	touch $(RUNS)/this-machine/complete

# 2. Another machine, simulated: other BLAS, MKL, oneDNN, ATen and NumPy kernels forced (MACHINE=auto
#    picks kernels unlike this CPU's: AVX2 ones on an AVX-512 CPU, older SSE/AVX ones on an AVX2 CPU).
nbval-portable: $(STAMP)
	@sim="$$($(BIN)/python -m tests.nbval_portable simulate $(MACHINE))" || exit 1; \
	  if [ -z "$$sim" ]; then echo "nbval-portable: skipped (see above)"; exit 0; fi; \
	  echo "$$sim" && env $$sim $(BIN)/python -m tests.nbval_portable kernels --differ && \
	  env $$sim $(NBVAL) $(NOTEBOOKS)

# 3. Determinism: the notebooks with tolerance or exempt cells run again here and must print exactly
#    what step 1 printed, in every cell (timings aside). The others equal the stored outputs exactly.
nbval-determinism: $(STAMP)
	@for nb in $(NOTEBOOKS); do [ $(RUNS)/this-machine/complete -nt $$nb ] || \
	  { echo "nbval-determinism: no record of make nbval newer than $$nb; run make nbval first"; exit 1; }; done
	@nbs="$$($(BIN)/python -m tests.nbval_portable varying $(NOTEBOOKS))" || exit 1; \
	  echo "again on this machine: $$nbs"; \
	  $(NBVAL) --nbval-portable-reference $(RUNS)/this-machine $$nbs

browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser -q

test: lint unit nbval nbval-portable nbval-determinism build pdf-if-chromium browser
	@echo "make test: all green"

execute: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
	  start=$$(date +%s); \
	  DLCOURSE_PROGRESS="$$(mktemp -d)/progress.json" \
	    $(BIN)/jupyter execute --inplace --kernel_name=python3 "$$nb" 2>/dev/null || exit 1; \
	  echo "$$nb: executed in $$(( $$(date +%s) - start )) s"; \
	done

# JupyterLab refuses to run as root (as in Docker) unless told: LAB_ARGS adds --allow-root there.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-lab.txt -c constraints.txt
	@echo "JupyterLab on the project's kernel (Python 3 (dlcourse), from .venv); notebooks are in chapters/"
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(LAB_ARGS) chapters/01_what_is_deep_learning.ipynb

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --json bench.json --save

# On a machine with a CUDA (or MPS) GPU: the NumPy/accelerator agreement tests, then every notebook on the GPU.
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu tests/test_gpu.py -q
	DLCOURSE_DEVICE=cuda $(PYTEST_NBVAL) $(NOTEBOOKS)

# Refresh the vendored widget JavaScript (needs npm; the result is committed).
vendor:
	rm -rf /tmp/dlcourse-vendor && mkdir -p /tmp/dlcourse-vendor
	cd /tmp/dlcourse-vendor && npm init -y >/dev/null && \
	  npm install --no-audit --no-fund requirejs@2.3.8 @jupyter-widgets/html-manager@1.0.15 >/dev/null
	cp /tmp/dlcourse-vendor/node_modules/requirejs/require.js _vendor/widgets/
	cp /tmp/dlcourse-vendor/node_modules/@jupyter-widgets/html-manager/dist/{embed-amd.js,embed.js.LICENSE.txt,*.woff,*.woff2} _vendor/widgets/

clean:
	@echo "make clean: removing the built book (_build), test caches (.pytest_cache .hypothesis .ruff_cache) and nbval records ($(RUNS)); .venv stays (make distclean removes it too)"
	rm -rf _build .pytest_cache .hypothesis .ruff_cache $(RUNS)

distclean: clean
	@echo "make distclean: removing the virtual environment $(VENV)"
	rm -rf $(VENV)
