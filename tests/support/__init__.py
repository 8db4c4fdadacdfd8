"""Helpers shared by the test modules: where ../shared is (`shared`), the profiling tests' small space
(`spaces`), synthetic latency tables and predictors (`tables`), small photos (`images`), and the
session's memo of block exports (`onnx_memo`, installed by conftest).

Test modules import from here (`from support.tables import synthetic_table`), never from one another;
`tests/test_import_layers.py` checks that. `conftest.py` holds the pytest fixtures and re-exports
the names older tests took from it.
"""
