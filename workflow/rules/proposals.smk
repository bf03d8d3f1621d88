# A fine-tuned RTD-Net's proposals for its dataset's test split (evaluation.test_split), per experiment
# and seed: results/<dataset>/proposals/<experiment>/seed<n>.csv (video_id,t_start,t_end,score), .json
# (checkpoint sha256, config hash, version) and .videos.txt (the videos proposed for).

import nemi.proposals as _proposals


rule proposals:
    input:
        checkpoint=f"{OUT}/train/{{experiment}}/seed{{seed}}/model.pt",
        features=shard_files("features"),
        boundary=f"{OUT}/tem/boundary.h5",
        manifest=lambda wc: manifest_path(wc.dataset),
    output:
        csv=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.csv",
        json=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.json",
        videos=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.videos.txt",
    log:
        f"{LOGS}/proposals/{{experiment}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/proposals/{{experiment}}/seed{{seed}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    params:
        p=lambda wc: stage_params(DS(wc.dataset)["proposals"], _proposals.ProposalParams, _proposals.VERSION),
        split=lambda wc: DS(wc.dataset)["evaluation"]["test_split"],
    shell:
        "nemi proposals --checkpoint {input.checkpoint:q} --features {input.features:q}"
        " --boundary {input.boundary:q} --manifest {input.manifest:q} --split {params.split:q} --out {output.csv:q}"
        " --params {params.p:q} > {log:q} 2>&1"
