from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    NO_IMAGES: _ClassVar[ErrorReason]
    TOO_MANY_IMAGES: _ClassVar[ErrorReason]
    PARAMETER_OUT_OF_RANGE: _ClassVar[ErrorReason]
    PARAMETER_INVALID: _ClassVar[ErrorReason]
    IMAGE_EMPTY: _ClassVar[ErrorReason]
    IMAGE_UNDECODABLE: _ClassVar[ErrorReason]
    IMAGE_TOO_LARGE: _ClassVar[ErrorReason]
    IMAGE_SIZE_MISMATCH: _ClassVar[ErrorReason]
    SLOT_NOT_FOUND: _ClassVar[ErrorReason]
    QUEUE_FULL: _ClassVar[ErrorReason]
    ENGINE_UNAVAILABLE: _ClassVar[ErrorReason]
    SERVER_DRAINING: _ClassVar[ErrorReason]
    DEADLINE_EXCEEDED: _ClassVar[ErrorReason]
    INFERENCE_FAILED: _ClassVar[ErrorReason]
    INTERNAL_ERROR: _ClassVar[ErrorReason]
    MODEL_NOT_FOUND: _ClassVar[ErrorReason]
    DETECTOR_INPUT_TOO_LARGE: _ClassVar[ErrorReason]
    REQUEST_TOO_LARGE: _ClassVar[ErrorReason]
    SERVER_OVERLOADED: _ClassVar[ErrorReason]
    MODEL_LOAD_FAILED: _ClassVar[ErrorReason]
    SLOT_BUSY: _ClassVar[ErrorReason]
    SLOT_EXISTS: _ClassVar[ErrorReason]
    MODEL_VERSION_MISMATCH: _ClassVar[ErrorReason]
    ADMIN_TOKEN_REQUIRED: _ClassVar[ErrorReason]
    URL_NOT_ALLOWED: _ClassVar[ErrorReason]
    MEMORY_BUDGET: _ClassVar[ErrorReason]
    INFERENCE_TOKEN_REQUIRED: _ClassVar[ErrorReason]

class ChannelOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_ORDER_UNSPECIFIED: _ClassVar[ChannelOrder]
    CHANNEL_ORDER_BGR: _ClassVar[ChannelOrder]
    CHANNEL_ORDER_RGB: _ClassVar[ChannelOrder]
    CHANNEL_ORDER_GRAY: _ClassVar[ChannelOrder]
    CHANNEL_ORDER_BGRA: _ClassVar[ChannelOrder]
    CHANNEL_ORDER_RGBA: _ClassVar[ChannelOrder]

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_NORMAL: _ClassVar[Priority]
    PRIORITY_HIGH: _ClassVar[Priority]

class LimitType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIMIT_TYPE_UNSPECIFIED: _ClassVar[LimitType]
    LIMIT_TYPE_MAX: _ClassVar[LimitType]
    LIMIT_TYPE_MIN: _ClassVar[LimitType]
    LIMIT_TYPE_RESIZE_LONG: _ClassVar[LimitType]

class ScoreMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCORE_MODE_UNSPECIFIED: _ClassVar[ScoreMode]
    SCORE_MODE_FAST: _ClassVar[ScoreMode]
    SCORE_MODE_SLOW: _ClassVar[ScoreMode]

class BoxType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOX_TYPE_UNSPECIFIED: _ClassVar[BoxType]
    BOX_TYPE_QUAD: _ClassVar[BoxType]
    BOX_TYPE_POLY: _ClassVar[BoxType]

class OverloadPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERLOAD_POLICY_UNSPECIFIED: _ClassVar[OverloadPolicy]
    OVERLOAD_POLICY_LATEST: _ClassVar[OverloadPolicy]
    OVERLOAD_POLICY_BLOCK: _ClassVar[OverloadPolicy]

class FrameStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_STATUS_UNSPECIFIED: _ClassVar[FrameStatus]
    FRAME_STATUS_PROCESSED: _ClassVar[FrameStatus]
    FRAME_STATUS_DROPPED: _ClassVar[FrameStatus]
    FRAME_STATUS_DEDUPED: _ClassVar[FrameStatus]
    FRAME_STATUS_FAILED: _ClassVar[FrameStatus]
