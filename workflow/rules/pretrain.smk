# NEMI pretraining: RTD-Net on a dataset's pseudo activities alone (no annotation file among the inputs;
# the boundary prior is fitted on pseudo labels too), built with the architecture of the experiments that
# fine-tune from it (pretrain_params), whatever dataset they are on; from random weights or from
# pretrain.init, another pretraining's model.pt (an input: replacing it reruns the job). The train section
# it gets has no train.pretrained, which is fine-tuning's and may have seen annotations. One job per entry of
# `pretrainings` and seed, shared by every experiment naming it (pretrain.seeding: per_run, one per
# fine-tuning seed; shared, one): results/<dataset>/pretrain/<name>/seed<k>/ holds model.pt, epochs.csv,
# learning_curve.png, run.json, and runs/<config hash>/ the checkpoints a killed run resumes from.

rule pretrain:
    input:
        features=shard_files("features"),
        boundary=pretrain_boundary,
        labels=pretrain_labels,
        manifest=lambda wc: manifest_path(wc.dataset),
        init=pretrain_init_input,
    output:
        model=f"{OUT}/pretrain/{{pretraining}}/seed{{seed}}/model.pt",
        epochs=f"{OUT}/pretrain/{{pretraining}}/seed{{seed}}/epochs.csv",
        curve=f"{OUT}/pretrain/{{pretraining}}/seed{{seed}}/learning_curve.png",
        record=f"{OUT}/pretrain/{{pretraining}}/seed{{seed}}/run.json",
    log:
        f"{LOGS}/pretrain/{{pretraining}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/pretrain/{{pretraining}}/seed{{seed}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    resources:
        gpu=lambda wc: DS(wc.dataset)["train"]["gpus"],
    params:
        p=pretrain_params,
        out_dir=lambda wc: f"results/{wc.dataset}/pretrain/{wc.pretraining}/seed{wc.seed}",
    shell:
        "nemi pretrain --features {input.features:q} --boundary {input.boundary:q} --pseudo-labels {input.labels:q}"
        " --manifest {input.manifest:q} --dataset {wildcards.dataset} --out-dir {params.out_dir:q}"
        " --params {params.p:q} > {log:q} 2>&1"
