# Frame shard -> feature shard of two-stream I3D snippet features (RGB 1024 + flow 1024), or, for a
# dataset with features.source: import, published per-video features -> the same layout.
# `features` asks for one GPU (resources gpu) unless features.device is cpu; the profiles say how many.

import nemi.features.imported as _imported

rule features:
    input:
        frames=f"{OUT}/frames/{{shard}}.h5",
        # Functions, so a missing weights file stops only runs that need features.
        rgb_weights=weights_input("rgb_weights"),
        flow_weights=weights_input("flow_weights"),
        cost=flow_cost_notice,  # no file: prints the CPU time of TV-L1 flow, once a dataset
    output:
        f"{OUT}/features/{{shard}}.h5",
    log:
        f"{LOGS}/features/{{shard}}.log",
    benchmark:
        f"{BENCH}/features/{{shard}}.tsv"
    wildcard_constraints:
        dataset=datasets_where(lambda n: not imports_features(n)),
    conda:
        "../../envs/nemi.yaml"
    threads: lambda wc: DS(wc.dataset)["features"]["threads"]
    resources:
        # One GPU unless the dataset's features.device is cpu (auto falls back to the CPU where none is).
        gpu=lambda wc: int(DS(wc.dataset)["features"]["device"] != "cpu"),
        mem_mb=4000,
        # minutes: TV-L1 flow runs on the CPU at ~0.6 frame pairs/s (benchmarks/README.md), over 3 h for a
        # 4-minute 30 fps video; with DIS or Farneback flow a video takes minutes.
        runtime=lambda wc: 30 + DS(wc.dataset)["videos"]["shard_size"]
        * (240 if DS(wc.dataset)["features"]["flow_method"] == "tvl1" else 10),
    params:
        # Only what changes the numbers (device: AMP on a GPU changes them by ~1e-3),
        # so editing features.import.* never reruns extraction.
        p=lambda wc: stage_params(DS(wc.dataset)["features"], _extract.ExtractParams, _extract.VERSION),
        rgb=lambda wc: DS(wc.dataset)["features"]["rgb_weights"],
        flow=lambda wc: DS(wc.dataset)["features"]["flow_weights"],
    shell:
        "nemi features extract --frames {input.frames:q} --out {output:q}"
        " --rgb-weights {params.rgb:q} --flow-weights {params.flow:q}"
        " --params {params.p:q} --threads {threads} 2> {log:q}"


rule features_import:
    input:
        # A generated dataset's manifest is made by rule synth; a given one is read when the DAG is built.
        manifest=lambda wc: [manifest_path(wc.dataset)] if is_synth(wc.dataset) or is_rehearsal(wc.dataset) else [],
    output:
        f"{OUT}/features/{{shard}}.h5",
    log:
        f"{LOGS}/features_import/{{shard}}.log",
    benchmark:
        f"{BENCH}/features_import/{{shard}}.tsv"
    wildcard_constraints:
        dataset=datasets_where(imports_features),
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        src=import_dir,
        i=import_section,
        manifest=lambda wc: manifest_path(wc.dataset),
        rows=shard_rows,
        shard_size=lambda wc: DS(wc.dataset)["videos"]["shard_size"],
        version=_imported.VERSION,
    shell:
        "nemi features import --source-dir {params.src:q} --format {params.i[format]}"
        " --stride-frames {params.i[stride_frames]} --window-frames {params.i[window_frames]}"
        " --offset-frames {params.i[offset_frames]} --fps {params.i[fps]}"
        " --manifest {params.manifest:q} --shard {wildcards.shard} --shard-size {params.shard_size}"
        " --out {output:q} 2> {log:q}"


# videos.source rehearsal: a benchmark's real annotations (Thumos14's or ActivityNet-1.3's) with synthetic features
# (nemi.features.rehearsal), one <video>.npy per video in the ActionFormer layout, with the manifest and ground
# truth; features_import reads them.
rule features_rehearsal:
    output:
        manifest=f"{OUT}/features/rehearsal/videos.csv",
        groundtruth=f"{OUT}/features/rehearsal/groundtruth.csv",
        record=f"{OUT}/features/rehearsal/rehearsal.json",
    log:
        f"{LOGS}/features_rehearsal/features_rehearsal.log",
    benchmark:
        f"{BENCH}/features_rehearsal/features_rehearsal.tsv"
    wildcard_constraints:
        dataset=datasets_where(is_rehearsal),
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        out=lambda wc, output: os.path.dirname(output.manifest),
        p=lambda wc: stage_params(DS(wc.dataset)["features"]["rehearsal"], _rehearsal.RehearsalParams,
                                  _rehearsal.VERSION),
    shell:
        "nemi features rehearsal --out {params.out:q} --params {params.p:q} 2> {log:q}"