ERROR_REASON_UNSPECIFIED: ErrorReason
NO_IMAGES: ErrorReason
TOO_MANY_IMAGES: ErrorReason
PARAMETER_OUT_OF_RANGE: ErrorReason
PARAMETER_INVALID: ErrorReason
IMAGE_EMPTY: ErrorReason
IMAGE_UNDECODABLE: ErrorReason
IMAGE_TOO_LARGE: ErrorReason
IMAGE_SIZE_MISMATCH: ErrorReason
SLOT_NOT_FOUND: ErrorReason
QUEUE_FULL: ErrorReason
ENGINE_UNAVAILABLE: ErrorReason
SERVER_DRAINING: ErrorReason
DEADLINE_EXCEEDED: ErrorReason
INFERENCE_FAILED: ErrorReason
INTERNAL_ERROR: ErrorReason
MODEL_NOT_FOUND: ErrorReason
DETECTOR_INPUT_TOO_LARGE: ErrorReason
REQUEST_TOO_LARGE: ErrorReason
SERVER_OVERLOADED: ErrorReason
MODEL_LOAD_FAILED: ErrorReason
SLOT_BUSY: ErrorReason
SLOT_EXISTS: ErrorReason
MODEL_VERSION_MISMATCH: ErrorReason
ADMIN_TOKEN_REQUIRED: ErrorReason
URL_NOT_ALLOWED: ErrorReason
MEMORY_BUDGET: ErrorReason
INFERENCE_TOKEN_REQUIRED: ErrorReason
CHANNEL_ORDER_UNSPECIFIED: ChannelOrder
CHANNEL_ORDER_BGR: ChannelOrder
CHANNEL_ORDER_RGB: ChannelOrder
CHANNEL_ORDER_GRAY: ChannelOrder
CHANNEL_ORDER_BGRA: ChannelOrder
CHANNEL_ORDER_RGBA: ChannelOrder
PRIORITY_UNSPECIFIED: Priority
PRIORITY_NORMAL: Priority
PRIORITY_HIGH: Priority
LIMIT_TYPE_UNSPECIFIED: LimitType
LIMIT_TYPE_MAX: LimitType
LIMIT_TYPE_MIN: LimitType
LIMIT_TYPE_RESIZE_LONG: LimitType
SCORE_MODE_UNSPECIFIED: ScoreMode
SCORE_MODE_FAST: ScoreMode
SCORE_MODE_SLOW: ScoreMode
BOX_TYPE_UNSPECIFIED: BoxType
BOX_TYPE_QUAD: BoxType
BOX_TYPE_POLY: BoxType
OVERLOAD_POLICY_UNSPECIFIED: OverloadPolicy
OVERLOAD_POLICY_LATEST: OverloadPolicy
OVERLOAD_POLICY_BLOCK: OverloadPolicy
FRAME_STATUS_UNSPECIFIED: FrameStatus
FRAME_STATUS_PROCESSED: FrameStatus
FRAME_STATUS_DROPPED: FrameStatus
FRAME_STATUS_DEDUPED: FrameStatus
FRAME_STATUS_FAILED: FrameStatus

class Image(_message.Message):
    __slots__ = ("encoded", "raw", "id")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    encoded: bytes
    raw: RawImage
    id: str
    def __init__(self, encoded: _Optional[bytes] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ..., id: _Optional[str] = ...) -> None: ...

class RawImage(_message.Message):
    __slots__ = ("pixels", "width", "height", "channel_order")
    PIXELS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ORDER_FIELD_NUMBER: _ClassVar[int]
    pixels: bytes
    width: int
    height: int
    channel_order: ChannelOrder
    def __init__(self, pixels: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., channel_order: _Optional[_Union[ChannelOrder, str]] = ...) -> None: ...

class DetectionParams(_message.Message):
    __slots__ = ("slot", "limit_side_len", "limit_type", "thresh", "box_thresh", "unclip_ratio", "max_candidates", "score_mode", "use_dilation", "box_type")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_SIDE_LEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_TYPE_FIELD_NUMBER: _ClassVar[int]
    THRESH_FIELD_NUMBER: _ClassVar[int]
    BOX_THRESH_FIELD_NUMBER: _ClassVar[int]
    UNCLIP_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    SCORE_MODE_FIELD_NUMBER: _ClassVar[int]
    USE_DILATION_FIELD_NUMBER: _ClassVar[int]
    BOX_TYPE_FIELD_NUMBER: _ClassVar[int]
    slot: str
    limit_side_len: int
    limit_type: LimitType
    thresh: float
    box_thresh: float
    unclip_ratio: float
    max_candidates: int
    score_mode: ScoreMode
    use_dilation: bool
    box_type: BoxType
    def __init__(self, slot: _Optional[str] = ..., limit_side_len: _Optional[int] = ..., limit_type: _Optional[_Union[LimitType, str]] = ..., thresh: _Optional[float] = ..., box_thresh: _Optional[float] = ..., unclip_ratio: _Optional[float] = ..., max_candidates: _Optional[int] = ..., score_mode: _Optional[_Union[ScoreMode, str]] = ..., use_dilation: bool = ..., box_type: _Optional[_Union[BoxType, str]] = ...) -> None: ...

