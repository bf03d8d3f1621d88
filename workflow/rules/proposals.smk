# The trained RTD-Net's proposals for a dataset's test split: results/<dataset>/proposals/rtd.csv
# (video_id,t_start,t_end,score), rtd.json (checkpoint sha256, config hash, version) and rtd.videos.txt.
# An evaluation.predictions entry naming rtd.csv evaluates them (evaluate.smk).

import nemi.proposals as _proposals


rule proposals:
    input:
        checkpoint=f"{OUT}/train/model.pt",
        features=shard_files("features"),
        boundary=f"{OUT}/tem/boundary.h5",
        manifest=lambda wc: manifest_path(wc.dataset),
    output:
        csv=f"{OUT}/proposals/rtd.csv",
        json=f"{OUT}/proposals/rtd.json",
        videos=f"{OUT}/proposals/rtd.videos.txt",
    log:
        f"{LOGS}/proposals/rtd.log",
    benchmark:
        f"{BENCH}/proposals/rtd.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 2
    params:
        p=lambda wc: stage_params(DS(wc.dataset)["proposals"], _proposals.ProposalParams, _proposals.VERSION),
    shell:
        "nemi proposals --checkpoint {input.checkpoint:q} --features {input.features:q}"
        " --boundary {input.boundary:q} --manifest {input.manifest:q} --out {output.csv:q}"
        " --params {params.p:q} > {log:q} 2>&1"
