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
# had not learned to copy by step 2,000 — see the README).
# Per-language overrides: VOCAB_xx, STEPS_xx, CORPUS_MB_xx.

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
BERT_ARGS   ?= --layers $(LAYERS) --hidden $(HIDDEN) --heads $(HEADS) --intermediate $(INTERMEDIATE) \
               --objective $(OBJECTIVE) --dropout $(DROPOUT) --max-seq-len 128 --batch-size 16 --lr 3e-3 \
               --warmup 0.03 --mask-prob 0.25 --tokenizer-type $(TOKENIZER) --position-init $(POSITIONS)
RESCORE_ARGS ?= --method pll --pll-variant within-word

MAKEFLAGS += -j$(JOBS)
.SECONDARY:  # keep every intermediate output (make would delete manifest.json and the models' config.json)

.PHONY: all
all: $(RUN)/eval/results.json $(RUN)/pairs-eval/results.json

$(RUN)/data-%/manifest.json:
	$(LORAKIT) gen-data faithfulness --lang $* --out $(RUN)/data-$* --corpus-mb $(or $(CORPUS_MB_$*),$(CORPUS_MB)) --test-size $(TEST_SIZE) --seed $(SEED) --force

$(RUN)/bert-%/config.json: $(RUN)/data-%/manifest.json
	$(LORAKIT) pretrain-bert $(RUN)/data-$*/corpus.txt --out $(RUN)/bert-$* --seed $(SEED) --force --quiet \
	    --threads $(THREADS) --vocab-size $(or $(VOCAB_$*),$(VOCAB)) --steps $(or $(STEPS_$*),$(STEPS)) $(BERT_ARGS)

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
