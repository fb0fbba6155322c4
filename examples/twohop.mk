# The two-hop LoRA-reuse study at tiny scale, chained from lorakit subcommands.
#   make -f examples/twohop.mk RUN=runs/demo            (what `make demo` runs)
#   make -f examples/twohop.mk RUN=runs/big GEN_ARGS="--familiar-couples 400" PRETRAIN_ARGS="--preset small"
# Every step writes one output (atomically); make reruns only what is stale. After pretraining,
# the steps are independent: `make -j2` runs two at a time, each on THREADS cores (tiny models gain
# more from two one-thread processes than from one two-thread process).

LORAKIT       ?= lorakit
RUN           ?= runs/demo
SEED          ?= 0
GEN_ARGS      ?=
PRETRAIN_ARGS ?= --preset tiny --epochs 18 --batch-size 16 --lr 3e-3
LORA_ARGS     ?= --rank 16 --alpha 32 --lr 2e-3 --epochs 20
EVAL_ARGS     ?= --batch-size 64 --max-new-tokens 24
THREADS       ?= 1
PRETRAIN_THREADS ?=  # pretraining runs alone: all cores unless set
ADAPTERS      ?= hop1 hop2 target mixed
MERGES        ?= avg2 avg3 ta2
ROUTES        ?= arrow2 arrow3 minent2
TESTS         ?= test_F test_H test_R test_F_bridge test_H_bridge test_R_bridge check_hop1 check_hop2 check_target \
                 recall control control_bridge

DATA := $(RUN)/data
BASE := $(RUN)/base
TEST_FILES := $(TESTS:%=$(DATA)/%.jsonl)

.PHONY: all
all: $(RUN)/report.md $(RUN)/report.png $(RUN)/inspect.json
	@cat $<

$(DATA)/manifest.json:
	$(LORAKIT) gen-data twohop --out $(DATA) --seed $(SEED) --force $(GEN_ARGS)

$(BASE)/config.json: $(DATA)/manifest.json
	$(LORAKIT) pretrain-lm $(DATA)/pretrain.txt --out $(BASE) --seed $(SEED) --force $(PRETRAIN_ARGS) $(PRETRAIN_THREADS:%=--threads %)

$(RUN)/adapters/%/adapter_config.json: $(BASE)/config.json
	$(LORAKIT) train-lora $(BASE) $(DATA)/$*.jsonl --out $(RUN)/adapters/$* --seed $(SEED) --force --threads $(THREADS) $(LORA_ARGS)

$(RUN)/results/base/results.json: $(BASE)/config.json
	$(LORAKIT) eval $(BASE) $(TEST_FILES) --out $(RUN)/results/base --force --quiet --threads $(THREADS) $(EVAL_ARGS)

$(RUN)/results/%/results.json: $(RUN)/adapters/%/adapter_config.json
	$(LORAKIT) eval $(BASE) $(TEST_FILES) --adapter $(RUN)/adapters/$* --out $(RUN)/results/$* --force --quiet --threads $(THREADS) $(EVAL_ARGS)

# Merges (no training): avg2 = uniform(hop1, hop2), avg3 = uniform(hop1, hop2, target),
# ta2 = task-arithmetic(hop1, hop2) at rank 32 = r1 + r2, i.e. the exact sum (truncation error 0).
A := $(RUN)/adapters
$(A)/avg2/adapter_config.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json
	$(LORAKIT) merge $(A)/hop1 $(A)/hop2 --method uniform --out $(A)/avg2 --force --quiet
$(A)/avg3/adapter_config.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json $(A)/target/adapter_config.json
	$(LORAKIT) merge $(A)/hop1 $(A)/hop2 $(A)/target --method uniform --out $(A)/avg3 --force --quiet
$(A)/ta2/adapter_config.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json
	$(LORAKIT) merge $(A)/hop1 $(A)/hop2 --method task-arithmetic --rank 32 --out $(A)/ta2 --force --quiet

# Routing (no training): Arrow top-2 over {hop1, hop2} (arrow2) and {hop1, hop2, target} (arrow3),
# and per example the adapter of {hop1, hop2} with the lowest prompt entropy (minent2, mixed-adapter
# batches); every test file in one predictions JSONL (records keep their split), scored by eval --predictions.
$(RUN)/routes/arrow2.jsonl: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json
	cat $(TEST_FILES) | $(LORAKIT) route $(BASE) - --adapter $(A)/hop1 --adapter $(A)/hop2 --method arrow --top-k 2 --out $@ --force --quiet --threads $(THREADS) $(EVAL_ARGS)
$(RUN)/routes/arrow3.jsonl: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json $(A)/target/adapter_config.json
	cat $(TEST_FILES) | $(LORAKIT) route $(BASE) - --adapter $(A)/hop1 --adapter $(A)/hop2 --adapter $(A)/target --method arrow --top-k 2 --out $@ --force --quiet --threads $(THREADS) $(EVAL_ARGS)
$(RUN)/routes/minent2.jsonl: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json
	cat $(TEST_FILES) | $(LORAKIT) route $(BASE) - --adapter $(A)/hop1 --adapter $(A)/hop2 --method min-entropy --out $@ --force --quiet --threads $(THREADS) $(EVAL_ARGS)
$(ROUTES:%=$(RUN)/results/%/results.json): $(RUN)/results/%/results.json: $(RUN)/routes/%.jsonl
	$(LORAKIT) eval --predictions $< --out $(RUN)/results/$* --force --quiet

# Subspace overlap and uniform-merge cross-terms of hop1 vs hop2: JSON file, table on screen.
$(RUN)/inspect.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json
	$(LORAKIT) inspect $(A)/hop1 $(A)/hop2 --out $@ --force

RESULTS := $(RUN)/results/base/results.json $(ADAPTERS:%=$(RUN)/results/%/results.json) $(MERGES:%=$(RUN)/results/%/results.json) $(ROUTES:%=$(RUN)/results/%/results.json)
TASK_LIST = $(subst $(space),$(comma),$(strip $(TESTS)))

$(RUN)/report.md: $(RESULTS)
	$(LORAKIT) report $(RESULTS:%/results.json=%) --quiet --tasks $(TASK_LIST) \
		--title "Two-hop LoRA reuse (seed $(SEED))" --out $@ --force

# The same table as a heatmap (runs × tasks).
$(RUN)/report.png: $(RESULTS)
	$(LORAKIT) plot $(RESULTS:%/results.json=%) --quiet --tasks $(TASK_LIST) \
		--title "Two-hop LoRA reuse (seed $(SEED))" --out $@ --force

comma := ,
empty :=
space := $(empty) $(empty)
# Keep trained adapters (intermediate in the results/% <- adapters/% chain) without making every
# target secondary: a secondary target that is missing is not rebuilt, so rows added later
# (the merges) would never be built in an existing run folder.
.SECONDARY: $(ADAPTERS:%=$(RUN)/adapters/%/adapter_config.json)
