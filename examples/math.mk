# Math word problems by skill (GSM-Symbolic style): does reusing skill LoRAs compose skills?
#   make -f examples/math.mk RUN=runs/demo-math          (what `make demo-math` runs)
#   make -f examples/math.mk RUN=runs/big GEN_ARGS="--max-number 40" PRETRAIN_ARGS="--preset small"
# gen-data math -> pretrain-lm -> train-lora per skill and on mixed -> eval (numeric answers, per level)
# -> one report. Every step writes one output (atomically); make reruns only what is stale.

LORAKIT       ?= lorakit
RUN           ?= runs/demo-math
SEED          ?= 0
SKILLS        ?= add mul pct
LEVELS        ?= P0 P1 P2
GEN_ARGS      ?=
PRETRAIN_ARGS ?= --preset tiny --epochs 24 --batch-size 16 --lr 3e-3
LORA_ARGS     ?= --rank 16 --alpha 32 --lr 3e-3 --epochs 8
MIXED_ARGS    ?= --rank 16 --alpha 32 --lr 3e-3 --epochs 4
COMPOSED_ARGS ?= --rank 16 --alpha 32 --lr 3e-3 --epochs 8
EVAL_ARGS     ?= --batch-size 64 --max-new-tokens 80
THREADS       ?=  # threads per step after pretraining (all cores unless set; `make -j2` wants 1)
ADAPTERS      ?= $(SKILLS:%=skill_%) mixed composed
FIRST         ?= composed  # the longest step: `make -j` starts it first, beside the others

DATA := $(RUN)/data
T := $(THREADS:%=--threads %)
BASE := $(RUN)/base
TESTS := $(SKILLS:%=test_%) $(LEVELS:%=test_composed_%)
TEST_FILES := $(TESTS:%=$(DATA)/%.jsonl)
# Report columns: each in-skill test broken down by level (eval's <task>_<level>), then the composed tests.
COLUMNS := $(foreach s,$(SKILLS),$(LEVELS:%=test_$(s)_%)) $(LEVELS:%=test_composed_%)

# Data-free reuse rows: `uniform` = factor average of the skill adapters (lorakit merge);
# `arrow` = Arrow routing over them, top-2 per token and layer (lorakit route).
MERGES        ?= uniform
ROUTES        ?= arrow
EXTRA_RESULTS ?=

.PHONY: all
all: $(RUN)/report.md $(RUN)/report.png
	@cat $<

$(DATA)/manifest.json:
	$(LORAKIT) gen-data math --out $(DATA) --seed $(SEED) --force --skills $(call join-comma,$(SKILLS)) \
		--levels $(call join-comma,$(LEVELS)) $(GEN_ARGS)

$(BASE)/config.json: $(DATA)/manifest.json
	$(LORAKIT) pretrain-lm $(DATA)/pretrain.txt --out $(BASE) --seed $(SEED) --force $(PRETRAIN_ARGS)

$(RUN)/adapters/%/adapter_config.json: $(BASE)/config.json
	$(LORAKIT) train-lora $(BASE) $(DATA)/$*.jsonl --out $(RUN)/adapters/$* --seed $(SEED) --force $(LORA_ARGS) $(T)

# The mixed adapter sees 3× the data: fewer epochs keep its steps near one skill adapter's.
$(RUN)/adapters/mixed/adapter_config.json: LORA_ARGS = $(MIXED_ARGS)
# The positive control `composed`: an adapter on composed problems (composed.jsonl: names and chains of
# numbers never in a test), so the table shows what composing at all takes at this size.
$(RUN)/adapters/composed/adapter_config.json: LORA_ARGS = $(COMPOSED_ARGS)

$(RUN)/adapters/uniform/adapter_config.json: $(SKILLS:%=$(RUN)/adapters/skill_%/adapter_config.json)
	$(LORAKIT) merge $(SKILLS:%=$(RUN)/adapters/skill_%) --method uniform --out $(RUN)/adapters/uniform --force --quiet

# Every test file through the router in one predictions JSONL (records keep their split and level).
$(RUN)/routes/arrow.jsonl: $(SKILLS:%=$(RUN)/adapters/skill_%/adapter_config.json)
	cat $(TEST_FILES) | $(LORAKIT) route $(BASE) - $(SKILLS:%=--adapter $(RUN)/adapters/skill_%) --method arrow \
		--top-k 2 --out $@ --force --quiet $(EVAL_ARGS) $(T)

$(ROUTES:%=$(RUN)/results/%/results.json): $(RUN)/results/%/results.json: $(RUN)/routes/%.jsonl
	$(LORAKIT) eval --predictions $< --out $(RUN)/results/$* --force --quiet

$(RUN)/results/base/results.json: $(BASE)/config.json
	$(LORAKIT) eval $(BASE) $(TEST_FILES) --out $(RUN)/results/base --force --quiet $(EVAL_ARGS) $(T)

$(RUN)/results/%/results.json: $(RUN)/adapters/%/adapter_config.json
	$(LORAKIT) eval $(BASE) $(TEST_FILES) --adapter $(RUN)/adapters/$* --out $(RUN)/results/$* --force --quiet $(EVAL_ARGS) $(T)

ROWS := base $(ADAPTERS) $(MERGES) $(ROUTES)
RESULTS := $(ROWS:%=$(RUN)/results/%/results.json) $(EXTRA_RESULTS)

# Prerequisites in start order (the longest first); the report's rows in ROWS order.
$(RUN)/report.md: $(FIRST:%=$(RUN)/results/%/results.json) $(RESULTS)
	$(LORAKIT) report $(RESULTS:%/results.json=%) --quiet --tasks $(call join-comma,$(COLUMNS)) \
		--title "Math skill LoRA reuse (seed $(SEED); numeric answers)" --out $@ --force

# The same table as a heatmap (runs × tasks).
$(RUN)/report.png: $(RESULTS)
	$(LORAKIT) plot $(RESULTS:%/results.json=%) --quiet --tasks $(call join-comma,$(COLUMNS)) \
		--title "Math skill LoRA reuse (seed $(SEED); numeric answers)" --out $@ --force

comma := ,
empty :=
space := $(empty) $(empty)
join-comma = $(subst $(space),$(comma),$(strip $(1)))
.SECONDARY: $(ADAPTERS:%=$(RUN)/adapters/%/adapter_config.json)
