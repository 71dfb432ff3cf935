"""Parameter-efficient fine-tuning: freezing, LoRA, gradient checkpointing, the adapter files.

Family-agnostic: a family declares where its layers and embeddings sit and which linear
layers LoRA targets (`Family.layers_prefix` or `layer_stacks`, `embedding_prefixes`,
`lora_targets`); nothing here names a family. The training procedure makes one call, `apply_parameter_efficiency`.
"""
