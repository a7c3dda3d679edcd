"""The edge server's receiver: demap, scatter by positional IDs, decode and classify."""

from edge.decoder import EdgeDecoder, MissingEdgeFile

__all__ = ["EdgeDecoder", "MissingEdgeFile"]
