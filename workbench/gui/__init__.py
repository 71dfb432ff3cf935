"""The desktop GUI: PySide6 panels over the engine's public API.

Nothing here does tensor math; long work (training, loading a model, exporting, reading a
file) runs in workers on their own QThreads and reports back through signals.
"""
