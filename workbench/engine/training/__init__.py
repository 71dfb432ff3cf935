"""The training procedure, in small named pieces: batching, optimizer/schedule, precision, loop."""
