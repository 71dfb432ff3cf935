"""Text generation for decoder (and encoder-decoder) heads: the KV cache, sampling, streaming."""
