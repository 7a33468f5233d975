from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    def __init__(self, slot: _Optional[str] = ..., limit_side_len: _Optional[int] = ..., limit_type: _Optional[_Union[LimitType, str]] = ..., thresh: _Optional[float] = ..., box_thresh: _Optional[float] = ..., unclip_ratio: _Optional[float] = ..., max_candidates: _Optional[int] = ..., score_mode: _Optional[_Union[ScoreMode, str]] = ..., use_dilation: _Optional[bool] = ..., box_type: _Optional[_Union[BoxType, str]] = ...) -> None: ...

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
    __slots__ = ("decode_ms", "det_ms", "cls_ms", "rec_ms", "total_ms")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    DET_MS_FIELD_NUMBER: _ClassVar[int]
    CLS_MS_FIELD_NUMBER: _ClassVar[int]
    REC_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    det_ms: float
    cls_ms: float
    rec_ms: float
    total_ms: float
    def __init__(self, decode_ms: _Optional[float] = ..., det_ms: _Optional[float] = ..., cls_ms: _Optional[float] = ..., rec_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class TextBox(_message.Message):
    __slots__ = ("points", "score")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[Point]
    score: float
    def __init__(self, points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., score: _Optional[float] = ...) -> None: ...

class TextLine(_message.Message):
    __slots__ = ("box", "text", "score", "angle", "angle_score", "box_score")
    BOX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ANGLE_FIELD_NUMBER: _ClassVar[int]
    ANGLE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BOX_SCORE_FIELD_NUMBER: _ClassVar[int]
    box: _containers.RepeatedCompositeFieldContainer[Point]
    text: str
    score: float
    angle: int
    angle_score: float
    box_score: float
    def __init__(self, box: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., text: _Optional[str] = ..., score: _Optional[float] = ..., angle: _Optional[int] = ..., angle_score: _Optional[float] = ..., box_score: _Optional[float] = ...) -> None: ...

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
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., detection: _Optional[_Union[DetectionParams, _Mapping]] = ..., return_timings: _Optional[bool] = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class DetectResult(_message.Message):
    __slots__ = ("id", "width", "height", "boxes", "timings")
    ID_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    width: int
    height: int
    boxes: _containers.RepeatedCompositeFieldContainer[TextBox]
    timings: StageTimings
    def __init__(self, id: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., boxes: _Optional[_Iterable[_Union[TextBox, _Mapping]]] = ..., timings: _Optional[_Union[StageTimings, _Mapping]] = ...) -> None: ...

class DetectResponse(_message.Message):
    __slots__ = ("results", "models")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DetectResult]
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    def __init__(self, results: _Optional[_Iterable[_Union[DetectResult, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ...) -> None: ...

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
    __slots__ = ("id", "angle", "score")
    ID_FIELD_NUMBER: _ClassVar[int]
    ANGLE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    id: str
    angle: int
    score: float
    def __init__(self, id: _Optional[str] = ..., angle: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("results", "models")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Classification]
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    def __init__(self, results: _Optional[_Iterable[_Union[Classification, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ...) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("images", "recognition", "priority")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    RECOGNITION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    recognition: RecognitionParams
    priority: Priority
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., recognition: _Optional[_Union[RecognitionParams, _Mapping]] = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class Recognition(_message.Message):
    __slots__ = ("id", "text", "score")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    score: float
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("results", "models")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Recognition]
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    def __init__(self, results: _Optional[_Iterable[_Union[Recognition, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ...) -> None: ...

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
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., detection: _Optional[_Union[DetectionParams, _Mapping]] = ..., classification: _Optional[_Union[ClassificationParams, _Mapping]] = ..., recognition: _Optional[_Union[RecognitionParams, _Mapping]] = ..., use_angle_cls: _Optional[bool] = ..., return_timings: _Optional[bool] = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class OcrResult(_message.Message):
    __slots__ = ("id", "width", "height", "lines", "timings")
    ID_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    width: int
    height: int
    lines: _containers.RepeatedCompositeFieldContainer[TextLine]
    timings: StageTimings
    def __init__(self, id: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., lines: _Optional[_Iterable[_Union[TextLine, _Mapping]]] = ..., timings: _Optional[_Union[StageTimings, _Mapping]] = ...) -> None: ...

class OcrResponse(_message.Message):
    __slots__ = ("results", "models")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[OcrResult]
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    def __init__(self, results: _Optional[_Iterable[_Union[OcrResult, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ...) -> None: ...

class StreamOcrRequest(_message.Message):
    __slots__ = ("frame_id", "image", "detection", "classification", "recognition", "use_angle_cls", "priority")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    RECOGNITION_FIELD_NUMBER: _ClassVar[int]
    USE_ANGLE_CLS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    image: Image
    detection: DetectionParams
    classification: ClassificationParams
    recognition: RecognitionParams
    use_angle_cls: bool
    priority: Priority
    def __init__(self, frame_id: _Optional[int] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., detection: _Optional[_Union[DetectionParams, _Mapping]] = ..., classification: _Optional[_Union[ClassificationParams, _Mapping]] = ..., recognition: _Optional[_Union[RecognitionParams, _Mapping]] = ..., use_angle_cls: _Optional[bool] = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class StreamOcrResponse(_message.Message):
    __slots__ = ("frame_id", "result", "models")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    result: OcrResult
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    def __init__(self, frame_id: _Optional[int] = ..., result: _Optional[_Union[OcrResult, _Mapping]] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ...) -> None: ...
