"""What the commands print: the human output (rich lines, tables, progress bars, next-step hints)
and the `--json` documents of `ofa-deploy`, as library functions.

`cli` parses options, calls the library, then hands the result to one function here; these take
the library's result objects and dicts (and a rich `Console`, by default the shared ones of
`views.console`) and print. They decide nothing and parse no options: no typer here
(`tests/test_import_layers.py`), so each can be called, and tested, without the command line. One
module per command group (`latency`, `search`, `predictor`, `export`, `train`, `subnet`, `report`),
plus the shared pieces: `console` (the consoles, one-line notes, the table style, strict JSON),
`progress` (progress bars and the step spinner), `repair` (what a repair of a row file did).
Torch-free at import, like `cli`: library modules are imported inside the functions.
"""
