"""The CPU-per-image report of ``ocr-bench load``, from two /metrics texts."""

from __future__ import annotations

from ocrserve.bench.cpu_report import (
    cpu_per_image,
    cpu_table,
    memory_line,
    model_table,
    model_time,
    parse_sample,
    resident_mib,
)


def exposition(engine: float, frontend: float, decode: float, crop: float) -> str:
    return f"""# HELP ocr_process_cpu_seconds CPU
# TYPE ocr_process_cpu_seconds counter
ocr_process_cpu_seconds_total{{role="engine"}} {engine}
ocr_process_cpu_seconds_total{{role="frontend"}} {frontend}
# HELP ocr_frontend_cpu_seconds stages
# TYPE ocr_frontend_cpu_seconds counter
ocr_frontend_cpu_seconds_total{{stage="crop"}} {crop}
ocr_frontend_cpu_seconds_total{{stage="decode"}} {decode}
ocr_frontend_cpu_seconds_created{{stage="decode"}} 1.7e9
"""


def test_per_image_milliseconds_and_the_unmetered_rest() -> None:
    before = parse_sample(exposition(10.0, 2.0, 0.5, 0.1))
    after = parse_sample(exposition(14.0, 3.0, 0.7, 0.2))
    cpu = cpu_per_image(before, after, images=10)
    assert cpu["roles"] == {"engine": 400.0, "frontend": 100.0}
    assert cpu["stages"] == {"decode": 20.0, "crop": 10.0}
    assert list(cpu["stages"]) == ["decode", "crop"]  # pipeline order, not the scrape's
    assert cpu["frontend_other"] == 70.0


def test_a_stage_first_seen_after_the_step_started_counts_from_zero() -> None:
    before = parse_sample(exposition(1.0, 1.0, 0.0, 0.0).replace(
        'ocr_frontend_cpu_seconds_total{stage="crop"} 0.0\n', ""))
    after = parse_sample(exposition(1.0, 1.5, 0.0, 0.25))
    assert cpu_per_image(before, after, images=5)["stages"]["crop"] == 50.0


def test_no_images_no_figures_and_the_table_skips_such_steps() -> None:
    sample = parse_sample(exposition(1.0, 1.0, 0.1, 0.1))
    assert cpu_per_image(sample, sample, images=0) == {}
    assert cpu_table([{"step": "concurrency 1", "cpu_ms_per_image": {}}]) == ""
    measured = cpu_per_image(sample, parse_sample(exposition(2.0, 2.0, 0.2, 0.3)), images=2)
    table = cpu_table([{"step": "concurrency 8", "cpu_ms_per_image": measured}])
    assert table.splitlines()[0] == ("| step | engine ms | frontend ms | decode | crop | "
                                     "frontend other |")
    assert table.splitlines()[2] == "| concurrency 8 | 500.0 | 500.0 | 50.0 | 100.0 | 350.0 |"


def test_resident_memory_by_role_at_each_steps_end() -> None:
    sample = parse_sample(exposition(1.0, 1.0, 0.0, 0.0) + """\
# HELP ocr_process_resident_memory_bytes RSS
# TYPE ocr_process_resident_memory_bytes gauge
ocr_process_resident_memory_bytes{role="frontend"} 167772160.0
ocr_process_resident_memory_bytes{role="engine"} 1153433600.0
""")
    memory = resident_mib(sample)
    assert memory == {"engine": 1100, "frontend": 160}
    assert memory_line([{"step": "concurrency 1"}]) == ""
    assert memory_line([{"step": "concurrency 8", "resident_mib": memory}]) == (
        "Resident memory at the end of each step (`ocr_process_resident_memory_bytes`): "
        "concurrency 8: engine 1100 MiB, frontend 160 MiB.")


def compute(det: float, rec_v1: float, rec_v2: float, cls: float = 0.0) -> str:
    return f"""# HELP ocr_inference_compute_duration_seconds batch time
# TYPE ocr_inference_compute_duration_seconds histogram
ocr_inference_compute_duration_seconds_sum{{model="d",slot="det",version="1"}} {det}
ocr_inference_compute_duration_seconds_count{{model="d",slot="det",version="1"}} 3.0
ocr_inference_compute_duration_seconds_sum{{model="r",slot="rec",version="1"}} {rec_v1}
ocr_inference_compute_duration_seconds_sum{{model="c",slot="cls",version="1"}} {cls}
ocr_inference_compute_duration_seconds_sum{{model="r",slot="rec",version="2"}} {rec_v2}
"""


def test_model_time_per_image_busy_share_and_the_back_to_back_bound() -> None:
    before = parse_sample(compute(det=1.0, rec_v1=4.0, rec_v2=0.0))
    # 10 images in 10 s; det ran 2 s, rec 6 s over two versions (a swap mid-step)
    after = parse_sample(compute(det=3.0, rec_v1=7.0, rec_v2=3.0))
    model = model_time(before, after, images=10, seconds=10.0)
    assert model == {"ms_per_image": {"det": 200.0, "rec": 600.0}, "busy": 0.8,
                     "back_to_back_images_per_s": 1.25}
    assert list(model["ms_per_image"]) == ["det", "rec"]  # the idle classifier left out
    with_cls = model_time(before, parse_sample(compute(3.0, 7.0, 3.0, cls=1.0)), 10, 10.0)
    assert list(with_cls["ms_per_image"]) == ["det", "cls", "rec"]  # pipeline order
    table = model_table([{"step": "concurrency 8", "images_per_s": 1.0, "model_time": model},
                         {"step": "concurrency 1", "images_per_s": 0.5, "model_time": {}}])
    assert table.splitlines()[0] == ("| step | images/s | det ms | rec ms | models busy | "
                                     "images/s with the models back to back |")
    assert table.splitlines()[2:] == ["| concurrency 8 | 1.00 | 200.0 | 600.0 | 80% | 1.25 |"]


def test_no_model_time_without_images_or_batches() -> None:
    sample = parse_sample(compute(det=1.0, rec_v1=1.0, rec_v2=0.0))
    assert model_time(sample, sample, images=10, seconds=10.0) == {}
    assert model_time(sample, parse_sample(compute(2.0, 2.0, 0.0)), images=0, seconds=1.0) == {}
    assert model_table([{"step": "concurrency 1", "model_time": {}}]) == ""
