"""``ocr-server``: parse settings, then run one process or the supervisor."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from ocrserve.errors import OcrError
from ocrserve.logs import configure_logging, log_effective_settings
from ocrserve.memory import limit_arenas
from ocrserve.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = Settings.load(argv)
    except OcrError as exc:
        print(f"ocr-server: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    log_effective_settings(settings)
    limit_arenas()  # children do the same for themselves
    try:
        if settings.workers == 0:
            from ocrserve.engine.engine import Engine
            from ocrserve.frontend.process import serve
            from ocrserve.metrics.exposition import ProcessTable, serve_metrics

            if settings.metrics_port >= 0:
                table = ProcessTable()
                table.started(os.getpid(), "server")
                serve_metrics(settings.host, settings.metrics_port, table)

            asyncio.run(serve(settings, Engine.from_settings(settings, settings.device_list[0])))
        else:
            from ocrserve.engine.engine import slot_configs
            from ocrserve.supervisor.multiprocess import Supervisor

            slot_configs(settings, "cpu")  # fail now, not in a restart loop, on a missing model
            return Supervisor(settings).run()
    except OcrError as exc:
        logging.getLogger("ocrserve").error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
