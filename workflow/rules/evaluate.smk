# Any proposal or detection CSV named in config["evaluation"]["predictions"] -> metrics
# against the dataset's ground truth: results/<dataset>/evaluation/<name>.json (+ a one-row
# .csv table). Later stages only have to write CSV files; an entry in the config evaluates it.
# Helpers (nemi.evaluation.workflow) take the config explicitly; the rule file holds rules only.

import nemi.evaluation
import nemi.evaluation.workflow as evaluation_wf


rule evaluate_predictions:
    input:
        gt=lambda wc: evaluation_wf.ground_truth(config, ground_truth_path()),
        pred=lambda wc: evaluation_wf.entry(config, wc.name)["path"],
    output:
        json=f"{OUT}/evaluation/{{name}}.json",
        csv=f"{OUT}/evaluation/{{name}}.csv",
    log:
        f"{LOGS}/evaluation/{{name}}.log",
    benchmark:
        f"{BENCH}/evaluation/{{name}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    params:
        kind=lambda wc: evaluation_wf.entry(config, wc.name)["kind"],
        args=lambda wc: evaluation_wf.cli_args(config, wc.name),
        # Listed so that the params trigger reruns the rule when the entry or the code's meaning changes.
        settings=lambda wc: evaluation_wf.entry(config, wc.name),
        version=nemi.evaluation.VERSION,
    shell:
        "nemi evaluate {params.kind} --gt {input.gt:q} --pred {input.pred:q} {params.args}"
        " --json {output.json:q} --csv {output.csv:q} > {log} 2>&1"


rule detect:
    input:
        proposals=lambda wc: config["detect"]["runs"][wc.name]["proposals"],
        scores=lambda wc: evaluation_wf.detect_scores(config, wc.name, OUT),
    output:
        f"{OUT}/detections/{{name}}.csv",
    log:
        f"{LOGS}/detect/{{name}}.log",
    benchmark:
        f"{BENCH}/detect/{{name}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    params:
        scores_flag=lambda wc: evaluation_wf.detect_scores_flag(config, wc.name),
        detect_params=lambda wc: evaluation_wf.detect_params_json(config),
    shell:
        "nemi detect --proposals {input.proposals:q} {params.scores_flag} {input.scores:q}"
        " --params {params.detect_params:q} --out {output:q} 2> {log}"


rule classify:
    input:
        features=expand(f"{OUT}/features/{{shard}}.h5", shard=SHARDS),
        gt=lambda wc: evaluation_wf.ground_truth(config, ground_truth_path()),
        manifest=manifest_path(),
    output:
        scores=f"{OUT}/classify/class_scores.csv",
        model=f"{OUT}/classify/model.npz",
    log:
        f"{LOGS}/classify/classify.log",
    benchmark:
        f"{BENCH}/classify/classify.tsv"
    conda:
        "../../envs/nemi.yaml"
    params:
        c=config["detect"]["classifier"],
    shell:
        "nemi classify --train-features {input.features} --train-gt {input.gt:q} --manifest {input.manifest:q}"
        " --train-split {params.c[train_split]} --l2 {params.c[l2]} --features {input.features}"
        " --out {output.scores:q} --model-out {output.model:q} 2> {log}"
