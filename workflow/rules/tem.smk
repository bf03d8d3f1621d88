# The boundary prior of RTD-Net, one file per dataset: results/<dataset>/tem/boundary.h5. Kind tem
# fits BSN's TEM on the training split's annotations; change reads the cnn change curves; none is ones.

import nemi.tem.cli as _tem_cli
from nemi.tem import TemParams as _TemP


rule tem:
    input:
        features=shard_files("features"),
        manifest=lambda wc: manifest_path(wc.dataset),
        gt=training_ground_truth,
        curves=tem_curves,
    output:
        f"{OUT}/tem/boundary.h5",
    log:
        f"{LOGS}/tem/tem.log",
    benchmark:
        f"{BENCH}/tem/tem.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 2
    params:
        p=lambda wc: stage_params(DS(wc.dataset)["tem"], _TemP, _tem_cli.VERSION),
        window=lambda wc: DS(wc.dataset)["model"]["window_steps"],
        stride=lambda wc: DS(wc.dataset)["train"]["train_stride"],
    shell:
        "nemi tem --features {input.features:q} --manifest {input.manifest:q} --ground-truth {input.gt:q}"
        " --curves {input.curves:q} --window-steps {params.window} --stride {params.stride}"
        " --out {output:q} --params {params.p:q} > {log:q} 2>&1"


# NEMI pretraining's prior: the same TEM fitted on a detector's pseudo activities of the pretraining's
# splits (train, or train-test when transductive), so no human label reaches the pretraining.
rule tem_pseudo:
    input:
        features=shard_files("features"),
        manifest=lambda wc: manifest_path(wc.dataset),
        labels=f"{OUT}/pseudo_labels/{{kind}}.json",
        curves=tem_curves,
    output:
        f"{OUT}/tem/pseudo_{{kind}}.{{splits}}.h5",
    log:
        f"{LOGS}/tem/pseudo_{{kind}}.{{splits}}.log",
    benchmark:
        f"{BENCH}/tem/pseudo_{{kind}}.{{splits}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    params:
        p=lambda wc: stage_params(DS(wc.dataset)["tem"], _TemP, _tem_cli.VERSION),
        window=lambda wc: DS(wc.dataset)["model"]["window_steps"],
        stride=lambda wc: DS(wc.dataset)["train"]["train_stride"],
        splits=lambda wc: " ".join(wc.splits.split("-")),
    shell:
        "nemi tem --features {input.features:q} --manifest {input.manifest:q} --pseudo-labels {input.labels:q}"
        " --splits {params.splits} --curves {input.curves:q} --window-steps {params.window} --stride {params.stride}"
        " --out {output:q} --params {params.p:q} > {log:q} 2>&1"
