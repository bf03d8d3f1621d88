# Change curves of all shards -> one pseudo-label JSON per dataset and kind.
# Thresholds live only here: changing tau reruns this rule and what follows, nothing before.


rule pseudo_labels:
    input:
        lambda wc: expand(f"{OUT}/changes/{wc.kind}/{{shard}}.h5", shard=SHARDS),
    output:
        f"{OUT}/pseudo_labels/{{kind}}.json",
    log:
        f"{LOGS}/labels/{{kind}}.log",
    benchmark:
        f"{BENCH}/labels/{{kind}}.tsv"
    wildcard_constraints:
        kind="hog|cnn",
    conda:
        "../../envs/nemi.yaml"
    params:
        dataset=DATASET,
        args=lambda wc: labels_args(wc.kind),
        # Listed so that Snakemake's params trigger reruns this rule when they change.
        settings=lambda wc: config["labels"][wc.kind],
        version=LABELS_VERSION,
    shell:
        "nemi labels --kind {wildcards.kind} --dataset {params.dataset} --curves {input} --out {output}"
        " {params.args} 2> {log}"
