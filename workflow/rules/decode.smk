# Videos of a shard -> one HDF5 file of frames on the fixed timeline (temporary).


def shard_videos(wildcards):
    ids = SHARDS[wildcards.shard]
    if config["videos"]["source"] == "synth":
        return [f"{SYNTH_DIR}/videos/{v}.mp4" for v in ids]
    return []  # the user's videos are not produced by the workflow; decode reports missing ones


rule decode:
    input:
        manifest=manifest_path(),
        videos=shard_videos,
    output:
        frames=temp(f"{OUT}/frames/{{shard}}.h5"),
        skipped=f"{OUT}/frames/{{shard}}.skipped.csv",
    params:
        shard_size=config["videos"]["shard_size"],
        on_error=config["videos"]["on_error"],
        d=config["decode"],
    threads: 1
    log:
        f"{LOGS}/decode/{{shard}}.log",
    benchmark:
        f"{BENCH}/decode/{{shard}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    shell:
        "nemi decode --manifest {input.manifest} --shard {wildcards.shard} --shard-size {params.shard_size}"
        " --out {output.frames} --skipped {output.skipped} --on-error {params.on_error}"
        " --fps {params.d[fps]} --width-px {params.d[width_px]} --height-px {params.d[height_px]}"
        " --codec {params.d[codec]} --jpeg-quality {params.d[jpeg_quality]} 2> {log}"


rule skipped_videos:
    input:
        expand(f"{OUT}/frames/{{shard}}.skipped.csv", shard=SHARDS),
    output:
        f"{OUT}/skipped_videos.csv",
    log:
        f"{LOGS}/decode/skipped_videos.log",
    conda:
        "../../envs/nemi.yaml"
    shell:
        "nemi decode gather-skipped {input} --out {output} 2> {log}"
