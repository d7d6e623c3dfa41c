"""Directory batches: every input of a folder through one command, resumable, on local or cluster workers.

``run_batch`` is the entry point; ``adapters`` holds the per-command contract and registry.
"""

from xai_cli.batch.runner import BatchOptions, BatchOutcome, run_batch

__all__ = ["BatchOptions", "BatchOutcome", "run_batch"]
