"""Where a load step's CPU went, per image served: by process role, and inside the
front-ends by pipeline stage (``ocr_frontend_cpu_seconds_total``, metrics/cpu.py); the
models' own time on the inference thread (``ocr_inference_compute_duration_seconds``)
and what it bounds; and the resident memory of each role at the step's end.

Read from the server's own ``/metrics`` before and after a step, so it works
against any running server whose metrics port the caller can reach, and counts
what every front-end and engine process spent, not what the load generator saw.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

#: Front-end stages in pipeline order, for the table; any other stage follows.
STAGE_ORDER = ("decode", "det_preprocess", "det_postprocess", "crop", "cls_preprocess",
               "cls_postprocess", "rec_preprocess", "rec_postprocess", "memo_keys", "response")

#: Model kinds in pipeline order, for the model-time table.
SLOT_KINDS = ("det", "cls", "rec")


@dataclass
class CpuSample:
    """Cumulative CPU seconds by process role and by front-end stage, and the models'
    compute seconds by slot; resident bytes by role."""

    roles: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    resident: dict[str, float] = field(default_factory=dict)
    compute: dict[str, float] = field(default_factory=dict)


def parse_sample(text: str) -> CpuSample:
    sample = CpuSample()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ocr_process_cpu_seconds_total":
                sample.roles[s.labels["role"]] = s.value
            elif s.name == "ocr_frontend_cpu_seconds_total":
                sample.stages[s.labels["stage"]] = s.value
            elif s.name == "ocr_process_resident_memory_bytes":
                sample.resident[s.labels["role"]] = s.value
            elif s.name == "ocr_inference_compute_duration_seconds_sum":
                slot = s.labels["slot"]  # summed over the versions a swap served
                sample.compute[slot] = sample.compute.get(slot, 0.0) + s.value
    return sample


def resident_mib(sample: CpuSample) -> dict[str, int]:
    """Resident memory by role, MiB."""
    return {role: round(value / 2**20) for role, value in sorted(sample.resident.items())}


def memory_line(steps: list[dict[str, object]]) -> str:
    """What each role held at the end of each step."""
    shown = [f"{s['step']}: " + ", ".join(f"{role} {mib} MiB" for role, mib in memory.items())
             for s in steps if isinstance(memory := s.get("resident_mib"), dict) and memory]
    return ("Resident memory at the end of each step (`ocr_process_resident_memory_bytes`): "
            + "; ".join(shown) + ".") if shown else ""


def scrape(url: str, timeout: float = 10.0) -> CpuSample:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return parse_sample(response.read().decode())


def cpu_per_image(before: CpuSample, after: CpuSample, images: int) -> dict[str, object]:
    """Milliseconds of CPU per image between two samples.  ``frontend_other`` is the
    front-ends' CPU outside the metered stages: gRPC, protobuf, the engine transport,
    the event loop and OpenCV's own threads."""
    if images <= 0:
        return {}

    def ms(seconds: float) -> float:
        return round(1000 * seconds / images, 2)

    roles = {r: ms(v - before.roles.get(r, 0.0)) for r, v in sorted(after.roles.items())}
    stages = {s: ms(v - before.stages.get(s, 0.0)) for s, v in after.stages.items()}
    stages = dict(sorted(stages.items(), key=lambda kv: _stage_rank(kv[0])))
    other = roles.get("frontend", 0.0) - sum(stages.values())
    return {"roles": roles, "stages": stages, "frontend_other": round(other, 2)}


def model_time(before: CpuSample, after: CpuSample, images: int,
               seconds: float) -> dict[str, object]:
    """The models' time on the inference thread during a step: milliseconds per image by
    slot, the share of the step they kept the thread busy, and the images/s the step
    would reach with the models run back to back and nothing else in the way.

    That last figure bounds a CPU server whose slots share one inference thread (the
    default ``inference_threads`` 1): the front-ends' work can only fit in the gaps.
    Where slots run at once (more inference threads, a GPU) it bounds nothing."""
    if images <= 0 or seconds <= 0:
        return {}
    spent = {slot: v - before.compute.get(slot, 0.0)
             for slot, v in sorted(after.compute.items(), key=lambda kv: _slot_rank(kv[0]))
             if v > before.compute.get(slot, 0.0)}
    total = sum(spent.values())
    if total <= 0:
        return {}
    return {"ms_per_image": {slot: round(1000 * v / images, 2) for slot, v in spent.items()},
            "busy": round(total / seconds, 3),
            "back_to_back_images_per_s": round(images / total, 2)}


def model_table(steps: list[dict[str, object]]) -> str:
    """One row per step: the models' milliseconds per image, how busy they kept the
    inference thread, and the images/s that allows (see :func:`model_time`)."""
    measured = [s for s in steps if isinstance(s.get("model_time"), dict) and s["model_time"]]
    if not measured:
        return ""
    slots: list[str] = []
    for s in measured:
        assert isinstance(s["model_time"], dict)
        slots += [slot for slot in s["model_time"]["ms_per_image"] if slot not in slots]
    header = ["step", "images/s", *(f"{slot} ms" for slot in slots), "models busy",
              "images/s with the models back to back"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in measured:
        model = s["model_time"]
        assert isinstance(model, dict)
        cells = [str(s["step"]), f"{s['images_per_s']:.2f}",
                 *(f"{model['ms_per_image'].get(slot, 0.0):.1f}" for slot in slots),
                 f"{model['busy']:.0%}", f"{model['back_to_back_images_per_s']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slot_rank(slot: str) -> tuple[int, str]:
    """Slots in pipeline order (det, cls, rec), named ones after their kind's default."""
    return _rank(SLOT_KINDS, slot.split(":", 1)[0], slot)


def _stage_rank(stage: str) -> tuple[int, str]:
    return _rank(STAGE_ORDER, stage, stage)


def _rank(order: tuple[str, ...], key: str, name: str) -> tuple[int, str]:
    """Sorts ``name`` by where ``key`` stands in ``order`` (unknown keys last), then by
    name."""
    return (order.index(key) if key in order else len(order), name)


def cpu_table(steps: list[dict[str, object]]) -> str:
    """One row per step: CPU ms per image by role, then the front-end's stages."""
    measured = [s for s in steps if isinstance(s.get("cpu_ms_per_image"), dict)
                and s["cpu_ms_per_image"]]
    if not measured:
        return ""
    first = measured[0]["cpu_ms_per_image"]
    assert isinstance(first, dict)
    roles = list(first["roles"])
    stages = list(first["stages"])
    header = ["step", *(f"{r} ms" for r in roles), *stages, "frontend other"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in measured:
        cpu = s["cpu_ms_per_image"]
        assert isinstance(cpu, dict)
        cells = [str(s["step"]), *(f"{cpu['roles'].get(r, 0.0):.1f}" for r in roles),
                 *(f"{cpu['stages'].get(st, 0.0):.1f}" for st in stages),
                 f"{cpu['frontend_other']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
