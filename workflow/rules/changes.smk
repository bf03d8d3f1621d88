# Change curves, one file per shard and change detector, cached so that thresholds can change without
# recomputing them. The detector (nemi/detectors/) says whether it reads frame or feature shards.

import nemi.detectors


rule changes:
    input:
        detector_input,
    output:
        f"{OUT}/changes/{{kind}}/{{shard}}.h5",
    log:
        f"{LOGS}/changes/{{kind}}/{{shard}}.log",
    benchmark:
        f"{BENCH}/changes/{{kind}}/{{shard}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=lambda wc: 10 + DS(wc.dataset)["videos"]["shard_size"],
    params:
        p=lambda wc: stage_params(
            DS(wc.dataset)["changes"][wc.kind],
            nemi.detectors.get(wc.kind).curve_params,
            nemi.detectors.get(wc.kind).VERSION,
        ),
        flag=lambda wc: nemi.detectors.get(wc.kind).input,
    shell:
        "nemi changes {wildcards.kind} --{params.flag} {input:q} --out {output:q} --params {params.p:q} 2> {log:q}"
