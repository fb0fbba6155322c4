# The rescoring study's sweep: which pretraining setting wins per language, next to its typology.
#   make -f examples/faithsweep.mk RUN=runs/demo-sweep          (what `make demo-sweep` runs)
#   make -f examples/faithsweep.mk RUN=runs/sweep SETTINGS="base dropout" ARGS="STEPS=4000"
# Each setting is the demo's faithfulness pipeline (examples/faithfulness.mk, faithfulness pairs
# only) with one change from its settings (4 layers, dropout 0, MLM): dropout 0.1, depth 2 or 6,
# MLM + NSP. The three languages of a setting run together, the settings one after another
# (~21 min each on 2 cores, measured for the base). The report marks each column's best.

LORAKIT  ?= lorakit
RUN      ?= runs/demo-sweep
SETTINGS ?= base dropout depth2 depth6 nsp
LANGS    ?= vi pl ka
ARGS     ?=
# extra variables for every setting, e.g. ARGS="STEPS=800 CORPUS_MB=1"

base     :=
dropout  := DROPOUT=0.1
depth2   := LAYERS=2
depth6   := LAYERS=6
nsp      := OBJECTIVE=mlm+nsp
comma    := ,

.PHONY: all
.SECONDARY:  # keep each setting's results
all: $(RUN)/report.md
	@cat $<

$(RUN)/%/eval/results.json:
	$(MAKE) --no-print-directory -f examples/faithfulness.mk LORAKIT=$(LORAKIT) RUN=$(RUN)/$* LANGS="$(LANGS)" $($*) $(ARGS) $@

$(RUN)/report.md: $(SETTINGS:%=$(RUN)/%/eval/results.json)
	$(LORAKIT) report $(foreach s,$(SETTINGS),$(s)=$(RUN)/$(s)/eval) --best --quiet --force --out $@ \
	    --tasks faithfulness,$(subst $(eval) ,$(comma),$(LANGS:%=faithfulness/%)) --title "Faithfulness sweep (pairwise accuracy, %)"
