# Videos of a shard -> one HDF5 file of frames on the fixed timeline (temporary).

import nemi.decode.shard as _decode


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
        p=stage_params(config["decode"], _decode.DecodeParams, _decode.VERSION),
    shell:
        "nemi decode --manifest {input.manifest:q} --shard {wildcards.shard} --shard-size {params.shard_size}"
        " --out {output.frames:q} --skipped {output.skipped:q} --on-error {params.on_error}"
        " --params {params.p:q} 2> {log:q}"
