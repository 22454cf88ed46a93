"""PyTorch checkpoints that try to run code when loaded, for NMTInteropTests'
TorchCheckpointTests: each is what `torch.load(..., weights_only=False)` (and Python's
pickle) would execute, and swift-nmt must refuse before reading any weight.

    /tmp/venv/bin/python Scripts/reference/malicious_checkpoints.py

Writes Tests/NMTInteropTests/Fixtures/malicious/:
  os-system.bin        a state dict holding an object whose __reduce__ is os.system
                       (pickled as posix.system) with a command that creates a marker file
  builtins-eval.bin    the same with builtins.eval
  protocol-4.bin       os.system again, pickled with protocol 4 (STACK_GLOBAL)
  getattr-chain.bin    builtins.getattr(object, "__subclasses__"), the first link of the
                       attribute chains some exploits use
  good.bin             a harmless state dict (two float32 tensors, one a strided view)
  legacy.bin           the pre-1.6 format (_use_new_zipfile_serialization=False)
"""
import builtins
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "NMTInteropTests", "Fixtures", "malicious")
MARKER = "/tmp/swift-nmt-pickle-ran-code"


class SystemCall:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class Eval:
    def __reduce__(self):
        return (builtins.eval, (f"open('{MARKER}', 'w')",))


class GetAttr:
    def __reduce__(self):
        return (builtins.getattr, (builtins.object, "__subclasses__"))


def main():
    os.makedirs(OUT, exist_ok=True)
    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    torch.save({"weight": weight, "evil": SystemCall()}, os.path.join(OUT, "os-system.bin"))
    torch.save({"weight": weight, "evil": Eval()}, os.path.join(OUT, "builtins-eval.bin"))
    torch.save({"weight": weight, "evil": SystemCall()}, os.path.join(OUT, "protocol-4.bin"), pickle_protocol=4)
    torch.save({"evil": GetAttr(), "weight": weight}, os.path.join(OUT, "getattr-chain.bin"))
    # A transposed view shares the storage: read through its strides.
    torch.save({"weight": weight, "transposed": weight.t(), "half": weight.half()}, os.path.join(OUT, "good.bin"))
    torch.save({"weight": weight}, os.path.join(OUT, "legacy.bin"), _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
