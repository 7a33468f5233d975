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
    __slots__ = ("slot", "kind", "model", "version", "backend", "device", "state", "message", "batches", "batched_items", "queued", "dropped_deadline", "dropped_cancelled", "rejected_full")
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
    def __init__(self, slot: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., backend: _Optional[str] = ..., device: _Optional[str] = ..., state: _Optional[_Union[SlotState, str]] = ..., message: _Optional[str] = ..., batches: _Optional[int] = ..., batched_items: _Optional[int] = ..., queued: _Optional[int] = ..., dropped_deadline: _Optional[int] = ..., dropped_cancelled: _Optional[int] = ..., rejected_full: _Optional[int] = ...) -> None: ...

class ListSlotsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSlotsResponse(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[SlotStatus]
    def __init__(self, slots: _Optional[_Iterable[_Union[SlotStatus, _Mapping]]] = ...) -> None: ...
