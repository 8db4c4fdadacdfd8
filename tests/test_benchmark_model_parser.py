"""Pure parsers of TFLite's `benchmark_model` and `adb` output, on recorded outputs.

The samples in remote_fixtures/benchmark_model_outputs follow the format the tool prints
(tensorflow/lite/tools/benchmark: the classic form with op profiling, the `INFO: ` prefixed form
of newer builds with XNNPACK, the `(all same)` stat line, a failed run).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ofa_deploy.devices.benchmark_model import (
    benchmark_command,
    benchmark_failure,
    cpu_mask,
    parse_adb_devices,
    parse_benchmark_output,
    parse_getprop,
    parse_op_profile,
    parse_stat_line,
    parse_tagged,
    parse_temperatures,
    pool_sessions,
)
from ofa_deploy.errors import DeviceError, FormatError

SAMPLES = Path(__file__).parent / "remote_fixtures" / "benchmark_model_outputs"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_classic_output_with_op_profiling():
    res = parse_benchmark_output(sample("classic_op_profiling.txt"))
    assert res.inference.count == 71
    assert res.inference.avg == pytest.approx(14.1544)       # "Inference (avg): 14154.4" us
    assert res.inference.std == pytest.approx(0.136)
    assert (res.inference.min, res.inference.max) == pytest.approx((13.985, 14.789))
    assert res.warmup is not None and res.warmup.count == 35 and res.warmup.avg == pytest.approx(14.4623)
    assert res.init_ms == pytest.approx(5.685) and res.first_ms == pytest.approx(18.535)
    # the regular runs' table, not the initialisation one nor "Top by Computation Time"
    assert [op.node_type for op in res.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "AVERAGE_POOL_2D",
                                               "SOFTMAX"]
    first = res.ops[0]
    assert first.name == "MobilenetV1/MobilenetV1/Conv2d_0/Relu6"
    assert (first.first_ms, first.avg_ms, first.percent, first.times_called) == pytest.approx((1.012, 0.987, 6.973, 1))


def test_info_prefixed_xnnpack_output():
    res = parse_benchmark_output(sample("xnnpack_info_prefix.txt"))
    assert res.inference.count == 200 and res.inference.avg == pytest.approx(0.30587)
    assert res.warmup is not None and res.warmup.count == 10
    assert res.ops == []


def test_all_same_stat_lines():
    res = parse_benchmark_output(sample("all_same.txt"))
    assert res.inference.count == 3 and res.inference.avg == pytest.approx(0.1) and res.inference.std == 0
    assert parse_stat_line("count=5 curr=250(all same)").min == pytest.approx(0.25)
    assert parse_stat_line("count=0") is None and parse_stat_line("Num threads: [1]") is None


def test_a_failed_run_quotes_the_tool():
    with pytest.raises(FormatError, match="Failed to mmap model"):
        parse_benchmark_output(sample("failed_model.txt"))
    assert benchmark_failure("") == "it printed nothing"
    assert "Segmentation fault" in benchmark_failure("STARTING!\nSegmentation fault\n")


def test_newer_op_table_without_start_column_and_indexed_names():
    text = ("Operator-wise Profiling Info for Regular Benchmark Runs:\n"
            "============================== Run Order ==============================\n"
            "\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]\n"
            "\t                 CONV_2D\t    0.150\t    0.152\t  5.115%\t  5.115%\t     0.000\t        1\t[conv 0]:0\n"
            "\tDelegate/XNNPACK\t    0.020\t    0.021\t 94.885%\t100.000%\t     0.000\t        1\t[xnn]:1\n\n")
    ops = parse_op_profile(text)
    assert [(o.node_type, o.name, o.avg_ms) for o in ops] == [("CONV_2D", "conv 0", 0.152),
                                                               ("Delegate/XNNPACK", "xnn", 0.021)]


def test_pooling_sessions():
    a = parse_benchmark_output(sample("xnnpack_info_prefix.txt"))
    b = parse_benchmark_output(sample("all_same.txt"))
    st = pool_sessions([a, b, a])
    assert st["count"] == 403
    assert st["mean"] == pytest.approx((2 * 200 * 0.30587 + 3 * 0.1) / 403)
    assert st["median"] == pytest.approx(0.30587)        # median of the session averages
    assert st["std"] > 0.009 and math.isnan(st["p10"]) and math.isnan(st["p90"])
    with pytest.raises(ValueError):
        pool_sessions([])


def test_commands():
    cmd = benchmark_command("/data/local/tmp/b m", "/d/m.tflite", 1, 200, 10, "xnnpack", [4, 5, 6, 7], True)
    assert cmd.startswith("taskset f0 '/data/local/tmp/b m' --graph=/d/m.tflite --num_threads=1 --num_runs=200 ")
    assert "--warmup_runs=10" in cmd and "--use_xnnpack=true" in cmd and "--enable_op_profiling=true" in cmd
    assert cmd.endswith(" 2>&1") and "--min_secs=0" in cmd
    assert "--use_gpu=true" in benchmark_command("b", "g", 1, 5, 1, "gpu")
    assert "--use_nnapi=true" in benchmark_command("b", "g", 1, 5, 1, "nnapi")
    assert not benchmark_command("b", "g", 1, 5, 1).startswith("taskset")
    with pytest.raises(DeviceError, match="delegate"):
        benchmark_command("b", "g", 1, 5, 1, "tpu")
    assert cpu_mask([7]) == "80" and cpu_mask([0, 1, 2, 3]) == "f"


def test_adb_and_device_outputs():
    listing = ("* daemon not running; starting now at tcp:5037\n* daemon started successfully\n"
               "List of devices attached\nR58M12ABCDE\tdevice\n192.168.1.7:5555\toffline\nemulator-5554\tunauthorized\n\n")
    assert parse_adb_devices(listing) == [("R58M12ABCDE", "device"), ("192.168.1.7:5555", "offline"),
                                          ("emulator-5554", "unauthorized")]
    assert parse_adb_devices("List of devices attached\n\n") == []
    assert parse_temperatures("43500\n38000\n-273000\nN/A\n41\n") == [43.5, 38.0, 41.0]
    assert parse_getprop("[ro.product.model]: [Pixel 4]\n[ro.soc.model]: [SM8150]\n") == {
        "ro.product.model": "Pixel 4", "ro.soc.model": "SM8150"}
    assert parse_tagged("@model Pixel 4\nnoise\n@gov7 performance\n@temps \n") == {
        "model": "Pixel 4", "gov7": "performance", "temps": ""}
