# The faithfulness rescoring study at tiny scale: per language, synthetic news + summaries,
# a 4-layer BERT pretrained from scratch, PLL rescoring, pairwise accuracy.
#   make -f examples/faithfulness.mk RUN=runs/demo-faith          (what `make demo-faith` runs)
#   make -f examples/faithfulness.mk RUN=runs/big CORPUS_MB=50 BERT_ARGS="--steps 20000"
# Every step writes one output (atomically); make reruns only what is stale.

LORAKIT     ?= lorakit
RUN         ?= runs/demo-faith
SEED        ?= 0
LANGS       ?= vi pl ka
CORPUS_MB   ?= 0.5
TEST_SIZE   ?= 200
BERT_ARGS   ?= --layers 4 --hidden 128 --heads 4 --intermediate 512 --objective mlm+nsp --max-seq-len 128 \
               --vocab-size 450 --steps 300 --batch-size 32 --lr 1e-3
RESCORE_ARGS ?= --method pll

.PHONY: all
all: $(RUN)/eval/results.json

$(RUN)/data-%/manifest.json:
	$(LORAKIT) gen-data faithfulness --lang $* --out $(RUN)/data-$* --corpus-mb $(CORPUS_MB) --test-size $(TEST_SIZE) --seed $(SEED) --force

$(RUN)/bert-%/config.json: $(RUN)/data-%/manifest.json
	$(LORAKIT) pretrain-bert $(RUN)/data-$*/corpus.txt --out $(RUN)/bert-$* --seed $(SEED) --force $(BERT_ARGS)

$(RUN)/scored-%.jsonl: $(RUN)/bert-%/config.json
	$(LORAKIT) rescore $(RUN)/bert-$* $(RUN)/data-$*/test.jsonl --out $@ --force $(RESCORE_ARGS)

$(RUN)/scored.jsonl: $(LANGS:%=$(RUN)/scored-%.jsonl)
	cat $^ > $@

$(RUN)/eval/results.json: $(RUN)/scored.jsonl
	$(LORAKIT) eval --task faithfulness $< --out $(RUN)/eval --force
