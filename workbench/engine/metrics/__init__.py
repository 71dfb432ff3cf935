"""Task metrics as plain functions of labels and predictions (numpy and the stdlib only).

Each module scores one kind of task: `entities` (token tagging), `squad` (extractive
question answering), `correlation` (regression), `multilabel`. They hold no state and never
import torch, so they are cheap to test against the reference implementations.
"""
