"""Evaluation of stylization methods: metrics, style classifier, baselines, runner."""
