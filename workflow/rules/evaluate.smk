# Any proposal or detection CSV named in config["evaluation"]["predictions"] -> metrics
# against the dataset's ground truth: results/<dataset>/evaluation/<name>.json (+ a one-row
# .csv table). Later stages only have to write CSV files; an entry in the config evaluates it.
# Helpers (nemi.evaluation.workflow) take the config explicitly; the rule file holds rules only.
# Detections are made by the detect stage (detect.smk).

import nemi.evaluation
import nemi.evaluation.workflow as evaluation_wf
import nemi.experiments as _experiments


rule evaluate_predictions:
    input:
        gt=lambda wc: evaluation_wf.ground_truth(DS(wc.dataset), ground_truth_path(wc.dataset)),
        pred=lambda wc: evaluation_wf.entry(DS(wc.dataset), wc.name)["path"],
    output:
        json=f"{OUT}/evaluation/{{name}}.json",
        csv=f"{OUT}/evaluation/{{name}}.csv",
    log:
        f"{LOGS}/evaluation/{{name}}.log",
    benchmark:
        f"{BENCH}/evaluation/{{name}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind=lambda wc: evaluation_wf.entry(DS(wc.dataset), wc.name)["kind"],
        args=lambda wc: evaluation_wf.cli_args(DS(wc.dataset), wc.name),
        # Listed so that the params trigger reruns the rule when the entry or the code's meaning changes.
        settings=lambda wc: evaluation_wf.entry(DS(wc.dataset), wc.name),
        version=nemi.evaluation.VERSION,
    shell:
        "nemi evaluate {params.kind} --gt {input.gt:q} --pred {input.pred:q} {params.args}"
        " --json {output.json:q} --csv {output.csv:q} > {log:q} 2>&1"


# An experiment's run, scored on the test split: AR@AN under each of evaluation.tal_protocols, and the
# mAP of its detections under evaluation.tad_protocol. The report stage gathers them into tables.
rule evaluate_run_proposals:
    input:
        gt=lambda wc: evaluation_wf.ground_truth(DS(wc.dataset), ground_truth_path(wc.dataset)),
        pred=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.csv",
        videos=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.videos.txt",
    output:
        json=f"{OUT}/evaluation/{{experiment}}/seed{{seed}}.{{protocol}}.json",
    log:
        f"{LOGS}/evaluation/{{experiment}}/seed{{seed}}.{{protocol}}.log",
    benchmark:
        f"{BENCH}/evaluation/{{experiment}}/seed{{seed}}.{{protocol}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    params:
        args=lambda wc, input: _experiments.evaluation_args(DS(wc.dataset), wc.protocol, "proposals", input.videos),
        version=nemi.evaluation.VERSION,
    shell:
        "nemi evaluate proposals --gt {input.gt:q} --pred {input.pred:q} {params.args}"
        " --json {output.json:q} > {log:q} 2>&1"


rule evaluate_run_detections:
    input:
        gt=lambda wc: evaluation_wf.ground_truth(DS(wc.dataset), ground_truth_path(wc.dataset)),
        pred=f"{OUT}/detections/{{experiment}}/seed{{seed}}.csv",
        videos=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.videos.txt",
    output:
        json=f"{OUT}/evaluation/{{experiment}}/seed{{seed}}.tad.json",
    log:
        f"{LOGS}/evaluation/{{experiment}}/seed{{seed}}.tad.log",
    benchmark:
        f"{BENCH}/evaluation/{{experiment}}/seed{{seed}}.tad.tsv"
    conda:
        "../../envs/nemi.yaml"
    params:
        args=lambda wc, input: _experiments.evaluation_args(
            DS(wc.dataset), DS(wc.dataset)["evaluation"]["tad_protocol"], "detections", input.videos
        ),
        version=nemi.evaluation.VERSION,
    shell:
        "nemi evaluate detections --gt {input.gt:q} --pred {input.pred:q} {params.args}"
        " --json {output.json:q} > {log:q} 2>&1"
