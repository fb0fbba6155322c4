# The two-hop LoRA-reuse study's reuse rows on a real pretrained checkpoint (`make demo-real`):
#   make -j2 -f examples/twohop-real.mk RUN=runs/demo-real BASE=runs/real/smollm2
# BASE is an instruction-tuned chat model folder (the top Makefile converts SmolLM2-135M-Instruct
# into it). No pretraining: the base knows none of the synthetic people, so only the F test set (A
# and B fresh) means here what it means in examples/twohop.mk. Nor does it know the bridge format
# ("Think step by step." → " B lives in C."): the target couples' data teach it (`--target-format
# both`), beside those couples' own single hops (`--target-hops`: the chain composed from facts the
# adapter also learns one by one, as the pretrained base's example couples are in examples/twohop.mk),
# so the positive control is the data-mixed adapter (hop1 + hop2 + target data) answering
# test_F_bridge, and the library rows with target (avg3, arrow3) ask whether reuse recovers it.
# The data are chat records (`gen-data --chat`), rendered with BASE's chat template; a short system
# turn replaces SmolLM2's default one (a question's prompt 27 tokens instead of 40). After the data,
# every step is independent: `make -j2`, one thread each.

LORAKIT     ?= lorakit
RUN         ?= runs/demo-real
BASE        ?= runs/real/smollm2
SEED        ?= 0
SYSTEM      ?= Answer briefly.
GEN_ARGS    ?= --new-per-split 20 --target 20 --target-format both --target-hops --recall-size 0
LORA_ARGS   ?= --rank 16 --alpha 32 --lr 2e-3 --epochs 5 --batch-size 16
EVAL_ARGS   ?= --batch-size 64 --max-new-tokens 20
THREADS     ?= 1
ADAPTERS    ?= mixed target hop1 hop2
MERGES      ?= avg2 avg3 ta2
ROUTES      ?= arrow2 arrow3 minent2
TESTS       ?= test_F test_F_bridge check_hop1 check_hop2 check_target

DATA := $(RUN)/data
CHAT := $(RUN)/chat
A    := $(RUN)/adapters
TEST_FILES := $(TESTS:%=$(CHAT)/%.jsonl)

.PHONY: all
all: $(RUN)/report.md $(RUN)/report.png $(RUN)/inspect.json
	@cat $<

$(BASE)/config.json:
	@test -f $@ || { echo "$(BASE): no model folder (the top Makefile's 'make $(BASE)/lorakit.json REAL_MODEL=$(BASE)' converts SmolLM2)" >&2; exit 1; }

$(DATA)/manifest.json:
	$(LORAKIT) gen-data twohop --out $(DATA) --seed $(SEED) --force --quiet --chat --system "$(SYSTEM)" $(GEN_ARGS)

# The F facts only: the H and R items need familiar people, whom only examples/twohop.mk's base
# knows. hop1 = spouse(A)=B, hop2 = lives_in(B)=C, target = other couples' two-hop facts (latent and
# bridge) and their single hops, mixed = all three. One step writes them all (in a folder beside
# CHAT, then renamed), so that `make -j2` starts the longest training (mixed) first.
CHAT_FILES := $(ADAPTERS:%=$(CHAT)/%.jsonl) $(TEST_FILES)
$(CHAT_FILES) &: $(DATA)/manifest.json
	rm -rf $(CHAT).tmp && mkdir -p $(CHAT).tmp
	grep -F '"set": "F"' $(DATA)/hop1.jsonl > $(CHAT).tmp/hop1.jsonl
	grep -F '"set": "F"' $(DATA)/check_hop1.jsonl > $(CHAT).tmp/check_hop1.jsonl
	cp $(DATA)/hop2.jsonl $(DATA)/target.jsonl $(filter-out %/check_hop1.jsonl,$(TESTS:%=$(DATA)/%.jsonl)) $(CHAT).tmp/
	cat $(CHAT).tmp/hop1.jsonl $(CHAT).tmp/hop2.jsonl $(CHAT).tmp/target.jsonl > $(CHAT).tmp/mixed.jsonl
	rm -rf $(CHAT) && mv $(CHAT).tmp $(CHAT)

