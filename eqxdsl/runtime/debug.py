"""Debugging helpers: count traces to catch accidental recompilation."""

from ._traces import assert_max_traces, get_num_traces

__all__ = ["assert_max_traces", "get_num_traces"]