class ClassificationParams(_message.Message):
    __slots__ = ("slot", "thresh")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    THRESH_FIELD_NUMBER: _ClassVar[int]
    slot: str
    thresh: float
    def __init__(self, slot: _Optional[str] = ..., thresh: _Optional[float] = ...) -> None: ...

class RecognitionParams(_message.Message):
    __slots__ = ("slot", "drop_score")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    DROP_SCORE_FIELD_NUMBER: _ClassVar[int]
    slot: str
    drop_score: float
    def __init__(self, slot: _Optional[str] = ..., drop_score: _Optional[float] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("stage", "slot", "name", "version")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    stage: str
    slot: str
    name: str
    version: int
    def __init__(self, stage: _Optional[str] = ..., slot: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class StageTimings(_message.Message):
    __slots__ = ("decode_ms", "det_ms", "cls_ms", "rec_ms", "total_ms", "cached")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    DET_MS_FIELD_NUMBER: _ClassVar[int]
    CLS_MS_FIELD_NUMBER: _ClassVar[int]
    REC_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    det_ms: float
    cls_ms: float
    rec_ms: float
    total_ms: float
    cached: bool
    def __init__(self, decode_ms: _Optional[float] = ..., det_ms: _Optional[float] = ..., cls_ms: _Optional[float] = ..., rec_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., cached: bool = ...) -> None: ...

class TextBox(_message.Message):
    __slots__ = ("points", "score")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[Point]
    score: float
    def __init__(self, points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., score: _Optional[float] = ...) -> None: ...

class TextLine(_message.Message):
    __slots__ = ("box", "text", "score", "angle", "angle_score", "box_score", "rotated")
    BOX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ANGLE_FIELD_NUMBER: _ClassVar[int]
    ANGLE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BOX_SCORE_FIELD_NUMBER: _ClassVar[int]
    ROTATED_FIELD_NUMBER: _ClassVar[int]
    box: _containers.RepeatedCompositeFieldContainer[Point]
    text: str
    score: float
    angle: int
    angle_score: float
    box_score: float
    rotated: bool
    def __init__(self, box: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., text: _Optional[str] = ..., score: _Optional[float] = ..., angle: _Optional[int] = ..., angle_score: _Optional[float] = ..., box_score: _Optional[float] = ..., rotated: bool = ...) -> None: ...

class DetectRequest(_message.Message):
    __slots__ = ("images", "detection", "return_timings", "priority")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    RETURN_TIMINGS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    detection: DetectionParams
    return_timings: bool
    priority: Priority
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., detection: _Optional[_Union[DetectionParams, _Mapping]] = ..., return_timings: bool = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class DetectResult(_message.Message):
    __slots__ = ("id", "width", "height", "boxes", "timings", "models", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    width: int
    height: int
    boxes: _containers.RepeatedCompositeFieldContainer[TextBox]
    timings: StageTimings
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    error: _status_pb2.Status
    def __init__(self, id: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., boxes: _Optional[_Iterable[_Union[TextBox, _Mapping]]] = ..., timings: _Optional[_Union[StageTimings, _Mapping]] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class DetectResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DetectResult]
    def __init__(self, results: _Optional[_Iterable[_Union[DetectResult, _Mapping]]] = ...) -> None: ...

class ClassifyRequest(_message.Message):
    __slots__ = ("images", "classification", "priority")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    classification: ClassificationParams
    priority: Priority
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., classification: _Optional[_Union[ClassificationParams, _Mapping]] = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class Classification(_message.Message):
    __slots__ = ("id", "angle", "score", "rotated", "models", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    ANGLE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ROTATED_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    angle: int
    score: float
    rotated: bool
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    error: _status_pb2.Status
    def __init__(self, id: _Optional[str] = ..., angle: _Optional[int] = ..., score: _Optional[float] = ..., rotated: bool = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Classification]
    def __init__(self, results: _Optional[_Iterable[_Union[Classification, _Mapping]]] = ...) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("images", "slot", "priority")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    slot: str
    priority: Priority
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., slot: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class Recognition(_message.Message):
    __slots__ = ("id", "text", "score", "models", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    score: float
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    error: _status_pb2.Status
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., score: _Optional[float] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Recognition]
    def __init__(self, results: _Optional[_Iterable[_Union[Recognition, _Mapping]]] = ...) -> None: ...

class OcrRequest(_message.Message):
    __slots__ = ("images", "detection", "classification", "recognition", "use_angle_cls", "return_timings", "priority")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    RECOGNITION_FIELD_NUMBER: _ClassVar[int]
    USE_ANGLE_CLS_FIELD_NUMBER: _ClassVar[int]
    RETURN_TIMINGS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    detection: DetectionParams
    classification: ClassificationParams
    recognition: RecognitionParams
    use_angle_cls: bool
    return_timings: bool
    priority: Priority
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., detection: _Optional[_Union[DetectionParams, _Mapping]] = ..., classification: _Optional[_Union[ClassificationParams, _Mapping]] = ..., recognition: _Optional[_Union[RecognitionParams, _Mapping]] = ..., use_angle_cls: bool = ..., return_timings: bool = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class OcrResult(_message.Message):
    __slots__ = ("id", "width", "height", "lines", "timings", "models", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    width: int
    height: int
    lines: _containers.RepeatedCompositeFieldContainer[TextLine]
    timings: StageTimings
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    error: _status_pb2.Status
    def __init__(self, id: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., lines: _Optional[_Iterable[_Union[TextLine, _Mapping]]] = ..., timings: _Optional[_Union[StageTimings, _Mapping]] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class OcrResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[OcrResult]
    def __init__(self, results: _Optional[_Iterable[_Union[OcrResult, _Mapping]]] = ...) -> None: ...

class StreamOcrRequest(_message.Message):
    __slots__ = ("config", "frame")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    frame: Frame
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ...) -> None: ...

class StreamConfig(_message.Message):
    __slots__ = ("detection", "classification", "recognition", "use_angle_cls", "max_in_flight", "overload", "max_staleness_s", "dedup_threshold", "priority", "return_timings")
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    RECOGNITION_FIELD_NUMBER: _ClassVar[int]
    USE_ANGLE_CLS_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    OVERLOAD_FIELD_NUMBER: _ClassVar[int]
    MAX_STALENESS_S_FIELD_NUMBER: _ClassVar[int]
    DEDUP_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    RETURN_TIMINGS_FIELD_NUMBER: _ClassVar[int]
    detection: DetectionParams
    classification: ClassificationParams
    recognition: RecognitionParams
    use_angle_cls: bool
    max_in_flight: int
    overload: OverloadPolicy
    max_staleness_s: float
    dedup_threshold: float
    priority: Priority
    return_timings: bool
    def __init__(self, detection: _Optional[_Union[DetectionParams, _Mapping]] = ..., classification: _Optional[_Union[ClassificationParams, _Mapping]] = ..., recognition: _Optional[_Union[RecognitionParams, _Mapping]] = ..., use_angle_cls: bool = ..., max_in_flight: _Optional[int] = ..., overload: _Optional[_Union[OverloadPolicy, str]] = ..., max_staleness_s: _Optional[float] = ..., dedup_threshold: _Optional[float] = ..., priority: _Optional[_Union[Priority, str]] = ..., return_timings: bool = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("image", "frame_id", "timestamp_s")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_S_FIELD_NUMBER: _ClassVar[int]
    image: Image
    frame_id: int
    timestamp_s: float
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., frame_id: _Optional[int] = ..., timestamp_s: _Optional[float] = ...) -> None: ...

class StreamOcrResponse(_message.Message):
    __slots__ = ("frame_id", "timestamp_s", "status", "result", "latency_ms", "deduped_from", "drop_reason", "reused_crops")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_S_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    DEDUPED_FROM_FIELD_NUMBER: _ClassVar[int]
    DROP_REASON_FIELD_NUMBER: _ClassVar[int]
    REUSED_CROPS_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    timestamp_s: float
    status: FrameStatus
    result: OcrResult
    latency_ms: float
    deduped_from: int
    drop_reason: str
    reused_crops: int
    def __init__(self, frame_id: _Optional[int] = ..., timestamp_s: _Optional[float] = ..., status: _Optional[_Union[FrameStatus, str]] = ..., result: _Optional[_Union[OcrResult, _Mapping]] = ..., latency_ms: _Optional[float] = ..., deduped_from: _Optional[int] = ..., drop_reason: _Optional[str] = ..., reused_crops: _Optional[int] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("server_version", "api_version", "limits", "defaults", "slots", "response_cache", "streams")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CACHE_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    api_version: str
    limits: Limits
    defaults: Defaults
    slots: _containers.RepeatedCompositeFieldContainer[ServedSlot]
    response_cache: ResponseCacheStats
    streams: StreamStats
    def __init__(self, server_version: _Optional[str] = ..., api_version: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., defaults: _Optional[_Union[Defaults, _Mapping]] = ..., slots: _Optional[_Iterable[_Union[ServedSlot, _Mapping]]] = ..., response_cache: _Optional[_Union[ResponseCacheStats, _Mapping]] = ..., streams: _Optional[_Union[StreamStats, _Mapping]] = ...) -> None: ...

class StreamStats(_message.Message):
    __slots__ = ("active_streams", "frames_in_server", "processed", "dropped", "deduped", "failed")
    ACTIVE_STREAMS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_IN_SERVER_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    DEDUPED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    active_streams: int
    frames_in_server: int
    processed: int
    dropped: int
    deduped: int
    failed: int
    def __init__(self, active_streams: _Optional[int] = ..., frames_in_server: _Optional[int] = ..., processed: _Optional[int] = ..., dropped: _Optional[int] = ..., deduped: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class ResponseCacheStats(_message.Message):
    __slots__ = ("enabled", "max_bytes", "bytes", "entries", "hits", "misses", "evictions")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    max_bytes: int
    bytes: int
    entries: int
    hits: int
    misses: int
    evictions: int
    def __init__(self, enabled: bool = ..., max_bytes: _Optional[int] = ..., bytes: _Optional[int] = ..., entries: _Optional[int] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., evictions: _Optional[int] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_message_bytes", "max_image_pixels", "max_images_per_request", "max_rec_width", "max_request_pixels", "det_max_side_len", "det_max_pixels", "max_crops_per_image", "stream_max_in_flight")
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGES_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MAX_REC_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_PIXELS_FIELD_NUMBER: _ClassVar[int]
    DET_MAX_SIDE_LEN_FIELD_NUMBER: _ClassVar[int]
    DET_MAX_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_CROPS_PER_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STREAM_MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    max_message_bytes: int
    max_image_pixels: int
    max_images_per_request: int
    max_rec_width: int
    max_request_pixels: int
    det_max_side_len: int
    det_max_pixels: int
    max_crops_per_image: int
    stream_max_in_flight: int
    def __init__(self, max_message_bytes: _Optional[int] = ..., max_image_pixels: _Optional[int] = ..., max_images_per_request: _Optional[int] = ..., max_rec_width: _Optional[int] = ..., max_request_pixels: _Optional[int] = ..., det_max_side_len: _Optional[int] = ..., det_max_pixels: _Optional[int] = ..., max_crops_per_image: _Optional[int] = ..., stream_max_in_flight: _Optional[int] = ...) -> None: ...

class Defaults(_message.Message):
    __slots__ = ("detection", "classification", "recognition", "use_angle_cls")
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    RECOGNITION_FIELD_NUMBER: _ClassVar[int]
    USE_ANGLE_CLS_FIELD_NUMBER: _ClassVar[int]
    detection: DetectionParams
    classification: ClassificationParams
    recognition: RecognitionParams
    use_angle_cls: bool
    def __init__(self, detection: _Optional[_Union[DetectionParams, _Mapping]] = ..., classification: _Optional[_Union[ClassificationParams, _Mapping]] = ..., recognition: _Optional[_Union[RecognitionParams, _Mapping]] = ..., use_angle_cls: bool = ...) -> None: ...

class ServedSlot(_message.Message):
    __slots__ = ("model", "language", "ready")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    model: ModelRef
    language: str
    ready: bool
    def __init__(self, model: _Optional[_Union[ModelRef, _Mapping]] = ..., language: _Optional[str] = ..., ready: bool = ...) -> None: ...
