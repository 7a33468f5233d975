"""Server configuration, declared once.

Every option is a field of :class:`Settings` with a default and a help text.
From that one declaration come the config-file key (``det_db_thresh``), the
CLI flag (``--det-db-thresh``) and the environment variable
(``OCR_DET_DB_THRESH``).  Precedence: defaults < config file (TOML) <
environment < command line.  :func:`Settings.validate` runs at start-up so a
bad value stops the server before it binds a port.

Detection, classification and recognition defaults are PaddleOCR's own
inference defaults (tools/infer/utility.py), under PaddleOCR's option names.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import struct
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache, partial
from pathlib import Path
from typing import Any

from ocrserve.engine.policy import BatchPolicy, policy_for_slot
from ocrserve.errors import InvalidInput
from ocrserve.ops.det import DetParams
from ocrserve.pipeline import Limits, OcrParams
from ocrserve.runtimes import AUTO, BACKENDS, RuntimeOptions

#: The slots served when neither the config nor the command line names any:
#: the exact PP-OCRv2 system (det, rec) with the v2.0 angle classifier.
DEFAULT_SLOTS = (
    "det=ch_PP-OCRv2_det",
    "cls=ch_ppocr_mobile_v2.0_cls@onnx",
    "rec=ch_PP-OCRv2_rec",
)
#: Backends that run fp32 on the CPU whatever ``precision`` says: fp16 there is refused
#: rather than silently ignored.
FP32_ON_CPU = ("onnxruntime", "paddle")


def _opt(default: Any, help: str, *, secret: bool = False, **kw: Any) -> Any:
    """A setting: its default, its --help text and flag options.  ``secret`` marks a
    credential: left out of ``repr`` (a traceback or a ``%r`` cannot show it) and masked
    in the effective-settings log line (logs.py)."""
    return field(default=default, repr=not secret,
                 metadata={"help": help, "secret": secret, **kw})


@dataclass(frozen=True)
class Settings:
    # --- serving
    host: str = _opt("0.0.0.0", "address to listen on")
    port: int = _opt(50051, "gRPC port (0 picks a free one)")
    workers: int = _opt(
        2, "front-end processes sharing the port; 0 = single process with the engine in-process"
    )
    devices: str = _opt("cpu", "engine devices: 'cpu' or 'cuda:0,cuda:1,...' (one engine each)")
    # --- the operators' API (ocr.v1.ModelService)
    admin_enabled: bool = _opt(True, "serve the ModelService (slots, swaps, model pulls)")
    admin_port: int = _opt(
        -1, "port of its own for the ModelService, on host (0 picks a free one); -1: on the "
        "OCR API's port")
    admin_token: str = _opt(
        "", "bearer token every ModelService call must carry (authorization metadata); empty: "
        "none (allowed only when host is a loopback address). Set it through "
        "OCR_ADMIN_TOKEN rather than a flag", secret=True)
    # --- security (README "Security")
    tls_cert_file: str = _opt(
        "", "PEM certificate chain of the OCR and admin ports (with tls_key_file): TLS on "
        "both; re-read without a restart when the file changes. Empty: plaintext")
    tls_key_file: str = _opt("", "PEM private key of tls_cert_file")
    tls_client_ca_file: str = _opt(
        "", "PEM CA bundle: clients must present a certificate it signed (mTLS); needs "
        "tls_cert_file")
    inference_token: str = _opt(
        "", "bearer token every OcrService call must carry (the admin token also does); "
        "empty: none. Set it through OCR_INFERENCE_TOKEN rather than a flag", secret=True)
    health_port: int = _opt(
        -1, "extra plaintext port on host serving only grpc.health.v1, without tokens (for "
        "Kubernetes gRPC probes, which can do neither TLS nor metadata); -1: off, 0: a free one")
    pull_allowed_hosts: tuple[str, ...] = _opt(
        (), "hosts PullModel may fetch a URL from besides the catalog's own URLs", repeat=True)
    max_message_mb: int = _opt(64, "largest request or response message, MiB")
    spread_requests: bool = _opt(
        True, "a busy front-end hands unary OCR calls to a less busy sibling process, so one "
        "client connection gets every front-end's CPU (frontend/spread.py); workers >= 2")
    max_image_pixels: int = _opt(
        50_000_000, "largest image (width*height), checked against its header before decoding")
    max_images_per_request: int = _opt(64, "most images in one request")
    max_request_pixels: int = _opt(
        64_000_000, "most pixels (width*height summed over images) in one request; a request "
        "over it is refused before any work")
    max_inflight_pixels: int = _opt(
        128_000_000, "admission budget of each front-end: image pixels of the requests it works "
        "on at once; a request that would exceed it is refused up front with RESOURCE_EXHAUSTED "
        "(retry later), unless the front-end is idle")
    det_max_side_len: int = _opt(
        4096, "longest side of the detector input, whatever limit_side_len/limit_type ask for")
    det_max_pixels: int = _opt(16_777_216, "most pixels of the detector input (4096*4096)")
    max_crops_per_image: int = _opt(
        1000, "most text boxes recognised per image (detection.max_candidates may not exceed it)")
    stream_max_in_flight: int = _opt(
        8, "most frames one StreamOcr stream may have processed at once (its config's "
        "max_in_flight, default 2, may not exceed it)")
    response_cache_mb: int = _opt(
        0, "per front-end process: MiB of results kept for identical image bytes, parameters "
        "and model versions (0: off)")
    drain_delay_s: float = _opt(
        2.0, "on SIGTERM, time health reports NOT_SERVING while new calls are still accepted "
        "(load balancers stop routing first); SIGINT skips it")
    grace_period_s: float = _opt(
        10.0, "on SIGTERM, after the drain delay, time allowed for in-flight work (front-ends "
        "and engines alike)")
    engine_restart_wait_s: float = _opt(
        20.0, "how long a request waits (within its deadline) for a restarting engine before "
        "failing with UNAVAILABLE; its lost work is sent again once the engine is back. An "
        "engine restart took 6-10 s on 2 cores with OpenVINO (loading and warming every shape "
        "bucket)")
    # --- models
    model_repository: str = _opt("models", "folder of installed models")
    slot: tuple[str, ...] = _opt(
        DEFAULT_SLOTS,
        "SLOT=MODEL[@VERSION|@onnx|@paddle]: det=, cls=, rec= or rec:LANG= with an installed "
        "name or version folder",
        repeat=True,
    )
    lazy_slots: tuple[str, ...] = _opt(
        (), "slots that load on first use instead of at start-up (that request waits, others "
        "do not); * for every slot but det, cls and rec", repeat=True)
    max_loaded_models: int = _opt(
        0, "most slots loaded per engine; beyond it the least recently used idle one is "
        "unloaded back to cold (0: no limit)")
    model_memory_budget_mb: int = _opt(
        0, "most memory the models of one engine may take, MiB (measured at each load: the "
        "process's RSS on a CPU, the device's memory in use on a GPU); "
        "least recently used idle slots are evicted to make room, and a load that still does "
        "not fit is refused (0: no limit)")
    repository_poll_s: float = _opt(
        0.0, "look for new model versions in the repository this often, seconds, and swap "
        "each slot whose spec names no version to the newest (0: never)")
    max_model_mb: int = _opt(
        1024, "PullModel: largest download and largest unpacked archive, MiB")
    max_archive_members: int = _opt(1000, "PullModel: most members in a model archive")
    backend: str = _opt(
        "auto", "runtime for every slot: auto | openvino | onnxruntime | paddle | torch. "
        "auto: OpenVINO "
        "on a CPU when it is installed (fastest measured), else by model format")
    cpu_threads: int = _opt(2, "inference threads per engine on CPU")
    inference_threads: int = _opt(
        1, "CPU: batches that may run at once across slots (e.g. det of one image beside rec "
        "of another), each with cpu_threads threads")
    cpu_streams: int = _opt(
        1, "OpenVINO: run each batch as this many parallel slices of cpu_threads/cpu_streams "
        "threads each (1 measured fastest on 2 cores)")
    performance_hint: str = _opt("latency", "OpenVINO: latency | throughput")
    shape_cache_size: int = _opt(
        128, "input shapes whose prepared kernels a model keeps (Paddle MKLDNN, OpenVINO); "
        "bounds the memory of varying shapes")
    det_static_shapes: int = _opt(
        2, "OpenVINO: detector page sizes that come back (pages up to 16 MB) get a model "
        "compiled for one such page, which also runs their batches page by page: same "
        "output, less time per page; two took the engine 36-47 MiB more in ocr-bench "
        "memory; at most this many (0: off)")
    cls_static_shapes: int = _opt(
        6, "OpenVINO: the angle classifier's batches, padded with zero items to powers of two, "
        "get static models the same way; 6 covers every size up to 32 (about 150 MiB in all "
        "in ocr-bench load); 0: off")
    enable_mkldnn: bool = _opt(True, "use oneDNN (MKLDNN) with Paddle on CPU")
    gpu_memory_mb: int = _opt(500, "Paddle's initial GPU memory pool per slot, MiB")
    use_tensorrt: bool = _opt(False, "TensorRT on GPU (Paddle or onnxruntime)")
    tensorrt_cache_dir: str = _opt(
        "", "directory where TensorRT engines are kept across restarts (building one takes "
        "minutes); empty: rebuilt at every load")
    precision: str = _opt(
        "fp32", "fp32 | fp16 (GPU; on the CPU: backend torch, or openvino where the CPU has "
        "fp16 arithmetic, refused elsewhere; onnxruntime and paddle run fp32 there)")
    # --- batching (Triton's names)
    det_max_batch_size: int = _opt(4, "detection: most images in one batch")
    cls_max_batch_size: int = _opt(32, "angle classifier: most crops in one batch")
    rec_max_batch_size: int = _opt(
        6, "recognizer: most crops in one batch. 6 measured fastest on CPU (larger batches "
        "were slower per crop); GPUs want 32 or more",
    )
    max_queue_delay_us: int = _opt(2000, "longest wait for a batch to fill, microseconds")
    max_queue_size: int = _opt(
        16384, "queued items per slot before RESOURCE_EXHAUSTED: a memory safety net; what "
        "bounds the work in flight is the front-ends' admission (max_inflight_pixels)")
    batching: tuple[str, ...] = _opt(
        (),
        "per-slot batcher settings SLOT.KEY=VALUE, e.g. rec:french.max_batch_size=16 or "
        "det.preferred_batch_sizes=2/4 (a kind applies to all its slots); KEY: "
        "max_batch_size, max_queue_delay_us, preferred_batch_sizes, max_queue_size",
        repeat=True,
    )
    det_buckets: tuple[int, ...] = _opt(
        (),
        "detection side lengths to pad inputs up to, so different sizes share batches "
        "(GPU throughput; boxes near padded edges then differ slightly from PaddleOCR). "
        "Empty: no padding, only same-size inputs batch together",
    )
    rec_width_step: int = _opt(
        1, "pad recognizer inputs further, to a multiple of this width, so more of them share "
        "batches (GPU throughput; texts then differ slightly from PaddleOCR). 1: no padding",
    )
    warmup: bool = _opt(True, "run each shape bucket once at load (Paddle+MKLDNN stalls otherwise)")
    # --- PaddleOCR inference defaults, per-request overridable
    det_limit_side_len: int = _opt(960, "detection resize limit")
    det_limit_type: str = _opt("max", "max | min | resize_long")
    det_db_thresh: float = _opt(0.3, "DB binarisation threshold")
    det_db_box_thresh: float = _opt(0.6, "DB minimum box score")
    det_db_unclip_ratio: float = _opt(1.5, "DB box expansion")
    det_db_score_mode: str = _opt("fast", "fast | slow")
    det_max_candidates: int = _opt(1000, "DB most boxes per image")
    use_dilation: bool = _opt(False, "dilate the DB bitmap")
    det_box_type: str = _opt("quad", "quad | poly")
    use_angle_cls: bool = _opt(True, "run the angle classifier in Ocr when a cls slot exists")
    cls_thresh: float = _opt(0.9, "rotate a line when cls says 180 above this score")
    drop_score: float = _opt(0.5, "drop Ocr lines scoring below this")
    rec_batch_num: int = _opt(
        6, "Ocr pads an image's crops in groups of this many, sorted by aspect ratio, as "
        "PaddleOCR does (its results depend on it)",
    )
    log_level: str = _opt("info", "debug | info | warning | error")
    log_format: str = _opt(
        "text", "text | json (one JSON object per line, for log collectors)")
    metrics_port: int = _opt(
        8002, "port of the Prometheus /metrics endpoint, on host (every process's metrics "
        "together); -1: off, 0: a free one")
    engine_heartbeat_timeout_s: float = _opt(
        10.0, "an engine that has not shown a sign of life for this long is reported "
        "unhealthy and restarted (it beats every second; 0: never)")

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        """Defaults < ``--config`` file < environment < flags; validated."""
        env = os.environ if env is None else env
        parser = cls.argument_parser()
        args = parser.parse_args(argv)
        values: dict[str, Any] = {}
        config_path = args.config or env.get("OCR_CONFIG")
        if config_path:
            values.update(_read_toml(Path(config_path)))
        for f in fields(cls):
            raw = env.get(env_name(f.name))
            if raw is not None:
                values[f.name] = _parse(f, raw)
        for f in fields(cls):
            given = getattr(args, f.name)
            if given is not None:
                values[f.name] = tuple(given) if isinstance(given, list) else given
        settings = cls(**values)
        settings.validate()
        return settings

    @classmethod
    def argument_parser(cls) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog="ocr-server",
            description="gRPC OCR inference server. Every flag also reads OCR_<NAME> "
            "from the environment and NAME from the --config TOML file.",
        )
        parser.add_argument("--config", help="TOML config file (env OCR_CONFIG)")
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            help_text = f"{f.metadata['help']} (default: {_show(f.default)})"
            kind = _base_type(f)
            if kind is bool:
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                    help=help_text)
            elif f.metadata.get("repeat"):
                parser.add_argument(flag, action="append", default=None, help=help_text)
            else:
                parser.add_argument(flag, default=None, type=partial(_parse, f), help=help_text)
        return parser

    # ----------------------------------------------------------------- checking

    def validate(self) -> None:
        """Reject impossible values with a message naming the option."""
        checks = [
            (0 <= self.port <= 65535, "port must be 0..65535"),
            (-1 <= self.admin_port <= 65535, "admin_port must be -1..65535"),
            (self.admin_port < 0 or self.admin_port != self.port or self.port == 0,
             "admin_port must differ from port (-1 serves the ModelService on port)"),
            (-1 <= self.health_port <= 65535, "health_port must be -1..65535"),
            (self.health_port <= 0 or self.health_port not in (self.port, self.admin_port),
             "health_port must differ from port and admin_port"),
            (self.workers >= 0, "workers must be >= 0"),
            (self.max_message_mb >= 1, "max_message_mb must be >= 1"),
            (self.max_image_pixels >= 1, "max_image_pixels must be >= 1"),
            (self.max_images_per_request >= 1, "max_images_per_request must be >= 1"),
            (self.max_request_pixels >= 1, "max_request_pixels must be >= 1"),
            (self.max_inflight_pixels >= self.max_request_pixels,
             "max_inflight_pixels must be >= max_request_pixels"),
            (self.det_max_side_len >= 32, "det_max_side_len must be >= 32"),
            (self.det_max_pixels >= 32 * 32, "det_max_pixels must be >= 1024"),
            (self.max_crops_per_image >= 1, "max_crops_per_image must be >= 1"),
            (self.inference_threads >= 1, "inference_threads must be >= 1"),
            (min(self.det_static_shapes, self.cls_static_shapes) >= 0,
             "det_static_shapes and cls_static_shapes must be >= 0"),
            (self.max_loaded_models >= 0, "max_loaded_models must be >= 0"),
            (self.model_memory_budget_mb >= 0, "model_memory_budget_mb must be >= 0"),
            (self.repository_poll_s >= 0, "repository_poll_s must be >= 0"),
            (self.max_model_mb >= 1, "max_model_mb must be >= 1"),
            (self.max_archive_members >= 1, "max_archive_members must be >= 1"),
            (self.response_cache_mb >= 0, "response_cache_mb must be >= 0"),
            (self.stream_max_in_flight >= 1, "stream_max_in_flight must be >= 1"),
            (self.drain_delay_s >= 0, "drain_delay_s must be >= 0"),
            (self.grace_period_s >= 0, "grace_period_s must be >= 0"),
            (self.engine_restart_wait_s >= 0, "engine_restart_wait_s must be >= 0"),
            (self.backend in (AUTO, *BACKENDS), f"backend must be one of {AUTO}, "
             f"{', '.join(BACKENDS)}"),
            (self.precision == "fp32" or self.backend not in FP32_ON_CPU
             or any(d != "cpu" for d in self.device_list),
             f"precision=fp16 on the CPU needs backend torch or openvino (backend "
             f"{self.backend} runs fp32 there)"),
            (min(self.det_max_batch_size, self.cls_max_batch_size, self.rec_max_batch_size) >= 1,
             "*_max_batch_size must be >= 1"),
            (self.max_queue_delay_us >= 0, "max_queue_delay_us must be >= 0"),
            (self.max_queue_size >= 1, "max_queue_size must be >= 1"),
            (all(b > 0 and b % 32 == 0 for b in self.det_buckets),
             "det_buckets must be positive multiples of 32"),
            (self.rec_width_step >= 1, "rec_width_step must be >= 1"),
            (self.rec_batch_num >= 1, "rec_batch_num must be >= 1"),
            (self.log_level in ("debug", "info", "warning", "error"), "bad log_level"),
            (self.log_format in ("text", "json"), "log_format must be text or json"),
            (self.metrics_port >= -1, "metrics_port must be >= -1"),
            (self.engine_heartbeat_timeout_s == 0 or self.engine_heartbeat_timeout_s >= 2,
             "engine_heartbeat_timeout_s must be 0 (off) or >= 2"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInput(f"invalid configuration: {message}")
        self._validate_security()
        for device in self.device_list:
            if device != "cpu" and not (device.startswith("cuda:") and device[5:].isdigit()):
                raise InvalidInput(f"invalid configuration: device {device!r} is not cpu or cuda:N")
        from ocrserve.models.slots import parse_slot_specs  # avoid an import cycle at load

        specs = parse_slot_specs(self.slot)
        for device in self.device_list:
            try:
                self.runtime_options(device)
            except InvalidInput as exc:
                raise InvalidInput(f"invalid configuration: {exc.message}") from None
        self._validate_request_defaults()
        for spec in specs:
            self.batch_policy(spec.slot)
        unknown = set(self.lazy_slots) - {spec.slot for spec in specs} - {"*"}
        if unknown:  # a typo would load the slot at start-up, silently
            raise InvalidInput(f"invalid configuration: lazy_slots names {sorted(unknown)}, "
                               f"which no slot setting declares (slots: "
                               f"{', '.join(spec.slot for spec in specs)}; or * for all)")

    def _validate_security(self) -> None:
        """Refuse an exposed admin API without a token, and TLS files that cannot serve."""
        if self.admin_enabled and not self.admin_token and not is_loopback(self.host):
            raise InvalidInput(
                f"invalid configuration: the ModelService (admin_enabled) on host {self.host} "
                "needs admin_token: set OCR_ADMIN_TOKEN, serve on a loopback host (--host "
                "127.0.0.1), or turn it off with --no-admin-enabled")
        if self.admin_token and self.admin_token == self.inference_token:
            raise InvalidInput("invalid configuration: admin_token and inference_token must "
                               "differ (each grants a different scope)")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise InvalidInput("invalid configuration: tls_cert_file and tls_key_file go "
                               "together (both or neither)")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise InvalidInput("invalid configuration: tls_client_ca_file (mTLS) needs "
                               "tls_cert_file and tls_key_file")
        if self.tls_cert_file:
            from ocrserve.frontend.tls import CertificateFiles  # grpc only where TLS is on

            CertificateFiles(self.tls_cert_file, self.tls_key_file, self.tls_client_ca_file)

    def _validate_request_defaults(self) -> None:
        """The per-request defaults, checked by the same ranges as requests are."""
        # As float32, the way GetServerInfo reports them: a default must be a value a
        # request may send back.
        det = self.detection_defaults()
        det = dataclasses.replace(det, thresh=_float32(det.thresh),
                                  box_thresh=_float32(det.box_thresh),
                                  unclip_ratio=_float32(det.unclip_ratio))
        params = OcrParams(det=det, cls_thresh=_float32(self.cls_thresh),
                           drop_score=_float32(self.drop_score))
        try:
            params.validate(self.limits())
        except InvalidInput as exc:
            option = _OPTION_OF_FIELD.get(exc.field or "", exc.field)
            raise InvalidInput(f"invalid configuration: {option}: {exc.message}") from None

    @property
    def device_list(self) -> list[str]:
        return [d.strip() for d in self.devices.split(",") if d.strip()]

    # ------------------------------------------------------- derived objects

    def detection_defaults(self) -> DetParams:
        return DetParams(
            limit_side_len=self.det_limit_side_len,
            limit_type=self.det_limit_type,
            thresh=self.det_db_thresh,
            box_thresh=self.det_db_box_thresh,
            unclip_ratio=self.det_db_unclip_ratio,
            max_candidates=self.det_max_candidates,
            score_mode=self.det_db_score_mode,
            use_dilation=self.use_dilation,
            box_type=self.det_box_type,
        )

    def limits(self) -> Limits:
        """The per-image bounds the pipeline enforces."""
        return Limits(det_max_side_len=self.det_max_side_len, det_max_pixels=self.det_max_pixels,
                      max_crops_per_image=self.max_crops_per_image)

    def runtime_options(self, device: str) -> RuntimeOptions:
        """How every slot on ``device`` runs its model (validated on construction)."""
        return RuntimeOptions(
            device=device, cpu_threads=self.cpu_threads, cpu_streams=self.cpu_streams,
            enable_mkldnn=self.enable_mkldnn, gpu_memory_mb=self.gpu_memory_mb,
            use_tensorrt=self.use_tensorrt, tensorrt_cache_dir=self.tensorrt_cache_dir,
            precision=self.precision,
            performance_hint=self.performance_hint, shape_cache_size=self.shape_cache_size,
        )

    def batch_policy(self, slot: str) -> BatchPolicy:
        """The slot's BatchPolicy: kind-wide options, then ``batching`` overrides."""
        max_batch = {"det": self.det_max_batch_size, "cls": self.cls_max_batch_size,
                     "rec": self.rec_max_batch_size}[slot.split(":", 1)[0]]
        base = BatchPolicy(max_batch_size=max_batch, max_queue_delay_us=self.max_queue_delay_us,
                           max_queue_size=self.max_queue_size)
        return policy_for_slot(base, slot, self.batching)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


