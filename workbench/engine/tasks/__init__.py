"""One module per task: the head, how to build it from a checkpoint, and its metrics."""
