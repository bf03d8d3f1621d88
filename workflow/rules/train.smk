# RTD-Net trained on a dataset's training split through the configured schedule; held-out training
# videos choose the checkpoint. results/<dataset>/train/: model.pt (what goes downstream), epochs.csv,
# learning_curve.png, run.json; runs/<config hash>/ holds the checkpoints a killed run resumes from.

import nemi.train as _train
from nemi.fit.params import TrainParams as _TrainP


rule train:
    input:
        features=shard_files("features"),
        boundary=f"{OUT}/tem/boundary.h5",
        manifest=lambda wc: manifest_path(wc.dataset),
        gt=training_ground_truth,
        pretrained=pretrained_input,
    output:
        model=f"{OUT}/train/model.pt",
        epochs=f"{OUT}/train/epochs.csv",
        curve=f"{OUT}/train/learning_curve.png",
        record=f"{OUT}/train/run.json",
    log:
        f"{LOGS}/train/train.log",
    benchmark:
        f"{BENCH}/train/train.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 2
    resources:
        gpu=lambda wc: DS(wc.dataset)["train"]["gpus"],
    params:
        p=lambda wc: stage_params(DS(wc.dataset)["train"], _TrainP, _train.VERSION),
        model=model_params,
        out_dir=lambda wc: f"results/{wc.dataset}/train",
    shell:
        "nemi train --features {input.features:q} --boundary {input.boundary:q} --manifest {input.manifest:q}"
        " --ground-truth {input.gt:q} --out-dir {params.out_dir:q} --model-params {params.model:q}"
        " --params {params.p:q} > {log:q} 2>&1"
