from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_KIND_UNSPECIFIED: _ClassVar[ModelKind]
    MODEL_KIND_DET: _ClassVar[ModelKind]
    MODEL_KIND_CLS: _ClassVar[ModelKind]
    MODEL_KIND_REC: _ClassVar[ModelKind]

class SlotState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLOT_STATE_UNSPECIFIED: _ClassVar[SlotState]
    SLOT_STATE_LOADING: _ClassVar[SlotState]
    SLOT_STATE_WARMING: _ClassVar[SlotState]
    SLOT_STATE_READY: _ClassVar[SlotState]
    SLOT_STATE_DRAINING: _ClassVar[SlotState]
    SLOT_STATE_FAILED: _ClassVar[SlotState]
    SLOT_STATE_COLD: _ClassVar[SlotState]
MODEL_KIND_UNSPECIFIED: ModelKind
MODEL_KIND_DET: ModelKind
MODEL_KIND_CLS: ModelKind
MODEL_KIND_REC: ModelKind
SLOT_STATE_UNSPECIFIED: SlotState
SLOT_STATE_LOADING: SlotState
SLOT_STATE_WARMING: SlotState
SLOT_STATE_READY: SlotState
SLOT_STATE_DRAINING: SlotState
SLOT_STATE_FAILED: SlotState
SLOT_STATE_COLD: SlotState

class CatalogModel(_message.Message):
    __slots__ = ("name", "kind", "language", "slim", "size", "inference_url", "installed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SLIM_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_URL_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ModelKind
    language: str
    slim: bool
    size: str
    inference_url: str
    installed: _containers.RepeatedCompositeFieldContainer[InstalledVersion]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., language: _Optional[str] = ..., slim: bool = ..., size: _Optional[str] = ..., inference_url: _Optional[str] = ..., installed: _Optional[_Iterable[_Union[InstalledVersion, _Mapping]]] = ...) -> None: ...

class InstalledVersion(_message.Message):
    __slots__ = ("version", "format", "source")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    version: int
    format: str
    source: str
    def __init__(self, version: _Optional[int] = ..., format: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class ListCatalogRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCatalogResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[CatalogModel]
    def __init__(self, models: _Optional[_Iterable[_Union[CatalogModel, _Mapping]]] = ...) -> None: ...

class SlotStatus(_message.Message):
    __slots__ = ("slot", "kind", "model", "version", "backend", "device", "state", "message", "batches", "batched_items", "queued", "dropped_deadline", "dropped_cancelled", "rejected_full", "standby_model", "standby_version", "load_seconds", "warm_seconds", "last_used_unix", "memory_bytes", "model_bytes")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    BATCHED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    DROPPED_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FULL_FIELD_NUMBER: _ClassVar[int]
    STANDBY_MODEL_FIELD_NUMBER: _ClassVar[int]
    STANDBY_VERSION_FIELD_NUMBER: _ClassVar[int]
    LOAD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WARM_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_UNIX_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODEL_BYTES_FIELD_NUMBER: _ClassVar[int]
    slot: str
    kind: ModelKind
    model: str
    version: int
    backend: str
    device: str
    state: SlotState
    message: str
    batches: int
    batched_items: int
    queued: int
    dropped_deadline: int
    dropped_cancelled: int
    rejected_full: int
    standby_model: str
    standby_version: int
    load_seconds: float
    warm_seconds: float
    last_used_unix: float
    memory_bytes: int
    model_bytes: int
    def __init__(self, slot: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., backend: _Optional[str] = ..., device: _Optional[str] = ..., state: _Optional[_Union[SlotState, str]] = ..., message: _Optional[str] = ..., batches: _Optional[int] = ..., batched_items: _Optional[int] = ..., queued: _Optional[int] = ..., dropped_deadline: _Optional[int] = ..., dropped_cancelled: _Optional[int] = ..., rejected_full: _Optional[int] = ..., standby_model: _Optional[str] = ..., standby_version: _Optional[int] = ..., load_seconds: _Optional[float] = ..., warm_seconds: _Optional[float] = ..., last_used_unix: _Optional[float] = ..., memory_bytes: _Optional[int] = ..., model_bytes: _Optional[int] = ...) -> None: ...

class ListSlotsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSlotRequest(_message.Message):
    __slots__ = ("slot",)
    SLOT_FIELD_NUMBER: _ClassVar[int]
    slot: str
    def __init__(self, slot: _Optional[str] = ...) -> None: ...

class WatchSlotsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SlotEvent(_message.Message):
    __slots__ = ("slot", "removed")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    slot: SlotStatus
    removed: bool
    def __init__(self, slot: _Optional[_Union[SlotStatus, _Mapping]] = ..., removed: bool = ...) -> None: ...

class ModelSpec(_message.Message):
    __slots__ = ("name", "version", "format")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    format: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., format: _Optional[str] = ...) -> None: ...

class LoadSlotRequest(_message.Message):
    __slots__ = ("slot", "model", "request_id")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    slot: str
    model: ModelSpec
    request_id: str
    def __init__(self, slot: _Optional[str] = ..., model: _Optional[_Union[ModelSpec, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SwapSlotRequest(_message.Message):
    __slots__ = ("slot", "model", "request_id", "expected_version")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    slot: str
    model: ModelSpec
    request_id: str
    expected_version: int
    def __init__(self, slot: _Optional[str] = ..., model: _Optional[_Union[ModelSpec, _Mapping]] = ..., request_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UnloadSlotRequest(_message.Message):
    __slots__ = ("slot", "request_id", "expected_version")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    slot: str
    request_id: str
    expected_version: int
    def __init__(self, slot: _Optional[str] = ..., request_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UnloadSlotResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SlotOperationProgress(_message.Message):
    __slots__ = ("slots", "done")
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[SlotStatus]
    done: bool
    def __init__(self, slots: _Optional[_Iterable[_Union[SlotStatus, _Mapping]]] = ..., done: bool = ...) -> None: ...

class PullModelRequest(_message.Message):
    __slots__ = ("name", "url", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    url: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., url: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PullProgress(_message.Message):
    __slots__ = ("phase", "bytes_done", "bytes_total", "sha256", "version", "format")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PHASE_UNSPECIFIED: _ClassVar[PullProgress.Phase]
        PHASE_DOWNLOADING: _ClassVar[PullProgress.Phase]
        PHASE_INSTALLING: _ClassVar[PullProgress.Phase]
        PHASE_DONE: _ClassVar[PullProgress.Phase]
    PHASE_UNSPECIFIED: PullProgress.Phase
    PHASE_DOWNLOADING: PullProgress.Phase
    PHASE_INSTALLING: PullProgress.Phase
    PHASE_DONE: PullProgress.Phase
    PHASE_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    phase: PullProgress.Phase
    bytes_done: int
    bytes_total: int
    sha256: str
    version: int
    format: str
    def __init__(self, phase: _Optional[_Union[PullProgress.Phase, str]] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ..., sha256: _Optional[str] = ..., version: _Optional[int] = ..., format: _Optional[str] = ...) -> None: ...

class ListSlotsResponse(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[SlotStatus]
    def __init__(self, slots: _Optional[_Iterable[_Union[SlotStatus, _Mapping]]] = ...) -> None: ...
