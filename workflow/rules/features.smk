# Frame shard -> feature shard of two-stream I3D snippet features (RGB 1024 + flow 1024),
# or, with features.source: import, published per-video features -> the same layout.
# A GPU for `features` is a site setting: `set-resources: features:gpu=1` in the slurm profile.

from pathlib import Path

from snakemake.exceptions import WorkflowError

import nemi.features.extract as _extract
import nemi.features.imported as _imported

FEAT = config.get("features")


if FEAT is None:
    pass  # no features section: HOG-only runs; common.smk refuses cnn labels without it
elif FEAT["source"] == "extract":
    if (FEAT["window_frames"] - FEAT["snippet_frames"]) % 2:
        raise WorkflowError(
            "config keys features.window_frames - features.snippet_frames must be even, so that a window of "
            f"whole frames is centred on each snippet; got {FEAT['window_frames']} - {FEAT['snippet_frames']}"
        )

    rule features:
        input:
            frames=f"{OUT}/frames/{{shard}}.h5",
            # Functions, so a missing weights file stops only runs that need features.
            rgb_weights=lambda wc: weights_input("rgb_weights"),
            flow_weights=lambda wc: weights_input("flow_weights"),
        output:
            f"{OUT}/features/{{shard}}.h5",
        log:
            f"{LOGS}/features/{{shard}}.log",
        benchmark:
            f"{BENCH}/features/{{shard}}.tsv"
        conda:
            "../../envs/nemi.yaml"
        threads: 2
        resources:
            mem_mb=4000,
        params:
            # Only what changes the numbers (device: AMP on a GPU changes them by ~1e-3),
            # so editing features.import.* never reruns extraction.
            p=stage_params(FEAT, _extract.ExtractParams, _extract.VERSION),
            rgb=FEAT["rgb_weights"],
            flow=FEAT["flow_weights"],
        shell:
            "nemi features extract --frames {input.frames:q} --out {output:q}"
            " --rgb-weights {params.rgb:q} --flow-weights {params.flow:q}"
            " --params {params.p:q} --threads {threads} 2> {log:q}"

else:
    if not FEAT["import"]["dir"] or not Path(FEAT["import"]["dir"]).is_dir():
        raise WorkflowError(
            f"config key features.import.dir: feature directory {FEAT['import']['dir']} not found"
        )

    rule features_import:
        input:
            manifest=manifest_path(),
        output:
            f"{OUT}/features/{{shard}}.h5",
        log:
            f"{LOGS}/features_import/{{shard}}.log",
        benchmark:
            f"{BENCH}/features_import/{{shard}}.tsv"
        conda:
            "../../envs/nemi.yaml"
        threads: 1
        params:
            i=FEAT["import"],
            shard_size=config["videos"]["shard_size"],
            version=_imported.VERSION,
        shell:
            "nemi features import --source-dir {params.i[dir]:q} --format {params.i[format]}"
            " --stride-frames {params.i[stride_frames]} --window-frames {params.i[window_frames]}"
            " --offset-frames {params.i[offset_frames]} --fps {params.i[fps]}"
            " --manifest {input.manifest:q} --shard {wildcards.shard} --shard-size {params.shard_size}"
            " --out {output:q} 2> {log:q}"
