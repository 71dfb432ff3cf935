"""The Model page's "On this machine…" menu: the engine's model list (bundled and Hugging Face
cache), grouped by family, unsupported models greyed out with the reason; choosing one uses it."""

from __future__ import annotations

from workbench import engine
from workbench.gui.panels.model import ModelPanel

MODELS = [
    {"name": "all-MiniLM-L6-v2 (bundled)", "model": "default", "family": "bert",
     "supported": True, "size_bytes": 91_600_000, "parameters": 22_713_216, "path": "/b"},
    {"name": "tiny-org/tiny-gpt", "model": "tiny-org/tiny-gpt", "family": "gpt2",
     "supported": True, "size_bytes": 2_000_000, "parameters": 500_000, "path": "/g"},
    {"name": "tiny-org/tiny-bert", "model": "tiny-org/tiny-bert", "family": "bert",
     "supported": True, "size_bytes": 1_000, "parameters": None, "path": "/t"},
    {"name": "openai/whisper-tiny", "model": "openai/whisper-tiny", "family": None,
     "supported": False, "reason": "model type 'whisper' is not supported yet", "path": "/w"},
]  # fmt: skip


def test_the_machine_menu_groups_models_and_uses_the_chosen_one(qtbot, monkeypatch):
    monkeypatch.setattr(engine, "list_models", lambda: MODELS)
    panel = ModelPanel()
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: not panel.is_describing(), timeout=60_000)
    chosen: list[str] = []
    panel.set_model = chosen.append  # the menu calls it with the model's name

    panel.machine_button.click()
    qtbot.waitUntil(lambda: len(panel.models_menu.actions()) > 0, timeout=30_000)
    panel.models_menu.hide()
    actions = panel.models_menu.actions()
    sections = [a.text() for a in actions if a.isSeparator()]
    assert sections == ["bert", "gpt2", "Not supported"]
    entries = [a for a in actions if not a.isSeparator()]
    assert [a.data() for a in entries] == [
        "default", "tiny-org/tiny-bert", "tiny-org/tiny-gpt", "openai/whisper-tiny"
    ]  # fmt: skip
    assert entries[0].text() == "all-MiniLM-L6-v2 (bundled)  (91.6 MB, 22.7M parameters)"
    whisper = entries[-1]
    assert not whisper.isEnabled() and "'whisper' is not supported" in whisper.toolTip()
    entries[2].trigger()
    assert chosen == ["tiny-org/tiny-gpt"]
