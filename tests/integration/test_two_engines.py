"""Two real CPU engines behind their sockets, one router: work spreads, results do not change."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocrserve.engine.engine import Engine
from ocrserve.engine.router import EngineRouter
from ocrserve.engine.transport import EngineClient, EngineServer
from ocrserve.ops.image import decode_image
from ocrserve.pipeline import OcrParams, Pipeline
from ocrserve.settings import Settings


def test_two_engines_share_the_work_and_agree_with_one(model_repository: Path,
                                                       small_image_set: list[Path],
                                                       tmp_path: Path) -> None:
    settings = Settings(model_repository=str(model_repository))
    images = [decode_image(p.read_bytes()) for p in small_image_set]

    async def main() -> tuple[list[list[str]], list[list[str]], list[int]]:
        engines = [Engine.from_settings(settings) for _ in range(2)]
        servers = [EngineServer(engine, str(tmp_path / f"engine-{i}.sock"))
                   for i, engine in enumerate(engines)]
        for engine, server in zip(engines, servers, strict=True):
            await engine.start()
            await server.start()
        router = EngineRouter([EngineClient(server.path) for server in servers])
        await router.start()
        try:
            pipeline = Pipeline(router)
            routed = await asyncio.gather(*(pipeline.ocr(img, OcrParams()) for img in images))
            det_items = [engine.stats()["det"].items for engine in engines]
            alone = Pipeline(engines[0])
            direct = [await alone.ocr(img, OcrParams()) for img in images]
        finally:
            await router.close()
            for engine, server in zip(engines, servers, strict=True):
                await server.close()
                await engine.close()
        texts = [[line.text for line in out.value] for out in routed]
        return texts, [[line.text for line in out.value] for out in direct], det_items

    routed, direct, det_items = asyncio.run(main())
    assert routed == direct and sum(map(len, routed)) > 10
    assert sum(det_items) == len(images) and min(det_items) > 0, det_items
