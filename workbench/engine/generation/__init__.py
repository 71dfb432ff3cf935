"""Text generation for decoder (and encoder-decoder) heads: the KV cache, sampling, streaming.

`generate` (token ids, any causal-LM head), `generate_batch` (left-padded prompts at once),
`Generator` (a model folder ready to continue prompts, streaming text) and
`GenerationSettings` live in generate.py; this package imports no torch until they are used.
"""
