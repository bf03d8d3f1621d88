# RTD-Net fine-tuned on a dataset's training split, once per experiment and seed: from scratch, or from
# the pretraining the experiment names (its matching weights). Held-out training videos choose the
# checkpoint. results/<dataset>/train/<experiment>/seed<n>/: model.pt (what goes downstream),
# epochs.csv, learning_curve.png, run.json; runs/<config hash>/ holds the checkpoints a killed run
# resumes from.

rule train:
    input:
        features=shard_files("features"),
        boundary=f"{OUT}/tem/boundary.h5",
        manifest=lambda wc: manifest_path(wc.dataset),
        gt=training_ground_truth,
        pretrained=pretrained_input,
        init=init_input,
    output:
        model=f"{OUT}/train/{{experiment}}/seed{{seed}}/model.pt",
        epochs=f"{OUT}/train/{{experiment}}/seed{{seed}}/epochs.csv",
        curve=f"{OUT}/train/{{experiment}}/seed{{seed}}/learning_curve.png",
        record=f"{OUT}/train/{{experiment}}/seed{{seed}}/run.json",
    log:
        f"{LOGS}/train/{{experiment}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/train/{{experiment}}/seed{{seed}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    resources:
        gpu=lambda wc: DS(wc.dataset)["train"]["gpus"],
    params:
        p=train_params,
        init=lambda wc: f"--init {init_input(wc)[0]}" if init_input(wc) else "",
        out_dir=lambda wc: f"results/{wc.dataset}/train/{wc.experiment}/seed{wc.seed}",
    shell:
        "nemi train --features {input.features:q} --boundary {input.boundary:q} --manifest {input.manifest:q}"
        " --ground-truth {input.gt:q} --out-dir {params.out_dir:q} {params.init}"
        " --params {params.p:q} > {log:q} 2>&1"
