# Change curves of all shards -> one pseudo-label JSON per dataset and change detector.
# Thresholds live only here: changing tau reruns this rule and what follows, nothing before.

import nemi.detectors
import nemi.labels.pseudo_labels as _labels


rule pseudo_labels:
    input:
        lambda wc: [f"results/{wc.dataset}/changes/{wc.kind}/{s}.h5" for s in shards(wc.dataset)],
    output:
        f"{OUT}/pseudo_labels/{{kind}}.json",
    log:
        f"{LOGS}/labels/{{kind}}.log",
    benchmark:
        f"{BENCH}/labels/{{kind}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        p=lambda wc: stage_params(
            DS(wc.dataset)["labels"][wc.kind],
            nemi.detectors.get(wc.kind).boundary_params,
            _labels.VERSION,
        ),
    shell:
        "nemi labels {wildcards.kind} --dataset {wildcards.dataset} --curves {input:q} --out {output:q}"
        " --params {params.p:q} 2> {log:q}"
