from __future__ import annotations

from pathlib import Path

import pytest

from ocrserve.errors import InvalidInput
from ocrserve.settings import DEFAULT_SLOTS, Settings, env_name

#: The default host (0.0.0.0) with the admin API on needs an admin token (see
#: test_security_settings.py); these tests are about other options.
LOOPBACK = {"OCR_HOST": "127.0.0.1"}


def test_defaults_are_paddleocrs() -> None:
    settings = Settings.load([], env=LOOPBACK)
    det = settings.detection_defaults()
    assert (det.limit_side_len, det.limit_type) == (960, "max")
    assert (det.thresh, det.box_thresh) == (0.3, 0.6)
    assert (det.unclip_ratio, det.score_mode, det.box_type) == (1.5, "fast", "quad")
    assert (settings.cls_thresh, settings.drop_score, settings.port) == (0.9, 0.5, 50051)
    assert settings.slot == DEFAULT_SLOTS and settings.workers == 2


def test_one_name_across_file_env_and_flag(tmp_path: Path) -> None:
    config = tmp_path / "ocr.toml"
    config.write_text('det_db_box_thresh = 0.5\nport = 6000\nslot = ["det=a", "rec=b"]\n')
    from_file = Settings.load(["--config", str(config)], env=LOOPBACK)
    assert (from_file.det_db_box_thresh, from_file.port) == (0.5, 6000)
    assert from_file.slot == ("det=a", "rec=b")
    env = {**LOOPBACK, env_name("det_db_box_thresh"): "0.55", "OCR_CONFIG": str(config)}
    assert Settings.load([], env=env).det_db_box_thresh == 0.55
    flags = ["--det-db-box-thresh", "0.65", "--slot", "rec=c"]
    from_flag = Settings.load(flags, env=env)
    assert from_flag.det_db_box_thresh == 0.65 and from_flag.slot == ("rec=c",)
    assert from_flag.port == 6000  # the file still applies where nothing overrides it


def test_booleans_and_lists_parse_from_the_environment() -> None:
    settings = Settings.load([], env={**LOOPBACK, "OCR_ENABLE_MKLDNN": "off",
                                      "OCR_DET_BUCKETS": "320,640"})
    assert settings.enable_mkldnn is False and settings.det_buckets == (320, 640)
    assert Settings.load(["--no-use-angle-cls"], env=LOOPBACK).use_angle_cls is False


@pytest.mark.parametrize("argv, message", [
    (["--port", "70000"], "port"),
    (["--det-db-box-thresh", "1.5"], "box_thresh"),
    (["--det-limit-type", "sideways"], "limit_type"),
    (["--det-buckets", "300"], "det_buckets"),
    (["--devices", "tpu:0"], "device"),
    (["--slot", "ocr=x"], "bad slot spec"),
    (["--slot", "rec=a", "--slot", "rec=b"], "twice"),
    (["--backend", "tensorflow"], "backend"),
    (["--cpu-streams", "4"], "cpu_streams"),
    (["--performance-hint", "fast"], "performance_hint"),
    (["--slot", "det=a..b"], "invalid model name"),
    (["--max-model-mb", "0"], "max_model_mb"),
    (["--max-archive-members", "0"], "max_archive_members"),
    (["--backend", "onnxruntime", "--precision", "fp16"], "backend torch or openvino"),
    (["--lazy-slots", "rec:second"], "which no slot setting declares"),
    (["--lazy-slots", "det,cls"], "which no slot setting declares"),  # one name, not a list
])
def test_bad_values_stop_start_up(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Settings.load(argv, env=LOOPBACK)


def test_fp16_is_taken_where_a_backend_runs_it() -> None:
    for argv in (["--backend", "torch"], ["--backend", "onnxruntime", "--devices", "cuda:0"]):
        assert Settings.load([*argv, "--precision", "fp16"], env=LOOPBACK).precision == "fp16"


def test_unknown_config_key_is_rejected(tmp_path: Path) -> None:
    config = tmp_path / "ocr.toml"
    config.write_text("det_db_treshold = 0.2\n")
    with pytest.raises(InvalidInput, match="det_db_treshold"):
        Settings.load(["--config", str(config)], env=LOOPBACK)


def test_malformed_number_names_the_option() -> None:
    with pytest.raises(InvalidInput, match="port"):
        Settings.load([], env={**LOOPBACK, "OCR_PORT": "fifty"})


def test_batching_overrides_apply_per_kind_then_per_slot() -> None:
    settings = Settings.load([
        "--slot", "det=a", "--slot", "rec=b", "--slot", "rec:fr=c",
        "--batching", "rec.max_batch_size=12", "--batching", "rec:fr.max_batch_size=4",
        "--batching", "det.preferred_batch_sizes=2/4", "--max-queue-delay-us", "500",
    ], env=LOOPBACK)
    assert settings.batch_policy("rec").max_batch_size == 12
    assert settings.batch_policy("rec:fr").max_batch_size == 4
    det = settings.batch_policy("det")
    assert det.preferred_batch_sizes == (2, 4) and det.max_queue_delay_us == 500
    assert det.max_batch_size == settings.det_max_batch_size


@pytest.mark.parametrize("override, message", [
    ("rec.max_batch=3", "bad batching override"),
    ("rec.max_batch_size=many", "not a number"),
    ("det.preferred_batch_sizes=8/16", "preferred_batch_sizes must lie"),
])
def test_bad_batching_overrides_stop_start_up(override: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Settings.load(["--batching", override], env=LOOPBACK)
