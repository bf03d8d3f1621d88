# One timeline picture per video: change curve, threshold, boundaries, true actions.

import shlex


rule plot_timeline:
    input:
        curves=f"{OUT}/changes/{{kind}}/{{shard}}.h5",
        labels=f"{OUT}/pseudo_labels/{{kind}}.json",
        gt=lambda wc: ground_truth_path(wc.dataset) or [],
    output:
        directory(f"{OUT}/plots/timeline/{{kind}}/{{shard}}"),
    log:
        f"{LOGS}/plot/{{kind}}_{{shard}}.log",
    benchmark:
        f"{BENCH}/plot/{{kind}}_{{shard}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    resources:
        mem_mb=2000,
        runtime=lambda wc: 10 + DS(wc.dataset)["videos"]["shard_size"],
    params:
        gt=lambda wc, input: f"--gt {shlex.quote(str(input.gt))}" if input.gt else "",
    shell:
        "nemi plot timeline --curves {input.curves:q} --labels {input.labels:q} {params.gt}"
        " --out-dir {output:q} 2> {log:q}"