$(A)/%/adapter_config.json: $(CHAT)/%.jsonl | $(BASE)/config.json
	$(LORAKIT) train-lora $(BASE) $< --out $(A)/$* --seed $(SEED) --force --quiet --threads $(THREADS) $(LORA_ARGS)

$(RUN)/results/base/results.json: $(TEST_FILES) | $(BASE)/config.json
	$(LORAKIT) eval $(BASE) $(TEST_FILES) --out $(RUN)/results/base --force --quiet --threads $(THREADS) $(EVAL_ARGS)

$(RUN)/results/%/results.json: $(A)/%/adapter_config.json $(TEST_FILES)
	$(LORAKIT) eval $(BASE) $(TEST_FILES) --adapter $(A)/$* --out $(RUN)/results/$* --force --quiet --threads $(THREADS) $(EVAL_ARGS)

# Merges (no training): avg2 = uniform(hop1, hop2), avg3 = uniform(hop1, hop2, target), ta2 =
# task-arithmetic(hop1, hop2) at rank 32, the exact sum.
$(A)/avg2/adapter_config.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json
	$(LORAKIT) merge $(A)/hop1 $(A)/hop2 --method uniform --out $(A)/avg2 --force --quiet
$(A)/avg3/adapter_config.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json $(A)/target/adapter_config.json
	$(LORAKIT) merge $(A)/hop1 $(A)/hop2 $(A)/target --method uniform --out $(A)/avg3 --force --quiet
$(A)/ta2/adapter_config.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json
	$(LORAKIT) merge $(A)/hop1 $(A)/hop2 --method task-arithmetic --rank 32 --out $(A)/ta2 --force --quiet

# Routing (no training), routed and scored by eval in one command (it renders the chat records):
# Arrow top-2 over {hop1, hop2} (arrow2) and {hop1, hop2, target} (arrow3), and per example the one of
# hop1, hop2 with the lowest prompt entropy (minent2).
ROUTE_arrow2  := --route arrow --top-k 2 --adapter $(A)/hop1 --adapter $(A)/hop2
ROUTE_arrow3  := --route arrow --top-k 2 --adapter $(A)/hop1 --adapter $(A)/hop2 --adapter $(A)/target
ROUTE_minent2 := --route min-entropy --adapter $(A)/hop1 --adapter $(A)/hop2
$(RUN)/results/arrow3/results.json: $(A)/target/adapter_config.json
$(ROUTES:%=$(RUN)/results/%/results.json): $(RUN)/results/%/results.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json $(TEST_FILES)
	$(LORAKIT) eval $(BASE) $(TEST_FILES) $(ROUTE_$*) --out $(RUN)/results/$* --force --quiet --threads $(THREADS) $(EVAL_ARGS)

$(RUN)/inspect.json: $(A)/hop1/adapter_config.json $(A)/hop2/adapter_config.json
	$(LORAKIT) inspect $(A)/hop1 $(A)/hop2 --out $@ --force

# the longest step (mixed: the other three's data) first, beside target, hop1, hop2 on the other slot
RESULTS := $(ADAPTERS:%=$(RUN)/results/%/results.json) $(RUN)/results/base/results.json $(MERGES:%=$(RUN)/results/%/results.json) $(ROUTES:%=$(RUN)/results/%/results.json)
ORDER := base hop1 hop2 target mixed $(MERGES) $(ROUTES)
TASK_LIST = $(subst $(space),$(comma),$(strip $(TESTS)))

$(RUN)/report.md: $(RESULTS)
	$(LORAKIT) report $(ORDER:%=$(RUN)/results/%) --quiet --tasks $(TASK_LIST) \
		--title "Two-hop LoRA reuse on $(notdir $(BASE)) (seed $(SEED))" --out $@ --force

$(RUN)/report.png: $(RESULTS)
	$(LORAKIT) plot $(ORDER:%=$(RUN)/results/%) --quiet --tasks $(TASK_LIST) \
		--title "Two-hop LoRA reuse on $(notdir $(BASE)) (seed $(SEED))" --out $@ --force

comma := ,
empty :=
space := $(empty) $(empty)
.SECONDARY: $(ADAPTERS:%=$(A)/%/adapter_config.json) $(CHAT_FILES)
