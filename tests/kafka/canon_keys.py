"""canon_keys.py - keys and partitions as the project's producers must make them.

- murmur2 / java_partition: the Kafka Java client's default partitioner (Utils.murmur2,
  seed 0x9747b28c, positive modulo), which librdkafka's murmur2_random reproduces and every
  binding and tool of the project uses; tests compute the expected partition with it.
- person_key: the universal identifier docs/translators.md derives from normalised text
  (UUID v5 in the namespace uuid5(NAMESPACE_URL, "canongate:<entity>")).
"""
import struct
import uuid


def murmur2(data):
    """Kafka Java client's Utils.murmur2 of data (bytes), as an unsigned 32-bit value."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = struct.unpack_from("<I", data, i)[0]
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def java_partition(key, n):
    """The partition the Java client's default partitioner gives key (bytes) of n."""
    return (murmur2(key) & 0x7FFFFFFF) % n


def person_key(entity, text):
    """The universal identifier a mapping derives from normalised text for entity."""
    ns = uuid.uuid5(uuid.NAMESPACE_URL, "canongate:" + entity)
    return str(uuid.uuid5(ns, text))
