#!/usr/bin/env python3
"""Writes the bad-input corpus that Tests/NMTScheduleTests/BadInputTests.swift feeds to
the programs: small files, each broken in one way a user (or a disk) can break them.

    python3 Scripts/robustness/make-bad-inputs.py   # rewrites Tests/NMTScheduleTests/Fixtures/bad-input

Only the standard library is used, so the bytes are independent of the Swift readers
(the TFRecord framing, CRC-32C and tf.Example encoding are written out here by hand).
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "NMTScheduleTests", "Fixtures", "bad-input")


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data: bytes) -> int:
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def record(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked(length)) + payload + struct.pack("<I", masked(payload))


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values take ten bytes, as protobuf writes them
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        out.append(bits | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def example(features: dict) -> bytes:
    """A tf.Example whose features are int64 lists."""
    entries = b""
    for name, values in sorted(features.items()):
        int64_list = field(1, b"".join(varint(v) for v in values))  # packed values
        feature = field(3, int64_list)
        entries += field(1, field(1, name.encode()) + field(2, feature))
    return field(1, entries)


def write(name: str, data: bytes) -> None:
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    good = [record(example({"inputs": [5, 6, 7, 1], "targets": [8, 9, 1]})),
            record(example({"inputs": [10, 1], "targets": [11, 12, 13, 1]}))]
    # Text: CRLF line ends with a last line that has none; bytes that are not UTF-8.
    write("crlf.en", b"Hello.\r\nGood morning.\r\nWhere is the station?\r\nThank you.")
    write("invalid-utf8.en", b"Hello.\n\xff\xfe world\n")
    # TFRecords: the last record cut short; one data byte flipped; a 12-byte tail whose
    # length CRC is valid (the fuzzer's first finding: it trapped the reader).
    write("truncated.tfrecord", b"".join(good)[:-3])
    flipped = bytearray(b"".join(good))
    flipped[20] ^= 0x01
    write("crc-bad.tfrecord", bytes(flipped))
    write("short-tail.tfrecord", good[0] + struct.pack("<Q", 67) + struct.pack("<I", masked(struct.pack("<Q", 67))))
    # Examples: targets that are all padding (id 0); ids the sample vocabulary does not have.
    write("no-targets.tfrecord", record(example({"inputs": [5, 1], "targets": [0, 0]})))
    write("out-of-range-ids.tfrecord", b"".join(good) + record(example({"inputs": [5, 99999, 1], "targets": [-3, 1]})))
    # safetensors: a shape whose element count overflows Int.
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 4]}}).encode()
    write("overflow-shape.safetensors", struct.pack("<Q", len(header)) + header + b"\0" * 4)


if __name__ == "__main__":
    main()
