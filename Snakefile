# nemi: self-supervised pretraining for temporal action localisation (NEMI), as a pipeline.
# This file is the table of contents; each stage has one rule file in workflow/rules/
# and one module in nemi/. `snakemake --cores 2` runs the embedded demo.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# The wiring every rule file uses, in this order: the config checked, each dataset's merged config
# (and the wildcard constraints, before any rule), input functions, rule parameters, experiments, handlers.
include: "workflow/rules/config.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/params.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/handlers.smk"
# One rule file per stage.
include: "workflow/rules/synth.smk"
include: "workflow/rules/decode.smk"
include: "workflow/rules/i3d.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/changes.smk"
include: "workflow/rules/labels.smk"
include: "workflow/rules/plot.smk"
include: "workflow/rules/tem.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/proposals.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# A function, so that the default targets' datasets are merged and checked only when rule all is wanted:
# a run that names its own target never judges the config's default datasets.
rule all:
    default_target: True
    input:
        lambda wildcards: final_outputs(),
