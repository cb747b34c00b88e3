"""Versions of raw: `loader rollback`, `loader history`, `loader prune`.

The history tables (raw.<table>__history) are written by the load's apply
steps (backends/history.py); this package reads them back and undoes loads.
"""
