"""Model families implemented in plain PyTorch, loading Hugging Face checkpoint folders."""
