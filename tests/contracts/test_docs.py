"""docs/contracts.md documents every field of every contract: each field path's last name
appears, as a JSON key ("name") or in code (`name`), in the section of the file it belongs to."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from foodclf.contracts import field_paths

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"

# (module of foodclf.contracts, its top-level contract, the title its "## " section starts with)
CONTRACTS = [
    ("metrics", "Metrics", "metrics.json"),
    ("data_config", "DataConfig", "data_config.json"),
    ("machine", "Machine", "machine"),
    ("variant", "Variant", "variant.json"),
    ("loadtest", "LoadTest", "loadtest.json"),
    ("simulation", "Simulation", "simulations/"),
    ("image", "ImageCheck", "image.json"),
    ("comparison", "Comparison", "comparison.json"),
    ("sim_check", "SimulationCheck", "check.json"),
    ("scaling", "ScalingCheck", "scaling.json"),
]


def section(doc: str, title: str) -> str:
    """The text under the '## TITLE...' heading, up to the next '## ' heading."""
    parts = re.split(r"^## ", doc, flags=re.MULTILINE)
    found = [p for p in parts[1:] if p.startswith(title)]
    assert len(found) == 1, f"docs/contracts.md needs one section '## {title}', found {len(found)}"
    return found[0]


def last_name(path: str) -> str:
    return re.sub(r"[\[\]{}]", "", path.split(".")[-1])


@pytest.mark.parametrize("module, model, title", CONTRACTS, ids=[c[0] for c in CONTRACTS])
def test_every_field_is_documented_in_its_files_section(module, model, title):
    contract = getattr(importlib.import_module(f"foodclf.contracts.{module}"), model)
    text = section(DOC.read_text(encoding="utf-8"), title)
    undocumented = [path for path in field_paths(contract)
                    if not re.search(rf"([\"`]){re.escape(last_name(path))}\1", text)]
    assert undocumented == [], f"add these fields to the '## {title}' section of docs/contracts.md"
