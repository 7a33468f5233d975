"""The Grafana dashboard of the Helm chart, and the parser of the metrics it queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocrserve.metrics.dashboard import expr_metrics, panel_exprs, queried_metrics

DASHBOARD = (Path(__file__).resolve().parents[3]
             / "helm" / "ocrserve" / "dashboards" / "ocrserve.json")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JOB = 'job=~"$job"'

#: Sample names a scrape of the server exposes (histograms as their ``_bucket`` series).
KNOWN = {
    "ocr_request_success_total",
    "ocr_request_failure_total",
    "ocr_request_duration_seconds_bucket",
    "ocr_image_failure_total",
    "ocr_image_pixels_bucket",
    "ocr_image_boxes_bucket",
    "ocr_request_crops_bucket",
    "ocr_response_cache_hits_total",
    "ocr_response_cache_misses_total",
    "ocr_stream_frames_total",
    "ocr_streams_active",
    "ocr_inference_count_total",
    "ocr_inference_exec_count_total",
    "ocr_inference_queue_duration_seconds_bucket",
    "ocr_inference_compute_duration_seconds_bucket",
    "ocr_inference_compute_duration_seconds_sum",
    "ocr_inference_batch_size_bucket",
    "ocr_inference_pending_items",
    "ocr_inference_batch_elements_total",
    "ocr_inference_item_elements_total",
    "ocr_model_state",
    "ocr_model_load_duration_seconds",
    "ocr_model_warm_duration_seconds",
    "ocr_model_evictions_total",
    "ocr_process_cpu_seconds_total",
    "ocr_process_resident_memory_bytes",
    "ocr_process_restarts_total",
    "ocr_gpu_utilization_ratio",
    "ocr_gpu_memory_used_bytes",
    "ocr_gpu_memory_total_bytes",
    "ocr_gpu_power_watts",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk(panel.get("panels", []))


def test_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "ocrserve"
    assert dashboard["title"] == "ocrserve"
    assert dashboard["schemaVersion"] == 39


def test_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    job = variables["job"]
    query = job["query"]["query"] if isinstance(job["query"], dict) else job["query"]
    assert query == "label_values(ocr_request_success_total, job)"
    assert job["includeAll"] is True and job["multi"] is True
    assert job["datasource"] == DATASOURCE


def test_panels(dashboard: dict[str, Any]) -> None:
    panels = list(_walk(dashboard["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert all(isinstance(i, int) for i in ids)
    for panel in panels:
        assert panel.get("title"), panel["id"]
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys(), panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == DATASOURCE, panel["title"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["Traffic", "Models", "Streams", "Processes and GPU"]
    assert all(p.get("targets") for p in panels if p["type"] != "row")


def test_every_expr_filters_by_job(dashboard: dict[str, Any]) -> None:
    exprs = panel_exprs(dashboard)
    assert exprs
    for title, expr in exprs:
        assert JOB in expr, title
        if "rate(" in expr or "increase(" in expr:
            assert "$__rate_interval" in expr or "[1h]" in expr, title


def test_queried_metrics_of_a_handmade_dashboard() -> None:
    handmade = {
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "job", "type": "query",
             "query": {"query": "label_values(ocr_a_total, job)"}},
        ]},
        "panels": [
            {"type": "row", "title": "open row", "panels": []},
            {"title": "top", "targets": [
                {"expr": 'sum by (rpc) (rate(ocr_b_total{job=~"$job", slot="ocr_det"}'
                         '[$__rate_interval]))'},
                {"expr": "histogram_quantile(0.99, sum by (le) "
                         "(rate(ocr_c_seconds_bucket[5m])))"},
                {"refId": "no expr"},
            ]},
            {"type": "row", "title": "collapsed", "collapsed": True, "panels": [
                {"title": "nested", "targets": [
                    {"expr": "ocr_d_sum / ocr_d_count"},
                    {"expr": '{__name__="ocr_e"} + not_ours_total + x_ocr_f'},
                ]},
            ]},
        ],
    }
    assert panel_exprs(handmade)[-1] == (
        "nested", '{__name__="ocr_e"} + not_ours_total + x_ocr_f')
    assert queried_metrics(handmade) == {
        "ocr_a_total", "ocr_b_total", "ocr_c_seconds_bucket", "ocr_d_sum", "ocr_d_count",
        "ocr_e",
    }


@pytest.mark.parametrize(("expr", "names"), [
    ("ocr_x_bucket", {"ocr_x_bucket"}),
    ('ocr_x{slot="ocr_y"}', {"ocr_x"}),
    ("sum(${ocr_var}) + $ocr_var2 + [[ocr_var3]]", set()),
    ("ocr_x # ocr_commented", {"ocr_x"}),
    ("ocr_Mixed", {"ocr_Mixed"}),  # reported whole, so a bad name fails the scrape check
])
def test_expr_metrics(expr: str, names: set[str]) -> None:
    assert expr_metrics(expr) == names


def test_dashboard_queries_only_known_metrics(dashboard: dict[str, Any]) -> None:
    queried = queried_metrics(dashboard)
    assert queried <= KNOWN, sorted(queried - KNOWN)
    # The dashboard covers every family: a new one should get a panel.
    assert queried == KNOWN, sorted(KNOWN - queried)
