"""Spark's JVM starts without Python running in the forked child, whatever threads tierlens has."""

from __future__ import annotations

from typing import Any

import pytest

from tierlens.spark import _exec_only_launch

gateway = pytest.importorskip("pyspark.java_gateway")


class _Launched(Exception):
    """Raised by the recording Popen: the test needs the launch's arguments, not a JVM."""


def test_the_jvm_is_launched_in_a_session_of_its_own_with_no_python_before_exec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def record(command: list[str], **kwargs: Any) -> Any:
        seen.update(kwargs, command=command)
        raise _Launched

    monkeypatch.setattr(gateway, "Popen", record)
    with _exec_only_launch(), pytest.raises(_Launched):
        gateway.launch_gateway()  # pyspark's own launch, as SparkContext calls it
    # a preexec_fn makes CPython fork and run Python in the child (unsafe once threads run);
    # a new session keeps the terminal's Ctrl-C from the JVM as the preexec_fn did
    assert "preexec_fn" not in seen and seen["start_new_session"] is True
    assert seen["command"][0].endswith("spark-submit")
    assert gateway.Popen is record  # the wrapping ends with the launch
