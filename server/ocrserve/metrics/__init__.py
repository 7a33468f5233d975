"""Prometheus metrics: what is measured (``families.py``), how every process's values
are summed and served at /metrics (``exposition.py``), and what the Grafana
dashboard queries (``dashboard.py``)."""
