"""The public API is explicit: a sorted ``__all__`` whose names all resolve."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import memoryd
from memoryd import errors


def test_all_is_sorted_and_resolves() -> None:
    assert memoryd.__all__ == sorted(memoryd.__all__)
    for name in memoryd.__all__:
        assert hasattr(memoryd, name), name


def test_every_module_imports_and_declares_all() -> None:
    for info in pkgutil.walk_packages(memoryd.__path__, "memoryd."):
        module = importlib.import_module(info.name)
        if not info.ispkg and not info.name.split(".")[-1].startswith("_"):
            assert hasattr(module, "__all__"), info.name


def test_one_exception_tree_with_http_statuses() -> None:
    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.MemorydError) for c in classes)
    assert {c.__name__: c.status_code for c in classes if c is not errors.MemorydError} == {
        "AuthenticationError": 401,
        "BackendUnavailableError": 503,
        "ConfigError": 500,
        "ConflictError": 409,
        "EmbedderMismatchError": 409,
        "EventAppliedError": 409,
        "InvalidFilterError": 422,
        "InvalidInputError": 422,
        "LLMError": 503,
        "LLMOutputError": 503,
        "LLMTimeoutError": 503,
        "LLMUnavailableError": 503,
        "MissingExtraError": 500,
        "NotFoundError": 404,
        "PermissionDeniedError": 403,
        "QueueUnavailableError": 503,
        "RateLimitedError": 429,
        "NotSupportedError": 501,
        "PayloadTooLargeError": 413,
        "StorageError": 503,
    }
    for c in classes:
        assert c.__name__ in (errors.__doc__ or ""), f"{c.__name__} missing from the errors.py tree"


def test_the_package_imports_from_a_script_beside_a_folder_named_memoryd(tmp_path: Path) -> None:
    # A checkout cloned next to the user's script is such a folder: the install must still win.
    (tmp_path / "memoryd").mkdir()
    (tmp_path / "app.py").write_text("import memoryd\nprint(memoryd.Memory.__name__)\n")
    done = subprocess.run([sys.executable, "app.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "Memory", done.stderr
