# One timeline picture per video: change curve, threshold, boundaries, true actions.


rule plot_timeline:
    input:
        curves=f"{OUT}/changes/{{kind}}/{{shard}}.h5",
        labels=f"{OUT}/pseudo_labels/{{kind}}.json",
        gt=lambda wc: ground_truth_path() or [],
    output:
        directory(f"{OUT}/plots/timeline/{{kind}}/{{shard}}"),
    log:
        f"{LOGS}/plot/{{kind}}_{{shard}}.log",
    benchmark:
        f"{BENCH}/plot/{{kind}}_{{shard}}.tsv"
    wildcard_constraints:
        kind="hog|cnn",
    conda:
        "../../envs/nemi.yaml"
    params:
        gt=lambda wc, input: f"--gt {input.gt}" if input.gt else "",
    shell:
        "nemi plot timeline --curves {input.curves} --labels {input.labels} {params.gt}"
        " --out-dir {output} 2> {log}"
