# The faithfulness rescoring study at tiny scale: per language, synthetic news + summaries,
# a 4-layer BERT pretrained from scratch, PLL rescoring, pairwise accuracy.
#   make -f examples/faithfulness.mk RUN=runs/demo-faith          (what `make demo-faith` runs)
#   make -f examples/faithfulness.mk RUN=runs/big CORPUS_MB=50 STEPS=20000
# Every step writes one output (atomically); make reruns only what is stale. The three languages
# are independent: they run JOBS at a time, each on THREADS cores.
#
# Settings for learning to copy facts from the source on a CPU budget: a BPE tokenizer of 500
# pieces (with 800, most words of this templated corpus are whole pieces, each seen too rarely:
# the Georgian BERT never learned to copy a name within 4,000 steps and the Vietnamese one never
# copied a three-digit number; with 500, names and numbers share pieces and all three languages
# copy within 2,000 steps: vi and pl by step 1,000, ka by 2,000), MLM only (with NSP, half the
# pairs follow the body with another document's sentences, where copying is wrong), no dropout,
# 128 tokens (a test source + summary fit), batches of 16 at lr 3e-3, 25 % masked, sinusoidal
# start values for the positions; hidden 128, feed-forward 512 (HIDDEN, HEADS, INTERMEDIATE:
# smaller models are up to ~1.8x faster per step, but with each smaller size tried one language
# had not learned to copy by step 2,000 — see the README; `make demo` runs smaller sizes with 40 %
# masked).
# Per-language overrides: any of CORPUS_MB, VOCAB, STEPS, HIDDEN, HEADS, INTERMEDIATE, MASK with
# _xx appended (e.g. STEPS_ka=4000).

LORAKIT     ?= lorakit
RUN         ?= runs/demo-faith
SEED        ?= 0
LANGS       ?= vi pl ka
JOBS        ?= 3
THREADS     ?= 1
CORPUS_MB   ?= 3
CORPUS_MB_ka ?= 6
TEST_SIZE   ?= 200
PAIRS_SIZE  ?= 150
TOKENIZER   ?= bpe
VOCAB       ?= 500
STEPS       ?= 2000
LAYERS      ?= 4
HIDDEN      ?= 128
HEADS       ?= 4
INTERMEDIATE ?= 512
DROPOUT     ?= 0
OBJECTIVE   ?= mlm
POSITIONS   ?= sinusoidal
MASK        ?= 0.25
GROUPING    ?= --no-group-by-length
BERT_ARGS   ?= --layers $(LAYERS) --hidden $(call per,HIDDEN) --heads $(call per,HEADS) --intermediate $(call per,INTERMEDIATE) \
               --objective $(OBJECTIVE) --dropout $(DROPOUT) --max-seq-len 128 --batch-size 16 --lr 3e-3 \
               --warmup 0.03 --mask-prob $(call per,MASK) --tokenizer-type $(TOKENIZER) --position-init $(POSITIONS) $(GROUPING)
RESCORE_ARGS ?= --method pll --pll-variant within-word

# $(call per,NAME): NAME_xx for the language xx of the rule at hand ($*) if set, else NAME.
per = $(or $($(1)_$*),$($(1)))

# JOBS empty: take the job slots of the calling make (`make demo` runs this beside the two-hop study).
ifneq ($(JOBS),)
MAKEFLAGS += -j$(JOBS)
endif
.SECONDARY:  # keep every intermediate output (make would delete manifest.json and the models' config.json)

.PHONY: all
all: $(RUN)/report.md $(RUN)/report.png
	@cat $<

$(RUN)/data-%/manifest.json:
	$(LORAKIT) gen-data faithfulness --lang $* --out $(RUN)/data-$* --corpus-mb $(call per,CORPUS_MB) --test-size $(TEST_SIZE) --seed $(SEED) --force

$(RUN)/bert-%/config.json: $(RUN)/data-%/manifest.json
	$(LORAKIT) pretrain-bert $(RUN)/data-$*/corpus.txt --out $(RUN)/bert-$* --seed $(SEED) --force --quiet \
	    --threads $(THREADS) --vocab-size $(call per,VOCAB) --steps $(call per,STEPS) $(BERT_ARGS)

$(RUN)/scored-%.jsonl: $(RUN)/bert-%/config.json
	$(LORAKIT) rescore $(RUN)/bert-$* $(RUN)/data-$*/test.jsonl --out $@ --force --threads $(THREADS) $(RESCORE_ARGS)

$(RUN)/scored.jsonl: $(LANGS:%=$(RUN)/scored-%.jsonl)
	cat $^ > $@

$(RUN)/eval/results.json: $(RUN)/scored.jsonl
	$(LORAKIT) eval --task faithfulness $< --out $(RUN)/eval --force

# The three other tasks as zero-shot minimal pairs (sentence order, word order, agreement), scored
# by the same BERTs: candidates alone (empty source), so PLL only.
$(RUN)/pairs-%/manifest.json:
	$(LORAKIT) gen-data minimal-pairs --lang $* --out $(RUN)/pairs-$* --test-size $(PAIRS_SIZE) --seed $(SEED) --force --quiet

$(RUN)/pairs-scored-%.jsonl: $(RUN)/bert-%/config.json $(RUN)/pairs-%/manifest.json
	$(LORAKIT) rescore $(RUN)/bert-$* $(RUN)/pairs-$*/test.jsonl --out $@ --force --threads $(THREADS) --method pll --pll-variant within-word

$(RUN)/pairs-scored.jsonl: $(LANGS:%=$(RUN)/pairs-scored-%.jsonl)
	cat $^ > $@

$(RUN)/pairs-eval/results.json: $(RUN)/pairs-scored.jsonl
	$(LORAKIT) eval --task minimal-pairs $< --out $(RUN)/pairs-eval --force

# One table: pairwise accuracy, mean and per language, for both tasks (per perturbation type and
# the typology block: $(RUN)/eval/results.json). PAIRS_SIZE=0 leaves the minimal pairs out.
TASKS := faithfulness $(if $(filter-out 0,$(PAIRS_SIZE)),minimal-pairs)
EVALS := $(subst minimal-pairs,pairs-eval,$(subst faithfulness,eval,$(TASKS)))
comma := ,
empty :=
space := $(empty) $(empty)
COLUMNS = $(foreach t,$(TASKS),$(t) $(LANGS:%=$(t)/%))
$(RUN)/report.md: $(EVALS:%=$(RUN)/%/results.json)
	$(LORAKIT) report $(join $(TASKS:%=%=),$(EVALS:%=$(RUN)/%)) --quiet --force --out $@ \
	    --tasks $(subst $(space),$(comma),$(strip $(COLUMNS))) --title "Faithfulness rescoring (seed $(SEED))"

# Pairwise accuracy by language × perturbation (the faithfulness results) as a heatmap.
$(RUN)/report.png: $(RUN)/eval/results.json
	$(LORAKIT) plot $(RUN)/eval --quiet --force --out $@ --title "Faithfulness rescoring (seed $(SEED)): pairwise accuracy"
