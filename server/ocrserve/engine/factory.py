"""From a slot spec to a :class:`~ocrserve.engine.slots.SlotConfig`.

The configured slots and the ones an operator loads at run time must be built
the same way (backend, runtime options, batch policy, warm-up), so both go
through one :class:`SlotFactory`, made once from the settings.  Resolution
reads manifests only; nothing here loads a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ocrserve.engine.policy import BatchPolicy
from ocrserve.engine.shapes import input_range
from ocrserve.engine.slots import SlotConfig
from ocrserve.errors import InvalidInput
from ocrserve.models.repository import ModelRepository
from ocrserve.models.slots import SlotSpec, parse_slot_spec, resolve_model
from ocrserve.runtimes import RuntimeOptions
from ocrserve.settings import Settings


@dataclass(frozen=True)
class SlotFactory:
    repository: ModelRepository
    backend: str
    runtime: RuntimeOptions
    policy: Callable[[str], BatchPolicy]  # slot name -> its batcher's policy
    det_buckets: tuple[int, ...] = ()
    rec_width_step: int = 1
    det_warm_limit: int = 960
    det_max_side_len: int = 4096
    #: model kind -> how many of its input shapes get a static model (runtimes/openvino.py);
    #: the recognizer's took 350-550 MiB more and gave nothing measurable (BENCHMARKS.md)
    static_shapes: dict[str, int] = field(default_factory=dict)
    warmup: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, device: str) -> SlotFactory:
        return cls(
            repository=ModelRepository(Path(settings.model_repository)),
            backend=settings.backend, runtime=settings.runtime_options(device),
            policy=settings.batch_policy, det_buckets=settings.det_buckets,
            rec_width_step=settings.rec_width_step,
            det_warm_limit=settings.det_limit_side_len,
            det_max_side_len=settings.det_max_side_len,
            static_shapes={"det": settings.det_static_shapes,
                           "cls": settings.cls_static_shapes},
            warmup=settings.warmup,
        )

    def config(self, spec: SlotSpec) -> SlotConfig:
        """Resolve ``spec`` in the repository: NotFound, or InvalidInput for a wrong kind."""
        model = resolve_model(self.repository, spec)
        policy = self.policy(spec.slot)
        shapes = input_range(model.kind, tuple(model.input_shape), policy.max_batch_size,
                             det_limit=self.det_warm_limit, det_max_side=self.det_max_side_len,
                             det_buckets=self.det_buckets, rec_width_step=self.rec_width_step)
        static = self.static_shapes.get(model.kind, 0)
        return SlotConfig(
            slot=spec.slot, model=model, backend=self.backend,
            runtime=replace(self.runtime, input_range=shapes, static_shapes=static),
            policy=policy,
            det_buckets=self.det_buckets,
            rec_width_step=self.rec_width_step, det_warm_limit=self.det_warm_limit,
            warmup=self.warmup, spec=spec,
        )

    def config_for(self, slot: str, model: str) -> SlotConfig:
        """An operator's request: ``model`` is ``MODEL[@VERSION][@onnx|@paddle]``.

        Only installed names are accepted, not version folders as in the
        configuration: the admin API must not make the server read arbitrary paths.
        """
        if "/" in model or "=" in model:
            raise InvalidInput(f"bad model {model!r}: expected MODEL[@VERSION][@onnx|@paddle] "
                               "with MODEL an installed name", field="model")
        return self.config(parse_slot_spec(f"{slot}={model}"))
