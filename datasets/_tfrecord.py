"""TFRecord files of tf.train.SequenceExample protos, read without TensorFlow.

Record framing (TensorFlow's lib/io/record_writer.cc), repeated to the end of the file::

    uint64 length (little endian) | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

    masked_crc32c(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8  (mod 2^32), crc = CRC-32C(x)

The protobuf wire format (developers.google.com/protocol-buffers/docs/encoding): a message is
a sequence of (key varint = field number << 3 | wire type, value); wire type 0 is a varint,
1 a fixed 64-bit, 2 a length-delimited byte string, 5 a fixed 32-bit. The messages read here
(tensorflow/core/example/{example,feature}.proto)::

    SequenceExample { Features context = 1; FeatureLists feature_lists = 2; }
    Features        { map<string, Feature> feature = 1; }          (map entry: key = 1, value = 2)
    FeatureLists    { map<string, FeatureList> feature_list = 1; }
    FeatureList     { repeated Feature feature = 1; }
    Feature         { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList       { repeated bytes value = 1; }
    Int64List       { repeated int64 value = 1 [packed]; }    (packed or not, both are accepted)
    FloatList       { repeated float value = 1 [packed]; }

A feature is returned as a list of values (bytes, int or float); a feature list as a list of
such lists.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import crc32c

from bench.errors import DataError

_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """TensorFlow's masked CRC-32C of ``data`` (module docstring)."""
    crc = crc32c.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _read_record(handle, path: Path, number: int) -> bytes | None:
    """The next record's data from ``handle`` (None at the end of the file), checked against
    both of its CRCs."""
    fix = f"obtain {path.name} again (the file is truncated or corrupt)"
    header = handle.read(12)
    if not header:
        return None
    if len(header) < 12:
        raise DataError(f"{path}: record {number} has a truncated header; {fix}")
    length, length_crc = struct.unpack("<QI", header)
    if masked_crc32c(header[:8]) != length_crc:
        raise DataError(f"{path}: record {number} has a bad length checksum; {fix}")
    data = handle.read(length)
    footer = handle.read(4)
    if len(data) < length or len(footer) < 4:
        raise DataError(f"{path}: record {number} is truncated ({len(data)} of {length} bytes); {fix}")
    if masked_crc32c(data) != struct.unpack("<I", footer)[0]:
        raise DataError(f"{path}: record {number} has a bad data checksum; {fix}")
    return data


def iter_records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(byte offset, data) of every record of a TFRecord file, in file order."""
    path = Path(path)
    with path.open("rb") as handle:
        number = 0
        while True:
            offset = handle.tell()
            data = _read_record(handle, path, number)
            if data is None:
                return
            yield offset, data
            number += 1


def read_record_at(path: Path, offset: int, number: int) -> bytes:
    """The data of record ``number`` of a TFRecord file, which starts at byte ``offset``."""
    path = Path(path)
    with path.open("rb") as handle:
        handle.seek(offset)
        data = _read_record(handle, path, number)
    if data is None:
        raise DataError(f"{path}: record {number} is missing; obtain {path.name} again (the file is truncated)")
    return data


class ProtoError(ValueError):
    """Bytes that are not a well-formed protobuf message of the expected shape."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ProtoError("truncated or overlong varint")
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of every field of a message: ints for wire types 0,
    1 and 5 (fixed values as unsigned), bytes for wire type 2."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise ProtoError("truncated fixed-width field")
            value = int.from_bytes(buf[pos:pos + size], "little")
            pos += size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtoError("truncated length-delimited field")
            value = buf[pos:pos + size]
            pos += size
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        yield number, wire, value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _int64_list(buf: bytes) -> list[int]:
    out = []
    for number, wire, value in fields(buf):
        if number != 1:
            continue
        if wire == 2:          # packed
            pos = 0
            while pos < len(value):
                item, pos = _varint(value, pos)
                out.append(_signed64(item))
        else:
            out.append(_signed64(value))
    return out


def _float_list(buf: bytes) -> list[float]:
    out = []
    for number, wire, value in fields(buf):
        if number != 1:
            continue
        if wire == 2:
            out.extend(struct.unpack(f"<{len(value) // 4}f", value))
        else:
            out.append(struct.unpack("<f", value.to_bytes(4, "little"))[0])
    return out


def parse_feature(buf: bytes) -> list:
    """A Feature as the list of its values."""
    for number, _, value in fields(buf):
        if number == 1:
            return [v for n, _, v in fields(value) if n == 1]
        if number == 2:
            return _float_list(value)
        if number == 3:
            return _int64_list(value)
    return []


def _map_entries(buf: bytes) -> Iterator[tuple[str, bytes]]:
    """(key, value bytes) of every entry of a message's map field 1."""
    for number, _, entry in fields(buf):
        if number != 1:
            continue
        key, value = "", b""
        for n, _, v in fields(entry):
            if n == 1:
                key = v.decode("utf-8")
            elif n == 2:
                value = v
        yield key, value


@dataclass
class SequenceExample:
    context: dict[str, list] = field(default_factory=dict)
    feature_lists: dict[str, list[list]] = field(default_factory=dict)


def parse_sequence_example(buf: bytes) -> SequenceExample:
    """Decode a serialized tf.train.SequenceExample (raises ProtoError on malformed bytes)."""
    out = SequenceExample()
    try:
        for number, _, value in fields(buf):
            if number == 1:
                out.context.update((key, parse_feature(v)) for key, v in _map_entries(value))
            elif number == 2:
                for key, feature_list in _map_entries(value):
                    out.feature_lists[key] = [parse_feature(v) for n, _, v in fields(feature_list) if n == 1]
    except (UnicodeDecodeError, TypeError, AttributeError, struct.error) as err:
        raise ProtoError(f"malformed SequenceExample ({err})") from err
    return out
