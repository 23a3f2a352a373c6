defmodule Realtime.Gateway.Compression do
  @moduledoc """
  Transport compression for one gateway connection, as Discord does it.

  - `zlib-stream`: one deflate context for the connection's whole life;
    each message is deflated and sync-flushed, so it ends in `00 00 ff ff`,
    and the client keeps one inflate context.
  - `zstd-stream`: one zstd context (level 6, windowLog 18, hashLog 16,
    chainLog 16); each message is compressed and flushed, never ended.

  With compression every frame is binary; without it, JSON goes out as text
  and ETF as binary.
  """

  require Realtime.Metrics, as: Metrics

  alias Realtime.Native

  @opaque t :: :none | {:zlib, :zlib.zstream()} | {:zstd, reference}
  @type kind :: :none | :zlib | :zstd

  # Messages above this are compressed with zstd on a dirty scheduler.
  @dirty_bytes 64 * 1024

  @doc "A context for `kind`, owned by the calling process."
  @spec new(kind) :: t
  def new(:none), do: :none

  def new(:zlib) do
    z = :zlib.open()
    :ok = :zlib.deflateInit(z)
    {:zlib, z}
  end

  def new(:zstd), do: {:zstd, Native.zstd_stream_new()}

  @doc "The compressed bytes of one message, or the message itself without compression."
  @spec compress(t, iodata) :: iodata
  def compress(:none, data), do: data
  def compress({:zlib, z}, data), do: :zlib.deflate(z, data, :sync)

  def compress({:zstd, s}, data) do
    bin = IO.iodata_to_binary(data)

    if byte_size(bin) > @dirty_bytes,
      do: Metrics.inc(:dirty, "zstd") && Native.zstd_stream_compress_dirty(s, bin),
      else: Native.zstd_stream_compress(s, bin)
  end

  @doc "Releases the context."
  @spec close(t) :: :ok
  def close({:zlib, z}), do: :zlib.close(z)
  def close(_), do: :ok

  @doc "Parses the `compress` query parameter."
  @spec parse(String.t() | nil) :: {:ok, kind} | :error
  def parse(nil), do: {:ok, :none}
  def parse("zlib-stream"), do: {:ok, :zlib}
  def parse("zstd-stream"), do: {:ok, :zstd}
  def parse(_), do: :error
end