#: Request field paths (ocr.v1) -> the options that hold their defaults.
_OPTION_OF_FIELD = {
    "detection.limit_side_len": "det_limit_side_len",
    "detection.limit_type": "det_limit_type",
    "detection.thresh": "det_db_thresh",
    "detection.box_thresh": "det_db_box_thresh",
    "detection.unclip_ratio": "det_db_unclip_ratio",
    "detection.max_candidates": "det_max_candidates",
    "detection.score_mode": "det_db_score_mode",
    "detection.box_type": "det_box_type",
    "classification.thresh": "cls_thresh",
    "recognition.drop_score": "drop_score",
}


def _float32(value: float) -> float:
    (rounded,) = struct.unpack("f", struct.pack("f", value))
    return float(rounded)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (an address, or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def env_name(field_name: str) -> str:
    return "OCR_" + field_name.upper()


@cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(Settings)


def _base_type(f: dataclasses.Field[Any]) -> type:
    hint = _hints()[f.name]
    origin = typing.get_origin(hint)
    return origin if origin is not None else hint


def _parse(f: dataclasses.Field[Any], raw: Any) -> Any:
    """Parse a string (env/flag) or TOML value into the field's type."""
    kind = _base_type(f)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes", "on")
        if kind is tuple:
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            item_type = typing.get_args(_hints()[f.name])[0]
            return tuple(item_type(str(i).strip()) for i in items if str(i).strip())
        return kind(raw)
    except ValueError as exc:
        raise InvalidInput(f"invalid configuration: {f.name}={raw!r}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read config file {path}: {exc}") from None
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InvalidInput(f"unknown option(s) in {path}: {', '.join(unknown)}")
    return {name: _parse(known[name], value) for name, value in data.items()}


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
