# Any proposal or detection CSV named in config["evaluation"]["predictions"] -> metrics
# against the dataset's ground truth: results/<dataset>/evaluation/<name>.json (+ a one-row
# .csv table). Later stages only have to write CSV files; an entry in the config evaluates it.
# Helpers (nemi.evaluation.workflow) take the config explicitly; the rule file holds rules only.
# Detections are made by the detect stage (detect.smk).

import nemi.evaluation
import nemi.evaluation.workflow as evaluation_wf


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
