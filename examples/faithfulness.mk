# The faithfulness rescoring study at tiny scale: per language, synthetic news + summaries,
# a 4-layer BERT pretrained from scratch, PLL rescoring, pairwise accuracy.
#   make -f examples/faithfulness.mk RUN=runs/demo-faith          (what `make demo-faith` runs)
#   make -f examples/faithfulness.mk RUN=runs/big CORPUS_MB=50 STEPS=20000
# Every step writes one output (atomically); make reruns only what is stale. The three languages
# are independent: they run JOBS at a time, each on THREADS cores.
#
# The vocabulary is per language: a unigram tokenizer on this small templated corpus supports
# only ~450-600 pieces (256 of them byte fallback), and the fewer pieces, the closer to characters
# (longer sequences, names split into many pieces); VOCAB_xx sits just under what CORPUS_MB=0.5
# supports (pretrain-bert says the maximum when a value is too large).

LORAKIT     ?= lorakit
RUN         ?= runs/demo-faith
SEED        ?= 0
LANGS       ?= vi pl ka
JOBS        ?= 3
THREADS     ?= 1
CORPUS_MB   ?= 0.5
TEST_SIZE   ?= 200
PAIRS_SIZE  ?= 150
VOCAB_vi    ?= 510
VOCAB_pl    ?= 580
VOCAB_ka    ?= 440
STEPS       ?= 400
BERT_ARGS   ?= --layers 4 --hidden 128 --heads 4 --intermediate 512 --objective mlm+nsp --dropout 0.1 \
               --max-seq-len 256 --steps $(STEPS) --batch-size 32 --lr 1e-3
RESCORE_ARGS ?= --method pll --pll-variant within-word

MAKEFLAGS += -j$(JOBS)
.SECONDARY:  # keep every intermediate output (make would delete manifest.json and the models' config.json)

.PHONY: all
all: $(RUN)/eval/results.json $(RUN)/pairs-eval/results.json

$(RUN)/data-%/manifest.json:
	$(LORAKIT) gen-data faithfulness --lang $* --out $(RUN)/data-$* --corpus-mb $(CORPUS_MB) --test-size $(TEST_SIZE) --seed $(SEED) --force

$(RUN)/bert-%/config.json: $(RUN)/data-%/manifest.json
	$(LORAKIT) pretrain-bert $(RUN)/data-$*/corpus.txt --out $(RUN)/bert-$* --seed $(SEED) --force --quiet \
	    --threads $(THREADS) --vocab-size $(VOCAB_$*) $(BERT_ARGS)

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
