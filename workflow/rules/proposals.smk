# Each experiment's proposals for its dataset's test split (evaluation.test_split), per seed:
# results/<dataset>/proposals/<experiment>/seed<n>.csv (video_id,t_start,t_end,score), .json (the
# record: checkpoint sha256 and config hash, or the windows' settings and what was clipped) and
# .videos.txt (the videos proposed for). Method rtd: a fine-tuned RTD-Net (rule proposals); method
# sliding_window: multi-scale windows, nothing trained (rule proposals_sliding_window, seed 0 only).

import nemi.proposals as _proposals


# A sliding_window experiment's files could be made by either rule; only this one takes its name.
ruleorder: proposals_sliding_window > proposals


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
        "nemi proposals rtd --checkpoint {input.checkpoint:q} --features {input.features:q}"
        " --boundary {input.boundary:q} --manifest {input.manifest:q} --split {params.split:q} --out {output.csv:q}"
        " --params {params.p:q} > {log:q} 2>&1"


rule proposals_sliding_window:
    input:
        features=shard_files("features"),
        manifest=lambda wc: manifest_path(wc.dataset),
    output:
        csv=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.csv",
        json=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.json",
        videos=f"{OUT}/proposals/{{experiment}}/seed{{seed}}.videos.txt",
    log:
        f"{LOGS}/proposals/{{experiment}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/proposals/{{experiment}}/seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=sliding_window_experiments(),
        seed="0",
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    params:
        p=lambda wc: sliding_window_params(wc),
        top_n=lambda wc: DS(wc.dataset)["proposals"]["top_n"],
        split=lambda wc: DS(wc.dataset)["evaluation"]["test_split"],
    shell:
        "nemi proposals sliding-window --features {input.features:q} --manifest {input.manifest:q}"
        " --split {params.split:q} --top-n {params.top_n} --out {output.csv:q} --params {params.p:q} > {log:q} 2>&1"
