"""The folders are layers: no module imports from a layer above its own, and click stays in the commands.

Inside ``study/`` the rooms are layers too: ``run`` (one run, written and read back) before
``explain`` (what a saved run looks at) before ``compare`` (many runs).
"""

import ast
from pathlib import Path

import minimtl

PACKAGE = Path(minimtl.__file__).parent
# lowest first; a module may import from its own folder and from any folder before it
LAYERS = ["common", "kernels", "nn", "fast", "data", "training", "study", "commands"]
# the rooms of study/, lowest first, in the same way
STUDY_ROOMS = ["run", "explain", "compare"]


def imported_modules(path):
    """Every module name a file imports, at the top or inside a function."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the project uses absolute imports only)"
            names.append(node.module)
    return names


def layer_of(module_name):
    """'minimtl.nn.layers.dense' -> 'nn'; None for the root package and for other libraries."""
    parts = module_name.split(".")
    return parts[1] if parts[0] == "minimtl" and len(parts) > 1 else None


def room_of(module_name):
    """'minimtl.study.explain.maps' -> 'explain'; None outside study/ and for study/ itself."""
    parts = module_name.split(".")
    return parts[2] if parts[:2] == ["minimtl", "study"] and len(parts) > 2 else None


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_sits_in_a_known_layer():
    for path in modules():
        relative = path.relative_to(PACKAGE)
        assert relative.parts[0] in LAYERS or relative == Path("__init__.py"), f"{relative} is outside {LAYERS}"


def test_no_module_imports_from_a_layer_above_its_own():
    violations = []
    for path in modules():
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) == 1:
            continue  # minimtl/__init__.py imports nothing of ours
        own = LAYERS.index(relative.parts[0])
        for name in imported_modules(path):
            layer = layer_of(name)
            if layer is not None and LAYERS.index(layer) > own:
                violations.append(f"{relative} imports {name}")
    assert not violations, "imports from a higher layer:\n" + "\n".join(violations)


def test_every_study_module_sits_in_a_room():
    for path in modules():
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "study" and relative != Path("study/__init__.py"):
            assert relative.parts[1] in STUDY_ROOMS, f"{relative} is outside the rooms {STUDY_ROOMS}"


def test_no_study_module_imports_from_a_room_above_its_own():
    violations = []
    for path in modules():
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] != "study" or len(relative.parts) < 3:
            continue
        own = STUDY_ROOMS.index(relative.parts[1])
        for name in imported_modules(path):
            room = room_of(name)
            if room is not None and STUDY_ROOMS.index(room) > own:
                violations.append(f"{relative} imports {name}")
    assert not violations, "imports from a higher room of study/:\n" + "\n".join(violations)


def test_no_module_imports_another_modules_private_names():
    """A helper used by two modules is public (no leading underscore) in the module that defines it."""
    private = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minimtl"):
                private += [
                    f"{path.relative_to(PACKAGE)}: {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert not private, private


def test_click_is_imported_by_the_commands_only():
    """Below the commands, progress and messages are callbacks (minimtl.common.progress)."""
    users = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if any(name == "click" or name.startswith("click.") for name in imported_modules(p))
    ]
    assert users and all(user.startswith("commands/") for user in users), users


def test_the_checker_sees_a_violation(tmp_path):
    """The parser must find imports inside functions too, or the layering test could not fail."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from minimtl.study.compare.runs import run_all\n")
    assert layer_of(imported_modules(bad)[0]) == "study"
    assert room_of(imported_modules(bad)[0]) == "compare"


def test_the_package_never_imports_torch():
    """PyTorch is the oracle's (tests/test_reference_torch.py, benchmarks/), never a dependency of minimtl."""
    users = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if any(name == "torch" or name.startswith("torch.") for name in imported_modules(p))
    ]
    assert users == [], users
