# The two set-up commands: `make demo` and `make test` create .venv if missing and install into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lorakit-installed
JOBS   ?= 2
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test demo demo-math completions docs bench clean demo-faith demo-sweep

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

# pytest exits 5 when it collects no tests: that is a failure here, like any non-zero code.
test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(MAKE) --no-print-directory -j$(JOBS) --output-sync=target -f examples/twohop.mk LORAKIT=$(abspath $(VENV))/bin/lorakit RUN=runs/demo

# The math-skills study (examples/math.mk): ~8 minutes on 2 cores, apart from the 10-minute demo.
demo-math: $(STAMP)
	$(MAKE) --no-print-directory -f examples/math.mk LORAKIT=$(abspath $(VENV))/bin/lorakit RUN=runs/demo-math

completions: $(STAMP)
	$(PY) -m lorakit.cli.docs completions completions

docs: $(STAMP)
	$(PY) -m lorakit.cli.docs readme README.md

bench: $(STAMP)
	$(PY) bench/generate.py
	$(PY) bench/train_lora.py
	$(PY) bench/merge.py
	$(PY) bench/route.py
	$(PY) bench/rescore.py
	$(PY) bench/pretrain_bert.py
	$(PY) bench/scale.py

clean:
	rm -rf runs .pytest_cache

demo-faith: $(STAMP)
	$(MAKE) --no-print-directory -f examples/faithfulness.mk LORAKIT=$(abspath $(VENV))/bin/lorakit RUN=runs/demo-faith

# The rescoring study's sweep (examples/faithsweep.mk): five settings x three languages.
demo-sweep: $(STAMP)
	$(MAKE) --no-print-directory -f examples/faithsweep.mk LORAKIT=$(abspath $(VENV))/bin/lorakit RUN=runs/demo-sweep
