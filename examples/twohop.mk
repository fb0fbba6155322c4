# The two-hop LoRA-reuse study at tiny scale, chained from lorakit subcommands.
#   make -f examples/twohop.mk RUN=runs/demo            (what `make demo` runs)
#   make -f examples/twohop.mk RUN=runs/big GEN_ARGS="--familiar-couples 400" PRETRAIN_ARGS="--preset small"
# Every step writes one output (atomically); make reruns only what is stale.

LORAKIT       ?= lorakit
RUN           ?= runs/demo
SEED          ?= 0
GEN_ARGS      ?=
PRETRAIN_ARGS ?= --preset tiny --epochs 18 --batch-size 16 --lr 3e-3
LORA_ARGS     ?= --rank 16 --alpha 32 --lr 2e-3 --epochs 40
EVAL_ARGS     ?= --batch-size 64
ADAPTERS      ?= hop1 hop2 target mixed
TESTS         ?= test_F test_H test_R check_hop1 check_hop2 check_target recall control

DATA := $(RUN)/data
BASE := $(RUN)/base
TEST_FILES := $(TESTS:%=$(DATA)/%.jsonl)

.PHONY: all
all: $(RUN)/report.md
	@cat $<

$(DATA)/manifest.json:
	$(LORAKIT) gen-data twohop --out $(DATA) --seed $(SEED) --force $(GEN_ARGS)

$(BASE)/config.json: $(DATA)/manifest.json
	$(LORAKIT) pretrain-lm $(DATA)/pretrain.txt --out $(BASE) --seed $(SEED) --force $(PRETRAIN_ARGS)

$(RUN)/adapters/%/adapter_config.json: $(BASE)/config.json
	$(LORAKIT) train-lora $(BASE) $(DATA)/$*.jsonl --out $(RUN)/adapters/$* --seed $(SEED) --force $(LORA_ARGS)

$(RUN)/results/base/results.json: $(BASE)/config.json
	$(LORAKIT) eval $(BASE) $(TEST_FILES) --out $(RUN)/results/base --force --quiet $(EVAL_ARGS)

$(RUN)/results/%/results.json: $(RUN)/adapters/%/adapter_config.json
	$(LORAKIT) eval $(BASE) $(TEST_FILES) --adapter $(RUN)/adapters/$* --out $(RUN)/results/$* --force --quiet $(EVAL_ARGS)

$(RUN)/report.md: $(RUN)/results/base/results.json $(ADAPTERS:%=$(RUN)/results/%/results.json)
	$(LORAKIT) report $(^D) --quiet --tasks $(subst $(space),$(comma),$(strip $(TESTS))) \
		--title "Two-hop LoRA reuse (seed $(SEED))" --out $@ --force

comma := ,
empty :=
space := $(empty) $(empty)
.SECONDARY:
