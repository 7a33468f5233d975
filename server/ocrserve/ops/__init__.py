"""Pure OCR operations (numpy, OpenCV, pyclipper): PaddleOCR 2.8.1's pre- and post-processing.

``image`` decodes requests, ``det`` / ``cls`` / ``rec`` build model inputs and read model
outputs, ``geometry`` sorts and crops boxes.  Nothing here knows about models, runtimes or gRPC.
"""
