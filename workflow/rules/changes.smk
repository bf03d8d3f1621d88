# Change curves, cached so that thresholds can change without recomputing them.


rule changes_hog:
    input:
        frames=f"{OUT}/frames/{{shard}}.h5",
    output:
        f"{OUT}/changes/hog/{{shard}}.h5",
    log:
        f"{LOGS}/changes_hog/{{shard}}.log",
    benchmark:
        f"{BENCH}/changes_hog/{{shard}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    params:
        h=config["changes"]["hog"],
        version=HOG_CURVE_VERSION,
    shell:
        "nemi changes hog --frames {input.frames} --out {output} --cell-px {params.h[cell_px]}"
        " --height-px {params.h[height_px]} --width-px {params.h[width_px]} 2> {log}"


rule changes_cnn:
    input:
        features=f"{OUT}/features/{{shard}}.h5",
    output:
        f"{OUT}/changes/cnn/{{shard}}.h5",
    log:
        f"{LOGS}/changes_cnn/{{shard}}.log",
    benchmark:
        f"{BENCH}/changes_cnn/{{shard}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    params:
        metric=config["changes"]["cnn"]["metric"],
        version=CNN_CURVE_VERSION,
    shell:
        "nemi changes cnn --features {input.features:q} --out {output:q} --metric {params.metric} 2> {log}"
