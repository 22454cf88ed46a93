#!/usr/bin/env python3
"""Checks a TFRecord file of translation examples the way TensorFlow reads it.

Verifies the masked CRC-32C of every record's length and data, parses each record as a
tf.train.Example with Python's protobuf package (the message types are declared here
from the field numbers of TensorFlow's example.proto/feature.proto, so TensorFlow itself
is not needed), and prints `inputs<TAB>targets` per record, like `nmt-prepare dump`.
Needs `pip install protobuf`.
Run: python3 Scripts/reference/check_tfrecord.py FILE.tfrecord > ids.tsv
"""
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf import message_factory

CASTAGNOLI = 0x82F63B78
TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ CASTAGNOLI if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def example_class():
    f = descriptor_pb2.FileDescriptorProto(name="check_example.proto", package="tensorflow", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    for name, ftype in (("BytesList", T.TYPE_BYTES), ("FloatList", T.TYPE_FLOAT), ("Int64List", T.TYPE_INT64)):
        m = f.message_type.add(name=name)
        m.field.add(name="value", number=1, type=ftype, label=T.LABEL_REPEATED)
    feature = f.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (field, type_name) in enumerate(
            (("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")), start=1):
        feature.field.add(name=field, number=number, type=T.TYPE_MESSAGE, type_name=".tensorflow." + type_name,
                          label=T.LABEL_OPTIONAL, oneof_index=0)
    features = f.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=T.TYPE_MESSAGE, type_name=".tensorflow.Feature", label=T.LABEL_OPTIONAL)
    features.field.add(name="feature", number=1, type=T.TYPE_MESSAGE, type_name=".tensorflow.Features.FeatureEntry",
                       label=T.LABEL_REPEATED)
    example = f.message_type.add(name="Example")
    example.field.add(name="features", number=1, type=T.TYPE_MESSAGE, type_name=".tensorflow.Features",
                      label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


def main(path):
    Example = example_class()
    data = open(path, "rb").read()
    offset = count = 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        (length_crc,) = struct.unpack_from("<I", data, offset + 8)
        assert masked(crc32c(data[offset:offset + 8])) == length_crc, f"length CRC mismatch at byte {offset}"
        payload = data[offset + 12:offset + 12 + length]
        (data_crc,) = struct.unpack_from("<I", data, offset + 12 + length)
        assert masked(crc32c(payload)) == data_crc, f"data CRC mismatch at byte {offset}"
        example = Example.FromString(payload)
        features = example.features.feature
        print(" ".join(map(str, features["inputs"].int64_list.value)) + "\t"
              + " ".join(map(str, features["targets"].int64_list.value)))
        offset += 16 + length
        count += 1
    print(f"OK: {count} records", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
