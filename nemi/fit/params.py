"""FitParams, the parameters of a model-fitting stage (``nemi train``): the network (ModelParams, config
section ``model``), the schedule and loop (TrainParams, section ``train``, and the stages it names), and the
window grid the data is cut into (``windows()``: the model's window length, the train section's strides
and steps). ``nemi pretrain``'s (nemi.pretrain.params) adds the pretraining's switches.

Defaults are written once, in the config schema. A schedule is an ordered
mapping of stages; a partial ``schedules`` (``{"one_stage": {"main": {"epochs": 2}}}``) is merged
key by key into the schema's, so a dataset can shorten a schedule without restating it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from nemi.errors import NemiConfigError
from nemi.model.params import ModelParams  # jsonschema only, no torch
from nemi.params import RULE_ONLY_KEYS, build, defaults, parts

if TYPE_CHECKING:
    from nemi.windows.grid import WindowParams

STAGE_KEYS = ("epochs", "lr", "lr_step_epochs", "lr_gamma", "trainable", "model")
TRAINABLE = ("all", "all_but_completeness", "class_head", "completeness_head")
# Parameter-name prefixes of RTD-Net's heads (nemi.model.rtd), which the stages train apart.
COMPLETENESS_MODULES = ("iou_conv.", "iou_embed.")
CLASS_MODULES = ("class_embed.",)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _check_losses(where: str, losses: Any) -> None:
    """A stage's ``model.losses`` names only terms the criterion has: checked when the DAG is planned, not
    when the stage's job starts (the model section's own losses are checked with the model section)."""
    if losses is None:
        return
    from nemi.model.params import schema  # jsonschema only, no torch

    known = schema()["properties"]["losses"]["items"]["enum"]
    if not isinstance(losses, (list, tuple)):
        raise NemiConfigError(f"{where}.model.losses must be a list of loss names, not {losses!r}")
    unknown = [n for n in losses if n not in known]
    if unknown:
        raise NemiConfigError(f"{where}.model.losses: no loss {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(known)}")


@dataclass(frozen=True)
class Stage:
    name: str
    epochs: int
    lr: float
    lr_step_epochs: int | None
    lr_gamma: float
    trainable: str
    model: Mapping[str, Any]

    def trains(self, parameter_name: str) -> bool:
        """Whether this stage updates the parameter of that name."""
        completeness = parameter_name.startswith(COMPLETENESS_MODULES)
        return {"all": True, "all_but_completeness": not completeness, "completeness_head": completeness,
                "class_head": parameter_name.startswith(CLASS_MODULES)}[self.trainable]

    def model_params(self, base: Mapping[str, Any]) -> ModelParams:
        """The config's model section with this stage's overrides (never of the architecture)."""
        from nemi.model.params import ARCHITECTURE_FIELDS

        arch = sorted(set(self.model) & set(ARCHITECTURE_FIELDS))
        if arch:
            raise NemiConfigError(f"train stage {self.name}: model overrides may not change the architecture "
                                  f"({', '.join(arch)}); set them in the model section")
        return ModelParams.from_dict({**base, **self.model}, where=f"model (with train stage {self.name})")


@dataclass(frozen=True)
class TrainParams:
    """Field meanings and units: the ``train`` section of nemi/schemas/config.schema.yaml."""

    SECTION: ClassVar[str] = "train"

    schedule: str
    schedules: Mapping[str, Any]
    batch_size: int
    weight_decay: float
    clip_max_norm: float
    seed: int
    holdout_share: float
    holdout_seed: int
    select: str
    protocol: str
    train_stride: int
    test_stride: int
    step_frames: int | None
    rescale_steps: int | None
    gpus: int
    workers: int
    checkpoint_every_s: float
    curve_every_s: float
    pretrained: str | None

    def __post_init__(self) -> None:
        if self.schedule not in self.schedules:
            raise ValueError(f"train.schedule: no schedule {self.schedule!r} under train.schedules "
                             f"(known: {', '.join(sorted(self.schedules))})")
        self.stages()  # every stage complete and valid, or an error naming it
        for name, schedule in self.schedules.items():  # a loss misnamed in a schedule not run now is refused too
            for stage, st in (schedule or {}).items():
                _check_losses(f"train.schedules.{name}.{stage}", ((st or {}).get("model") or {}).get("losses"))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None = None) -> TrainParams:
        raw = dict(raw or {})
        if "schedules" in raw:
            raw["schedules"] = merge(defaults(cls.SECTION)["schedules"], raw["schedules"] or {})
        return build(cls, raw)

    def stages(self) -> list[Stage]:
        out = []
        for name, st in self.schedules[self.schedule].items():
            where = f"train.schedules.{self.schedule}.{name}"
            missing = [k for k in STAGE_KEYS if k not in st]
            unknown = sorted(set(st) - set(STAGE_KEYS))
            if missing or unknown:
                raise ValueError(f"{where}: missing {missing} / unknown {unknown}; a stage has {list(STAGE_KEYS)}")
            if st["trainable"] not in TRAINABLE:
                raise ValueError(f"{where}.trainable must be one of {TRAINABLE}, not {st['trainable']!r}")
            if int(st["epochs"]) < 1 or not float(st["lr"]) > 0:
                raise ValueError(f"{where}: epochs must be >= 1 and lr > 0")
            out.append(Stage(name, int(st["epochs"]), float(st["lr"]), st["lr_step_epochs"], float(st["lr_gamma"]),
                             st["trainable"], dict(st["model"] or {})))
        return out

    def replace(self, **changes: Any) -> TrainParams:
        return replace(self, **changes)


@dataclass(frozen=True)
class FitParams:
    """``nemi train``'s parameters, built once (``nemi.params.from_args``, or :meth:`from_dict` of the
    ``{"model": ..., "train": ...}`` sections the rule passes); its flags set the train section."""

    FLAGS: ClassVar[str] = "train"

    model: ModelParams
    train: TrainParams

    def __post_init__(self) -> None:
        # The grid too, so that a bad per-dataset value stops the DAG, not the job.
        for key in ("train_stride", "test_stride"):
            if getattr(self.train, key) > self.model.window_steps:
                raise NemiConfigError(f"train.{key} ({getattr(self.train, key)}) is longer than a window, "
                                      f"model.window_steps ({self.model.window_steps})")
        try:
            self.windows()
        except ValueError as err:
            raise NemiConfigError(f"train: {err}") from None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None = None) -> FitParams:
        raw = stage_sections(cls, raw)
        return cls(ModelParams.from_dict(raw.get("model"), where="model"), TrainParams.from_dict(raw.get("train")))

    def windows(self) -> WindowParams:
        """The grid the features are cut into: windows of the model's length (its position table), the train
        section's strides and steps."""
        from nemi.windows.grid import WindowParams

        t = self.train
        return WindowParams(self.model.window_steps, t.train_stride, t.test_stride, t.step_frames, t.rescale_steps)


def stage_sections(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stage's JSON of sections, its unknown keys refused; each section a mapping."""
    raw = dict(raw or {})
    known = parts(cls)
    unknown = sorted(set(raw) - set(known) - RULE_ONLY_KEYS)
    if unknown:
        raise NemiConfigError(f"stage parameters: unknown section(s) {unknown}; a stage has {sorted(known)}")
    for name in known:
        if not isinstance(raw.get(name) or {}, Mapping):
            raise NemiConfigError(f"stage parameters: {name} must be a mapping, not {raw[name]!r}")
    return raw
