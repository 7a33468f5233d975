"""Every Prometheus metric of the server, declared once.

Names follow Triton's (``nv_inference_count`` -> ``ocr_inference_count_total``, ...)
with the ``ocr_`` prefix and Prometheus' units and suffixes.  Every process
records into its own files (prometheus_client's multiprocess mode, set up by
``metrics/exposition.py`` before this module is imported); the ``/metrics``
endpoint sums them.  A dead process's counter and histogram files stay, so
totals never go backwards when a child restarts; gauges count live processes
only.  Per-model series carry ``slot``, ``model`` and ``version``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MODEL = ("slot", "model", "version")

#: Seconds: from a millisecond to a long queue behind a page of text on a CPU.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
COUNT_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
PIXEL_BUCKETS = (1e4, 1e5, 3e5, 1e6, 2e6, 4e6, 8e6, 16e6, 32e6, 64e6)

# ------------------------------------------------------------------ requests (front-ends)

REQUEST_SUCCESS = Counter(
    "ocr_request_success", "RPCs that succeeded", ["rpc"])
REQUEST_FAILURE = Counter(
    "ocr_request_failure", "RPCs that failed, by gRPC status code and ErrorReason (the "
    "code when there is none: CANCELLED, DEADLINE_EXCEEDED)", ["rpc", "code", "reason"])
REQUEST_DURATION = Histogram(
    "ocr_request_duration_seconds", "time from an RPC's arrival to its answer (StreamOcr: "
    "to the end of the stream)", ["rpc"], buckets=DURATION_BUCKETS)
IMAGE_FAILURE = Counter(
    "ocr_image_failure", "images that failed inside an RPC that succeeded", ["rpc", "reason"])
IMAGE_PIXELS = Histogram(
    "ocr_image_pixels", "pixels of each decoded image", buckets=PIXEL_BUCKETS)
IMAGE_BOXES = Histogram(
    "ocr_image_boxes", "text boxes detected per image", buckets=COUNT_BUCKETS)
REQUEST_CROPS = Histogram(
    "ocr_request_crops", "crops (detected boxes) recognised per Ocr request, all its images",
    buckets=COUNT_BUCKETS)
RESPONSE_CACHE_HITS = Counter(
    "ocr_response_cache_hits", "results answered from the response cache")
RESPONSE_CACHE_MISSES = Counter(
    "ocr_response_cache_misses", "results looked up in the response cache and not found")

FRONTEND_FORWARDED = Counter(
    "ocr_frontend_forwarded", "unary calls a front-end handed to a less busy sibling, "
    "which answered them (frontend/spread.py)")
FRONTEND_CPU = Counter(
    "ocr_frontend_cpu_seconds", "CPU seconds of front-end threads by pipeline stage (see "
    "metrics/cpu.py; the rest of a front-end's CPU is gRPC, protobuf and the transport)",
    ["stage"])

# ------------------------------------------------------------------ streams (front-ends)

STREAM_FRAMES = Counter(
    "ocr_stream_frames", "StreamOcr frames answered, by status", ["status"])
STREAMS_ACTIVE = Gauge(
    "ocr_streams_active", "open StreamOcr streams", multiprocess_mode="livesum")

# ------------------------------------------------------------------ models (engines)

INFERENCE_COUNT = Counter(
    "ocr_inference_count", "items a model ran (detector images, crops)", MODEL)
INFERENCE_EXEC_COUNT = Counter(
    "ocr_inference_exec_count", "batches a model ran; inference_count / exec_count is the "
    "mean batch size", MODEL)
INFERENCE_QUEUE_DURATION = Histogram(
    "ocr_inference_queue_duration_seconds", "time an item waited before its batch ran: in "
    "its model's batcher, then for the inference thread (on a CPU, shared by the slots)",
    MODEL, buckets=DURATION_BUCKETS)
INFERENCE_COMPUTE_DURATION = Histogram(
    "ocr_inference_compute_duration_seconds", "time a batch took on the inference thread: "
    "the runtime, assembling and splitting included; its sum over time is how busy the "
    "models kept the device", MODEL, buckets=DURATION_BUCKETS)
INFERENCE_BATCH_SIZE = Histogram(
    "ocr_inference_batch_size", "items per batch", MODEL, buckets=BATCH_BUCKETS)
INFERENCE_PENDING = Gauge(
    "ocr_inference_pending_items", "items queued or running in a slot's batcher", ["slot"],
    multiprocess_mode="livesum")
INFERENCE_BATCH_ELEMENTS = Counter(
    "ocr_inference_batch_elements", "model-input elements of batches as run (padding "
    "included)", MODEL)
INFERENCE_ITEM_ELEMENTS = Counter(
    "ocr_inference_item_elements", "model-input elements of the items in them; "
    "batch_elements / item_elements - 1 is the padding waste", MODEL)
MODEL_STATE = Gauge(
    "ocr_model_state", "engines where the slot serves this model in this state (1 per "
    "engine; LOADING, WARMING, READY, DRAINING, FAILED, COLD)", [*MODEL, "state"],
    multiprocess_mode="livesum")
MODEL_LOAD_DURATION = Gauge(
    "ocr_model_load_duration_seconds", "reading and checking the model, at its last load",
    MODEL, multiprocess_mode="livemax")
MODEL_WARM_DURATION = Gauge(
    "ocr_model_warm_duration_seconds", "running every shape bucket once, at its last load",
    MODEL, multiprocess_mode="livemax")
MODEL_EVICTIONS = Counter(
    "ocr_model_evictions", "slots unloaded to make room (max_loaded_models, memory budget)",
    ["slot"])
