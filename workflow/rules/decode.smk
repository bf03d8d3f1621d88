# Videos of a shard -> one HDF5 file of frames on the fixed timeline (temporary).


rule decode:
    input:
        manifest=manifest_path(),
        videos=shard_videos,
    output:
        frames=temp(f"{OUT}/frames/{{shard}}.h5"),
        skipped=f"{OUT}/frames/{{shard}}.skipped.csv",
    log:
        f"{LOGS}/decode/{{shard}}.log",
    benchmark:
        f"{BENCH}/decode/{{shard}}.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    params:
        shard_size=config["videos"]["shard_size"],
        on_error=config["videos"]["on_error"],
        d=config["decode"],
        version=DECODE_VERSION,
    shell:
        "nemi decode --manifest {input.manifest} --shard {wildcards.shard} --shard-size {params.shard_size}"
        " --out {output.frames} --skipped {output.skipped} --on-error {params.on_error}"
        " --fps {params.d[fps]} --width-px {params.d[width_px]} --height-px {params.d[height_px]}"
        " --codec {params.d[codec]} --jpeg-quality {params.d[jpeg_quality]} 2> {log}"
