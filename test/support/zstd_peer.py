"""Test peer: an independent zstd-stream decoder (the zstandard package).

Reads length-prefixed (4 bytes, big endian) messages on stdin, each one
WebSocket message of a zstd-stream connection, and writes each decompressed
message back the same way. One decompression context for the whole stream.
"""
import struct
import sys

import zstandard

stream = zstandard.ZstdDecompressor().decompressobj()
read, write = sys.stdin.buffer, sys.stdout.buffer
while True:
    header = read.read(4)
    if len(header) < 4:
        break
    (n,) = struct.unpack(">I", header)
    out = stream.decompress(read.read(n))
    write.write(struct.pack(">I", len(out)) + out)
    write.flush()
