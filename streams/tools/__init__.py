"""Tools around the worker: order logs, replay, the demo, the offline evaluation."""
