#!/usr/bin/env python3
"""Streams FineWeb documents to stdout as JSON lines {"text": ...} for `tokenize shards`.

  fineweb_stream.py --remote [--edu]      HuggingFaceFW/fineweb(-edu), config sample-10BT, streamed
                                          with the `datasets` package (needs internet)
  fineweb_stream.py --parquet FILE...     the "text" column of local parquet files (needs pyarrow)
"""
import argparse
import json
import sys


def emit(texts):
    out = sys.stdout
    try:
        for t in texts:
            out.write(json.dumps({"text": t}, ensure_ascii=False))
            out.write("\n")
        out.flush()
    except BrokenPipeError:  # the shard writer stopped (it reports why)
        sys.exit(1)


def remote(edu):
    try:
        from datasets import load_dataset
    except ImportError:
        sys.exit("error: the download needs the `datasets` package (pip install datasets), "
                 "or pass --from FILE... with local jsonl/parquet files")
    name = "HuggingFaceFW/fineweb-edu" if edu else "HuggingFaceFW/fineweb"
    ds = load_dataset(name, name="sample-10BT", split="train", streaming=True)
    emit(row["text"] for row in ds)


def parquet(files):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        sys.exit("error: reading parquet needs pyarrow (pip install pyarrow)")
    def texts():
        for path in files:
            pf = pq.ParquetFile(path)
            if "text" not in pf.schema_arrow.names:
                sys.exit("error: %s: no 'text' column" % path)
            for batch in pf.iter_batches(columns=["text"], batch_size=4096):
                for t in batch.column(0).to_pylist():
                    yield t if t is not None else ""
    emit(texts())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--remote", action="store_true")
    g.add_argument("--parquet", nargs="+")
    ap.add_argument("--edu", action="store_true")
    args = ap.parse_args()
    sys.stdout.reconfigure(encoding="utf-8", errors="surrogateescape")
    if args.remote:
        remote(args.edu)
    else:
        parquet(args.parquet)


if __name__ == "__main__":
    main()
