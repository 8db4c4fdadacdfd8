"""The options' vocabulary, declared once: an option with the same name, default and help in several
commands is an `Annotated` alias here (`as_json: opt.Json = False`); one whose help says what it
means in each command is a factory taking that help (`opt.device(help)`). Commands import this
module as `opt`. Changing a shared option's help here changes it in every command that uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

Opt = typer.Option  # the one name every declaration below starts with


def json(help: str) -> Any:
    return Opt(False, "--json", help=help)


def out(help: str, default: Any = None, required: bool = False) -> Any:
    return Opt(... if required else default, "--out", "-o", help=help)


def device_by_name(text: str | None) -> str | None:
    """--device: a descriptor path becomes the device's name (`devices.descriptor.device_name`)."""
    from ..devices.descriptor import device_name

    return device_name(text)


def device(help: str = "Device name (devices/NAME.yaml) or descriptor path.", default: Any = None) -> Any:
    return Opt(default, "--device", "-d", help=help, callback=device_by_name)


def supernet(help: str = "Supernet checkpoint (ours or official).") -> Any:
    return Opt(None, "--supernet", "-s", help=help)


def table(help: str = "Latency table folder (default: the device's).") -> Any:
    return Opt(None, "--table", "-t", help=help)


def samples(default: int, help: str) -> Any:
    return Opt(default, "--samples", "-n", help=help)


def resolutions(help: str) -> Any:
    return Opt(None, "--resolutions", "-r", help=help)


def sessions(help: str, default: int = 3) -> Any:
    return Opt(default, "--sessions", help=help)


def seed(help: str) -> Any:
    return Opt(0, "--seed", help=help)


def threads(help: str) -> Any:
    return Opt(None, "--threads", help=help)


Json = Annotated[bool, Opt("--json", help="Machine-readable output (strict JSON on stdout).")]
JsonShort = Annotated[bool, Opt("--json", help="Machine-readable output.")]
ReplaceOut = Annotated[bool, Opt("--force", help="Replace an --out file of another kind.")]
ForceFolder = Annotated[bool, Opt("--force", help="Write into an --out folder that holds another kind of output.")]
PredictorOut = Annotated[Path, Opt("--out", "-o", help="Predictor file to write (.npz).")]
SubnetIn = Annotated[Path | None, Opt("--subnet",
                                      help="Subnet file (any supported format); default: the last search's.")]
NetConfigResolution = Annotated[int | None, Opt("--resolution", "-r",
                                                help="Resolution for a net.config without run.config.")]

# the timing protocol (`latency.options.protocol_for`)
DescriptorThreads = Annotated[int | None, Opt("--threads", help="Override the descriptor's thread count.")]
MaxRuns = Annotated[int, Opt("--max-runs", help="Cap of timed runs per session.")]

# training and data
TorchThreads = Annotated[int | None, Opt("--threads", help="torch intra-op threads per process (default: torch's; "
                                         "under torchrun the cores shared out over the processes).")]
Resume = Annotated[bool, Opt("--resume", help="Continue the run in --out where it stopped.")]
StopAfterEpochs = Annotated[int | None, Opt("--stop-after-epochs", hidden=True,
                                          help="Stop after this many epochs (testing resume).")]
FolderWorkers = Annotated[int | None, Opt("--workers", help="Image-reading processes for a folder.")]

# a space given by its options (`space.options.space_from_options`)
WIDTH_HELP = "Width multiplier of the space (1.0, 1.2, 0.5...)."
CLASSES_HELP = "Number of classes of the space."
IN_CHANNELS_HELP = "Input channels of the space (1 for grey images)."
KIND_HELP = ("Kind of space: ofa_mbv3 (OFA MobileNetV3), ofa_proxyless (OFA ProxylessNAS) or ofa_resnet50 (OFA "
             "ResNet50; give its --supernet, the widths come from the checkpoint).")
Width = Annotated[float | None, Opt("--width", help=WIDTH_HELP)]
Classes = Annotated[int | None, Opt("--classes", help=CLASSES_HELP)]
InChannels = Annotated[int | None, Opt("--in-channels", help=IN_CHANNELS_HELP)]

# the remote devices' options (`remote_args`)
HOST_HELP = "user@host[:port] or a ~/.ssh/config alias"
Host = Annotated[str | None, Opt("--host", help=f"ssh devices: {HOST_HELP} (overrides the descriptor).")]
BenchmarkBinary = Annotated[Path | None, Opt("--benchmark-binary",
                                           help="adb devices: TFLite's benchmark_model built for the phone.")]

HostKey = Annotated[bool, Opt("--accept-new-host-key", help="ssh devices: record an unknown host key on first use (a "
                              "changed key is always refused).")]
Serial = Annotated[str | None, Opt("--serial", help="adb devices: the phone's serial from `adb devices` (default: the "
                                   "only one attached).")]


def remote_args(host: str | None, accept_new_host_key: bool, serial: str | None,
                benchmark_binary: Path | None) -> dict[str, Any]:
    """The ssh / adb options (`--host`, `--accept-new-host-key`, `--serial`, `--benchmark-binary`) as
    the backends take them (`devices.local.make_backend(**remote)`)."""
    return {"host": host, "accept_new_host_key": accept_new_host_key, "serial": serial,
            "benchmark_binary": str(benchmark_binary) if benchmark_binary else None}
