"""The family registry says what each family module really offers, without importing torch."""

from __future__ import annotations

import subprocess
import sys

from workbench.engine.models.registry import FAMILIES, load_family


def test_each_registry_line_matches_its_family_module():
    for name, entry in FAMILIES.items():
        family = load_family(name)
        assert family.name == name
        assert family.model_types == entry.model_types
        assert set(family.heads) == set(entry.heads)


def test_describing_a_model_needs_no_torch():
    code = (
        "import sys\n"
        "from workbench.engine import describe_model\n"
        "d = describe_model('default')\n"
        "assert d['family'] == 'bert' and 'text-classification' in d['tasks'], d\n"
        "assert d['parameters'] and d['size_bytes'] > 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
