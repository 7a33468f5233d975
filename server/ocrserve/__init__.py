"""ocrserve: a gRPC inference server for PaddleOCR models.

Runtime roles, one folder each:

- ``supervisor/``: the parent process; spawns front-ends and engines, restarts, drains.
- ``frontend/``:   gRPC servicers; decode, pre- and post-process, run the pipeline.
- ``engine/``:     one process per device; owns model slots and their dynamic batchers.
- ``models/``:     the catalog of known models, the on-disk repository, ``ocr-models``.
- ``runtimes/``:   inference backends (Paddle Inference, onnxruntime, OpenVINO) behind one Protocol.
- ``ops/``:        pure numpy/OpenCV det/cls/rec pre- and post-processing.
- ``pipeline.py``: det -> crops -> cls -> rec over an abstract inference client.
"""

__version__ = "0.2.0"
