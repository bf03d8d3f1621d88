# Videos of a shard -> one HDF5 file of frames on the fixed timeline (temporary).

import nemi.decode.shard as _decode


rule decode:
    input:
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
    resources:
        mem_mb=1000,
        # minutes: about 1 min per video at most (benchmarks/README.md: ~1,500 frames/s)
        runtime=lambda wc: 10 + DS(wc.dataset)["videos"]["shard_size"],
    params:
        manifest=lambda wc: manifest_path(wc.dataset),
        rows=shard_rows,
        shard_size=lambda wc: DS(wc.dataset)["videos"]["shard_size"],
        on_error=lambda wc: DS(wc.dataset)["videos"]["on_error"],
        p=lambda wc: stage_params(DS(wc.dataset)["decode"], _decode.DecodeParams, _decode.VERSION),
    shell:
        "nemi decode --manifest {params.manifest:q} --shard {wildcards.shard} --shard-size {params.shard_size}"
        " --out {output.frames:q} --skipped {output.skipped:q} --on-error {params.on_error}"
        " --params {params.p:q} 2> {log:q}"
