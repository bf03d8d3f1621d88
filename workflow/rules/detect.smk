# Labelled detections from proposals and video-level class scores (UntrimmedNet's, a class-score CSV,
# or the built-in classifier trained by rule classify) -> results/<dataset>/detections/<name>.csv.

import nemi.detect.classifier as _classifier
import nemi.detect.workflow as detect_wf
import nemi.evaluation.workflow as evaluation_wf
import nemi.experiments as _experiments


rule detect:
    input:
        proposals=lambda wc: DS(wc.dataset)["detect"]["runs"][wc.name]["proposals"],
        scores=lambda wc: detect_wf.detect_scores(DS(wc.dataset), wc.name, f"results/{wc.dataset}"),
    output:
        f"{OUT}/detections/{{name}}.csv",
    log:
        f"{LOGS}/detect/{{name}}.log",
    benchmark:
        f"{BENCH}/detect/{{name}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        scores_flag=lambda wc: detect_wf.detect_scores_flag(DS(wc.dataset), wc.name),
        detect_params=lambda wc: detect_wf.detect_params_json(DS(wc.dataset)),
    shell:
        "nemi detect --proposals {input.proposals:q} {params.scores_flag} {input.scores:q}"
        " --params {params.detect_params:q} --out {output:q} 2> {log:q}"


rule classify:
    input:
        features=shard_files("features"),
        gt=lambda wc: evaluation_wf.ground_truth(DS(wc.dataset), ground_truth_path(wc.dataset)),
        manifest=lambda wc: manifest_path(wc.dataset),
    output:
        scores=f"{OUT}/classify/class_scores.csv",
        model=f"{OUT}/classify/model.npz",
    log:
        f"{LOGS}/classify/classify.log",
    benchmark:
        f"{BENCH}/classify/classify.tsv"
    conda:
        "../../envs/nemi.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        p=lambda wc: stage_params(DS(wc.dataset)["detect"]["classifier"], _classifier.ClassifierParams, 1),
    shell:
        "nemi classify --train-features {input.features:q} --train-gt {input.gt:q} --manifest {input.manifest:q}"
        " --params {params.p:q} --features {input.features:q}"
        " --out {output.scores:q} --model-out {output.model:q} 2> {log:q}"


# An experiment's run: its proposals labelled with the dataset's video-level class scores (detect.scores).
rule detect_experiment:
    input:
        proposals=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.csv",
        scores=lambda wc: _experiments.class_scores(DS(wc.dataset), f"results/{wc.dataset}"),
    output:
        f"{OUT}/detections/{{experiment}}/seed{{seed}}.csv",
    log:
        f"{LOGS}/detect/{{experiment}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/detect/{{experiment}}/seed{{seed}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        scores_flag=lambda wc: _experiments.class_scores_flag(DS(wc.dataset)),
        detect_params=lambda wc: detect_wf.detect_params_json(DS(wc.dataset)),
    shell:
        "nemi detect --proposals {input.proposals:q} {params.scores_flag} {input.scores:q}"
        " --params {params.detect_params:q} --out {output:q} 2> {log:q}"
