"""TFRecord framing and SequenceExample parsing against hand values and protobuf's own encoder."""
import struct

import pytest
from real_fixtures import example_classes, write_tfrecord

from bench.errors import DataError
from datasets._tfrecord import (
    ProtoError,
    iter_records,
    masked_crc32c,
    parse_feature,
    parse_sequence_example,
    read_record_at,
)


def test_masked_crc32c_by_hand():
    # CRC-32C("") = 0, so the mask is the delta alone; CRC-32C("123456789") = 0xE3069283 (RFC 3720 check value)
    assert masked_crc32c(b"") == 0xA282EAD8
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def test_sequence_example_as_protobuf_encodes_it():
    classes = example_classes()
    ex = classes["SequenceExample"]()
    ex.context.feature["name"].bytes_list.value.append(b"video_7")
    ex.context.feature["len"].int64_list.value.append(3)
    ex.context.feature["label"].int64_list.value.append(-1)
    ex.context.feature["scale"].float_list.value.extend([0.5, -2.0])
    for data in (b"\xff\xd8a", b"", b"\xff\xd8c"):
        ex.feature_lists.feature_list["video"].feature.add().bytes_list.value.append(data)
    for label in (0, 4, -1):
        ex.feature_lists.feature_list["frame_labels"].feature.add().int64_list.value.append(label)
    parsed = parse_sequence_example(ex.SerializeToString())
    assert parsed.context == {"name": [b"video_7"], "len": [3], "label": [-1], "scale": [0.5, -2.0]}
    assert parsed.feature_lists == {"video": [[b"\xff\xd8a"], [b""], [b"\xff\xd8c"]], "frame_labels": [[0], [4], [-1]]}


def test_unpacked_int64_values_are_read_too():
    # Int64List {value: 5, value: 300} written unpacked: key (1 << 3 | 0) then varints; 300 = 0xAC 0x02
    int64_list = bytes([0x08, 5, 0x08, 0xAC, 0x02])
    feature = bytes([0x1A, len(int64_list)]) + int64_list            # Feature.int64_list = field 3
    assert parse_feature(feature) == [5, 300]


def test_records_round_trip_and_read_at_offset(tmp_path):
    path = write_tfrecord(tmp_path / "x.tfrecord", [b"first", b"", b"third record"])
    records = list(iter_records(path))
    assert [data for _, data in records] == [b"first", b"", b"third record"]
    assert [offset for offset, _ in records] == [0, 12 + 5 + 4, 2 * 12 + 5 + 2 * 4]
    assert read_record_at(path, records[2][0], 2) == b"third record"


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-3], "truncated"),
    (lambda b: b[:5], "truncated header"),
    (lambda b: b[:8] + b"\x00\x00\x00\x00" + b[12:], "bad length checksum"),
    (lambda b: b[:12] + b"X" + b[13:], "bad data checksum"),
])
def test_damaged_records_are_named(tmp_path, damage, message):
    path = write_tfrecord(tmp_path / "x.tfrecord", [b"some record data"])
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message) as err:
        list(iter_records(path))
    assert "x.tfrecord: record 0" in str(err.value)


def test_malformed_protos_raise_proto_error():
    with pytest.raises(ProtoError):
        parse_sequence_example(b"\x0a\x10short")                       # length past the end
    with pytest.raises(ProtoError):
        parse_sequence_example(b"\x0b")                                # wire type 3 (groups)
    with pytest.raises(ProtoError):
        parse_sequence_example(struct.pack("<B", 0x08) + b"\xff" * 11)  # overlong varint
