"""Reading an offline W&B run's own file (``run-*.wandb``), for tests and experiments that check
what a run logged without the network."""

from __future__ import annotations

import struct
from pathlib import Path


def wandb_records(run_folder: Path):
    """The records of an offline W&B run file: a LevelDB-style log of 32 KiB blocks, each record
    in chunks with a 7-byte header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last),
    after the file's own 7-byte header; each record a ``wandb_internal_pb2.Record``."""
    from wandb.proto import wandb_internal_pb2 as pb

    [path] = run_folder.glob("run-*.wandb")
    raw, block, position, pending = path.read_bytes(), 32768, 7, b""
    while position + 7 <= len(raw):
        left = block - position % block
        if left < 7:  # a block's tail too short for a header is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", raw[position : position + 7])
        if length == 0 and kind == 0:
            position += left
            continue
        pending += raw[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record
