"""The deployment report as one self-contained HTML page.

Self-contained means: inline CSS, every plot an inline SVG (matplotlib, through `ofa_deploy.plots`),
no script, no font, image or style fetched from anywhere, so that it opens the same from a
file:// URL, from a mail attachment, or with no network at all. Every value is escaped
(`html.escape`): paths and names come from files the user may not have written.
"""

from __future__ import annotations

import math
import shlex
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from .. import __version__, plots
from ..verdicts import latency_verdict
from .collect import FlowData

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1100px;
padding:1rem 1.5rem;color:#1b1f23;background:#fff;line-height:1.4}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;
margin-top:2rem}h3{font-size:1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;margin:.4rem 0;font-size:.9rem}th,td{border:1px solid #d0d7de;padding:.2rem .5rem;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f6f8fa}
.good{color:#116329;font-weight:600}.fair{color:#9a6700;font-weight:600}.poor,.fail{color:#cf222e;font-weight:600}
.unknown{color:#57606a;font-weight:600}.pass{color:#116329;font-weight:600}
.verdict{margin:.3rem 0 .8rem;padding:.3rem .6rem;border-left:4px solid #d0d7de;background:#f6f8fa}
.figs{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}.figs svg{max-width:100%;height:auto}
pre{background:#f6f8fa;padding:.6rem;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85rem}code{font-size:.9em}
.summary{font-size:1.05rem}.warn li{color:#9a6700}.muted{color:#57606a;font-size:.85rem}
"""


def _e(x: Any) -> str:
    return escape(str(x), quote=True)


def _num(x: Any, fmt: str = ".3f", unit: str = "") -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "-"
    return f"{x:{fmt}}{unit}"


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(rows: list[tuple[str, Any]]) -> str:
    return "<table><tbody>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</tbody></table>"


def _verdict(level: str, text: str) -> str:
    return f'<p class="verdict">verdict: <span class="{_e(level)}">{_e(level)}</span>: {_e(text)}</p>'


_METRIC_LABELS = {"accuracy_torch": "accuracy, PyTorch fp32 %", "accuracy_file": "accuracy, this file %",
                  "accuracy_drop": "accuracy drop (points)", "sqnr_db": "SQNR dB"}


def _budget_text(budget: dict[str, Any]) -> str:
    """`latency <= 0.56 ms, FLOPs <= 300M` from a subnet file's `search.budget`."""
    from ..units import format_count

    parts = []
    if budget.get("latency_ms") is not None:
        parts.append(f"latency <= {budget['latency_ms']:.4g} ms")
    if budget.get("flops") is not None:
        parts.append(f"FLOPs <= {format_count(budget['flops'])}")
    if budget.get("params") is not None:
        parts.append(f"params <= {format_count(budget['params'])}")
    return ", ".join(parts) or "none"


def _layer_name(key: str) -> str:
    """`expanded_conv-input:8x8x16-output:4x4x24-expand:64-kernel:7-stride:2-...` -> a shorter label."""
    import re

    m = re.match(r"([A-Za-z_0-9]+)-input:([\dx]+)-output:([\dx]+)(.*)", key)
    if not m:
        return key[:60]
    rest = " ".join(p.replace(":", " ") for p in m.group(4).strip("-").split("-")[:2] if p)
    return f"{m.group(1)} {m.group(2)}>{m.group(3)} {rest}".strip()


def _mb(n: Any) -> str:
    return f"{n / 1e6:.2f} MB" if isinstance(n, (int, float)) else "-"


# ---- sections -----------------------------------------------------------------------------------
def _meta(data: FlowData) -> dict[str, Any]:
    return (data.subnet or {}).get("meta") or {}


def _device_section(data: FlowData, warnings: list[str]) -> str:
    md = data.table_meta
    if md is None:
        return "<h2 id=device>Device and latency table</h2><p>No latency table was used.</p>"
    spec = md.get("spec") or {}
    from ..latency.table import read_rows

    try:
        measured_rs = sorted({r.resolution for r in read_rows(data.table_path / "table.csv")})
    except Exception:  # noqa: BLE001 - a report shows what it can
        measured_rs = []
    space_rs = list(spec.get("resolutions") or [])
    out = ["<h2 id=device>Device and latency table</h2>",
           _kv([("device", md.get("device")), ("runtime", f"{md.get('runtime')} {md.get('runtime_version') or ''}"),
                ("threads", md.get("threads")), ("precision", md.get("precision")), ("host CPU", md.get("host_cpu")),
                ("table", data.table_path), ("method", md.get("method") or "-"),
                ("statistic", md.get("stat")), ("resolutions measured", ", ".join(map(str, measured_rs)) or "-"),
                ("resolutions of the space", ", ".join(map(str, space_rs)) or "-"),
                ("calibration", md.get("calibration") or "none")])]
    if measured_rs and space_rs and len(measured_rs) < len(space_rs):
        out.append(f"<p class=muted>The table covers {len(measured_rs)} of the space's {len(space_rs)} resolutions: "
                   f"searches with it consider r {', '.join(map(str, measured_rs))} only.</p>")
    val = md.get("validation") or {}
    m = val.get("heldout") or {}
    out.append("<h3>Validation (whole subnets timed end to end, held out)</h3>")
    if m:
        out.append(_table(["subnets", "MAPE %", "RMSPE %", "within ±5 %", "within ±10 %", "95th pct error %",
                           "Kendall tau", "measured/predicted", "validated band"],
                          [[m.get("n"), _num(m.get("mape"), ".2f"), _num(m.get("rmspe"), ".2f"),
                            _num(m.get("within_5"), ".0f", " %"), _num(m.get("within_10"), ".0f", " %"),
                            _num(m.get("p95_ape"), ".2f"), _num(m.get("kendall_tau"), ".3f"),
                            _num(m.get("measured_over_predicted"), ".3f"),
                            "{}..{}".format(*[_num(b, ".3f") for b in (val.get("ratio_band") or [None, None])])]],
                          numeric=set(range(8))))
        res = val.get("resolutions")
        res_text = ", ".join(map(str, res)) if isinstance(res, (list, tuple)) else str(res)
        out.append(f"<p class=muted>validated {_e(val.get('date'))}, r {_e(res_text)}, "
                   f"{'calibrated' if val.get('calibrated') else 'no calibration'}</p>")
    v = latency_verdict(m or None, val.get("ratio_band"))
    out.append(_verdict(v.level, v.text))
    if v.level == "poor":
        warnings.append(f"latency table: {v.text}")
    rows = data.validation_rows
    if rows:
        cal = any(r["split"] == "fit" for r in rows)
        pred = [r["predicted_calibrated_ms"] if cal and r["split"] != "fit" else r["predicted_raw_ms"] for r in rows]
        meas = [r["measured_ms"] for r in rows]
        res = ", ".join(sorted({str(r["resolution"]) for r in rows}))
        out.append('<div class="figs">'
                   + plots.svg_text(plots.validation_scatter(
                       [r["predicted_raw_ms"] for r in rows], meas, title=f"{md.get('device')}: {len(rows)} subnets, r {res}",
                       raw_mape=m.get("mape") if not cal else None, band=val.get("ratio_band")))
                   + plots.svg_text(plots.residuals(pred, meas, title="prediction error per subnet"))
                   + "</div>")
    return "\n".join(out)


def _search_section(data: FlowData, warnings: list[str]) -> str:
    meta = _meta(data)
    if not meta:
        return "<h2 id=search>Search</h2><p>No search record.</p>"
    s, p = meta.get("search") or {}, meta.get("predicted") or {}
    budget = s.get("budget") or {}
    budget_ms = budget.get("latency_ms")
    pop = s.get("population")
    pred = meta.get("predictor") or {}
    out = ["<h2 id=search>Search</h2>",
           _kv([("budget", _budget_text(budget)),
                ("predictor", f"{pred.get('name') or ''} ({pred.get('path')})"),
                ("resolutions searched", ", ".join(map(str, s.get("resolutions") or []))),
                ("seed", s.get("seed")), ("search time", _num(s.get("seconds"), ".2f", " s")),
                ("subnets predicted", (pop or {}).get("total", "-")),
                ("predicted accuracy", _num(100 * p["accuracy"], ".2f", " %") if p.get("accuracy") is not None else "-"),
                ("predicted latency", _num(p.get("latency_ms"), ".3f", " ms"))])]
    ver = meta.get("verified")
    rounds = (ver or {}).get("rounds") or []
    lat = p.get("latency_ms")
    delivered = (ver.get("measured_ms") if ver else lat, p.get("accuracy")) if p.get("accuracy") is not None else None
    if delivered is not None and delivered[0] is None:
        delivered = None
    if pop is None:
        out.append("<p class=muted>This subnet file records no population (an older ofa-deploy wrote it): only the "
                   "delivered subnet and the verify rounds are drawn.</p>")
    if budget_ms is not None and lat is not None and pop and pop.get("latency_ms"):
        mx = max(pop["latency_ms"])
        if budget_ms > mx * 1.05:
            out.append(f"<p class=muted>The budget {budget_ms:.3g} ms is above every subnet the search predicted "
                       f"(at most {mx:.3g} ms): it binds nothing.</p>")
    out.append('<div class="figs">' + plots.svg_text(plots.search_space_plot(
        pop, budget_ms=budget_ms, delivered=delivered, rounds=rounds,
        title="accuracy vs latency: evaluated subnets (predicted), verify rounds (predicted o, measured x)"))
        + "</div>")
    if ver:
        cand_rows = []
        for r in rounds:
            for c in r.get("candidates") or []:
                cand_rows.append([r.get("round"), _num(r.get("predicted_budget_ms"), ".3f"), c.get("arch"),
                                  _num(100 * c["accuracy"], ".2f"), _num(c.get("predicted_ms"), ".3f"),
                                  _num(c.get("measured_ms"), ".3f"), "within" if c.get("met") else "over"])
        out.append("<h3>Verify rounds (measured end to end on the device)</h3>")
        out.append(_table(["round", "predicted budget ms", "subnet", "pred. top-1 %", "predicted ms", "measured ms",
                           "budget"], cand_rows, numeric={1, 3, 4, 5}))
        met = ver.get("met")
        out.append(_verdict("good" if met else "poor",
                            f"delivered subnet measured {_num(ver.get('measured_ms'))} ms against the "
                            f"{_num(ver.get('budget_ms'))} ms budget ({'within' if met else 'over'}) after "
                            f"{len(rounds)} round(s)"))
        if not met:
            warnings.append("the delivered subnet is over the budget as measured during the search (verify)")
    return "\n".join(out)


def _subnet_section(data: FlowData) -> str:
    meta = _meta(data)
    arch = (data.subnet or {}).get("arch") or {}
    p = meta.get("predicted") or {}
    out = ["<h2 id=subnet>Subnet</h2>"]
    label = _label(data)
    out.append(_kv([("file", data.subnet_path), ("label", label), ("resolution", arch.get("r", arch.get("image_size"))),
                    ("depths per stage", arch.get("d")), ("kernels", arch.get("ks")), ("expand ratios", arch.get("e")),
                    ("params", f"{p['params']:,}" if p.get("params") is not None else "-"),
                    ("MACs", f"{p['flops']:,}" if p.get("flops") is not None else "-")]))
    if data.blocks:
        out.append('<div class="figs">' + plots.svg_text(plots.subnet_drawing(data.blocks, data.n_stages)) + "</div>")
        stages = []
        for s in range(data.n_stages):
            bs = [b for b in data.blocks if b["stage"] == s]
            stages.append([s + 1, len(bs), " ".join(str(b["kernel_size"]) for b in bs),
                           " ".join(str(b["expand_ratio"]) for b in bs), bs[0]["out_channels"] if bs else "-"])
        out.append(_table(["stage", "depth", "kernels", "expands", "width"], stages, numeric={1, 4}))
    if data.breakdown:
        names = [k for k, _ in data.breakdown]
        ms = [v for _, v in data.breakdown]
        total = sum(ms)
        out.append("<h3 id=blocks>Per-layer latency (table rows)</h3>")
        out.append(f"<p>Sum of the rows: {total:.3f} ms"
                   + (f"; the table predicts {p['latency_ms']:.3f} ms for the subnet" if p.get("latency_ms") else "")
                   + ".</p>")
        out.append('<div class="figs">' + plots.svg_text(plots.block_latency([_layer_name(n) for n in names], ms)) + "</div>")
    return "\n".join(out)


def _preprocessing(rep: dict[str, Any]) -> str:
    ver = rep.get("verification") or {}
    inp = rep.get("input") or {}
    return (f"input {inp.get('name')} {inp.get('shape')} {inp.get('dtype')}; "
            f"{ver.get('preprocessing') or (rep.get('bn') or {}).get('preprocessing') or 'see the report'} "
            f"at r={ver.get('resolution') or (rep.get('bn') or {}).get('resolution')}")


def _exports_section(data: FlowData, warnings: list[str]) -> str:
    out = ["<h2 id=exports>Exports</h2>"]
    if not data.exports:
        return out[0] + "<p>No export recorded for this subnet.</p>"
    rows = [[Path(r.get("file", "?")).name, r.get("file_format"), r.get("precision"), _mb(r.get("size_bytes")),
             "pass" if r.get("passed") else "FAIL", _preprocessing(r)] for r in data.exports]
    out.append(_table(["file", "format", "precision", "size", "verified", "preprocessing contract"], rows))
    for r in data.exports:
        ver = r.get("verification") or {}
        out.append(f"<h3>{_e(Path(r.get('file', '?')).name)}: verification on {_e(ver.get('images'))} images "
                   f"({_e(ver.get('source'))})</h3>")
        checks = [[c.get("label") or c.get("metric"), _num((ver.get("metrics") or {}).get(c.get("metric")), ".4g"),
                   f"{c.get('bound')} {c.get('limit')}", "pass" if c.get("passed") else "FAIL"]
                  for c in ver.get("checks") or []]
        m = ver.get("metrics") or {}
        extra = [[label, _num(m.get(k), ".4g"), "", ""] for k, label in _METRIC_LABELS.items() if k in m]
        out.append(_table(["check", "value", "limit", "result"], checks + extra, numeric={1}))
        bn = r.get("bn") or {}
        out.append(f"<p class=muted>sha256 {_e(r.get('sha256'))}; BN: "
                   f"{_e(bn.get('source') if bn.get('recalibrated') else 'not recalibrated (supernet statistics)')}</p>")
        for w in r.get("warnings") or []:
            warnings.append(f"{Path(r.get('file', '?')).name}: {w}")
        if not bn.get("recalibrated"):
            warnings.append(f"{Path(r.get('file', '?')).name}: BN statistics not recalibrated")
        if not r.get("passed"):
            warnings.append(f"{Path(r.get('file', '?')).name}: verification failed; do not ship it")
    return "\n".join(out)


def _benchmarks_section(data: FlowData, warnings: list[str]) -> str:
    out = ["<h2 id=benchmarks>Benchmarks</h2>"]
    if not data.benchmarks:
        return out[0] + "<p>No benchmark recorded for these files.</p>"
    rows = []
    for b in data.benchmarks:
        m = b.get("measured_ms") or {}
        pred, budget = b.get("predicted_ms"), b.get("budget_ms")
        med = m.get("median")
        ratio = med / pred if isinstance(med, (int, float)) and pred else None
        verdict = "-" if budget is None or med is None else ("within" if med <= budget else "over")
        rows.append([Path(b.get("file", "?")).name, b.get("device"), _num(med), _num(m.get("p10")), _num(m.get("p90")),
                     m.get("count"), _num(pred), _num(ratio), _num(budget), verdict])
        if verdict == "over":
            warnings.append(f"{Path(b.get('file', '?')).name}: measured {med:.3f} ms is over the {budget:.3f} ms budget")
        if (b.get("drift") or {}).get("message") and not (b.get("drift") or {}).get("ok", True):
            warnings.append(str(b["drift"]["message"]))
        for n in b.get("notes") or []:
            warnings.append(f"{Path(b.get('file', '?')).name}: {n}")
    out.append(_table(["file", "device", "median ms", "p10 ms", "p90 ms", "runs", "predicted ms",
                       "measured/predicted", "budget ms", "budget"], rows, numeric={2, 3, 4, 5, 6, 7, 8}))
    out.append('<div class="figs">' + plots.svg_text(plots.benchmarks(
        data.benchmarks, title="measured (p10..p90, median; grey: mean ± std) vs predicted vs budget")) + "</div>")
    return "\n".join(out)


def _q(x: Any) -> str:
    return shlex.quote(str(x))


def reproduce_commands(data: FlowData) -> list[str]:
    """The commands that make this flow again (the paths of this run; a fresh run may write elsewhere)."""
    cmds: list[str] = []
    md = data.table_meta or {}
    meta = _meta(data)
    if data.table_path is not None and md.get("device"):
        from ..latency.table import read_rows

        try:
            rs = sorted({r.resolution for r in read_rows(data.table_path / "table.csv")})
        except Exception:  # noqa: BLE001
            rs = []
        proto = md.get("protocol") or {}
        cmds.append(f"ofa-deploy profile --device {_q(md['device'])} --resolutions {','.join(map(str, rs)) or 'all'} "
                    f"--sessions {proto.get('sessions', 3)} --max-runs {proto.get('max_runs', 200)} "
                    f"-o {_q(data.table_path)}")
        val = md.get("validation") or {}
        if val:
            n = (val.get("heldout") or {}).get("n")
            cmds.append(f"ofa-deploy latency validate -t {_q(data.table_path)} -r "
                        f"{','.join(map(str, val.get('resolutions') or [])) or 'all'}" + (f" -n {n}" if n else ""))
    s = meta.get("search") or {}
    if data.subnet_path is not None and s:
        budget = s.get("budget") or {}
        parts = ["ofa-deploy search"]
        if budget.get("latency_ms") is not None:
            parts.append(f"--latency {budget['latency_ms']:.6g}ms")
        if budget.get("flops") is not None:
            parts.append(f"--flops {budget['flops']:.6g}")
        if budget.get("params") is not None:
            parts.append(f"--params {budget['params']:.6g}")
        if data.table_path is not None:
            parts.append(f"-t {_q(data.table_path)}")
        if (meta.get("predictor") or {}).get("path"):
            parts.append(f"-p {_q(meta['predictor']['path'])}")
        if (meta.get("supernet") or {}).get("checkpoint"):
            parts.append(f"-s {_q(meta['supernet']['checkpoint'])}")
        parts += [f"--seed {s.get('seed', 0)}", f"-o {_q(data.subnet_path)}"]
        cmds.append(" ".join(parts))
    for r in data.exports:
        sup = (r.get("supernet") or {}).get("path")
        cmds.append(f"ofa-deploy export --subnet {_q(data.subnet_path)}" + (f" -s {_q(sup)}" if sup else "")
                    + f" --format {r.get('file_format')}" + (" --int8" if r.get("precision") == "int8" else "")
                    + f" -o {_q(r.get('file'))}")
    for b in data.benchmarks:
        proto = b.get("protocol") or {}
        cmds.append(f"ofa-deploy benchmark {_q(b.get('file'))} -d {_q(b.get('device'))} "
                    f"--sessions {proto.get('sessions', 3)} --max-runs {proto.get('max_runs', 200)}")
    return cmds


def render(data: FlowData) -> str:
    """The report page for `data` (a `collect()` result)."""
    warnings: list[str] = []
    meta = _meta(data)
    p = meta.get("predicted") or {}
    budget = ((meta.get("search") or {}).get("budget") or {})
    device = (data.table_meta or {}).get("device") or (meta.get("latency_table") or {}).get("device") or "-"
    sections = [_device_section(data, warnings), _search_section(data, warnings), _subnet_section(data),
                _exports_section(data, warnings), _benchmarks_section(data, warnings)]
    bench = data.benchmarks[-1]["measured_ms"]["median"] if data.benchmarks else None
    summary = (f"device <b>{_e(device)}</b>; budget <b>{_e(_budget_text(budget))}"
               f"</b>; subnet <b>{_e(p and _label(data))}</b>: predicted top-1 "
               f"<b>{_num(100 * p['accuracy'], '.2f', ' %') if p.get('accuracy') is not None else '-'}</b>, "
               f"predicted latency <b>{_num(p.get('latency_ms'), '.3f', ' ms')}</b>"
               + (f", measured <b>{bench:.3f} ms</b> (last benchmark)" if bench is not None else "")
               + f"; {len(data.exports)} export(s), {len(data.benchmarks)} benchmark(s).")
    warn = warnings + data.notes
    warn_html = ("<ul class=warn>" + "".join(f"<li>{_e(w)}</li>" for w in warn) + "</ul>") if warn else "<p>None.</p>"
    cmds = reproduce_commands(data)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    nav = " · ".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("device", "device"), ("search", "search"), ("subnet", "subnet"), ("exports", "exports"),
        ("benchmarks", "benchmarks"), ("warnings", "warnings"), ("reproduce", "reproduce")))
    return f"""<!DOCTYPE html>
<!-- ofa-deploy deployment report -->
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ofa-deploy report: {_e(device)} {_e(_label(data))}</title>
<style>{CSS}</style></head>
<body>
<h1>ofa-deploy deployment report</h1>
<p class=muted>written {now} by ofa-deploy {_e(__version__)} · {nav}</p>
<p class=summary>{summary}</p>
{chr(10).join(sections)}
<h2 id=warnings>Warnings</h2>
{warn_html}
<h2 id=reproduce>Reproduce</h2>
<p>The commands of this flow, with its paths:</p>
<pre>{_e(chr(10).join(cmds) or '(nothing recorded)')}</pre>
</body></html>
"""


def _label(data: FlowData) -> str:
    try:
        from ..space.family import spec_from_dict

        sub = data.subnet or {}
        return spec_from_dict(sub.get("space") or {}).family.arch_from_dict(sub.get("arch") or {}).short()
    except Exception:  # noqa: BLE001 - a subnet file without a readable space or arch: no label
        return "-"


__all__ = ["render", "reproduce_commands"]
